"""python -m experiments.export --model_dir=DIR [--checkpoint=best|latest|PATH] [--export_dir=OUT]

Writes a SavedModel whose serving signature takes a uint8 RGB batch of any size and returns the class map and
the class probabilities at input size (li_seg.export), predicting as the run evaluates: the config's eval scales
and flipping are part of the exported graph (--eval_scales / --add_flipped_images change them).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402

from experiments import runner  # noqa: E402


def main(argv) -> int:
    return runner.main(argv, mode="export")


if __name__ == "__main__":
    app.run(main)
