"""pyproject.toml: `pip install .` gives the library and the command line from any directory (issue 24 item 1)."""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _requirement_lines(path: pathlib.Path) -> list[str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line]


def test_pyproject_pins_what_requirements_pin():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = _requirement_lines(ROOT / "requirements.txt")
    test_start = requirements.index("pytest>=8")
    assert project["dependencies"] == requirements[:test_start]
    assert project["optional-dependencies"]["test"] == requirements[test_start:]
    assert project["optional-dependencies"]["crosscheck"] == _requirement_lines(ROOT / "requirements-crosscheck.txt")
    assert project["optional-dependencies"]["tfds-cli"] == _requirement_lines(ROOT / "requirements-tfds-cli.txt")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel built (no network: the venv's setuptools) from a copy of the tree, so no build/ lands in it."""
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("li_seg", "experiments"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(source)], check=True, capture_output=True)
    (path,) = out.glob("li_seg-*.whl")
    return path


def test_wheel_holds_the_library_and_the_command_line_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.startswith("li_seg-")}
    assert packages == {"li_seg", "experiments"}
    for module in ("li_seg/layers/lateral_inhibition.py", "li_seg/weights/mapping.py", "experiments/train.py",
                   "experiments/papers/difnet.py"):
        assert module in names
    python_files = {p.relative_to(ROOT).as_posix() for d in ("li_seg", "experiments") for p in (ROOT / d).rglob("*.py")}
    assert python_files <= set(names), python_files - set(names)
    metadata = next(name for name in names if name.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Requires-Dist: tensorflow==2.21.0" in text
    assert re.search(r"Requires-Dist: torch==\S+ ?; extra == .crosscheck", text), text
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "li-seg-train = experiments.train:run" in entry_points
    assert "li-seg-predict = experiments.predict:run" in entry_points


def test_installed_copy_imports_and_runs_from_another_directory(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "TF_CPP_MIN_LOG_LEVEL": "2"}
    probe = ("import li_seg, experiments.papers; from li_seg.layers import FeaturePyramidAttention; "
             "print(li_seg.__file__, li_seg.__version__, sorted(experiments.papers.PAPERS))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(str(target / "li_seg"))
    assert "'cyclenet', 'difnet', 'li_convs', 'pan', 'smoothing'" in result.stdout
    # The console script runs the command line (its usage errors come from experiments.runner).
    script = subprocess.run([str(target / "bin" / "li-seg-train"), "--paper=nope"], cwd=elsewhere, env=env,
                            capture_output=True, text=True)
    assert script.returncode == 2 and "unknown paper 'nope'; valid papers: li_convs" in script.stderr, script.stderr
