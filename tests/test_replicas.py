"""Replicas agree: one training step of each paper's main model through the trainer on 1 replica x 4 images, 2 x 2
and 4 x 1 (logical CPU devices, MirroredStrategy), from the same weights and batch (tests/replica_probe.py, in its
own process: the suite's session has two logical devices).

- BN frozen (smoothing's DeepLabv2 recipe) or synchronised (CycleNet's recipe, and any run with model.sync_bn): the
  replicas' updates (trainable weights and BN's moving statistics) equal the single replica's: relative L2
  distance of the whole update at most 1e-3 (measured: 3e-7 frozen, 6e-5 CycleNet synchronised; per-replica BN
  moves the step by 10 % and more).
- BN per replica (the LI, PAN and DifNet recipes: model.sync_bn=false): each replica normalises its own share, so
  the step is not the single replica's (measured: the updates 10-970 % apart), and the documented difference is
  checked exactly: the step equals the one computed on one device with BN over each share, each share's loss over
  the global count of valid pixels, the gradients summed (the loss to 1e-5; whole-update distance at most 3e-2,
  measured up to 7.5e-3: even the single replica's tf.function step is 3e-3 from the same computation done
  eagerly, the early layers of a randomly initialised network with BN over tiny maps amplifying reorderings).

The worst single variable is not bounded: BN betas followed by another BN have a gradient that is rounding noise
(BUILD_NOTES 19.4).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _probe(paper: str, mode: str = "recipe", replicas: str = "1,2,4") -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "tests.replica_probe", paper, mode, replicas], cwd=ROOT, capture_output=True,
        text=True, timeout=1800, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _check(result: dict, replicas: str):
    for count in replicas.split(",")[1:]:
        entry = result[count]
        if result["bn"] == "local":
            assert entry["loss"] == pytest.approx(entry["reference_loss"], rel=1e-5)
            assert entry["reference"]["whole"] <= 3e-2, entry
            # per-replica BN does change the step, by far more than the reference's tolerance
            assert entry["single"]["whole"] > max(1e-2, 10 * entry["reference"]["whole"]), entry
        else:
            assert entry["loss"] == pytest.approx(result["1"]["loss"], rel=1e-5)
            assert entry["single"]["whole"] <= 1e-3, entry


@pytest.mark.parametrize("paper, bn", [
    ("smoothing", "frozen"),
    # Slow (the default suite's budget): LI, PAN and DifNet train BN per replica (DifNet's two ResNets trace for
    # 2.5 minutes); tracing CycleNet's synchronised BN (SPNet's recipe) over four replicas takes minutes
    # (MirroredStrategy's merge calls, one per BN layer and pass).
    *(pytest.param(paper, "local", marks=pytest.mark.slow) for paper in ("li_convs", "pan", "difnet")),
    pytest.param("cyclenet", "sync", marks=pytest.mark.slow),
])
def test_replicas_take_the_papers_step(paper, bn):
    result = _probe(paper)
    assert result["bn"] == bn
    _check(result, "1,2,4")


@pytest.mark.parametrize("mode", ["local", pytest.param("sync", marks=pytest.mark.slow)])
def test_trained_bn_on_replicas_takes_the_documented_step(mode):
    """BN trained per replica (the LI, PAN and DifNet recipes' setting) or synchronised (CycleNet's), on the model
    with the fewest BN layers to trace (smoothing's DeepLabv2 on ResNet-18, BN unfrozen): 2 x 2 against the
    per-share reference or against 1 x 4."""
    result = _probe("smoothing", mode, "1,2")
    assert result["bn"] == mode
    _check(result, "1,2")
