"""ResNet-50 / 101 v1 (He et al. 2016) in the TF-slim layout of research/deeplab (resnet_v1_beta.py).

- Bottleneck v1 units (1x1 -> 3x3 -> 1x1, expansion 4); every conv without bias and followed by BN
  (epsilon 1e-5, TF-slim's resnet_arg_scope), ReLU after the first two and after the residual sum.
- The stride 2 of blocks 1-3 sits in the *last* unit of the block, on its 3x3 conv (slim resnet_v1_block);
  the shortcut is a 1x1 conv + BN where the depth changes, otherwise the input subsampled by a 1x1 max-pool.
- Stems: "beta" (resnet_v1_beta: conv1_1 3x3 64 stride 2, conv1_2 3x3 64, conv1_3 3x3 128) or "plain"
  (conv1 7x7 64 stride 2), then pool1 (3x3 max-pool stride 2, SAME).
- Strided convs pad explicitly as slim's conv2d_same (pad_total = k - 1, split low / high, then VALID);
  the others are SAME. An OS-s feature map of an H x W input is ceil(H / s) x ceil(W / s).
- Output stride 8 / 16 / 32 by research/deeplab's atrous rule (`output_stride.atrous_schedule`); `multi_grid`
  multiplies the rates of block4's three units (OS 16 with (1, 2, 4): rates 2, 4, 8).

LI-ResNet (LI-Convs paper): `inhibition` puts LI -> ReLU (`li_seg.layers.inhibition`) between conv1 (+BN+ReLU)
and conv2 of the units named in `inhibition_positions`, in the paper's names "conv{b+1}_{u}" for block b's unit
u ("conv5_3" = block4 unit 3, the default; Table III also conv4_6 and conv3_4). The LI-Conv's first ReLU is
dropped: conv1's output is already rectified.

Smoothing (Ziegler et al.; Wang & Ji): `smoothing` (a SmoothingConfig, `li_seg.layers.smoothing`) smooths the
3x3 conv2 of every unit whose conv2 is dilated (rate > 1; at output stride 8 every unit of block3 and block4, the
paper's DeepLabv2 placement): a pre-filter on conv2's input, or G Interact on conv2's output before its BN. The
"aggregated" kind shares one AggregationCoefficients layer ("smoothing_coefficients") across all units.

Layer names follow slim's scopes ("block1/unit_1/bottleneck_v1/conv1/BatchNorm" -> "block1_unit1_conv1_bn"),
so that a converter from research/deeplab checkpoints maps names one to one.

Endpoints: "low_level" = block1 unit 2's output (OS 4, 256 channels, before block1's stride), "high_level" =
block4's output (2048 channels). research/deeplab's decoder reads 'block1/unit_2/bottleneck_v1/conv3' instead:
the same unit's conv3 after BN, before the residual sum and ReLU.
Inputs are RGB in [0, 255]; research/deeplab's mean RGB is subtracted inside.
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras

from li_seg.backbones.output_stride import atrous_schedule
from li_seg.config import InhibitionConfig, SmoothingConfig
from li_seg.layers.inhibition import inhibit
from li_seg.layers.normalization import BatchNormSettings, batch_norm
from li_seg.layers.smoothing import AggregationCoefficients, smoothing_layers

BN_EPSILON = 1e-5
MEAN_RGB = (123.15, 115.90, 103.06)  # research/deeplab feature_extractor._MEAN_RGB
UNITS = {"resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3)}
STEMS = ("beta", "plain")
BASE_DEPTHS = (64, 128, 256, 512)
BLOCK_STRIDES = (2, 2, 2, 1)
LOW_LEVEL = (1, 2)  # (block, unit)
DEFAULT_INHIBITION_POSITIONS = ("conv5_3",)


def unit_names(name: str) -> dict[str, tuple[int, int]]:
    """The paper's unit names of ResNet `name` -> (block, unit): {"conv2_1": (1, 1), ..., "conv5_3": (4, 3)}."""
    return {
        f"conv{block + 1}_{unit}": (block, unit)
        for block, count in enumerate(UNITS[name], start=1) for unit in range(1, count + 1)
    }


