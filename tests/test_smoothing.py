"""Smoothing of dilated convolutions (Ziegler et al.; SS Conv and G Interact of Wang & Ji) against NumPy
implementations written from the equations, y[i] = sum_n x[i - n] v[n] with zero padding (PAPERS.md section 2).

Orientation and alignment stated once (the layers' docstrings): a kernel K of size s is applied as TF does,
y[i] = sum_k x[i + k - p] K[k] with p = (s - 1) // 2, i.e. v[n] = K[p - n] for n in {p - s + 1, ..., p}.
"""

import numpy as np
import pytest
import tensorflow as tf

import keras
from li_seg.layers.smoothing import (
    AggregatedSmoothing,
    AggregationCoefficients,
    GroupInteraction,
    PreFilter,
    SharedSmoothing,
    average_kernel,
    average_prefilter,
    embed_kernel,
    filter_size,
    gaussian_kernel,
    gaussian_prefilter,
)
from li_seg.training.losses import weight_decay_variables

# ------------------------------------------------------------------------------------------------------------
# NumPy references
# ------------------------------------------------------------------------------------------------------------


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


def _built(layer, channels):
    layer.build((None, None, None, channels))
    return layer


# ------------------------------------------------------------------------------------------------------------
# Filter sizes and kernels
# ------------------------------------------------------------------------------------------------------------


def test_filter_size_rules():
    assert [filter_size(r) for r in (1, 2, 3, 4)] == [1, 2, 3, 4]  # default: the paper's "size r"
    assert [filter_size(r, "code") for r in (2, 3, 4, 5)] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="'paper', 'code'"):
        filter_size(2, "odd")
    with pytest.raises(ValueError, match="< 1"):
        filter_size(1, "code")
    with pytest.raises(ValueError, match="< 1"):
        filter_size(0)


def test_average_and_paper_gaussian_kernels():
    for s in (1, 2, 3, 4, 5):
        np.testing.assert_allclose(average_kernel(s), paper_average(s), rtol=1e-15)
        for sigma in (0.5, 1.0, 2.0):
            kernel = gaussian_kernel(s, sigma)
            np.testing.assert_allclose(kernel, paper_gaussian(s, sigma), rtol=1e-13)
            np.testing.assert_allclose(kernel, kernel[::-1, ::-1], rtol=1e-13)  # half-integer grid: symmetric
    # The classic 3x3, sigma 1 Gaussian: corners 0.0751, edges 0.1238, centre 0.2042.
    np.testing.assert_allclose(gaussian_kernel(3)[[0, 0, 1], [0, 1, 1]], [0.0751, 0.1238, 0.2042], atol=5e-5)
    np.testing.assert_allclose(gaussian_kernel(2), np.full((2, 2), 0.25))


@pytest.mark.parametrize("s", [1, 2, 3, 4])
def test_code_gaussian_matches_released_code_and_sigma_cancels(s):
    for sigma in (1.0, 1.75, 0.3):
        np.testing.assert_allclose(gaussian_kernel(s, sigma, variant="code"), released_code_gaussian(s, sigma))
    if s % 2:  # odd: the code's grid is the centred one, with effective sigma 1/sqrt(2)
        np.testing.assert_allclose(gaussian_kernel(s, 1.0, "code"), paper_gaussian(s, 1 / np.sqrt(2)), rtol=1e-13)
    else:  # even: integer offsets k - (s - 1) // 2 (centred on the output pixel), not symmetric
        assert not np.allclose(gaussian_kernel(s, 1.0, "code"), gaussian_kernel(s, 1.0, "code")[::-1, ::-1])


def test_embed_kernel_keeps_each_taps_offset():
    x = np.random.default_rng(0).normal(size=(1, 6, 7, 2))
    for s, size in [(2, 3), (3, 5), (4, 7), (2, 7), (1, 3)]:
        kernel = np.random.default_rng(s).normal(size=(s, s))
        np.testing.assert_allclose(
            prefilter_reference(x, embed_kernel(kernel, size)), prefilter_reference(x, kernel), atol=1e-12
        )


