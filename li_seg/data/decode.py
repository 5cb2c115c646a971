"""Reading one example: bytes -> decoded image and label -> checked, mapped tensors.

A dataset reads its files with its `DatasetSpec.read_image` / `read_label` (defaults in `readers.py`);
`make_loader` then applies the label map and the checks.

The in-graph checks (image/label sizes agree, labels are single-channel, mapped labels are class ids or the ignore
label) use `tf.debugging.Assert` with a message `li_seg.data check [<kind>] example <index>: <files>`, so a failure
names its files even in TensorFlow's raw error and `diagnose.explain_error` can find the example again. Decoding
failures carry no file name in TensorFlow's error; `diagnose` finds those by reading eagerly with the same
`read_image` / `read_label` of the dataset.
"""

from __future__ import annotations

import re

import tensorflow as tf

from li_seg.data.info import IGNORE_LABEL
from li_seg.data.label_map import apply_label_map
from li_seg.data.spec import DatasetSpec, Examples

CHECK_PATTERN = re.compile(r"li_seg\.data check \[(\w+)\] example (\d+)")


def _check(condition, kind: str, index, files) -> tf.Operation:
    message = tf.strings.join([f"li_seg.data check [{kind}] example ", tf.strings.as_string(index), ": ", files])
    return tf.debugging.Assert(condition, [message])


def make_loader(spec: DatasetSpec, examples: Examples):
    """A graph function index -> (image float32 (H, W, 3) in [0, 255], label int32 (H, W), name string)."""
    images = tf.constant(examples.images, tf.string)
    labels = tf.constant(examples.labels, tf.string)
    names = tf.constant(examples.names, tf.string)

    def load(index):
        image_file, label_file = tf.gather(images, index), tf.gather(labels, index)
        image, raw = spec.read_image(image_file), spec.read_label(label_file)
        if examples.in_memory:
            image_file, label_file = tf.gather(names, index), tf.gather(names, index)
        image, label = checked(spec, image, raw, index, image_file, label_file)
        return image, label, tf.gather(names, index)

    return load


def checked(spec: DatasetSpec, image, raw, index, image_file, label_file, label_map=None):
    """(image float32, label int32 (H, W) of class ids) after the checks; `label_map` (default the dataset's) maps
    the stored values. index / image_file / label_file identify the example in the checks' messages."""
    pair = tf.strings.join(["image ", image_file, ", label ", label_file])
    image_size, label_size = tf.shape(image)[:2], tf.shape(raw)[:2]
    checks = [
        _check(tf.equal(tf.shape(raw)[2], 1), "label_channels", index, label_file),
        _check(tf.reduce_all(tf.equal(image_size, label_size)), "size_mismatch", index, pair),
    ]
    with tf.control_dependencies(checks):
        label = apply_label_map(raw[:, :, 0], spec.label_map if label_map is None else label_map)
    with tf.control_dependencies([_check(valid_labels(label, spec), "label_values", index, label_file)]):
        return tf.cast(image, tf.float32), tf.identity(label)


def valid_labels(label: tf.Tensor, spec: DatasetSpec) -> tf.Tensor:
    """Whether every mapped label value is a class id of `spec` or the ignore label."""
    return tf.reduce_all(((label >= 0) & (label < spec.info.num_classes)) | (label == IGNORE_LABEL))