def _conv_bn(x, filters, kernel_size, stride, rate, bn, name, relu=True, after_conv=None):
    """slim.conv2d (no bias) [-> after_conv] + BN [+ ReLU]; strided convs with conv2d_same's explicit padding."""
    if stride > 1:
        pad_total = kernel_size - 1
        x = keras.layers.ZeroPadding2D((pad_total // 2, pad_total - pad_total // 2), name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=stride, dilation_rate=rate, padding=padding, use_bias=False, name=name
    )(x)
    if after_conv is not None:
        x = after_conv(x)
    x = batch_norm(bn, BN_EPSILON, f"{name}_bn")(x)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def _bottleneck(x, depth, stride, rate, bn, name, inhibition=None, smoothing=(None, None)):
    """research/deeplab resnet_v1_beta.bottleneck: 1x1 (depth / 4) -> 3x3 (stride, rate) -> 1x1 (depth), with
    `inhibition` (an InhibitionConfig) between the first two when given, and `smoothing` = (pre-filter of the
    3x3 conv's input, layer on its output) when not None."""
    if x.shape[-1] == depth:
        shortcut = keras.layers.MaxPooling2D(1, strides=stride, name=f"{name}_shortcut")(x) if stride > 1 else x
    else:
        shortcut = keras.layers.Conv2D(depth, 1, strides=stride, use_bias=False, name=f"{name}_shortcut")(x)
        shortcut = batch_norm(bn, BN_EPSILON, f"{name}_shortcut_bn")(shortcut)
    y = _conv_bn(x, depth // 4, 1, 1, 1, bn, f"{name}_conv1")
    if inhibition is not None:
        y = inhibit(y, inhibition, name, input_relu=False)
    pre_filter, after_conv = smoothing
    if pre_filter is not None:
        y = pre_filter(y)
    y = _conv_bn(y, depth // 4, 3, stride, rate, bn, f"{name}_conv2", after_conv=after_conv)
    y = _conv_bn(y, depth, 1, 1, 1, bn, f"{name}_conv3", relu=False)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def _stem(x, stem, bn):
    if stem == "beta":
        x = _conv_bn(x, 64, 3, 2, 1, bn, "conv1_1")
        x = _conv_bn(x, 64, 3, 1, 1, bn, "conv1_2")
        x = _conv_bn(x, 128, 3, 1, 1, bn, "conv1_3")
    else:
        x = _conv_bn(x, 64, 7, 2, 1, bn, "conv1")
    return keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)


def unit_rates(
    units: Sequence[int], output_stride: int, multi_grid: Optional[Sequence[int]] = None
) -> list[list[tuple[int, int]]]:
    """(stride, rate) of every unit, per block: the atrous rule after the stem's stride 4, times multi-grid."""
    strides = [BLOCK_STRIDES[b] if u == n - 1 else 1 for b, n in enumerate(units) for u in range(n)]
    schedule = iter(atrous_schedule(strides, output_stride, current_stride=4))
    blocks = [[next(schedule) for _ in range(n)] for n in units]
    grid = multi_grid or (1,) * units[-1]
    blocks[-1] = [(stride, rate * g) for (stride, rate), g in zip(blocks[-1], grid)]
    return blocks


def build_resnet(
    name: str,
    output_stride: int,
    bn: BatchNormSettings,
    multi_grid: Optional[Sequence[int]] = None,
    stem: str = "beta",
    inhibition: Optional[InhibitionConfig] = None,
    inhibition_positions: Sequence[str] = DEFAULT_INHIBITION_POSITIONS,
    smoothing: Optional[SmoothingConfig] = None,
) -> keras.Model:
    """ResNet `name` ("resnet50" / "resnet101") v1 at `output_stride` (LI-ResNet with `inhibition` at
    `inhibition_positions`; `smoothing` of the dilated units): images -> {"low_level", "high_level"}."""
    if name not in UNITS:
        raise ValueError(f"Unknown ResNet {name!r}; valid: {sorted(UNITS)}.")
    if stem not in STEMS:
        raise ValueError(f"Unknown ResNet stem {stem!r}; valid: {list(STEMS)}.")
    units = UNITS[name]
    positions = unit_names(name)
    unknown = sorted(set(inhibition_positions) - set(positions), key=str)
    if unknown:
        raise ValueError(f"Unknown {name} inhibition positions {unknown}; valid: conv2_1 ... {list(positions)[-1]}.")
    inhibited = {positions[p] for p in inhibition_positions} if inhibition else set()
    if multi_grid is not None and len(multi_grid) != units[-1]:
        raise ValueError(f"multi_grid needs {units[-1]} rates (block4's units), got {tuple(multi_grid)}.")
    images = keras.Input((None, None, 3), name="images")
    x = keras.layers.Rescaling(1.0, offset=[-m for m in MEAN_RGB], dtype="float32", name="preprocess")(images)
    x = _stem(x, stem, bn)
    coefficients = None
    if smoothing is not None and smoothing.kind == "aggregated":
        coefficients = AggregationCoefficients(smoothing.coefficients, name="smoothing_coefficients")
    endpoints = {}
    for block, block_units in enumerate(unit_rates(units, output_stride, multi_grid), start=1):
        for unit, (stride, rate) in enumerate(block_units, start=1):
            unit_name = f"block{block}_unit{unit}"
            unit_inhibition = inhibition if (block, unit) in inhibited else None
            unit_smoothing = (None, None)
            if smoothing is not None and rate > 1:
                unit_smoothing = smoothing_layers(smoothing, rate, f"{unit_name}_conv2", coefficients)
            x = _bottleneck(
                x, 4 * BASE_DEPTHS[block - 1], stride, rate, bn, unit_name, unit_inhibition, unit_smoothing
            )
            if (block, unit) == LOW_LEVEL:
                endpoints["low_level"] = x
    endpoints["high_level"] = x
    return keras.Model(images, endpoints, name=name)
