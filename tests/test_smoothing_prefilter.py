"""Filter sizes, the fixed kernels and the pre-filters of Ziegler et al. (Average, Gaussian; the code's trainable
Average), against NumPy implementations written from the equations (tests/smoothing_references.py)."""

import numpy as np
import pytest
import tensorflow as tf

from li_seg.layers.smoothing import (
    PreFilter,
    average_kernel,
    average_prefilter,
    embed_kernel,
    filter_size,
    gaussian_kernel,
    gaussian_prefilter,
)
from li_seg.training.losses import weight_decay_variables
from tests.smoothing_references import (
    built,
    check_gradients,
    finite_differences,
    paper_average,
    paper_gaussian,
    prefilter_reference,
    released_code_gaussian,
)


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
    layer = built(average_prefilter(4, "code", trainable=True), 5)  # s = 3
    (weight,) = layer.trainable_weights
    assert weight.shape == (3, 3, 5, 1) and weight.path.endswith("prefilter_kernel")
    np.testing.assert_allclose(weight.numpy(), np.full((3, 3, 5, 1), 1 / 9), rtol=1e-7)
    assert weight_decay_variables(layer.trainable_variables) == []  # as the code: only 'weights' decay
    kernel = np.random.default_rng(2).normal(size=(3, 3, 5))
    weight.assign(kernel[..., None])
    x = np.random.default_rng(3).normal(size=(2, 7, 6, 5)).astype(np.float32)
    np.testing.assert_allclose(layer(x).numpy(), prefilter_reference(x, kernel), rtol=1e-5, atol=1e-5)


def test_gradients_prefilter_fixed_and_trainable():
    x = np.random.default_rng(20).normal(size=(1, 5, 6, 2))
    fixed = gaussian_prefilter(4, dtype="float64")  # s = 4, even
    g = np.random.default_rng(11).normal(size=x.shape)
    x_tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        objective = tf.reduce_sum(fixed(x_tensor) * g)
    expected = finite_differences(lambda xv: np.sum(prefilter_reference(xv, paper_gaussian(4)) * g), x)
    np.testing.assert_allclose(tape.gradient(objective, x_tensor).numpy(), expected, rtol=1e-6, atol=1e-8)

    trainable = built(PreFilter(average_kernel(3), trainable_kernel=True, dtype="float64"), 2)
    trainable.prefilter_kernel.assign(np.random.default_rng(21).normal(size=(3, 3, 2, 1)))
    check_gradients(trainable, x, [(trainable.prefilter_kernel, lambda xv, w: prefilter_reference(xv, w[..., 0]))])
