"""PSPNet's pyramid pooling module (Zhao et al. 2017, Sec. 3.2), the context module of PAN's Table 2 baseline.

For each bin count b (1, 2, 3, 6): adaptive average pooling to b x b cells (cell i spans rows floor(i H / b) to
ceil((i + 1) H / b) - 1, PyTorch's AdaptiveAvgPool2d rule, which keras.layers.AdaptiveAveragePooling2D follows),
a 1x1 conv (no bias) -> BN -> ReLU to `branch_channels` (PSPNet: input channels / number of levels, 512 for 2048),
bilinear upsampling to the input size; the input and the four branches concatenated (PSPNet's align_corners
resizing is half-pixel here, as everywhere in li_seg).
"""

from __future__ import annotations

from typing import Sequence

import keras

from li_seg.analysis.flops import elements, register_flop_rule
from li_seg.layers.aspp import conv_bn_relu
from li_seg.layers.normalization import BatchNormSettings
from li_seg.layers.resize import ResizeToMatch

PSP_BINS = (1, 2, 3, 6)


def pyramid_pooling(x, bn: BatchNormSettings, bins: Sequence[int] = PSP_BINS, branch_channels: int = 512,
                    name: str = "ppm"):
    """The pyramid pooling module on `x` (B, H, W, C): (B, H, W, C + len(bins) * branch_channels)."""
    branches = [x]
    for bin_count in bins:
        pooled = keras.layers.AdaptiveAveragePooling2D(bin_count, name=f"{name}_pool{bin_count}_average")(x)
        pooled = conv_bn_relu(pooled, branch_channels, 1, bn, f"{name}_pool{bin_count}")
        branches.append(ResizeToMatch(name=f"{name}_pool{bin_count}_upsample")([pooled, x]))
    return keras.layers.Concatenate(name=f"{name}_concat")(branches)


@register_flop_rule(keras.layers.AdaptiveAveragePooling2D)
def _adaptive_average_flops(layer, call, convention) -> int:
    """Every input element is read once per cell that covers it: counted as one add per input element."""
    return convention.pooling * elements(call.input_shapes[0])
