"""NumPy references for the smoothing layers' tests, written from the equations, y[i] = sum_n x[i - n] v[n] with zero
padding (PAPERS.md section 2), and the float64 finite-difference gradient check.

Orientation and alignment stated once (the layers' docstrings): a kernel K of size s is applied as TF does,
y[i] = sum_k x[i + k - p] K[k] with p = (s - 1) // 2, i.e. v[n] = K[p - n] for n in {p - s + 1, ..., p}.
"""

import numpy as np
import tensorflow as tf

import keras
from li_seg.layers.smoothing import AggregatedSmoothing, AggregationCoefficients


def shifted(x, n1, n2):
    """x[:, i - n1, j - n2, :] for every (i, j), zero where (i - n1, j - n2) falls outside the map."""
    _, height, width, _ = x.shape
    out = np.zeros(x.shape, np.float64)
    rows_out, rows_in = slice(max(n1, 0), min(height + n1, height)), slice(max(-n1, 0), min(height - n1, height))
    cols_out, cols_in = slice(max(n2, 0), min(width + n2, width)), slice(max(-n2, 0), min(width - n2, width))
    out[:, rows_out, cols_out, :] = x[:, rows_in, cols_in, :]
    return out


def prefilter_reference(x, kernel):
    """y[i] = sum_n x[i - n] v[n], v[n] = K[p - n], p = (s - 1) // 2 per axis; K (kh, kw) or (kh, kw, C)."""
    kernel = np.asarray(kernel, np.float64)
    if kernel.ndim == 2:
        kernel = kernel[:, :, None]
    kh, kw = kernel.shape[:2]
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    y = np.zeros(x.shape, np.float64)
    for n1 in range(ph - kh + 1, ph + 1):
        for n2 in range(pw - kw + 1, pw + 1):
            y += kernel[ph - n1, pw - n2] * shifted(x.astype(np.float64), n1, n2)
    return y


