"""Backbones: structure (research/deeplab's atrous rule, slim layout), endpoint sizes, weight loading."""

import math
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from li_seg.backbones.pretrained import build_pretrained_backbone
from li_seg.weights import load_backbone_weights
from li_seg.backbones.input_normalization import MEAN_RGB
from li_seg.backbones.output_stride import atrous_schedule
from li_seg.backbones.resnet_plan import unit_schedule
from li_seg.config import BackboneConfig
from li_seg.layers.normalization import BatchNormSettings
from li_seg.weights import WeightsNotFoundError

BN = BatchNormSettings()
RNG = np.random.default_rng(0)


def _images(height, width, batch=1):
    return RNG.uniform(0.0, 255.0, (batch, height, width, 3)).astype("float32")


@pytest.fixture(scope="module")
def resnet50_os16():
    """research/deeplab's resnet_v1_50_beta at OS 16 with multi-grid (1, 2, 4), as in the LI-Convs paper."""
    return build_pretrained_backbone(BackboneConfig(name="resnet50", output_stride=16, multi_grid=(1, 2, 4)), BN)


@pytest.fixture(scope="module")
def keras_mnv2_h5(tmp_path_factory):
    """keras.applications' MobileNetV2 (no top) with random weights and BN statistics, saved as a legacy .h5."""
    model = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(None, None, 3))
    model.set_weights(
        [
            RNG.uniform(0.5, 1.5, w.shape).astype("float32") if "variance" in v.path else
            RNG.normal(0.0, 0.1, w.shape).astype("float32")
            for v, w in zip(model.weights, model.get_weights())
        ]
    )
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2_no_top.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(path)
    return model, str(path)


def _keras_endpoints(model):
    names = ("block_2_depthwise_relu", "block_16_project_BN")
    return keras.Model(model.input, [model.get_layer(n).output for n in names])


# research/deeplab's atrous rule.


def test_atrous_schedule_follows_research_deeplab():
    mnv2_strides = [2, 1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]  # Conv1 + 17 blocks
    os16 = atrous_schedule(mnv2_strides, 16)
    assert os16[14] == (1, 1)  # block_13: de-strided, still rate 1
    assert os16[15:] == [(1, 2)] * 3
    os8 = atrous_schedule(mnv2_strides, 8)
    assert os8[7] == (1, 1) and os8[8:14] == [(1, 2)] * 6 and os8[14] == (1, 2) and os8[15:] == [(1, 4)] * 3
    assert atrous_schedule(mnv2_strides, 32) == [(s, 1) for s in mnv2_strides]
    with pytest.raises(ValueError, match="cannot be reached"):
        atrous_schedule([2, 2], 8)


@pytest.mark.parametrize(
    "output_stride, expected",
    [(16, {"block_12": (1, 1), "block_13": (1, 1), "block_14": (1, 2), "block_16": (1, 2)}),
     (8, {"block_5": (1, 1), "block_6": (1, 1), "block_7": (1, 2), "block_13": (1, 2), "block_14": (1, 4)}),
     (32, {"block_13": (2, 1), "block_14": (1, 1)})],
)  # fmt: skip
def test_mobilenet_v2_depthwise_strides_and_rates(output_stride, expected):
    backbone = build_pretrained_backbone(BackboneConfig(output_stride=output_stride), BN)
    for block, (stride, rate) in expected.items():
        layer = backbone.get_layer(f"{block}_depthwise")
        assert (layer.strides, layer.dilation_rate) == ((stride, stride), (rate, rate)), block


def test_resnet_unit_rates_with_multi_grid():
    os16 = unit_schedule("resnet50", "slim", 16, (1, 2, 4))
    assert [s for s, _ in os16[0]] == [1, 1, 2] and [s for s, _ in os16[1]] == [1, 1, 1, 2]
    assert os16[2] == [(1, 1)] * 6  # block3 de-strided, rate still 1
    assert os16[3] == [(1, 2), (1, 4), (1, 8)]
    os8 = unit_schedule("resnet50", "slim", 8, (1, 2, 4))
    assert os8[1][-1] == (1, 1) and os8[2] == [(1, 2)] * 6 and os8[3] == [(1, 4), (1, 8), (1, 16)]
    assert unit_schedule("resnet101", "slim", 32)[3] == [(1, 1)] * 3


