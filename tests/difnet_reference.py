"""Independent NumPy (float64) reference of one DifNet random-walk step.

Jiang et al., "DifNet: Semantic Segmentation by Diffusion Networks",
NeurIPS 2018, Eq. 4-5.  For one image with N nodes:

    A = f f^T                         (N, N), A_ij = <f_i, f_j>
    P = row-softmax(A)                P_ij = exp(A_ij) / sum_k exp(A_ik)
    y_next = beta * (mu * P y + (1 - mu) * s) + (1 - beta) * y

with y, s (N, K) the current scores and the seed, f (N, D) the features and
scalars mu, beta in (0, 1).  All functions here are batched: y, s (B, N, K),
f (B, N, D), each image independent, mu and beta shared scalars.

No TensorFlow or torch is used; gradients are derived by hand.
"""

import numpy as np


def transition_matrix(features):
    """Row-stochastic transition matrix P = row-softmax(f f^T) (Eq. 4).

    features: (B, N, D).  Returns (B, N, N) float64 with rows summing to 1.
    The softmax is stabilised by subtracting each row's maximum, so large
    feature magnitudes (|A| in the thousands) neither overflow nor give NaN.
    """
    f = np.asarray(features, dtype=np.float64)
    a = f @ np.swapaxes(f, -1, -2)
    a = a - a.max(axis=-1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=-1, keepdims=True)


def diffusion_step(y, features, seed, mu, beta):
    """One random-walk step (Eq. 5).

    y_next = beta * (mu * P y + (1 - mu) * s) + (1 - beta) * y,
    with P = transition_matrix(features).  y, seed: (B, N, K); returns (B, N, K).
    """
    y = np.asarray(y, dtype=np.float64)
    s = np.asarray(seed, dtype=np.float64)
    p = transition_matrix(features)
    return beta * (mu * (p @ y) + (1.0 - mu) * s) + (1.0 - beta) * y


def diffusion_step_gradients(y, features, seed, mu, beta, upstream):
    """Gradients of L = sum(G * diffusion_step(y, f, s, mu, beta)), G = upstream.

    Derivation (per image; batched matmuls, mu/beta summed over the batch):
        y_next = beta*mu * P y + beta*(1-mu) * s + (1-beta) * y
        dL/dy    = beta*mu * P^T G + (1-beta) * G
        dL/ds    = beta*(1-mu) * G
        dL/dmu   = sum(G * beta * (P y - s))
        dL/dbeta = sum(G * (mu * P y + (1-mu) * s - y))
        dL/dP    = beta*mu * G y^T                               (N, N)
        softmax backward (row-wise):
        dL/dA    = P * (dP - rowsum(dP * P))
        A = f f^T, so dA_ij reaches both f_i and f_j:
        dL/df    = (dA + dA^T) f

    Returns a dict with keys "y", "features", "seed", "mu", "beta"; array
    gradients have the inputs' shapes, mu and beta gradients are floats.
    """
    y = np.asarray(y, dtype=np.float64)
    f = np.asarray(features, dtype=np.float64)
    s = np.asarray(seed, dtype=np.float64)
    g = np.asarray(upstream, dtype=np.float64)
    p = transition_matrix(f)
    py = p @ y

    d_y = beta * mu * (np.swapaxes(p, -1, -2) @ g) + (1.0 - beta) * g
    d_s = beta * (1.0 - mu) * g
    d_mu = float(np.sum(g * beta * (py - s)))
    d_beta = float(np.sum(g * (mu * py + (1.0 - mu) * s - y)))

    d_p = beta * mu * (g @ np.swapaxes(y, -1, -2))
    d_a = p * (d_p - np.sum(d_p * p, axis=-1, keepdims=True))
    d_f = (d_a + np.swapaxes(d_a, -1, -2)) @ f

    return {"y": d_y, "features": d_f, "seed": d_s, "mu": d_mu, "beta": d_beta}


def _central_difference(fn, x, eps=1e-6):
    """Central finite-difference gradient of scalar fn at array/scalar x."""
    if np.isscalar(x):
        return (fn(x + eps) - fn(x - eps)) / (2.0 * eps)
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        orig = x[idx]
        x[idx] = orig + eps
        plus = fn(x)
        x[idx] = orig - eps
        minus = fn(x)
        x[idx] = orig
        grad[idx] = (plus - minus) / (2.0 * eps)
    return grad


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    B, N, K, D = 2, 7, 3, 4
    inputs = {
        "y": rng.standard_normal((B, N, K)),
        "features": rng.standard_normal((B, N, D)),
        "seed": rng.standard_normal((B, N, K)),
        "mu": 0.7,
        "beta": 0.4,
    }
    upstream = rng.standard_normal((B, N, K))

    analytic = diffusion_step_gradients(upstream=upstream, **inputs)
    worst = 0.0
    for name in ("y", "features", "seed", "mu", "beta"):
        def loss(v, name=name):
            args = dict(inputs)
            args[name] = v
            return float(np.sum(upstream * diffusion_step(**args)))

        numeric = _central_difference(loss, inputs[name])
        err = float(np.max(np.abs(np.asarray(analytic[name]) - numeric)))
        worst = max(worst, err)
        print(f"max |analytic - finite difference| for {name:8s}: {err:.3e}")
    assert worst < 1e-6, worst

    big = 100.0 * rng.standard_normal((B, N, D))
    p_big = transition_matrix(big)
    a_big = big @ np.swapaxes(big, -1, -2)
    row_err = float(np.max(np.abs(p_big.sum(axis=-1) - 1.0)))
    print(f"features*100: max |A| = {np.max(np.abs(a_big)):.1f}, "
          f"finite = {bool(np.all(np.isfinite(p_big)))}, "
          f"max |rowsum - 1| = {row_err:.3e}")
    assert np.all(np.isfinite(p_big)) and row_err < 1e-12
    print("difnet_reference self-check passed")
