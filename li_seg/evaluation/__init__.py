"""Evaluation pieces: multi-scale / flipped inference and label-map visualisation."""

from li_seg.evaluation.inference import predict_probabilities
from li_seg.evaluation.visualization import colorize, overlay, pascal_palette

__all__ = ["colorize", "overlay", "pascal_palette", "predict_probabilities"]