# ------------------------------------------------------------------------------------------------------------
# PreFilter (Average / Gaussian)
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [2, 3, 4])
@pytest.mark.parametrize("rule", ["paper", "code"])
@pytest.mark.parametrize("kind", ["average", "gaussian", "gaussian_code"])
def test_fixed_prefilter_matches_reference(rate, rule, kind):
    s = rate if rule == "paper" else rate - 1
    if kind == "average":
        layer, kernel = average_prefilter(rate, rule), paper_average(s)
    elif kind == "gaussian":
        layer, kernel = gaussian_prefilter(rate, rule), paper_gaussian(s, 1.0)
    else:
        layer, kernel = gaussian_prefilter(rate, rule, sigma=1.0, variant="code"), released_code_gaussian(s, 1.0)
    rng = np.random.default_rng(rate * 10 + s)
    for shape in [(2, 7, 10, 3), (1, 9, 5, 3)]:
        x = rng.normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(layer(x).numpy(), prefilter_reference(x, kernel), rtol=1e-5, atol=1e-6)
    assert layer.weights == [] and layer.trainable_weights == []


def test_even_size_alignment_is_tf_same():
    """An impulse at (3, 3): a 2x2 filter reads offsets {0, +1}, so the outputs at rows / cols {2, 3} see it;
    a 4x4 filter reads {-1, 0, +1, +2}: outputs {1, ..., 4}."""
    x = np.zeros((1, 8, 8, 1), np.float32)
    x[0, 3, 3, 0] = 1.0
    for s, support in [(2, [2, 3]), (4, [1, 2, 3, 4]), (3, [2, 3, 4])]:
        y = PreFilter(average_kernel(s))(x).numpy()[0, :, :, 0]
        rows, cols = np.nonzero(y)
        assert sorted(set(rows)) == support and sorted(set(cols)) == support


def test_one_by_one_filter_is_exactly_the_identity():
    x = np.random.default_rng(1).normal(size=(2, 5, 6, 3)).astype(np.float32)
    for layer in [PreFilter([[1.0]]), average_prefilter(2, "code"), gaussian_prefilter(2, "code", variant="code")]:
        np.testing.assert_array_equal(layer(x).numpy(), x)
        assert layer.weights == []
    trainable = average_prefilter(2, "code", trainable=True)  # the code's trainable "Average" at rate 2: 1x1
    np.testing.assert_array_equal(trainable(x).numpy(), x)
    np.testing.assert_array_equal(PreFilter([[0.5]])(x).numpy(), 0.5 * x)


def test_trainable_average_is_per_channel_and_initialised_to_one_over_s_squared():
    layer = _built(average_prefilter(4, "code", trainable=True), 5)  # s = 3
    (weight,) = layer.trainable_weights
    assert weight.shape == (3, 3, 5, 1) and weight.path.endswith("prefilter_kernel")
    np.testing.assert_allclose(weight.numpy(), np.full((3, 3, 5, 1), 1 / 9), rtol=1e-7)
    assert weight_decay_variables(layer.trainable_variables) == []  # as the code: only 'weights' decay
    kernel = np.random.default_rng(2).normal(size=(3, 3, 5))
    weight.assign(kernel[..., None])
    x = np.random.default_rng(3).normal(size=(2, 7, 6, 5)).astype(np.float32)
    np.testing.assert_allclose(layer(x).numpy(), prefilter_reference(x, kernel), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------------------------
# SS Conv and G Interact
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [2, 3, 4])
def test_shared_smoothing_identity_at_init_and_reference(rate):
    layer = _built(SharedSmoothing(rate), 3)
    (weight,) = layer.trainable_weights
    size = 2 * rate - 1
    expected_init = np.zeros((size, size))
    expected_init[rate - 1, rate - 1] = 1.0  # the code's mask[dilation_factor - 1, dilation_factor - 1] = 1
    np.testing.assert_array_equal(weight.numpy(), expected_init)
    rng = np.random.default_rng(rate)
    x = rng.normal(size=(2, 7, 10, 3)).astype(np.float32)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    v = rng.normal(size=(size, size))
    weight.assign(v)
    np.testing.assert_allclose(layer(x).numpy(), prefilter_reference(x, v), rtol=1e-5, atol=1e-5)
    assert weight_decay_variables(layer.trainable_variables) == []


