"""CycleNet: "Learning More Accurate Features for Semantic Segmentation in CycleNet" (Qu et al.).

docs/cyclenet.md. ResNet-101 with a deep stem (three 3x3 convs, 64-64-128; the stride on the 3x3 conv, SPNet /
PyTorch-Encoding) at output stride 8, every unit of block3 at rate 2 and of block4 at rate 4, as Sec. 3 prints it
("the convolution layers in the last two blocks are replaced by atrous convolution layers with atrous rates of 2
and 4"; SPNet's code schedule is the ablation `cyclenet_spnet_dilation`); the "cyclenet" head
(`li_seg.models.cyclenet`): CycleASPP on block4, ADC with block1, a 1x1 classifier; the auxiliary FCN head on
block3 with weight 0.4 (training only). Every row of Tables 1 and 2 is one ablation below; the main model is
`cyclenet` (Table 2, "+ADC").

Recipes (`--recipe`; "cityscapes" is the default of every ablation but `cyclenet_ade20k`, and is applied
automatically on --dataset=cityscapes, "ade20k" on --dataset=ade20k): SGD momentum 0.9, weight decay 1e-4,
poly(0.9), random scale 0.75-2.0 (continuous: the paper gives the range only), flipping, synchronized BN;
Cityscapes fine: lr 1e-2, batch 8, 180 epochs, crop 796 as printed ("cityscapes_769": the usual 769, which Table
1's FLOPs fit); ADE20K: lr 2e-2, batch 16, 120 epochs, crop 512. The paper gives one learning rate; SPNet's
tool/train.py trains the head and the auxiliary head at 10x the backbone's: "cityscapes_spnet_10x" /
"ade20k_spnet_10x" are the paper's recipes with those multipliers. The paper starts from ImageNet ResNet-101
weights: pass them with `model.backbone.weights` (README "Pretrained weights"); random initialisation otherwise.
"""

from __future__ import annotations

from experiments.config import ExperimentConfig, override
from experiments.papers.record import CostComparison, PaperRecord, Reported
from li_seg.config import AuxHeadConfig, BackboneConfig, ModelConfig, TrainConfig
from li_seg.models.cyclenet import ADE20K_RATES, CITYSCAPES_RATES, CycleASPPConfig, CycleNetConfig

RESNET101_DEEP_STEM_OS8 = BackboneConfig(
    name="resnet101", output_stride=8, layout="torchvision", stem="beta", stem_widths=(64, 64, 128),
    first_unit_dilated=True,
)
# SPNet's models/resnet.py (houqb/SPNet @5e97da3, `_make_layer`; base.py builds it with multi_grid=True): layer3's
# first unit at rate 1, the others at 2 (`first_unit_dilated=False`); layer4 at (4, 8, 16), which is the
# torchvision rule's (2, 4, 4) times the multi-grid (2, 2, 4).
SPNET_DILATION = {"model.backbone.first_unit_dilated": False, "model.backbone.multi_grid": (2, 2, 4)}
# SPNet's code (houqb/SPNet): PyTorch-Encoding's FCNHead on block3, loss weight 0.4 (PAPERS.md section 3).
AUX_HEAD = AuxHeadConfig(name="aux_logits", feature="block3", channels=256, dropout_rate=0.1, loss_weight=0.4)
MS_SCALES = (0.75, 1.0, 1.25, 1.5, 1.75)
# SPNet's tool/train.py: `model.pretrained` (the backbone) at base_lr, `model.head` and `model.auxlayer` at 10x, kept
# through the poly decay. The backbone's variables are the stem's conv1* and the units' block<b>_unit<u>_*; every
# other variable (context module, ADC, classifiers, auxiliary head) is new.
SPNET_NEW_MODULES_10X = ((r"^(conv1|block\d+_unit\d+)[_/]", 1.0), (r".", 10.0))


def _recipe(cfg: ExperimentConfig, lr: float, batch: int, epochs: int, crop: int,
            lr_multipliers: tuple = ()) -> ExperimentConfig:
    return override(cfg, {
        "train.lr_multipliers": lr_multipliers,
        "train.optimizer": "sgd", "train.momentum": 0.9, "train.weight_decay": 1e-4, "train.lr_schedule": "poly",
        "train.poly_power": 0.9, "train.learning_rate": lr, "train.batch_size": batch, "train.epochs": epochs,
        "train.train_steps": None, "data.crop_size": (crop, crop), "data.min_scale": 0.75, "data.max_scale": 2.0,
        "data.scale_step": 0.0, "data.flip": True, "model.sync_bn": True,
    })


def cityscapes(cfg: ExperimentConfig) -> ExperimentConfig:
    """Sec. 4.1: Cityscapes fine, lr 1e-2, batch 8, 180 epochs, crop 796 (as printed)."""
    return _recipe(cfg, 1e-2, 8, 180, 796)


