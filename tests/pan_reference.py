"""Independent NumPy (float64) references for PAN / PSPNet / SE building blocks.

Written from the papers' structural descriptions only (Li et al., BMVC 2018,
"Pyramid Attention Network for Semantic Segmentation"; Zhao et al., PSPNet;
Hu et al., Squeeze-and-Excitation), not from the TensorFlow code under test.

Conventions: NHWC arrays; weights are ``params[name] = {"kernel": ..., ...}``;
convolutions and pooling use TensorFlow "SAME" padding; bilinear resizing
uses half-pixel centres without antialiasing (``tf.image.resize`` bilinear).
"""

import numpy as np

BN_EPS = 1e-5


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _relu(x):
    return np.maximum(x, 0.0)


def _same_pad(size, k, stride, rate):
    """TF SAME: out = ceil(size/stride); total = max((out-1)*s + (k-1)*r + 1 - size, 0)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * rate + 1 - size, 0)
    return out, total // 2, total - total // 2


def conv(x, p, stride=1, rate=1):
    """2-D convolution, TF "SAME" zero padding, dilation ``rate``.

    y[b, i, j, o] = sum_{u, v, c} xpad[b, i*s + u*r, j*s + v*r, c] * K[u, v, c, o] (+ bias[o]),
    with K = p["kernel"] of shape (kh, kw, cin, cout) and optional p["bias"] (cout,).
    """
    x = _f64(x)
    k = _f64(p["kernel"])
    kh, kw, cin, cout = k.shape
    b, h, w, c = x.shape
    if c != cin:
        raise ValueError(f"conv: input has {c} channels, kernel expects {cin}")
    oh, pt, pb = _same_pad(h, kh, stride, rate)
    ow, pl, pr = _same_pad(w, kw, stride, rate)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    y = np.zeros((b, oh, ow, cout))
    for u in range(kh):
        for v in range(kw):
            r0, c0 = u * rate, v * rate
            patch = xp[:, r0:r0 + (oh - 1) * stride + 1:stride,
                       c0:c0 + (ow - 1) * stride + 1:stride, :]
            y += np.einsum("bhwc,co->bhwo", patch, k[u, v])
    if p.get("bias") is not None:
        y += _f64(p["bias"])
    return y


def bn(x, p):
    """Inference batch norm: gamma * (x - mean) / sqrt(var + 1e-5) + beta (per channel)."""
    return (_f64(p["gamma"]) * (_f64(x) - _f64(p["mean"]))
            / np.sqrt(_f64(p["var"]) + BN_EPS) + _f64(p["beta"]))


def cbr(x, params, name, stride=1):
    """relu(bn(conv(x, params[name], stride), params[name + "_bn"])); the conv has no bias."""
    y = conv(x, {"kernel": params[name]["kernel"]}, stride=stride)
    return _relu(bn(y, params[name + "_bn"]))


def _resize_weights(n_in, n_out):
    """Half-pixel bilinear along one axis: s = (o + 0.5) * n_in / n_out - 0.5,
    lo = floor(s), frac = s - lo, indices lo and lo + 1 clamped into [0, n_in - 1]."""
    s = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    lo = np.floor(s)
    frac = s - lo
    lo = lo.astype(np.int64)
    i0 = np.clip(lo, 0, n_in - 1)
    i1 = np.clip(lo + 1, 0, n_in - 1)
    return i0, i1, frac


def resize(x, out_h, out_w):
    """Separable bilinear resize with half-pixel centres (tf.image.resize "bilinear",
    no antialias): y = (1 - f) * x[i0] + f * x[i1] along H, then along W."""
    x = _f64(x)
    i0, i1, f = _resize_weights(x.shape[1], out_h)
    f = f[None, :, None, None]
    x = (1.0 - f) * x[:, i0] + f * x[:, i1]
    j0, j1, g = _resize_weights(x.shape[2], out_w)
    g = g[None, None, :, None]
    return (1.0 - g) * x[:, :, j0] + g * x[:, :, j1]


def pool2x2(x, kind):
    """2x2 window, stride 2, TF "SAME": output ceil(H/2) x ceil(W/2), padding only at
    the bottom/right. "ave" = mean over window elements inside the input (padding not
    counted); "max" = max over window elements inside the input."""
    x = _f64(x)
    b, h, w, c = x.shape
    oh, ow = -(-h // 2), -(-w // 2)
    ph, pw = 2 * oh - h, 2 * ow - w
    pad = ((0, 0), (0, ph), (0, pw), (0, 0))
    if kind == "max":
        xp = np.pad(x, pad, constant_values=-np.inf)
        return xp.reshape(b, oh, 2, ow, 2, c).max(axis=(2, 4))
    if kind == "ave":
        total = np.pad(x, pad).reshape(b, oh, 2, ow, 2, c).sum(axis=(2, 4))
        count = np.pad(np.ones((1, h, w, 1)), pad).reshape(1, oh, 2, ow, 2, 1).sum(axis=(2, 4))
        return total / count
    raise ValueError(f"pool2x2: unknown kind {kind!r}")


def global_mean(x):
    """Mean over H and W, keeping dims: (B, H, W, C) -> (B, 1, 1, C)."""
    return _f64(x).mean(axis=(1, 2), keepdims=True)


def feature_pyramid_attention(x, params, kernels=(7, 5, 3), downsampling="ave",
                              global_pooling=True):
    """PAN Feature Pyramid Attention (Fig. 3(b)).

    master = cbr_1x1(x)  ("master")
    level i (i = 1, 2, 3; a0 = x):
        a_i = cbr_{k_i}(pool2x2(a_{i-1}))          for downsampling "ave" / "max"
        a_i = cbr_{k_i, stride 2}(a_{i-1})          for downsampling "conv"   ("down{i}")
        l_i = cbr_{k_i}(a_i)                                                  ("lateral{i}")
    m2 = up(l3 -> l2) + l2;  m1 = up(m2 -> l1) + l1;  attention = up(m1 -> H, W)
    out = master * attention   (attention has C or 1 channels)
    if global_pooling: out += cbr_1x1(global_mean(x))   ("global_pool", broadcast over H, W)
    Returns (out, attention).
    """
    if downsampling not in ("ave", "max", "conv"):
        raise ValueError(f"unknown downsampling {downsampling!r}")
    if len(kernels) != 3:
        raise ValueError("kernels must have three entries")
    x = _f64(x)
    _, h, w, _ = x.shape
    master = cbr(x, params, "master")
    a, laterals = x, []
    for i, k in enumerate(kernels, start=1):
        lk = params[f"lateral{i}"]["kernel"].shape[:2]
        if tuple(lk) != (k, k):
            raise ValueError(f"lateral{i} kernel is {lk}, expected {(k, k)}")
        if downsampling == "conv":
            a = cbr(a, params, f"down{i}", stride=2)
        else:
            a = cbr(pool2x2(a, downsampling), params, f"down{i}")
        laterals.append(cbr(a, params, f"lateral{i}"))
    l1, l2, l3 = laterals
    m2 = resize(l3, l2.shape[1], l2.shape[2]) + l2
    m1 = resize(m2, l1.shape[1], l1.shape[2]) + l1
    attention = resize(m1, h, w)
    out = master * attention
    if global_pooling:
        out = out + cbr(global_mean(x), params, "global_pool")
    return out, attention


def global_attention_upsample(high, low, params, global_pooling=True, attention="sigmoid"):
    """PAN Global Attention Upsample (Fig. 4).

    l = cbr(low)                                             ("low", 3x3 or 1x1, C outputs)
    if global_pooling:
        w = act(bn(conv_1x1(global_mean(high))))             ("attention", no bias; act = sigmoid | relu)
        l = l * w                                            (broadcast over H, W)
    out = resize(high, H, W) + l
    Returns (out, w) with w = None when global_pooling is False.
    """
    if attention not in ("sigmoid", "relu"):
        raise ValueError(f"unknown attention activation {attention!r}")
    high, low = _f64(high), _f64(low)
    reduced = cbr(low, params, "low")
    wgt = None
    if global_pooling:
        z = bn(conv(global_mean(high), {"kernel": params["attention"]["kernel"]}),
               params["attention_bn"])
        wgt = _sigmoid(z) if attention == "sigmoid" else _relu(z)
        reduced = reduced * wgt
    out = resize(high, low.shape[1], low.shape[2]) + reduced
    return out, wgt


def adaptive_average_pool(x, b):
    """PyTorch AdaptiveAvgPool2d rule: cell (i, j) of a b x b output averages rows
    floor(i*H/b) .. ceil((i+1)*H/b) - 1 and columns floor(j*W/b) .. ceil((j+1)*W/b) - 1
    (cells may overlap when b does not divide H or W)."""
    x = _f64(x)
    n, h, w, c = x.shape
    out = np.zeros((n, b, b, c))
    for i in range(b):
        r0, r1 = (i * h) // b, -(-((i + 1) * h) // b)
        for j in range(b):
            c0, c1 = (j * w) // b, -(-((j + 1) * w) // b)
            out[:, i, j] = x[:, r0:r1, c0:c1].mean(axis=(1, 2))
    return out


def pyramid_pooling(x, params, bins=(1, 2, 3, 6)):
    """PSPNet pyramid pooling module.

    for each bin b: up_b = resize(cbr(adaptive_average_pool(x, b)), H, W)   ("pool{b}")
    return concat([x, up_b1, up_b2, ...], axis=-1)
    """
    x = _f64(x)
    _, h, w, _ = x.shape
    outs = [x]
    for b in bins:
        p = cbr(adaptive_average_pool(x, b), params, f"pool{b}")
        outs.append(resize(p, h, w))
    return np.concatenate(outs, axis=-1)


def squeeze_excitation(x, params, squeeze="squeeze", excite="excite"):
    """Squeeze-and-Excitation (Hu et al.).

    s = global_mean(x) as (B, C)
    s = relu(s @ W_sq + b_sq)          (W_sq: (C, C/r))
    s = sigmoid(s @ W_ex + b_ex)       (W_ex: (C/r, C))
    return x * s[:, None, None, :]
    """
    x = _f64(x)
    s = global_mean(x)[:, 0, 0, :]
    sq, ex = params[squeeze], params[excite]
    s = _relu(s @ _f64(sq["kernel"]) + _f64(sq["bias"]))
    s = _sigmoid(s @ _f64(ex["kernel"]) + _f64(ex["bias"]))
    return x * s[:, None, None, :]
