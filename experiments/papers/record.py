"""A paper's record: everything the command line and the scripts know about one paper, declared in one place.

Each paper module (`experiments/papers/<paper>.py`) defines `PAPER = PaperRecord(...)`; `experiments.papers`
reads it for the CLI (ablations, recipes, stages), `scripts/model_table.py` for the printed parameter and FLOP
columns, `scripts/benchmark.py` for the cost comparisons. None of them names a paper.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Optional

from experiments.config import ExperimentConfig
from li_seg.weights.published import PUBLISHED


@dataclasses.dataclass(frozen=True)
class Reported:
    """What the paper printed for one ablation (None / empty: not printed).

    miou: mIoU in percent per evaluation set, e.g. {"VOC val": 72.19, "ADE20K val": 29.97}.
    pixel_accuracy: pixel accuracy in percent per evaluation set.
    params_k: parameters in thousands, as printed.
    gflops: FLOPs in G at the paper's input size (`flops_size`), as printed.
    source: where in the paper ("Table IV row 1").
    """

    miou: Mapping[str, float] = dataclasses.field(default_factory=dict)
    pixel_accuracy: Mapping[str, float] = dataclasses.field(default_factory=dict)
    params_k: Optional[float] = None
    gflops: Optional[float] = None
    source: str = ""


@dataclasses.dataclass(frozen=True)
class CostComparison:
    """A cost the paper reports for `ablation` against `baseline`, as time ratios (ablation / baseline).

    paper_train_ratio / paper_infer_ratio: the paper's training / inference time ratio (None: not reported).
    target_train_ratio: this project's target for our own measurement (at most), None = no target.
    source: where in the paper, with its hardware.
    inference: also time inference where the paper reports no inference ratio (it is timed where it does).
    """

    ablation: str
    baseline: str
    paper_train_ratio: Optional[float] = None
    paper_infer_ratio: Optional[float] = None
    target_train_ratio: Optional[float] = None
    source: str = ""
    inference: bool = False

    @property
    def times_inference(self) -> bool:
        return self.inference or self.paper_infer_ratio is not None


@dataclasses.dataclass(frozen=True)
class Stage:
    """An extra training stage (`--finetune=NAME`): continue a trained model (--init_checkpoint) training only
    the variables whose path matches `trainable_patterns`.

    refuses(model_config) -> None, or why the stage does not apply to that model (ends the run with the reason).
    """

    name: str
    description: str
    trainable_patterns: tuple[str, ...]
    refuses: Callable[..., Optional[str]] = lambda model_config: None


@dataclasses.dataclass(frozen=True)
class PaperRecord:
    """One paper: its ablations (table rows -> configs), main ablation, recipes, extra stages, reported numbers.

    ablations: name -> zero-argument function returning the row's ExperimentConfig (docstring: table and row).
    recipes: name -> function ExperimentConfig -> ExperimentConfig (a training recipe of the paper or of its
      authors' released configs), applied by --recipe.
    dataset_recipes: dataset -> the recipe applied when training on that dataset without --recipe: the paper's own
      recipe for it, which the dataset's generic preset would otherwise override (crop, scales, run length).
    reported: ablation -> Reported (only the rows the paper printed numbers for).
    flops_size: the square input size of the printed FLOPs; for a paper that prints no counts, the size at which
      scripts/model_table.py prints ours for every ablation as the reference (None: no table).
    flops_convention: what a FLOP counts in that table (`li_seg.analysis.flops.CONVENTIONS`): "paper" (the LI
      paper's TensorFlow-profiler counts), "macs" (2 x multiply-accumulates), "multiply_accumulates" (each
      counted once: what PyTorch counters such as thop print as "FLOPs").
    costs: the paper's cost comparisons (scripts/benchmark.py --measure=cost).
    pretrained: backbone network -> the published weights the paper started from (`li_seg.weights.published`
      names): what `--backbone_weights=paper` takes.
    """

    name: str
    title: str
    ablations: Mapping[str, Callable[[], ExperimentConfig]]
    main_ablation: str
    recipes: Mapping[str, Callable[[ExperimentConfig], ExperimentConfig]] = dataclasses.field(default_factory=dict)
    stages: Mapping[str, Stage] = dataclasses.field(default_factory=dict)
    dataset_recipes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    reported: Mapping[str, Reported] = dataclasses.field(default_factory=dict)
    flops_size: Optional[int] = None
    flops_convention: str = "paper"
    costs: tuple[CostComparison, ...] = ()
    pretrained: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        named = [self.main_ablation, *self.reported]
        named += [name for cost in self.costs for name in (cost.ablation, cost.baseline)]
        unknown = sorted({name for name in named if name not in self.ablations})
        if unknown:
            raise ValueError(f"paper {self.name!r}: {unknown} are not among its ablations")
        if any(recipe not in self.recipes for recipe in self.dataset_recipes.values()):
            raise ValueError(f"paper {self.name!r}: dataset_recipes {dict(self.dataset_recipes)} name unknown recipes")
        if any(name not in PUBLISHED for name in self.pretrained.values()):
            raise ValueError(f"paper {self.name!r}: pretrained {dict(self.pretrained)} names unpublished weights")
        if any(name != stage.name for name, stage in self.stages.items()):
            raise ValueError(f"paper {self.name!r}: stages must be keyed by their names")