def group_interaction_reference(y, matrix, rate):
    """Pad to multiples of r (bottom / right, zeros); sub-grid i = a r + b holds pixels (a + r p, b + r q);
    out_i = sum_j M[i, j] in_j; crop back."""
    batch, height, width, channels = y.shape
    padded_h, padded_w = -(-height // rate) * rate, -(-width // rate) * rate
    padded = np.zeros((batch, padded_h, padded_w, channels))
    padded[:, :height, :width] = y
    out = np.zeros_like(padded)
    for a in range(rate):
        for b in range(rate):
            for a2 in range(rate):
                for b2 in range(rate):
                    out[:, a::rate, b::rate] += matrix[a * rate + b, a2 * rate + b2] * padded[:, a2::rate, b2::rate]
    return out[:, :height, :width]


def authors_mixing_reference(y, fix_w, rate):
    """The authors' loop on the sub-grids l (same padding): os[i] = fix_w[0, i] l[i] + sum_{j>=1} fix_w[j, i] l[j]."""
    batch, height, width, channels = y.shape
    padded_h, padded_w = -(-height // rate) * rate, -(-width // rate) * rate
    padded = np.zeros((batch, padded_h, padded_w, channels))
    padded[:, :height, :width] = y
    grids = [padded[:, a::rate, b::rate] for a in range(rate) for b in range(rate)]
    out = np.zeros_like(padded)
    for i in range(rate * rate):
        mixed = fix_w[0, i] * grids[i]
        for j in range(1, rate * rate):
            mixed = mixed + fix_w[j, i] * grids[j]
        out[:, i // rate :: rate, i % rate :: rate] = mixed
    return out[:, :height, :width]


def paper_average(s):
    return np.ones((s, s)) / s**2


def paper_gaussian(s, sigma=1.0):
    """exp(-(x^2 + y^2) / (2 sigma^2)) on the s x s grid centred on the filter centre, normalised."""
    kernel = np.empty((s, s))
    for u in range(s):
        for v in range(s):
            dx, dy = u - (s - 1) / 2, v - (s - 1) / 2
            kernel[u, v] = np.exp(-(dx**2 + dy**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def released_code_gaussian(filter_size, sigma):
    """Transcription of the released code (dilated.py, _gaussian_dilated_conv2d_fix / _combinational_layer)."""
    ax = np.arange(-filter_size // 2 + 1.0, filter_size // 2 + 1.0)
    xx, yy = np.meshgrid(ax, ax)
    kernel = np.exp(-(xx**2 + yy**2))
    w_gauss_value = kernel / np.exp(2.0 * sigma**2)
    return w_gauss_value / np.sum(w_gauss_value)


def softmax(logits):
    e = np.exp(logits - np.max(logits))
    return e / e.sum()


def aggregated_reference(x, a, v_ss, s, sigma=1.0, average=None, gaussian=None):
    """a_Ave (x * v_Ave) + a_Gauss (x * v_Gauss) + a_Learned (x * v_SS) + a_None x, each filter on its own."""
    average = paper_average(s) if average is None else average
    gaussian = paper_gaussian(s, sigma) if gaussian is None else gaussian
    return (
        a[0] * prefilter_reference(x, average)
        + a[1] * prefilter_reference(x, gaussian)
        + a[2] * prefilter_reference(x, v_ss)
        + a[3] * x
    )


def built(layer, channels):
    layer.build((None, None, None, channels))
    return layer


def finite_differences(f, value, eps=1e-6):
    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        step = np.zeros_like(value)
        step[index] = eps
        grad[index] = (f(value + step) - f(value - step)) / (2 * eps)
    return grad


def check_gradients(layer, x, weights_and_references):
    """weights_and_references: [(variable, reference(x, weight_value) -> y)], the first entry also for d/dx."""
    rng = np.random.default_rng(11)
    g = rng.normal(size=x.shape)
    variables = [variable for variable, _ in weights_and_references]
    x_tensor = tf.constant(x, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        objective = tf.reduce_sum(layer(x_tensor) * g)
    grads = tape.gradient(objective, [x_tensor] + [v.value for v in variables])
    values = [v.numpy().astype(np.float64) for v in variables]
    first_variable, first_reference = weights_and_references[0]
    expected_x = finite_differences(lambda xv: np.sum(first_reference(xv, values[0]) * g), x)
    np.testing.assert_allclose(grads[0].numpy(), expected_x, rtol=1e-6, atol=1e-8)
    for k, (variable, reference) in enumerate(weights_and_references):
        expected = finite_differences(lambda wv, reference=reference: np.sum(reference(x, wv) * g), values[k])
        np.testing.assert_allclose(grads[k + 1].numpy(), expected, rtol=1e-6, atol=1e-8, err_msg=variable.path)


def authors_gi_conv(x, w, fix_w, rate):
    """Transcription of the authors' _smoothed_dilated_conv2d_GI (decomposed conv, then the mixing loop)."""
    height, width = x.shape[1], x.shape[2]
    pad_bottom = (rate - height % rate) if height % rate != 0 else 0
    pad_right = (rate - width % rate) if width % rate != 0 else 0
    pad = [[0, pad_bottom], [0, pad_right]]
    o = tf.space_to_batch(x, [rate, rate], pad)
    o = tf.nn.conv2d(o, w, [1, 1, 1, 1], padding="SAME")
    chunks = tf.split(o, rate * rate, axis=0)
    outs = []
    for i in range(rate * rate):
        outs.append(fix_w[0, i] * chunks[i])
        for j in range(1, rate * rate):
            outs[i] += fix_w[j, i] * chunks[j]
    return tf.batch_to_space(tf.concat(outs, axis=0), [rate, rate], pad)


def shared_aggregation_model(mode="convex", channels=3):
    coefficients = AggregationCoefficients(mode=mode, name="coefficients")
    inputs = keras.Input((None, None, channels))
    x = AggregatedSmoothing(2, coefficients, name="agg_rate2")(inputs)
    x = keras.layers.Conv2D(channels, 3, dilation_rate=2, padding="same", name="conv_rate2")(x)
    x = AggregatedSmoothing(4, coefficients, rule="code", name="agg_rate4")(x)
    outputs = keras.layers.Conv2D(channels, 3, dilation_rate=4, padding="same", name="conv_rate4")(x)
    return keras.Model(inputs, outputs), coefficients


def copy_weights(source, target):
    for s, t in zip(source.weights, target.weights):
        t.assign(s.numpy())