@pytest.mark.parametrize("rate, shape", [(2, (2, 5, 7, 3)), (2, (1, 6, 9, 2)), (3, (2, 7, 8, 3)), (4, (1, 7, 10, 2))])
def test_group_interaction_identity_at_init_and_reference(rate, shape):
    layer = _built(GroupInteraction(rate), shape[-1])
    rng = np.random.default_rng(rate + shape[1])
    y = rng.normal(size=shape).astype(np.float32)
    np.testing.assert_array_equal(layer.interaction.numpy(), np.eye(rate**2))
    np.testing.assert_array_equal(layer(y).numpy(), y)
    matrix = rng.normal(size=(rate**2, rate**2))
    layer.interaction.assign(matrix)
    np.testing.assert_allclose(
        layer(y).numpy(), group_interaction_reference(y, matrix, rate), rtol=1e-5, atol=1e-5
    )


def test_group_interaction_any_batch_and_size_in_a_graph():
    layer = _built(GroupInteraction(3), 2)
    layer.interaction.assign(np.random.default_rng(0).normal(size=(9, 9)))
    matrix = layer.interaction.numpy()
    graph = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 2), tf.float32)])
    for shape in [(1, 4, 5, 2), (3, 9, 9, 2), (2, 11, 7, 2), (1, 1, 2, 2)]:
        y = np.random.default_rng(shape[1]).normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(graph(y).numpy(), group_interaction_reference(y, matrix, 3), atol=1e-5)


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


