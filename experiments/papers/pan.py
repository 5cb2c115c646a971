"""PAN: "Pyramid Attention Network for Semantic Segmentation" (Li et al., BMVC 2018).

docs/pan.md. ResNet-101 with a deep stem (three 3x3 convs, 64-64-128) in the torchvision layout at output
stride 16, every unit of res5 dilated by 2 (`first_unit_dilated`; the text's literal "res5b blocks" is
`model.backbone.first_unit_dilated=false`, res5 rates (1, 2, 2)); the "pan" head (`li_seg.models.pan`): Feature
Pyramid Attention on res5, Global Attention Upsample with res4, res3, res2, a 1x1 classifier. Every row of Tables
1, 2, 3 and 5 is one ablation below (names after the rows); the main model is `pan` (Table 5).

Recipes (`--recipe`; "voc" is the ablations' default, applied automatically on --dataset=voc / cityscapes):
SGD momentum 0.9, weight decay 1e-4, poly(0.9) from lr 4e-3, batch 16, random scale 0.5-2.0 (continuous: the
paper gives the range only), mirroring; crop 512 on VOC, 768 on Cityscapes. The paper gives no run length: 30,000
steps on VOC train_aug and 90,000 on Cityscapes fine, PSPNet's iteration counts for the same datasets at the same
batch size (BUILD_NOTES.md section 14). The paper starts from ImageNet ResNet-101 weights: pass them with
`model.backbone.weights` (README "Pretrained weights"); random initialisation otherwise.
"""

from __future__ import annotations

import dataclasses

from experiments.config import ExperimentConfig, override
from experiments.papers.record import CostComparison, PaperRecord, Reported
from li_seg.config import BackboneConfig, ModelConfig, TrainConfig
from li_seg.models.deeplab import DeepLabConfig
from li_seg.models.pan import FPAConfig, GAUConfig, PanConfig

RESNET101_DEEP_STEM = BackboneConfig(
    name="resnet101", output_stride=16, layout="torchvision", first_unit_dilated=True, stem="beta",
    stem_widths=(64, 64, 128),
)
MS_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)


def _recipe(cfg: ExperimentConfig, crop: int, steps: int) -> ExperimentConfig:
    return override(cfg, {
        "train.optimizer": "sgd", "train.momentum": 0.9, "train.weight_decay": 1e-4, "train.lr_schedule": "poly",
        "train.poly_power": 0.9, "train.learning_rate": 4e-3, "train.batch_size": 16, "train.train_steps": steps,
        "train.epochs": None, "data.crop_size": (crop, crop), "data.min_scale": 0.5, "data.max_scale": 2.0,
        "data.scale_step": 0.0, "data.flip": True,
    })


def voc(cfg: ExperimentConfig) -> ExperimentConfig:
    """Sec. 4: crop 512 on PASCAL VOC 2012 train_aug; 30,000 steps (PSPNet's VOC length: the paper gives none)."""
    return _recipe(cfg, 512, 30_000)


def cityscapes(cfg: ExperimentConfig) -> ExperimentConfig:
    """Sec. 4: crop 768 on Cityscapes fine; 90,000 steps (PSPNet's Cityscapes length: the paper gives none)."""
    return _recipe(cfg, 768, 90_000)


RECIPES = {function.__name__: function for function in (voc, cityscapes)}


def _experiment(head: PanConfig, architecture: str = "pan", backbone: BackboneConfig = RESNET101_DEEP_STEM
                ) -> ExperimentConfig:
    model = ModelConfig(architecture=architecture, backbone=backbone, head=head)
    return voc(ExperimentConfig(model=model, train=TrainConfig(weight_decay=1e-4)))


def _fpa(kernels: str, downsampling: str, global_pooling: bool) -> ExperimentConfig:
    fpa = FPAConfig(kernels=kernels, downsampling=downsampling, global_pooling=global_pooling)
    return _experiment(PanConfig(context="fpa", fpa=fpa, decoder="none"))


# --- Table 1 (VOC val, FPA only; mIoU / pixel accuracy) ---------------------------------------------------------

def resnet101() -> ExperimentConfig:
    """Table 1 row 1, "ResNet101" (72.60 / 93.90). The paper does not describe the baseline's head: here res5 ->
    1x1 conv 256 + BN + ReLU (FPA's master branch alone) -> 1x1 classifier, upsampled x16."""
    return _experiment(PanConfig(context="none", decoder="none"))


