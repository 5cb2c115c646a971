"""python -m experiments.train --paper=P --ablation=A [--dataset=D --data_dir=DIR] [--mode=...]

Trains, evaluates and exports one row of a paper's tables (`experiments.runner`): papers li_convs (LI-Convs),
smoothing (efficient smoothing of dilated convolutions), pan (PAN) and cyclenet (CycleNet); every --ablation is a
row of the paper's tables (an unknown one lists them). Re-running the same command resumes from the latest
checkpoint in --model_dir. Configuration errors, bad data and a diverging loss end with a one-paragraph message
(exit code 2 or 1), not a traceback. The flags that matter are listed below; --helpfull lists every flag,
TensorFlow's included.
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
    return runner.main(argv)


def run() -> None:
    """The console script (pyproject.toml [project.scripts])."""
    app.run(main)


if __name__ == "__main__":
    run()
