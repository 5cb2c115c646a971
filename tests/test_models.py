"""DeepLab v2 / v3 / v3+: the LI-Convs paper's exact parameter counts, output sizes, BN settings, mixed precision."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from li_seg.config import BackboneConfig, ModelConfig
from li_seg.layers.aspp import aspp_v2, aspp_v3
from li_seg.layers.normalization import BatchNormSettings
from li_seg.layers.resize import ResizeToMatch
from li_seg.models import build_model
from li_seg.models.deeplab import DeepLabConfig

NUM_CLASSES = 21
RESNET50_OS16 = BackboneConfig(name="resnet50", output_stride=16, multi_grid=(1, 2, 4))
CONFIGS = {
    "mnv2_v3": ModelConfig(),  # separable ASPP 6/12/18 with image pooling (LI-Convs Table IV baseline)
    "r50_v3": ModelConfig(backbone=RESNET50_OS16),  # Table V baseline
    "r50_v3plus": ModelConfig(architecture="deeplabv3plus", backbone=RESNET50_OS16),  # Table V with decoder
    "r101_v2": ModelConfig(
        architecture="deeplabv2",
        backbone=BackboneConfig(name="resnet101", output_stride=8, stem="plain"),
        head=DeepLabConfig(atrous_rates=(6, 12, 18, 24)),
    ),
}
RNG = np.random.default_rng(0)


def count_trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def _images(height, width):
    return RNG.uniform(0.0, 255.0, (1, height, width, 3)).astype("float32")


@pytest.fixture(scope="module")
def built():
    """Each big model built once per module, on first use."""
    cache = {}

    def get(key):
        if key not in cache:
            cache[key] = build_model(CONFIGS[key], NUM_CLASSES)
        return cache[key]

    return get


@pytest.mark.parametrize(
    "key, expected", [("mnv2_v3", 2_568_021), ("r50_v3", 26_656_981), ("r50_v3plus", 26_819_909)]
)
def test_trainable_parameters_match_the_li_convs_paper(built, key, expected):
    model = built(key)
    assert count_trainable(model) == expected
    assert model.name == CONFIGS[key].architecture


@pytest.mark.parametrize("key", ["mnv2_v3", "r50_v3plus", "r101_v2"])
@pytest.mark.parametrize("size", [(65, 97), (33, 47)])
def test_logits_have_the_input_size(built, key, size):
    logits = built(key)(_images(*size))
    assert logits.shape == (1, *size, NUM_CLASSES)
    assert logits.dtype == tf.float32
    assert np.isfinite(logits.numpy()).all()


def test_deeplabv2_head_is_four_summed_convs_to_the_classes(built):
    model = built("r101_v2")
    head = count_trainable(model) - count_trainable(model.get_layer("resnet101"))
    assert head == 4 * (9 * 2048 * NUM_CLASSES + NUM_CLASSES)
    rates = [model.get_layer(f"logits_rate{r}").dilation_rate for r in (6, 12, 18, 24)]
    assert rates == [(6, 6), (12, 12), (18, 18), (24, 24)]
    assert all(model.get_layer(f"logits_rate{r}").use_bias for r in (6, 12, 18, 24))


def test_non_separable_aspp_and_decoder_counts():
    head = DeepLabConfig(aspp_separable=False, decoder_separable=False)
    config = ModelConfig(architecture="deeplabv3plus", head=head)
    model = build_model(config, NUM_CLASSES)
    bn = 2 * 256  # gamma + beta of a 256-channel BN
    aspp = 2 * (320 * 256 + bn) + 3 * (9 * 320 * 256 + bn) + (5 * 256 * 256 + bn)
    decoder = (144 * 48 + 2 * 48) + (9 * (256 + 48) * 256 + bn) + (9 * 256 * 256 + bn)
    logits = 256 * NUM_CLASSES + NUM_CLASSES
    backbone = count_trainable(model.get_layer("mobilenet_v2"))
    assert count_trainable(model) == backbone + aspp + decoder + logits
    assert model(_images(33, 47)).shape == (1, 33, 47, NUM_CLASSES)


def test_unknown_architecture_lists_the_valid_ones():
    with pytest.raises(ValueError, match="deeplabv3plus"):
        build_model(ModelConfig(architecture="fcn"), NUM_CLASSES)


# BN settings.


def _bn_layers(model):
    nested = [model] + [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return [layer for m in nested for layer in m.layers if isinstance(layer, keras.layers.BatchNormalization)]


def test_default_bn_momentum_is_0_99(built):
    assert {b.momentum for b in _bn_layers(built("mnv2_v3"))} == {0.99}


def test_frozen_bn_is_untrained_and_in_inference_mode():
    model = build_model(ModelConfig(frozen_bn=True, head=DeepLabConfig(dropout_rate=0.0)), NUM_CLASSES)
    bns = _bn_layers(model)
    assert bns and not any(b.trainable for b in bns)
    gamma_beta = sum(2 * b.gamma.shape[0] for b in bns)
    assert count_trainable(model) == 2_568_021 - gamma_beta
    images = _images(33, 33)
    moving_mean = bns[0].moving_mean.numpy()
    np.testing.assert_allclose(model(images, training=True), model(images, training=False), atol=1e-5)
    np.testing.assert_array_equal(bns[0].moving_mean.numpy(), moving_mean)


def test_sync_bn_and_momentum_reach_every_bn_layer():
    model = build_model(ModelConfig(architecture="deeplabv3plus", sync_bn=True, bn_momentum=0.9997), NUM_CLASSES)
    bns = _bn_layers(model)
    assert all(b.synchronized and b.momentum == 0.9997 and b.trainable for b in bns)
    assert model(_images(33, 47), training=True).shape == (1, 33, 47, NUM_CLASSES)


def test_mixed_float16_logits_are_float32(mixed_float16_policy):
    model = build_model(ModelConfig(architecture="deeplabv3plus"), NUM_CLASSES)
    assert model.get_layer("logits").compute_dtype == "float16"
    logits = model(_images(33, 47))
    assert logits.dtype == tf.float32 and logits.shape == (1, 33, 47, NUM_CLASSES)


def test_model_config_round_trip(built):
    model = built("mnv2_v3")
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    images = _images(33, 47)
    np.testing.assert_allclose(clone(images), model(images), atol=1e-5)


# ASPP builders.


def test_aspp_v2_sums_the_rates():
    features = keras.Input((None, None, 8))
    model = keras.Model(features, aspp_v2(features, 3, rates=(2, 4)))
    assert count_trainable(model) == 2 * (9 * 8 * 3 + 3)
    x = RNG.normal(size=(1, 9, 9, 8)).astype("float32")
    branches = [model.get_layer(f"logits_rate{r}")(x) for r in (2, 4)]
    np.testing.assert_allclose(model(x), branches[0] + branches[1], atol=1e-5)


@pytest.mark.parametrize("separable", [True, False])
def test_pre_atrous_goes_in_front_of_each_atrous_conv(separable):
    calls = []

    def pre_atrous(x, prefix, rate):
        calls.append((prefix, rate))
        return keras.layers.Identity(name=f"{prefix}_pre")(x)

    features = keras.Input((None, None, 16))
    outputs = aspp_v3(features, BatchNormSettings(), channels=8, separable=separable, image_pooling=False,
                      pre_atrous=pre_atrous)  # fmt: skip
    model = keras.Model(features, outputs)
    assert calls == [("aspp1", 6), ("aspp2", 12), ("aspp3", 18)]
    atrous = model.get_layer("aspp2_depthwise" if separable else "aspp2")
    assert atrous.dilation_rate == (12, 12)
    assert atrous.input is model.get_layer("aspp2_pre").output
    assert [layer.name for layer in model.layers].count("aspp_image_pooling") == 0
    assert model(RNG.normal(size=(1, 5, 7, 16)).astype("float32")).shape == (1, 5, 7, 8)


def test_resize_to_match_is_tf_image_resize():
    x = RNG.normal(size=(2, 3, 5, 4)).astype("float32")
    reference = np.zeros((2, 11, 7, 1), "float32")
    np.testing.assert_allclose(ResizeToMatch()([x, reference]), tf.image.resize(x, (11, 7)), atol=1e-6)
    assert keras.saving.get_registered_object("li_seg>ResizeToMatch") is ResizeToMatch