def resnet101_se() -> ExperimentConfig:
    """Table 1 row 2, "ResNet101+SE" (75.74 / 94.48): an SE block (reduction 16) on res5, then the baseline's
    head (the paper does not say more)."""
    return _experiment(PanConfig(context="se", decoder="none"))


def fpa_c333_max() -> ExperimentConfig:
    """Table 1, C333 + MAX (77.13 / 94.79)."""
    return _fpa("C333", "max", False)


def fpa_c333_ave() -> ExperimentConfig:
    """Table 1, C333 + AVE (77.54 / 94.89)."""
    return _fpa("C333", "ave", False)


def fpa_c333_max_gp() -> ExperimentConfig:
    """Table 1, C333 + MAX + GP (77.29 / 94.81)."""
    return _fpa("C333", "max", True)


def fpa_c333_ave_gp() -> ExperimentConfig:
    """Table 1, C333 + AVE + GP (77.61 / 94.88)."""
    return _fpa("C333", "ave", True)


def fpa_c357_max() -> ExperimentConfig:
    """Table 1, C357 + MAX (77.40 / 94.77)."""
    return _fpa("C357", "max", False)


def fpa_c357_ave() -> ExperimentConfig:
    """Table 1, C357 + AVE (78.19 / 95.00)."""
    return _fpa("C357", "ave", False)


def fpa_c357_max_gp() -> ExperimentConfig:
    """Table 1, C357 + MAX + GP (77.03 / 94.71)."""
    return _fpa("C357", "max", True)


def fpa_c357_ave_gp() -> ExperimentConfig:
    """Table 1, C357 + AVE + GP (78.37 / 95.03), the best FPA; also Table 2 row 3, "ResNet101+FPA"."""
    return _fpa("C357", "ave", True)


# --- Table 2 (VOC val: FPA against PSPNet's and DeepLabv3's context modules) ------------------------------------

def resnet101_pspnet() -> ExperimentConfig:
    """Table 2 row 1, "ResNet101+PSPNet*" (76.82 / 94.62): PSPNet's head on res5, pyramid pooling (bins 1, 2,
    3, 6; 512 channels each) -> 3x3 conv 512 + BN + ReLU -> dropout 0.1 -> 1x1 classifier."""
    return _experiment(PanConfig(context="ppm", decoder="none"))


def deeplabv3_os16() -> ExperimentConfig:
    """Table 2 row 2, "DeepLabv3 (OS 16)" (77.21, the DeepLabv3 paper's own best OS-16 result, its Table 4: multi-
    grid (1, 2, 4), ASPP rates 6, 12, 18 with image pooling): li_seg's DeepLabv3 head on PAN's backbone, the
    ASPP's atrous branches plain 3x3 convs (DeepLabv3's), dropout 0.1 after the projection (research/deeplab)."""
    backbone = dataclasses.replace(RESNET101_DEEP_STEM, multi_grid=(1, 2, 4))
    head = DeepLabConfig(atrous_rates=(6, 12, 18), aspp_separable=False, image_pooling=True)
    return _experiment(head, "deeplabv3", backbone)


# --- Table 3 (VOC val, GAU only: res5 -> 1x1 reduction -> GAU x 3) ---------------------------------------------

def _gau(global_pooling: bool, low_kernel: int) -> ExperimentConfig:
    gau = GAUConfig(low_kernel=low_kernel, global_pooling=global_pooling)
    return _experiment(PanConfig(context="none", decoder="gau", gau=gau))


def gau_3x3() -> ExperimentConfig:
    """Table 3 row 1, GAU without the global pooling attention, 3x3 low-level conv (73.56 / 94.15). Without FPA,
    res5 is reduced to 256 channels by a 1x1 conv + BN + ReLU (the paper does not say how)."""
    return _gau(False, 3)


def gau_gp_1x1() -> ExperimentConfig:
    """Table 3 row 2, GAU with GP, 1x1 low-level conv (77.48 / 94.89)."""
    return _gau(True, 1)


def gau_gp_3x3() -> ExperimentConfig:
    """Table 3 row 3, GAU with GP, 3x3 low-level conv (77.84 / 94.96; Table 4's "ResNet101+GAU")."""
    return _gau(True, 3)


# --- Table 5 (VOC val, the full PAN and its evaluation settings) ------------------------------------------------

def pan() -> ExperimentConfig:
    """Table 5 row 1, PAN = ResNet-101 + FPA (C357, AVE, GP) + GAU (GP, 3x3), single scale (79.38 / 95.25)."""
    return _experiment(PanConfig())


