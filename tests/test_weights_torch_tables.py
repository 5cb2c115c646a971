"""The PyTorch ResNet tables without torch (issue 15): state dicts written under torchvision's, PyTorch-Encoding's and
mmsegmentation's key names (listed here from their code, not from our tables) as .safetensors through the
safetensors package's NumPy API, loaded into our ResNet-18, every variable checked against its tensor. The
networks' outputs are compared in tests/test_weights_torch.py (needs torch)."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from li_seg.backbones import build_backbone
from li_seg.config import BackboneConfig
from li_seg.layers.normalization import BatchNormSettings
from li_seg.weights import MappingError
from tests.weights_helpers import random_tensor

RNG = np.random.default_rng(18)
BN_KEYS = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def _state_dict(stem: str):
    """{torch key: array} of a ResNet-18 with `stem` "torchvision" (7x7), "encoding" (conv1.0 / .3 / .6 + bn1,
    64-64-128) or "mmseg" (stem.0 ... stem.7, 32-32-64), and {torch key: our "layer/variable"}."""
    tensors, ours = {}, {}

    def conv(key, shape, layer):
        tensors[f"{key}.weight"] = random_tensor("weight", shape, RNG)
        ours[f"{key}.weight"] = f"{layer}/kernel"

    def bn(key, channels, layer):
        for torch_name, keras_name in BN_KEYS.items():
            tensors[f"{key}.{torch_name}"] = random_tensor(keras_name, (channels,), RNG)
            ours[f"{key}.{torch_name}"] = f"{layer}/{keras_name}"
        tensors[f"{key}.num_batches_tracked"] = np.array(10, np.int64)

    if stem == "torchvision":
        conv("conv1", (64, 3, 7, 7), "conv1")
        bn("bn1", 64, "conv1_bn")
        channels = 64
    else:
        widths = (64, 64, 128) if stem == "encoding" else (32, 32, 64)
        convs = ("conv1.0", "conv1.3", "conv1.6") if stem == "encoding" else ("stem.0", "stem.3", "stem.6")
        bns = ("conv1.1", "conv1.4", "bn1") if stem == "encoding" else ("stem.1", "stem.4", "stem.7")
        previous = 3
        for index, (c, b, width) in enumerate(zip(convs, bns, widths), start=1):
            conv(c, (width, previous, 3, 3), f"conv1_{index}")
            bn(b, width, f"conv1_{index}_bn")
            previous = width
        channels = widths[-1]
    for layer, width in enumerate((64, 128, 256, 512), start=1):
        for unit in range(2):
            prefix, name = f"layer{layer}.{unit}", f"block{layer}_unit{unit + 1}"
            conv(f"{prefix}.conv1", (width, channels, 3, 3), f"{name}_conv1")
            bn(f"{prefix}.bn1", width, f"{name}_conv1_bn")
            conv(f"{prefix}.conv2", (width, width, 3, 3), f"{name}_conv2")
            bn(f"{prefix}.bn2", width, f"{name}_conv2_bn")
            if unit == 0 and channels != width:
                conv(f"{prefix}.downsample.0", (width, channels, 1, 1), f"{name}_shortcut")
                bn(f"{prefix}.downsample.1", width, f"{name}_shortcut_bn")
            channels = width
    tensors["fc.weight"] = random_tensor("weight", (1000, 512), RNG)
    tensors["fc.bias"] = random_tensor("bias", (1000,), RNG)
    return tensors, ours


def _variables(model):
    return {f"{layer.name}/{v.name}": v.numpy() for layer in model.layers for v in layer.weights}


@pytest.mark.parametrize("stem, config", [
    ("torchvision", {"stem": "plain"}),
    ("encoding", {"stem": "beta", "stem_widths": (64, 64, 128)}),
    ("mmseg", {"stem": "beta", "stem_widths": (32, 32, 64)}),
])
@pytest.mark.parametrize("layout", ["torchvision", "caffe"])
def test_every_variable_comes_from_its_tensor(tmp_path, stem, config, layout):
    tensors, ours = _state_dict(stem)
    path = str(tmp_path / "resnet18.safetensors")
    save_file(tensors, path)
    backbone = build_backbone(BackboneConfig(name="resnet18", layout=layout, weights=path, **config),
                              BatchNormSettings())
    variables = _variables(backbone)
    assert set(variables) == set(ours.values())  # every variable of ours has a tensor, and the reverse
    for key, target in ours.items():
        expected = np.transpose(tensors[key], (2, 3, 1, 0)) if tensors[key].ndim == 4 else tensors[key]
        np.testing.assert_array_equal(variables[target], expected)


def test_a_resnet_d_shortcut_is_named(tmp_path):
    resnet, _ = _state_dict("torchvision")
    renamed = {".downsample.1.": ".downsample.2.", ".downsample.0.": ".downsample.1."}  # ResNet-D: avg-pool, conv, BN

    def resnet_d(key):
        return next((key.replace(old, new) for old, new in renamed.items() if old in key), key)

    tensors = {resnet_d(key): value for key, value in resnet.items()}
    path = str(tmp_path / "resnet18d.safetensors")
    save_file(tensors, path)
    with pytest.raises(MappingError, match=r"layer2\.0\.downsample\.2\.running_var"):
        build_backbone(BackboneConfig(name="resnet18", layout="torchvision", stem="plain", weights=path),
                       BatchNormSettings())
