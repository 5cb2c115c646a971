"""Training pieces: losses, learning-rate schedules, optimizers, confusion-matrix metrics, distribution strategies."""

from li_seg.training.losses import cross_entropy_sum, l2_weight_decay, segmentation_loss, weight_decay_variables
from li_seg.training.metrics import confusion_matrix, format_metrics_table, segmentation_metrics
from li_seg.training.optimizers import (
    MultipliedAdam,
    MultipliedSGD,
    build_optimizer,
    resolve_lr_multipliers,
    select_trainable,
)
from li_seg.training.schedules import PolyDecay, build_schedule
from li_seg.training.strategy import make_strategy

__all__ = [
    "MultipliedAdam",
    "MultipliedSGD",
    "PolyDecay",
    "build_optimizer",
    "build_schedule",
    "confusion_matrix",
    "cross_entropy_sum",
    "format_metrics_table",
    "l2_weight_decay",
    "make_strategy",
    "resolve_lr_multipliers",
    "segmentation_loss",
    "segmentation_metrics",
    "select_trainable",
    "weight_decay_variables",
]
