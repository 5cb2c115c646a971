"""What network a pretrained file holds, read from its tensors: the backbone config it loads into (depth, unit
type, stem and its widths), so that a file converts without the user naming its network."""

from __future__ import annotations

import re
from typing import Optional

from li_seg.backbones import resnet_plan
from li_seg.config import BackboneConfig
from li_seg.weights import torch_resnet

# per format: a key of the first conv of every unit, its (block, unit) groups, the unit offset (0-based -> 1)
_UNIT_KEYS = {
    "tf_slim": (r"resnet_v1_\d+/block(\d)/unit_(\d+)/bottleneck_v1/conv1/weights", 0, 0),
    "torch": (r"layer(\d)\.(\d+)\.conv1\.weight", 0, 1),
    "keras_applications": (r"conv(\d)_block(\d+)_1_conv/kernel", -1, 0),
}
# the three deep-stem convs (output channels on the last axis for TF, the first for PyTorch)
_DEEP_STEMS = (
    ("tf_slim", tuple(f"conv1_{i}/weights" for i in (1, 2, 3)), -1),
    ("torch", tuple(f"{conv}.weight" for conv in torch_resnet.DEEP_BASE_STEM[0]), 0),
    ("torch", tuple(f"{conv}.weight" for conv in torch_resnet.MMSEG_V1C_STEM[0]), 0),
)
DEFAULT_LAYOUT = {"tf_slim": "slim", "torch": "torchvision", "keras_applications": "caffe", "deeplabv2_tf": "caffe"}


def infer_backbone(fmt: str, tensors) -> BackboneConfig:
    """The backbone config whose variables the file's tensors are, in the file's own layout (`DEFAULT_LAYOUT`) and
    with the input normalisation its network expects where it is not the layout's default. Raises ValueError when
    the tensors are no backbone this project builds."""
    keys = list(tensors)
    if "MobilenetV2/Conv/weights" in tensors or "Conv1/kernel" in tensors:
        return BackboneConfig(name="mobilenet_v2")
    if fmt == "deeplabv2_tf":
        return BackboneConfig(name="resnet101", stem="plain", layout="caffe")
    if fmt not in _UNIT_KEYS:
        raise ValueError(f"format {fmt!r} names no network to infer")
    pattern, block_offset, unit_offset = _UNIT_KEYS[fmt]
    counts: dict[int, int] = {}
    for key in keys:
        found = re.search(pattern, key)
        if found:
            block, unit = int(found.group(1)) + block_offset, int(found.group(2)) + unit_offset
            counts[block] = max(counts.get(block, 0), unit)
    bottleneck = any(re.search(pattern.replace("conv1", "conv3").replace("_1_conv", "_3_conv"), key) for key in keys)
    units = tuple(counts.get(block, 0) for block in (1, 2, 3, 4))
    kind = "bottleneck" if bottleneck else "basic"
    names = [name for name, spec in resnet_plan.RESNETS.items() if spec == (kind, units)]
    if not names:
        raise ValueError(f"the file's units per block {units} ({kind}) are no ResNet of {list(resnet_plan.RESNETS)}")
    widths = _deep_stem_widths(fmt, tensors)
    stem = {"stem": "beta", "stem_widths": widths} if widths else {"stem": "plain"}
    # research/deeplab feeds its beta ResNets inputs in [-1, 1] (feature_extractor.py); the rest: the layout's own
    normalization = "unit_range" if fmt == "tf_slim" and widths else None
    return BackboneConfig(name=names[0], layout=DEFAULT_LAYOUT[fmt], normalization=normalization, **stem)


def _deep_stem_widths(fmt: str, tensors) -> Optional[tuple[int, int, int]]:
    for stem_format, suffixes, axis in _DEEP_STEMS:
        if stem_format != fmt:
            continue
        found = [_find(tensors, fmt, suffix) for suffix in suffixes]
        if all(found):
            return tuple(int(_shape(tensors, key)[axis]) for key in found)
    return None


def _find(tensors, fmt: str, name: str) -> Optional[str]:
    """The key `name` (PyTorch: exact) or the key ending with "/`name`" (TF: under the network's scope)."""
    if fmt == "torch":
        return name if name in tensors else None
    return next((key for key in tensors if key.endswith(f"/{name}")), None)


def _shape(tensors, key: str) -> tuple[int, ...]:
    shape = getattr(tensors, "shape", None)
    return tuple(shape(key)) if callable(shape) else tuple(tensors[key].shape)
