"""README's fresh-machine commands stay in sync with CI and with the code they name."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_commands():
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_ci_runs_the_readme_test_command():
    main_command, test_command = readme_commands()
    assert "python -m pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
    assert "experiments.train --paper=li_convs" in main_command and "experiments.export" in main_command


def test_requirements_pin_the_requested_packages():
    requirements = (ROOT / "requirements.txt").read_text()
    for package in ("tensorflow==", "tensorflow-datasets==", "keras-cv==", "numpy", "absl-py", "tensorboard", "pytest"):
        assert re.search(rf"^{re.escape(package)}", requirements, re.M), package
