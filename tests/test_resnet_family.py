"""The ResNet family of the five papers' authors: depths 18-152 (parameter counts equal torchvision's), the slim,
torchvision and caffe stride layouts (where each puts its strides, feature sizes at odd input sizes, how each
dilates), stems, input normalisations, per-unit hooks, and two backbones of one kind in one model."""

import dataclasses
import math

import keras
import numpy as np
import pytest

from li_seg.backbones import backbone_errors, build_backbone, endpoint_strides
from li_seg.backbones.input_normalization import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD, MEAN_RGB
from li_seg.backbones.resnet_plan import unit_schedule
from li_seg.config import BackboneConfig, InhibitionConfig
from li_seg.layers.normalization import BatchNormSettings
from li_seg.layers.unit_hook import UnitHook

BN = BatchNormSettings()
RNG = np.random.default_rng(0)
# torchvision's totals (11,689,512 / 21,797,672 / 25,557,032 / 44,549,160 / 60,192,808) minus the 1000-way fc.
TORCHVISION_WITHOUT_FC = {"resnet18": 11_176_512, "resnet34": 21_284_672, "resnet50": 23_508_032,
                          "resnet101": 42_500_160, "resnet152": 58_143_808}


def _count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def _resnet(name="resnet50", layout="torchvision", stem="plain", output_stride=32, **kwargs):
    return build_backbone(BackboneConfig(name=name, layout=layout, stem=stem, output_stride=output_stride, **kwargs),
                          BN)


@pytest.mark.parametrize("name", list(TORCHVISION_WITHOUT_FC))
def test_parameters_equal_torchvisions(name):
    assert _count(_resnet(name)) == TORCHVISION_WITHOUT_FC[name]


@pytest.mark.parametrize("layout", ["slim", "caffe"])
@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_layouts_move_strides_not_parameters(name, layout):
    assert _count(_resnet(name, layout)) == TORCHVISION_WITHOUT_FC[name]


def test_deep_stems_by_hand():
    """mmsegmentation's ResNetV1c stem (32-32-64) and PyTorch-Encoding's deep base (64-64-128), ResNet-50."""
    plain_stem = 7 * 7 * 3 * 64 + 2 * 64
    v1c_stem = 9 * 3 * 32 + 2 * 32 + 9 * 32 * 32 + 2 * 32 + 9 * 32 * 64 + 2 * 64
    assert _count(_resnet(stem="beta", stem_widths=(32, 32, 64))) == 23_508_032 - plain_stem + v1c_stem
    deep_stem = 9 * 3 * 64 + 2 * 64 + 9 * 64 * 64 + 2 * 64 + 9 * 64 * 128 + 2 * 128
    wider_block1 = (128 - 64) * 256 + (128 - 64) * 64  # block1 unit1 reads 128 channels: shortcut and conv1
    assert _count(_resnet(stem="beta")) == 23_508_032 - plain_stem + deep_stem + wider_block1


# Where the strides sit: feature sizes per endpoint at an odd input size (33 x 47).

EXPECTED_SIZES = {
    # slim: SAME max-pool, block1-3 end with their stride, so block1 is at stride 8.
    "slim": {"stem": (17, 24), "low_level": (9, 12), "block1": (5, 6), "block2": (3, 3), "block3": (2, 2),
             "block4": (2, 2)},
    # torchvision: max-pool padded by 1 (floor mode), blocks 2-4 start with their stride.
    "torchvision": {"stem": (17, 24), "low_level": (9, 12), "block1": (9, 12), "block2": (5, 6), "block3": (3, 3),
                    "block4": (2, 2)},
    # caffe: the max-pool's ceil mode keeps floor(24 / 2) + 1 = 13 columns; then 1x1 stride-2 convs.
    "caffe": {"stem": (17, 24), "low_level": (9, 13), "block1": (9, 13), "block2": (5, 7), "block3": (3, 4),
              "block4": (2, 2)},
}
STRIDED = {  # the layer that carries block2's stride, and one that does not
    "slim": ("block1_unit3_conv2", "block2_unit1_conv2"),
    "torchvision": ("block2_unit1_conv2", "block2_unit1_conv1"),
    "caffe": ("block2_unit1_conv1", "block2_unit1_conv2"),
}


