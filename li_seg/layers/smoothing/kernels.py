"""Filter sizes and the fixed kernels of the smoothing layers (NumPy), and the helpers the layers share.

Orientation and alignment, shared by every layer of `li_seg.layers.smoothing`:

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
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

FILTER_SIZE_RULES = ("paper", "code")
GAUSSIAN_VARIANTS = ("paper", "code")


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


def depthwise(inputs, kernel):
    return tf.nn.depthwise_conv2d(inputs, kernel, strides=[1, 1, 1, 1], padding="SAME")


def known_channels(layer_name: str, input_shape) -> int:
    channels = input_shape[-1]
    if channels is None:
        raise ValueError(f"{layer_name} needs a known channel count (the last input dimension).")
    return int(channels)


def check_rate(layer_name: str, rate) -> int:
    rate = int(rate)
    if rate < 1:
        raise ValueError(f"{layer_name} rate must be >= 1, got {rate}.")
    return rate


def constant_initializer(values: np.ndarray):
    values = np.asarray(values, dtype=np.float64)

    def initializer(shape, dtype=None):
        return tf.cast(tf.constant(np.broadcast_to(values, tuple(shape))), dtype or "float32")

    return initializer
