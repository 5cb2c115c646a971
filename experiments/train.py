"""python -m experiments.train --paper=P --ablation=A [--dataset=D --data_dir=DIR] [--mode=...]

Trains, evaluates and exports one row of a paper's tables (`experiments.runner`). Re-running the same command
resumes from the latest checkpoint in --model_dir. Configuration errors, bad data and a diverging loss end with a
one-paragraph message (exit code 2 or 1), not a traceback.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402

from experiments import runner  # noqa: E402


def main(argv) -> int:
    return runner.main(argv)


if __name__ == "__main__":
    app.run(main)
