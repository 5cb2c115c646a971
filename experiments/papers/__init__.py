"""The papers' experiment tables: `get_experiment(paper, ablation)` -> ExperimentConfig.

Each paper module defines ABLATIONS (name -> zero-argument function returning an ExperimentConfig, its docstring
citing the paper's table and row) and MAIN_ABLATION (what `ablation=None` means).
"""

from __future__ import annotations

import importlib
from typing import Optional

from experiments.config import ConfigError, ExperimentConfig

PAPERS = ("li_convs",)


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