def cityscapes_769(cfg: ExperimentConfig) -> ExperimentConfig:
    """The Cityscapes recipe with the usual OS-8 crop 769 (what Table 1's FLOP arithmetic fits)."""
    return _recipe(cfg, 1e-2, 8, 180, 769)


def ade20k(cfg: ExperimentConfig) -> ExperimentConfig:
    """Sec. 4.1: ADE20K, lr 2e-2, batch 16, 120 epochs, crop 512."""
    return _recipe(cfg, 2e-2, 16, 120, 512)


def cityscapes_spnet_10x(cfg: ExperimentConfig) -> ExperimentConfig:
    """The Cityscapes recipe with SPNet's multipliers: every layer outside the backbone at 10x lr (1e-1)."""
    return _recipe(cfg, 1e-2, 8, 180, 796, SPNET_NEW_MODULES_10X)


def ade20k_spnet_10x(cfg: ExperimentConfig) -> ExperimentConfig:
    """The ADE20K recipe with SPNet's multipliers: every layer outside the backbone at 10x lr (2e-1)."""
    return _recipe(cfg, 2e-2, 16, 120, 512, SPNET_NEW_MODULES_10X)


RECIPES = {function.__name__: function
           for function in (cityscapes, cityscapes_769, ade20k, cityscapes_spnet_10x, ade20k_spnet_10x)}


def _experiment(head: CycleNetConfig, recipe=cityscapes) -> ExperimentConfig:
    model = ModelConfig(architecture="cyclenet", backbone=RESNET101_DEEP_STEM_OS8, head=head, aux_heads=(AUX_HEAD,))
    return recipe(ExperimentConfig(model=model, train=TrainConfig(weight_decay=1e-4)))


def _context(context: str, rates=CITYSCAPES_RATES, decoder: str = "none", **chain) -> ExperimentConfig:
    return _experiment(CycleNetConfig(context=context, cycle_aspp=CycleASPPConfig(rates=rates, **chain),
                                      decoder=decoder))


# --- Table 1 (Cityscapes val, ResNet-101, no ADC; mIoU / GFLOPs) -------------------------------------------------

def aspp_6_12_18() -> ExperimentConfig:
    """Table 1 row 1, ASPP(6, 12, 18) (78.18 / -): DeepLabv3's ASPP (image pooling, 1x1, three 3x3 atrous branches,
    256 channels; the paper does not say which ASPP) -> channel dropout 0.1 -> 1x1 classifier."""
    return _experiment(CycleNetConfig(context="aspp", aspp_rates=(6, 12, 18), decoder="none"))


def denseaspp_3_24() -> ExperimentConfig:
    """Table 1 row 2, DenseASPP(3, 6, 12, 18, 24) (78.45 / 539.1)."""
    return _context("denseaspp", ADE20K_RATES)


def denseaspp_3_30() -> ExperimentConfig:
    """Table 1 row 3, DenseASPP(3, 6, 12, 18, 24, 30) (78.57 / 555.5)."""
    return _context("denseaspp")


def cycleaspp_6_24() -> ExperimentConfig:
    """Table 1 row 4, CycleASPP(6, 12, 18, 24) (78.54 / 530.8)."""
    return _context("cycleaspp", (6, 12, 18, 24))


def cycleaspp_3_24() -> ExperimentConfig:
    """Table 1 row 5, CycleASPP(3, 6, 12, 18, 24) (78.93 / 551.5)."""
    return _context("cycleaspp", ADE20K_RATES)


def cycleaspp_3_30() -> ExperimentConfig:
    """Table 1 row 6, CycleASPP(3, 6, 12, 18, 24, 30) (78.95 / 574.0), the default rates; also Table 2 row 2,
    "ResNet-101 + CycleASPP" (78.95)."""
    return _context("cycleaspp")


# --- Choices the paper leaves open, as ablations (no table row) -------------------------------------------------

def cycleaspp_3_30_unshared() -> ExperimentConfig:
    """CycleASPP(3..30) with Part II's own 1x1 kernels (the paper does not say that Part II reuses Part I's
    weights; the default follows CliqueNet's code, which does)."""
    return _context("cycleaspp", shared=False)


def cycleaspp_3_30_without_input() -> ExperimentConfig:
    """CycleASPP(3..30) whose output leaves out the backbone features Y_0 (CliqueNet's stage II; the default keeps
    them, as DenseASPP)."""
    return _context("cycleaspp", include_input=False)


def cycleaspp_3_30_literal() -> ExperimentConfig:
    """CycleASPP(3..30) with Part II's index set as printed, "j != 1": layer 1 keeps its Part I output (the
    default updates every layer, as CliqueNet)."""
    return _context("cycleaspp", update_first_layer=False)


# --- Table 2 (Cityscapes val: the contributions in turn) ---------------------------------------------------------

