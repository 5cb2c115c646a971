"""The peer of the deformable-op benchmark: torchvision.ops.deform_conv2d (DCNv2, its C++ CPU kernel) and torch's
own conv2d at the same shape, forward + backward of every input, in a torch process that the benchmark drives round
by round (`torch_rounds`), so that torch's rounds alternate with TensorFlow's in one run.

torch cannot share a process with TensorFlow (importing both crashes, see tests/test_torchvision_reference.py): it
runs in the Python given by --torch_python (a venv with requirements-crosscheck.txt), with torch's threads set to
the machine's cores. As a script (`python scripts/benchmarking/torch_deform.py B H W C`) it reads "KIND STEPS" lines
(KIND: deform or conv) and answers each with the seconds the steps took.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

KINDS = ("deform", "conv")


def torch_rounds(python: str, batch_size: int, height: int, width: int, channels: int) -> dict:
    """{kind: RoundFn} for torchvision's deform_conv2d and torch's conv2d, driving one torch process."""
    process = subprocess.Popen(
        [python, str(pathlib.Path(__file__).resolve()), str(batch_size), str(height), str(width), str(channels)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )

    def rounds(kind: str):
        def run(steps: int) -> float:
            process.stdin.write(f"{kind} {steps}\n")
            process.stdin.flush()
            answer = process.stdout.readline()
            if not answer:
                raise RuntimeError(f"the torch process ({python}) ended; is torchvision installed there?")
            return float(answer)

        return run

    return {kind: rounds(kind) for kind in KINDS}


def _serve(batch_size: int, height: int, width: int, channels: int) -> None:
    import os
    import time

    import torch
    import torchvision

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.manual_seed(0)
    x = torch.randn(batch_size, channels, height, width, requires_grad=True)
    weight = (0.05 * torch.randn(channels, channels, 3, 3)).requires_grad_()
    offsets = (4 * torch.rand(batch_size, 18, height, width) - 2).requires_grad_()
    mask = torch.rand(batch_size, 9, height, width, requires_grad=True)
    projection = torch.randn(batch_size, channels, height, width)
    steps = {
        "deform": lambda: torchvision.ops.deform_conv2d(x, offsets, weight, padding=1, mask=mask),
        "conv": lambda: torch.nn.functional.conv2d(x, weight, padding=1),
    }
    for line in sys.stdin:
        kind, count = line.split()
        start = time.perf_counter()
        for _ in range(int(count)):
            inputs = (x, offsets, weight, mask) if kind == "deform" else (x, weight)
            torch.autograd.grad((steps[kind]() * projection).sum(), inputs)
        print(time.perf_counter() - start, flush=True)


if __name__ == "__main__":
    _serve(*(int(v) for v in sys.argv[1:5]))
