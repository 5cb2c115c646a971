"""Reading one example: bytes -> decoded image and label -> checked, mapped tensors.

The in-graph checks (image/label sizes agree, labels are single-channel, mapped labels are class ids or the ignore
label) use `tf.debugging.Assert` with a message `li_seg.data check [<kind>] example <index>: <files>`, so a failure
names its files even in TensorFlow's raw error and `diagnose.explain_error` can find the example again. Decoding
failures carry no file name in TensorFlow's error; `diagnose` finds those by decoding eagerly with the same
`decode_image` / `decode_label`.
"""

from __future__ import annotations

import re

import tensorflow as tf

from li_seg.data.info import IGNORE_LABEL
from li_seg.data.label_map import apply_label_map
from li_seg.data.spec import DatasetSpec, Examples

CHECK_PATTERN = re.compile(r"li_seg\.data check \[(\w+)\] example (\d+)")


def decode_image(data: tf.Tensor) -> tf.Tensor:
    """Encoded PNG / JPEG / BMP / GIF bytes -> uint8 (H, W, 3) (grey images are replicated, alpha dropped)."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def decode_label(data: tf.Tensor) -> tf.Tensor:
    """Encoded label bytes -> uint8 (H, W, C) as stored; a valid label map has C == 1."""
    label = tf.io.decode_image(data, channels=0, expand_animations=False)
    label.set_shape([None, None, None])
    return label


def _check(condition, kind: str, index, files) -> tf.Operation:
    message = tf.strings.join([f"li_seg.data check [{kind}] example ", tf.strings.as_string(index), ": ", files])
    return tf.debugging.Assert(condition, [message])


def make_loader(spec: DatasetSpec, examples: Examples):
    """A graph function index -> (image float32 (H, W, 3) in [0, 255], label int32 (H, W), name string)."""
    images = tf.constant(examples.images, tf.string)
    labels = tf.constant(examples.labels, tf.string)
    names = tf.constant(examples.names, tf.string)
    read = (lambda source: source) if examples.in_memory else tf.io.read_file
    num_classes = spec.info.num_classes

    def load(index):
        image_file, label_file = tf.gather(images, index), tf.gather(labels, index)
        image = decode_image(read(image_file))
        raw = decode_label(read(label_file))
        if examples.in_memory:
            image_file, label_file = tf.gather(names, index), tf.gather(names, index)
        pair = tf.strings.join(["image ", image_file, ", label ", label_file])
        image_size, label_size = tf.shape(image)[:2], tf.shape(raw)[:2]
        checks = [
            _check(tf.equal(tf.shape(raw)[2], 1), "label_channels", index, label_file),
            _check(tf.reduce_all(tf.equal(image_size, label_size)), "size_mismatch", index, pair),
        ]
        with tf.control_dependencies(checks):
            label = apply_label_map(raw[:, :, 0], spec.label_map)
        valid = tf.reduce_all((label < num_classes) | (label == IGNORE_LABEL))
        with tf.control_dependencies([_check(valid, "label_values", index, label_file)]):
            return tf.cast(image, tf.float32), tf.identity(label), tf.gather(names, index)

    return load
