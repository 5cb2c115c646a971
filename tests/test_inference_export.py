"""Multi-scale / flipped inference, label-map colouring, and the SavedModel serving signature."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from li_seg.evaluation.inference import predict_probabilities
from li_seg.evaluation.visualization import colorize, overlay
from li_seg.export.saved_model import export_saved_model

NUM_CLASSES = 3


class _XRamp(keras.layers.Layer):
    """Adds the column index times a per-class weight: the output depends on horizontal position."""

    def call(self, logits):
        width = tf.shape(logits)[2]
        ramp = tf.cast(tf.range(width), logits.dtype)[None, None, :, None]
        return logits + ramp * tf.constant([0.3, -0.2, 0.1], logits.dtype)


def _model(position_dependent=False):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)  # the model normalises raw pixels itself
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(NUM_CLASSES, 1)(x)
    if position_dependent:
        x = _XRamp()(x)
    return keras.Model(inputs, x)


def _images(shape=(2, 9, 14, 3), seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=shape).astype(np.float32)


def test_single_scale_is_softmax_of_the_model():
    model, images = _model(), _images()
    probabilities = predict_probabilities(model, images)
    assert probabilities.shape == (2, 9, 14, NUM_CLASSES) and probabilities.dtype == tf.float32
    np.testing.assert_allclose(probabilities, tf.nn.softmax(model(images, training=False)), atol=1e-6)


def test_flipped_probabilities_are_flipped_back():
    model, images = _model(position_dependent=True), _images()
    plain = tf.nn.softmax(model(images))
    mirrored = tf.nn.softmax(model(images[:, :, ::-1]))
    expected = (plain + mirrored[:, :, ::-1]) / 2
    got = predict_probabilities(model, images, add_flipped_images=True)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # Without the flip-back the average would differ: the test can tell the two apart.
    assert np.abs(((plain + mirrored) / 2 - expected).numpy()).max() > 0.05


def test_multi_scale_average_equals_manual_average():
    model, images = _model(), _images()
    expected = []
    for scale, size in ((0.5, (5, 7)), (1.0, (9, 14)), (1.75, (16, 25))):  # round-half-up(scale * (9, 14))
        logits = model(tf.image.resize(images, size, method="bilinear"))
        expected.append(tf.nn.softmax(tf.image.resize(logits, (9, 14), method="bilinear")))
    got = predict_probabilities(model, images, scales=(0.5, 1.0, 1.75))
    np.testing.assert_allclose(got, sum(expected) / 3, atol=1e-6)


def test_saved_model_serving_signature_any_size(tmp_path):
    model = _model()
    export_saved_model(model, str(tmp_path))
    serving = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]
    for shape in ((1, 8, 12, 3), (2, 5, 7, 3)):
        images = _images(shape, seed=shape[1]).astype(np.uint8)
        outputs = serving(images=tf.constant(images))
        reference = tf.nn.softmax(model(images.astype(np.float32), training=False))
        assert outputs["classes"].dtype == tf.int32 and outputs["classes"].shape == shape[:3]
        np.testing.assert_allclose(outputs["probabilities"], reference, atol=1e-5)
        np.testing.assert_array_equal(outputs["classes"], tf.argmax(reference, axis=-1))


def test_colorize_exact_colours_ignore_white():
    palette = [[10, 20, 30], [40, 50, 60]]
    colours = colorize(np.array([[[0], [1]], [[255], [0]]]), palette)
    assert colours.dtype == np.uint8
    assert colours.tolist() == [[[10, 20, 30], [40, 50, 60]], [[255, 255, 255], [10, 20, 30]]]
    with pytest.raises(ValueError, match="palette"):
        colorize(np.array([[2]]), palette)


def test_overlay_blends_exactly():
    image = np.full((1, 2, 3), 100, np.uint8)
    colours = np.array([[[200, 0, 50], [100, 100, 100]]], np.uint8)
    assert overlay(image, colours, alpha=0.25).tolist() == [[[125, 75, 88], [100, 100, 100]]]
    np.testing.assert_array_equal(overlay(image, colours, alpha=0.0), image)
