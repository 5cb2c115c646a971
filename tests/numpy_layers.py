"""NumPy forwards of the few layers the weight-conversion tests run by hand (written from the layers' definitions,
not from our Keras code): convolutions with TF-slim's padding, BN in inference, ReLU."""

from __future__ import annotations

import numpy as np


def conv2d(x: np.ndarray, kernel: np.ndarray, stride: int = 1, pad: tuple[int, int] = (0, 0)) -> np.ndarray:
    """x (B, H, W, C) conv kernel (kh, kw, C, O), zero padding `pad` = (before, after) on both axes, then VALID."""
    kh, kw = kernel.shape[:2]
    x = np.pad(x, ((0, 0), pad, pad, (0, 0)))
    out_h, out_w = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    y = np.zeros((x.shape[0], out_h, out_w, kernel.shape[-1]), np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + stride * (out_h - 1) + 1:stride, j:j + stride * (out_w - 1) + 1:stride]
            y += patch @ kernel[i, j]
    return y


def depthwise2d(x: np.ndarray, kernel: np.ndarray, pad: tuple[int, int] = (1, 1)) -> np.ndarray:
    """Stride-1 depthwise conv: x (B, H, W, C), kernel (kh, kw, C, 1)."""
    kh, kw = kernel.shape[:2]
    x = np.pad(x, ((0, 0), pad, pad, (0, 0)))
    out_h, out_w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    return sum(x[:, i:i + out_h, j:j + out_w] * kernel[i, j, :, 0] for i in range(kh) for j in range(kw))


def conv2d_same(x: np.ndarray, kernel: np.ndarray, stride: int = 1) -> np.ndarray:
    """TF-slim's resnet_utils.conv2d_same: SAME for stride 1; else pad k - 1 split low / high, then VALID."""
    k = kernel.shape[0]
    if stride == 1:
        return conv2d(x, kernel, 1, ((k - 1) // 2, k // 2))
    total = k - 1
    return conv2d(x, kernel, stride, (total // 2, total - total // 2))


def batch_norm(x, gamma, beta, mean, variance, epsilon):
    return gamma * (x - mean) / np.sqrt(variance + epsilon) + beta


def relu(x):
    return np.maximum(x, 0.0)


def relu6(x):
    return np.clip(x, 0.0, 6.0)


def relative_error(actual, expected) -> float:
    """max |actual - expected| / max |expected| (the tolerance measure of issue 15: 1e-4)."""
    expected = np.asarray(expected, np.float64)
    return float(np.abs(np.asarray(actual, np.float64) - expected).max() / np.abs(expected).max())
