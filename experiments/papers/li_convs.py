"""LI-Convs: "Dilated Convolutions with Lateral Inhibitions for Semantic Image Segmentation" (Wang et al.).

PAPERS.md section 1. DeepLabv3 / v3+ at output stride 16 with the depthwise-separable ASPP (rates 6, 12, 18, image
pooling) on MobileNetV2 or research/deeplab's ResNet-50 beta (multi-grid 1, 2, 4). This module registers the
paper's baselines; the lateral-inhibition rows of Tables I-V build on them.

Recipe (the paper): Adam, lr 3e-4 constant, epsilon 0.01, L2 regularisation (weight decay 4e-5 for MobileNetV2,
1e-4 for ResNet, from the authors' configs), batch 16, crop 513, random scale 0.5-2.0. The data section is the
dataset's preset (experiments/datasets.py); the paper's 120 VOC epochs are `--epochs=120 --dataset=voc`.
"""

from __future__ import annotations

import dataclasses

from experiments.config import ExperimentConfig
from li_seg.config import BackboneConfig, ModelConfig, TrainConfig

MOBILENET_V2 = BackboneConfig(name="mobilenet_v2", output_stride=16)
RESNET50_BETA = BackboneConfig(name="resnet50", output_stride=16, multi_grid=(1, 2, 4), stem="beta")

ASPP = ModelConfig(
    architecture="deeplabv3", atrous_rates=(6, 12, 18), aspp_separable=True, image_pooling=True, dropout_rate=0.1
)

RECIPE = TrainConfig(
    optimizer="adam", learning_rate=3e-4, adam_epsilon=0.01, lr_schedule="constant", batch_size=16,
    weight_decay=4e-5,
)


def _experiment(backbone: BackboneConfig, *, decoder: bool = False) -> ExperimentConfig:
    architecture = "deeplabv3plus" if decoder else "deeplabv3"
    weight_decay = 4e-5 if backbone.name == "mobilenet_v2" else 1e-4
    return ExperimentConfig(
        model=dataclasses.replace(ASPP, backbone=backbone, architecture=architecture),
        train=dataclasses.replace(RECIPE, weight_decay=weight_decay),
    )


def mnv2_aspp() -> ExperimentConfig:
    """Table IV row 1 (and Table II baseline): MobileNetV2 + ASPP, 2,568,021 parameters for 21 classes."""
    return _experiment(MOBILENET_V2)


def resnet50_aspp() -> ExperimentConfig:
    """Table V row 1 (and Table III baseline): ResNet-50 beta + ASPP, 26,656,981 parameters for 21 classes."""
    return _experiment(RESNET50_BETA)


def resnet50_aspp_decoder() -> ExperimentConfig:
    """Table V row 4: ResNet-50 beta + ASPP + DeepLabv3+ decoder, 26,819,909 parameters for 21 classes."""
    return _experiment(RESNET50_BETA, decoder=True)


ABLATIONS = {
    "mnv2_aspp": mnv2_aspp,
    "resnet50_aspp": resnet50_aspp,
    "resnet50_aspp_decoder": resnet50_aspp_decoder,
}

# The paper's main model is LI-MNV2 + LI-ASPP (Table IV); until the LI layers land, the baseline stands in.
MAIN_ABLATION = "mnv2_aspp"
