"""The LI layer (LI-Convs paper, Eq. 3-5) against a NumPy implementation written from the equations."""

import numpy as np
import pytest
import tensorflow as tf

import keras
from li_seg.config import InhibitionConfig
from li_seg.layers import LateralInhibition
from li_seg.layers.inhibition import inhibition_layer
from li_seg.training.losses import weight_decay_variables


def lateral_inhibition_reference(x, intensity, zone_size, sigma, rate):
    """Eq. 3-5 literally: y(n) = x(n) - sum_{u != 0} W_L exp(-|u|^2 / (2 sigma^2)) x(n + e u), zeros outside."""
    batch, height, width, channels = x.shape
    t = zone_size // 2
    y = x.astype(np.float64).copy()
    for du in range(-t, t + 1):
        for dv in range(-t, t + 1):
            if du == 0 and dv == 0:
                continue
            weight = intensity * np.exp(-(du**2 + dv**2) / (2 * sigma**2))  # L(u), per channel
            for i in range(height):
                for j in range(width):
                    si, sj = i + rate * du, j + rate * dv
                    if 0 <= si < height and 0 <= sj < width:
                        y[:, i, j, :] -= weight * x[:, si, sj, :]
    return y


def _layer(zone_size=3, sigma=1.0, rate=1, channels=4, intensity=None, **kwargs):
    layer = LateralInhibition(zone_size=zone_size, sigma=sigma, rate=rate, **kwargs)
    layer.build((None, None, None, channels))
    if intensity is not None:
        layer.intensity.assign(intensity)
    return layer


@pytest.mark.parametrize(
    "zone_size, sigma, rate", [(3, 1.0, 1), (3, 1.0, 2), (5, 1.0, 1), (5, 0.7, 3), (3, 2.5, 5), (7, 1.5, 2)]
)
def test_matches_numpy_reference(zone_size, sigma, rate):
    rng = np.random.default_rng(zone_size * 100 + rate)
    x = rng.normal(size=(2, 11, 13, 5)).astype(np.float32)
    intensity = rng.uniform(0, 1, size=5).astype(np.float32)
    layer = _layer(zone_size, sigma, rate, channels=5, intensity=intensity)
    expected = lateral_inhibition_reference(x, intensity, zone_size, sigma, rate)
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_kernel_taps_of_the_paper():
    """3x3 zone, sigma 1: centre 1, edges -0.6065 W_L, corners -0.3679 W_L (PAPERS.md section 1)."""
    kernel = _layer(intensity=np.array([1.0, 0.5, 0.0, 0.2], np.float32)).kernel().numpy()[..., 0]
    assert kernel.shape == (3, 3, 4)
    np.testing.assert_allclose(kernel[1, 1], 1.0)
    np.testing.assert_allclose(kernel[0, 1], -np.exp(-0.5) * np.array([1.0, 0.5, 0.0, 0.2]), rtol=1e-6)
    np.testing.assert_allclose(kernel[0, 0], -np.exp(-1.0) * np.array([1.0, 0.5, 0.0, 0.2]), rtol=1e-6)
    assert abs(kernel[0, 1, 0] + 0.6065) < 1e-4 and abs(kernel[2, 2, 0] + 0.3679) < 1e-4


def test_zero_intensity_is_identity_and_default_init():
    layer = _layer(channels=6)
    np.testing.assert_array_equal(layer.intensity.numpy(), np.zeros(6))
    x = np.random.default_rng(0).normal(size=(1, 7, 7, 6)).astype(np.float32)
    np.testing.assert_allclose(layer(x).numpy(), x, atol=1e-6)


def test_uniform_initialisation_range():
    keras.utils.set_random_seed(3)
    values = _layer(channels=2000, intensity_init=(0.05, 0.35)).intensity.numpy()
    assert values.min() >= 0.05 and values.max() <= 0.35 and values.std() > 0.05


