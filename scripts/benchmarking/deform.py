"""The deformable-op benchmark's problem: li_seg.ops.modulated_deform_conv2d and tf.nn.conv2d of the same shape,
timed by `scripts/benchmark.py --measure=deform` and measured for peak memory in a fresh process each
(`peak_memory`).
"""

from __future__ import annotations

import functools

import tensorflow as tf

from li_seg.ops import modulated_deform_conv2d

KINDS = ("conv", "deform", "deform_gather")  # deform: the default sampler (crop_and_resize in float32)


def problem(kind: str, batch_size: int, height: int, width: int, channels: int) -> tuple:
    """(function, inputs, projection) of `kind`: a 3x3 conv channels -> channels, SAME, on a batch_size x height x
    width map; the deformable one with offsets uniform in [-2, 2] and a mask in [0, 1], its default sampler
    ("deform") or the gather sampler ("deform_gather"). Float32 tensors made
    directly (no larger temporaries before a memory measurement), seed 0."""
    tf.random.set_seed(0)
    x = tf.random.normal((batch_size, height, width, channels))
    kernel = tf.random.normal((3, 3, channels, channels), stddev=0.05)
    projection = tf.random.normal((batch_size, height, width, channels))
    if kind == "conv":
        return (lambda a, k: tf.nn.conv2d(a, k, 1, "SAME")), [x, kernel], projection
    offsets = tf.random.uniform((batch_size, height, width, 18), -2.0, 2.0)
    mask = tf.random.uniform((batch_size, height, width, 9))
    sampler = "gather" if kind == "deform_gather" else "auto"
    return functools.partial(modulated_deform_conv2d, sampler=sampler), [x, offsets, mask, kernel], projection
