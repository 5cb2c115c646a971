"""Our ResNet layouts against torchvision's ResNets, the reference implementation, with the same random weights
(optional: needs torch and torchvision, `pip install -r requirements-crosscheck.txt`; skipped without them).

- "torchvision" layout = torchvision.models.resnet{18,50} (floor-mode max-pool, stride on the first unit's 3x3
  conv), also dilated to output stride 8 with `replace_stride_with_dilation` (bottlenecks; torchvision's basic
  blocks refuse dilation).
- "caffe" layout = torchvision's network changed as the caffe layout describes (`li_seg.backbones.resnet_plan`):
  the max-pool in ceil mode, the stride moved from conv2 to conv1 of each block's first unit, every unit of a
  dilated block at its rate on conv2 (basic blocks: conv2 only).
Compared: every endpoint (block1-4) in inference mode at 35 x 47 (an even 18 x 24 stem map, where the max-pool's
ceil and floor modes differ), from random weights and BN statistics made in torch and copied into ours.
torchvision runs in a subprocess: importing it after TensorFlow in one process crashes (torch 2.14.1,
torchvision 0.29.1, TensorFlow 2.21.0).
"""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from li_seg.backbones import build_backbone
from li_seg.config import BackboneConfig
from li_seg.layers.normalization import BatchNormSettings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is None,
    reason="torch / torchvision are not installed (pip install -r requirements-crosscheck.txt)",
)

# Runs with torch only: builds the reference, randomises it, computes its endpoints on the given normalised images.
REFERENCE = r'''
import ast
import sys
import numpy as np
import torch
import torchvision

name, inputs, output = sys.argv[1], sys.argv[4], sys.argv[5]
dilations, replace = ast.literal_eval(sys.argv[2]), ast.literal_eval(sys.argv[3])
torch.manual_seed(0)
options = {"replace_stride_with_dilation": replace} if replace else {}
model = getattr(torchvision.models, name)(weights=None, **options)
generator = torch.Generator().manual_seed(0)
with torch.no_grad():
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.uniform_(0.5, 1.5, generator=generator)
            module.bias.normal_(0.0, 0.1, generator=generator)
            module.running_mean.normal_(0.0, 0.1, generator=generator)
            module.running_var.uniform_(0.5, 1.5, generator=generator)
if dilations is not None:  # the caffe layout
    model.maxpool.ceil_mode = True
    for b, rate in enumerate(dilations, start=1):
        for u, unit in enumerate(getattr(model, f"layer{b}")):
            if u == 0 and b > 1:
                stride = 2 if rate == 1 else 1
                unit.conv1.stride = (stride, stride)
                if isinstance(unit, torchvision.models.resnet.Bottleneck):
                    unit.conv2.stride = (1, 1)
                if unit.downsample is not None:
                    unit.downsample[0].stride = (stride, stride)
            unit.conv2.dilation, unit.conv2.padding = (rate, rate), (rate, rate)
model.eval()
x = torch.from_numpy(np.load(inputs).transpose(0, 3, 1, 2))
results = {key: value.numpy() for key, value in model.state_dict().items()}
with torch.no_grad():
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    for b in range(1, 5):
        x = getattr(model, f"layer{b}")(x)
        results[f"block{b}"] = x.numpy().transpose(0, 2, 3, 1)
np.savez(output, **results)
'''


def _reference(tmp_path, name, dilations, replace, images):
    np.save(tmp_path / "inputs.npy", images)
    result = subprocess.run([sys.executable, "-c", REFERENCE, name, repr(dilations), repr(replace),
                             str(tmp_path / "inputs.npy"), str(tmp_path / "reference.npz")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(tmp_path / "reference.npz"))


def _copy(state, ours):
    """torchvision's state dict -> our layer names (conv OIHW -> HWIO; BN weight, bias, running statistics)."""
    def conv(layer, key):
        ours.get_layer(layer).set_weights([state[f"{key}.weight"].transpose(2, 3, 1, 0)])

    def bn(layer, key):
        ours.get_layer(layer).set_weights([state[f"{key}.{n}"] for n in ("weight", "bias", "running_mean",
                                                                          "running_var")])

    conv("conv1", "conv1")
    bn("conv1_bn", "bn1")
    layer_names = {layer.name for layer in ours.layers}
    for key in state:
        parts = key.split(".")
        if parts[0].startswith("layer") and parts[-1] == "weight" and parts[2].startswith("conv"):
            prefix = f"block{parts[0][5:]}_unit{int(parts[1]) + 1}"
            conv(f"{prefix}_{parts[2]}", ".".join(parts[:3]))
            bn(f"{prefix}_{parts[2]}_bn", ".".join(parts[:2] + [f"bn{parts[2][4:]}"]))
        elif parts[0].startswith("layer") and parts[2:] == ["downsample", "0", "weight"]:
            prefix = f"block{parts[0][5:]}_unit{int(parts[1]) + 1}"
            assert f"{prefix}_shortcut" in layer_names
            conv(f"{prefix}_shortcut", ".".join(parts[:4]))
            bn(f"{prefix}_shortcut_bn", ".".join(parts[:3] + ["1"]))


@pytest.mark.parametrize("name, layout, output_stride, dilations, replace", [
    ("resnet18", "torchvision", 32, None, None),
    ("resnet50", "torchvision", 32, None, None),
    ("resnet50", "torchvision", 8, None, [False, True, True]),
    ("resnet18", "caffe", 8, (1, 1, 2, 4), None),
    ("resnet50", "caffe", 16, (1, 1, 1, 2), None),
])
def test_our_layouts_equal_the_reference(tmp_path, name, layout, output_stride, dilations, replace):
    config = BackboneConfig(name=name, layout=layout, stem="plain", output_stride=output_stride,
                            normalization="mean_rgb")
    ours = build_backbone(config, BatchNormSettings())
    images = np.random.default_rng(0).uniform(0, 255, (2, 35, 47, 3)).astype("float32")  # an even 18 x 24 stem map
    normalised = np.asarray(ours(images)["input"])
    reference = _reference(tmp_path, name, dilations, replace, normalised)
    _copy(reference, ours)
    got = ours(images, training=False)
    for endpoint in ("block1", "block2", "block3", "block4"):
        expected = reference[endpoint]
        assert got[endpoint].shape == expected.shape, endpoint
        scale = np.abs(expected).max()
        np.testing.assert_allclose(np.asarray(got[endpoint]) / scale, expected / scale, atol=2e-5, err_msg=endpoint)
