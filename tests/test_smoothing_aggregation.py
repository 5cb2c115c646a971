"""The aggregated smoothing of Ziegler et al. (Sec. III-D): shared coefficients, convex or the code's, against NumPy
implementations written from the equations (tests/smoothing_references.py)."""

import numpy as np
import pytest
import tensorflow as tf

import keras
from li_seg.layers.smoothing import (
    AggregatedSmoothing,
    AggregationCoefficients,
    SharedSmoothing,
    average_prefilter,
    filter_size,
    gaussian_prefilter,
)
from li_seg.training.losses import weight_decay_variables
from tests.smoothing_references import (
    aggregated_reference,
    built,
    check_gradients,
    paper_average,
    released_code_gaussian,
    shared_aggregation_model,
    softmax,
)


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
    layer = built(AggregatedSmoothing(rate, coefficients, rule=rule), 3)
    assert layer.smoothing_kernel.shape == (2 * rate - 1, 2 * rate - 1)
    v_ss = rng.normal(size=(2 * rate - 1, 2 * rate - 1))
    layer.smoothing_kernel.assign(v_ss)
    a = softmax(coefficients.logits.numpy().astype(np.float64))
    x = rng.normal(size=(2, 7, 10, 3)).astype(np.float32)
    np.testing.assert_allclose(layer(x).numpy(), aggregated_reference(x, a, v_ss, s), rtol=1e-5, atol=1e-5)
    # ... and the sum of the four layers of this module, each applied on its own.
    ss = built(SharedSmoothing(rate), 3)
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
    layer = built(
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


def test_shared_coefficients_are_one_variable():
    model, coefficients = shared_aggregation_model()
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
    model, coefficients = shared_aggregation_model()
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
    layer = built(
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
    check_gradients(layer, x, checks)
