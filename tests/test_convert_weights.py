"""scripts/convert_weights.py and the entry points' error handling (issue 15): a converted .weights.h5 equals the
direct load, carries the source's BN epsilon, converts whole models; wrong files and flags fail with names."""

from __future__ import annotations

import dataclasses
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from li_seg.backbones.pretrained import build_pretrained_backbone
from li_seg.config import BackboneConfig
from li_seg.layers.normalization import BatchNormSettings
from li_seg.training.checkpoints import restore_model
from li_seg.weights import MappingError, detect_format
from scripts.convert_weights import convert_backbone, convert_model
from tests.test_weights_tf import _beta_resnet50_checkpoint, _wang_ji_checkpoint
from tests.weights_helpers import bn_epsilons, write_tf1_checkpoint

BN = BatchNormSettings()


@pytest.fixture(scope="module")
def beta_checkpoint(tmp_path_factory):
    return write_tf1_checkpoint(_beta_resnet50_checkpoint(),
                                str(tmp_path_factory.mktemp("beta") / "resnet_v1_50" / "model.ckpt"))


@pytest.fixture(scope="module")
def wang_ji_checkpoint(tmp_path_factory):
    return write_tf1_checkpoint(_wang_ji_checkpoint(), str(tmp_path_factory.mktemp("wj") / "init.ckpt"))


def test_a_converted_backbone_equals_the_direct_load(beta_checkpoint, tmp_path):
    output = str(tmp_path / "resnet50_beta.weights.h5")
    description = convert_backbone(beta_checkpoint, "tf_slim", output)
    assert description.startswith("BackboneConfig(name='resnet50', layout='slim', stem='beta', stem_widths=(64, 64, "
                                  "128), normalization='unit_range')")
    assert "BN epsilon 1e-05" in description
    direct = build_pretrained_backbone(BackboneConfig(name="resnet50", stem="beta", weights=beta_checkpoint), BN)
    # the converted file loads by name into another layout and output stride of the same network
    converted = build_pretrained_backbone(
        BackboneConfig(name="resnet50", stem="beta", layout="torchvision", output_stride=8, weights=output), BN)
    assert detect_format(output) == "converted"
    for expected, actual in zip(direct.weights, converted.weights):
        assert expected.path == actual.path
        np.testing.assert_array_equal(expected.numpy(), actual.numpy())


def test_a_converted_backbone_loads_into_an_li_backbone(beta_checkpoint, tmp_path):
    from experiments.papers import get_experiment

    output = str(tmp_path / "resnet50_beta.weights.h5")
    convert_backbone(beta_checkpoint, "tf_slim", output)
    config = dataclasses.replace(get_experiment("li_convs", "li_resnet50_aspp").model.backbone, weights=output)
    backbone = build_pretrained_backbone(config, BN)  # LI at conv5_3: left at its initialisation
    direct = build_pretrained_backbone(dataclasses.replace(config, weights=beta_checkpoint), BN)
    for expected, actual in zip(direct.weights, backbone.weights):
        if "lateral_inhibition" not in actual.path:
            np.testing.assert_array_equal(expected.numpy(), actual.numpy())


def test_a_converted_file_with_a_contradicting_epsilon_is_refused(wang_ji_checkpoint, tmp_path):
    output = str(tmp_path / "deeplabv2_backbone.weights.h5")
    convert_backbone(wang_ji_checkpoint, "deeplabv2_tf", output)
    config = BackboneConfig(name="resnet101", stem="plain", layout="caffe", bn_epsilon=1e-5, weights=output)
    with pytest.raises(MappingError, match="BN epsilon 0.001"):
        build_pretrained_backbone(config, BN)


def test_the_converted_file_carries_the_source_epsilon(wang_ji_checkpoint, tmp_path):
    output = str(tmp_path / "deeplabv2_backbone.weights.h5")
    assert "BN epsilon 0.001" in convert_backbone(wang_ji_checkpoint, "deeplabv2_tf", output)
    backbone = build_pretrained_backbone(
        BackboneConfig(name="resnet101", stem="plain", layout="caffe", weights=output), BN)
    assert bn_epsilons(backbone) == {1e-3}


