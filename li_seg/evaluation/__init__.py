"""Evaluation pieces: multi-scale / flipped inference and label-map visualisation."""

from li_seg.evaluation.inference import predict_probabilities
from li_seg.evaluation.visualization import colorize, overlay

__all__ = ["colorize", "overlay", "predict_probabilities"]
