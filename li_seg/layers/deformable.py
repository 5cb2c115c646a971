"""DCNv2's modulated deformable convolution module (Zhu et al. 2019; CharlesShang/DCNv2 dcn_v2.py), as a layer.

    [dy, dx]_k, l_k = Conv_offset(guide)          (3 kh kw channels: 2 kh kw offsets, then kh kw mask logits)
    y = modulated_deform_conv2d(x, offsets, sigmoid(l), W, b)

The offset / mask conv has the main conv's kernel size and stride, no dilation (DCNv2; mmcv's
ModulatedDeformConv2dPack passes the dilation: `offset_dilation`), a bias, and zero-initialised weight and bias,
so the layer starts as a plain convolution with every tap weighted 0.5. Its first 2 kh kw output channels are the
offsets in the op's (dy, dx)-per-tap order (DCNv2 concatenates its chunks o1, o2 back in that order). The main
kernel is uniform in +-1 / sqrt(C_in kh kw) and the bias 0, as DCNv2's reset_parameters.

`guide` is what the offsets are predicted from: the features themselves (DCNv2's module, called on one tensor) or
another tensor of the same spatial size (CycleNet's ADC predicts them from the low- and high-level features; call
the layer on [features, guide]). In training the layer keeps the mean |offset| per tap and the mean mask of its
last step and publishes them (diagnostics hook): "deformable_offsets/<label>" (histogram over the 2 kh kw offset
channels), "deformable_offsets_mean_abs/<label>" and "deformable_mask_mean/<label>".
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from li_seg.analysis.flops import elements, output_positions, register_flop_rule
from li_seg.layers.diagnostics import Histogram
from li_seg.ops.deform_conv import modulated_deform_conv2d, output_size


@keras.saving.register_keras_serializable(package="li_seg")
class ModulatedDeformableConv2D(keras.layers.Layer):
    """filters, kernel_size, strides, dilation_rate: the deformable conv's; deformable_groups: groups of input
    channels sharing offsets; offset_dilation: the offset conv's dilation (1: DCNv2; the main dilation: mmcv);
    label: the name of the layer's offsets in TensorBoard."""

    def __init__(self, filters: int, kernel_size: int = 3, strides: int = 1, dilation_rate: int = 1,
                 deformable_groups: int = 1, use_bias: bool = True, offset_dilation: int = 1, label: str = "",
                 **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = int(filters), int(kernel_size), int(strides)
        self.dilation_rate, self.deformable_groups = int(dilation_rate), int(deformable_groups)
        self.use_bias, self.offset_dilation, self.label = use_bias, int(offset_dilation), label
        taps = self.kernel_size ** 2
        self.offset_conv = keras.layers.Conv2D(
            3 * self.deformable_groups * taps, self.kernel_size, strides=self.strides, padding="same",
            dilation_rate=self.offset_dilation, kernel_initializer="zeros", bias_initializer="zeros",
            name="offset_mask",
        )

    @staticmethod
    def _shapes(input_shape):
        """(features shape, guide shape) of one shape or a pair of shapes."""
        pair = len(input_shape) == 2 and isinstance(input_shape[0], (list, tuple))
        return tuple(input_shape) if pair else (input_shape, input_shape)

    def build(self, input_shape):
        features_shape, guide_shape = self._shapes(input_shape)
        channels = features_shape[-1]
        if channels is None or channels % self.deformable_groups:
            raise ValueError(f"ModulatedDeformableConv2D needs a known channel count divisible by deformable_groups="
                             f"{self.deformable_groups}, got {channels}")
        bound = 1.0 / math.sqrt(channels * self.kernel_size ** 2)
        self.kernel = self.add_weight(name="kernel", shape=(self.kernel_size, self.kernel_size, channels, self.filters),
                                      initializer=keras.initializers.RandomUniform(-bound, bound))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros") if self.use_bias else None
        self.offset_conv.build(guide_shape)
        taps = self.deformable_groups * self.kernel_size ** 2
        self.offset_magnitudes = self.add_weight(name="offset_magnitudes", shape=(2 * taps,), initializer="zeros",
                                                 trainable=False, aggregation="mean")
        self.mask_mean = self.add_weight(name="mask_mean", shape=(), initializer="zeros", trainable=False,
                                         aggregation="mean")

    def call(self, inputs, training=False):
        features, guide = inputs if isinstance(inputs, (list, tuple)) else (inputs, inputs)
        predicted = self.offset_conv(guide)
        split = 2 * self.deformable_groups * self.kernel_size ** 2
        offsets, mask = predicted[..., :split], ops.sigmoid(predicted[..., split:])
        if training:
            self.offset_magnitudes.assign(ops.cast(ops.mean(ops.abs(offsets), axis=(0, 1, 2)), "float32"))
            self.mask_mean.assign(ops.cast(ops.mean(mask), "float32"))
        return modulated_deform_conv2d(
            features, offsets, mask, ops.cast(self.kernel, features.dtype),
            None if self.bias is None else ops.cast(self.bias, features.dtype), strides=self.strides,
            dilation_rate=self.dilation_rate, deformable_groups=self.deformable_groups,
        )

    def compute_output_shape(self, input_shape):
        batch, height, width = self._shapes(input_shape)[0][:3]

        def size(n):
            return None if n is None else output_size(n, self.kernel_size, self.strides, self.dilation_rate)

        return (batch, size(height), size(width), self.filters)

    def diagnostics(self) -> dict:
        magnitudes = ops.convert_to_numpy(self.offset_magnitudes)
        label = self.label or self.name
        return {f"deformable_offsets/{label}": Histogram(magnitudes),
                f"deformable_offsets_mean_abs/{label}": float(np.mean(magnitudes)),
                f"deformable_mask_mean/{label}": float(ops.convert_to_numpy(self.mask_mean))}

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "dilation_rate": self.dilation_rate,
                "deformable_groups": self.deformable_groups, "use_bias": self.use_bias,
                "offset_dilation": self.offset_dilation, "label": self.label}


@register_flop_rule(ModulatedDeformableConv2D)
def _deformable_flops(layer: ModulatedDeformableConv2D, call, convention) -> int:
    """The offset conv (a k x k conv with bias from the guide's channels), the deformable conv's multiply-
    accumulates (2 k^2 C F per output position, as a conv) and, as elementwise arithmetic (`convention.add`), its
    sampling: per tap and input channel 4 corner products, 3 adds and the mask product (8 FLOPs) per output
    position; + the bias."""
    guide_channels = call.input_shapes[-1][-1]
    channels = call.input_shapes[0][-1]
    taps = layer.kernel_size ** 2
    positions = output_positions(call, (layer.kernel_size,) * 2, (1, 1), "same", convention)
    offset_conv = positions * 3 * layer.deformable_groups * taps * (2 * taps * guide_channels + convention.bias)
    sampling = convention.add * positions * taps * channels * 8
    bias = elements(call.output_shapes[0]) if convention.bias and layer.use_bias else 0
    return offset_conv + positions * 2 * taps * channels * layer.filters + sampling + bias

