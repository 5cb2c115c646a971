"""Smoothing of dilated convolutions: "Efficient Smoothing of Dilated Convolutions for Image Segmentation"
(Ziegler et al.) and its two baselines from Wang & Ji, "Smoothed Dilated Convolutions for Improved Dense
Prediction" (KDD 2018): SS Conv and G Interact.

The operator (PAPERS.md section 2): pre-filter every input channel of a dilated conv (rate r) with a small
filter v, then apply the dilated conv w:

    y[i] = sum_k ( sum_n x[i - r k - n] v[n] ) w[k].

The layers here are the part in brackets (`PreFilter`, `SharedSmoothing`, `AggregatedSmoothing`: per-channel,
depthwise) or, for G Interact, the part after the dilated conv (`GroupInteraction`). The dilated conv itself
stays an ordinary `Conv2D(dilation_rate=r)`.

Conventions, shared by every layer here:

* SAME zero padding, stride 1, any batch and spatial size, known channel count.
* Kernels are stored and applied in TensorFlow's orientation (cross-correlation, as `tf.nn.depthwise_conv2d`
  and the authors' `conv3d` / `depthwise_conv2d_native` calls): with p = (s - 1) // 2,
      y[i] = sum_{k=0}^{s-1} x[i + k - p] K[k],   i.e. the paper's v[n] = K[p - n], n in {p - s + 1, ..., p}.
  Symmetric filters (Average, the paper's Gaussian) are the same either way.
* Even sizes s: SAME pads (s - 1) // 2 before and s // 2 after (per axis), so tap k reads offset k - (s-1)//2:
  a 2 x 2 filter reads offsets {0, +1}, a 4 x 4 one {-1, 0, +1, +2}. An even filter is therefore centred half a
  pixel towards the bottom-right of the output pixel. The paper's "size r" (r odd assumed) gives even sizes at
  DeepLab's even rates 2 and 4; the released code's size r - 1 gives 1 and 3 there.
* mixed precision: kernels are formed in the variable dtype (float32) and cast to the compute dtype.
* Trainable weights are named so that `li_seg.training.losses.weight_decay_variables` leaves them out, as the
  authors' code does (its L2 loss takes only variables named 'weights': not fix_w, w_avg or c_vector).

Authors' code read for this module: ThomasZiegler/Efficient-Smoothing-of-Dilated-Convolutions, dilated.py
(commit a5ad465), which extends Wang & Ji's zhengyang-wang/Deeplab-v2--ResNet-101--Tensorflow, dilated.py
(commit 07312ce; its SSC and GI functions are identical in both):

* `_averaged_dilated_conv2d`: filter_size = dilation_factor - 1; `w_avg` a tf.Variable (trainable) of shape
  [s, s, C, 1] initialised to 1/s^2, applied with depthwise_conv2d_native, SAME.
* `_gaussian_dilated_conv2d_fix` / `_oneLearned` / `_combinational_layer`: grid
  ax = np.arange(-s // 2 + 1., s // 2 + 1.) (integer offsets k - (s-1)//2, i.e. centred on the output pixel
  under TF's SAME alignment, also for even s), kernel = exp(-(xx^2 + yy^2)) / exp(2 sigma^2), normalised to sum
  1: the sigma factor is a constant that the normalisation removes, so the effective sigma is 1/sqrt(2) whatever
  sigma is (even the "learned" sigma gets a zero gradient). Applied as conv3d on (N, H, W, C, 1), SAME.
* `_smoothed_dilated_conv2d_SSC` (Wang & Ji): fix_w [2r-1, 2r-1, 1, 1, 1] zero-initialised plus a constant 1 at
  the centre (r-1, r-1), conv3d on (N, H, W, C, 1): one filter shared by all channels.
* `_smoothed_dilated_conv2d_GI` (Wang & Ji): pad H, W at the bottom / right to multiples of r, space_to_batch(r),
  conv, then mixes the r^2 batch chunks l (tf.split on axis 0) with fix_w = eye(r^2) as
  os[i] = fix_w[0, i] l[i] + sum_{j>=1} fix_w[j, i] l[j] (sic: l[i], not l[0]; see `GroupInteraction`),
  batch_to_space with the same crops.
* `_combinational_layer` + `_get_c_vector`: o = c[0] x + c[1] o_avg + c[2] o_gauss + c[3] o_ssc with one
  'c_vector' of 4 shared by all layers (top scope), initialised to 0.25. Its `c_.assign(tf.nn.softmax(c_))`
  result is never used (graph mode: the assign op is not a dependency of anything), so the vector is used
  unnormalised, and the Average there is the trainable `w_avg`.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

import keras

FILTER_SIZE_RULES = ("paper", "code")
GAUSSIAN_VARIANTS = ("paper", "code")
GROUP_INTERACTION_VARIANTS = ("paper", "code")
COEFFICIENT_MODES = ("convex", "code")
COEFFICIENT_NAMES = ("ave", "gauss", "learned", "none")


# --------------------------------------------------------------------------------------------------------------
# Filter sizes and fixed kernels (NumPy)
# --------------------------------------------------------------------------------------------------------------


def filter_size(rate: int, rule: str = "paper") -> int:
    """The pre-filter size s for dilation rate r: "paper" s = r (the paper's "size r"), "code" s = r - 1.

    The released code's rule gives rate 2 -> 1 (a 1 x 1 filter: no smoothing) and rate 4 -> 3.
    """
    if rule not in FILTER_SIZE_RULES:
        raise ValueError(f"filter_size rule must be one of {FILTER_SIZE_RULES}, got {rule!r}.")
    rate = int(rate)
    size = rate if rule == "paper" else rate - 1
    if size < 1:
        raise ValueError(f"filter_size: rate {rate} with rule {rule!r} gives filter size {size} < 1.")
    return size


def _check_size(size) -> int:
    size = int(size)
    if size < 1:
        raise ValueError(f"Filter size must be >= 1, got {size}.")
    return size


def average_kernel(size: int) -> np.ndarray:
    """The s x s average filter, every tap 1 / s^2 (float64)."""
    size = _check_size(size)
    return np.full((size, size), 1.0 / size**2, dtype=np.float64)


def gaussian_kernel(size: int, sigma: float = 1.0, variant: str = "paper") -> np.ndarray:
    """The s x s Gaussian exp(-(x^2 + y^2) / (2 sigma^2)), normalised to sum 1 (float64).

    variant "paper": offsets from the filter centre, k - (s - 1) / 2 (half-integers for even s: symmetric).
    variant "code": the released code's formula, exp(-(x^2 + y^2)) / exp(2 sigma^2) normalised, on its grid
      np.arange(-s // 2 + 1, s // 2 + 1), i.e. integer offsets k - (s - 1) // 2 (for even s: asymmetric, centred
      on the output pixel under TF's SAME alignment). `sigma` cancels out: the effective sigma is 1/sqrt(2).
    """
    size = _check_size(size)
    if variant not in GAUSSIAN_VARIANTS:
        raise ValueError(f"gaussian_kernel variant must be one of {GAUSSIAN_VARIANTS}, got {variant!r}.")
    if not sigma > 0:
        raise ValueError(f"gaussian_kernel sigma must be > 0, got {sigma}.")
    if variant == "paper":
        offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
        scale = 2.0 * float(sigma) ** 2
    else:
        offsets = np.arange(size, dtype=np.float64) - (size - 1) // 2
        scale = 1.0  # exp(-(x^2 + y^2)) / exp(2 sigma^2): the constant factor is removed by the normalisation
    squared = offsets[:, None] ** 2 + offsets[None, :] ** 2
    kernel = np.exp(-squared / scale)
    return kernel / kernel.sum()


def identity_kernel(size: int) -> np.ndarray:
    """The s x s (s odd) identity filter: zeros with a 1 at the centre (float64)."""
    size = _check_size(size)
    if size % 2 == 0:
        raise ValueError(f"identity_kernel needs an odd size, got {size}.")
    kernel = np.zeros((size, size), dtype=np.float64)
    kernel[size // 2, size // 2] = 1.0
    return kernel


def embed_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    """Zero-pads an s x s kernel to size x size so that every tap keeps its offset under TF's SAME alignment.

    Alone, tap k of an s-tap filter reads offset k - (s-1)//2; in the size-tap frame tap K reads K - (size-1)//2,
    so tap k goes to K = k + (size-1)//2 - (s-1)//2. Filtering with the embedded kernel equals filtering with the
    original one, also for even s.
    """
    kernel = np.asarray(kernel)
    s = kernel.shape[0]
    if kernel.shape != (s, s) or s > size:
        raise ValueError(f"embed_kernel: cannot embed a {kernel.shape} kernel in {size} x {size}.")
    start = (size - 1) // 2 - (s - 1) // 2
    out = np.zeros((size, size), dtype=kernel.dtype)
    out[start : start + s, start : start + s] = kernel
    return out


def _depthwise(inputs, kernel):
    return tf.nn.depthwise_conv2d(inputs, kernel, strides=[1, 1, 1, 1], padding="SAME")


def _channels(layer_name: str, input_shape) -> int:
    channels = input_shape[-1]
    if channels is None:
        raise ValueError(f"{layer_name} needs a known channel count (the last input dimension).")
    return int(channels)


def _check_rate(layer_name: str, rate) -> int:
    rate = int(rate)
    if rate < 1:
        raise ValueError(f"{layer_name} rate must be >= 1, got {rate}.")
    return rate


def _constant_initializer(values: np.ndarray):
    values = np.asarray(values, dtype=np.float64)

    def initializer(shape, dtype=None):
        return tf.cast(tf.constant(np.broadcast_to(values, tuple(shape))), dtype or "float32")

    return initializer


# --------------------------------------------------------------------------------------------------------------
# Average / Gaussian pre-filter (Ziegler et al.)
# --------------------------------------------------------------------------------------------------------------


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
        channels = _channels("PreFilter", input_shape)
        tiled = np.tile(self.kernel_values[:, :, None, None], (1, 1, channels, 1))
        if self.trainable_kernel:
            self.prefilter_kernel = self.add_weight(
                name="prefilter_kernel", shape=tiled.shape, initializer=_constant_initializer(tiled),
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
        return _depthwise(inputs, self.kernel())

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


# --------------------------------------------------------------------------------------------------------------
# SS Conv and G Interact (Wang & Ji)
# --------------------------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="li_seg")
class SharedSmoothing(keras.layers.Layer):
    """SS Conv (Wang & Ji): one trainable (2r-1) x (2r-1) filter per layer, shared by all channels.

    y[i, c] = sum_n x[i - n, c] v[n] for every channel c with the same v (weight `smoothing_kernel`, shape
    (2r-1, 2r-1), TF orientation), SAME zero padding. Initialised to the identity (zeros, centre 1), so the
    layer starts as the identity. The authors store zeros plus a constant centre 1 (fix_w + mask); storing the
    whole filter has the same gradients and, without weight decay on it (as theirs), the same training.
    """

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_rate("SharedSmoothing", rate)
        self.size = 2 * self.rate - 1

    def build(self, input_shape):
        self._num_channels = _channels("SharedSmoothing", input_shape)
        self.smoothing_kernel = self.add_weight(
            name="smoothing_kernel",
            shape=(self.size, self.size),
            initializer=_constant_initializer(identity_kernel(self.size)),
            trainable=True,
            autocast=False,
        )

    def kernel(self):
        """The depthwise kernel (2r-1, 2r-1, C, 1) in the compute dtype (the shared filter tiled over C)."""
        kernel = tf.cast(self.smoothing_kernel, self.compute_dtype)[:, :, None, None]
        return tf.tile(kernel, [1, 1, self._num_channels, 1])

    def call(self, inputs):
        return _depthwise(inputs, self.kernel())

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate)
        return config


@keras.saving.register_keras_serializable(package="li_seg")
class GroupInteraction(keras.layers.Layer):
    """G Interact (Wang & Ji), applied to the output of a rate-r dilated conv: mixes its r^2 interleaved sub-grids.

    Sub-grid i = a r + b (a, b in [0, r)) holds the pixels (a + r p, b + r q): the order in which
    `tf.space_to_batch(block r)` stacks them on the batch axis. With M the weight `interaction` (r^2, r^2),
    initialised to the identity:

        out_i = sum_j M[i, j] in_j.

    H and W are zero-padded at the bottom / right to multiples of r first and cropped back after
    batch_to_space, as the authors' code. At the identity the layer returns its input exactly.

    Versus the authors' code (Wang & Ji's dilated.py, `_smoothed_dilated_conv2d_GI`, copied unchanged by Ziegler
    et al.):
    * its matrix fix_w is M transposed: os[i] = sum_j fix_w[j, i] l[j];
    * but its loop starts with `os.append(fix_w[0, i] * l[i])`, i.e. l[i] where the sum needs l[0]: for every
      i >= 1 the j = 0 term multiplies the sub-grid's own map, so sub-grid 0 never reaches the others and
      fix_w[0, i] acts as a second diagonal entry. Identical at the identity initialisation, not once trained.
      `variant="code"` reproduces that: the effective matrix is M with M[i, 0] (i >= 1) moved onto M[i, i];
      `variant="paper"` (default) is the full mixing of the equation above.
    * it mixes inside its decomposed conv, so its padded rows / columns hold the conv's values there, whereas
      this layer (after an ordinary dilated conv) pads the conv output with zeros: the two differ only in the
      last partial row / column block, and only when H or W is not a multiple of r.
    """

    def __init__(self, rate, variant="paper", **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_rate("GroupInteraction", rate)
        if variant not in GROUP_INTERACTION_VARIANTS:
            raise ValueError(f"GroupInteraction variant must be one of {GROUP_INTERACTION_VARIANTS}, got {variant!r}.")
        self.variant = variant

    def build(self, input_shape):
        _channels("GroupInteraction", input_shape)
        groups = self.rate**2
        self.interaction = self.add_weight(
            name="interaction",
            shape=(groups, groups),
            initializer=_constant_initializer(np.eye(groups)),
            trainable=True,
            autocast=False,
        )

    def matrix(self):
        """The effective mixing matrix (r^2, r^2) in the variable dtype (see `variant`)."""
        matrix = tf.convert_to_tensor(self.interaction)
        if self.variant == "paper":
            return matrix
        groups = self.rate**2
        keep = np.ones((groups, groups))
        keep[1:, 0] = 0.0  # the code never feeds sub-grid 0 into the others ...
        to_diagonal = np.zeros((groups, groups))
        to_diagonal[1:, 0] = 1.0  # ... its weight fix_w[0, i] = M[i, 0] multiplies sub-grid i itself
        moved = tf.reduce_sum(matrix * to_diagonal, axis=1)
        return matrix * tf.constant(keep, matrix.dtype) + tf.linalg.diag(moved)

    def call(self, inputs):
        r = self.rate
        shape = tf.shape(inputs)
        pad_h, pad_w = tf.math.floormod(-shape[1], r), tf.math.floormod(-shape[2], r)
        paddings = [[0, pad_h], [0, pad_w]]
        grids = tf.space_to_batch(inputs, [r, r], paddings)  # (r^2 N, H'/r, W'/r, C), sub-grid-major
        grid_shape = tf.shape(grids)
        mixed = tf.matmul(tf.cast(self.matrix(), self.compute_dtype), tf.reshape(grids, [r * r, -1]))
        return tf.batch_to_space(tf.reshape(mixed, grid_shape), [r, r], paddings)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, variant=self.variant)
        return config


# --------------------------------------------------------------------------------------------------------------
# Aggregation (Ziegler et al., Sec. III-D)
# --------------------------------------------------------------------------------------------------------------


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
        self.rate = _check_rate("AggregatedSmoothing", rate)
        self.rule, self.sigma, self.gaussian_variant = rule, float(sigma), gaussian_variant
        self.trainable_average = bool(trainable_average)
        self.prefilter_size = filter_size(self.rate, rule)
        self.size = 2 * self.rate - 1
        self.coefficients = coefficients
        self._average = embed_kernel(average_kernel(self.prefilter_size), self.size)
        self._gaussian = embed_kernel(gaussian_kernel(self.prefilter_size, self.sigma, gaussian_variant), self.size)
        self._delta = identity_kernel(self.size)

    def build(self, input_shape):
        self._num_channels = _channels("AggregatedSmoothing", input_shape)
        self.smoothing_kernel = self.add_weight(
            name="smoothing_kernel",
            shape=(self.size, self.size),
            initializer=_constant_initializer(self._delta),
            trainable=True,
            autocast=False,
        )
        if self.trainable_average:
            s = self.prefilter_size
            self.prefilter_kernel = self.add_weight(
                name="prefilter_kernel",
                shape=(s, s, self._num_channels, 1),
                initializer=_constant_initializer(average_kernel(s)[:, :, None, None]),
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
        return _depthwise(inputs, self.kernel())

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


SMOOTHING_KINDS = ("average", "gaussian", "ss_conv", "g_interact", "aggregated")


def smoothing_layers(config, rate: int, name: str, coefficients: Optional[AggregationCoefficients] = None):
    """The layers a `li_seg.config.SmoothingConfig` puts around one dilated conv of rate `rate`:
    (pre-filter applied to the conv's input or None, layer applied to the conv's output or None).
    coefficients: the model's shared `AggregationCoefficients` (kind "aggregated" only)."""
    if config.kind not in SMOOTHING_KINDS:
        raise ValueError(f"Unknown smoothing kind {config.kind!r}; valid: {list(SMOOTHING_KINDS)}.")
    if config.kind == "average":
        return average_prefilter(rate, config.size_rule, config.trainable_average, name=f"{name}_average"), None
    if config.kind == "gaussian":
        layer = gaussian_prefilter(rate, config.size_rule, config.sigma, config.gaussian_variant,
                                   name=f"{name}_gaussian")
        return layer, None
    if config.kind == "ss_conv":
        return SharedSmoothing(rate, name=f"{name}_ss_conv"), None
    if config.kind == "g_interact":
        return None, GroupInteraction(rate, config.g_interact_variant, name=f"{name}_g_interact")
    if coefficients is None:
        raise ValueError("smoothing kind 'aggregated' needs the model's shared AggregationCoefficients.")
    layer = AggregatedSmoothing(
        rate, coefficients, config.size_rule, config.sigma, config.gaussian_variant, config.trainable_average,
        name=f"{name}_aggregated",
    )
    return layer, None


def aggregation_coefficients(model: keras.Model) -> dict[str, float]:
    """The aggregated smoothing coefficients of `model` (nested models included) as
    {"smoothing_coefficients/ave": a_Ave, ...}; empty when the model has none."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, AggregationCoefficients):
            return {f"smoothing_coefficients/{key}": value for key, value in layer.as_dict().items()}
    return {}
