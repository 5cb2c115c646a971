"""python -m experiments.evaluate --model_dir=DIR [--checkpoint=best|latest|PATH] [--eval_scales=...]

Evaluates a checkpoint on the eval split at original resolution (single scale, or multi-scale + flip), prints
the metrics table and writes it to TensorBoard and MODEL_DIR/eval/metrics-<step>.json (`experiments.runner`).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402

from experiments import runner  # noqa: E402


def main(argv) -> int:
    return runner.main(argv, mode="eval")


if __name__ == "__main__":
    app.run(main)