def test_gradients_match_finite_differences_and_reference():
    """d/dx and d/dW_L of sum(y * g) for a random g: against the NumPy reference by central differences."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 6, 7, 3)).astype(np.float64)
    intensity = rng.uniform(0.1, 0.9, size=3)
    g = rng.normal(size=x.shape)
    layer = _layer(5, 1.3, 2, channels=3, intensity=intensity.astype(np.float32))
    x_tensor = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        objective = tf.reduce_sum(layer(x_tensor) * g)
    grad_x, grad_w = tape.gradient(objective, [x_tensor, layer.intensity.value])

    def f(x_value, w_value):
        return float(np.sum(lateral_inhibition_reference(x_value, w_value, 5, 1.3, 2) * g))

    eps = 1e-4
    expected_w = np.array([
        (f(x, intensity + eps * np.eye(3)[c]) - f(x, intensity - eps * np.eye(3)[c])) / (2 * eps) for c in range(3)
    ])
    np.testing.assert_allclose(grad_w.numpy(), expected_w, rtol=1e-4, atol=1e-3)
    # The map is linear in x: its gradient is the transposed operator applied to g, checked at random entries.
    for index in [(0, 0, 0, 0), (0, 3, 4, 1), (0, 5, 6, 2), (0, 2, 0, 1)]:
        step = np.zeros_like(x)
        step[index] = eps
        expected = (f(x + step, intensity) - f(x - step, intensity)) / (2 * eps)
        assert abs(grad_x.numpy()[index] - expected) < 1e-3


def test_optimizer_step_projects_intensity_onto_unit_interval():
    """The constraint runs after a real optimizer update (clipping, as the authors' clip_by_value)."""
    layer = _layer(channels=3, intensity=np.array([0.02, 0.5, 0.98], np.float32))
    optimizer = keras.optimizers.SGD(learning_rate=1.0)
    gradients = tf.constant([1.0, 0.0, -1.0])  # pushes channel 0 below 0 and channel 2 above 1
    optimizer.apply_gradients([(gradients, layer.intensity)])
    np.testing.assert_allclose(layer.intensity.numpy(), [0.0, 0.5, 1.0])


def test_intensity_has_no_weight_decay():
    layer = _layer(channels=3)
    assert layer.intensity.path.endswith("intensity")
    assert weight_decay_variables(layer.trainable_variables) == []
    assert layer.count_params() == 3


def test_keras_save_and_load_round_trip(tmp_path):
    inputs = keras.Input((None, None, 4))
    outputs = LateralInhibition(zone_size=5, sigma=0.8, rate=3, intensity_init=(0.1, 0.3), name="li")(inputs)
    model = keras.Model(inputs, outputs)
    model.get_layer("li").intensity.assign([0.2, 0.4, 0.6, 0.8])
    path = tmp_path / "li.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    layer = loaded.get_layer("li")
    assert (layer.zone_size, layer.sigma, layer.rate, layer.intensity_init) == (5, 0.8, 3, (0.1, 0.3))
    x = np.random.default_rng(2).normal(size=(1, 9, 9, 4)).astype(np.float32)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)
    assert layer.intensity.constraint is not None


def test_under_mixed_precision_the_inhibition_and_its_gradient_stay_float32(mixed_float16_policy):
    """At W_L = 1e-4 (where CamVid training leaves it) on ReLU6-range float16 inputs: the inhibition x - y and W_L's
    gradient under a 2^15 loss scale equal the float32 computation's. With the kernel built in float16, 1 - W_L
    exp(...) rounds to 1 (a third of the inhibition was lost, BUILD_NOTES 19.3) and the gradient overflowed."""
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 6, size=(2, 65, 65, 8)).astype(np.float16)
    upstream = rng.normal(size=x.shape).astype(np.float32) * 1e-3
    layer = LateralInhibition()
    layer.build(x.shape)
    layer.intensity.assign(np.full(8, 1e-4, np.float32))
    with tf.GradientTape() as tape:
        y = layer(x)
        scaled = tf.reduce_sum(tf.cast(y, tf.float32) * upstream) * 2.0**15
    gradient = tape.gradient(scaled, layer.intensity).numpy() / 2.0**15
    x64 = x.astype(np.float64)
    neighbours = x64 - lateral_inhibition_reference(x64, np.ones(8), 3, 1.0, 1)  # sum_u exp(-|u|^2 / 2) x(n + u)
    np.testing.assert_allclose(x64 - y.numpy(), 1e-4 * neighbours, atol=2e-6)  # float32 resolution at 6
    np.testing.assert_allclose(gradient, -np.sum(upstream * neighbours, axis=(0, 1, 2)), rtol=1e-4)
    assert layer.compute_dtype == "float32" and y.dtype == tf.float32


def test_the_rd_ablations_depthwise_conv_also_computes_in_float32(mixed_float16_policy):
    layer = inhibition_layer(InhibitionConfig(kind="rd"), "block")
    assert layer.compute_dtype == "float32"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"zone_size": 4}, "odd"),
        ({"zone_size": 1}, "odd"),
        ({"sigma": 0.0}, "sigma"),
        ({"rate": 0}, "rate"),
        ({"intensity_init": (0.5, 0.2)}, "intensity_init"),
        ({"intensity_init": (0.0, 1.5)}, "intensity_init"),
    ],
)
def test_invalid_arguments_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LateralInhibition(**kwargs)
