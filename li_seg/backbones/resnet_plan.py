"""The ResNet family the five papers' authors used, as data: depths, stride layouts, unit names, output strides.

Depths (He et al. 2016): 18 and 34 with basic units (two 3x3 convs), 50, 101 and 152 with bottleneck units
(1x1 -> 3x3 -> 1x1, expansion 4); units per block (2, 2, 2, 2), (3, 4, 6, 3), (3, 4, 6, 3), (3, 4, 23, 3),
(3, 8, 36, 3).

Layouts: where the strides of blocks 1-4 sit and how a block dilated for a smaller output stride is dilated.
- "slim" (TF-slim, research/deeplab; LI-Convs and the smoothing paper here): the stride 2 of blocks 1-3 in the
  *last* unit of the block, on its 3x3 conv; max-pool SAME.
- "torchvision" (ResNet v1.5, most PyTorch segmentation code: PyTorch-Encoding, mmsegmentation): the stride 2 of
  blocks 2-4 in the *first* unit, on its 3x3 conv; max-pool padded by 1 (floor mode).
- "caffe" (the original ResNet, DeepLabv2's Caffe model, DifNet's released code): the stride 2 of blocks 2-4 in
  the first unit, on its first 1x1 conv; max-pool padded by 1 in ceil mode (`nn.MaxPool2d(3, 2, 1,
  ceil_mode=True)`, DifNet's model_difnet.py).
Basic units carry the stride on their first 3x3 conv in every layout and dilate only the second (DifNet's
BasicBlock; torchvision's refuses dilation).

Output stride 8 / 16 / 32 by dilation (`unit_schedule`): once the stride so far equals the target, a unit that
would stride runs with stride 1. research/deeplab's rule (slim, torchvision): that unit keeps the current rate
and the rate is multiplied by 2 for the units after it, so at OS 8 torchvision's layer3 runs (1, 2, 2, ...) and
layer4 (2, 4, 4), as `replace_stride_with_dilation` does. DeepLabv2 / DifNet's rule (caffe): every unit of a
dilated block runs at the block's rate, the first included (layer3 all 2, layer4 all 4). `first_unit_dilated`
chooses the rule for the torchvision layout too (PAN: "res5 dilated by 2" is (2, 2, 2) at OS 16, torchvision's
own rule gives (1, 2, 2)). `multi_grid` multiplies the rates of the last block's units (OS 16 with (1, 2, 4):
2, 4, 8).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

from li_seg.backbones.output_stride import atrous_schedule

RESNETS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}
LAYOUTS = ("slim", "torchvision", "caffe")
STEMS = ("beta", "plain")
BASE_DEPTHS = (64, 128, 256, 512)
DEFAULT_NORMALIZATION = {"slim": "mean_rgb", "torchvision": "imagenet", "caffe": "caffe_bgr"}
STEM_STRIDE = 4  # the stem's stride-2 conv and max-pool


def units(name: str) -> tuple[int, ...]:
    """Units per block of ResNet `name`."""
    return RESNETS[name][1]


def unit_type(name: str) -> str:
    """"basic" or "bottleneck"."""
    return RESNETS[name][0]


def block_depth(name: str, block: int) -> int:
    """Output channels of block `block` (1-4): 64 ... 512 for basic units, 4 times that for bottlenecks."""
    return BASE_DEPTHS[block - 1] * (4 if unit_type(name) == "bottleneck" else 1)


def unit_positions(name: str) -> dict[str, tuple[int, int]]:
    """The papers' unit names of ResNet `name` -> (block, unit): {"conv2_1": (1, 1), ..., "conv5_3": (4, 3)}."""
    return {
        f"conv{block + 1}_{unit}": (block, unit)
        for block, count in enumerate(units(name), start=1) for unit in range(1, count + 1)
    }


def nominal_strides(name: str, layout: str) -> list[int]:
    """The stride of every unit, in order, before dilation replaces strides."""
    counts = units(name)
    if layout == "slim":
        return [2 if u == n - 1 and b < 3 else 1 for b, n in enumerate(counts) for u in range(n)]
    return [2 if u == 0 and b > 0 else 1 for b, n in enumerate(counts) for u in range(n)]


def dilates_first_unit(layout: str, option: Optional[bool] = None) -> bool:
    """Whether a dilated block's first unit runs at the block's new rate: `option` (BackboneConfig
    .first_unit_dilated) or the layout's rule (caffe: yes; slim, torchvision: it keeps the previous rate)."""
    return layout == "caffe" if option is None else option


def unit_schedule(
    name: str, layout: str, output_stride: int, multi_grid: Optional[Sequence[int]] = None,
    first_unit_dilated: Optional[bool] = None,
) -> list[list[tuple[int, int]]]:
    """(stride, rate) of every unit's spatial conv, per block (see the module docstring); `first_unit_dilated`:
    BackboneConfig's option (None = the layout's rule, `dilates_first_unit`)."""
    strides = nominal_strides(name, layout)
    schedule = atrous_schedule(strides, output_stride, current_stride=STEM_STRIDE)
    if dilates_first_unit(layout, first_unit_dilated):  # a de-strided unit already runs at its block's new rate
        schedule = [(1, rate * nominal) if stride < nominal else (stride, rate)
                    for (stride, rate), nominal in zip(schedule, strides)]
    flat = iter(schedule)
    blocks = [[next(flat) for _ in range(n)] for n in units(name)]
    grid = multi_grid or (1,) * len(blocks[-1])
    blocks[-1] = [(stride, rate * g) for (stride, rate), g in zip(blocks[-1], grid)]
    return blocks


def endpoint_strides(name: str, layout: str, output_stride: int) -> dict[str, int]:
    """The stride of each endpoint: input 1, stem 2, block1 ... block4, low_level (the last feature at stride 4)."""
    result = {"input": 1, "stem": 2, "low_level": STEM_STRIDE}
    current = STEM_STRIDE
    for block, block_units in enumerate(unit_schedule(name, layout, output_stride), start=1):
        current *= math.prod(stride for stride, _ in block_units)
        result[f"block{block}"] = current
    return result


def low_level_unit(name: str, layout: str) -> tuple[int, int]:
    """(block, unit) whose output is "low_level": block1's last unit before any stride (research/deeplab's
    decoder end point: slim's block1 unit n-1, the other layouts' block1 output)."""
    count = units(name)[0]
    return (1, count - 1) if layout == "slim" else (1, count)
