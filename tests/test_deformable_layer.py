"""li_seg.layers.ModulatedDeformableConv2D: DCNv2's module around the op (tests/test_deform_conv.py checks the op)."""

import keras
import numpy as np
import tensorflow as tf

from li_seg.analysis.flops import count_flops
from li_seg.layers import collect_diagnostics
from li_seg.layers.deformable import ModulatedDeformableConv2D

RNG = np.random.default_rng(0)


def _conv(x, kernel):
    return tf.nn.conv2d(x, kernel, 1, "SAME").numpy()


def test_starts_as_a_convolution_with_every_tap_at_half_weight():
    """Zero-initialised offset / mask conv: offsets 0, mask sigmoid(0) = 0.5; the kernel is DCNv2's uniform
    +-1/sqrt(C k^2), the bias 0."""
    layer = ModulatedDeformableConv2D(5)
    x = RNG.normal(size=(2, 7, 6, 4)).astype("float32")
    y = layer(x)
    np.testing.assert_allclose(y.numpy(), 0.5 * _conv(x, layer.kernel), atol=1e-5)
    bound = 1.0 / np.sqrt(4 * 9)
    assert np.abs(layer.kernel.numpy()).max() <= bound and np.all(layer.bias.numpy() == 0)


def test_the_first_channels_of_the_offset_conv_are_dy_dx_per_tap():
    """An offset conv bias of dy = 1 on every tap (channels 0, 2, 4, ...) samples one row lower: output row r is
    the convolution's row r + 1 (the last row's reads below the map are zeros), mask 1 by a large logit."""
    layer = ModulatedDeformableConv2D(3)
    x = RNG.normal(size=(1, 6, 5, 2)).astype("float32")
    layer(x)
    bias = np.zeros(27, "float32")
    bias[0:18:2] = 1.0  # dy of each of the 9 taps
    bias[18:] = 30.0  # mask logits: sigmoid = 1
    layer.offset_conv.bias.assign(bias)
    extended = np.concatenate([x, np.zeros_like(x[:, :1])], axis=1)  # one zero row below the map
    np.testing.assert_allclose(layer(x).numpy(), _conv(extended, layer.kernel)[:, 1:], atol=1e-5)


def test_offsets_from_a_guide_learn_and_are_published():
    """Called on [features, guide]: the offset conv reads the guide (another width), receives gradient from the
    first step, and the training call's offset and mask statistics reach the diagnostics hook."""
    features = keras.Input((None, None, 4))
    guide = keras.Input((None, None, 6))
    layer = ModulatedDeformableConv2D(3, label="adc")
    model = keras.Model([features, guide], layer([features, guide]))
    x, g = RNG.normal(size=(2, 8, 8, 4)).astype("float32"), RNG.normal(size=(2, 8, 8, 6)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model([x, g], training=True) ** 2)
    gradients = dict(zip([v.path for v in model.trainable_variables],
                         tape.gradient(loss, model.trainable_variables)))
    assert np.abs(gradients[layer.offset_conv.kernel.path].numpy()).max() > 0
    published = collect_diagnostics(model)
    assert published["deformable_mask_mean/adc"] == 0.5 and published["deformable_offsets_mean_abs/adc"] == 0.0
    layer.offset_conv.bias.assign(np.full(27, 0.25, "float32"))
    model([x, g], training=False)
    assert collect_diagnostics(model)["deformable_offsets_mean_abs/adc"] == 0.0  # inference leaves them
    model([x, g], training=True)
    assert abs(collect_diagnostics(model)["deformable_offsets_mean_abs/adc"] - 0.25) < 1e-6


def test_keras_round_trip_and_flops(tmp_path):
    inputs = keras.Input((None, None, 4))
    model = keras.Model(inputs, ModulatedDeformableConv2D(6, strides=2, dilation_rate=2, deformable_groups=2)(inputs))
    for weight in model.weights:
        if weight.trainable:
            weight.assign(RNG.normal(0, 0.1, weight.shape).astype("float32"))
    x = RNG.normal(size=(1, 9, 7, 4)).astype("float32")
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "m.keras")(x).numpy(), model(x).numpy(), atol=1e-6)
    assert model(x).shape == (1, 5, 4, 6)
    # macs: offset conv (3 x 2 groups x 9 channels from 4) + deformable conv (9 x 4 -> 6), at 5 x 4 positions
    assert count_flops(model, 9, 7, "macs") == 20 * (2 * 9 * 4 * 54 + 2 * 9 * 4 * 6)
