"""Peak memory of one forward + backward of a benchmark problem, in a fresh process.

A problem module (`scripts/benchmarking/deform.py`, `diffusion.py`) defines `problem(kind, *sizes) -> (function,
inputs, projection)`. Memory on a CPU: TensorFlow keeps no allocator statistics there
(tf.config.experimental.get_memory_info needs a GPU), so the measure is the process's resident set: after the inputs
are made, Linux's peak-RSS mark is reset (writing 5 to /proc/self/clear_refs) and the step is run once; its peak
(VmHWM) minus the resident set before it (VmRSS) is what the step's intermediates and gradients held at their peak
(tracing included, a few MB). Linux only.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

_PEAK = r'''
import importlib
import sys
from scripts.benchmarking.timing import gradient_step

problem = importlib.import_module(sys.argv[1]).problem
function, inputs, projection = problem(sys.argv[2], *(int(v) for v in sys.argv[3:]))
step = gradient_step(function, projection)

def status(key):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) for line in lines if line.startswith(key + ":"))  # kB

before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # resets VmHWM to the current resident set
[g.numpy() for g in step(*inputs)]
print(status("VmHWM") - before)
'''


def step_peak_mb(module: str, kind: str, *sizes: int) -> float:
    """The rise of the peak resident memory (MB) over one forward + backward of `module`'s problem(kind, *sizes),
    in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", _PEAK, module, kind, *(str(size) for size in sizes)],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)},
    )
    return int(result.stdout.strip().splitlines()[-1]) / 1024.0
