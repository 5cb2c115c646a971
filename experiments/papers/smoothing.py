"""Efficient smoothing of dilated convolutions (Ziegler et al.) with Wang & Ji's SS Conv and G Interact.

PAPERS.md section 2. DeepLabv2 on ResNet-101 (v1, 7x7 stem) at output stride 8: block3's 23 units at rate 2,
block4's 3 units at rate 4, BN frozen, in the caffe layout (the stride on the first 1x1 conv of a block's first
unit), Caffe's BGR input and BN epsilon 1e-3 of the authors' code (Wang & Ji's TF port of DeepLab's Caffe
ResNet-101); ASPP-v2 (3x3 convs with bias to the classes at rates 6, 12, 18, 24, summed) stays unsmoothed. Each
ablation smooths the 3x3 conv2 of every block3 and block4 unit (`li_seg.layers.smoothing`): a pre-filter on its
input, or G Interact on its output. Filter sizes follow the paper's rule s = r (2 x 2 in block3, 4 x 4 in
block4) unless `model.backbone.smoothing.size_rule=code` (the released code's s = r - 1); every paper-versus-code
option is a field of `SmoothingConfig`.

Recipes (`--recipe`): "voc" (the ablations' default; Sec. IV): SGD momentum 0.9, poly 0.9, lr 0.002, weight decay
1e-4 on weights only, batch 10, crop 321, 20,000 steps, classifier (ASPP-v2) weights 10x and biases 20x the lr;
"cityscapes": the same with lr 1e-4, batch 3, crop 721 (the code: 719), 80,000 steps. Random scale 0.5-1.5
(continuous) and mirroring are the authors' data pipeline (the DeepLab-ResNet TF image reader their code builds on).
The paper starts from DeepLabv2 pre-trained on MS-COCO, Wang & Ji's deeplab_resnet_init.ckpt: as backbone
weights (`model.backbone.weights`; its classifier is random) or whole with `--init_checkpoint` (README "Pretrained
weights"); random initialisation otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from experiments.config import ExperimentConfig, override
from experiments.papers.record import CostComparison, PaperRecord, Reported
from li_seg.config import BackboneConfig, ModelConfig, SmoothingConfig
from li_seg.models.deeplab import DeepLabConfig

# bn_epsilon: the authors' code runs tf.contrib's batch_norm, whose default epsilon is 1e-3 (Caffe's was 1e-5).
RESNET101_OS8 = BackboneConfig(name="resnet101", output_stride=8, multi_grid=None, stem="plain", layout="caffe",
                               bn_epsilon=1e-3)
DEEPLABV2 = ModelConfig(
    architecture="deeplabv2", backbone=RESNET101_OS8, head=DeepLabConfig(atrous_rates=(6, 12, 18, 24)), frozen_bn=True
)
CLASSIFIER_LR_MULTIPLIERS = ((r"logits_rate\d+/kernel$", 10.0), (r"logits_rate\d+/bias$", 20.0))


def _recipe(cfg: ExperimentConfig, learning_rate: float, batch_size: int, crop: int, steps: int
            ) -> ExperimentConfig:
    return override(cfg, {
        "train.optimizer": "sgd", "train.momentum": 0.9, "train.lr_schedule": "poly", "train.poly_power": 0.9,
        "train.learning_rate": learning_rate, "train.weight_decay": 1e-4, "train.batch_size": batch_size,
        "train.train_steps": steps, "train.epochs": None, "train.lr_multipliers": CLASSIFIER_LR_MULTIPLIERS,
        "data.crop_size": (crop, crop), "data.min_scale": 0.5, "data.max_scale": 1.5, "data.scale_step": 0.0,
        "data.flip": True,
    })


def voc(cfg: ExperimentConfig) -> ExperimentConfig:
    """Sec. IV, PASCAL VOC: lr 0.002, batch 10, crop 321, 20,000 steps (Table I, II)."""
    return _recipe(cfg, 0.002, 10, 321, 20_000)


def cityscapes(cfg: ExperimentConfig) -> ExperimentConfig:
    """Sec. IV, Cityscapes: lr 1e-4, batch 3, crop 721, 80,000 steps (Table III, IV)."""
    return _recipe(cfg, 1e-4, 3, 721, 80_000)


RECIPES = {function.__name__: function for function in (voc, cityscapes)}


def _experiment(smoothing: Optional[SmoothingConfig]) -> ExperimentConfig:
    backbone = dataclasses.replace(RESNET101_OS8, smoothing=smoothing)
    return voc(ExperimentConfig(model=dataclasses.replace(DEEPLABV2, backbone=backbone)))


def deeplabv2() -> ExperimentConfig:
    """Table I / III baseline, DeepLabv2 (VOC val 72.0, Cityscapes val 68.07 mIoU; Table II: 9 h 10 for 20k steps)."""
    return _experiment(None)


def average() -> ExperimentConfig:
    """Average pre-filter, fixed 1/s^2 (VOC 72.7, Cityscapes 68.36; training time +4.3 %)."""
    return _experiment(SmoothingConfig(kind="average"))


def gaussian() -> ExperimentConfig:
    """Gaussian pre-filter, fixed, sigma 1.0 (VOC 72.9, Cityscapes 68.12; +5.6 %)."""
    return _experiment(SmoothingConfig(kind="gaussian", sigma=1.0))


def ss_conv() -> ExperimentConfig:
    """Wang & Ji's SS Conv: one (2r-1)^2 filter per layer shared by the channels (VOC 72.5, Cityscapes 68.19;
    +24.9 %)."""
    return _experiment(SmoothingConfig(kind="ss_conv"))


def g_interact() -> ExperimentConfig:
    """Wang & Ji's G Interact: r^2 x r^2 sub-grid mixing after the conv (VOC 73.0; +13.8 %)."""
    return _experiment(SmoothingConfig(kind="g_interact"))


