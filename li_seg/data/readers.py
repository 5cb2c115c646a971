"""Decoding image and label files: the default `DatasetSpec.read_image` / `read_label` and their building blocks.

A reader takes what a split's `Examples` hold for one example (a file path, or the encoded bytes of an in-memory
dataset) and returns the decoded image, uint8 (H, W, 3), or the label as stored, int32 (H, W, C). Datasets with
other label formats (VOC's palette PNGs, SBD's .mat files, CelebAMask-HQ's per-part masks) provide their own.
"""

from __future__ import annotations

import tensorflow as tf


def decode_image(data: tf.Tensor) -> tf.Tensor:
    """Encoded PNG / JPEG / BMP / GIF bytes -> uint8 (H, W, 3) (grey images are replicated, alpha dropped)."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def decode_label(data: tf.Tensor) -> tf.Tensor:
    """Encoded label bytes -> int32 (H, W, C) as stored; a valid label map has C == 1."""
    label = tf.cast(tf.io.decode_image(data, channels=0, expand_animations=False), tf.int32)
    label.set_shape([None, None, None])
    return label


def read_image(path: tf.Tensor) -> tf.Tensor:
    """The default `DatasetSpec.read_image`: one image file -> uint8 (H, W, 3)."""
    return decode_image(tf.io.read_file(path))


def read_label(path: tf.Tensor) -> tf.Tensor:
    """The default `DatasetSpec.read_label`: one label image file -> int32 (H, W, C) of stored values."""
    return decode_label(tf.io.read_file(path))