def pan_ms() -> ExperimentConfig:
    """Table 5 row 2, PAN + MS (80.77 / 95.65): the same model evaluated at scales 0.5-1.75, the probabilities
    averaged (the paper does not say how it fuses them)."""
    return override(pan(), {"eval.scales": MS_SCALES})


def pan_ms_flip() -> ExperimentConfig:
    """Table 5 row 3, PAN + MS + flip (81.19 / 95.75): scales 0.5-1.75 and their mirror images."""
    return override(pan_ms(), {"eval.add_flipped_images": True})


ABLATIONS = {
    function.__name__: function
    for function in (
        resnet101, resnet101_se, fpa_c333_max, fpa_c333_ave, fpa_c333_max_gp, fpa_c333_ave_gp, fpa_c357_max,
        fpa_c357_ave, fpa_c357_max_gp, fpa_c357_ave_gp, resnet101_pspnet, deeplabv3_os16, gau_3x3, gau_gp_1x1,
        gau_gp_3x3, pan, pan_ms, pan_ms_flip,
    )
}
MAIN_ABLATION = "pan"


def _voc(source: str, miou: float, pixel_accuracy: float | None = None) -> Reported:
    accuracy = {"VOC val": pixel_accuracy} if pixel_accuracy is not None else {}
    return Reported(miou={"VOC val": miou}, pixel_accuracy=accuracy, source=source)


REPORTED = {
    "resnet101": _voc("Table 1 row 1", 72.60, 93.90),
    "resnet101_se": _voc("Table 1 row 2", 75.74, 94.48),
    "fpa_c333_max": _voc("Table 1", 77.13, 94.79),
    "fpa_c333_ave": _voc("Table 1", 77.54, 94.89),
    "fpa_c333_max_gp": _voc("Table 1", 77.29, 94.81),
    "fpa_c333_ave_gp": _voc("Table 1", 77.61, 94.88),
    "fpa_c357_max": _voc("Table 1", 77.40, 94.77),
    "fpa_c357_ave": _voc("Table 1", 78.19, 95.00),
    "fpa_c357_max_gp": _voc("Table 1", 77.03, 94.71),
    "fpa_c357_ave_gp": _voc("Table 1, Table 2 row 3", 78.37, 95.03),
    "resnet101_pspnet": _voc("Table 2 row 1", 76.82, 94.62),
    "deeplabv3_os16": _voc("Table 2 row 2 (from the DeepLabv3 paper)", 77.21),
    "gau_3x3": _voc("Table 3 row 1", 73.56, 94.15),
    "gau_gp_1x1": _voc("Table 3 row 2", 77.48, 94.89),
    "gau_gp_3x3": _voc("Table 3 row 3, Table 4", 77.84, 94.96),
    "pan": _voc("Table 5 row 1", 79.38, 95.25),
    "pan_ms": _voc("Table 5 row 2", 80.77, 95.65),
    "pan_ms_flip": Reported(
        miou={"VOC val": 81.19, "VOC test": 84.0, "Cityscapes test": 78.6}, pixel_accuracy={"VOC val": 95.75},
        source="Table 5 row 3; VOC test and Cityscapes test: the evaluation servers' scores of the final model "
               "(VOC: fine-tuned on trainval, no COCO; Cityscapes: fine annotations only), as the text reports them"),
}

# The paper reports no timings: our own measurements of FPA, GAU and PAN against the ResNet-101 baseline and of
# FPA against DeepLabv3's ASPP on the same backbone (scripts/benchmark.py --measure=cost --paper=pan).
COSTS = (
    CostComparison("fpa_c357_ave_gp", "resnet101", source="FPA vs the baseline", inference=True),
    CostComparison("gau_gp_3x3", "resnet101", source="GAU vs the baseline", inference=True),
    CostComparison("pan", "resnet101", source="PAN vs the baseline", inference=True),
    CostComparison("fpa_c357_ave_gp", "deeplabv3_os16", source="FPA vs ASPP", inference=True),
)

PAPER = PaperRecord(
    name="pan",
    pretrained={"resnet101": "encoding_resnet101s", "resnet50": "encoding_resnet50s"},
    title="Pyramid Attention Network for Semantic Segmentation (Li et al., BMVC 2018)",
    ablations=ABLATIONS,
    main_ablation=MAIN_ABLATION,
    recipes=RECIPES,
    dataset_recipes={"voc": "voc", "cityscapes": "cityscapes"},
    reported=REPORTED,
    flops_size=512,
    flops_convention="macs",
    costs=COSTS,
)
