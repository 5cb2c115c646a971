"""python -m experiments.export --model_dir=DIR [--checkpoint=best|latest|PATH] [--export_dir=OUT]

Writes a SavedModel whose serving signature takes a uint8 RGB batch of any size and returns the class map and
the class probabilities at input size (li_seg.export), predicting as the run evaluates: the config's eval scales
and flipping are part of the exported graph (--eval_scales / --add_flipped_images change them).
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
    return runner.main(argv, mode="export")


def run() -> None:
    """The console script (pyproject.toml [project.scripts])."""
    app.run(main)


if __name__ == "__main__":
    run()