@pytest.mark.parametrize("layout", list(EXPECTED_SIZES))
def test_each_layout_puts_its_strides_where_its_name_says(layout):
    backbone = _resnet("resnet50", layout)
    outputs = backbone(RNG.uniform(0, 255, (1, 33, 47, 3)).astype("float32"))
    sizes = {name: tuple(outputs[name].shape[1:3]) for name in EXPECTED_SIZES[layout]}
    assert sizes == EXPECTED_SIZES[layout]
    assert outputs["input"].shape == (1, 33, 47, 3)
    strided, plain = STRIDED[layout]
    assert backbone.get_layer(strided).strides == (2, 2) and backbone.get_layer(plain).strides == (1, 1)
    strides = endpoint_strides(BackboneConfig(name="resnet50", layout=layout, output_stride=32))
    if layout != "caffe":  # ceil(H / stride) everywhere but the caffe max-pool's ceil mode
        assert sizes == {name: (math.ceil(33 / strides[name]), math.ceil(47 / strides[name])) for name in sizes}


def test_basic_units_stride_their_first_conv_and_dilate_their_second():
    backbone = _resnet("resnet18", "caffe", output_stride=8)
    layer = backbone.get_layer
    assert layer("block2_unit1_conv1").strides == (2, 2) and layer("block2_unit1_conv2").strides == (1, 1)
    assert [layer(f"block3_unit{u}_conv1").dilation_rate for u in (1, 2)] == [(1, 1)] * 2
    assert [layer(f"block3_unit{u}_conv2").dilation_rate for u in (1, 2)] == [(2, 2)] * 2
    assert [layer(f"block4_unit{u}_conv2").dilation_rate for u in (1, 2)] == [(4, 4)] * 2
    assert not any(name.endswith("conv3") for name in (lay.name for lay in backbone.layers))


def test_dilation_rules_per_layout():
    """OS 8: torchvision's replace_stride_with_dilation (a dilated block's first unit keeps the previous rate),
    caffe's DeepLabv2 / DifNet rule (every unit at its block's rate), slim's research/deeplab rule."""
    rates = {layout: [[rate for _, rate in block] for block in unit_schedule("resnet50", layout, 8)]
             for layout in ("slim", "torchvision", "caffe")}
    assert rates["torchvision"][2:] == [[1, 2, 2, 2, 2, 2], [2, 4, 4]]
    assert rates["caffe"][2:] == [[2] * 6, [4] * 3]
    assert rates["slim"][2:] == [[2] * 6, [4] * 3]  # its block2 strides in its last unit, so block3 starts at 2
    assert unit_schedule("resnet50", "caffe", 16, (1, 2, 4))[3] == [(1, 2), (1, 4), (1, 8)]
    backbone = _resnet("resnet50", "torchvision", output_stride=8)
    assert backbone.get_layer("block3_unit1_conv2").dilation_rate == (1, 1)
    assert backbone.get_layer("block4_unit1_conv2").dilation_rate == (2, 2)
    assert backbone.get_layer("block4_unit2_conv2").dilation_rate == (4, 4)


def test_first_unit_dilated_chooses_the_rule_of_a_dilated_block():
    """PAN's "res5 dilated by 2" on the torchvision layout: (2, 2, 2) at OS 16 with first_unit_dilated, the
    layout's own (1, 2, 2) without; caffe's rule turned off gives torchvision's rates; slim refuses the option."""
    def rates(layout, option, output_stride=16):
        return [[rate for _, rate in block] for block in unit_schedule("resnet101", layout, output_stride,
                                                                       first_unit_dilated=option)]
    assert rates("torchvision", True)[3] == [2, 2, 2] and rates("torchvision", None)[3] == [1, 2, 2]
    assert rates("caffe", False, 8)[2:] == rates("torchvision", None, 8)[2:]
    config = BackboneConfig(name="resnet50", layout="torchvision", output_stride=16, first_unit_dilated=True)
    backbone = build_backbone(config, BatchNormSettings())
    assert [backbone.get_layer(f"block4_unit{u}_conv2").dilation_rate for u in (1, 2, 3)] == [(2, 2)] * 3
    assert any("first_unit_dilated applies to ResNets in the torchvision or caffe layout" in error
               for error in backbone_errors(BackboneConfig(name="resnet50", layout="slim", first_unit_dilated=True)))


