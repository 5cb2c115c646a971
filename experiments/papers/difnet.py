"""DifNet: "DifNet: Semantic Segmentation by Diffusion Networks" (Jiang et al., NeurIPS 2018).

docs/difnet.md. Both branches are DeepLab-style ResNets as in the authors' code (sdujump/DifNet): caffe layout (7x7
stem, ceil-mode max-pool, the stride on the first 1x1 conv), output stride 8 with block3 at rate 2 and block4 at
rate 4 on every unit, basic blocks for depths 18 / 34. The "difnet" head (`li_seg.models.difnet`): ASPP-v2 ->
score map x, importance map M, seed s = M * x, a second ResNet of the same depth whose five levels feed five
cascaded random walks; Sim-DeepLab (the baseline) is the same head with `diffusion=False`. Every row of Table 1 is
one ablation below; the main model is `difnet_50` (the authors' repository publishes DifNet-50 and -101 results; 50
is Table 1's middle row and the depth of the ablation rows).

Recipes (`--recipe`; "paper" is every ablation's default and is applied again on --dataset=voc, pascal_context and
pascal_context_59, whose presets would otherwise set crop 513; the paper gives no Pascal Context recipe, so the VOC
one, 200 epochs, serves there too):
- "paper": "learning rate, learning policy, momentum and weight decay same as DeepLab" (v2): SGD lr 2.5e-4,
  momentum 0.9, poly 0.9, weight decay 5e-4 on kernels, the new layers (ASPP-v2, H, the Psis, mu / beta) at 10x
  and their conv biases at 20x;
  batch 16, 200 epochs of train_aug, crop 321, flip, scales {0.5, 0.6, ..., 1.4} (the code's set; the paper says
  "scale" only).
- "code": the authors' main.py: one parameter group at an effective lr 2.5e-3 (2.5e-4 x LambdaLR's 10), weight
  decay 5e-4 on every parameter (biases, BN, a and b too), poly 0.9 for 200 epochs (main.py's 200 x
  ceil(10,582 / 16) = 132,400 steps on VOC; li_seg's rounding gives 132,275), PyTorch's BN momentum 0.1 (Keras
  0.9), small crops padded at a random offset with black (0) and label 0 (background), evaluation centre-padded
  to 505.
- "paper_aspp_only": "paper" with only ASPP-v2 (DeepLabv2's classifier proper) at 10x.
Input normalisation: BGR minus the Caffe mean, what the code feeds its torchvision weights (set explicitly, with
`allow_normalization_mismatch`, since torchvision's weights bring "imagenet", `li_seg.backbones.pretrained`);
`model.backbone.normalization=imagenet` is what those weights were trained with. The paper starts both
ResNets from ImageNet weights: pass them with `model.backbone.weights` (one file; both branches load it).
"""

from __future__ import annotations

from experiments.config import ExperimentConfig, override
from experiments.papers.record import CostComparison, PaperRecord, Reported
from li_seg.config import BackboneConfig, ModelConfig
from li_seg.models.difnet import DifNetConfig

CROP = 321
EVAL_PAD = 505
BATCH = 16
# "Same as DeepLab": DeepLabv2's classifier at 10x (its biases 20x), read here as every layer that does not come
# from the pretrained ResNets (BUILD_NOTES.md section 16; `paper_aspp_only` narrows it to ASPP-v2).
ASPP_10X = ((r"^aspp_rate\d+/bias$", 20.0), (r"^aspp_rate\d+/", 10.0))
NEW_LAYERS_10X = ((r"^psi\d+_conv/bias$", 20.0), *ASPP_10X, (r"^importance_", 10.0), (r"^psi\d+_", 10.0),
                  (r"^walk\d+/", 10.0))
CODE_SCALES = {"data.min_scale": 0.5, "data.max_scale": 1.4, "data.scale_step": 0.1}


def backbone(depth: int) -> BackboneConfig:
    """The authors' DeepLab-style ResNet-`depth` at output stride 8."""
    return BackboneConfig(name=f"resnet{depth}", layout="caffe", stem="plain", output_stride=8,
                          normalization="caffe_bgr", allow_normalization_mismatch=True)


