"""python -m experiments.evaluate --model_dir=DIR [--checkpoint=best|latest|PATH] [--eval_scales=...]

Evaluates a checkpoint on the eval split at original resolution (single scale, or multi-scale + flip), prints
the metrics table and writes it to TensorBoard and MODEL_DIR/eval/metrics-<step>.json (`experiments.runner`).
"""

from __future__ import annotations

from experiments.quiet import quiet_tensorflow  # noqa: E402  (first: before TensorFlow)

quiet_tensorflow()

from absl import app, flags  # noqa: E402

from experiments import data_flags, runner  # noqa: E402
from experiments import flags as cli  # noqa: E402

# --help lists the command line's flags (defined in experiments.flags and experiments.data_flags) by module.
flags.adopt_module_key_flags(cli)
flags.adopt_module_key_flags(data_flags)


def main(argv) -> int:
    return runner.main(argv, mode="eval")


def run() -> None:
    """The console script (pyproject.toml [project.scripts])."""
    app.run(main)


if __name__ == "__main__":
    run()
