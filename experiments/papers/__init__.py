"""The papers' experiment tables: `get_experiment(paper, ablation)` -> ExperimentConfig.

Each paper module declares one `PaperRecord` as `PAPER` (`record.py`): its ablations (table rows, their
docstrings citing the table and row), main ablation (what `ablation=None` means), recipes (--recipe), extra
stages (--finetune) and the numbers the paper reports. Adding a paper = its module plus its name in PAPERS.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Optional

from experiments.config import ConfigError, ExperimentConfig
from experiments.papers.record import PaperRecord, Stage

PAPERS = ("li_convs", "smoothing", "pan", "cyclenet", "difnet")


def record(paper: str) -> PaperRecord:
    """The record of `paper`; ConfigError listing the valid papers otherwise."""
    if paper not in PAPERS:
        raise ConfigError(f"unknown paper {paper!r}; valid papers: {', '.join(PAPERS)}")
    return importlib.import_module(f"experiments.papers.{paper}").PAPER


def list_ablations(paper: str) -> list[str]:
    """The ablation names of `paper`, in table order."""
    return list(record(paper).ablations)


def main_ablation(paper: str) -> str:
    """The ablation that `get_experiment(paper)` returns: the paper's main model."""
    return record(paper).main_ablation


def get_experiment(paper: str, ablation: Optional[str] = None) -> ExperimentConfig:
    """The configuration of one table row; `None` = the paper's main model."""
    paper_record = record(paper)
    name = paper_record.main_ablation if ablation is None else ablation
    if name not in paper_record.ablations:
        raise ConfigError(
            f"unknown ablation {name!r} for paper {paper!r}; valid ablations: {', '.join(paper_record.ablations)}"
        )
    return dataclasses.replace(paper_record.ablations[name](), paper=paper, ablation=name)


def list_recipes(paper: str) -> list[str]:
    """The named training recipes of `paper`."""
    return list(record(paper).recipes)


def apply_recipe(paper: str, recipe: str, cfg: ExperimentConfig) -> ExperimentConfig:
    """`cfg` with `paper`'s recipe `recipe` applied (optimiser, schedule, run length, crop)."""
    recipes = record(paper).recipes
    if recipe not in recipes:
        raise ConfigError(f"unknown recipe {recipe!r} for paper {paper!r}; valid recipes: {', '.join(recipes)}")
    return recipes[recipe](cfg)


def stage(paper: str, name: str) -> Stage:
    """`paper`'s extra training stage `name` (--finetune); ConfigError listing the valid ones otherwise."""
    stages = record(paper).stages
    if name not in stages:
        raise ConfigError(f"unknown stage --finetune={name} for paper {paper!r}; valid stages: "
                          f"{', '.join(stages) or 'none'}")
    return stages[name]