def test_resnet_layers_carry_the_rates(resnet50_os16):
    rates = [resnet50_os16.get_layer(f"block4_unit{u}_conv2").dilation_rate for u in (1, 2, 3)]
    assert rates == [(2, 2), (4, 4), (8, 8)]
    assert resnet50_os16.get_layer("block3_unit6_conv2").strides == (1, 1)
    assert resnet50_os16.get_layer("block2_unit4_conv2").strides == (2, 2)


# Structure.


def test_resnet_slim_layout(resnet50_os16):
    layer = resnet50_os16.get_layer
    assert [layer(n).filters for n in ("conv1_1", "conv1_2", "conv1_3")] == [64, 64, 128]
    assert layer("conv1_1").strides == (2, 2) and layer("conv1_1_pad").padding == ((1, 1), (1, 1))
    convs = [layer for layer in resnet50_os16.layers if isinstance(layer, keras.layers.Conv2D)]
    assert all(not c.use_bias for c in convs)
    bns = [layer for layer in resnet50_os16.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == len(convs) and all(b.epsilon == 1e-5 for b in bns)
    # Projection shortcut where the depth changes (unit 1), 1x1 max-pool subsampling where a unit strides.
    assert isinstance(layer("block1_unit1_shortcut"), keras.layers.Conv2D)
    assert isinstance(layer("block1_unit3_shortcut"), keras.layers.MaxPooling2D)
    assert layer("block1_unit3_shortcut").strides == (2, 2)
    assert layer("block1_unit3_conv2").strides == (2, 2) and layer("block1_unit3_conv1").strides == (1, 1)
    assert layer("block4_unit3_conv3").filters == 2048 and layer("block4_unit3_conv1").filters == 512


def test_resnet_plain_stem_and_resnet101_units():
    backbone = build_pretrained_backbone(BackboneConfig(name="resnet101", output_stride=32, stem="plain"), BN)
    conv1 = backbone.get_layer("conv1")
    assert conv1.kernel_size == (7, 7) and conv1.filters == 64 and conv1.strides == (2, 2)
    units = [layer.name for layer in backbone.layers if layer.name.endswith("_out")]
    assert len(units) == 33 and sum(n.startswith("block3_") for n in units) == 23


def test_preprocessing_inside(resnet50_os16):
    resnet_input = np.broadcast_to(np.array(MEAN_RGB, "float32"), (1, 4, 4, 3))
    np.testing.assert_allclose(resnet50_os16.get_layer("preprocess")(resnet_input), 0.0, atol=1e-5)
    mnv2 = build_pretrained_backbone(BackboneConfig(output_stride=32), BN).get_layer("preprocess")
    np.testing.assert_allclose(mnv2(np.array([[[[0.0, 127.5, 255.0]]]], "float32")), [[[[-1.0, 0.0, 1.0]]]])


@pytest.mark.parametrize(
    "name, stem, output_stride, channels",
    [("mobilenet_v2", "beta", 8, (144, 320)), ("mobilenet_v2", "beta", 16, (144, 320)),
     ("mobilenet_v2", "beta", 32, (144, 320)), ("resnet50", "plain", 8, (256, 2048)),
     ("resnet50", "beta", 16, (256, 2048)), ("resnet50", "beta", 32, (256, 2048))],
)  # fmt: skip
def test_endpoint_sizes_are_ceil_divisions(name, stem, output_stride, channels, resnet50_os16):
    config = BackboneConfig(name=name, output_stride=output_stride, stem=stem, multi_grid=None)
    backbone = resnet50_os16 if (name, output_stride) == ("resnet50", 16) else build_pretrained_backbone(config, BN)
    height, width = 33, 47
    outputs = backbone(_images(height, width))
    low, high = outputs["low_level"].shape, outputs["block4"].shape
    assert low == (1, math.ceil(height / 4), math.ceil(width / 4), channels[0])  # (1, 9, 12, C)
    assert high == (1, math.ceil(height / output_stride), math.ceil(width / output_stride), channels[1])


# Weights.


@pytest.mark.parametrize("frozen", [False, True])
def test_keras_mobilenet_v2_h5_loads_and_matches(keras_mnv2_h5, frozen):
    keras_model, path = keras_mnv2_h5
    ours = build_pretrained_backbone(BackboneConfig(output_stride=32), BatchNormSettings(frozen=frozen))
    load_backbone_weights(ours, path)
    images = _images(64, 96, batch=2)
    keras_low, keras_high = _keras_endpoints(keras_model)(images / 127.5 - 1.0)
    outputs = ours(images)
    assert float(np.abs(keras_high).max()) > 0.05  # a non-trivial comparison
    np.testing.assert_allclose(outputs["block4"], keras_high, atol=1e-5)
    np.testing.assert_allclose(outputs["low_level"], keras_low, atol=1e-5)


def test_odd_sizes_match_keras_built_for_that_size(keras_mnv2_h5):
    """keras.applications pads like SAME when it knows the input size; so do we, for every size."""
    keras_model, path = keras_mnv2_h5
    sized = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(65, 65, 3))
    sized.set_weights(keras_model.get_weights())
    ours = build_pretrained_backbone(BackboneConfig(output_stride=32, weights=path), BN)
    images = _images(65, 65)
    _, keras_high = _keras_endpoints(sized)(images / 127.5 - 1.0)
    np.testing.assert_allclose(ours(images)["block4"], keras_high, atol=1e-5)


