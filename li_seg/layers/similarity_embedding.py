"""DifNet's similarity embedding Psi (Jiang et al., NeurIPS 2018, Sec. 3.3; sdujump/DifNet model_difnet.py): each
level f_t of the similarity branch (the input image, blocks 1-4) becomes the features of one random walk,

    Psi(f_t) = adaptive_max_pool(BN(conv_1x1(f_t)), size of the seed)          (64 channels, conv with bias)

BN at the level's own resolution, then PyTorch's adaptive max pooling to the seed's size (the identity for blocks
2-4 at OS 8; `li_seg.ops.adaptive_max_pool2d`, the size read from the seed at run time). BN epsilon 1e-5.

`SimilarityEmbedding(...)` returns a functional sub-model [f_t, seed] -> (B, h, w, channels); layers "<name>_conv",
"<name>_bn", "<name>_pool".
"""

from __future__ import annotations

import keras
from keras import ops

from li_seg.analysis.flops import register_flop_rule
from li_seg.layers.normalization import BatchNormSettings, batch_norm
from li_seg.ops.adaptive_pooling import adaptive_max_pool2d

BN_EPSILON = 1e-5


@keras.saving.register_keras_serializable(package="li_seg")
class AdaptiveMaxPoolToMatch(keras.layers.Layer):
    """Adaptive max pooling of `inputs[0]` (B, H, W, C) to the height and width of `inputs[1]` (PyTorch's bins)."""

    def call(self, inputs):
        features, reference = inputs
        shape = ops.shape(reference)
        return adaptive_max_pool2d(features, (shape[1], shape[2]))

    def compute_output_shape(self, input_shape):
        features_shape, reference_shape = input_shape
        return (features_shape[0], reference_shape[1], reference_shape[2], features_shape[3])


def _bin_taps(size: int, bins: int) -> int:
    """The summed lengths of PyTorch's adaptive bins [floor(i n / b), ceil((i + 1) n / b)) along one axis."""
    return sum(-(-(i + 1) * size // bins) - (i * size) // bins for i in range(bins))


@register_flop_rule(AdaptiveMaxPoolToMatch)
def _adaptive_pool_flops(layer, call, convention) -> int:
    """Per window tap of each output element (TensorFlow's profiler rule for max-pooling), bins of the true sizes."""
    batch, in_h, in_w, channels = call.input_shapes[0]
    out_h, out_w = call.output_shapes[0][1:3]
    return convention.pooling * batch * channels * _bin_taps(in_h, out_h) * _bin_taps(in_w, out_w)


def SimilarityEmbedding(
    input_channels: int, seed_channels: int, bn: BatchNormSettings, channels: int = 64, name: str = "psi"
) -> keras.Model:
    """Psi of the module docstring as a sub-model: [level (B, H, W, input_channels), seed (B, h, w, seed_channels)]
    -> (B, h, w, channels)."""
    level = keras.Input((None, None, input_channels), name=f"{name}_level")
    seed = keras.Input((None, None, seed_channels), name=f"{name}_seed")
    x = keras.layers.Conv2D(channels, 1, name=f"{name}_conv")(level)
    x = batch_norm(bn, BN_EPSILON, f"{name}_bn")(x)
    return keras.Model([level, seed], AdaptiveMaxPoolToMatch(name=f"{name}_pool")([x, seed]), name=name)
