"""DifNet against a PyTorch transcription of the authors' network (sdujump/DifNet model_difnet.py: ResNet with the
stride on the first conv and a ceil-mode max-pool, layer3 / layer4 dilated 2 / 4, Classifier_Module, Mask, Diffuse,
DifNet.forward), with the same random weights (optional: needs torch, `pip install -r requirements-crosscheck.txt`;
skipped without it).

The transcription below follows the authors' modules line by line; their initialisation and training code is left
out (weights, BN statistics, alpha and beta are random here and copied into ours). Compared in inference mode, on
the normalised image our seed backbone computes: the score map (their `sed_out`), the importance map (`mask`) and
the output of every walk (`pred0` ... `pred4`), for DifNet-18 (basic blocks) and DifNet-50 (bottlenecks). torch
runs in a subprocess: importing it after TensorFlow in one process crashes (torch 2.14.1, TensorFlow 2.21.0).
"""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from experiments import papers
from li_seg.models import build_model
from li_seg.models.difnet import analysis_outputs

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="torch is not installed (pip install -r requirements-crosscheck.txt)",
)

REFERENCE = r'''
import sys
import numpy as np
import torch
import torch.nn as nn

depth, classes, inputs, output = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class Classifier_Module(nn.Module):
    def __init__(self, dilations, classes, inplane):
        super().__init__()
        self.conv2d_list = nn.ModuleList(
            nn.Conv2d(inplane, classes, 3, padding=d, dilation=d, bias=True) for d in dilations)

    def forward(self, x):
        out = self.conv2d_list[0](x)
        for conv in self.conv2d_list[1:]:
            out = out + conv(x)
        return out


class ResNet(nn.Module):
    def __init__(self, block, layers, classes, isseed=True):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=1, dilation=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=1, dilation=4)
        if isseed:
            self.layer5 = Classifier_Module([6, 12, 18, 24], classes, 512 * block.expansion)
        self.isseed = isseed

    def _make_layer(self, block, planes, blocks, stride=1, dilation=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion or dilation == 2 or dilation == 4:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, dilation=dilation, downsample=downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, dilation=dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x1 = self.layer1(x)
        x2 = self.layer2(x1)
        x3 = self.layer3(x2)
        x4 = self.layer4(x3)
        return self.layer5(x4) if self.isseed else (x1, x2, x3, x4)


class Mask(nn.Module):
    def __init__(self, inplanes):
        super().__init__()
        self.relu, self.sig = nn.ReLU(), nn.Sigmoid()
        self.bn0, self.bn1, self.bn2 = nn.BatchNorm2d(inplanes), nn.BatchNorm2d(8), nn.BatchNorm2d(4)
        self.conv1 = nn.Conv2d(inplanes, 8, 5, padding=2, bias=False)
        self.conv2 = nn.Conv2d(8, 4, 5, padding=2, bias=False)
        self.conv3 = nn.Conv2d(4, 1, 5, padding=2, bias=False)

    def forward(self, x):
        x = self.relu(self.bn0(x))
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        return self.sig(self.conv3(x))


class Diffuse(nn.Module):
    def __init__(self, inplanes, outplanes=64):
        super().__init__()
        self.alpha, self.beta = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
        self.softmax = nn.Softmax(2)
        self.conv = nn.Conv2d(inplanes, outplanes, 1)
        self.bn = nn.BatchNorm2d(outplanes)

    def forward(self, F, pred, seed):
        b, c, h, w = pred.size()
        F = self.bn(self.conv(F))
        F = nn.functional.adaptive_max_pool2d(F, (h, w))
        F = F.view(b, -1, h * w)
        P = self.softmax(torch.bmm(F.transpose(1, 2), F))
        out_vec = torch.bmm(P, pred.view(b, c, -1).transpose(1, 2)).transpose(1, 2).contiguous()
        a, e = self.alpha, self.beta
        return ((1 / (1 + torch.exp(e))) * ((1 / (1 + torch.exp(a))) * out_vec.view(b, c, h, w)
                + (torch.exp(a) / (1 + torch.exp(a))) * seed) + (torch.exp(e) / (1 + torch.exp(e))) * pred)


class DifNet(nn.Module):
    def __init__(self, classes, depth):
        super().__init__()
        block, layers = {18: (BasicBlock, [2, 2, 2, 2]), 50: (Bottleneck, [3, 4, 6, 3])}[depth]
        widths = [3] + [w * block.expansion for w in (64, 128, 256, 512)]
        for t, width in enumerate(widths):
            setattr(self, f"diffuse{t}", Diffuse(width))
        self.model_sed = ResNet(block, layers, classes)
        self.model_dif = ResNet(block, layers, classes, isseed=False)
        self.mask_layer = Mask(classes)

    def forward(self, x):
        sed = self.model_sed(x)
        sed_out = sed.clone()
        mask = self.mask_layer(sed)
        sed = sed * mask
        dif = self.model_dif(x)
        preds = [self.diffuse0(x, sed, sed)]
        for t, level in enumerate(dif, start=1):
            preds.append(getattr(self, f"diffuse{t}")(level, preds[-1], sed))
        return mask, sed_out, preds


torch.manual_seed(0)
model = DifNet(classes, depth)
generator = torch.Generator().manual_seed(1)
with torch.no_grad():
    for name, parameter in model.named_parameters():
        if name.endswith(("alpha", "beta")):
            parameter.uniform_(-1.5, 1.5, generator=generator)
        elif parameter.dim() == 4:  # He-like scale keeps the activations of a deep random network moderate
            fan_in = parameter.shape[1] * parameter.shape[2] * parameter.shape[3]
            parameter.normal_(0.0, (1.0 / fan_in) ** 0.5, generator=generator)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.weight.uniform_(0.5, 1.5, generator=generator)
            module.bias.normal_(0.0, 0.1, generator=generator)
            module.running_mean.normal_(0.0, 0.1, generator=generator)
            module.running_var.uniform_(0.5, 1.5, generator=generator)
model.eval()
x = torch.from_numpy(np.load(inputs).transpose(0, 3, 1, 2))
with torch.no_grad():
    mask, sed_out, preds = model(x)
results = {key: value.numpy() for key, value in model.state_dict().items()}
results["mask"] = mask.numpy().transpose(0, 2, 3, 1)
results["sed_out"] = sed_out.numpy().transpose(0, 2, 3, 1)
for t, pred in enumerate(preds, start=1):
    results[f"walk{t}"] = pred.numpy().transpose(0, 2, 3, 1)
np.savez(output, **results)
'''


