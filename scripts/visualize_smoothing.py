"""The smoothing paper's Fig. 5: the share of each aggregated-smoothing coefficient over training, as a PNG.

    python -m scripts.visualize_smoothing --model_dir=runs/smoothing/aggregated-voc [--output=fig5.png]

Reads the "smoothing_coefficients/{ave,gauss,learned,none}" scalars that training writes to MODEL_DIR/train every
train.summary_every_steps (an `aggregated` ablation: --paper=smoothing --ablation=aggregated). With the paper's
convex coefficients the plot stacks the shares a_k / sum(a) (they sum to 1); with the released code's
unconstrained coefficients (model.backbone.smoothing.coefficients=code), which can turn negative, it draws the raw
values as lines instead.
"""

from __future__ import annotations

import pathlib
import sys
from typing import Optional

from experiments.quiet import quiet_tensorflow  # noqa: E402  (first: before TensorFlow)

quiet_tensorflow()

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from li_seg.layers.smoothing import COEFFICIENT_NAMES  # noqa: E402
from li_seg.training.summaries import read_scalars  # noqa: E402

FLAGS = flags.FLAGS
PREFIX = "smoothing_coefficients/"
LABELS = {"ave": "Average", "gauss": "Gaussian", "learned": "Learned (SS Conv)", "none": "None (identity)"}


def read_coefficients(model_dir) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(steps, {"ave": values, "gauss": ..., "learned": ..., "none": ...}) at the steps where all four were
    logged; FileNotFoundError naming the model dir when it has none."""
    series = read_scalars(pathlib.Path(model_dir) / "train", (PREFIX,))
    found = {tag.removeprefix(PREFIX): dict(values) for tag, values in series.items()}
    if sorted(found) != sorted(COEFFICIENT_NAMES):
        raise FileNotFoundError(
            f"{model_dir}/train holds no aggregated smoothing coefficients ({PREFIX}*): train an aggregated model "
            "first, e.g. python -m experiments.train --paper=smoothing --ablation=aggregated --model_dir=DIR"
        )
    steps = sorted(set.intersection(*(set(values) for values in found.values())))
    return np.array(steps), {name: np.array([found[name][s] for s in steps]) for name in COEFFICIENT_NAMES}


def plot(steps: np.ndarray, coefficients: dict[str, np.ndarray], output, title: Optional[str] = None) -> str:
    """Writes Fig. 5 to `output` (PNG); returns the path."""
    figure, axis = plt.subplots(figsize=(7, 4))
    values = np.stack([coefficients[name] for name in COEFFICIENT_NAMES])
    labels = [LABELS[name] for name in COEFFICIENT_NAMES]
    if (values >= 0).all():
        axis.stackplot(steps, values / values.sum(axis=0, keepdims=True), labels=labels)
        axis.set_ylim(0, 1)
        axis.set_ylabel("coefficient share")
    else:
        for row, label in zip(values, labels):
            axis.plot(steps, row, label=label)
        axis.set_ylabel("coefficient (unconstrained)")
    axis.set_xlabel("training step")
    axis.set_title(title or "Aggregated smoothing coefficients (Fig. 5)")
    axis.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    figure.savefig(output, dpi=120)
    plt.close(figure)
    return str(output)


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        steps, coefficients = read_coefficients(FLAGS.model_dir)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output = FLAGS.output or str(pathlib.Path(FLAGS.model_dir) / "smoothing_coefficients.png")
    print(f"wrote {plot(steps, coefficients, output)} ({len(steps)} steps, last: " + ", ".join(
        f"{name} {coefficients[name][-1]:.3f}" for name in COEFFICIENT_NAMES) + ")")
    return 0


def define_flags() -> None:
    flags.DEFINE_string("model_dir", None, "Model dir of an aggregated-smoothing run.", required=True)
    flags.DEFINE_string("output", None, "PNG path (default MODEL_DIR/smoothing_coefficients.png).")


if __name__ == "__main__":
    define_flags()
    app.run(lambda argv: sys.exit(main(argv)))
