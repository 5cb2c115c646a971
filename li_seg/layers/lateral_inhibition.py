"""The lateral-inhibition (LI) layer of "Dilated Convolutions with Lateral Inhibitions" (Wang et al.), Eq. 3-5.

LI-Conv(x) = DilatedConv_d( phi( x - sum_{u != 0} L(u) x(n + e u) ) ),  L(u) = W_L exp(-|u|^2 / (2 sigma^2))

This layer is the part inside phi: one depthwise convolution whose (2t+1) x (2t+1) kernel is built from one
scalar W_L per channel (the weight `intensity`, shape (C,)):

    K(0) = 1,   K(u) = -W_L exp(-|u|^2 / (2 sigma^2)) for u != 0,

|u| the Euclidean distance in *undilated* grid units, taps spaced by the LI rate e (a dilated depthwise conv),
SAME padding (zeros outside the map). W_L is kept in [0, 1] by clipping after every optimizer update (the
authors' variable constraint `clip_by_value(t, 0, 1)`; Keras optimizers apply `constraint` after each update),
and carries no regulariser: `li_seg.training.losses` leaves constrained variables out of weight decay. The
surrounding ReLUs of LI-Conv are not part of this layer (`li_seg.layers.inhibition.inhibit` adds them).

The layer computes in float32 unless given another dtype policy, also under a mixed_float16 global policy: in
float16, 1 - W_L exp(...) rounds to 1 and the inhibition term to nothing at the intensities training reaches
(W_L near 1e-4), and W_L's gradient, a sum over every pixel, overflows under loss scaling (BUILD_NOTES 19.3).

With intensity 0 (the default initialisation, uniform [0, 0]) the layer is the identity. For a 3x3 zone and
sigma 1 the edge taps are -0.6065 W_L and the corner taps -0.3679 W_L.
"""

from __future__ import annotations

import numpy as np

import keras
from keras import ops

from li_seg.analysis.flops import depthwise_flops, register_flop_rule
from li_seg.layers.diagnostics import Histogram


def inhibition_decay(zone_size: int, sigma: float) -> np.ndarray:
    """exp(-|u|^2 / (2 sigma^2)) over the zone's offsets u, 0 at the centre: (zone_size, zone_size) float32."""
    t = zone_size // 2
    offsets = np.arange(-t, t + 1, dtype=np.float64)
    squared = offsets[:, None] ** 2 + offsets[None, :] ** 2
    decay = np.exp(-squared / (2.0 * sigma**2))
    decay[t, t] = 0.0
    return decay.astype(np.float32)


def argument_errors(zone_size, sigma, rate, intensity_init, where: str = "") -> list[str]:
    """What is wrong with LateralInhibition's arguments (the layer and `InhibitionConfig` validation both use
    this); `where` prefixes each name ("model.head.aspp_inhibition.")."""
    errors = []
    if int(zone_size) < 3 or int(zone_size) % 2 == 0:
        errors.append(f"{where}zone_size must be odd and >= 3, got {zone_size}")
    if not sigma > 0:
        errors.append(f"{where}sigma must be > 0, got {sigma}")
    if int(rate) < 1:
        errors.append(f"{where}rate must be >= 1, got {rate}")
    low, high = (float(v) for v in intensity_init)
    if not 0.0 <= low <= high <= 1.0:
        errors.append(f"{where}intensity_init must satisfy 0 <= low <= high <= 1, got {[low, high]}")
    return errors


@keras.saving.register_keras_serializable(package="li_seg")
class ClipToRange(keras.constraints.Constraint):
    """Projects a weight onto [min_value, max_value] (tf.clip_by_value), as the authors' LI weight constraint."""

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0):
        self.min_value = float(min_value)
        self.max_value = float(max_value)

    def __call__(self, w):
        return ops.clip(w, self.min_value, self.max_value)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value}