COMMON = {"train.optimizer": "sgd", "train.momentum": 0.9, "train.lr_schedule": "poly", "train.poly_power": 0.9,
          "train.weight_decay": 5e-4, "train.batch_size": BATCH, "data.crop_size": (CROP, CROP), "data.flip": True,
          **CODE_SCALES}


def paper(cfg: ExperimentConfig) -> ExperimentConfig:
    """Sec. 4: DeepLabv2's optimiser (lr 2.5e-4, new layers 10x and their conv biases 20x, weight decay 5e-4 on
    kernels), batch 16, 200 epochs, crop 321, flip and the code's scales 0.5-1.4."""
    return override(cfg, {**COMMON, "train.epochs": 200, "train.train_steps": None, "train.learning_rate": 2.5e-4,
                          "train.weight_decay_scope": "kernels", "train.lr_multipliers": NEW_LAYERS_10X})


def paper_aspp_only(cfg: ExperimentConfig) -> ExperimentConfig:
    """The "paper" recipe with only ASPP-v2 (DeepLabv2's classifier proper) at 10x, its biases 20x."""
    return override(paper(cfg), {"train.lr_multipliers": ASPP_10X})


def code(cfg: ExperimentConfig) -> ExperimentConfig:
    """The authors' main.py and dataset.py (module docstring)."""
    return override(cfg, {
        **COMMON, "train.epochs": 200, "train.train_steps": None, "train.learning_rate": 2.5e-3,
        "train.weight_decay_scope": "all", "train.lr_multipliers": (), "model.bn_momentum": 0.9,
        "data.label_pad_value": 0, "data.image_pad_value": 0.0, "data.pad_placement": "random",
        "eval.pad_to": EVAL_PAD,
    })


RECIPES = {function.__name__: function for function in (paper, paper_aspp_only, code)}


def _experiment(depth: int, head: DifNetConfig) -> ExperimentConfig:
    model = ModelConfig(architecture="difnet", backbone=backbone(depth), head=head)
    return paper(ExperimentConfig(model=model))


# --- Table 1 (VOC 2012 val) --------------------------------------------------------------------------------------

def sim_deeplab_18() -> ExperimentConfig:
    """Table 1, Sim-DeepLab-18 (66.33): dilated ResNet-18 + ASPP-v2, the seed branch alone."""
    return _experiment(18, DifNetConfig(diffusion=False))


def sim_deeplab_34() -> ExperimentConfig:
    """Table 1, Sim-DeepLab-34 (69.76)."""
    return _experiment(34, DifNetConfig(diffusion=False))


def sim_deeplab_50() -> ExperimentConfig:
    """Table 1, Sim-DeepLab-50 (70.78; the authors' repository: baseline-50, 69.99)."""
    return _experiment(50, DifNetConfig(diffusion=False))


def sim_deeplab_101() -> ExperimentConfig:
    """Table 1, Sim-DeepLab-101 (71.83; test 72.54, the one Sim-DeepLab test number, read as this row's; the
    authors' repository: baseline-101, 71.00). Also Table 2's "DeepLab" row (43.6), which sits in the table's
    ResNet-101 group."""
    return _experiment(101, DifNetConfig(diffusion=False))


def difnet_18() -> ExperimentConfig:
    """Table 1, DifNet-18 (70.17; test 70.46)."""
    return _experiment(18, DifNetConfig())


def difnet_34() -> ExperimentConfig:
    """Table 1, DifNet-34 (71.84; test 71.62)."""
    return _experiment(34, DifNetConfig())


def difnet_50() -> ExperimentConfig:
    """Table 1, DifNet-50 (72.57; test 72.55; the authors' repository 72.48), the main model."""
    return _experiment(50, DifNetConfig())


def difnet_101() -> ExperimentConfig:
    """Table 1, DifNet-101 (73.22; test 73.21; the authors' repository 73.44). Table 2: 46.0 on Pascal Context."""
    return _experiment(101, DifNetConfig())


