"""Confusion-matrix metrics: mIoU, per-class IoU, pixel accuracy, mean accuracy.

PAPERS.md: one confusion matrix accumulated over the whole split (at each image's original resolution), then
IoU_c = TP_c / (TP_c + FP_c + FN_c). Convention (mmsegmentation's, and research/deeplab's streaming mean_iou):
mIoU averages IoU over the classes whose union is non-empty, i.e. that occur in the ground truth or in the
prediction; a class absent from both is skipped (its IoU is NaN), not counted as 0.

Distributed evaluation (li_seg.evaluation.evaluator): each replica computes `confusion_matrix` on its shard, the
step returns `strategy.reduce(SUM, per_replica_cm, axis=None)` and the host sums those in int64 NumPy.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf


def confusion_matrix(labels, predictions, num_classes: int, ignore_label: int = 255, dtype=tf.int64) -> tf.Tensor:
    """Counts (num_classes, num_classes): rows = ground truth, columns = prediction; ignored pixels skipped.

    Args:
      labels: integer ground truth of any shape (e.g. (B, H, W) or (B, H, W, 1)).
      predictions: integer predicted classes with as many elements as `labels`.
      num_classes: K.
      ignore_label: ground-truth value to skip (255).
      dtype: count dtype; int64 by default (use int32 per batch on TPUs, which have no 64-bit integers).

    A label (not `ignore_label`) or prediction outside [0, K) raises InvalidArgumentError. Under XLA, where
    assertions are compiled away, such pixels are dropped from the counts instead.
    """
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    predictions = tf.reshape(tf.cast(predictions, tf.int32), [-1])
    valid = tf.not_equal(labels, ignore_label)
    in_range = (labels >= 0) & (labels < num_classes) & (predictions >= 0) & (predictions < num_classes)
    check = tf.debugging.Assert(
        tf.reduce_all(in_range | ~valid),
        [f"labels must be in [0, {num_classes}) or {ignore_label} (ignore), and predictions in [0, {num_classes})"],
    )
    with tf.control_dependencies([check]):
        # Ignored and (under XLA) out-of-range pixels get segment id -1, which unsorted_segment_sum drops.
        index = tf.where(valid & in_range, labels * num_classes + predictions, -1)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(index, dtype), index, num_classes * num_classes)
    return tf.reshape(counts, [num_classes, num_classes])


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


def segmentation_metrics(cm: np.ndarray, class_names: Optional[Sequence[str]] = None) -> dict:
    """Metrics of a confusion matrix (rows = ground truth, columns = prediction).

    Returns a dict (plain Python floats and lists, JSON-ready apart from NaN):
      miou: mean IoU over classes with a non-empty union (absent classes skipped; module docstring).
      per_class_iou: [TP / (TP + FP + FN)] in class order, NaN for classes absent from ground truth and prediction.
      pixel_accuracy: trace / total.
      mean_accuracy: mean over classes present in the ground truth of TP / (TP + FN).
      per_class_accuracy: [TP / (TP + FN)] in class order, NaN for classes absent from the ground truth.
      class_names: `class_names`, or the class indices as strings.
    An empty matrix gives NaN, never a warning.
    """
    cm = np.asarray(cm, dtype=np.float64)
    num_classes = cm.shape[0]
    names = [str(i) for i in range(num_classes)] if class_names is None else [str(n) for n in class_names]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for a {num_classes}-class confusion matrix")
    tp = np.diag(cm)
    gt = cm.sum(axis=1)
    union = gt + cm.sum(axis=0) - tp
    iou = np.full(num_classes, math.nan)
    np.divide(tp, union, out=iou, where=union > 0)
    accuracy = np.full(num_classes, math.nan)
    np.divide(tp, gt, out=accuracy, where=gt > 0)
    total = cm.sum()
    return {
        "miou": _nanmean(iou),
        "per_class_iou": iou.tolist(),
        "pixel_accuracy": float(tp.sum() / total) if total > 0 else math.nan,
        "mean_accuracy": _nanmean(accuracy),
        "per_class_accuracy": accuracy.tolist(),
        "class_names": names,
    }


def format_metrics_table(metrics: dict, class_names: Optional[Sequence[str]] = None) -> str:
    """A plain-text table of `segmentation_metrics` output (percent, 2 decimals; "-" for NaN), for logs.

    Class names: `class_names` if given, else those stored in `metrics`.
    """

    def pct(x: float) -> str:
        return "-" if math.isnan(x) else f"{100.0 * x:.2f}"

    names = list(metrics["class_names"] if class_names is None else class_names)
    width = max([len("class")] + [len(n) for n in names])
    lines = [f"{'class':<{width}}  {'IoU':>7}  {'Acc':>7}"]
    for name, iou, accuracy in zip(names, metrics["per_class_iou"], metrics["per_class_accuracy"]):
        lines.append(f"{name:<{width}}  {pct(iou):>7}  {pct(accuracy):>7}")
    lines.append(
        f"mIoU {pct(metrics['miou'])}  pixel acc {pct(metrics['pixel_accuracy'])}  "
        f"mean acc {pct(metrics['mean_accuracy'])}"
    )
    return "\n".join(lines)
