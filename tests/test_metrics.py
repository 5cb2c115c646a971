"""Confusion matrix, mIoU conventions, and the cross-replica reduction."""

import math
import warnings

import numpy as np
import pytest
import tensorflow as tf

from li_seg.training.metrics import confusion_matrix, format_metrics_table, segmentation_metrics
from li_seg.training.strategy import make_strategy


def test_confusion_matrix_rows_truth_cols_prediction_ignore_skipped():
    labels = np.array([[0, 0, 1, 2], [255, 1, 255, 2]])
    predictions = np.array([[0, 1, 1, 0], [2, 1, 7, 2]])  # predictions under ignore pixels are irrelevant
    cm = confusion_matrix(labels, predictions, num_classes=3)
    assert cm.dtype == tf.int64
    np.testing.assert_array_equal(cm.numpy(), [[1, 1, 0], [0, 2, 0], [1, 0, 1]])


def test_confusion_matrix_rejects_labels_outside_the_classes():
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be in"):
        confusion_matrix(np.array([0, 3]), np.array([0, 0]), num_classes=3)


# Rows = truth. Class 3 occurs in neither truth nor prediction; class 2 is never predicted right.
CM = np.array([[3, 1, 0, 0], [0, 2, 2, 0], [1, 0, 0, 0], [0, 0, 0, 0]])


def test_segmentation_metrics_exact_values():
    metrics = segmentation_metrics(CM, class_names=["a", "b", "c", "d"])
    iou = metrics["per_class_iou"]
    assert iou[:3] == pytest.approx([3 / 5, 2 / 5, 0.0])
    assert math.isnan(iou[3])
    assert metrics["miou"] == pytest.approx(1 / 3)  # absent class skipped, not counted as 0
    assert metrics["pixel_accuracy"] == pytest.approx(5 / 9)
    assert metrics["mean_accuracy"] == pytest.approx((3 / 4 + 2 / 4 + 0 / 1) / 3)
    assert math.isnan(metrics["per_class_accuracy"][3])
    assert metrics["class_names"] == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="3 class names"):
        segmentation_metrics(CM, class_names=["a", "b", "c"])


def test_empty_matrix_gives_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = segmentation_metrics(np.zeros((3, 3), np.int64))
    assert all(math.isnan(metrics[k]) for k in ("miou", "pixel_accuracy", "mean_accuracy"))


def test_format_metrics_table():
    table = format_metrics_table(segmentation_metrics(CM, class_names=["road", "car", "sky", "tree"]))
    lines = table.splitlines()
    assert lines[0].split() == ["class", "IoU", "Acc"]
    assert lines[1].split() == ["road", "60.00", "75.00"]
    assert lines[4].split() == ["tree", "-", "-"]
    assert lines[-1] == "mIoU 33.33  pixel acc 55.56  mean acc 41.67"
    renamed = format_metrics_table(segmentation_metrics(CM), class_names=["w", "x", "y", "z"])
    assert renamed.splitlines()[1].split() == ["w", "60.00", "75.00"]


def test_mirrored_reduction_equals_single_device_matrix():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=(4, 6, 6))
    labels[rng.random(labels.shape) < 0.2] = 255
    predictions = rng.integers(0, 5, size=(4, 6, 6))
    expected = confusion_matrix(labels, predictions, num_classes=5).numpy()

    strategy = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    dataset = tf.data.Dataset.from_tensor_slices((labels, predictions)).batch(2)  # two global batches of 2

    @tf.function
    def step(batch):
        per_replica = strategy.run(lambda y, p: confusion_matrix(y, p, num_classes=5), args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    total = sum(step(batch).numpy() for batch in strategy.experimental_distribute_dataset(dataset))
    np.testing.assert_array_equal(total, expected)
    assert total.sum() == (labels != 255).sum()
