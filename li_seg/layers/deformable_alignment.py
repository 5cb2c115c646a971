"""ADC, "alignment with deformable convolution" (CycleNet, Qu et al., Sec. 3.3): the decoder that resamples the
upsampled high-level features with a modulated deformable conv whose offsets and masks are predicted from both
levels, then fuses them with the low-level features.

    low'    = CBR_1x1(X_low)                                   (low_channels, 48)
    high'   = up(CBR_1x1(X_high))                              (high_channels, 256; bilinear to X_low's size)
    guide   = CBR_3x3^n([low', high'])                         ("several convolutions": n = offset_convs, 1)
    aligned = DCNv2(high'; offsets, sigmoid(mask) = Conv_3x3(guide), zero-initialised)     (256 -> 256)
    Y       = CBR_3x3^m([low', aligned])                       (f: m = fusion_convs, 2; fusion_channels, 256)

The paper gives X_low = block1 (OS 4), the upsampling, the concatenation, the 3x3 modulated deformable conv (N = 9)
and "conventional convolution layers" f; every width and count here is this project's choice (DeepLabv3+'s 48 / 256
decoder widths), each a parameter; BUILD_NOTES.md section 15 records them. The deformable conv is
`li_seg.layers.ModulatedDeformableConv2D` called on [high', guide] (its offset / mask conv reads the guide), with
nothing after it. CBR = conv (no bias, SAME) -> BN -> ReLU.

`DeformableAlignment(...)` returns a functional sub-model [X_high, X_low] -> Y; layers "<name>_low",
"<name>_high", "<name>_upsample", "<name>_offset<k>", "<name>_deformable" (label "adc" in TensorBoard),
"<name>_fusion<k>".
"""

from __future__ import annotations

import keras

from li_seg.layers.aspp import conv_bn_relu
from li_seg.layers.deformable import ModulatedDeformableConv2D
from li_seg.layers.normalization import BatchNormSettings
from li_seg.layers.resize import ResizeToMatch


def DeformableAlignment(
    high_input_channels: int,
    low_input_channels: int,
    bn: BatchNormSettings,
    low_channels: int = 48,
    high_channels: int = 256,
    offset_channels: int = 256,
    offset_convs: int = 1,
    deformable_groups: int = 1,
    fusion_channels: int = 256,
    fusion_convs: int = 2,
    name: str = "adc",
) -> keras.Model:
    """The ADC decoder (module docstring) as a sub-model: [X_high (B, h, w, high_input_channels), X_low (B, H, W,
    low_input_channels)] -> (B, H, W, fusion_channels) (high_channels + low_channels when fusion_convs = 0)."""
    high = keras.Input((None, None, high_input_channels), name=f"{name}_high_input")
    low = keras.Input((None, None, low_input_channels), name=f"{name}_low_input")
    low_reduced = conv_bn_relu(low, low_channels, 1, bn, f"{name}_low")
    high_reduced = conv_bn_relu(high, high_channels, 1, bn, f"{name}_high")
    high_reduced = ResizeToMatch(name=f"{name}_upsample")([high_reduced, low])
    guide = keras.layers.Concatenate(name=f"{name}_offset_concat")([low_reduced, high_reduced])
    for index in range(1, offset_convs + 1):
        guide = conv_bn_relu(guide, offset_channels, 3, bn, f"{name}_offset{index}")
    aligned = ModulatedDeformableConv2D(
        high_channels, 3, deformable_groups=deformable_groups, label=name, name=f"{name}_deformable"
    )([high_reduced, guide])
    y = keras.layers.Concatenate(name=f"{name}_fusion_concat")([low_reduced, aligned])
    for index in range(1, fusion_convs + 1):
        y = conv_bn_relu(y, fusion_channels, 3, bn, f"{name}_fusion{index}")
    return keras.Model([high, low], y, name=name)
