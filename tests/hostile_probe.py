"""Loads every file of the hostile corpus (tests/fixtures/hostile/manifest.json) into a ResNet-18 backbone, the way
--backbone_weights does, in this one process, and writes per file what happened as JSON:

    python tests/hostile_probe.py CORPUS_DIR OUTPUT.json

Per file: the exception's type and message (or "loaded"), the CPU seconds it took, and the rise of resident memory
it caused: the peak (VmHWM) is reset before each file by writing 5 to /proc/self/clear_refs, so the figure is this
file's own; where the kernel does not allow that, the rise of the process's lifetime peak (ru_maxrss), which can
only under-count ("exact": false). A line naming each file is printed before it is tried, so a crash names it.
Last, a control: a 300 MB allocation, measured the same way, shows that the measure sees what it must.
Run by tests/test_hostile_weights.py in a subprocess whose working directory holds the marker files the corpus
points at.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np

CONTROL = "control: 300 MB of NumPy"


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def main(corpus: str, output: str) -> None:
    from li_seg.backbones.pretrained import build_pretrained_backbone
    from li_seg.config import BackboneConfig
    from li_seg.layers.normalization import BatchNormSettings
    from li_seg.weights import WeightsError, load_backbone_weights

    backbone = build_pretrained_backbone(
        BackboneConfig(name="resnet18", layout="torchvision", stem="plain", output_stride=32), BatchNormSettings())
    with open(f"{corpus}/manifest.json") as f:
        manifest = json.load(f)
    results = {}
    for name in sorted(manifest):
        print(f"trying {name}", flush=True)
        results[name] = _measure(lambda: load_backbone_weights(backbone, f"{corpus}/{name}"), WeightsError)
    # The control, last (it raises the lifetime peak): a 300 MB allocation must show as such.
    results[CONTROL] = _measure(lambda: np.ones(300 * 2**20, np.uint8).sum(), WeightsError)
    with open(output, "w") as f:
        json.dump(results, f, indent=1)


def _measure(load, refusal: type) -> dict:
    """What `load()` did: refused (raised `refusal`), its outcome and message, CPU seconds, memory rise."""
    exact = _reset_peak()
    before = _status_kb("VmRSS") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.process_time()
    refused, message = False, ""
    try:
        load()
        outcome = "loaded"
    except refusal as error:
        refused, outcome, message = True, type(error).__name__, str(error)
    except BaseException as error:  # noqa: BLE001  (what the test must see, whatever it is)
        outcome, message = type(error).__name__, str(error)[:4000]
    cpu = time.process_time() - start
    after = _status_kb("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"refused": refused, "outcome": outcome, "message": message, "cpu_seconds": cpu,
            "memory_rise_mb": max(after - before, 0) / 1024, "exact": exact}


if __name__ == "__main__":
    main(*sys.argv[1:])