def test_dilated_endpoints_stay_at_the_output_stride():
    backbone = _resnet("resnet18", "caffe", output_stride=8)
    outputs = backbone(RNG.uniform(0, 255, (1, 65, 65, 3)).astype("float32"))
    assert [tuple(outputs[f"block{b}"].shape[1:3]) for b in (1, 2, 3, 4)] == [(17, 17), (9, 9), (9, 9), (9, 9)]
    assert endpoint_strides(BackboneConfig(name="resnet18", layout="caffe", output_stride=8))["block4"] == 8


@pytest.mark.parametrize("normalization, expected", [
    ("mean_rgb", lambda x: x - np.array(MEAN_RGB)),
    ("imagenet", lambda x: (x / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)),
    ("caffe_bgr", lambda x: x[..., ::-1] - np.array(CAFFE_MEAN_BGR)),
    ("unit_range", lambda x: x / 127.5 - 1.0),
])
def test_input_normalizations(normalization, expected):
    images = RNG.uniform(0, 255, (2, 3, 5, 3)).astype("float32")
    backbone = _resnet("resnet18", normalization=normalization)
    np.testing.assert_allclose(backbone(images)["input"], expected(images.astype(np.float64)), rtol=1e-5, atol=1e-4)


def test_layout_default_normalizations():
    images = np.full((1, 8, 8, 3), 100.0, "float32")
    caffe = _resnet("resnet18", "caffe")(images)["input"]
    np.testing.assert_allclose(caffe[0, 0, 0], 100.0 - np.array(CAFFE_MEAN_BGR), rtol=1e-6)
    torchvision = _resnet("resnet18", "torchvision")(images)["input"]
    np.testing.assert_allclose(torchvision[0, 0, 0], (100 / 255 - np.array(IMAGENET_MEAN)) / IMAGENET_STD, rtol=1e-5)


class _Recorder(UnitHook):
    """Records the units it sees and marks both insertion points with an identity layer."""

    def __init__(self):
        self.units = []

    def before_spatial_conv(self, x, unit):
        self.units.append(unit)
        return keras.layers.Identity(name=f"{unit.name}_before")(x)

    def after_spatial_conv(self, x, unit):
        return keras.layers.Identity(name=f"{unit.name}_after")(x)


def _inbound(model, name):
    return [t._keras_history[0].name for t in model.get_layer(name)._inbound_nodes[0].input_tensors]


def test_unit_hooks_wrap_every_spatial_conv():
    from li_seg.backbones.resnet import build_resnet

    hook = _Recorder()
    config = BackboneConfig(name="resnet18", layout="torchvision", stem="plain", output_stride=16)
    model = build_resnet(config, BN, [hook])
    assert [u.position for u in hook.units] == [f"conv{b}_{u}" for b in (2, 3, 4, 5) for u in (1, 2)]
    assert [(u.stride, u.rate) for u in hook.units][2:] == [(2, 1), (1, 1), (2, 1), (1, 1), (1, 1), (1, 2)]
    assert _inbound(model, "block4_unit2_before") == ["block4_unit2_conv1_relu"]
    assert _inbound(model, "block4_unit2_conv2") == ["block4_unit2_before"]
    assert _inbound(model, "block4_unit2_conv2_bn") == ["block4_unit2_after"]