@pytest.mark.parametrize("rate, shape", [(2, (2, 5, 7, 3)), (3, (1, 7, 8, 2)), (4, (1, 6, 9, 2))])
def test_group_interaction_code_variant_is_the_authors_loop(rate, shape):
    """The authors' loop uses l[i] where the sum needs l[0] (for i >= 1): variant="code" reproduces it."""
    rng = np.random.default_rng(rate)
    y = rng.normal(size=shape).astype(np.float32)
    fix_w = rng.normal(size=(rate**2, rate**2))
    code = _built(GroupInteraction(rate, variant="code"), shape[-1])
    paper = _built(GroupInteraction(rate), shape[-1])
    np.testing.assert_array_equal(code(y).numpy(), y)  # identical at the identity initialisation
    code.interaction.assign(fix_w.T)
    paper.interaction.assign(fix_w.T)
    expected = authors_mixing_reference(y, fix_w, rate)
    np.testing.assert_allclose(code(y).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(paper(y).numpy(), group_interaction_reference(y, fix_w.T, rate), rtol=1e-5, atol=1e-5)
    assert not np.allclose(paper(y).numpy(), expected, atol=1e-2)


@pytest.mark.parametrize("rate, height, width", [(2, 6, 8), (2, 7, 9), (3, 8, 10), (4, 8, 12)])
def test_group_interaction_after_dilated_conv_matches_the_authors_gi(rate, height, width):
    """Whole-op check against the authors' _smoothed_dilated_conv2d_GI (decomposed conv + mixing): equal
    everywhere when H, W are multiples of r; otherwise equal outside the last partial block (there the code
    mixes in its conv's values on the padded rows, this layer zeros)."""
    rng = np.random.default_rng(rate * height)
    x = rng.normal(size=(2, height, width, 3)).astype(np.float32)
    w = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
    fix_w = rng.normal(size=(rate**2, rate**2)).astype(np.float32)
    layer = _built(GroupInteraction(rate, variant="code"), 4)
    layer.interaction.assign(fix_w.T)
    ours = layer(tf.nn.conv2d(x, w, 1, "SAME", dilations=rate)).numpy()
    theirs = authors_gi_conv(x, w, fix_w, rate).numpy()
    full_h, full_w = rate * (height // rate), rate * (width // rate)
    np.testing.assert_allclose(ours[:, :full_h, :full_w], theirs[:, :full_h, :full_w], rtol=1e-4, atol=1e-4)
    if (full_h, full_w) == (height, width):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    else:
        assert not np.allclose(ours, theirs, atol=1e-3)


# ------------------------------------------------------------------------------------------------------------
# Aggregation
# ------------------------------------------------------------------------------------------------------------


def test_aggregation_coefficients_modes_and_reading():
    convex = AggregationCoefficients()
    assert [w.path.split("/")[-1] for w in convex.weights] == ["logits"]
    np.testing.assert_array_equal(convex.logits.numpy(), np.zeros(4))
    np.testing.assert_allclose(convex().numpy(), np.full(4, 0.25))
    np.testing.assert_allclose(convex(np.zeros((2, 3))).numpy(), np.full(4, 0.25))  # a dummy input is ignored
    assert convex.as_dict() == {"ave": 0.25, "gauss": 0.25, "learned": 0.25, "none": 0.25}
    code = AggregationCoefficients(mode="code")
    assert [w.path.split("/")[-1] for w in code.weights] == ["coefficients"]
    np.testing.assert_allclose(code().numpy(), np.full(4, 0.25))
    code.raw_coefficients.assign([0.7, -0.2, 0.1, 0.9])  # used as is: no normalisation
    np.testing.assert_allclose(code.values().numpy(), [0.7, -0.2, 0.1, 0.9], rtol=1e-7)
    assert weight_decay_variables(convex.trainable_variables + code.trainable_variables) == []
    with pytest.raises(ValueError, match="'convex', 'code'"):
        AggregationCoefficients(mode="clip")


@pytest.mark.parametrize("rate", [2, 3, 4])
@pytest.mark.parametrize("rule", ["paper", "code"])
def test_aggregated_is_the_explicit_combination(rate, rule):
    s = rate if rule == "paper" else rate - 1
    rng = np.random.default_rng(rate * 7 + s)
    coefficients = AggregationCoefficients()
    coefficients.logits.assign(rng.normal(size=4))
    layer = _built(AggregatedSmoothing(rate, coefficients, rule=rule), 3)
    assert layer.smoothing_kernel.shape == (2 * rate - 1, 2 * rate - 1)
    v_ss = rng.normal(size=(2 * rate - 1, 2 * rate - 1))
    layer.smoothing_kernel.assign(v_ss)
    a = softmax(coefficients.logits.numpy().astype(np.float64))
    x = rng.normal(size=(2, 7, 10, 3)).astype(np.float32)
    np.testing.assert_allclose(layer(x).numpy(), aggregated_reference(x, a, v_ss, s), rtol=1e-5, atol=1e-5)
    # ... and the sum of the four layers of this module, each applied on its own.
    ss = _built(SharedSmoothing(rate), 3)
    ss.smoothing_kernel.assign(v_ss)
    separate = (
        a[0] * average_prefilter(rate, rule)(x) + a[1] * gaussian_prefilter(rate, rule)(x) + a[2] * ss(x) + a[3] * x
    )
    np.testing.assert_allclose(layer(x).numpy(), separate.numpy(), rtol=1e-5, atol=1e-5)


def test_aggregated_code_configuration():
    """The released code at rate 4: s = 3, trainable per-channel Average, code Gaussian, raw coefficients."""
    rng = np.random.default_rng(4)
    coefficients = AggregationCoefficients(mode="code")
    coefficients.raw_coefficients.assign([0.6, -0.1, 0.3, 0.4])
    layer = _built(
        AggregatedSmoothing(4, coefficients, rule="code", gaussian_variant="code", trainable_average=True), 3
    )
    v_ss, average = rng.normal(size=(7, 7)), rng.normal(size=(3, 3, 3))
    layer.smoothing_kernel.assign(v_ss)
    layer.prefilter_kernel.assign(average[..., None])
    x = rng.normal(size=(1, 9, 10, 3)).astype(np.float32)
    expected = aggregated_reference(
        x, [0.6, -0.1, 0.3, 0.4], v_ss, 3, average=average, gaussian=released_code_gaussian(3, 1.0)
    )
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def _shared_aggregation_model(mode="convex", channels=3):
    coefficients = AggregationCoefficients(mode=mode, name="coefficients")
    inputs = keras.Input((None, None, channels))
    x = AggregatedSmoothing(2, coefficients, name="agg_rate2")(inputs)
    x = keras.layers.Conv2D(channels, 3, dilation_rate=2, padding="same", name="conv_rate2")(x)
    x = AggregatedSmoothing(4, coefficients, rule="code", name="agg_rate4")(x)
    outputs = keras.layers.Conv2D(channels, 3, dilation_rate=4, padding="same", name="conv_rate4")(x)
    return keras.Model(inputs, outputs), coefficients


def test_shared_coefficients_are_one_variable():
    model, coefficients = _shared_aggregation_model()
    assert model.get_layer("agg_rate2").coefficients is model.get_layer("agg_rate4").coefficients
    paths = [v.path for v in model.trainable_weights]
    assert paths.count("coefficients/logits") == 1 and len(paths) == len(set(paths)) == 7
    x = tf.random.normal((1, 9, 9, 3), seed=1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x) ** 2)
    (grad,) = tape.gradient(loss, [coefficients.logits.value])
    assert np.all(np.isfinite(grad.numpy())) and np.abs(grad.numpy()).max() > 0


def test_convex_coefficients_stay_on_the_simplex_after_optimizer_steps():
    """A real SGD step, pushed hard (lr 50) towards the identity (a_None): still >= 0 and summing to 1."""
    model, coefficients = _shared_aggregation_model()
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 9, 11, 3)).astype(np.float32)
    target = model(x).numpy() + rng.normal(size=(2, 9, 11, 3)).astype(np.float32)
    optimizer = keras.optimizers.SGD(learning_rate=50.0, momentum=0.9)
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - target) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    a = coefficients.values().numpy()
    assert not np.allclose(a, 0.25, atol=1e-3)  # they moved
    assert np.all(a >= 0) and abs(a.sum() - 1) < 1e-6
    assert abs(sum(coefficients.as_dict().values()) - 1) < 1e-6
    code = AggregationCoefficients(mode="code")  # the code's vector: one step leaves the simplex
    gradient = tf.constant([1.0, 0.0, 0.0, -1.0])
    keras.optimizers.SGD(learning_rate=1.0).apply_gradients([(gradient, code.raw_coefficients)])
    np.testing.assert_allclose(code.values().numpy(), [-0.75, 0.25, 0.25, 1.25])


