"""The modulated deformable convolution of DCNv2 (Zhu et al. 2019), built from TensorFlow's bilinear sampling.

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

Computation, one kernel tap at a time, per (image, deformable group): the tap's sample positions (float32 for
float16 / bfloat16 / float32 inputs, float64 for float64) -> the (B G, Ho Wo, C / G) bilinear samples times the
mask -> a (C / G, F) matmul accumulated into the output. No (B, Ho Wo, kh kw C) im2col tensor is formed. Two
samplers give the same values (`sampler`, "auto" picks one: `_sampler`):
- "crop_and_resize": 1 x 1 crops of tf.image.crop_and_resize on the input with a zero border
  (`_crop_and_resize_tap`), a fused sampler; the offsets' gradient from its box gradient, the input's from a
  segment sum (`_scatter`), not from TensorFlow's CPU image gradient, which gave wrong values on some calls.
- "gather": the four neighbours' flat indices and bilinear weights (`_neighbours`), one gather of the four from
  the input flattened to (B G, H W, C / G), with a hand-written gradient (`_sample`) that recomputes the gather
  in the backward pass instead of keeping every tap's neighbours and scatters into the input with one segment
  sum; offsets (through the bilinear weights; the floor is piecewise constant) and the mask (folded into the
  weights) are differentiated automatically around it.
Speed and peak memory against tf.nn.conv2d: BUILD_NOTES.md section 15 (`python -m scripts.benchmark
--measure=deform`).
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf
from tensorflow.python.framework import config as framework_config  # is_op_determinism_enabled: no public API

from li_seg.ops.xla import in_xla_context


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


def _scatter(upstream, index, weights, shape):
    """The gradient of bilinear sampling for the sampled map of `shape` (B, N, C): sum over the samples p of
    weights[b, p, n] * upstream[b, p, :] into row index[b, p, n], with one segment sum (on CPU the same result on
    every call and any number of threads; on GPUs it accumulates atomically unless op determinism is on)."""
    batch, points = tf.shape(index)[0], tf.shape(index)[1]
    contributions = tf.reshape(upstream[:, :, None, :] * weights[..., None], [batch * points * 4, shape[2]])
    segments = tf.reshape(index + tf.range(batch)[:, None, None] * shape[1], [-1])
    return tf.reshape(tf.math.unsorted_segment_sum(contributions, segments, batch * shape[1]), shape)


@tf.custom_gradient
def _sample(flat, index, weights):
    """sum_n weights[b, p, n] * flat[b, index[b, p, n], :]: (B, P, C) from flat (B, N, C), index and weights (B, P,
    4). Its gradient recomputes the gather instead of keeping the (B, 4 P, C) neighbours for backpropagation, and
    scatters into `flat` (`_scatter`): a tap's memory for the backward pass is its indices and weights."""
    shape = tf.shape(flat)
    batch, points = tf.shape(index)[0], tf.shape(index)[1]

    def gather():
        corners = tf.gather(flat, tf.reshape(index, [batch, points * 4]), batch_dims=1)
        return tf.reshape(corners, [batch, points, 4, shape[2]])

    sampled = tf.einsum("bpnc,bpn->bpc", gather(), weights)

    def gradient(upstream):
        d_weights = tf.einsum("bpnc,bpc->bpn", gather(), upstream)
        return _scatter(upstream, index, weights, shape), None, d_weights

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


SAMPLERS = ("auto", "crop_and_resize", "gather")


def _sampler(sampler: str, dtype) -> str:
    """The sampler "auto" stands for: "gather" for float64 (crop_and_resize's boxes are float32), under op
    determinism (crop_and_resize's box gradient accumulates atomically on GPUs) and inside XLA (no CropAndResize
    kernel), "crop_and_resize" otherwise."""
    if sampler not in SAMPLERS:
        raise ValueError(f"modulated_deform_conv2d: sampler={sampler!r} is not one of {', '.join(SAMPLERS)}")
    if sampler != "auto":
        return sampler
    if dtype == tf.float64 or framework_config.is_op_determinism_enabled() or in_xla_context():
        return "gather"
    return "crop_and_resize"


def _crop_and_resize_tap(grouped, padded, py, px):
    """Bilinear samples (B G, P, C / G) of `grouped` (B G, H, W, C / G; `padded`: the same with a zero border of
    one pixel) at (py, px) (B G, P) in input pixels: 1 x 1 crops of tf.image.crop_and_resize on the padded map, a
    fused bilinear sampler. On the zero-bordered map its rule (outside [0, H + 1]: 0; otherwise the four
    neighbours) is DCNv2's: a sample in (-1, 0) blends row 0 with the zero border.

    Gradients: the positions' from TensorFlow's box gradient (each box writes only its own); the input's not from
    CropAndResizeGradImage, whose CPU kernel gave wrong values on some calls (3 of 8 at 2 x 32 x 32 x 256; the
    issue traces it to box shards adding into the image without atomics; BUILD_NOTES 19.1), but by `_scatter` over
    DCNv2's neighbours and weights (`_neighbours`), which give the same values on the unbordered map."""
    shape = tf.shape(grouped)
    height, width = tf.cast(shape[1], py.dtype), tf.cast(shape[2], py.dtype)
    crops = tf.shape(py)
    box_indices = tf.repeat(tf.range(crops[0]), crops[1])

    def boxes_of(py, px):  # crop_and_resize reads y * (H + 2 - 1) for 1 x 1 crops
        y, x = tf.reshape((py + 1.0) / (height + 1.0), [-1]), tf.reshape((px + 1.0) / (width + 1.0), [-1])
        return tf.stack([y, x, y, x], axis=-1)

    @tf.custom_gradient
    def sample(grouped, py, px):
        boxes = boxes_of(py, px)
        sampled = tf.image.crop_and_resize(padded, boxes, box_indices, [1, 1], extrapolation_value=0.0)

        def gradient(upstream):
            grads = tf.reshape(tf.cast(upstream, tf.float32), [-1, 1, 1, shape[3]])
            d_boxes = tf.raw_ops.CropAndResizeGradBoxes(grads=grads, image=padded, boxes=boxes,
                                                        box_ind=box_indices)
            d_py = tf.reshape((d_boxes[:, 0] + d_boxes[:, 2]) / (height + 1.0), crops)
            d_px = tf.reshape((d_boxes[:, 1] + d_boxes[:, 3]) / (width + 1.0), crops)
            index, weights = _neighbours(py, px, height, width)
            flat_shape = tf.stack([shape[0], shape[1] * shape[2], shape[3]])
            d_flat = _scatter(upstream, index, tf.cast(weights, upstream.dtype), flat_shape)
            return tf.reshape(d_flat, shape), d_py, d_px

        return tf.reshape(tf.cast(sampled, grouped.dtype), [crops[0], crops[1], shape[3]]), gradient

    return sample(grouped, py, px)