def test_unit_hooks_wrap_mobilenet_v2s_depthwise():
    from li_seg.backbones.mobilenet_v2 import build_mobilenet_v2

    hook = _Recorder()
    model = build_mobilenet_v2(BackboneConfig(output_stride=16), BN, [hook])
    assert [u.position for u in hook.units] == [f"rb{n}" for n in range(1, 18)]
    assert hook.units[13].name == "block_13" and (hook.units[14].stride, hook.units[14].rate) == (1, 2)
    assert _inbound(model, "block_12_depthwise") == ["block_12_before"]
    assert _inbound(model, "block_12_depthwise_BN") == ["block_12_after"]


def test_two_backbones_of_one_kind_in_one_model():
    config = BackboneConfig(name="resnet18", layout="caffe", stem="plain", output_stride=8)
    seed, similarity = build_backbone(config, BN), build_backbone(config, BN, name="similarity")
    images = keras.Input((None, None, 3))
    model = keras.Model(images, [seed(images)["block4"], similarity(images)["block4"]])
    paths = [v.path for v in model.variables]
    assert len(paths) == len(set(paths)) == 2 * len(seed.variables)
    assert {p.split("/")[0] for p in paths if p.startswith("similarity/")} == {"similarity"}
    assert "conv1/kernel" in paths and "similarity/conv1/kernel" in paths
    x = RNG.uniform(0, 255, (1, 33, 33, 3)).astype("float32")
    a, b = model(x)
    assert a.shape == b.shape and not np.allclose(a, b)  # their own weights


@pytest.mark.parametrize("changes, message", [
    ({"layout": "pytorch"}, "layout='pytorch' is not one of 'slim', 'torchvision', 'caffe'"),
    ({"stem": "plain", "stem_widths": (32, 32, 64)}, "the 'plain' stem is one 7x7 conv 64"),
    ({"multi_grid": (1, 2, 4)}, "needs 2 positive rates"),  # ResNet-18's block4 has two units
    ({"normalization": "bgr"}, "normalization='bgr' is not one of"),
    ({"name": "mobilenet_v2", "layout": "pytorch"}, "layout='pytorch' is not one of"),  # checked for every backbone
    ({"inhibition_positions": ("conv5_3",)}, "['conv5_3'] are not positions of resnet18"),
    ({"inhibition": InhibitionConfig()}, "inhibition_positions is empty: name the units (conv2_1 ... conv5_2; the LI "
                                         "paper's for resnet: ['conv5_3'])"),
])
def test_invalid_resnet_settings_are_named(changes, message):
    config = dataclasses.replace(BackboneConfig(name="resnet18"), **changes)
    assert any(message in error for error in backbone_errors(config, "backbone")), backbone_errors(config)


def test_backbone_table_reports_parameters_sizes_and_strides():
    from scripts import backbone_table

    config = BackboneConfig(name="resnet18", layout="caffe", stem="plain", output_stride=32)
    row = backbone_table.backbone_row(config, (33, 47))
    assert row["params"] == backbone_table.TORCHVISION_WITHOUT_FC["resnet18"] == TORCHVISION_WITHOUT_FC["resnet18"]
    assert row["sizes"]["block1"] == (9, 13) and row["strides"]["block1"] == 4
    assert row["sizes"]["block4"] == (2, 2) and row["strides"]["block4"] == 32


@pytest.mark.parametrize("output_stride", [8, 16])
def test_mobilenet_v2_endpoints_at_their_strides(output_stride):
    config = BackboneConfig(output_stride=output_stride)
    outputs = build_backbone(config, BN)(RNG.uniform(0, 255, (1, 33, 47, 3)).astype("float32"))
    strides = endpoint_strides(config)
    assert strides["block3"] == min(16, output_stride) and strides["block4"] == output_stride
    for name, stride in strides.items():
        assert tuple(outputs[name].shape[1:3]) == (math.ceil(33 / stride), math.ceil(47 / stride)), name
    assert [outputs[f"block{b}"].shape[-1] for b in (1, 2, 3, 4)] == [24, 32, 96, 320]
