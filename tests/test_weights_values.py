"""li_seg.weights.values: weights must be real and finite; NaN / Inf refused by name unless allowed, and the option
reaches every entry point (read_tensors, build_backbone's config, the converter)."""

import pathlib

import numpy as np
import pytest
from absl import logging

from li_seg.backbones.pretrained import build_pretrained_backbone
from li_seg.config import BackboneConfig
from li_seg.layers.normalization import BatchNormSettings
from li_seg.weights import MappingError, WeightsError, WeightsNotFoundError, detect_format, read_tensors
from li_seg.weights.values import MAX_LISTED, check_values

HOSTILE = pathlib.Path(__file__).resolve().parent / "fixtures" / "hostile"
NAN_PTH = str(HOSTILE / "nan.pth")  # {"conv1.weight": [1, nan, 0, 0]}


def test_every_non_finite_tensor_is_named_up_to_the_listed_count():
    tensors = [(f"w{i}", np.array([np.nan if i % 2 else np.inf], np.float32)) for i in range(MAX_LISTED + 3)]
    tensors += [("fine", np.ones(2, np.float16)), ("count", np.array(3, np.int64)), ("mask", np.array([True]))]
    with pytest.raises(WeightsError) as error:
        check_values(tensors, "f.pth")
    message = str(error.value)
    assert f"NaN or Inf values in {MAX_LISTED + 3} tensor(s)" in message and "and 3 more" in message
    assert "'w0'" in message and "fine" not in message and "--allow_non_finite_weights" in message


def test_allowed_non_finite_values_load_with_a_warning(monkeypatch):
    warnings = []
    monkeypatch.setattr(logging, "warning", lambda *args: warnings.append(args[0] % args[1:]))
    check_values([("w", np.array([np.nan], np.float32))], "f.pth", allow_non_finite=True)
    assert warnings and "'w'" in warnings[0]


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, np.dtype("S2"), np.dtype([("a", "f4")])])
def test_complex_and_non_numeric_tensors_are_refused_even_when_non_finite_values_are_allowed(dtype):
    with pytest.raises(WeightsError, match="not real numbers"):
        check_values([("w", np.zeros(2, dtype))], "f.pth", allow_non_finite=True)


def test_read_tensors_checks_and_the_option_lets_the_values_through():
    with pytest.raises(WeightsError, match="NaN or Inf values in 1 tensor"):
        read_tensors(NAN_PTH, "torch")
    values = read_tensors(NAN_PTH, "torch", allow_non_finite=True)["conv1.weight"]
    assert np.isnan(values[1]) and values[0] == 1


def test_the_backbone_config_option_reaches_the_load():
    config = BackboneConfig(name="resnet18", layout="torchvision", stem="plain", output_stride=32, weights=NAN_PTH)
    with pytest.raises(WeightsError, match="NaN or Inf"):
        build_pretrained_backbone(config, BatchNormSettings())
    allowed = BackboneConfig(**{**config.__dict__, "allow_non_finite_weights": True})
    with pytest.raises(MappingError, match=r"conv1\.weight \(4,\) \(not transformable\)"):  # past the values
        build_pretrained_backbone(allowed, BatchNormSettings())


def test_a_directory_is_named_as_one(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="is a directory, not a weights file"):
        detect_format(str(tmp_path))
