"""One training step compiled with XLA against the same step uncompiled, and the criterion tests/test_xla.py holds
them to (its module docstring says why). Run as a module it prints, per random initialisation, how much of the
allowance the largest difference used, at the test's 5 % and at the 1e-4 it had before (BUILD_NOTES 22.1):

    python -m tests.xla_step cyclenet:5 li_convs:4 pan:4 smoothing:3 difnet:3     # paper:initialisations
"""

from __future__ import annotations

import dataclasses
import sys

import keras
import numpy as np
import tensorflow as tf

from li_seg.models import build_model, loss_weights
from li_seg.training.step import loss_and_gradients
from tests.paper_models import batch, prepare, small_config

SIZE, CLASSES = 65, 5
SPREAD_FACTOR, RELATIVE_ALLOWANCE, NOISE_FLOOR = 3.0, 0.05, 1e-7


@dataclasses.dataclass
class StepDifferences:
    """The two steps' losses, the compiled graph's op types and, per variable, (path, |compiled - uncompiled|,
    |uncompiled with the batch reversed - uncompiled|, |uncompiled|) of its gradient; `total` = |whole gradient|."""

    loss: float
    xla_loss: float
    op_types: set
    total: float
    rows: list

    def used(self, relative: float = RELATIVE_ALLOWANCE) -> list[tuple[float, str]]:
        """(difference / allowance, variable) from the largest: allowance = SPREAD_FACTOR x the reversed batch's
        distance + `relative` x the variable's gradient + NOISE_FLOOR x the whole gradient."""
        return sorted(((d / (SPREAD_FACTOR * r + relative * g + NOISE_FLOOR * self.total), path)
                       for path, d, r, g in self.rows), reverse=True)

    def wrong(self, relative: float = RELATIVE_ALLOWANCE) -> list[str]:
        return [f"{path}: {ratio:.2f} x its allowance" for ratio, path in self.used(relative) if ratio > 1]


def step_differences(paper: str, ablation: str, seed: int = 0) -> StepDifferences:
    """`paper`'s `ablation` at the small size (`small_config`, 2 x 65 x 65, dropout off, fractional offsets), its
    weights drawn from `seed`: loss and gradients under tf.function with and without jit_compile."""
    keras.utils.set_random_seed(seed)
    model_config = small_config(paper, ablation)
    rng = np.random.default_rng(seed)
    model = prepare(build_model(model_config, CLASSES), rng)
    images, labels = batch(rng, 2, SIZE, CLASSES)

    def step(images, labels):
        return loss_and_gradients(model, model.trainable_variables, images, labels, ignore_label=255,
                                  weights=loss_weights(model_config), global_num_valid=tf.constant(2.0 * SIZE ** 2),
                                  weight_decay=1e-4)

    plain, compiled = tf.function(step), tf.function(step, jit_compile=True)
    (loss, gradients), (xla_loss, xla_gradients) = plain(images, labels), compiled(images, labels)
    _, reversed_gradients = plain(tf.reverse(images, [0]), tf.reverse(labels, [0]))
    rows = [(v.path, float(np.linalg.norm(x.numpy() - g.numpy())), float(np.linalg.norm(r.numpy() - g.numpy())),
             float(np.linalg.norm(g.numpy())))
            for g, x, r, v in zip(gradients, xla_gradients, reversed_gradients, model.trainable_variables)]
    graph = compiled.get_concrete_function(images, labels).graph
    return StepDifferences(float(loss["loss"]), float(xla_loss["loss"]), {op.type for op in graph.get_operations()},
                           float(np.sqrt(sum(g * g for *_, g in rows))), rows)


def main(argv: list[str]) -> int:
    from experiments.papers import main_ablation

    for spec in argv:
        paper, count = spec.split(":")
        for seed in range(int(count)):
            differences = step_differences(paper, main_ablation(paper), seed)
            (now, now_at), (before, before_at) = differences.used()[0], differences.used(1e-4)[0]
            print(f"{paper} initialisation {seed}: loss {abs(differences.xla_loss / differences.loss - 1):.1e} "
                  f"relative; largest share of the allowance at 5 %: {now:.2f} ({now_at}), at 1e-4: {before:.2f} "
                  f"({before_at})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
