"""MobileNetV2 (Sandler et al. 2018), width 1.0, as DeepLab's feature extractor.

The structure and layer names are those of keras.applications.MobileNetV2 (Conv1, bn_Conv1, Conv1_relu,
expanded_conv_depthwise, ..., block_16_project_BN), so its ImageNet .h5 loads by name, stopped after RB17's
projection (block_16_project_BN, 320 channels; research/deeplab's "layer_18"): the final 1x1 1280 conv is not
built. BN epsilon 1e-3 as in keras.applications.

Output stride 8 / 16 / 32 by research/deeplab's atrous rule (`output_stride.atrous_schedule`): at OS 16
block_13's depthwise has stride 1 and rate 1, blocks 14-16 rate 2.

Padding: every conv is TensorFlow SAME, the stride-2 ones included, so an OS-s feature map of an H x W input is
ceil(H / s) x ceil(W / s). This is research/deeplab's padding and what keras.applications computes when it knows
the input size (its ZeroPadding2D + valid conv equals SAME then); built for unknown sizes keras.applications
assumes even ones and drops the last output row and column of odd ones (floor(H / 2)), which we do not copy.
Its weightless "block_n_pad" layers therefore do not exist here.

Per-unit hooks (`li_seg.layers.unit_hook`) wrap each block's 3x3 depthwise: between the 1x1 expansion
(+BN+ReLU6) and the depthwise, and between the depthwise and its BN. A block's paper name is "rb{n}" (RB1 =
expanded_conv, which has no expansion: its hook reads the block input). LI-MobileNetV2 (LI-Convs) is such a
hook (`li_seg.layers.inhibition`).

Endpoints (`li_seg.backbones.ENDPOINTS`): "input" (x / 127.5 - 1), "stem" (Conv1_relu, stride 2), "block1" ...
"block4" (the last block of each resolution: RB3 at stride 4, RB6 at 8, RB13 at 16 and RB17's projection
block_16_project_BN at 32, 320 channels, linear), "low_level" (RB3's depthwise output after ReLU6,
block_2_depthwise_relu, 144 channels: research/deeplab's "layer_4/depthwise_output").
Inputs are RGB in [0, 255], scaled to [-1, 1] inside unless `BackboneConfig.normalization` says otherwise.
"""

from __future__ import annotations

from typing import Sequence

import keras

from li_seg.backbones.input_normalization import default_normalization, normalize_input
from li_seg.backbones.output_stride import atrous_schedule
from li_seg.config import BackboneConfig
from li_seg.layers.normalization import BatchNormSettings, batch_norm
from li_seg.layers.unit_hook import Unit, UnitHook

BN_EPSILON = 1e-3

# (expansion, output channels, stride) of the 17 inverted residual blocks; block 0 is Keras' "expanded_conv".
BLOCKS = (
    (1, 16, 1),
    (6, 24, 2), (6, 24, 1),
    (6, 32, 2), (6, 32, 1), (6, 32, 1),
    (6, 64, 2), (6, 64, 1), (6, 64, 1), (6, 64, 1),
    (6, 96, 1), (6, 96, 1), (6, 96, 1),
    (6, 160, 2), (6, 160, 1), (6, 160, 1),
    (6, 320, 1),
)  # fmt: skip
LOW_LEVEL_BLOCK = 2  # RB3: its depthwise output is the decoder's low-level feature
STAGE_BLOCKS = (2, 5, 12, 16)  # block1 ... block4: the last block of each stride (RB3, RB6, RB13, RB17)
UNIT_POSITIONS = tuple(f"rb{n}" for n in range(1, len(BLOCKS) + 1))  # RB n = block_id n - 1


def _inverted_residual(x, expansion, filters, unit: Unit, block_id, bn, hooks: Sequence[UnitHook]):
    """Keras' _inverted_res_block (1x1 expand -> 3x3 depthwise -> 1x1 linear project, residual if shapes match),
    `hooks` around the depthwise. Returns the block's output and its depthwise output (after ReLU6)."""
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    in_channels = x.shape[-1]
    y = x
    if block_id:
        y = keras.layers.Conv2D(expansion * in_channels, 1, use_bias=False, name=f"{prefix}expand")(y)
        y = batch_norm(bn, BN_EPSILON, f"{prefix}expand_BN")(y)
        y = keras.layers.ReLU(6.0, name=f"{prefix}expand_relu")(y)
    for hook in hooks:
        y = hook.before_spatial_conv(y, unit)
    y = keras.layers.DepthwiseConv2D(
        3, strides=unit.stride, dilation_rate=unit.rate, padding="same", use_bias=False, name=f"{prefix}depthwise"
    )(y)
    for hook in hooks:
        y = hook.after_spatial_conv(y, unit)
    y = batch_norm(bn, BN_EPSILON, f"{prefix}depthwise_BN")(y)
    depthwise_output = keras.layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(y)
    y = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{prefix}project")(depthwise_output)
    y = batch_norm(bn, BN_EPSILON, f"{prefix}project_BN")(y)
    if in_channels == filters and unit.stride == 1:
        y = keras.layers.Add(name=f"{prefix}add")([x, y])
    return y, depthwise_output


def _schedule(output_stride: int) -> list[tuple[int, int]]:
    """(stride, rate) of Conv1 and of each block's depthwise."""
    return atrous_schedule([2] + [stride for _, _, stride in BLOCKS], output_stride)


def endpoint_strides(output_stride: int) -> dict[str, int]:
    """The stride of every endpoint at `output_stride`."""
    cumulative, stride = [], 1
    for layer_stride, _ in _schedule(output_stride):
        stride *= layer_stride
        cumulative.append(stride)  # [0]: Conv1, [1 + b]: after block b
    result = {"input": 1, "stem": cumulative[0], "low_level": cumulative[1 + LOW_LEVEL_BLOCK]}
    result.update({f"block{i}": cumulative[1 + block] for i, block in enumerate(STAGE_BLOCKS, start=1)})
    return result


def build_mobilenet_v2(
    config: BackboneConfig, bn: BatchNormSettings, hooks: Sequence[UnitHook] = (), name: str = ""
) -> keras.Model:
    """MobileNetV2 up to RB17 at `config.output_stride`, `hooks` around every depthwise: a model mapping RGB images
    in [0, 255] to its endpoints. `config` must be valid (`li_seg.backbones.backbone_errors`)."""
    schedule = _schedule(config.output_stride)
    images = keras.Input((None, None, 3), name="images")
    x = normalize_input(images, config.normalization or default_normalization(config.name, config.layout))
    endpoints = {"input": x}
    stem_stride, _ = schedule[0]
    x = keras.layers.Conv2D(32, 3, strides=stem_stride, padding="same", use_bias=False, name="Conv1")(x)
    x = batch_norm(bn, BN_EPSILON, "bn_Conv1")(x)
    x = endpoints["stem"] = keras.layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, ((expansion, filters, _), (stride, rate)) in enumerate(zip(BLOCKS, schedule[1:])):
        name_prefix = f"block_{block_id}" if block_id else "expanded_conv"
        unit = Unit("mobilenet_v2", UNIT_POSITIONS[block_id], name_prefix, stride, rate)
        x, depthwise_output = _inverted_residual(x, expansion, filters, unit, block_id, bn, hooks)
        if block_id == LOW_LEVEL_BLOCK:
            endpoints["low_level"] = depthwise_output
        if block_id in STAGE_BLOCKS:
            endpoints[f"block{STAGE_BLOCKS.index(block_id) + 1}"] = x
    return keras.Model(images, endpoints, name=name or config.name)
