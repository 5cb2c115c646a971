"""The one protocol under which docs/results.md compares every paper's method with the baseline its paper names.

CamVid (train 367 / val 101, 11 classes), from scratch (no pretrained weights are reachable on these machines),
one CPU device. Every run of every paper: 176 x 240 crops of images scaled uniformly in [0.4, 0.6] (CamVid's
360 x 480 becomes 144-216 x 192-288), horizontal flips, batch 8, 400 steps (3,200 crops, 8.7 epochs),
Adam (epsilon 1e-7) lr 1e-3 with poly decay (power 0.9) to 0, L2 1e-4 on conv / dense kernels, every layer at the
same learning rate, BN trained (not frozen; one device, so not synchronised); evaluation on val every 100 steps at
input scale 0.5, scored at 360 x 480 (the val labels' size). Each paper keeps its architecture (heads, auxiliary
heads and their loss weights, output stride and dilation) with its backbone replaced by ResNet-18 (MobileNetV2 for
LI-Convs, the paper's own efficient network), each with its paper's layout and stem.

Where this departs from a paper's recipe and why (BUILD_NOTES 20):
- Adam at epsilon 1e-7 for every paper, the LI paper's included: its 0.01 (research/deeplab's) divides gradients of
  the inhibition intensities W_L near 2e-4 by 0.01, so W_L moves 50x slower than lr and stays at its 1e-4
  initialisation for a run this short (BUILD_NOTES 9.4); at 1e-7 it moves at about lr per step.
- LI-Convs' paper trains 120 epochs and then fine-tunes only the LI weights W_L for 40 more (`--finetune=li_only`).
  Neither fits the equal budget: its LI arm is the first stage alone, 8.7 epochs long, so the table cannot show what
  the LI-only stage adds, nor W_L after a full-length first stage.
- CycleNet's ResNet-18 keeps the torchvision layout's dilation (block3 at rates 1, 2; block4 at 2, 4), pinned: the
  campaign started before issue 26 made the paper's sentence the default (every unit at 2, then 4), and all three
  arms share it.
- CycleASPP at DenseASPP's DenseNet-121 widths 128 / 64 (ResNet-18's block4 has 512 channels, a quarter of
  ResNet-101's; at 512 / 128 CycleNet runs at 0.8 images/s here, BUILD_NOTES 15.6).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

PROTOCOL_STEPS = 400
PROTOCOL_SEEDS = (0, 1, 2)
CROP = (176, 240)
BATCH = 8
LEARNING_RATE = 1e-3
EVAL_SCALE = 0.5
EVAL_EVERY_STEPS = 100

# --params_override of every run (a JSON object: the values keep their types).
COMMON_OVERRIDES = {
    "train.optimizer": "adam", "train.adam_epsilon": 1e-7, "train.lr_schedule": "poly", "train.poly_power": 0.9,
    "train.end_learning_rate": 0.0, "train.warmup_steps": 0, "train.weight_decay": 1e-4,
    "train.weight_decay_scope": "kernels", "train.lr_multipliers": [], "train.trainable_patterns": [],
    "data.min_scale": 0.4, "data.max_scale": 0.6, "data.scale_step": 0, "data.flip": True,
    "model.frozen_bn": False, "model.sync_bn": False,
    "train.eval_every_steps": EVAL_EVERY_STEPS, "train.checkpoint_every_steps": EVAL_EVERY_STEPS,
    "train.keep_checkpoints": 2, "train.log_every_steps": 20, "train.summary_every_steps": 20,
    "train.image_summary_every_steps": 100000,
}
RESNET18 = {"model.backbone.name": "resnet18"}
# CycleNet's arms keep the dilation they started with (the torchvision layout's rule: block3 (1, 2), block4 (2, 4)),
# not the paper's (2, 2) / (4, 4) that issue 26 made the default, so that every seed runs the same network.
CYCLENET_RESNET18 = {**RESNET18, "model.backbone.first_unit_dilated": None, "model.backbone.multi_grid": None}
CYCLE_ASPP_WIDTHS = {**CYCLENET_RESNET18, "model.head.cycle_aspp.bottleneck_channels": 128,
                     "model.head.cycle_aspp.growth_channels": 64}


@dataclasses.dataclass(frozen=True)
class Arm:
    """One row of the results table: a paper's ablation, compared with its paper's baseline (None: the baseline)."""

    paper: str
    ablation: str
    baseline: Optional[str] = None
    overrides: dict = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.paper}/{self.ablation}"


# Each method against the baseline its paper names (docs/results.md, "Arms"). Order: the order runs are started
# within a seed (the heaviest paper first, so that its three seeds are not the last to finish).
ARMS = (
    Arm("cyclenet", "resnet101", overrides=CYCLENET_RESNET18),
    Arm("cyclenet", "cycleaspp_3_30", "resnet101", CYCLE_ASPP_WIDTHS),
    Arm("cyclenet", "cyclenet", "resnet101", CYCLE_ASPP_WIDTHS),
    Arm("li_convs", "mnv2_aspp"),
    Arm("li_convs", "li_mnv2_li_aspp", "mnv2_aspp"),
    Arm("pan", "resnet101", overrides=RESNET18),
    Arm("pan", "pan", "resnet101", RESNET18),
    Arm("difnet", "sim_deeplab_18"),
    Arm("difnet", "difnet_18", "sim_deeplab_18"),
    Arm("smoothing", "deeplabv2", overrides=RESNET18),
    Arm("smoothing", "gaussian", "deeplabv2", RESNET18),
    Arm("smoothing", "average", "deeplabv2", RESNET18),
    Arm("smoothing", "aggregated", "deeplabv2", RESNET18),
)
ARMS_BY_NAME = {arm.name: arm for arm in ARMS}


def select_arms(names: Optional[list[str]]) -> tuple[Arm, ...]:
    """The arms named "paper/ablation" or "paper" (all its arms), in protocol order; all of them for None / []."""
    if not names:
        return ARMS
    unknown = [name for name in names if name not in ARMS_BY_NAME and not any(a.paper == name for a in ARMS)]
    if unknown:
        raise ValueError(f"unknown arm(s) {', '.join(unknown)}; the protocol's arms: "
                         f"{', '.join(ARMS_BY_NAME)} (or a paper name for all its arms)")
    return tuple(arm for arm in ARMS if arm.name in names or arm.paper in names)
