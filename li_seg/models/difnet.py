"""DifNet's head (Jiang et al., NeurIPS 2018, Fig. 1; sdujump/DifNet model_difnet.py) and Sim-DeepLab: config and
builder.

    seed branch:        backbone block4 -> ASPP-v2 (3x3 convs with bias at rates 6/12/18/24, summed) -> x
                        M = H(x) (`li_seg.layers.ImportanceMap`), s = M * x
    similarity branch:  a second ResNet of the backbone's config with its own weights ("similarity/..."), read at
                        the levels `walks` names: "input" (the normalised image), "block1" ... "block4";
                        Psi_t (`li_seg.layers.SimilarityEmbedding`): 1x1 conv 64 + BN + adaptive max pool to s
    cascade:            y_1 = s, y_{t+1} = RandomWalk_t(y_t, Psi_t, s) (`li_seg.layers.RandomWalk`, Eq. 4-5)
    output:             the last y (build_model upsamples it bilinearly; the loss reads only it)

With `diffusion=False` the head is Sim-DeepLab, the paper's baseline: the score map x is the output (no H, no
similarity branch). Layer names that `analysis_outputs` reads: "score_map" (x), "importance" (M), "seed" (s),
"psi<t>" and "walk<t>" (t = the walk's place in the full five-walk cascade, so "walk3" stays the third-level walk
when walks 2 and 4 are left out). BUILD_NOTES.md section 16 records every choice the paper leaves open.
"""

from __future__ import annotations

import dataclasses
import math

import keras

from li_seg.backbones import build_backbone
from li_seg.config import HeadConfig, choice_errors
from li_seg.layers.aspp import aspp_v2
from li_seg.layers.importance_map import ImportanceMap
from li_seg.layers.random_walk import RandomWalk
from li_seg.layers.similarity_embedding import SimilarityEmbedding
from li_seg.models.builder import main_logits

ARCHITECTURE = "difnet"
LEVELS = ("input", "block1", "block2", "block3", "block4")  # the cascade's order (model_difnet.py's forward)
TRANSITIONS = ("auto", "whole", "chunked")
ASPP_INITS = ("code", "deeplab")
SIMILARITY_SCOPE = "similarity"


@dataclasses.dataclass(frozen=True)
class DifNetConfig(HeadConfig):
    """The "difnet" architecture's head (module docstring).

    diffusion: DifNet (True) or Sim-DeepLab (False: the score map x is the output).
    aspp_rates: ASPP-v2's rates (6, 12, 18, 24); one rate = a single atrous conv (DifNet "without ASPP": rate 12,
      DeepLabv2's LargeFOV; the paper does not say what replaces ASPP).
    aspp_init: the ASPP-v2 kernels' initialisation: "code" (normal with std sqrt(2 / (9 K)), what the authors'
      ResNet init loop draws over its classifier) or "deeplab" (normal 0.01, DeepLabv2's).
    walks: the levels whose random walks run, in cascade order (Sec. 5.3's "without 2-th and 4-th random
      walks": ("input", "block2", "block4")); a left-out walk is the identity y_{t+1} = y_t.
    embedding_channels: Psi's width (64).
    transition: how each walk's P_t is held: "whole" (materialised), "chunked" (`chunk_rows` rows at a time, never
      whole in either pass) or "auto" (whole up to 2,048 nodes, chunks of 128 rows above: `li_seg.layers.
      random_walk`).
    """

    diffusion: bool = True
    aspp_rates: tuple[int, ...] = (6, 12, 18, 24)
    aspp_init: str = "code"
    walks: tuple[str, ...] = LEVELS
    embedding_channels: int = 64
    transition: str = "auto"
    chunk_rows: int = 128

    def errors(self, model, where: str = "model.head") -> list[str]:
        errors = choice_errors(f"{where}.aspp_init", self.aspp_init, ASPP_INITS)
        errors += choice_errors(f"{where}.transition", self.transition, TRANSITIONS)
        if not self.aspp_rates or min(self.aspp_rates) < 1:
            errors.append(f"{where}.aspp_rates needs at least one positive atrous rate, got {list(self.aspp_rates)}")
        for level in self.walks:
            errors += choice_errors(f"{where}.walks[{level!r}]", level, LEVELS)
        known = [level for level in self.walks if level in LEVELS]
        if len(set(self.walks)) != len(self.walks) or known != sorted(known, key=LEVELS.index):
            errors.append(f"{where}.walks must name each level once, in the cascade's order {list(LEVELS)}; got "
                          f"{list(self.walks)}")
        if self.diffusion and not self.walks:
            errors.append(f"{where}.walks is empty: DifNet needs at least one random walk (Sim-DeepLab is "
                          f"{where}.diffusion=false)")
        if self.embedding_channels < 1 or self.chunk_rows < 1:
            errors.append(f"{where}.embedding_channels and {where}.chunk_rows must be positive, got "
                          f"{self.embedding_channels}, {self.chunk_rows}")
        if self.diffusion and model.backbone.name == "mobilenet_v2":
            errors.append(f"DifNet's similarity branch is a ResNet of the seed branch's depth; "
                          f"model.backbone.name={model.backbone.name!r} is not a ResNet")
        return errors

    @property
    def chunk_size(self):
        """`RandomWalk`'s chunk_size for `transition`."""
        return {"auto": "auto", "whole": None, "chunked": self.chunk_rows}[self.transition]


