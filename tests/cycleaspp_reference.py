"""Independent plain-NumPy (float64) reference for CycleASPP / DenseASPP.

Written from the equations only (Qu et al., "Learning More Accurate Features
for Semantic Segmentation in CycleNet"; Yang et al., DenseASPP; Yang et al.,
CliqueNet), without looking at the implementation under test.

Layer (DenseASPP):
    f_r(x) = conv3x3_r( ReLU( BN_b( conv1x1( ReLU( [BN_a](x) ) ) ) ) )
    (channel dropout is the identity at inference and is omitted).

Part I (forward, = DenseASPP), j = 1..J:
    Y_j^0 = f_{r_j}( concat[Y_{j-1}^0, ..., Y_1^0, Y_0] )

Part II (feedback), j = 1..J in order, from the latest outputs of all
OTHER layers (Y_0 is not a source):
    Y_j^1 = f_{r_j}( concat[Y_J^0, ..., Y_{j+1}^0, Y_{j-1}^1, ..., Y_1^1] )

Output: concat[Y_J, ..., Y_1] (+ Y_0 when include_input), latest values.

Weight reuse (CliqueNet): the 1x1 conv over a concatenation is the sum of
per-source 1x1 convs, sum_i x_i @ W[(i, j)] + b1[j].
"""

import numpy as np


def conv1x1(x, w, b=None):
    """1x1 convolution of an NHWC array: out[..., o] = sum_c x[..., c] w[c, o] (+ b[o])."""
    x = np.asarray(x, dtype=np.float64)
    out = np.tensordot(x, np.asarray(w, dtype=np.float64), axes=([x.ndim - 1], [0]))
    if b is not None:
        out = out + np.asarray(b, dtype=np.float64)
    return out


