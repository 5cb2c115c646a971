"""Adaptive max pooling to a size known only at run time (DifNet's similarity embedding pools each level to the
seed's size; sdujump/DifNet uses PyTorch's F.adaptive_max_pool2d).

PyTorch's bins: output row i of h covers input rows [floor(i H / h), ceil((i + 1) H / h)), columns likewise; bins
may overlap and differ in length by one. keras.layers.AdaptiveMaxPooling2D has the same rule but a fixed output
size given at construction; this takes the size as tensors.

Computation: rows, then columns (the max over a rectangle is the max over its rows' maxima). Each bin is read as a
fixed number of indices, ceil(H / h) + 1, the excess ones repeating the bin's last row (a repeated row does not
change a max), so one gather and one reduce_max do every bin at once.
"""

from __future__ import annotations

import tensorflow as tf


def _pool_axis(x, output_size, axis: int):
    """Adaptive max pooling of `x` along `axis` (1: rows, 2: columns) to `output_size` bins."""
    size = tf.shape(x)[axis]
    bins = tf.range(output_size)
    starts = (bins * size) // output_size
    ends = ((bins + 1) * size + output_size - 1) // output_size  # ceil
    length = (size + output_size - 1) // output_size + 1
    index = tf.minimum(starts[:, None] + tf.range(length)[None, :], ends[:, None] - 1)  # (output_size, length)
    gathered = tf.gather(x, index, axis=axis)  # the axis becomes (output_size, length)
    return tf.reduce_max(gathered, axis=axis + 1)


def adaptive_max_pool2d(x, size):
    """(B, H, W, C) -> (B, h, w, C) by PyTorch's adaptive max pooling bins; size = (h, w), ints or scalar tensors,
    each at least 1."""
    height, width = size
    return _pool_axis(_pool_axis(x, height, 1), width, 2)
