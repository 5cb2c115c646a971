"""G Interact of Wang & Ji, "Smoothed Dilated Convolutions for Improved Dense Prediction" (KDD 2018): after a
rate-r dilated conv, the r^2 interleaved sub-grids of its output are mixed by a trainable r^2 x r^2 matrix
initialised to the identity.

Authors' code (zhengyang-wang/Deeplab-v2--ResNet-101--Tensorflow, dilated.py, commit 07312ce; copied unchanged by
Ziegler et al.): `_smoothed_dilated_conv2d_GI`: pad H, W at the bottom / right to multiples of r,
space_to_batch(r), conv, then mixes the r^2 batch chunks l (tf.split on axis 0) with fix_w = eye(r^2) as
os[i] = fix_w[0, i] l[i] + sum_{j>=1} fix_w[j, i] l[j] (sic: l[i], not l[0]; see `GroupInteraction`),
batch_to_space with the same crops.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

import keras
from li_seg.analysis.flops import register_flop_rule
from li_seg.layers.smoothing.kernels import check_rate, constant_initializer, known_channels

GROUP_INTERACTION_VARIANTS = ("paper", "code")


@keras.saving.register_keras_serializable(package="li_seg")
class GroupInteraction(keras.layers.Layer):
    """G Interact (Wang & Ji), applied to the output of a rate-r dilated conv: mixes its r^2 interleaved sub-grids.

    Sub-grid i = a r + b (a, b in [0, r)) holds the pixels (a + r p, b + r q): the order in which
    `tf.space_to_batch(block r)` stacks them on the batch axis. With M the weight `interaction` (r^2, r^2),
    initialised to the identity:

        out_i = sum_j M[i, j] in_j.

    H and W are zero-padded at the bottom / right to multiples of r first and cropped back after
    batch_to_space, as the authors' code. At the identity the layer returns its input exactly.

    Versus the authors' code (Wang & Ji's dilated.py, `_smoothed_dilated_conv2d_GI`, copied unchanged by Ziegler
    et al.):
    * its matrix fix_w is M transposed: os[i] = sum_j fix_w[j, i] l[j];
    * but its loop starts with `os.append(fix_w[0, i] * l[i])`, i.e. l[i] where the sum needs l[0]: for every
      i >= 1 the j = 0 term multiplies the sub-grid's own map, so sub-grid 0 never reaches the others and
      fix_w[0, i] acts as a second diagonal entry. Identical at the identity initialisation, not once trained.
      `variant="code"` reproduces that: the effective matrix is M with M[i, 0] (i >= 1) moved onto M[i, i];
      `variant="paper"` (default) is the full mixing of the equation above.
    * it mixes inside its decomposed conv, so its padded rows / columns hold the conv's values there, whereas
      this layer (after an ordinary dilated conv) pads the conv output with zeros: the two differ only in the
      last partial row / column block, and only when H or W is not a multiple of r.
    """

    def __init__(self, rate, variant="paper", **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("GroupInteraction", rate)
        if variant not in GROUP_INTERACTION_VARIANTS:
            raise ValueError(f"GroupInteraction variant must be one of {GROUP_INTERACTION_VARIANTS}, got {variant!r}.")
        self.variant = variant

    def build(self, input_shape):
        known_channels("GroupInteraction", input_shape)
        groups = self.rate**2
        self.interaction = self.add_weight(
            name="interaction",
            shape=(groups, groups),
            initializer=constant_initializer(np.eye(groups)),
            trainable=True,
            autocast=False,
        )

    def matrix(self):
        """The effective mixing matrix (r^2, r^2) in the variable dtype (see `variant`)."""
        matrix = tf.convert_to_tensor(self.interaction)
        if self.variant == "paper":
            return matrix
        groups = self.rate**2
        keep = np.ones((groups, groups))
        keep[1:, 0] = 0.0  # the code never feeds sub-grid 0 into the others ...
        to_diagonal = np.zeros((groups, groups))
        to_diagonal[1:, 0] = 1.0  # ... its weight fix_w[0, i] = M[i, 0] multiplies sub-grid i itself
        moved = tf.reduce_sum(matrix * to_diagonal, axis=1)
        return matrix * tf.constant(keep, matrix.dtype) + tf.linalg.diag(moved)

    def call(self, inputs):
        r = self.rate
        shape = tf.shape(inputs)
        pad_h, pad_w = tf.math.floormod(-shape[1], r), tf.math.floormod(-shape[2], r)
        paddings = [[0, pad_h], [0, pad_w]]
        grids = tf.space_to_batch(inputs, [r, r], paddings)  # (r^2 N, H'/r, W'/r, C), sub-grid-major
        grid_shape = tf.shape(grids)
        mixed = tf.matmul(tf.cast(self.matrix(), self.compute_dtype), tf.reshape(grids, [r * r, -1]))
        return tf.batch_to_space(tf.reshape(mixed, grid_shape), [r, r], paddings)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, variant=self.variant)
        return config


@register_flop_rule(GroupInteraction)
def _group_interaction_flops(layer: GroupInteraction, call, convention) -> int:
    """out_i = sum_j M[i, j] in_j: r^2 multiply-accumulates per output element (on the map padded to multiples
    of r)."""
    batch, height, width, channels = call.output_shapes[0]
    r = layer.rate
    return batch * math.ceil(height / r) * r * math.ceil(width / r) * r * channels * 2 * r * r
