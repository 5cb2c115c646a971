"""Untrusted weight files: every file of the hostile corpus (tests/fixtures/hostile, written by its make_corpus.py)
ends in a WeightsError that names the file and its problem, within a second of CPU, with resident memory rising by
under 256 MB, without reading the marker files it points at and without running the code it names.

The corpus is loaded once, in a subprocess (tests/hostile_probe.py: a crash there names the file that caused it),
whose working directory holds the marker files that the external-storage, external-link and virtual-dataset files
point at and where the code in the pickles would create `li_seg_hostile_ran`. Threat model: docs/weights_security.md.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fixtures" / "hostile"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
FILE_MARKER = b"LI_SEG_FILE_MRK!"  # 16 bytes, what the marker files hold
MEMORY_LIMIT_MB = 256
CPU_LIMIT_SECONDS = 1.0


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile_cwd")
    (work / "li_seg_hostile_marker.bin").write_bytes(FILE_MARKER)
    with h5py.File(work / "li_seg_hostile_marker.h5", "w") as f:
        f["secret"] = np.frombuffer(FILE_MARKER, np.uint8)
    output = work / "results.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "hostile_probe.py"), str(CORPUS), str(output)],
                         cwd=work, env=env, capture_output=True, text=True, timeout=600)
    tried = [line for line in run.stdout.splitlines() if line.startswith("trying ")]
    assert run.returncode == 0, (f"the probe died (exit {run.returncode}) at {tried[-1:] or 'start-up'}:\n"
                                 f"{run.stderr[-3000:]}")
    return json.loads(output.read_text()), work


def test_the_manifest_names_every_file_of_the_corpus():
    names = {p.name for p in CORPUS.iterdir()} - {"make_corpus.py", "manifest.json"}
    prefixes = {n.split(".")[0] for n in names if n.endswith((".index", ".data-00000-of-00001"))}
    files = {n for n in names if not n.endswith((".index", ".data-00000-of-00001"))}
    assert files | prefixes == set(MANIFEST)
    assert sum(p.stat().st_size for p in CORPUS.iterdir()) < 2_000_000  # small enough to commit


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_hostile_file_is_refused_clearly_fast_and_in_little_memory(probe, name):
    results, work = probe
    result = results[name]
    assert result["refused"], f"{name}: {result['outcome']}: {result['message']}"
    message = result["message"]
    assert name in message, message  # the file is named
    assert re.search(MANIFEST[name], message), f"{name}: expected /{MANIFEST[name]}/ in: {message}"
    assert "Traceback" not in message and len(message) < 6000
    assert FILE_MARKER.decode() not in message
    assert result["cpu_seconds"] < CPU_LIMIT_SECONDS, result
    assert result["memory_rise_mb"] < MEMORY_LIMIT_MB, result


def test_nothing_named_in_a_pickle_ran(probe):
    _, work = probe
    assert not (work / "li_seg_hostile_ran").exists()


def test_the_memory_measure_sees_a_300_mb_allocation(probe):
    results, _ = probe
    control = results["control: 300 MB of NumPy"]
    assert control["outcome"] == "loaded" and control["memory_rise_mb"] >= 290, control
