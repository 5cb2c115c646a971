"""What fits where: the peak memory of one training step of a paper's table row at the paper's crop, in a fresh
process per (model, precision, batch) (`python -m scripts.benchmark --measure=memory --paper=P [--ablations=A]`).

One step as the trainer takes it (`timing.train_rounds`: forward, loss, backward, SGD-momentum update; loss scaling
under mixed_float16), measured as the rise of the peak resident set from just before the model is built
(`peak_memory`): weights, optimizer slots, gradients, the activations kept for the backward pass, tracing. At batch
1 and 2: per image = M(2) - M(1), fixed = M(1) - per image, so a per-replica batch b needs fixed + b x per image.

This is CPU memory. A GPU run adds the CUDA context and cuDNN's workspaces and allocates through TensorFlow's BFC
allocator (which rounds and fragments), so leave a margin (README's table says which).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Optional

from scripts.benchmarking import peak_memory

# The dataset whose crop each paper's default recipe uses, for the logits' class count (VOC 21, Cityscapes 19).
CLASSES = {"li_convs": 21, "smoothing": 21, "pan": 21, "cyclenet": 19, "difnet": 21}
PRECISIONS = ("float32", "mixed_float16")

_CHILD = r'''
import sys
from scripts.benchmarking.train_memory import one_step_kb
print(one_step_kb(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
'''


@dataclasses.dataclass(frozen=True)
class Need:
    """A row's memory (MB) at one precision: fixed + per_image x b for a per-replica batch b."""

    fixed: float
    per_image: float

    def at(self, batch: int) -> float:
        return self.fixed + batch * self.per_image


def one_step_kb(paper: str, ablation: str, precision: str, batch: int) -> int:
    """In this (fresh) process: the peak-RSS rise (kB) from before building the row's model through one training
    step of `batch` images at the recipe's crop."""
    from experiments.quiet import quiet_tensorflow

    quiet_tensorflow()
    import keras

    from experiments.papers import get_experiment
    from li_seg.models import build_model, loss_weights
    from scripts.benchmarking.timing import random_batch, train_rounds

    cfg = get_experiment(paper, ablation)
    keras.mixed_precision.set_global_policy(precision)
    images, labels = random_batch(batch, cfg.data.crop_size, CLASSES[paper])
    before = peak_memory.reset_peak()
    model = build_model(cfg.model, CLASSES[paper])
    train_rounds(model, images, labels, loss_weights(cfg.model), mixed_precision=precision != "float32")(1)
    return peak_memory.status("VmHWM") - before


def measure(paper: str, ablation: str, precision: str, timeout: float = 3600) -> Optional[Need]:
    """Need of the row at `precision`, from two fresh processes (batch 1 and 2); None when a step could not run
    here (killed for want of memory, or failed: the child's error is printed)."""
    peaks = []
    for batch in (1, 2):
        try:
            peaks.append(peak_memory.fresh_process_mb(_CHILD, paper, ablation, precision, str(batch),
                                                      timeout=timeout))
        except subprocess.CalledProcessError as error:
            last = error.stderr.strip().splitlines()[-1] if error.stderr.strip() else f"exit {error.returncode}"
            reason = "killed (signal 9: out of memory?)" if error.returncode == -9 else last
            print(f"  {paper} / {ablation} {precision} batch {batch}: not measured, {reason}")
            return None
    one, two = peaks
    return Need(fixed=2 * one - two, per_image=two - one)


def per_replica_batches(batch: int) -> list[int]:
    """The recipe's batch on 1, 2, 4 and 8 replicas (where it divides)."""
    return [batch // replicas for replicas in (1, 2, 4, 8) if batch % replicas == 0]


if __name__ == "__main__":
    print(measure(*sys.argv[1:4]))
