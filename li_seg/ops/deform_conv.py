"""The modulated deformable convolution of DCNv2 (Zhu et al. 2019), built from TensorFlow gathers.

    y(p0) = b + sum_k w_k * m_k * x(p0 + p_k + dp_k)

DCNv2's semantics (CharlesShang/DCNv2, torchvision.ops.deform_conv2d; PAPERS.md section 3), in NHWC:
- tap k = i * kw + j (row-major over the kernel); offset channel 2k is dy, 2k + 1 is dx; mask channel k, used as
  given (the op applies no sigmoid); with deformable groups G, group g's channels use offset channels
  g * 2 kh kw + ... and mask channels g * kh kw + ...;
- sample point py = oy * stride - pad + i * dilation + dy (px likewise), pad = dilation * (k - 1) / 2 ("same"
  for odd kernels at stride 1), output size (H + 2 pad - dilation (k - 1) - 1) // stride + 1;
- bilinear sampling with zero padding: a sample with py <= -1, py >= H, px <= -1 or px >= W reads 0; otherwise
  its four integer neighbours are blended, a neighbour outside the map reading 0 (so for -1 < py < 0 only row 0
  contributes, with weight py + 1).

Computation, one kernel tap at a time: the four neighbours' flat indices and bilinear weights (float32 for
float16 / bfloat16 / float32 inputs, float64 for float64) -> one gather of the four neighbours from the input
flattened to (B, H W, C) -> their weighted sum times the mask -> a (C, F) matmul accumulated into the output.
No (B, Ho Wo, kh kw C) im2col tensor is formed: the largest intermediate is a tap's four gathered neighbours,
(B, 4 Ho Wo, C / G). The sampling has a hand-written gradient (`_sample`) that recomputes the gather in the
backward pass instead of keeping every tap's neighbours, and scatters into the input with one segment sum;
offsets (through the bilinear weights; the floor is piecewise constant), mask and kernel are differentiated
automatically around it. Speed and peak memory against tf.nn.conv2d: BUILD_NOTES.md section 15
(`python -m scripts.benchmark --measure=deform`).
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf


def output_size(size, kernel_size: int, stride: int, dilation: int):
    """Ho of an input of `size` rows (an int or a scalar tensor) with "same" padding dilation * (k - 1) // 2."""
    pad = dilation * (kernel_size - 1) // 2
    return (size + 2 * pad - dilation * (kernel_size - 1) - 1) // stride + 1


def _neighbours(py, px, height, width):
    """Flat indices (..., 4) into an H x W map and bilinear weights (..., 4) of the sample points (py, px), by
    DCNv2's rule: weight 0 for neighbours outside the map and for samples outside (-1, H) x (-1, W)."""
    y0, x0 = tf.floor(py), tf.floor(px)
    ly, lx = py - y0, px - x0
    hy, hx = 1.0 - ly, 1.0 - lx
    inside = (py > -1.0) & (py < height) & (px > -1.0) & (px < width)
    rows = tf.stack([y0, y0, y0 + 1.0, y0 + 1.0], axis=-1)
    cols = tf.stack([x0, x0 + 1.0, x0, x0 + 1.0], axis=-1)
    weights = tf.stack([hy * hx, hy * lx, ly * hx, ly * lx], axis=-1)
    valid = (rows >= 0.0) & (rows <= height - 1.0) & (cols >= 0.0) & (cols <= width - 1.0) & inside[..., None]
    weights = tf.where(valid, weights, tf.zeros_like(weights))
    rows = tf.clip_by_value(rows, 0.0, height - 1.0)
    cols = tf.clip_by_value(cols, 0.0, width - 1.0)
    index = tf.cast(rows, tf.int32) * tf.cast(width, tf.int32) + tf.cast(cols, tf.int32)
    return index, weights


@tf.custom_gradient
def _sample(flat, index, weights):
    """sum_n weights[b, p, n] * flat[b, index[b, p, n], :]: (B, P, C) from flat (B, N, C), index and weights (B, P,
    4). Its gradient recomputes the gather instead of keeping the (B, 4 P, C) neighbours for backpropagation, and
    scatters into `flat` with one segment sum: a tap's memory for the backward pass is its indices and weights."""
    shape = tf.shape(flat)
    batch, points = tf.shape(index)[0], tf.shape(index)[1]

    def gather():
        corners = tf.gather(flat, tf.reshape(index, [batch, points * 4]), batch_dims=1)
        return tf.reshape(corners, [batch, points, 4, shape[2]])

    sampled = tf.einsum("bpnc,bpn->bpc", gather(), weights)

    def gradient(upstream):
        d_weights = tf.einsum("bpnc,bpc->bpn", gather(), upstream)
        contributions = tf.reshape(upstream[:, :, None, :] * weights[..., None], [batch * points * 4, shape[2]])
        segments = tf.reshape(index + tf.range(batch)[:, None, None] * shape[1], [-1])
        d_flat = tf.math.unsorted_segment_sum(contributions, segments, batch * shape[1])
        return tf.reshape(d_flat, shape), None, d_weights

    return sampled, gradient


