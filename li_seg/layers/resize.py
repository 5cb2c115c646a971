"""Bilinear resizing of a feature map to the (dynamic) spatial size of another tensor.

DeepLab upsamples three things this way: the image-pooling branch to the ASPP feature map, the ASPP output to the
low-level features (v3+ decoder) and the logits to the input image. The models take inputs of any size, so the
target size is read from the reference tensor at run time.

Alignment: `tf.image.resize` samples at half-pixel centres (align_corners=False, the default). DeepLab's TF1 code
(research/deeplab) used `tf.image.resize_bilinear(..., align_corners=True)`, which differs by up to half an
output pixel; with the 513 = 16 * 32 + 1 crops of those recipes align-corners maps feature pixels exactly onto
input pixels. `align_corners=True` resizes as that code (`DeepLabConfig.align_corners`, the research/deeplab-based
rows' default).

Inside XLA-compiled functions (`train.jit_compile`) the resize is `li_seg.ops.bilinear_resize`, the same formula
from gathers: XLA's own lowering of ResizeBilinear is wrong for non-integer ratios in TensorFlow 2.21.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from li_seg.analysis.flops import elements, register_flop_rule
from li_seg.ops.resize import bilinear_resize
from li_seg.ops.xla import in_xla_context


@keras.saving.register_keras_serializable(package="li_seg")
class ResizeToMatch(keras.layers.Layer):
    """Resizes `inputs[0]` (B, h, w, C) bilinearly to the height and width of `inputs[1]` (B, H, W, ...).

    The output keeps the layer's compute dtype (a layer built with dtype="float32" under a mixed policy casts
    its input up and returns float32, which the models use for their final logits).
    """

    def __init__(self, align_corners: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.align_corners = align_corners

    def call(self, inputs):
        features, reference = inputs
        size = tf.shape(reference)[1:3]
        if in_xla_context():
            resized = bilinear_resize(features, size, self.align_corners)
        elif self.align_corners:
            resized = tf.compat.v1.image.resize_bilinear(tf.cast(features, tf.float32), size, align_corners=True)
        else:
            resized = tf.image.resize(features, size)  # bilinear, half-pixel centres, float32
        return tf.cast(resized, features.dtype)

    def get_config(self):
        return {**super().get_config(), "align_corners": self.align_corners}

    def compute_output_shape(self, input_shape):
        features_shape, reference_shape = input_shape
        return (features_shape[0], reference_shape[1], reference_shape[2], features_shape[3])


@register_flop_rule(ResizeToMatch)
def _resize_flops(layer, call, convention) -> int:
    """Bilinear resizing: `convention.resize` per output element (3 linear interpolations = 9 in "all")."""
    return convention.resize * elements(call.output_shapes[0])
