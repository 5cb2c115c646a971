"""The aggregated smoothing of Ziegler et al. (Sec. III-D, Fig. 5): a learned convex combination of the Average
and Gaussian pre-filters, SS Conv and the identity, one set of coefficients for the whole model.

Authors' code (ThomasZiegler/Efficient-Smoothing-of-Dilated-Convolutions, dilated.py, commit a5ad465):
`_combinational_layer` + `_get_c_vector`: o = c[0] x + c[1] o_avg + c[2] o_gauss + c[3] o_ssc with one
'c_vector' of 4 shared by all layers (top scope), initialised to 0.25. Its `c_.assign(tf.nn.softmax(c_))`
result is never used (graph mode: the assign op is not a dependency of anything), so the vector is used
unnormalised, and the Average there is the trainable `w_avg`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

import keras
from li_seg.analysis.flops import depthwise_flops, register_flop_rule
from li_seg.layers.smoothing.kernels import (
    average_kernel, check_rate, constant_initializer, depthwise, embed_kernel, filter_size, gaussian_kernel,
    identity_kernel, known_channels,
)

COEFFICIENT_MODES = ("convex", "code")
COEFFICIENT_NAMES = ("ave", "gauss", "learned", "none")


@keras.saving.register_keras_serializable(package="li_seg")
class AggregationCoefficients(keras.layers.Layer):
    """The 4 aggregation coefficients (a_Ave, a_Gauss, a_Learned, a_None), shared by every aggregated layer.

    Create one instance and pass it to every `AggregatedSmoothing` of a model (Keras then tracks its one weight
    once). The weights need no input, so they are created in the constructor.

    mode "convex" (the paper: a >= 0, sum a = 1, learned): a = softmax(l) with l the weight `logits` (4,),
      initialised to 0, so a = 0.25 each at the start. Softmax rather than clipping and renormalising after
      each step: it is a smooth reparametrisation, so every optimizer (momentum included) sees the true
      gradient and the constraint holds exactly at every forward pass, with no projection step that the
      optimizer does not know about and no coefficient stuck at 0 with a zero gradient once clipped (the
      authors' own, inert, `c_.assign(tf.nn.softmax(c_))` shows softmax was the intent). The price: a
      coefficient approaches 0 only asymptotically.
    mode "code" (the released code's 'c_vector'): the weight `coefficients` (4,), initialised to 0.25, used as
      is (unconstrained, never normalised). Note the code's order is (None, Ave, Gauss, SSC); here it is
      always (Ave, Gauss, Learned, None).

    `call()` (no input, or any dummy input, ignored) returns the 4 coefficients in the compute dtype;
    `values()` returns them in the variable dtype and `as_dict()` as Python floats for logging (TensorBoard).
    """

    def __init__(self, mode="convex", **kwargs):
        super().__init__(**kwargs)
        if mode not in COEFFICIENT_MODES:
            raise ValueError(f"AggregationCoefficients mode must be one of {COEFFICIENT_MODES}, got {mode!r}.")
        self.mode = mode
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        if self.mode == "convex":
            self.logits = self.add_weight(
                name="logits", shape=(4,), initializer="zeros", trainable=True, autocast=False
            )
        else:
            self.raw_coefficients = self.add_weight(
                name="coefficients",
                shape=(4,),
                initializer=keras.initializers.Constant(0.25),
                trainable=True,
                autocast=False,
            )
        self.built = True

    def values(self):
        """(a_Ave, a_Gauss, a_Learned, a_None) as a (4,) tensor in the variable dtype."""
        if self.mode == "convex":
            return tf.nn.softmax(tf.convert_to_tensor(self.logits))
        return tf.convert_to_tensor(self.raw_coefficients)

    def as_dict(self) -> dict:
        """{"ave": a_Ave, "gauss": a_Gauss, "learned": a_Learned, "none": a_None} as Python floats."""
        return dict(zip(COEFFICIENT_NAMES, (float(v) for v in np.asarray(self.values()))))

    def call(self, inputs=None):
        return tf.cast(self.values(), self.compute_dtype)

    def compute_output_shape(self, input_shape=None):
        return (4,)

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode)
        return config


@keras.saving.register_keras_serializable(package="li_seg")
class AggregatedSmoothing(keras.layers.Layer):
    """Aggregated pre-filter (Sec. III-D): v = a_Ave v_Ave + a_Gauss v_Gauss + a_Learned v_SS + a_None delta.

    Per channel before the dilated conv, as one depthwise conv with one combined (2r-1) x (2r-1) kernel built
    per call: the s x s Average and Gaussian (s = filter_size(rate, rule)) and the delta are embedded in the
    (2r-1) x (2r-1) frame of this layer's own SS Conv filter `smoothing_kernel` (identity-initialised, shared by
    the channels) so that each keeps the alignment it has alone (`embed_kernel`). By linearity this equals the
    code's sum of the four separately filtered maps.

    Args:
      rate: the dilation rate r of the following conv.
      coefficients: the shared `AggregationCoefficients` instance.
      rule: filter-size rule of the Average and Gaussian ("paper": s = r, "code": s = r - 1).
      sigma, gaussian_variant: the Gaussian (`gaussian_kernel`); paper: 1.0, "paper".
      trainable_average: False (paper: fixed Average); True (code: a per-channel trainable `prefilter_kernel`
        (s, s, C, 1) initialised to 1/s^2, the code's `w_avg`; the combined kernel is then per channel).

    The coefficients are a sublayer of every layer sharing them: setting `trainable = False` on one of those
    layers freezes them for all.

    Serialization: get_config returns the coefficients layer itself, which Keras serialises; inside `.keras`
    saving / loading (Keras's ObjectSharingScope) it is stored once and all the layers that shared it share one
    instance again after loading (weights stored once). `from_config(get_config())` in memory reuses the very
    same instance. (Serialising the sublayer inside get_config instead would break the sharing: Keras copies
    that dict before it can mark it as shared.)
    """

    def __init__(
        self,
        rate,
        coefficients,
        rule="paper",
        sigma=1.0,
        gaussian_variant="paper",
        trainable_average=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(coefficients, dict):
            coefficients = keras.saving.deserialize_keras_object(coefficients)
        if not isinstance(coefficients, AggregationCoefficients):
            raise ValueError(
                f"AggregatedSmoothing needs an AggregationCoefficients instance, got {type(coefficients).__name__}."
            )
        self.rate = check_rate("AggregatedSmoothing", rate)
        self.rule, self.sigma, self.gaussian_variant = rule, float(sigma), gaussian_variant
        self.trainable_average = bool(trainable_average)
        self.prefilter_size = filter_size(self.rate, rule)
        self.size = 2 * self.rate - 1
        self.coefficients = coefficients
        self._average = embed_kernel(average_kernel(self.prefilter_size), self.size)
        self._gaussian = embed_kernel(gaussian_kernel(self.prefilter_size, self.sigma, gaussian_variant), self.size)
        self._delta = identity_kernel(self.size)

    def build(self, input_shape):
        self._num_channels = known_channels("AggregatedSmoothing", input_shape)
        self.smoothing_kernel = self.add_weight(
            name="smoothing_kernel",
            shape=(self.size, self.size),
            initializer=constant_initializer(self._delta),
            trainable=True,
            autocast=False,
        )
        if self.trainable_average:
            s = self.prefilter_size
            self.prefilter_kernel = self.add_weight(
                name="prefilter_kernel",
                shape=(s, s, self._num_channels, 1),
                initializer=constant_initializer(average_kernel(s)[:, :, None, None]),
                trainable=True,
                autocast=False,
            )

    def kernel(self):
        """The combined depthwise kernel (2r-1, 2r-1, C, 1) in the compute dtype."""
        dtype = self.variable_dtype
        a = tf.cast(self.coefficients.values(), dtype)
        ss = tf.convert_to_tensor(self.smoothing_kernel)
        combined = a[1] * tf.constant(self._gaussian, dtype) + a[2] * ss + a[3] * tf.constant(self._delta, dtype)
        if not self.trainable_average:
            combined = combined + a[0] * tf.constant(self._average, dtype)
        combined = tf.tile(combined[:, :, None, None], [1, 1, self._num_channels, 1])
        if self.trainable_average:
            start = (self.size - 1) // 2 - (self.prefilter_size - 1) // 2
            end = self.size - start - self.prefilter_size
            average = tf.pad(tf.convert_to_tensor(self.prefilter_kernel), [[start, end], [start, end], [0, 0], [0, 0]])
            combined = combined + a[0] * average
        return tf.cast(combined, self.compute_dtype)

    def call(self, inputs):
        return depthwise(inputs, self.kernel())

    def diagnostics(self) -> dict:
        """The shared coefficients for TensorBoard (`li_seg.layers.diagnostics`; the smoothing paper's Fig. 5):
        "smoothing_coefficients/{ave,gauss,learned,none}" (every layer sharing them publishes the same tags)."""
        return {f"smoothing_coefficients/{key}": value for key, value in self.coefficients.as_dict().items()}

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            rate=self.rate,
            coefficients=self.coefficients,  # serialised by Keras (see the class docstring)
            rule=self.rule,
            sigma=self.sigma,
            gaussian_variant=self.gaussian_variant,
            trainable_average=self.trainable_average,
        )
        return config


@register_flop_rule(AggregatedSmoothing)
def _flops(layer: AggregatedSmoothing, call, convention) -> int:
    """One (2r-1) x (2r-1) depthwise filter per channel: 2 (2r-1)^2 per element."""
    return depthwise_flops(call, (layer.size, layer.size), (1, 1), convention)