def test_a_contradicting_bn_epsilon_is_refused(wang_ji_checkpoint):
    config = BackboneConfig(name="resnet101", stem="plain", layout="caffe", bn_epsilon=1e-5,
                            weights=wang_ji_checkpoint)
    with pytest.raises(MappingError, match="BN epsilon 0.001.*bn_epsilon"):
        build_pretrained_backbone(config, BN)


def test_a_whole_model_converts_and_restores(wang_ji_checkpoint, tmp_path):
    from experiments.papers import get_experiment
    from li_seg.models import build_model

    output = str(tmp_path / "deeplabv2_coco.weights.h5")
    convert_model(wang_ji_checkpoint, "deeplabv2_tf", output, "smoothing", "deeplabv2", 21)
    direct = build_model(get_experiment("smoothing", "deeplabv2").model, 21)
    restore_model(direct, wang_ji_checkpoint)
    converted = build_model(get_experiment("smoothing", "deeplabv2").model, 21)
    restore_model(converted, output)
    for expected, actual in zip(direct.weights, converted.weights):
        np.testing.assert_array_equal(expected.numpy(), actual.numpy())


def test_a_deep_stem_file_into_a_plain_stem_backbone_names_the_stem(beta_checkpoint):
    with pytest.raises(MappingError, match="conv1/kernel <- resnet_v1_50/conv1/weights") as info:
        build_pretrained_backbone(BackboneConfig(name="resnet50", stem="plain", weights=beta_checkpoint), BN)
    assert "resnet_v1_50/conv1_1/weights" in str(info.value)  # and the file's stem, unused


def test_a_mobilenet_file_into_a_resnet_is_refused(tmp_path):
    from tests.test_weights_tf import _mobilenet_v2_checkpoint

    prefix = write_tf1_checkpoint(_mobilenet_v2_checkpoint(), str(tmp_path / "mnv2" / "model.ckpt"))
    with pytest.raises(MappingError, match="MobilenetV2.*model.backbone.name"):
        build_pretrained_backbone(BackboneConfig(name="resnet50", weights=prefix), BN)


def test_an_unknown_file_type_names_the_formats(tmp_path):
    path = tmp_path / "weights.npz"
    path.write_bytes(b"not weights")
    with pytest.raises(ValueError, match="weights_format.*tf_slim"):
        detect_format(str(path))


def test_a_wrong_format_flag_is_a_clear_error(beta_checkpoint, tmp_path):
    config = BackboneConfig(name="resnet50", stem="beta", weights=beta_checkpoint, weights_format="torch")
    with pytest.raises(ValueError, match="is a tf_slim file, not torch"):
        build_pretrained_backbone(config, BN)


def test_the_command_line_converts_and_reports_errors(beta_checkpoint, tmp_path):
    output = tmp_path / "out.weights.h5"
    ok = subprocess.run([sys.executable, "-m", "scripts.convert_weights", f"--input={beta_checkpoint}",
                         f"--output={output}"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "BackboneConfig(name='resnet50', layout='slim', stem='beta', stem_widths=(64, 64, 128)" in ok.stdout
    assert output.exists()
    missing = subprocess.run([sys.executable, "-m", "scripts.convert_weights", "--input=/nonexistent/model.ckpt",
                              f"--output={output}"], capture_output=True, text=True)
    assert missing.returncode == 2
    assert "weights not found: '/nonexistent/model.ckpt'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_command_line_refuses_a_hostile_file_with_a_message(tmp_path):
    hostile = pathlib.Path(__file__).resolve().parent / "fixtures" / "hostile" / "storage_overread.pth"
    output = tmp_path / "out.weights.h5"
    run = subprocess.run([sys.executable, "-m", "scripts.convert_weights", f"--input={hostile}",
                          f"--output={output}"], capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"{hostile}: member 'archive/data/0' declares 16384 bytes, stored as 4" in run.stderr
    assert not output.exists()
