"""The papers' experiment tables: `get_experiment(paper, ablation)` -> ExperimentConfig.

Each paper module defines ABLATIONS (name -> zero-argument function returning an ExperimentConfig, its docstring
citing the paper's table and row), MAIN_ABLATION (what `ablation=None` means) and RECIPES (name -> function
ExperimentConfig -> ExperimentConfig: a training recipe of the paper or of its authors' released configs).
"""

from __future__ import annotations

import importlib
from typing import Optional

from experiments.config import ConfigError, ExperimentConfig

PAPERS = ("li_convs", "smoothing")


def _module(paper: str):
    if paper not in PAPERS:
        raise ConfigError(f"unknown paper {paper!r}; valid papers: {', '.join(PAPERS)}")
    return importlib.import_module(f"experiments.papers.{paper}")


def list_ablations(paper: str) -> list[str]:
    """The ablation names of `paper`, in table order."""
    return list(_module(paper).ABLATIONS)


def main_ablation(paper: str) -> str:
    """The ablation that `get_experiment(paper)` returns: the paper's main model."""
    return _module(paper).MAIN_ABLATION


def get_experiment(paper: str, ablation: Optional[str] = None) -> ExperimentConfig:
    """The configuration of one table row; `None` = the paper's main model."""
    module = _module(paper)
    name = main_ablation(paper) if ablation is None else ablation
    if name not in module.ABLATIONS:
        raise ConfigError(
            f"unknown ablation {name!r} for paper {paper!r}; valid ablations: {', '.join(module.ABLATIONS)}"
        )
    return module.ABLATIONS[name]()


def list_recipes(paper: str) -> list[str]:
    """The named training recipes of `paper`."""
    return list(_module(paper).RECIPES)


def apply_recipe(paper: str, recipe: str, cfg: ExperimentConfig) -> ExperimentConfig:
    """`cfg` with `paper`'s recipe `recipe` applied (optimiser, schedule, run length, crop)."""
    recipes = _module(paper).RECIPES
    if recipe not in recipes:
        raise ConfigError(f"unknown recipe {recipe!r} for paper {paper!r}; valid recipes: {', '.join(recipes)}")
    return recipes[recipe](cfg)
