"""ResNet-18 / 34 / 50 / 101 / 152 v1 (He et al. 2016) in the layouts of `li_seg.backbones.resnet_plan`.

- Units: bottleneck (1x1 -> 3x3 -> 1x1, depth / 4 inside) or basic (3x3 -> 3x3); every conv without bias and
  followed by BN (epsilon 1e-5: TF-slim's resnet_arg_scope, PyTorch's default), ReLU after each BN except the
  last one of a unit, and after the residual sum.
- Shortcut: the input itself; where the depth changes or the unit strides, a 1x1 conv (stride of the unit) + BN,
  except in the slim layout, which subsamples by a 1x1 max-pool where only the stride changes (slim's
  `subsample`).
- Where the stride sits, how blocks are dilated and how the stem's max-pool pads: `resnet_plan` (layouts
  "slim", "torchvision", "caffe").
- Stems: "beta" (three 3x3 convs of `stem_widths`, the first with stride 2) or "plain" (a 7x7 conv 64, stride 2),
  then a 3x3 max-pool with stride 2.
- Strided convs pad explicitly as slim's conv2d_same (pad_total = k - 1, split low / high, then VALID), which is
  PyTorch's symmetric padding for odd kernels; the others are SAME. A 1x1 strided conv takes every other pixel.
- Per-unit hooks (`li_seg.layers.unit_hook`) wrap each unit's spatial conv (conv2: the 3x3 that is strided in
  the slim / torchvision bottleneck and dilated in every unit type); a unit's paper name is "conv{b+1}_{u}".

Layer names follow slim's scopes ("block1/unit_1/bottleneck_v1/conv1/BatchNorm" -> "block1_unit1_conv1_bn"),
so that converters from TF-slim, torchvision or Caffe checkpoints map names one to one.

Endpoints (`li_seg.backbones.ENDPOINTS`): "input" (normalised image), "stem" (the stem's convs, stride 2, before
the max-pool), "block1" ... "block4" (each block's last unit; in the slim layout blocks 1-3 end with their stride,
so block1 is at stride 8 there, as research/deeplab's end points), "low_level" (the last stride-4 feature, the
unit's output after the residual sum and ReLU) and, ResNets only, "low_level_residual" (that unit's residual
branch: its last conv after BN, before the sum and ReLU, which research/deeplab's decoder reads as
'block1/unit_2/bottleneck_v1/conv3': `DeepLabConfig.low_level_feature`).
"""

from __future__ import annotations

from typing import Sequence

import keras

from li_seg.backbones import resnet_plan
from li_seg.backbones.input_normalization import default_normalization, normalize_input
from li_seg.config import BackboneConfig
from li_seg.layers.normalization import BatchNormSettings, batch_norm
from li_seg.layers.unit_hook import Unit, UnitHook

BN_EPSILON = 1e-5
PLAIN_STEM_WIDTH = 64


