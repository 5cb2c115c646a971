"""Atrous Spatial Pyramid Pooling: DeepLabv2's summed classifier and DeepLabv3's concatenated module.

Functional builders (they take and return Keras tensors) with named layers, so that variable paths read like
research/deeplab's scopes ("aspp0", "aspp1_depthwise", "image_pooling", "concat_projection").

- ASPP-v2 (Chen et al. 2017, DeepLabv2 Sec. 3.3): one 3x3 conv with bias per rate, straight to the classes,
  summed.
- ASPP-v3 (Chen et al. 2017, DeepLabv3 Sec. 3.3; research/deeplab model.py): image pooling (GAP -> 1x1 conv ->
  BN -> ReLU -> upsampled), a 1x1 conv branch and one 3x3 atrous branch per rate (plain, or depthwise-separable
  as research/deeplab uses with MobileNetV2 and the LI-Convs paper with both backbones), concatenated,
  projected by a 1x1 conv (+BN+ReLU) and dropped out.

`pre_atrous` inserts layers in front of each atrous 3x3 conv (the LI-ASPP of the LI-Convs paper, its RD
ablation, or a smoothing pre-filter): it is called as `pre_atrous(x, prefix, rate)` with the branch's name
prefix (e.g. "aspp1") and atrous rate, and returns the tensor the atrous conv reads. `atrous_input`, when given,
is what the atrous branches read instead of the module input (LI-ASPP: the rectified input, computed once for
the three branches).

Initialisers follow research/deeplab: separable depthwise kernels truncated-normal(0.33), their pointwise
kernels truncated-normal(0.06), other convs Glorot-uniform (TF-slim's default); DeepLabv2's classifier is
normal(0.01) with zero bias (its Caffe prototxt).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import keras

from li_seg.layers.normalization import BatchNormSettings, batch_norm
from li_seg.layers.resize import ResizeToMatch

BN_EPSILON = 1e-5  # research/deeplab's ASPP and decoder (TF-slim batch_norm_epsilon)

PreAtrous = Callable[[keras.KerasTensor, str, int], keras.KerasTensor]


def conv_bn_relu(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: int,
    bn: BatchNormSettings,
    name: str,
    rate: int = 1,
    strides: int = 1,
) -> keras.KerasTensor:
    """Conv (no bias, TensorFlow SAME padding, dilation `rate`, `strides`) -> BN -> ReLU, named `name`, `name`_bn,
    `name`_relu."""
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", dilation_rate=rate, use_bias=False, name=name
    )(x)
    x = batch_norm(bn, BN_EPSILON, f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def separable_conv_bn_relu(
    x: keras.KerasTensor,
    filters: int,
    bn: BatchNormSettings,
    name: str,
    rate: int = 1,
    pre_depthwise: Optional[PreAtrous] = None,
) -> keras.KerasTensor:
    """research/deeplab's split_separable_conv2d: 3x3 depthwise at `rate` -> BN -> ReLU -> 1x1 -> BN -> ReLU.

    Layers are named `name`_depthwise and `name`_pointwise (each with _bn and _relu); `pre_depthwise(x, name,
    rate)`, when given, transforms the input of the depthwise conv.
    """
    if pre_depthwise is not None:
        x = pre_depthwise(x, name, rate)
    x = keras.layers.DepthwiseConv2D(
        3,
        padding="same",
        dilation_rate=rate,
        use_bias=False,
        depthwise_initializer=keras.initializers.TruncatedNormal(stddev=0.33),
        name=f"{name}_depthwise",
    )(x)
    x = batch_norm(bn, BN_EPSILON, f"{name}_depthwise_bn")(x)
    x = keras.layers.ReLU(name=f"{name}_depthwise_relu")(x)
    x = keras.layers.Conv2D(
        filters,
        1,
        use_bias=False,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.06),
        name=f"{name}_pointwise",
    )(x)
    x = batch_norm(bn, BN_EPSILON, f"{name}_pointwise_bn")(x)
    return keras.layers.ReLU(name=f"{name}_pointwise_relu")(x)


def aspp_v2(
    x: keras.KerasTensor,
    num_classes: int,
    rates: Sequence[int] = (6, 12, 18, 24),
    name: str = "logits",
    kernel_stddev: float = 0.01,
) -> keras.KerasTensor:
    """DeepLabv2's ASPP: sum over `rates` of a 3x3 conv with bias at that rate to `num_classes` ("logits_rate6").
    Kernels drawn from normal(0, kernel_stddev) (DeepLabv2's 0.01), biases zero."""
    branches = [
        keras.layers.Conv2D(
            num_classes,
            3,
            padding="same",
            dilation_rate=rate,
            kernel_initializer=keras.initializers.RandomNormal(stddev=kernel_stddev),
            name=f"{name}_rate{rate}",
        )(x)
        for rate in rates
    ]
    if len(branches) == 1:
        return branches[0]
    return keras.layers.Add(name=f"{name}_sum")(branches)


def aspp_v3(
    x: keras.KerasTensor,
    bn: BatchNormSettings,
    rates: Sequence[int] = (6, 12, 18),
    channels: int = 256,
    separable: bool = True,
    image_pooling: bool = True,
    dropout_rate: float = 0.1,
    pre_atrous: Optional[PreAtrous] = None,
    atrous_input: Optional[keras.KerasTensor] = None,
    name: str = "aspp",
    align_corners: bool = False,
) -> keras.KerasTensor:
    """DeepLabv3's ASPP on features `x`; returns the projected (B, h, w, `channels`) features (no logits).

    Branches, in concatenation order: image pooling (`image_pooling`), 1x1 conv ("aspp0"), one 3x3 atrous branch
    per rate ("aspp1", "aspp2", ...; depthwise-separable when `separable`, with `pre_atrous` in front of each
    atrous conv); then "concat_projection" 1x1 conv -> BN -> ReLU -> dropout(`dropout_rate`).
    """
    branches = []
    if image_pooling:
        pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_image_pooling_gap")(x)
        pooled = conv_bn_relu(pooled, channels, 1, bn, f"{name}_image_pooling")
        branches.append(ResizeToMatch(align_corners, name=f"{name}_image_pooling_resize")([pooled, x]))
    branches.append(conv_bn_relu(x, channels, 1, bn, f"{name}0"))
    atrous_input = x if atrous_input is None else atrous_input
    for index, rate in enumerate(rates, start=1):
        prefix = f"{name}{index}"
        if separable:
            branches.append(separable_conv_bn_relu(atrous_input, channels, bn, prefix, rate, pre_depthwise=pre_atrous))
        else:
            branch_input = atrous_input if pre_atrous is None else pre_atrous(atrous_input, prefix, rate)
            branches.append(conv_bn_relu(branch_input, channels, 3, bn, prefix, rate=rate))
    y = keras.layers.Concatenate(name=f"{name}_concat")(branches) if len(branches) > 1 else branches[0]
    y = conv_bn_relu(y, channels, 1, bn, f"{name}_concat_projection")
    if dropout_rate:
        y = keras.layers.Dropout(dropout_rate, name=f"{name}_dropout")(y)
    return y
