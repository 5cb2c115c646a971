"""Bilinear resizing with `tf.image.resize`'s semantics (half-pixel centres, no antialiasing), built from gathers.

    src(i) = clip((i + 0.5) * in / out - 0.5, 0, in - 1);  y(i) = (1 - f) x[floor(src)] + f x[min(floor(src) + 1,
    in - 1)], f = src - floor(src), separably along rows and columns.

With `align_corners` (TF1's resize_bilinear(align_corners=True), research/deeplab's): src(i) = i (in - 1) /
(out - 1) (0 when out = 1), the corner pixels of input and output aligned.

Why: under XLA, TensorFlow 2.21 lowers ResizeBilinear wrongly whenever the ratio is not an integer: 9 x 9 -> 65 x
65 differs from `tf.image.resize` (which equals this formula to 2e-6) by up to 3.5 on unit-normal inputs, and its
gradient by 20-30 % (BUILD_NOTES 19.2). The models' resizes (`li_seg.layers.ResizeToMatch`) take this path inside
XLA-compiled functions only, so runs without XLA are unchanged.
"""

from __future__ import annotations

import tensorflow as tf


def _axis(size_in, size_out, align_corners: bool = False):
    """(lower index, upper index, weight of the upper) of each output position along one axis (int32 tensors)."""
    positions = tf.cast(tf.range(size_out), tf.float32)
    if align_corners:
        scale = tf.cast(size_in - 1, tf.float32) / tf.cast(tf.maximum(size_out - 1, 1), tf.float32)
        source = positions * scale
    else:
        scale = tf.cast(size_in, tf.float32) / tf.cast(size_out, tf.float32)
        source = (positions + 0.5) * scale - 0.5
    source = tf.clip_by_value(source, 0.0, tf.cast(size_in - 1, tf.float32))
    lower = tf.floor(source)
    lower_index = tf.cast(lower, tf.int32)
    return lower_index, tf.minimum(lower_index + 1, size_in - 1), source - lower


def bilinear_resize(images: tf.Tensor, size, align_corners: bool = False) -> tf.Tensor:
    """`images` (B, h, w, C) resized to `size` (H, W) as tf.image.resize(images, size, "bilinear") computes it
    (with `align_corners`: as tf.compat.v1.image.resize_bilinear(..., align_corners=True)), in float32."""
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    for axis, (size_in, size_out) in ((1, (shape[1], size[0])), (2, (shape[2], size[1]))):
        lower, upper, weight = _axis(size_in, size_out, align_corners)
        weight = tf.reshape(weight, [-1, 1, 1] if axis == 1 else [-1, 1])
        images = tf.gather(images, lower, axis=axis) * (1.0 - weight) + tf.gather(images, upper, axis=axis) * weight
    return images