@keras.saving.register_keras_serializable(package="li_seg")
class LateralInhibition(keras.layers.Layer):
    """x - sum_{u != 0} W_L exp(-|u|^2 / (2 sigma^2)) x(n + rate u), per channel (Eq. 3-5; no ReLU).

    Args:
      zone_size: the inhibition zone's side 2t + 1 (odd, >= 3); the paper uses 3 (Table I also 5).
      sigma: the Gaussian's standard deviation in undilated grid units (paper: 1.0).
      rate: the LI rate e, the spacing of the zone's taps (paper: 1; Table I also 5).
      intensity_init: (low, high) of the uniform initialisation of W_L, within [0, 1] (paper: (0, 0); Table I
        also (0.05, 0.15) and (0.05, 0.35)).
      label: the layer's name in the paper, which its TensorBoard tags carry ("rb10", "conv5_3", "aspp_rate6");
        None = the layer's path.
      dtype: the layer's dtype policy; float32 by default whatever the global policy (see the module docstring).

    Input (B, H, W, C) -> output of the same shape. Adds C trainable weights (`intensity`), kept in [0, 1].
    """

    def __init__(self, zone_size=3, sigma=1.0, rate=1, intensity_init=(0.0, 0.0), label=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        errors = argument_errors(zone_size, sigma, rate, intensity_init)
        if errors:
            raise ValueError("LateralInhibition " + "; ".join(errors) + ".")
        zone_size, rate = int(zone_size), int(rate)
        low, high = (float(v) for v in intensity_init)
        self.zone_size, self.sigma, self.rate = zone_size, float(sigma), rate
        self.intensity_init = (low, high)
        self.label = label
        self._decay = inhibition_decay(zone_size, self.sigma)[:, :, None]  # (k, k, 1): broadcast over channels
        self._centre = np.zeros_like(self._decay)  # 1 at the centre tap only
        self._centre[zone_size // 2, zone_size // 2] = 1.0

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("LateralInhibition needs a known channel count (the last input dimension).")
        low, high = self.intensity_init
        self.intensity = self.add_weight(
            name="intensity",
            shape=(channels,),
            initializer=keras.initializers.RandomUniform(low, high) if high > low else keras.initializers.Constant(low),
            constraint=ClipToRange(0.0, 1.0),
            trainable=True,
        )

    def kernel(self):
        """The depthwise kernel K (zone, zone, C, 1) of Eq. 5 for the current intensities."""
        intensity = ops.cast(self.intensity, self.compute_dtype)
        kernel = ops.cast(self._centre, self.compute_dtype) - ops.cast(self._decay, self.compute_dtype) * intensity
        return ops.expand_dims(kernel, -1)

    def call(self, inputs):
        return ops.depthwise_conv(inputs, self.kernel(), strides=1, padding="same", dilation_rate=self.rate)

    def diagnostics(self) -> dict:
        """W_L for TensorBoard (`li_seg.layers.diagnostics`): "li_intensity/<layer>" histogram and its mean and
        maximum as "li_intensity_mean/<layer>", "li_intensity_max/<layer>" (<layer>: `label`, else the weight's
        layer path)."""
        values = ops.convert_to_numpy(self.intensity)
        layer = self.label or self.intensity.path.rsplit("/", 1)[0]
        return {
            f"li_intensity/{layer}": Histogram(values),
            f"li_intensity_mean/{layer}": float(np.mean(values)),
            f"li_intensity_max/{layer}": float(np.max(values)),
        }

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            zone_size=self.zone_size, sigma=self.sigma, rate=self.rate, intensity_init=list(self.intensity_init),
            label=self.label,
        )
        return config


@register_flop_rule(LateralInhibition)
def _lateral_inhibition_flops(layer: LateralInhibition, call, convention) -> int:
    """Eq. 5: a zone x zone depthwise conv at the LI rate, SAME, 2 x zone^2 per element. Its kernel is computed
    from the C intensities, not per pixel (constant at inference): not counted."""
    zone = (layer.zone_size, layer.zone_size)
    return depthwise_flops(call, zone, (layer.rate, layer.rate), convention)