# ------------------------------------------------------------------------------------------------------------
# Gradients (float64 layers) against central finite differences of the NumPy references
# ------------------------------------------------------------------------------------------------------------


def _finite_differences(f, value, eps=1e-6):
    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        step = np.zeros_like(value)
        step[index] = eps
        grad[index] = (f(value + step) - f(value - step)) / (2 * eps)
    return grad


def _check_gradients(layer, x, weights_and_references):
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
    expected_x = _finite_differences(lambda xv: np.sum(first_reference(xv, values[0]) * g), x)
    np.testing.assert_allclose(grads[0].numpy(), expected_x, rtol=1e-6, atol=1e-8)
    for k, (variable, reference) in enumerate(weights_and_references):
        expected = _finite_differences(lambda wv, reference=reference: np.sum(reference(x, wv) * g), values[k])
        np.testing.assert_allclose(grads[k + 1].numpy(), expected, rtol=1e-6, atol=1e-8, err_msg=variable.path)


def test_gradients_prefilter_fixed_and_trainable():
    x = np.random.default_rng(20).normal(size=(1, 5, 6, 2))
    fixed = gaussian_prefilter(4, dtype="float64")  # s = 4, even
    g = np.random.default_rng(11).normal(size=x.shape)
    x_tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        objective = tf.reduce_sum(fixed(x_tensor) * g)
    expected = _finite_differences(lambda xv: np.sum(prefilter_reference(xv, paper_gaussian(4)) * g), x)
    np.testing.assert_allclose(tape.gradient(objective, x_tensor).numpy(), expected, rtol=1e-6, atol=1e-8)

    trainable = _built(PreFilter(average_kernel(3), trainable_kernel=True, dtype="float64"), 2)
    trainable.prefilter_kernel.assign(np.random.default_rng(21).normal(size=(3, 3, 2, 1)))
    _check_gradients(trainable, x, [(trainable.prefilter_kernel, lambda xv, w: prefilter_reference(xv, w[..., 0]))])


