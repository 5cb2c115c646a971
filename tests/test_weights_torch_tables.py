"""The PyTorch ResNet tables without torch (issue 15): state dicts written under torchvision's, PyTorch-Encoding's and
mmsegmentation's key names (listed here from their code, not from our tables) as .safetensors through the
safetensors package's NumPy API, loaded into our ResNet-18, every variable checked against its tensor. The
networks' outputs are compared in tests/test_weights_torch.py (needs torch)."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from li_seg.backbones.pretrained import build_pretrained_backbone
from li_seg.config import BackboneConfig
from li_seg.layers.normalization import BatchNormSettings
from li_seg.weights import MappingError
from tests.weights_helpers import torch_resnet18_state_dict

RNG = np.random.default_rng(18)


def _variables(model):
    return {f"{layer.name}/{v.name}": v.numpy() for layer in model.layers for v in layer.weights}


@pytest.mark.parametrize("stem, config", [
    ("torchvision", {"stem": "plain"}),
    ("encoding", {"stem": "beta", "stem_widths": (64, 64, 128)}),
    ("mmseg", {"stem": "beta", "stem_widths": (32, 32, 64)}),
])
@pytest.mark.parametrize("layout", ["torchvision", "caffe"])
def test_every_variable_comes_from_its_tensor(tmp_path, stem, config, layout):
    tensors, ours = torch_resnet18_state_dict(stem, RNG)
    path = str(tmp_path / "resnet18.safetensors")
    save_file(tensors, path)
    backbone = build_pretrained_backbone(BackboneConfig(name="resnet18", layout=layout, weights=path, **config),
                              BatchNormSettings())
    variables = _variables(backbone)
    assert set(variables) == set(ours.values())  # every variable of ours has a tensor, and the reverse
    for key, target in ours.items():
        expected = np.transpose(tensors[key], (2, 3, 1, 0)) if tensors[key].ndim == 4 else tensors[key]
        np.testing.assert_array_equal(variables[target], expected)


def test_a_resnet_d_shortcut_is_named(tmp_path):
    resnet, _ = torch_resnet18_state_dict("torchvision", RNG)
    renamed = {".downsample.1.": ".downsample.2.", ".downsample.0.": ".downsample.1."}  # ResNet-D: avg-pool, conv, BN

    def resnet_d(key):
        return next((key.replace(old, new) for old, new in renamed.items() if old in key), key)

    tensors = {resnet_d(key): value for key, value in resnet.items()}
    path = str(tmp_path / "resnet18d.safetensors")
    save_file(tensors, path)
    with pytest.raises(MappingError, match=r"layer2\.0\.downsample\.2\.running_var"):
        build_pretrained_backbone(BackboneConfig(name="resnet18", layout="torchvision", stem="plain", weights=path),
                       BatchNormSettings())
