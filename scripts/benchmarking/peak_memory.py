"""Peak memory of one forward + backward of the deformable op and of tf.nn.conv2d, each in a fresh process.

On a CPU TensorFlow keeps no allocator statistics (tf.config.experimental.get_memory_info needs a GPU), so the
measure is the process's resident set: after the inputs are made, Linux's peak-RSS mark is reset (writing 5 to
/proc/self/clear_refs) and the step is run once; its peak (VmHWM) minus the resident set before it (VmRSS) is what
the step's intermediates and gradients held at their peak (tracing included, a few MB). Linux only.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

_STEP = r'''
import sys
import tensorflow as tf
from li_seg.ops import modulated_deform_conv2d

kind = sys.argv[1]
batch, height, width, channels = (int(v) for v in sys.argv[2:6])
tf.random.set_seed(0)  # float32 tensors made directly: no larger temporaries before the measured step
x = tf.random.normal((batch, height, width, channels))
kernel = tf.random.normal((3, 3, channels, channels), stddev=0.05)
offsets = tf.random.uniform((batch, height, width, 18), -2.0, 2.0)
mask = tf.random.uniform((batch, height, width, 9))
projection = tf.random.normal((batch, height, width, channels))
inputs = (x, kernel) if kind == "conv" else (x, offsets, mask, kernel)
function = (lambda a, k: tf.nn.conv2d(a, k, 1, "SAME")) if kind == "conv" else modulated_deform_conv2d

@tf.function
def step(*args):
    with tf.GradientTape() as tape:
        tape.watch(args)
        loss = tf.reduce_sum(function(*args) * projection)
    return tape.gradient(loss, args)

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
    """The rise of the peak resident memory (MB) over one forward + backward of `kind` ("conv" or "deform")."""
    result = subprocess.run(
        [sys.executable, "-c", _STEP, kind, str(batch_size), str(height), str(width), str(channels)],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)},
    )
    return int(result.stdout.strip().splitlines()[-1]) / 1024.0