def _copy(state, model, depth):
    """The authors' state dict -> our layers (conv OIHW -> HWIO; BN weight, bias, running statistics)."""
    def conv(layer, key, bias=False):
        weights = [state[f"{key}.weight"].transpose(2, 3, 1, 0)]
        layer.set_weights(weights + ([state[f"{key}.bias"]] if bias else []))

    def bn(layer, key):
        layer.set_weights([state[f"{key}.{n}"] for n in ("weight", "bias", "running_mean", "running_var")])

    for branch, prefix in ((model.get_layer(f"resnet{depth}"), "model_sed"),
                           (model.get_layer("similarity"), "model_dif")):
        conv(branch.get_layer("conv1"), f"{prefix}.conv1")
        bn(branch.get_layer("conv1_bn"), f"{prefix}.bn1")
        for key in state:
            parts = key.split(".")
            if parts[0] != prefix or not parts[1].startswith("layer") or parts[1] == "layer5":
                continue
            unit = f"block{parts[1][5:]}_unit{int(parts[2]) + 1}"
            if parts[3].startswith("conv") and parts[4] == "weight":
                conv(branch.get_layer(f"{unit}_{parts[3]}"), ".".join(parts[:4]))
                bn(branch.get_layer(f"{unit}_{parts[3]}_bn"), ".".join(parts[:3] + [f"bn{parts[3][4:]}"]))
            elif parts[3:] == ["downsample", "0", "weight"]:
                conv(branch.get_layer(f"{unit}_shortcut"), ".".join(parts[:5]))
                bn(branch.get_layer(f"{unit}_shortcut_bn"), ".".join(parts[:4] + ["1"]))
    for index, rate in enumerate((6, 12, 18, 24)):
        conv(model.get_layer(f"aspp_rate{rate}"), f"model_sed.layer5.conv2d_list.{index}", bias=True)
    importance = model.get_layer("importance")
    for k in (1, 2, 3):
        bn(importance.get_layer(f"importance_bn{k}"), f"mask_layer.bn{k - 1}")
        conv(importance.get_layer(f"importance_conv{k}"), f"mask_layer.conv{k}")
    for t in range(1, 6):
        psi = model.get_layer(f"psi{t}")
        conv(psi.get_layer(f"psi{t}_conv"), f"diffuse{t - 1}.conv", bias=True)
        bn(psi.get_layer(f"psi{t}_bn"), f"diffuse{t - 1}.bn")
        walk = model.get_layer(f"walk{t}")
        walk.mu_logit.assign(float(state[f"diffuse{t - 1}.alpha"][0]))
        walk.beta_logit.assign(float(state[f"diffuse{t - 1}.beta"][0]))


@pytest.mark.parametrize("depth", [18, 50])
def test_difnet_equals_the_authors_network(tmp_path, depth):
    model = build_model(papers.get_experiment("difnet", f"difnet_{depth}").model, 5)
    images = np.random.default_rng(0).uniform(0, 255, (2, 65, 49, 3)).astype("float32")
    normalised = np.asarray(model.get_layer(f"resnet{depth}")(images)["input"])
    np.save(tmp_path / "inputs.npy", normalised)
    result = subprocess.run([sys.executable, "-c", REFERENCE, str(depth), "5", str(tmp_path / "inputs.npy"),
                             str(tmp_path / "reference.npz")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    reference = dict(np.load(tmp_path / "reference.npz"))
    _copy(reference, model, depth)
    ours = {name: np.asarray(value) for name, value in analysis_outputs(model)(images, training=False).items()}
    pairs = [("score_map", "sed_out"), ("importance", "mask")] + [(f"walk{t}", f"walk{t}") for t in range(1, 6)]
    for name, key in pairs:
        expected = reference[key]
        assert ours[name].shape == expected.shape == (2, 9, 7, 5 if name != "importance" else 1), name
        scale = np.abs(expected).max()
        np.testing.assert_allclose(ours[name] / scale, expected / scale, atol=1e-4, err_msg=name)