def _conv_bn(x, filters, kernel_size, stride, rate, bn, name, relu=True, after_conv=None):
    """conv (no bias) [-> after_conv] + BN [+ ReLU]; strided k x k convs with conv2d_same's explicit padding."""
    if stride > 1 and kernel_size > 1:
        pad_total = kernel_size - 1
        x = keras.layers.ZeroPadding2D((pad_total // 2, pad_total - pad_total // 2), name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same" if stride == 1 else "valid"
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=stride, dilation_rate=rate, padding=padding, use_bias=False, name=name
    )(x)
    if after_conv is not None:
        x = after_conv(x)
    x = batch_norm(bn, BN_EPSILON, f"{name}_bn")(x)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def _shortcut(x, depth, stride, layout, bn, name):
    if x.shape[-1] == depth and stride == 1:
        return x
    if x.shape[-1] == depth and layout == "slim":
        return keras.layers.MaxPooling2D(1, strides=stride, name=f"{name}_shortcut")(x)
    shortcut = keras.layers.Conv2D(depth, 1, strides=stride, use_bias=False, name=f"{name}_shortcut")(x)
    return batch_norm(bn, BN_EPSILON, f"{name}_shortcut_bn")(shortcut)


def _unit(x, unit_type, depth, unit: Unit, layout, bn, hooks: Sequence[UnitHook]):
    """One residual unit; `hooks` wrap its conv2."""
    name = unit.name
    shortcut = _shortcut(x, depth, unit.stride, layout, bn, name)

    def after_conv(y):
        for hook in hooks:
            y = hook.after_spatial_conv(y, unit)
        return y

    bottleneck = unit_type == "bottleneck"
    inner = depth // 4 if bottleneck else depth
    stride_on_conv1 = not bottleneck or layout == "caffe"
    y = _conv_bn(x, inner, 1 if bottleneck else 3, unit.stride if stride_on_conv1 else 1, 1, bn, f"{name}_conv1")
    for hook in hooks:
        y = hook.before_spatial_conv(y, unit)
    conv2_stride = 1 if stride_on_conv1 else unit.stride
    y = _conv_bn(y, inner, 3, conv2_stride, unit.rate, bn, f"{name}_conv2", relu=bottleneck, after_conv=after_conv)
    if bottleneck:
        y = _conv_bn(y, depth, 1, 1, 1, bn, f"{name}_conv3", relu=False)
    residual = y
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y), residual


def _stem(x, config: BackboneConfig, bn):
    """The stem's convs (stride 2); returns their output, before the max-pool."""
    if config.stem == "beta":
        for index, width in enumerate(config.stem_widths, start=1):
            x = _conv_bn(x, width, 3, 2 if index == 1 else 1, 1, bn, f"conv1_{index}")
        return x
    return _conv_bn(x, PLAIN_STEM_WIDTH, 7, 2, 1, bn, "conv1")


def _max_pool(x, layout):
    """The stem's 3x3 stride-2 max-pool: SAME (slim), padded by 1 (torchvision) or by 1 in ceil mode (caffe:
    one more row / column of padding at the bottom / right, which only a window that starts inside the map
    reaches). Zeros pad as -inf would: the input is a ReLU output."""
    if layout == "slim":
        return keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    padding = ((1, 1), (1, 1)) if layout == "torchvision" else ((1, 2), (1, 2))
    x = keras.layers.ZeroPadding2D(padding, name="pool1_pad")(x)
    return keras.layers.MaxPooling2D(3, strides=2, padding="valid", name="pool1")(x)


def build_resnet(
    config: BackboneConfig, bn: BatchNormSettings, hooks: Sequence[UnitHook] = (), name: str = ""
) -> keras.Model:
    """ResNet `config.name` in `config.layout` at `config.output_stride` (multi-grid, stem, normalisation from
    `config`), `hooks` around every unit's conv2: a model mapping RGB images in [0, 255] to its endpoints.
    `config` must be valid (`li_seg.backbones.backbone_errors`)."""
    unit_type, layout = resnet_plan.unit_type(config.name), config.layout
    normalization = config.normalization or default_normalization(config.name, layout)
    images = keras.Input((None, None, 3), name="images")
    x = normalize_input(images, normalization)
    endpoints = {"input": x}
    x = endpoints["stem"] = _stem(x, config, bn)
    x = _max_pool(x, layout)
    low_level = resnet_plan.low_level_unit(config.name, layout)
    schedule = resnet_plan.unit_schedule(config.name, layout, config.output_stride, config.multi_grid,
                                         config.first_unit_dilated)
    for block, block_units in enumerate(schedule, start=1):
        depth = resnet_plan.block_depth(config.name, block)
        for index, (stride, rate) in enumerate(block_units, start=1):
            unit = Unit("resnet", f"conv{block + 1}_{index}", f"block{block}_unit{index}", stride, rate)
            x, residual = _unit(x, unit_type, depth, unit, layout, bn, hooks)
            if (block, index) == low_level:
                endpoints["low_level"], endpoints["low_level_residual"] = x, residual
        endpoints[f"block{block}"] = x
    return keras.Model(images, endpoints, name=name or config.name)