def test_gradients_shared_smoothing():
    x = np.random.default_rng(22).normal(size=(1, 5, 6, 2))
    layer = _built(SharedSmoothing(3, dtype="float64"), 2)
    layer.smoothing_kernel.assign(np.random.default_rng(23).normal(size=(5, 5)))
    _check_gradients(layer, x, [(layer.smoothing_kernel, prefilter_reference)])


@pytest.mark.parametrize("variant", ["paper", "code"])
def test_gradients_group_interaction(variant):
    x = np.random.default_rng(24).normal(size=(1, 5, 7, 2))
    layer = _built(GroupInteraction(2, variant=variant, dtype="float64"), 2)
    layer.interaction.assign(np.random.default_rng(25).normal(size=(4, 4)))

    def reference(x_value, matrix):
        if variant == "paper":
            return group_interaction_reference(x_value, matrix, 2)
        return authors_mixing_reference(x_value, matrix.T, 2)

    _check_gradients(layer, x, [(layer.interaction, reference)])


@pytest.mark.parametrize(
    "mode, rate, rule, trainable_average", [("convex", 2, "paper", False), ("code", 3, "code", True)]
)
def test_gradients_aggregated(mode, rate, rule, trainable_average):
    """Paper: rate 2, s = 2, 3x3 SS, softmax coefficients. Code: rate 3, s = 2 embedded in 5x5, trainable
    per-channel Average, raw coefficients."""
    rng = np.random.default_rng(26)
    x = rng.normal(size=(1, 5, 6, 2))
    s, size = filter_size(rate, rule), 2 * rate - 1
    coefficients = AggregationCoefficients(mode=mode, dtype="float64")
    coefficient_variable = coefficients.logits if mode == "convex" else coefficients.raw_coefficients
    coefficient_variable.assign(rng.normal(size=4))
    to_a = softmax if mode == "convex" else (lambda c: c)
    layer = _built(
        AggregatedSmoothing(rate, coefficients, rule=rule, trainable_average=trainable_average, dtype="float64"), 2
    )
    layer.smoothing_kernel.assign(rng.normal(size=(size, size)))
    a_value, v_value = to_a(coefficient_variable.numpy()), layer.smoothing_kernel.numpy()
    average_value = paper_average(s)
    if trainable_average:
        layer.prefilter_kernel.assign(rng.normal(size=(s, s, 2, 1)))
        average_value = layer.prefilter_kernel.numpy()[..., 0]
    checks = [
        (layer.smoothing_kernel, lambda xv, v: aggregated_reference(xv, a_value, v, s, average=average_value)),
        (coefficient_variable, lambda xv, c: aggregated_reference(xv, to_a(c), v_value, s, average=average_value)),
    ]
    if trainable_average:
        checks.append(
            (layer.prefilter_kernel, lambda xv, w: aggregated_reference(xv, a_value, v_value, s, average=w[..., 0]))
        )
    _check_gradients(layer, x, checks)


# ------------------------------------------------------------------------------------------------------------
# Serialization and mixed precision
# ------------------------------------------------------------------------------------------------------------


