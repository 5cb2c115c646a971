"""TF1 checkpoints into our networks (issue 15): TF-slim's real ResNets (tf-slim, optional), research/deeplab's
resnet_v1_beta and MobileNetV2 under their exact variable names, whole research/deeplab DeepLabv3 / v3+ models
and Wang & Ji's DeepLabv2, each against its reference: slim's own network, or a NumPy forward of the first layers
written from the names below (not from our tables).

Tolerance: max |ours - reference| / max |reference| <= 1e-4 (float32)."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from li_seg.backbones.pretrained import build_pretrained_backbone
from li_seg.backbones.input_normalization import MEAN_RGB
from li_seg.config import BackboneConfig
from li_seg.layers.normalization import BatchNormSettings
from li_seg.models import build_model
from li_seg.weights import MappingError, detect_format, load_model_weights
from tests.numpy_layers import batch_norm, conv2d, conv2d_same, depthwise2d, relative_error, relu, relu6
from tests.slim_reference import slim_resnet_features
from tests.weights_helpers import bn_epsilons, random_tensor, write_tf1_checkpoint

BN = BatchNormSettings()
TOLERANCE = 1e-4
RNG = np.random.default_rng(15)
BN_LEAVES = ("gamma", "beta", "moving_mean", "moving_variance")


def _images(height, width, batch=2):
    return RNG.uniform(0, 255, (batch, height, width, 3)).astype(np.float32)


def _layer_output(backbone: keras.Model, name: str, images):
    return keras.Model(backbone.input, backbone.get_layer(name).output)(images).numpy()


# TF-slim's real networks.


@pytest.mark.parametrize("depth, output_stride", [(50, 16), pytest.param(101, 8, marks=pytest.mark.slow)])
def test_tf_slim_resnet_checkpoint_matches_slims_network(tmp_path, depth, output_stride):
    images = _images(65, 81)
    prefix = str(tmp_path / f"resnet_v1_{depth}" / "model.ckpt")
    reference = slim_resnet_features(depth, images - np.array(MEAN_RGB, np.float32), output_stride, prefix)
    assert detect_format(prefix) == "tf_slim"
    config = BackboneConfig(name=f"resnet{depth}", stem="plain", output_stride=output_stride, weights=prefix)
    outputs = build_pretrained_backbone(config, BN)(images)
    for block, expected in reference.items():
        assert outputs[block].shape == expected.shape
        assert relative_error(outputs[block], expected) < TOLERANCE, block


# research/deeplab's resnet_v1_beta under its exact names (core/resnet_v1_beta.py), NumPy forward of the stem and
# of block1's first unit.


def _beta_resnet50_checkpoint() -> dict[str, np.ndarray]:
    scope, tensors = "resnet_v1_50", {}

    def conv(name, shape):
        tensors[f"{scope}/{name}/weights"] = random_tensor("weights", shape, RNG)
        for leaf in BN_LEAVES:
            tensors[f"{scope}/{name}/BatchNorm/{leaf}"] = random_tensor(leaf, shape[-1:], RNG)

    conv("conv1_1", (3, 3, 3, 64))
    conv("conv1_2", (3, 3, 64, 64))
    conv("conv1_3", (3, 3, 64, 128))
    channels = 128
    for block, units in enumerate((3, 4, 6, 3), start=1):
        inner = 64 * 2 ** (block - 1)
        for unit in range(1, units + 1):
            prefix = f"block{block}/unit_{unit}/bottleneck_v1"
            if unit == 1:
                conv(f"{prefix}/shortcut", (1, 1, channels, 4 * inner))
            conv(f"{prefix}/conv1", (1, 1, channels, inner))
            conv(f"{prefix}/conv2", (3, 3, inner, inner))
            conv(f"{prefix}/conv3", (1, 1, inner, 4 * inner))
            channels = 4 * inner
    tensors["global_step"] = np.int64(30000)
    return tensors


def _slim_conv_bn(x, tensors, name, stride=1, activation=relu, epsilon=1e-5):
    y = conv2d_same(x, tensors[f"{name}/weights"], stride)
    y = batch_norm(y, *(tensors[f"{name}/BatchNorm/{leaf}"] for leaf in BN_LEAVES), epsilon)
    return activation(y) if activation else y


def test_research_deeplab_beta_checkpoint_matches_a_numpy_forward(tmp_path):
    tensors = _beta_resnet50_checkpoint()
    prefix = write_tf1_checkpoint(tensors, str(tmp_path / "resnet_v1_50_beta" / "model.ckpt"))
    config = BackboneConfig(name="resnet50", stem="beta", output_stride=16, multi_grid=(1, 2, 4),
                            normalization="unit_range", weights=prefix)
    backbone = build_pretrained_backbone(config, BN)
    images = _images(33, 47)
    x = images / 127.5 - 1.0  # research/deeplab's _preprocess_zero_mean_unit_range for the beta variants
    scope = "resnet_v1_50"
    for index, stride in ((1, 2), (2, 1), (3, 1)):
        x = _slim_conv_bn(x, tensors, f"{scope}/conv1_{index}", stride)
    assert relative_error(backbone(images)["stem"], x) < TOLERANCE
    pooled = _layer_output(backbone, "pool1", images)  # the max-pool is ours; the unit below is checked
    unit = f"{scope}/block1/unit_1/bottleneck_v1"
    shortcut = _slim_conv_bn(pooled, tensors, f"{unit}/shortcut", activation=None)
    residual = _slim_conv_bn(pooled, tensors, f"{unit}/conv1")
    residual = _slim_conv_bn(residual, tensors, f"{unit}/conv2")
    residual = _slim_conv_bn(residual, tensors, f"{unit}/conv3", activation=None)
    expected = relu(shortcut + residual)
    assert relative_error(_layer_output(backbone, "block1_unit1_out", images), expected) < TOLERANCE


# research/slim's MobileNetV2 under research/deeplab's names (scope MobilenetV2).


def _mobilenet_v2_checkpoint() -> dict[str, np.ndarray]:
    tensors = {}

    def add(name, shape, depthwise=False):
        tensors[f"MobilenetV2/{name}/{'depthwise_weights' if depthwise else 'weights'}"] = random_tensor(
            "weights", shape, RNG)
        for leaf in BN_LEAVES:
            tensors[f"MobilenetV2/{name}/BatchNorm/{leaf}"] = random_tensor(leaf, shape[2:3] if depthwise
                                                                             else shape[-1:], RNG)

    add("Conv", (3, 3, 3, 32))
    add("expanded_conv/depthwise", (3, 3, 32, 1), depthwise=True)
    add("expanded_conv/project", (1, 1, 32, 16))
    channels = 16
    outputs = (24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320)
    for index, out in enumerate(outputs, start=1):
        add(f"expanded_conv_{index}/expand", (1, 1, channels, 6 * channels))
        add(f"expanded_conv_{index}/depthwise", (3, 3, 6 * channels, 1), depthwise=True)
        add(f"expanded_conv_{index}/project", (1, 1, 6 * channels, out))
        channels = out
    add("Conv_1", (1, 1, 320, 1280))  # built by slim, not by DeepLab: ignored by name
    return tensors


def _dw_bn(x, tensors, name, epsilon=1e-3):
    y = depthwise2d(x, tensors[f"{name}/depthwise_weights"])
    return relu6(batch_norm(y, *(tensors[f"{name}/BatchNorm/{leaf}"] for leaf in BN_LEAVES), epsilon))


def test_research_deeplab_mobilenet_v2_checkpoint_matches_a_numpy_forward(tmp_path):
    tensors = _mobilenet_v2_checkpoint()
    prefix = write_tf1_checkpoint(tensors, str(tmp_path / "mnv2" / "model.ckpt"))
    backbone = build_pretrained_backbone(BackboneConfig(output_stride=16, weights=prefix), BN)
    images = _images(32, 48)  # even: TF SAME pads the stride-2 conv (0, 1)
    x = images / 127.5 - 1.0
    x = conv2d(x, tensors["MobilenetV2/Conv/weights"], stride=2, pad=(0, 1))  # TF SAME, stride 2, even size
    x = relu6(batch_norm(x, *(tensors[f"MobilenetV2/Conv/BatchNorm/{leaf}"] for leaf in BN_LEAVES), 1e-3))
    assert relative_error(backbone(images)["stem"], x) < TOLERANCE
    y = _dw_bn(x, tensors, "MobilenetV2/expanded_conv/depthwise")
    y = _slim_conv_bn(y, tensors, "MobilenetV2/expanded_conv/project", activation=None, epsilon=1e-3)
    assert relative_error(_layer_output(backbone, "expanded_conv_project_BN", images), y) < TOLERANCE


# Whole research/deeplab models (core/model.py's names; no scope).


def _deeplab_head(classes, atrous=3, decoder=True, low_level=144, features=320) -> dict[str, np.ndarray]:
    tensors = {}

    def add(name, shape, leaf="weights", bn=True):
        tensors[f"{name}/{leaf}"] = random_tensor(leaf, shape, RNG)
        channels = shape[2] if leaf == "depthwise_weights" else shape[-1]
        for bn_leaf in BN_LEAVES if bn else ():
            tensors[f"{name}/BatchNorm/{bn_leaf}"] = random_tensor(bn_leaf, (channels,), RNG)

    add("image_pooling", (1, 1, features, 256))
    add("aspp0", (1, 1, features, 256))
    for i in range(1, atrous + 1):
        add(f"aspp{i}_depthwise", (3, 3, features, 1), leaf="depthwise_weights")
        add(f"aspp{i}_pointwise", (1, 1, features, 256))
    add("concat_projection", (1, 1, 256 * (2 + atrous), 256))
    if decoder:
        add("decoder/feature_projection0", (1, 1, low_level, 48))
        for i, channels in enumerate((304, 256)):
            add(f"decoder/decoder_conv{i}_depthwise", (3, 3, channels, 1), leaf="depthwise_weights")
            add(f"decoder/decoder_conv{i}_pointwise", (1, 1, channels, 256))
    tensors["logits/semantic/weights"] = random_tensor("weights", (1, 1, 256, classes), RNG)
    tensors["logits/semantic/biases"] = random_tensor("biases", (classes,), RNG)
    return tensors


def _deeplab_model(architecture, rates, classes=5):
    from li_seg.config import ModelConfig
    from li_seg.models.deeplab import DeepLabConfig

    config = ModelConfig(architecture=architecture, backbone=BackboneConfig(output_stride=16),
                         head=DeepLabConfig(atrous_rates=rates))
    return build_model(config, classes)


def _value(model, layer, variable):
    found = [v for v in model.weights if v.path.endswith(f"{layer}/{variable}")]
    assert len(found) == 1, (layer, variable)
    return found[0].numpy()


def test_whole_research_deeplab_v3plus_checkpoint_round_trips(tmp_path):
    tensors = {**_mobilenet_v2_checkpoint(), **_deeplab_head(5)}
    tensors["aspp0/weights/Momentum"] = np.zeros((1, 1, 320, 256), np.float32)  # optimizer state: ignored
    tensors["global_step"] = np.int64(30000)
    prefix = write_tf1_checkpoint(tensors, str(tmp_path / "deeplab" / "model.ckpt-30000"))
    model = _deeplab_model("deeplabv3plus", (6, 12, 18))
    load_model_weights(model, prefix)
    expected = {  # our variable <- research/deeplab's, every kind of variable of the head and decoder
        ("aspp_image_pooling", "kernel"): "image_pooling/weights",
        ("aspp_image_pooling_bn", "moving_variance"): "image_pooling/BatchNorm/moving_variance",
        ("aspp0", "kernel"): "aspp0/weights",
        ("aspp2_depthwise", "kernel"): "aspp2_depthwise/depthwise_weights",
        ("aspp2_depthwise_bn", "gamma"): "aspp2_depthwise/BatchNorm/gamma",
        ("aspp3_pointwise", "kernel"): "aspp3_pointwise/weights",
        ("aspp3_pointwise_bn", "beta"): "aspp3_pointwise/BatchNorm/beta",
        ("aspp_concat_projection", "kernel"): "concat_projection/weights",
        ("aspp_concat_projection_bn", "moving_mean"): "concat_projection/BatchNorm/moving_mean",
        ("decoder_feature_projection", "kernel"): "decoder/feature_projection0/weights",
        ("decoder_feature_projection_bn", "gamma"): "decoder/feature_projection0/BatchNorm/gamma",
        ("decoder_conv0_depthwise", "kernel"): "decoder/decoder_conv0_depthwise/depthwise_weights",
        ("decoder_conv1_pointwise", "kernel"): "decoder/decoder_conv1_pointwise/weights",
        ("decoder_conv1_pointwise_bn", "moving_variance"): "decoder/decoder_conv1_pointwise/BatchNorm/moving_variance",
        ("logits", "kernel"): "logits/semantic/weights",
        ("logits", "bias"): "logits/semantic/biases",
        ("Conv1", "kernel"): "MobilenetV2/Conv/weights",
        ("block_16_project_BN", "moving_mean"): "MobilenetV2/expanded_conv_16/project/BatchNorm/moving_mean",
    }
    for (layer, variable), source in expected.items():
        np.testing.assert_array_equal(_value(model, layer, variable), tensors[source])
    assert bn_epsilons(model.get_layer("mobilenet_v2")) == {1e-3}  # the backbone's, beside the head's 1e-5
    assert model.get_layer("aspp0_bn").epsilon == 1e-5


def test_published_mobilenet_v2_voc_head_loads(tmp_path):
    """research/deeplab's MobileNetV2 VOC models have no atrous branch and no decoder: image pooling + 1x1,
    concat_projection 512 -> 256, logits."""
    tensors = {**_mobilenet_v2_checkpoint(), **_deeplab_head(21, atrous=0, decoder=False)}
    prefix = write_tf1_checkpoint(tensors, str(tmp_path / "mnv2_voc" / "model.ckpt-30000"))
    model = _deeplab_model("deeplabv3", (), classes=21)
    load_model_weights(model, prefix)
    np.testing.assert_array_equal(_value(model, "aspp_concat_projection", "kernel"),
                                  tensors["concat_projection/weights"])


@pytest.mark.parametrize("change, named", [
    ("drop", "decoder/decoder_conv1_pointwise/weights"),
    ("extra", "aspp4_depthwise/depthwise_weights"),
    ("reshape", "logits/semantic/weights"),
])
def test_a_wrong_whole_checkpoint_names_the_variable_and_loads_nothing(tmp_path, change, named):
    tensors = {**_mobilenet_v2_checkpoint(), **_deeplab_head(5)}
    if change == "drop":
        del tensors[named]
    elif change == "extra":
        tensors[named] = random_tensor("weights", (3, 3, 320, 1), RNG)
    else:
        tensors[named] = random_tensor("weights", (1, 1, 256, 21), RNG)
    prefix = write_tf1_checkpoint(tensors, str(tmp_path / "bad" / "model.ckpt"))
    model = _deeplab_model("deeplabv3plus", (6, 12, 18))
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(MappingError, match="nothing was loaded") as info:
        load_model_weights(model, prefix)
    assert named in str(info.value)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


# Wang & Ji's TF DeepLabv2 ResNet-101 (Caffe's names; network.py), into the smoothing paper's DeepLabv2.

WANG_JI_MEAN_BGR = (104.00698793, 116.66876762, 122.67891434)  # their IMG_MEAN


def _wang_ji_checkpoint(classes=21) -> dict[str, np.ndarray]:
    tensors = {}

    def conv_bn(conv, bn, shape):
        tensors[f"{conv}/weights"] = random_tensor("weights", shape, RNG)
        for leaf in BN_LEAVES:
            tensors[f"{bn}/{leaf}"] = random_tensor(leaf, shape[-1:], RNG)

    conv_bn("conv1", "bn_conv1", (7, 7, 3, 64))
    channels = 64
    for stage, units in zip((2, 3, 4, 5), (3, 4, 23, 3)):
        inner = 64 * 2 ** (stage - 2)
        names = ["a", "b", "c"] if units == 3 else ["a"] + [f"b{i}" for i in range(1, units)]
        for name in names:
            unit = f"{stage}{name}"
            if name == "a":
                conv_bn(f"res{unit}_branch1", f"bn{unit}_branch1", (1, 1, channels, 4 * inner))
            conv_bn(f"res{unit}_branch2a", f"bn{unit}_branch2a", (1, 1, channels, inner))
            conv_bn(f"res{unit}_branch2b", f"bn{unit}_branch2b", (3, 3, inner, inner))
            conv_bn(f"res{unit}_branch2c", f"bn{unit}_branch2c", (1, 1, inner, 4 * inner))
            channels = 4 * inner
    for c in range(4):
        tensors[f"fc1_voc12_c{c}/weights"] = random_tensor("weights", (3, 3, 2048, classes), RNG)
        tensors[f"fc1_voc12_c{c}/biases"] = random_tensor("biases", (classes,), RNG)
    return tensors


def _caffe_conv_bn(x, tensors, conv, bn, stride=1, activation=relu):
    y = conv2d_same(x, tensors[f"{conv}/weights"], stride)
    return activation(batch_norm(y, *(tensors[f"{bn}/{leaf}"] for leaf in BN_LEAVES), 1e-3))


@pytest.fixture(scope="module")
def wang_ji(tmp_path_factory):
    tensors = _wang_ji_checkpoint()
    prefix = write_tf1_checkpoint(tensors, str(tmp_path_factory.mktemp("wang_ji") / "deeplab_resnet_init.ckpt"))
    return tensors, prefix


def test_wang_ji_deeplabv2_loads_whole_into_the_smoothing_model(wang_ji):
    from experiments.papers import get_experiment

    tensors, prefix = wang_ji
    assert detect_format(prefix) == "deeplabv2_tf"
    model = build_model(get_experiment("smoothing", "deeplabv2").model, 21)
    load_model_weights(model, prefix)
    for rate, index in zip((6, 12, 18, 24), range(4)):
        np.testing.assert_array_equal(_value(model, f"logits_rate{rate}", "kernel"),
                                      tensors[f"fc1_voc12_c{index}/weights"])
        np.testing.assert_array_equal(_value(model, f"logits_rate{rate}", "bias"),
                                      tensors[f"fc1_voc12_c{index}/biases"])
    np.testing.assert_array_equal(_value(model, "block3_unit23_conv2", "kernel"), tensors["res4b22_branch2b/weights"])
    np.testing.assert_array_equal(_value(model, "block4_unit1_shortcut_bn",
                                         "moving_variance"), tensors["bn5a_branch1/moving_variance"])


def test_wang_ji_backbone_matches_a_numpy_forward_of_caffes_layout(wang_ji):
    from experiments.papers import get_experiment

    tensors, prefix = wang_ji
    config = dataclasses.replace(get_experiment("smoothing", "deeplabv2").model.backbone, weights=prefix)
    backbone = build_pretrained_backbone(config, BN)  # backbone alone: the classifier is ignored
    assert bn_epsilons(backbone) == {1e-3}
    images = _images(41, 57)  # odd: TF SAME equals Caffe's padding (Wang & Ji pad with SAME)
    x = images[..., ::-1] - np.array(WANG_JI_MEAN_BGR)
    x = _caffe_conv_bn(x, tensors, "conv1", "bn_conv1", stride=2)
    assert relative_error(backbone(images)["stem"], x) < TOLERANCE
    pooled = _layer_output(backbone, "pool1", images)
    y = _caffe_conv_bn(pooled, tensors, "res2a_branch2a", "bn2a_branch2a")
    y = _caffe_conv_bn(y, tensors, "res2a_branch2b", "bn2a_branch2b")
    y = _caffe_conv_bn(y, tensors, "res2a_branch2c", "bn2a_branch2c", activation=lambda v: v)
    shortcut = _caffe_conv_bn(pooled, tensors, "res2a_branch1", "bn2a_branch1", activation=lambda v: v)
    assert relative_error(_layer_output(backbone, "block1_unit1_out", images), relu(y + shortcut)) < TOLERANCE
    # block2's first unit strides on its first 1x1 conv (Caffe's res3a_branch2a, stride 2)
    block1 = _layer_output(backbone, "block1_unit3_out", images)
    z = _caffe_conv_bn(block1, tensors, "res3a_branch2a", "bn3a_branch2a", stride=2)
    assert relative_error(_layer_output(backbone, "block2_unit1_conv1_relu", images), z) < TOLERANCE


# Layers the papers add (LI, smoothing) are in no pretrained file: they keep their initialisation.


def test_li_mobilenet_v2_loads_imagenet_weights_and_keeps_its_lateral_inhibitions(tmp_path):
    from experiments.papers import get_experiment

    tensors = _mobilenet_v2_checkpoint()
    prefix = write_tf1_checkpoint(tensors, str(tmp_path / "mnv2" / "model.ckpt"))
    config = dataclasses.replace(get_experiment("li_convs", "li_mnv2_li_aspp").model.backbone, weights=prefix)
    backbone = build_pretrained_backbone(config, BN)
    fresh = build_pretrained_backbone(dataclasses.replace(config, weights=None), BN)
    inhibitions = [layer.name for layer in backbone.layers if layer.name.endswith("_lateral_inhibition")]
    assert inhibitions == ["block_9_lateral_inhibition", "block_12_lateral_inhibition", "block_15_lateral_inhibition"]
    for name in inhibitions:
        for loaded, initial in zip(backbone.get_layer(name).get_weights(), fresh.get_layer(name).get_weights()):
            np.testing.assert_array_equal(loaded, initial)
    np.testing.assert_array_equal(backbone.get_layer("block_9_depthwise").get_weights()[0],
                                  tensors["MobilenetV2/expanded_conv_9/depthwise/depthwise_weights"])


def test_a_smoothing_model_starts_from_the_whole_coco_deeplabv2(wang_ji):
    from experiments.papers import get_experiment
    from li_seg.training.checkpoints import restore_model

    tensors, prefix = wang_ji
    model = build_model(get_experiment("smoothing", "ss_conv").model, 21)
    initial = {v.path: v.numpy() for v in model.weights if "_ss_conv/" in v.path}
    assert len(initial) == 26  # one shared filter per smoothed conv2 of block3 and block4
    restore_model(model, prefix)  # what --init_checkpoint does
    for variable in model.weights:
        if variable.path in initial:
            np.testing.assert_array_equal(variable.numpy(), initial[variable.path])
    np.testing.assert_array_equal(_value(model, "logits_rate24", "kernel"), tensors["fc1_voc12_c3/weights"])