def resnet101() -> ExperimentConfig:
    """Table 2 row 1, "ResNet-101" (76.25). The paper does not describe the baseline's head: here PyTorch-Encoding's
    FCNHead (3x3 conv 512 + BN + ReLU -> channel dropout 0.1 -> 1x1 classifier), the dilated-FCN baseline of the
    code base CycleNet's recipe matches."""
    return _experiment(CycleNetConfig(context="fcn", decoder="none"))


def cyclenet() -> ExperimentConfig:
    """Table 2 row 3, "+ADC", the full CycleNet (80.55; Table 3, Cityscapes test: 82.0): CycleASPP(3..30) + ADC."""
    return _experiment(CycleNetConfig())


def cyclenet_spnet_dilation() -> ExperimentConfig:
    """CycleNet on SPNet's dilated ResNet-101 (`SPNET_DILATION`): block3 (1, 2, ..., 2), block4 (4, 8, 16), the
    schedule of the code CycleNet may have been built on (docs/cyclenet.md section 6), instead of the paper's
    sentence (every unit at 2, then 4)."""
    return override(cyclenet(), SPNET_DILATION)


def cyclenet_ms() -> ExperimentConfig:
    """Table 2 row 4, "+MS" (81.26): CycleNet evaluated at scales 0.75-1.75, the probabilities averaged (no
    flipping is mentioned)."""
    return override(cyclenet(), {"eval.scales": MS_SCALES})


# --- Table 4 (ADE20K val) ----------------------------------------------------------------------------------------

def cyclenet_ade20k() -> ExperimentConfig:
    """Table 4, CycleNet on ADE20K (46.14 / pixel accuracy 82.20): rates without 30 (3..24), ADC (whether ADC and
    multi-scale inference were used for this number is not said), the ADE20K recipe."""
    head = CycleNetConfig(cycle_aspp=CycleASPPConfig(rates=ADE20K_RATES))
    return _experiment(head, recipe=ade20k)


ABLATIONS = {
    function.__name__: function
    for function in (
        aspp_6_12_18, denseaspp_3_24, denseaspp_3_30, cycleaspp_6_24, cycleaspp_3_24, cycleaspp_3_30,
        cycleaspp_3_30_unshared, cycleaspp_3_30_without_input, cycleaspp_3_30_literal, resnet101, cyclenet,
        cyclenet_spnet_dilation, cyclenet_ms, cyclenet_ade20k,
    )
}
MAIN_ABLATION = "cyclenet"


def _cityscapes(source: str, miou: float, gflops: float | None = None) -> Reported:
    return Reported(miou={"Cityscapes val": miou}, gflops=gflops, source=source)


REPORTED = {
    "aspp_6_12_18": _cityscapes("Table 1 row 1", 78.18),
    "denseaspp_3_24": _cityscapes("Table 1 row 2", 78.45, 539.1),
    "denseaspp_3_30": _cityscapes("Table 1 row 3", 78.57, 555.5),
    "cycleaspp_6_24": _cityscapes("Table 1 row 4", 78.54, 530.8),
    "cycleaspp_3_24": _cityscapes("Table 1 row 5", 78.93, 551.5),
    "cycleaspp_3_30": _cityscapes("Table 1 row 6, Table 2 row 2", 78.95, 574.0),
    "resnet101": _cityscapes("Table 2 row 1", 76.25),
    "cyclenet": Reported(miou={"Cityscapes val": 80.55, "Cityscapes test": 82.0},
                         source="Table 2 row 3; Cityscapes test: Table 3, the evaluation server's score"),
    "cyclenet_ms": _cityscapes("Table 2 row 4", 81.26),
    "cyclenet_ade20k": Reported(miou={"ADE20K val": 46.14}, pixel_accuracy={"ADE20K val": 82.20}, source="Table 4"),
}

# The paper reports no timings: our own measurements of CycleASPP, DenseASPP and ADC against DeepLabv3's ASPP on
# the same backbone, and of the full model against the baseline (scripts/benchmark.py --measure=cost).
COSTS = (
    CostComparison("cycleaspp_3_30", "aspp_6_12_18", source="CycleASPP vs ASPP", inference=True),
    CostComparison("denseaspp_3_30", "aspp_6_12_18", source="DenseASPP vs ASPP", inference=True),
    CostComparison("cyclenet", "cycleaspp_3_30", source="ADC (CycleNet vs CycleASPP alone)", inference=True),
    CostComparison("cyclenet", "resnet101", source="CycleNet vs the baseline", inference=True),
)

PAPER = PaperRecord(
    name="cyclenet",
    pretrained={"resnet101": "encoding_resnet101s", "resnet50": "encoding_resnet50s"},
    title="Learning More Accurate Features for Semantic Segmentation in CycleNet (Qu et al.)",
    ablations=ABLATIONS,
    main_ablation=MAIN_ABLATION,
    recipes=RECIPES,
    dataset_recipes={"cityscapes": "cityscapes", "ade20k": "ade20k"},
    reported=REPORTED,
    flops_size=769,
    flops_convention="multiply_accumulates",
    costs=COSTS,
)