def dilated_conv3x3(x, w, b, rate):
    """3x3 dilated ("atrous") convolution, NHWC input, HWIO kernel, zero padding = rate.

    out[n, y, x, o] = b[o] + sum_{a,b',c} xpad(n, y + (a-1) r, x + (b'-1) r, c) w[a, b', c, o]
    where positions outside the image read zero, so the output has the same H, W.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    r = int(rate)
    n, h, wd, _ = x.shape
    xp = np.pad(x, ((0, 0), (r, r), (r, r), (0, 0)))
    out = np.zeros((n, h, wd, w.shape[3]), dtype=np.float64)
    for a in range(3):
        for bb in range(3):
            # tap (a, bb) reads input at (y + (a-1) r, x + (bb-1) r); in padded coords + r
            patch = xp[:, a * r:a * r + h, bb * r:bb * r + wd, :]
            out += conv1x1(patch, w[a, bb])
    if b is not None:
        out = out + np.asarray(b, dtype=np.float64)
    return out


def batch_norm(x, bn, eps):
    """Inference BN per channel: (x - mean) / sqrt(var + eps) * gamma + beta."""
    gamma, beta, mean, var = (np.asarray(t, dtype=np.float64) for t in bn)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def relu(x):
    return np.maximum(x, 0.0)


def _layer(sources, kernels, params, part, j, rate, eps, use_bn_a=True):
    """One DenseASPP layer f_{r_j} on concat(sources) (list of arrays, in concat order).

    BN_a acts per channel on the concatenation; the 1x1 conv of the concatenation
    is computed as the sum over sources of conv1x1(x_i, W[(i, j)]) plus one bias b1[j].
    """
    x = np.concatenate(sources, axis=-1)
    if use_bn_a:
        x = batch_norm(x, params["bn"][(part, j, "a")], eps)
    x = relu(x)
    # split back per source and sum the per-source 1x1 convs
    h = 0.0
    start = 0
    for src, k in zip(sources, kernels):
        c = src.shape[-1]
        h = h + conv1x1(x[..., start:start + c], k)
        start += c
    h = h + np.asarray(params["b1"][j], dtype=np.float64)
    h = relu(batch_norm(h, params["bn"][(part, j, "b")], eps))
    return dilated_conv3x3(h, params["w3"][j], params["b3"][j], rate)


def cycle_aspp_reference(y0, params, rates, feedback=True, shared=True, include_input=True,
                         update_first_layer=True, input_bn=False, eps=1e-5):
    """CycleASPP forward pass (DenseASPP when feedback=False).

    Part I:  Y_j^0 = f_{r_j}(concat[Y_{j-1}^0, ..., Y_1^0, Y_0]), sources i = j-1..0,
             kernels W[(i, j)]; layer 1 has BN_a only if input_bn.
    Part II: Y_j^1 = f_{r_j}(concat[Y_J^0, ..., Y_{j+1}^0, Y_{j-1}^1, ..., Y_1^1]),
             sources i = J..1, i != j, each at its latest value; kernels W[(i, j)]
             (shared=True) or W2[(i, j)] (shared=False); BN from part 2.
             With update_first_layer=False layer 1 keeps Y_1^0.
    Returns concat[Y_J, ..., Y_1(, Y_0)] (latest values), float64 NHWC.
    """
    y0 = np.asarray(y0, dtype=np.float64)
    J = len(rates)
    latest = {0: y0}

    # Part I (DenseASPP)
    for j in range(1, J + 1):
        src_ids = list(range(j - 1, -1, -1))  # j-1, ..., 1, 0 (newest first)
        sources = [latest[i] for i in src_ids]
        kernels = [params["w1"][(i, j)] for i in src_ids]
        use_bn_a = input_bn if j == 1 else True
        latest[j] = _layer(sources, kernels, params, 1, j, rates[j - 1], eps, use_bn_a)

    # Part II (feedback)
    if feedback:
        w_part2 = params["w1"] if shared else params["w1_part2"]
        for j in range(1, J + 1):
            if j == 1 and not update_first_layer:
                continue
            src_ids = [i for i in range(J, 0, -1) if i != j]  # J..j+1, j-1..1
            sources = [latest[i] for i in src_ids]
            kernels = [w_part2[(i, j)] for i in src_ids]
            latest[j] = _layer(sources, kernels, params, 2, j, rates[j - 1], eps, True)

    outs = [latest[j] for j in range(J, 0, -1)]
    if include_input:
        outs.append(y0)
    return np.concatenate(outs, axis=-1)


def _random_params(rng, c0, bottleneck, growth, J, shared, input_bn):
    """Random parameters in the layout cycle_aspp_reference expects (self-check only)."""
    def ch(i):
        return c0 if i == 0 else growth

    def bn(c):
        return (rng.normal(size=c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 2.0, size=c))

    p = {"w1": {}, "w1_part2": {}, "b1": {}, "w3": {}, "b3": {}, "bn": {}}
    for j in range(1, J + 1):
        for i in range(0, j):
            p["w1"][(i, j)] = rng.normal(size=(ch(i), bottleneck))
        for i in range(1, J + 1):
            if i == j:
                continue
            if shared and i > j:
                p["w1"][(i, j)] = rng.normal(size=(growth, bottleneck))
            if not shared:
                p["w1_part2"][(i, j)] = rng.normal(size=(growth, bottleneck))
        p["b1"][j] = rng.normal(size=bottleneck)
        p["w3"][j] = rng.normal(size=(3, 3, bottleneck, growth))
        p["b3"][j] = rng.normal(size=growth)
        if j > 1 or input_bn:
            p["bn"][(1, j, "a")] = bn(c0 + (j - 1) * growth)
        p["bn"][(1, j, "b")] = bn(bottleneck)
        p["bn"][(2, j, "a")] = bn((J - 1) * growth)
        p["bn"][(2, j, "b")] = bn(bottleneck)
    return p


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    B, H, W, C0, bott, growth = 2, 9, 7, 5, 6, 4
    rates = [1, 2, 3]
    J = len(rates)

    # 1x1 conv of a concatenation == sum of per-source 1x1 convs
    xs = [rng.normal(size=(B, H, W, c)) for c in (C0, growth, growth)]
    ws = [rng.normal(size=(x.shape[-1], bott)) for x in xs]
    lhs = conv1x1(np.concatenate(xs, -1), np.concatenate(ws, 0))
    rhs = sum(conv1x1(x, w) for x, w in zip(xs, ws))
    print("concat 1x1 == sum of per-source 1x1: max err", np.abs(lhs - rhs).max())
    assert np.allclose(lhs, rhs)

    # dilated 3x3 vs direct per-pixel definition
    x = rng.normal(size=(1, 6, 5, 2))
    w = rng.normal(size=(3, 3, 2, 3))
    b = rng.normal(size=3)
    for r in (1, 2, 4):
        out = dilated_conv3x3(x, w, b, r)
        ref = np.zeros_like(out)
        for yy in range(6):
            for xx in range(5):
                acc = b.copy()
                for a in range(3):
                    for bb in range(3):
                        sy, sx = yy + (a - 1) * r, xx + (bb - 1) * r
                        if 0 <= sy < 6 and 0 <= sx < 5:
                            acc += x[0, sy, sx] @ w[a, bb]
                ref[0, yy, xx] = acc
        print(f"dilated 3x3 rate {r}: shape {out.shape}, max err {np.abs(out - ref).max():.2e}")
        assert np.allclose(out, ref)

    y0 = rng.normal(size=(B, H, W, C0))
    for shared in (True, False):
        for input_bn in (False, True):
            p = _random_params(rng, C0, bott, growth, J, shared, input_bn)
            for fb in (False, True):
                for ufl in (True, False):
                    for inc in (True, False):
                        out = cycle_aspp_reference(y0, p, rates, feedback=fb, shared=shared,
                                                   include_input=inc, update_first_layer=ufl,
                                                   input_bn=input_bn)
                        exp_c = J * growth + (C0 if inc else 0)
                        assert out.shape == (B, H, W, exp_c) and out.dtype == np.float64
                        assert np.all(np.isfinite(out))
                        if inc:
                            assert np.array_equal(out[..., J * growth:], y0)
            # feedback=False equals Part I only; update_first_layer=False keeps Y_1^0
            d = cycle_aspp_reference(y0, p, rates, feedback=False, shared=shared, input_bn=input_bn)
            c = cycle_aspp_reference(y0, p, rates, feedback=True, shared=shared, input_bn=input_bn,
                                     update_first_layer=False)
            y1 = slice((J - 1) * growth, J * growth)
            assert np.array_equal(d[..., y1], c[..., y1])
            assert not np.allclose(d[..., :growth], c[..., :growth])
            print(f"shared={shared} input_bn={input_bn}: shapes ok, "
                  f"output channels {J * growth + C0}, Y_1 kept when update_first_layer=False")
    print("self-check OK")