def _check_shapes(inputs, offsets, mask, channels, groups, taps) -> None:
    """A ValueError naming the mismatch, for the shapes known when the op is traced."""
    problems = []
    if channels % groups:
        problems.append(f"deformable_groups={groups} must divide the kernel's {channels} input channels")
    if inputs.shape[-1] is not None and inputs.shape[-1] != channels:
        problems.append(f"inputs have {inputs.shape[-1]} channels, the kernel expects {channels}")
    if offsets.shape[-1] is not None and offsets.shape[-1] != 2 * groups * taps:
        problems.append(f"offsets need 2 x {groups} x {taps} = {2 * groups * taps} channels (dy, dx per tap and "
                        f"deformable group), got {offsets.shape[-1]}")
    if mask.shape[-1] is not None and mask.shape[-1] != groups * taps:
        problems.append(f"mask needs {groups} x {taps} = {groups * taps} channels, got {mask.shape[-1]}")
    if offsets.shape[1:3] != mask.shape[1:3]:
        problems.append(f"offsets {offsets.shape} and mask {mask.shape} must have the same output size")
    if problems:
        raise ValueError("modulated_deform_conv2d: " + "; ".join(problems))


def modulated_deform_conv2d(
    inputs: tf.Tensor,
    offsets: tf.Tensor,
    mask: tf.Tensor,
    kernel: tf.Tensor,
    bias: Optional[tf.Tensor] = None,
    strides: int = 1,
    dilation_rate: int = 1,
    deformable_groups: int = 1,
) -> tf.Tensor:
    """DCNv2's modulated deformable convolution (module docstring), NHWC.

    inputs (B, H, W, C); kernel (kh, kw, C, F); offsets (B, Ho, Wo, 2 G kh kw), (dy, dx) per tap; mask
    (B, Ho, Wo, G kh kw); bias (F,) or None; strides and dilation_rate ints, the same along both axes; padding
    dilation * (k - 1) / 2. Returns (B, Ho, Wo, F) in the inputs' dtype.
    """
    kh, kw, channels, filters = kernel.shape
    groups = int(deformable_groups)
    taps = kh * kw
    _check_shapes(inputs, offsets, mask, channels, groups, taps)
    dtype = inputs.dtype
    positions = tf.float64 if dtype == tf.float64 else tf.float32
    shape = tf.shape(inputs)
    batch, height, width = shape[0], shape[1], shape[2]
    out_shape = tf.shape(offsets)
    out_h, out_w = out_shape[1], out_shape[2]
    pad_h, pad_w = dilation_rate * (kh - 1) // 2, dilation_rate * (kw - 1) // 2

    offsets = tf.reshape(tf.cast(offsets, positions), [batch, out_h, out_w, groups, taps, 2])
    mask = tf.reshape(mask, [batch, out_h, out_w, groups, taps])
    rows = tf.cast(tf.range(out_h) * strides - pad_h, positions)[None, :, None, None]
    cols = tf.cast(tf.range(out_w) * strides - pad_w, positions)[None, None, :, None]
    height_f, width_f = tf.cast(height, positions), tf.cast(width, positions)
    group_channels = channels // groups
    flat = tf.reshape(inputs, [batch, height * width, groups, group_channels])
    kernel = tf.reshape(tf.cast(kernel, dtype), [taps, groups, group_channels, filters])

    outputs = tf.zeros([batch, out_h * out_w, filters], dtype)
    for tap in range(taps):
        i, j = divmod(tap, kw)
        py = rows + tf.cast(i * dilation_rate, positions) + offsets[..., tap, 0]  # (B, Ho, Wo, G)
        px = cols + tf.cast(j * dilation_rate, positions) + offsets[..., tap, 1]
        index, weights = _neighbours(py, px, height_f, width_f)  # (B, Ho, Wo, G, 4)
        weights = tf.cast(weights, dtype) * mask[..., tap, None]
        for group in range(groups):
            index_g = tf.reshape(index[..., group, :], [batch, out_h * out_w, 4])
            weights_g = tf.reshape(weights[..., group, :], [batch, out_h * out_w, 4])
            sampled = _sample(flat[:, :, group], index_g, weights_g)  # (B, Ho Wo, C / G)
            outputs += tf.matmul(sampled, kernel[tap, group])
    if bias is not None:
        outputs += tf.cast(bias, dtype)
    return tf.reshape(outputs, [batch, out_h, out_w, filters])
