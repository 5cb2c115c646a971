"""PyTorch ResNet state dicts into our ResNets (issue 15), against the real networks: torchvision's resnet18-152
(torchvision layout, and the caffe layout as DifNet's code uses them), PyTorch-Encoding's deep-base and
mmsegmentation's ResNetV1c stems (modules named as theirs around torchvision's layers).

Optional: needs torch and torchvision (requirements-crosscheck.txt), skipped without them. The torch side runs in
a subprocess (torch and TensorFlow crash in one process: tests/test_torchvision_reference.py); it writes the .pth
(torch.save) / .safetensors and the features, which this process loads without torch.
Tolerance: max |ours - torch| / max |torch| <= 1e-4.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from li_seg.backbones.pretrained import build_pretrained_backbone
from li_seg.config import BackboneConfig
from li_seg.layers.normalization import BatchNormSettings
from li_seg.weights import detect_format
from tests.numpy_layers import relative_error

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is None or importlib.util.find_spec("safetensors") is None,
    reason="needs torch, torchvision and safetensors (pip install -r requirements-crosscheck.txt)",
)
TOLERANCE = 1e-4

_TORCH_SCRIPT = r"""
import sys
import numpy as np
import torch
import torchvision
from torch import nn
from safetensors.torch import save_file

depth, variant, layout, out_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
torch.manual_seed(depth)
net = getattr(torchvision.models, f"resnet{depth}")(weights=None)
bottleneck = depth >= 50
block = torchvision.models.resnet.Bottleneck if bottleneck else torchvision.models.resnet.BasicBlock

def conv_bn_relu(cin, cout, stride):
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

class DeepStem(nn.Module):  # PyTorch-Encoding deep_base (64, 64, 128) / mmseg ResNetV1c (32, 32, 64)
    def __init__(self, widths, mmseg):
        super().__init__()
        a, b, c = widths
        layers = conv_bn_relu(3, a, 2) + conv_bn_relu(a, b, 1) + conv_bn_relu(b, c, 1)
        if mmseg:
            self.stem = nn.Sequential(*layers)
        else:
            self.conv1, self.bn1 = nn.Sequential(*layers[:-2]), layers[-2]
        self.mmseg = mmseg
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        net.inplanes = c
        self.layer1 = net._make_layer(block, 64, len(net.layer1))
        self.layer2, self.layer3, self.layer4 = net.layer2, net.layer3, net.layer4

    def forward(self, x):  # the stem only; the caller runs the max-pool and the layers
        return self.stem(x) if self.mmseg else torch.relu(self.bn1(self.conv1(x)))

if variant == "encoding":
    net = DeepStem((64, 64, 128), mmseg=False)
elif variant == "mmseg":
    net = DeepStem((32, 32, 64), mmseg=True)
if layout == "caffe":  # DifNet's model_difnet.py: the stride on the first 1x1 conv, ceil-mode max-pool
    for layer in (net.layer2, net.layer3, net.layer4):
        layer[0].conv1.stride, layer[0].conv2.stride = (2, 2), (1, 1)
    net.maxpool.ceil_mode = True
for module in net.modules():
    if isinstance(module, nn.BatchNorm2d):
        module.running_mean.normal_(0, 0.1); module.running_var.uniform_(0.5, 1.5)
        module.weight.data.uniform_(0.5, 1.0); module.bias.data.normal_(0, 0.1)
net.eval()
state = net.state_dict()
torch.save(state, f"{out_dir}/weights.pth")
save_file({k: v.contiguous() for k, v in state.items()}, f"{out_dir}/weights.safetensors")
images = np.load(f"{out_dir}/images.npy")
x = torch.from_numpy(images).permute(0, 3, 1, 2) / 255.0
x = (x - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
with torch.no_grad():
    if variant == "torchvision":
        x = net.relu(net.bn1(net.conv1(x)))
    else:
        x = net(x)
    features = {"stem": x}
    x = net.maxpool(x)
    for index in range(1, 5):
        x = getattr(net, f"layer{index}")(x)
        features[f"block{index}"] = x
np.savez(f"{out_dir}/features.npz", **{k: v.permute(0, 2, 3, 1).numpy() for k, v in features.items()})
"""

CASES = [  # depth, the file's network, our layout
    (18, "torchvision", "torchvision"), (34, "torchvision", "torchvision"), (50, "torchvision", "torchvision"),
    (101, "torchvision", "torchvision"), (152, "torchvision", "torchvision"),
    (50, "torchvision", "caffe"), (18, "torchvision", "caffe"),
    (101, "encoding", "torchvision"), (50, "mmseg", "torchvision"),
]


@pytest.mark.parametrize("depth, variant, layout", CASES)
def test_torch_state_dicts_match_the_torch_network(tmp_path, depth, variant, layout):
    images = np.random.default_rng(depth).uniform(0, 255, (1, 65, 49, 3)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    subprocess.run([sys.executable, "-c", _TORCH_SCRIPT, str(depth), variant, layout, str(tmp_path)], check=True)
    reference = dict(np.load(tmp_path / "features.npz"))
    stem = {"torchvision": {}, "encoding": {"stem": "beta", "stem_widths": (64, 64, 128)},
            "mmseg": {"stem": "beta", "stem_widths": (32, 32, 64)}}[variant] or {"stem": "plain"}
    for suffix in ("pth", "safetensors"):
        path = str(tmp_path / f"weights.{suffix}")
        assert detect_format(path) == "torch"
        config = BackboneConfig(name=f"resnet{depth}", layout=layout, output_stride=32, normalization="imagenet",
                                weights=path, **stem)
        outputs = build_pretrained_backbone(config, BatchNormSettings())(images)
        for name, expected in reference.items():
            assert outputs[name].shape == expected.shape, name
            error = relative_error(outputs[name], expected)
            print(f"resnet{depth} {variant} -> {layout} ({suffix}) {name}: relative error {error:.1e}")
            assert error < TOLERANCE, (suffix, name)
