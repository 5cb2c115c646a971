"""Independent NumPy (float64) reference for modulated deformable convolution.

Written from the DCNv2 equation (Zhu et al., CVPR 2019, "Deformable ConvNets
v2: More Deformable, Better Results"), not from the TensorFlow code under test:

    y(p) = bias + sum_k w_k * m_k * x(p_0 + p_k + dp_k)

with the sampling / layout conventions of CharlesShang/DCNv2 and
``torchvision.ops.deform_conv2d``, transcribed to NHWC:

* x: (B, H, W, C_in); kernel: (kh, kw, C_in, C_out); bias: (C_out,) or None.
* Ho = (H + 2*pad_h - dil_h*(kh-1) - 1) // stride_h + 1 (likewise Wo).
* offsets: (B, Ho, Wo, 2 * dg * kh * kw); mask: (B, Ho, Wo, dg * kh * kw).
  For deformable group g and tap k = i*kw + j (row-major over the kernel),
  offset channel g*2*kh*kw + 2k is dy, g*2*kh*kw + 2k + 1 is dx, and mask
  channel g*kh*kw + k is the modulation scalar.  Input channels are split into
  ``dg`` contiguous groups; group g's channels use group g's offsets / mask.
* Sampling point: py = oy*stride_h - pad_h + i*dil_h + dy,
                  px = ox*stride_w - pad_w + j*dil_w + dx.
* The mask is used as given (the op applies no sigmoid).
* Bilinear sampling returns 0 when py <= -1, py >= H, px <= -1 or px >= W;
  otherwise the four integer neighbours are blended, each neighbour outside
  the image contributing 0 (zero padding).

Deliberately written with explicit Python loops for clarity; only the
channel dimension is vectorised.  Keep inputs small.
"""

import math

import numpy as np


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _pair(v, name):
    """Accept an int or an (h, w) pair; return (h, w) ints."""
    if isinstance(v, (tuple, list, np.ndarray)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def bilinear_sample(img2d, py, px):
    """Bilinearly sample ``img2d`` at the real-valued point (py, px).

    ``img2d`` is (H, W) or (H, W, C); for (H, W, C) a length-C vector is
    returned (the same point sampled in every channel).

    Returns 0 if py <= -1, py >= H, px <= -1 or px >= W.  Otherwise, with
    y0 = floor(py), x0 = floor(px), y1 = y0 + 1, x1 = x0 + 1,
    ly = py - y0, lx = px - x0, hy = 1 - ly, hx = 1 - lx:

        hy*hx*v(y0, x0) + hy*lx*v(y0, x1) + ly*hx*v(y1, x0) + ly*lx*v(y1, x1)

    where v(r, c) = img[r, c] inside the image and 0 outside.
    """
    img = _f64(img2d)
    H, W = img.shape[0], img.shape[1]
    zero = np.zeros(img.shape[2:], dtype=np.float64)
    py = float(py)
    px = float(px)
    if py <= -1.0 or py >= H or px <= -1.0 or px >= W:
        return zero if img.ndim > 2 else 0.0

    y0 = int(math.floor(py))
    x0 = int(math.floor(px))
    y1 = y0 + 1
    x1 = x0 + 1
    ly = py - y0
    lx = px - x0
    hy = 1.0 - ly
    hx = 1.0 - lx

    def v(r, c):
        if 0 <= r < H and 0 <= c < W:
            return img[r, c]
        return zero if img.ndim > 2 else 0.0

    return (hy * hx * v(y0, x0) + hy * lx * v(y0, x1)
            + ly * hx * v(y1, x0) + ly * lx * v(y1, x1))


def output_size(size, k, stride, padding, dilation):
    """(size + 2*padding - dilation*(k-1) - 1) // stride + 1."""
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def modulated_deform_conv2d(x, offsets, mask, kernel, bias=None, stride=1,
                            padding=0, dilation=1, deformable_groups=1):
    """Modulated deformable convolution (DCNv2), NHWC, float64.

    y[b, oy, ox, o] = bias[o] + sum_{i, j, c} kernel[i, j, c, o] * m * bilinear(x[b, :, :, c], py, px)

    with py = oy*s_h - p_h + i*d_h + dy, px = ox*s_w - p_w + j*d_w + dx, and
    (dy, dx, m) taken from the deformable group of channel c at tap k = i*kw + j.

    Args:
      x: (B, H, W, C_in).
      offsets: (B, Ho, Wo, 2 * deformable_groups * kh * kw), (dy, dx) per tap.
      mask: (B, Ho, Wo, deformable_groups * kh * kw); or None for all-ones
        (i.e. DCNv1).
      kernel: (kh, kw, C_in, C_out).
      bias: (C_out,) or None.
      stride, padding, dilation: int or (h, w) pair.
      deformable_groups: number of contiguous input-channel groups with their
        own offsets and mask; must divide C_in.

    Returns:
      (B, Ho, Wo, C_out) float64 array.
    """
    x = _f64(x)
    kernel = _f64(kernel)
    offsets = _f64(offsets)
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    dh, dw = _pair(dilation, "dilation")
    dg = int(deformable_groups)

    B, H, W, C_in = x.shape
    kh, kw, kc, C_out = kernel.shape
    if kc != C_in:
        raise ValueError(f"kernel C_in {kc} != input C_in {C_in}")
    if dg < 1 or C_in % dg != 0:
        raise ValueError(f"deformable_groups={dg} must divide C_in={C_in}")
    K = kh * kw
    Ho = output_size(H, kh, sh, ph, dh)
    Wo = output_size(W, kw, sw, pw, dw)
    if Ho <= 0 or Wo <= 0:
        raise ValueError(f"empty output ({Ho}, {Wo})")

    if offsets.shape != (B, Ho, Wo, 2 * dg * K):
        raise ValueError(f"offsets shape {offsets.shape} != {(B, Ho, Wo, 2 * dg * K)}")
    if mask is None:
        mask = np.ones((B, Ho, Wo, dg * K), dtype=np.float64)
    mask = _f64(mask)
    if mask.shape != (B, Ho, Wo, dg * K):
        raise ValueError(f"mask shape {mask.shape} != {(B, Ho, Wo, dg * K)}")
    if bias is None:
        bias = np.zeros((C_out,), dtype=np.float64)
    bias = _f64(bias)
    if bias.shape != (C_out,):
        raise ValueError(f"bias shape {bias.shape} != {(C_out,)}")

    cpg = C_in // dg  # input channels per deformable group
    y = np.zeros((B, Ho, Wo, C_out), dtype=np.float64)
    for b in range(B):
        for oy in range(Ho):
            for ox in range(Wo):
                acc = bias.copy()
                for g in range(dg):
                    c0, c1 = g * cpg, (g + 1) * cpg
                    img = x[b, :, :, c0:c1]  # (H, W, cpg)
                    for i in range(kh):
                        for j in range(kw):
                            k = i * kw + j
                            dy = offsets[b, oy, ox, g * 2 * K + 2 * k]
                            dx = offsets[b, oy, ox, g * 2 * K + 2 * k + 1]
                            m = mask[b, oy, ox, g * K + k]
                            py = oy * sh - ph + i * dh + dy
                            px = ox * sw - pw + j * dw + dx
                            val = bilinear_sample(img, py, px)  # (cpg,)
                            acc = acc + m * (val @ kernel[i, j, c0:c1, :])
                y[b, oy, ox, :] = acc
    return y