def test_dilated_mobilenet_v2_takes_the_same_weights(keras_mnv2_h5):
    keras_model, path = keras_mnv2_h5
    ours = build_pretrained_backbone(BackboneConfig(output_stride=16, weights=path), BN)
    images = _images(64, 96)
    keras_low, _ = _keras_endpoints(keras_model)(images / 127.5 - 1.0)
    outputs = ours(images)
    assert outputs["block4"].shape == (1, 4, 6, 320)
    np.testing.assert_allclose(outputs["low_level"], keras_low, atol=1e-5)  # dilation starts after RB3


def test_keras_weights_file_and_checkpoint_round_trip(tmp_path):
    source = build_pretrained_backbone(BackboneConfig(output_stride=32), BN)
    source.set_weights([RNG.normal(size=w.shape).astype("float32") for w in source.get_weights()])
    weights_path = str(tmp_path / "mnv2.weights.h5")
    source.save_weights(weights_path)
    prefix = tf.train.Checkpoint(backbone=source).write(str(tmp_path / "ckpt" / "mnv2"))
    for path in (weights_path, prefix):
        target = build_pretrained_backbone(BackboneConfig(output_stride=16, weights=path), BN)  # same weights, other OS
        for expected, actual in zip(source.get_weights(), target.get_weights()):
            np.testing.assert_array_equal(expected, actual)


@pytest.mark.parametrize("name", ["missing.h5", "missing.weights.h5", "missing_ckpt/model"])
def test_missing_weights_name_the_path(tmp_path, name):
    path = str(tmp_path / name)
    with pytest.raises(WeightsNotFoundError, match="pass its path as --backbone_weights .*or a published name") as info:
        build_pretrained_backbone(BackboneConfig(output_stride=32, weights=path), BN)
    assert path in str(info.value)


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_weights_of_another_network_raise_value_error(tmp_path):
    other = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3, name="Conv1")])
    legacy = str(tmp_path / "other.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other.save(legacy)
    prefix = tf.train.Checkpoint(backbone=other).write(str(tmp_path / "ckpt" / "other"))
    keras_weights = str(tmp_path / "other.weights.h5")
    other.save_weights(keras_weights)
    for path in (legacy, prefix, keras_weights):
        with pytest.raises(ValueError, match="mobilenet_v2"):
            build_pretrained_backbone(BackboneConfig(output_stride=32, weights=path), BN)


# Configuration errors and BN settings.


@pytest.mark.parametrize(
    "config, message",
    [(BackboneConfig(name="vgg16"), "valid"), (BackboneConfig(output_stride=4), "output_stride"),
     (BackboneConfig(multi_grid=(1, 2, 4)), "multi_grid"),
     (BackboneConfig(name="resnet50", stem="deep"), "stem"),
     (BackboneConfig(name="resnet50", multi_grid=(1, 2)), "multi_grid")],
)  # fmt: skip
def test_bad_configs_raise(config, message):
    with pytest.raises(ValueError, match=message):
        build_pretrained_backbone(config, BN)


def test_bn_settings_reach_every_bn_layer():
    settings = BatchNormSettings(momentum=0.9997, synchronized=True, frozen=True)
    backbone = build_pretrained_backbone(BackboneConfig(output_stride=32), settings)
    bns = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 51
    assert all(b.momentum == 0.9997 and b.synchronized and not b.trainable and b.epsilon == 1e-3 for b in bns)
    assert backbone(_images(33, 33))["block4"].shape == (1, 2, 2, 320)