def modulated_deform_conv2d(
    inputs: tf.Tensor,
    offsets: tf.Tensor,
    mask: tf.Tensor,
    kernel: tf.Tensor,
    bias: Optional[tf.Tensor] = None,
    strides: int = 1,
    dilation_rate: int = 1,
    deformable_groups: int = 1,
    sampler: str = "auto",
) -> tf.Tensor:
    """DCNv2's modulated deformable convolution (module docstring), NHWC.

    inputs (B, H, W, C); kernel (kh, kw, C, F); offsets (B, Ho, Wo, 2 G kh kw), (dy, dx) per tap; mask
    (B, Ho, Wo, G kh kw); bias (F,) or None; strides and dilation_rate ints, the same along both axes; padding
    dilation * (k - 1) / 2; sampler: "crop_and_resize", "gather" or "auto" (`_sampler`). Returns (B, Ho, Wo, F)
    in the inputs' dtype.
    """
    kh, kw, channels, filters = kernel.shape
    groups = int(deformable_groups)
    taps = kh * kw
    _check_shapes(inputs, offsets, mask, channels, groups, taps)
    dtype = inputs.dtype
    sampler = _sampler(sampler, dtype)
    positions = tf.float64 if dtype == tf.float64 else tf.float32
    shape = tf.shape(inputs)
    batch, height, width = shape[0], shape[1], shape[2]
    out_shape = tf.shape(offsets)
    out_h, out_w = out_shape[1], out_shape[2]
    points = out_h * out_w
    pad_h, pad_w = dilation_rate * (kh - 1) // 2, dilation_rate * (kw - 1) // 2
    group_channels = channels // groups

    def by_group(t):
        """(B, Ho Wo, G) -> (B G, Ho Wo): the samplers work per (image, deformable group)."""
        return tf.reshape(t if groups == 1 else tf.transpose(t, [0, 2, 1]), [batch * groups, points])

    offsets = tf.reshape(tf.cast(offsets, positions), [batch, points, groups, taps, 2])
    mask = tf.reshape(mask, [batch, points, groups, taps])
    rows = tf.reshape(tf.tile(tf.cast(tf.range(out_h) * strides - pad_h, positions)[:, None], [1, out_w]), [-1])
    cols = tf.reshape(tf.tile(tf.cast(tf.range(out_w) * strides - pad_w, positions)[None, :], [out_h, 1]), [-1])
    rows, cols = rows[None, :, None], cols[None, :, None]  # broadcast against (B, Ho Wo, G)
    height_f, width_f = tf.cast(height, positions), tf.cast(width, positions)
    grouped = inputs
    if groups > 1:
        grouped = tf.reshape(inputs, [batch, height, width, groups, group_channels])
        grouped = tf.reshape(tf.transpose(grouped, [0, 3, 1, 2, 4]), [batch * groups, height, width, group_channels])
    if sampler == "gather":
        flat = tf.reshape(grouped, [batch * groups, height * width, group_channels])
    else:
        padded = tf.pad(grouped, [[0, 0], [1, 1], [1, 1], [0, 0]])
    kernel = tf.reshape(tf.cast(kernel, dtype), [taps, groups, group_channels, filters])

    outputs = tf.zeros([batch * points, filters], dtype)
    for tap in range(taps):
        i, j = divmod(tap, kw)
        py = by_group(rows + tf.cast(i * dilation_rate, positions) + offsets[..., tap, 0])  # (B G, Ho Wo)
        px = by_group(cols + tf.cast(j * dilation_rate, positions) + offsets[..., tap, 1])
        tap_mask = by_group(mask[..., tap])[..., None]
        if sampler == "crop_and_resize":
            sampled = _crop_and_resize_tap(grouped, padded, py, px) * tap_mask  # (B G, Ho Wo, C / G)
        else:  # the mask folded into the four bilinear weights: no (B G, Ho Wo, C / G) product to keep
            index, weights = _neighbours(py, px, height_f, width_f)  # (B G, Ho Wo, 4)
            sampled = _sample(flat, index, tf.cast(weights, dtype) * tap_mask)
        if groups == 1:
            outputs += tf.matmul(tf.reshape(sampled, [batch * points, channels]), kernel[tap, 0])
        else:
            sampled = tf.reshape(sampled, [batch, groups, points, group_channels])
            outputs += tf.reshape(tf.einsum("bgpc,gcf->bpf", sampled, kernel[tap]), [batch * points, filters])
    if bias is not None:
        outputs += tf.cast(bias, dtype)
    return tf.reshape(outputs, [batch, out_h, out_w, filters])
