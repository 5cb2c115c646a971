"""The deformable-op benchmark's problem: li_seg.ops.modulated_deform_conv2d and tf.nn.conv2d of the same shape,
timed by `scripts/benchmark.py --measure=deform` and measured for peak memory in a fresh process each.

Memory on a CPU: TensorFlow keeps no allocator statistics there (tf.config.experimental.get_memory_info needs a
GPU), so the measure is the process's resident set: after the inputs are made, Linux's peak-RSS mark is reset
(writing 5 to /proc/self/clear_refs) and the step is run once; its peak (VmHWM) minus the resident set before it
(VmRSS) is what the step's intermediates and gradients held at their peak (tracing included, a few MB). Linux only.
"""

from __future__ import annotations

import functools
import os
import pathlib
import subprocess
import sys

import tensorflow as tf

from li_seg.ops import modulated_deform_conv2d

ROOT = pathlib.Path(__file__).resolve().parents[2]
KINDS = ("conv", "deform", "deform_gather")  # deform: the default sampler (crop_and_resize in float32)


def problem(kind: str, batch_size: int, height: int, width: int, channels: int) -> tuple:
    """(function, inputs, projection) of `kind`: a 3x3 conv channels -> channels, SAME, on a batch_size x height x
    width map; the deformable one with offsets uniform in [-2, 2] and a mask in [0, 1], its default sampler
    ("deform") or the gather sampler ("deform_gather"). Float32 tensors made
    directly (no larger temporaries before a memory measurement), seed 0."""
    tf.random.set_seed(0)
    x = tf.random.normal((batch_size, height, width, channels))
    kernel = tf.random.normal((3, 3, channels, channels), stddev=0.05)
    projection = tf.random.normal((batch_size, height, width, channels))
    if kind == "conv":
        return (lambda a, k: tf.nn.conv2d(a, k, 1, "SAME")), [x, kernel], projection
    offsets = tf.random.uniform((batch_size, height, width, 18), -2.0, 2.0)
    mask = tf.random.uniform((batch_size, height, width, 9))
    sampler = "gather" if kind == "deform_gather" else "auto"
    return functools.partial(modulated_deform_conv2d, sampler=sampler), [x, offsets, mask, kernel], projection


_PEAK = r'''
import sys
from scripts.benchmarking.deform import problem
from scripts.benchmarking.timing import gradient_step

function, inputs, projection = problem(sys.argv[1], *(int(v) for v in sys.argv[2:6]))
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


def step_peak_mb(kind: str, batch_size: int, height: int, width: int, channels: int) -> float:
    """The rise of the peak resident memory (MB) over one forward + backward of `kind`'s problem, in a fresh
    process."""
    result = subprocess.run(
        [sys.executable, "-c", _PEAK, kind, str(batch_size), str(height), str(width), str(channels)],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)},
    )
    return int(result.stdout.strip().splitlines()[-1]) / 1024.0
