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

LI-MobileNetV2 (LI-Convs paper): `inhibition` puts ReLU -> LI -> ReLU (`li_seg.layers.inhibition`) between the
1x1 expansion (+BN+ReLU6) and the 3x3 depthwise of the RBs named in `inhibition_positions` ("rb1" ... "rb17";
RB1 has no expansion, its LI reads the block input); the paper's default is RB 10, 13, 16. The first ReLU is
dropped: it is the identity on ReLU6 outputs.

Endpoints: "low_level" = RB3's depthwise output after ReLU6 (block_2_depthwise_relu, 144 channels, OS 4;
research/deeplab's "layer_4/depthwise_output"), "high_level" = block_16_project_BN (320 channels, linear).
Inputs are RGB in [0, 255], scaled to [-1, 1] inside (x / 127.5 - 1).
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras

from li_seg.backbones.output_stride import atrous_schedule
from li_seg.config import InhibitionConfig
from li_seg.layers.inhibition import inhibit
from li_seg.layers.normalization import BatchNormSettings, batch_norm

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
INHIBITION_POSITIONS = tuple(f"rb{n}" for n in range(1, len(BLOCKS) + 1))  # RB n = block_id n - 1
DEFAULT_INHIBITION_POSITIONS = ("rb10", "rb13", "rb16")


def _inverted_residual(x, expansion, filters, stride, rate, block_id, bn, inhibition=None):
    """Keras' _inverted_res_block (1x1 expand -> 3x3 depthwise -> 1x1 linear project, residual if shapes match),
    with `inhibition` (an InhibitionConfig) in front of the depthwise when given.

    Returns the block's output and its depthwise output (after ReLU6).
    """
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    in_channels = x.shape[-1]
    y = x
    if block_id:
        y = keras.layers.Conv2D(expansion * in_channels, 1, use_bias=False, name=f"{prefix}expand")(y)
        y = batch_norm(bn, BN_EPSILON, f"{prefix}expand_BN")(y)
        y = keras.layers.ReLU(6.0, name=f"{prefix}expand_relu")(y)
    if inhibition is not None:
        y = inhibit(y, inhibition, prefix.rstrip("_"), input_relu=False)
    y = keras.layers.DepthwiseConv2D(
        3, strides=stride, dilation_rate=rate, padding="same", use_bias=False, name=f"{prefix}depthwise"
    )(y)
    y = batch_norm(bn, BN_EPSILON, f"{prefix}depthwise_BN")(y)
    depthwise_output = keras.layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(y)
    y = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{prefix}project")(depthwise_output)
    y = batch_norm(bn, BN_EPSILON, f"{prefix}project_BN")(y)
    if in_channels == filters and stride == 1:
        y = keras.layers.Add(name=f"{prefix}add")([x, y])
    return y, depthwise_output


def build_mobilenet_v2(
    output_stride: int,
    bn: BatchNormSettings,
    inhibition: Optional[InhibitionConfig] = None,
    inhibition_positions: Sequence[str] = DEFAULT_INHIBITION_POSITIONS,
    name: str = "mobilenet_v2",
) -> keras.Model:
    """MobileNetV2 up to RB17 at `output_stride` (LI-MobileNetV2 with `inhibition` at `inhibition_positions`);
    returns a model mapping images to {"low_level", "high_level"}."""
    unknown = sorted(set(inhibition_positions) - set(INHIBITION_POSITIONS))
    if unknown:
        raise ValueError(f"Unknown MobileNetV2 inhibition positions {unknown}; valid: rb1 ... rb{len(BLOCKS)}.")
    inhibited = {INHIBITION_POSITIONS.index(p) for p in inhibition_positions} if inhibition else set()
    schedule = atrous_schedule([2] + [stride for _, _, stride in BLOCKS], output_stride)
    images = keras.Input((None, None, 3), name="images")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, dtype="float32", name="preprocess")(images)
    stem_stride, _ = schedule[0]
    x = keras.layers.Conv2D(32, 3, strides=stem_stride, padding="same", use_bias=False, name="Conv1")(x)
    x = batch_norm(bn, BN_EPSILON, "bn_Conv1")(x)
    x = keras.layers.ReLU(6.0, name="Conv1_relu")(x)
    depthwise_outputs = []
    for block_id, ((expansion, filters, _), (stride, rate)) in enumerate(zip(BLOCKS, schedule[1:])):
        block_inhibition = inhibition if block_id in inhibited else None
        x, depthwise_output = _inverted_residual(
            x, expansion, filters, stride, rate, block_id, bn, block_inhibition
        )
        depthwise_outputs.append(depthwise_output)
    return keras.Model(images, {"low_level": depthwise_outputs[LOW_LEVEL_BLOCK], "high_level": x}, name=name)
