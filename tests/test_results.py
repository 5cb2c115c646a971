"""scripts/results: the campaign driver (plan, skip, resume, lock) and the results page, on two tiny real runs."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from experiments import config as config_lib
from scripts.results import driver, protocol

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--arms=li_convs", "--seeds=0", "--dataset=synthetic", "--data_dir=", "--steps=2", "--crop=32,32",
        "--eval_every_steps=1"]


def _run(module, *args, check=True):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr[-4000:]}")
    return result


def test_plan_is_seed_major_in_protocol_order(tmp_path):
    arms = protocol.select_arms(["pan", "li_convs/mnv2_aspp"])
    assert [arm.name for arm in arms] == ["li_convs/mnv2_aspp", "pan/resnet101", "pan/pan"]
    runs = driver.plan(tmp_path, arms, [0, 1])
    assert [(run.arm.name, run.seed) for run in runs] == [
        ("li_convs/mnv2_aspp", 0), ("pan/resnet101", 0), ("pan/pan", 0),
        ("li_convs/mnv2_aspp", 1), ("pan/resnet101", 1), ("pan/pan", 1)]
    assert runs[2].model_dir == tmp_path / "pan" / "pan-seed0"
    with pytest.raises(ValueError, match="unknown arm.*pan/fpa.*cyclenet/resnet101"):
        protocol.select_arms(["pan/fpa"])


def test_every_method_has_its_papers_baseline_and_shares_its_backbone():
    for arm in protocol.ARMS:
        if arm.baseline:
            baseline = protocol.ARMS_BY_NAME[f"{arm.paper}/{arm.baseline}"]
            assert baseline.baseline is None
            assert arm.overrides.get("model.backbone.name") == baseline.overrides.get("model.backbone.name")


def test_command_is_the_protocol_with_the_arms_and_settings_changes(tmp_path):
    run = driver.Run(protocol.ARMS_BY_NAME["cyclenet/cyclenet"], 2, tmp_path / "c")
    command = driver.train_command(run, driver.Settings("camvid", "/data", 7, (64, 96), 3))
    assert command[1:3] == ["-m", "experiments.train"]
    assert {"--paper=cyclenet", "--ablation=cyclenet", "--seed=2", "--train_steps=7", "--crop_size=64,96",
            "--batch_size=8", "--learning_rate=0.001", "--eval_scales=0.5", "--data_dir=/data"} <= set(command)
    overrides = config_lib.parse_params_override(command[-1].split("=", 1)[1])
    assert overrides["train.adam_epsilon"] == 1e-7 and overrides["train.lr_multipliers"] == []
    assert overrides["model.head.cycle_aspp.growth_channels"] == 64
    assert overrides["train.eval_every_steps"] == overrides["train.checkpoint_every_steps"] == 3


def test_lock_refuses_a_live_driver_and_takes_a_stale_one(tmp_path):
    lock = driver.Lock(tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.path.write_text(json.dumps({"driver": sleeper.pid, "trainer": None}))
        with pytest.raises(RuntimeError, match=f"another driver holds .*{sleeper.pid}"):
            lock.acquire()
    finally:
        sleeper.kill()
        sleeper.wait()
    lock.acquire()  # its holder is gone: stale
    assert json.loads(lock.path.read_text()) == {"driver": os.getpid(), "trainer": None}


def test_usage_errors_name_the_problem():
    assert "usage: python -m scripts.results.driver run|status" in _run(
        "scripts.results.driver", "--out=x", check=False).stderr
    bad = _run("scripts.results.driver", "status", "--out=x", "--arms=pan/nope", check=False)
    assert bad.returncode == 2 and "unknown arm(s) pan/nope" in bad.stderr


def test_two_tiny_runs_skip_resume_and_make_the_page(tmp_path):
    out = tmp_path / "runs"
    first = _run("scripts.results.driver", "run", f"--out={out}", *TINY)
    assert first.stdout.count("done ") == 2, first.stdout
    again = _run("scripts.results.driver", "run", f"--out={out}", *TINY)
    assert "start" not in again.stdout  # finished runs are skipped
    # A run killed during its final evaluation: the trainer's last write is missing; the driver resumes it.
    metrics = out / "li_convs" / "li_mnv2_li_aspp-seed0" / "eval" / "metrics-2.json"
    recorded = json.loads(metrics.read_text())
    metrics.unlink()
    assert "at step 2" in _run("scripts.results.driver", "status", f"--out={out}", *TINY).stdout
    resumed = _run("scripts.results.driver", "run", f"--out={out}", *TINY)
    assert "start" in resumed.stdout and "(from step 2)" in resumed.stdout and "done " in resumed.stdout
    assert json.loads(metrics.read_text())["miou"] == pytest.approx(recorded["miou"], abs=1e-6)

    page, figures = tmp_path / "docs" / "results.md", tmp_path / "docs" / "results"
    figures.mkdir(parents=True)
    (figures / "reading.md").write_text("Hand-written reading.")
    # Seed 1 was never run: the page is made from what finished and names the rest.
    made = _run("scripts.results.page", f"--out={out}", *TINY[:1], "--seeds=0,1", *TINY[2:], f"--page={page}",
                f"--figures={figures}")
    assert "(2 of 4 runs finished)" in made.stdout
    text = page.read_text()
    assert "- li_convs/mnv2_aspp seed 1: not started" in text
    baseline = json.loads((out / "li_convs" / "mnv2_aspp-seed0" / "eval" / "metrics-2.json").read_text())
    difference = 100 * (recorded["miou"] - baseline["miou"])
    assert f"| li_convs | mnv2_aspp (baseline) | 1 | {100 * baseline['miou']:.2f} |" in text
    assert f"| {difference:+.2f} (one seed) |" in text
    rows = {line.split(" | ")[1]: line for line in text.splitlines() if line.startswith("| li_convs |")}
    assert "| 2.56 |" in rows["mnv2_aspp (baseline)"] and "| 2.57 |" in rows["li_mnv2_li_aspp"]  # parameters (M)
    learned = next(line for line in text.splitlines() if line.startswith("- li_convs/li_mnv2_li_aspp"))
    assert "li_intensity_mean: aspp_rate12" in learned and "rb16" in learned  # W_L of every LI layer
    assert rows["mnv2_aspp (baseline)"].split(" | ")[-1] != "- |"  # training images/s recorded
    assert "## Reading\n\nHand-written reading." in text
    for name in ("miou_differences.png", "validation_curves.png"):
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