def test_keras_save_and_load_round_trip(tmp_path):
    shared = AggregationCoefficients(name="shared_coefficients")
    raw = AggregationCoefficients(mode="code", name="raw_coefficients")
    inputs = keras.Input((None, None, 3))
    x = average_prefilter(4, name="average")(inputs)
    x = gaussian_prefilter(3, "code", variant="code", name="gauss_code")(x)
    x = average_prefilter(3, "code", trainable=True, name="trainable_average")(x)
    x = SharedSmoothing(2, name="ss")(x)
    x = GroupInteraction(3, name="gi")(x)
    x = GroupInteraction(2, variant="code", name="gi_code")(x)
    x = AggregatedSmoothing(2, shared, name="agg_a")(x)
    x = AggregatedSmoothing(4, shared, rule="code", sigma=0.8, name="agg_b")(x)
    outputs = AggregatedSmoothing(3, raw, gaussian_variant="code", trainable_average=True, name="agg_c")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(30)
    for variable in model.trainable_variables:
        variable.assign(variable.numpy() + 0.1 * rng.normal(size=variable.shape))
    path = tmp_path / "smoothing.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    for shape in [(1, 9, 10, 3), (2, 7, 5, 3)]:
        x = rng.normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-6)
    for name in ["average", "gauss_code", "trainable_average", "ss", "gi", "gi_code", "agg_a", "agg_b", "agg_c"]:
        original, restored = model.get_layer(name).get_config(), loaded.get_layer(name).get_config()
        original.pop("coefficients", None), restored.pop("coefficients", None)
        assert original == restored
    assert loaded.get_layer("agg_a").coefficients is loaded.get_layer("agg_b").coefficients  # still shared
    assert loaded.get_layer("agg_c").coefficients.mode == "code"
    assert loaded.get_layer("agg_a").coefficients.as_dict() == shared.as_dict()
    assert loaded.get_layer("average").weights == []
    assert sorted(v.path for v in loaded.trainable_variables) == sorted(v.path for v in model.trainable_variables)
    # A config round trip in memory keeps the very same coefficients instance.
    clone = AggregatedSmoothing.from_config(model.get_layer("agg_a").get_config())
    assert clone.coefficients is shared and clone.rate == 2


def _copy_weights(source, target):
    for s, t in zip(source.weights, target.weights):
        t.assign(s.numpy())


@pytest.mark.parametrize(
    "make",
    [
        lambda dtype: gaussian_prefilter(4, dtype=dtype),
        lambda dtype: average_prefilter(3, trainable=True, dtype=dtype),
        lambda dtype: SharedSmoothing(3, dtype=dtype),
        lambda dtype: GroupInteraction(3, dtype=dtype),
        lambda dtype: GroupInteraction(2, variant="code", dtype=dtype),
        lambda dtype: AggregatedSmoothing(4, AggregationCoefficients(), dtype=dtype),
    ],
    ids=["gaussian", "trainable_average", "ss_conv", "g_interact", "g_interact_code", "aggregated"],
)
def test_mixed_precision_computes_in_float16(make):
    rng = np.random.default_rng(40)
    reference, mixed = _built(make("float32"), 4), _built(make("mixed_float16"), 4)
    for variable in reference.weights:
        variable.assign(variable.numpy() + 0.1 * rng.normal(size=variable.shape))
    _copy_weights(reference, mixed)
    x = rng.normal(size=(2, 8, 7, 4)).astype(np.float32)
    y = mixed(x)
    assert y.dtype == tf.float16 and all(w.dtype == "float32" for w in mixed.weights)
    np.testing.assert_allclose(y.numpy().astype(np.float32), reference(x).numpy(), rtol=1e-2, atol=2e-2)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: PreFilter([1.0, 2.0]), "2-D"),
        (lambda: PreFilter(np.zeros((0, 3))), "2-D"),
        (lambda: PreFilter([[np.nan]]), "finite"),
        (lambda: gaussian_kernel(3, variant="other"), "'paper', 'code'"),
        (lambda: gaussian_kernel(3, sigma=0.0), "sigma"),
        (lambda: average_kernel(0), ">= 1"),
        (lambda: SharedSmoothing(0), "rate"),
        (lambda: GroupInteraction(0), "rate"),
        (lambda: GroupInteraction(2, variant="transposed"), "'paper', 'code'"),
        (lambda: AggregatedSmoothing(2, None), "AggregationCoefficients"),
        (lambda: AggregatedSmoothing(1, AggregationCoefficients(), rule="code"), "< 1"),
        (lambda: PreFilter([[1.0]])(keras.Input((None, None, None))), "channel"),
    ],
)
def test_invalid_arguments_name_the_problem(make, message):
    with pytest.raises(ValueError, match=message):
        make()