def aggregated() -> ExperimentConfig:
    """Sec. III-D: learned convex combination of Average, Gaussian, SS Conv and identity (Fig. 5)."""
    return _experiment(SmoothingConfig(kind="aggregated", coefficients="convex"))


ABLATIONS = {function.__name__: function for function in (deeplabv2, average, gaussian, ss_conv, g_interact,
                                                          aggregated)}
MAIN_ABLATION = "gaussian"


def _reported(voc: float, cityscapes: Optional[float] = None) -> Reported:
    miou = {"VOC val": voc, **({"Cityscapes val": cityscapes} if cityscapes is not None else {})}
    return Reported(miou=miou, source="Table I (VOC val)" + (", Table III (Cityscapes val)" if cityscapes else ""))


# Table II: training time for 20k steps on a GTX 1080Ti, relative to DeepLabv2 (9 h 10); our target (issue 5):
# the fixed filters at most 5 % slower.
_COST_SOURCE = "Table II, GTX 1080Ti, 20k steps"
PAPER = PaperRecord(
    name="smoothing",
    pretrained={"resnet101": "wang_ji_deeplabv2_coco"},
    title="Efficient Smoothing of Dilated Convolutions for Image Segmentation (Ziegler et al.)",
    ablations=ABLATIONS,
    main_ablation=MAIN_ABLATION,
    recipes=RECIPES,
    dataset_recipes={"voc": "voc", "cityscapes": "cityscapes"},
    reported={"deeplabv2": _reported(72.0, 68.07), "ss_conv": _reported(72.5, 68.19),
              "g_interact": _reported(73.0), "average": _reported(72.7, 68.36), "gaussian": _reported(72.9, 68.12)},
    costs=(
        CostComparison("average", "deeplabv2", 1.043, None, 1.05, _COST_SOURCE),
        CostComparison("gaussian", "deeplabv2", 1.056, None, 1.05, _COST_SOURCE),
        CostComparison("ss_conv", "deeplabv2", 1.249, None, None, _COST_SOURCE),
        CostComparison("g_interact", "deeplabv2", 1.138, None, None, _COST_SOURCE),
        CostComparison("aggregated", "deeplabv2", None, None, None, "not reported"),
    ),
)
