"""Global Attention Upsample (GAU) of "Pyramid Attention Network for Semantic Segmentation" (Li et al. 2018),
Fig. 4, Sec. 3.2: the decoder step that lets the high-level features weight the channels of the low-level ones.

    low'     = CBR_k(low)                               (k = 3, or 1: Table 3's columns; C channels)
    weights  = act(BN(Conv_1x1(GAP(high))))             (one weight per channel; act = sigmoid, or ReLU)
    GAU(high, low) = up(high) + low' * weights          (up: bilinear to the low-level size)

Without the global pooling attention (Table 3's first row) GAU(high, low) = up(high) + low'. CBR = conv (no bias,
SAME) -> BN -> ReLU; the attention's 1x1 conv has no bias (BN follows). The paper does not name the
nonlinearity's kind in the figure: sigmoid (segmentation_models.pytorch, and what makes the weights gates) is the
default, ReLU (JaveyWang's re-implementation) the option. `high` must already have C channels (the FPA output or
the previous GAU's).

`GlobalAttentionUpsample(...)` returns a functional sub-model with inputs [high, low] (as FeaturePyramidAttention
does); layers named "<name>_low", "<name>_attention", "<name>_upsample"; the channel weights pass through an
`AttentionStatistics` probe ("gau_channel_weights/<label>").
"""

from __future__ import annotations

import keras

from li_seg.layers.aspp import BN_EPSILON, conv_bn_relu
from li_seg.layers.attention_statistics import AttentionStatistics
from li_seg.layers.normalization import BatchNormSettings, batch_norm
from li_seg.layers.resize import ResizeToMatch

GAU_ATTENTIONS = ("sigmoid", "relu")


def GlobalAttentionUpsample(
    low_channels: int,
    bn: BatchNormSettings,
    channels: int = 256,
    low_kernel: int = 3,
    global_pooling: bool = True,
    attention: str = "sigmoid",
    name: str = "gau",
    label: str = "gau",
) -> keras.Model:
    """The GAU block (module docstring) as a sub-model: [high (B, h, w, channels), low (B, H, W, low_channels)]
    -> (B, H, W, channels). label: the channel weights' name in TensorBoard."""
    if attention not in GAU_ATTENTIONS:
        raise ValueError(f"GAU attention must be one of {GAU_ATTENTIONS}, got {attention!r}")
    high = keras.Input((None, None, channels), name=f"{name}_high")
    low = keras.Input((None, None, low_channels), name=f"{name}_low_input")
    reduced = conv_bn_relu(low, channels, low_kernel, bn, f"{name}_low")
    if global_pooling:
        weights = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_global_average")(high)
        weights = keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_attention")(weights)
        weights = batch_norm(bn, BN_EPSILON, f"{name}_attention_bn")(weights)
        weights = keras.layers.Activation(attention, name=f"{name}_attention_{attention}")(weights)
        weights = AttentionStatistics("gau_channel_weights", label, name=f"{name}_channel_weights")(weights)
        reduced = keras.layers.Multiply(name=f"{name}_weight")([reduced, weights])
    upsampled = ResizeToMatch(name=f"{name}_upsample")([high, low])
    outputs = keras.layers.Add(name=f"{name}_add")([upsampled, reduced])
    return keras.Model([high, low], outputs, name=name)
