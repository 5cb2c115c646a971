"""The fixed Average and Gaussian pre-filters of "Efficient Smoothing of Dilated Convolutions for Image
Segmentation" (Ziegler et al.), PAPERS.md section 2: pre-filter every input channel of a dilated conv (rate r)
with a small filter v, then apply the dilated conv w,

    y[i] = sum_k ( sum_n x[i - r k - n] v[n] ) w[k];

`PreFilter` is the part in brackets (per channel, depthwise); the dilated conv stays an ordinary Conv2D.

Authors' code (ThomasZiegler/Efficient-Smoothing-of-Dilated-Convolutions, dilated.py, commit a5ad465):
* `_averaged_dilated_conv2d`: filter_size = dilation_factor - 1; `w_avg` a tf.Variable (trainable) of shape
  [s, s, C, 1] initialised to 1/s^2, applied with depthwise_conv2d_native, SAME.
* `_gaussian_dilated_conv2d_fix` / `_oneLearned` / `_combinational_layer`: grid
  ax = np.arange(-s // 2 + 1., s // 2 + 1.) (integer offsets k - (s-1)//2, i.e. centred on the output pixel
  under TF's SAME alignment, also for even s), kernel = exp(-(xx^2 + yy^2)) / exp(2 sigma^2), normalised to sum
  1: the sigma factor is a constant that the normalisation removes, so the effective sigma is 1/sqrt(2) whatever
  sigma is (even the "learned" sigma gets a zero gradient). Applied as conv3d on (N, H, W, C, 1), SAME.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

import keras
from li_seg.analysis.flops import depthwise_flops, elements, register_flop_rule
from li_seg.layers.smoothing.kernels import (
    average_kernel, constant_initializer, depthwise, filter_size, gaussian_kernel, known_channels,
)


@keras.saving.register_keras_serializable(package="li_seg")
class PreFilter(keras.layers.Layer):
    """Per-channel (depthwise) s x s pre-filter of a dilated conv: sum_n x[i - n] v[n], SAME zero padding.

    Args:
      kernel: the 2-D filter (list or array, kh x kw, TF orientation, see the module docstring), e.g.
        `average_kernel(s)`, `gaussian_kernel(s, 1.0)` or `gaussian_kernel(s, variant="code")`.
      trainable_kernel: False (the paper's fixed Average and Gaussian): no weights at all, the kernel is a
        constant. True (the released code's Average): one depthwise kernel per channel, weight
        `prefilter_kernel` of shape (kh, kw, C, 1) (the code's `w_avg`), initialised to `kernel`.

    A fixed 1 x 1 kernel (the code's rule at rate 2) is a multiplication by its one tap, and exactly the
    identity for [[1]]. Fixed filters are one `tf.nn.depthwise_conv2d` with a constant kernel: measured faster
    on CPU than the separable form (two 1-D depthwise passes) at s = 2, 3, 4 for both filters.
    Even sizes align as TF's SAME padding does: (s - 1) // 2 taps before the output pixel, s // 2 after.
    """

    def __init__(self, kernel, trainable_kernel=False, **kwargs):
        super().__init__(**kwargs)
        kernel = np.array(kernel, dtype=np.float64)
        if kernel.ndim != 2 or min(kernel.shape) < 1:
            raise ValueError(f"PreFilter kernel must be a non-empty 2-D array, got shape {kernel.shape}.")
        if not np.all(np.isfinite(kernel)):
            raise ValueError("PreFilter kernel must be finite.")
        self.kernel_values = kernel
        self.trainable_kernel = bool(trainable_kernel)

    def build(self, input_shape):
        channels = known_channels("PreFilter", input_shape)
        tiled = np.tile(self.kernel_values[:, :, None, None], (1, 1, channels, 1))
        if self.trainable_kernel:
            self.prefilter_kernel = self.add_weight(
                name="prefilter_kernel", shape=tiled.shape, initializer=constant_initializer(tiled),
                trainable=True,
                autocast=False,
            )
        else:
            self._fixed = tiled  # (kh, kw, C, 1) float64, cast to the compute dtype in call()

    def kernel(self):
        """The depthwise kernel (kh, kw, C, 1) in the compute dtype."""
        if self.trainable_kernel:
            return tf.cast(self.prefilter_kernel, self.compute_dtype)
        return tf.cast(tf.constant(self._fixed), self.compute_dtype)

    def call(self, inputs):
        if not self.trainable_kernel and self.kernel_values.shape == (1, 1):
            tap = float(self.kernel_values[0, 0])
            return inputs if tap == 1.0 else inputs * tf.cast(tap, inputs.dtype)
        return depthwise(inputs, self.kernel())

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(kernel=self.kernel_values.tolist(), trainable_kernel=self.trainable_kernel)
        return config


def average_prefilter(rate: int, rule: str = "paper", trainable: bool = False, **kwargs) -> PreFilter:
    """The Average pre-filter for a dilation rate: fixed (paper) or trainable (the released code)."""
    return PreFilter(average_kernel(filter_size(rate, rule)), trainable_kernel=trainable, **kwargs)


def gaussian_prefilter(
    rate: int, rule: str = "paper", sigma: float = 1.0, variant: str = "paper", **kwargs
) -> PreFilter:
    """The fixed Gaussian pre-filter for a dilation rate (paper: sigma 1.0; variant "code": sigma 1/sqrt 2)."""
    return PreFilter(gaussian_kernel(filter_size(rate, rule), sigma, variant), **kwargs)


@register_flop_rule(PreFilter)
def _prefilter_flops(layer: PreFilter, call, convention) -> int:
    """A depthwise s x s filter (2 s^2 per element); a fixed 1 x 1 one is a multiplication (1 per element) or,
    for [[1]], nothing."""
    if not layer.trainable_kernel and layer.kernel_values.shape == (1, 1):
        return 0 if layer.kernel_values[0, 0] == 1.0 else elements(call.output_shapes[0])
    return depthwise_flops(call, layer.kernel_values.shape, (1, 1), convention)
