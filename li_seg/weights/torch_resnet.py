"""Tables of PyTorch ResNet state dicts (.pth via `li_seg.weights.pth`, or .safetensors), into our ResNets in
the torchvision layout (theirs) or the caffe layout (DifNet's code loads torchvision's weights into caffe-layout
ResNets; the variables are the same, only where the stride sits differs).

- `TORCHVISION_RESNET`: torchvision's resnet18 / 34 / 50 / 101 / 152 and timm's plain-stem resnets (same keys):
  "conv1", "bn1", "layer{b}.{u-1}.conv{k}" / ".bn{k}", "layer{b}.{u-1}.downsample.0" / ".1" (the projection
  shortcut: conv, BN); "fc" is the classifier (not built).
- `DEEP_BASE_RESNET`: the deep stem as nn.Sequential "conv1" (conv 0, BN 1, ReLU, conv 3, BN 4, ReLU, conv 6)
  with the last BN as "bn1": PyTorch-Encoding's deep-base ResNet (resnet101 with deep_base=True, widths 64, 64,
  128; PAN's and CycleNet's SPNet-based code) and timm's resnet*c / *d stems (widths 32, 32, 64). Our beta stem
  "conv1_1" ... "conv1_3" with `stem_widths` set to the file's.
- `MMSEG_V1C_RESNET`: mmsegmentation's ResNetV1c (open-mmlab://resnet101_v1c): the stem as "stem.0" conv, "stem.1"
  BN, "stem.3", "stem.4", "stem.6", "stem.7" (widths 32, 32, 64), the layers as torchvision's.
A conv weight (out, in, kh, kw) becomes (kh, kw, in, out); BN weight / bias / running_mean / running_var are
gamma / beta / moving_mean / moving_variance; num_batches_tracked is dropped. BN epsilon 1e-5 (nn.BatchNorm2d's
default, which all of these use). The avg-pool shortcut of ResNet-D ("downsample.1" conv, "downsample.2" BN) has
no counterpart here: such a file fails with its downsample tensors named.
"""

from __future__ import annotations

from li_seg.weights.mapping import Mapping, Rule, Variable, torch_conv_kernel

KINDS = {
    "conv": {"kernel": Variable(("{p}.weight",), torch_conv_kernel)},
    "bn": {
        "gamma": Variable(("{p}.weight",)),
        "beta": Variable(("{p}.bias",)),
        "moving_mean": Variable(("{p}.running_mean",)),
        "moving_variance": Variable(("{p}.running_var",)),
    },
}
_UNIT = r"block(?P<b>\d)_unit(?P<u>\d+)"
_LAYERS = (
    Rule(_UNIT + r"_conv(?P<k>[123])", "layer{b}.{u_minus_1}.conv{k}", "conv"),
    Rule(_UNIT + r"_conv(?P<k>[123])_bn", "layer{b}.{u_minus_1}.bn{k}", "bn"),
    Rule(_UNIT + r"_shortcut", "layer{b}.{u_minus_1}.downsample.0", "conv"),
    Rule(_UNIT + r"_shortcut_bn", "layer{b}.{u_minus_1}.downsample.1", "bn"),
)
IGNORED = (r"fc\..*", r".*\.num_batches_tracked")


def _deep_stem(convs: tuple[str, str, str], bns: tuple[str, str, str]) -> tuple[Rule, ...]:
    rules = []
    for index, (conv, bn) in enumerate(zip(convs, bns), start=1):
        rules += [Rule(f"conv1_{index}", conv, "conv"), Rule(f"conv1_{index}_bn", bn, "bn")]
    return tuple(rules)


DEEP_BASE_STEM = (("conv1.0", "conv1.3", "conv1.6"), ("conv1.1", "conv1.4", "bn1"))  # (convs, their BNs)
MMSEG_V1C_STEM = (("stem.0", "stem.3", "stem.6"), ("stem.1", "stem.4", "stem.7"))

# torchvision's transforms (mean 0.485, 0.456, 0.406; std 0.229, 0.224, 0.225 on [0, 1] RGB); PyTorch-Encoding and
# mmsegmentation (mean 123.675, 116.28, 103.53; std 58.395, 57.12, 57.375 on [0, 255] RGB) use the same numbers.
IMAGENET = "imagenet"
TORCHVISION_RESNET = Mapping(
    name="torchvision / timm ResNet",
    rules=(Rule(r"conv1", "conv1", "conv"), Rule(r"conv1_bn", "bn1", "bn")) + _LAYERS,
    kinds=KINDS, ignored=IGNORED, bn_epsilon=1e-5, normalization=IMAGENET,
)
DEEP_BASE_RESNET = Mapping(
    name="PyTorch-Encoding deep-base / timm deep-stem ResNet",
    rules=_deep_stem(*DEEP_BASE_STEM) + _LAYERS,
    kinds=KINDS, ignored=IGNORED, bn_epsilon=1e-5, normalization=IMAGENET,
)
MMSEG_V1C_RESNET = Mapping(
    name="mmsegmentation ResNetV1c",
    rules=_deep_stem(*MMSEG_V1C_STEM) + _LAYERS,
    kinds=KINDS, ignored=IGNORED, bn_epsilon=1e-5, normalization=IMAGENET,
)
# which table a state dict needs, told by its first stem conv
BY_STEM_KEY = {
    "conv1.weight": TORCHVISION_RESNET, f"{DEEP_BASE_STEM[0][0]}.weight": DEEP_BASE_RESNET,
    f"{MMSEG_V1C_STEM[0][0]}.weight": MMSEG_V1C_RESNET,
}