def difnet_50_no_aspp() -> ExperimentConfig:
    """Table 1, DifNet-50 "without ASPP" (72.52). What replaces ASPP-v2 is not said: one 3x3 atrous conv at rate 12
    (DeepLabv2's LargeFOV, its own no-ASPP baseline); `model.head.aspp_rates` picks another."""
    return _experiment(50, DifNetConfig(aspp_rates=(12,)))


def difnet_50_without_walks_2_4() -> ExperimentConfig:
    """Sec. 5.3's DifNet-50 "without 2-th and 4-th random walks" (about 1 point below DifNet-50): the walks on
    block1 and block3 left out (identities), with their Psis."""
    return _experiment(50, DifNetConfig(walks=("input", "block2", "block4")))


ABLATIONS = {
    function.__name__: function
    for function in (
        sim_deeplab_18, sim_deeplab_34, sim_deeplab_50, sim_deeplab_101, difnet_18, difnet_34, difnet_50,
        difnet_101, difnet_50_no_aspp, difnet_50_without_walks_2_4,
    )
}
MAIN_ABLATION = "difnet_50"


def _voc(source: str, val: float, test: float | None = None) -> Reported:
    miou = {"VOC val": val} if test is None else {"VOC val": val, "VOC test": test}
    return Reported(miou=miou, source=source)


REPORTED = {
    "sim_deeplab_18": _voc("Table 1", 66.33),
    "sim_deeplab_34": _voc("Table 1", 69.76),
    "sim_deeplab_50": _voc("Table 1", 70.78),
    "difnet_18": _voc("Table 1", 70.17, 70.46),
    "difnet_34": _voc("Table 1", 71.84, 71.62),
    "sim_deeplab_101": Reported(miou={"VOC val": 71.83, "VOC test": 72.54, "Pascal Context": 43.6},
                                source="Table 1 (the one Sim-DeepLab test number), Table 2's DeepLab (in its "
                                       "ResNet-101 group)"),
    "difnet_50": Reported(miou={"VOC val": 72.57, "VOC test": 72.55, "Pascal Context": 44.7,
                                "Pascal Context (second number)": 45.1},
                          source="Table 1, Table 2's ResNet-50 DifNet (what its two numbers are is not said)"),
    "difnet_101": Reported(miou={"VOC val": 73.22, "VOC test": 73.21, "Pascal Context": 46.0},
                           source="Table 1, Table 2"),
    "difnet_50_no_aspp": _voc("Table 1", 72.52),
}
# Table 3: the learned mu_t / beta_t of DifNet on VOC, t = 1 ... 5 (a diagnostic, not a row).
TABLE_3 = {1: (0.4159, 0.4159), 2: (0.4193, 0.4825), 3: (0.4077, 0.5104), 4: (0.6520, 0.6570), 5: (0.8956, 0.8451)}

# Table 4 (GTX 1080, 505 x 505): DifNet-50's inference 18 + 15 + 6 = 39 ms against Sim-DeepLab-101's 36 ms (the sum
# is arithmetic done here), its backward about 1.3x Sim-DeepLab-101's (the ratio of whole training steps is ours).
COSTS = (
    CostComparison("difnet_50", "sim_deeplab_101", paper_train_ratio=1.3, paper_infer_ratio=39 / 36,
                   source="Table 4 (GTX 1080, 505 x 505; the paper's train ratio is the backward pass's)"),
    CostComparison("difnet_18", "sim_deeplab_18", source="the diffusion's cost at depth 18", inference=True),
)

PAPER = PaperRecord(
    name="difnet",
    pretrained={f"resnet{depth}": f"torchvision_resnet{depth}" for depth in (18, 34, 50, 101)},
    title="DifNet: Semantic Segmentation by Diffusion Networks (Jiang et al.)",
    ablations=ABLATIONS,
    main_ablation=MAIN_ABLATION,
    recipes=RECIPES,
    dataset_recipes={"voc": "paper", "pascal_context": "paper", "pascal_context_59": "paper"},
    reported=REPORTED,
    flops_size=CROP,
    flops_convention="multiply_accumulates",
    costs=COSTS,
)