def _aspp_stddev(head: DifNetConfig, num_classes: int) -> float:
    """The ASPP-v2 kernels' initial standard deviation (`DifNetConfig.aspp_init`)."""
    return math.sqrt(2.0 / (9 * num_classes)) if head.aspp_init == "code" else 0.01


def walk_name(level: str) -> str:
    """The walk of `level`: "walk<t>", t its place in the five-walk cascade."""
    return f"walk{LEVELS.index(level) + 1}"


def build_head(config, features, images, num_classes: int, bn):
    """DifNet (or Sim-DeepLab) on the seed backbone's endpoints: the final walk's output (or x) at OS 8."""
    head = config.head
    scores = aspp_v2(features["block4"], num_classes, head.aspp_rates, name="aspp",
                     kernel_stddev=_aspp_stddev(head, num_classes))
    x = keras.layers.Identity(name="score_map")(scores)
    if not head.diffusion:
        return x
    importance = ImportanceMap(num_classes, bn, name="importance")(x)
    seed = keras.layers.Multiply(name="seed")([x, importance])
    similarity = build_backbone(config.backbone, bn, name=SIMILARITY_SCOPE)(images)
    y = seed
    for level in head.walks:
        walk = walk_name(level)
        level_features = similarity[level]
        psi = SimilarityEmbedding(level_features.shape[-1], num_classes, bn, head.embedding_channels,
                                  name=walk.replace("walk", "psi"))([level_features, seed])
        y = RandomWalk(head.chunk_size, label=walk, name=walk)([y, psi, seed])
    return y


def analysis_outputs(model: keras.Model) -> keras.Model:
    """A model of the same layers and weights returning what the paper's figures show (not in the serving
    signature): {"score_map": x, "importance": M, "seed": s, "psi<t>": Psi_t, "walk<t>": y_{t+1}} at OS 8, plus
    "logits" (the model's logits). For Sim-DeepLab only "score_map" and "logits". ValueError for a model of another
    architecture."""
    names = {layer.name for layer in model.layers}
    if "score_map" not in names:
        raise ValueError(f"model {model.name!r} is no {ARCHITECTURE!r} model (no 'score_map' layer): analysis_outputs "
                         "reads DifNet's and Sim-DeepLab's layers")
    outputs = {"score_map": model.get_layer("score_map").output}
    if "seed" in names:  # M and Psi_t are read where they are consumed (a sub-model's .output is its own graph's)
        outputs["importance"] = model.get_layer("seed").input[1]
        outputs["seed"] = model.get_layer("seed").output
    for walk in map(walk_name, LEVELS):
        if walk in names:
            outputs[walk.replace("walk", "psi")] = model.get_layer(walk).input[1]
            outputs[walk] = model.get_layer(walk).output
    outputs["logits"] = main_logits(model.output)
    return keras.Model(model.input, outputs, name=f"{model.name}_analysis")
