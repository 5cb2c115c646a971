"""Peak memory in a fresh process: of one forward + backward of a benchmark problem, or of one training step of a
paper's table row (`train_memory`).

A problem module (`scripts/benchmarking/deform.py`, `diffusion.py`) defines `problem(kind, *sizes) -> (function,
inputs, projection)`. Memory on a CPU: TensorFlow keeps no allocator statistics there
(tf.config.experimental.get_memory_info needs a GPU), so the measure is the process's resident set: Linux's
peak-RSS mark is reset (writing 5 to /proc/self/clear_refs) just before what is measured, which then runs once;
its peak (VmHWM) minus the resident set before it (VmRSS) is what it held at its peak (tracing included, a few
MB). Linux only.
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
from scripts.benchmarking.peak_memory import reset_peak, status
from scripts.benchmarking.timing import gradient_step

problem = importlib.import_module(sys.argv[1]).problem
function, inputs, projection = problem(sys.argv[2], *(int(v) for v in sys.argv[3:]))
step = gradient_step(function, projection)
before = reset_peak()
[g.numpy() for g in step(*inputs)]
print(status("VmHWM") - before)
'''


def status(key: str) -> int:
    """A /proc/self/status memory figure in kB ("VmRSS", "VmHWM")."""
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) for line in lines if line.startswith(key + ":"))


def reset_peak() -> int:
    """Resets the peak-RSS mark (VmHWM) to the current resident set and returns that (kB)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    return status("VmRSS")


def fresh_process_mb(code: str, *args: str, timeout: float = 600) -> float:
    """Runs `code` (which prints a kB figure last) with `args` in a fresh Python process; the figure in MB."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)},
    )
    return int(result.stdout.strip().splitlines()[-1]) / 1024.0


def step_peak_mb(module: str, kind: str, *sizes: int) -> float:
    """The rise of the peak resident memory (MB) over one forward + backward of `module`'s problem(kind, *sizes),
    in a fresh process."""
    return fresh_process_mb(_PEAK, module, kind, *(str(size) for size in sizes))
