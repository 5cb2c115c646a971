"""scripts/results: the campaign driver (plan, skip, resume, lock) and the results page, on two tiny real runs."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
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


@pytest.mark.slow
def test_two_tiny_runs_skip_resume_and_make_the_page(tmp_path):
    """The real thing end to end (about 100 s: five TensorFlow processes); the fast tests below check the same
    logic with a stand-in trainer and recorded runs."""
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
    assert f"| li_convs | mnv2_aspp (baseline) | mobilenet_v2 | 1 | {100 * baseline['miou']:.2f} |" in text
    assert f"| {difference:+.2f} (one seed) |" in text
    rows = {line.split(" | ")[1]: line for line in text.splitlines() if line.startswith("| li_convs |")}
    assert "| 2.56 |" in rows["mnv2_aspp (baseline)"] and "| 2.57 |" in rows["li_mnv2_li_aspp"]  # parameters (M)
    learned = next(line for line in text.splitlines() if line.startswith("- li_convs/li_mnv2_li_aspp"))
    assert "li_intensity_mean: aspp_rate12" in learned and "rb16" in learned  # W_L of every LI layer
    assert rows["mnv2_aspp (baseline)"].split(" | ")[-1] != "- |"  # training images/s recorded
    assert "## Reading\n\nHand-written reading." in text
    for name in ("miou_differences.png", "validation_curves.png"):
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


FAKE_TRAINER = """
import json, pathlib, sys
model_dir, steps = pathlib.Path(sys.argv[1]), int(sys.argv[2])
if (model_dir.parent / "fail").exists() and model_dir.name.startswith("li_mnv2"):
    sys.exit(3)
(model_dir / "eval").mkdir(parents=True, exist_ok=True)
(model_dir / "eval" / f"metrics-{steps}.json").write_text(json.dumps({"miou": 0.5}))
"""


def test_the_driver_skips_finished_runs_resumes_the_rest_and_goes_on_after_a_failure(tmp_path, monkeypatch):
    """run_all with a stand-in trainer (what the driver sees of one: an exit status and the final metrics file)."""
    started = []

    def command(run, settings):
        started.append(run.model_dir.name)
        return [sys.executable, "-c", FAKE_TRAINER, str(run.model_dir), str(settings.steps)]

    monkeypatch.setattr(driver, "train_command", command)
    out = tmp_path / "runs"
    runs = driver.plan(out, protocol.select_arms(["li_convs"]), [0, 1])
    settings = driver.Settings(steps=7)
    assert driver.run_all(out, runs, settings) == 0 and len(started) == 4
    assert driver.run_all(out, runs, settings) == 0 and len(started) == 4  # all finished: nothing started
    (out / "li_convs" / "mnv2_aspp-seed1" / "eval" / "metrics-7.json").unlink()  # killed before its last write
    (out / "li_convs" / "mnv2_aspp-seed1" / "checkpoints").mkdir()
    (out / "li_convs" / "mnv2_aspp-seed1" / "checkpoints" / "ckpt-5.index").touch()
    (out / "li_convs" / "li_mnv2_li_aspp-seed0" / "eval" / "metrics-7.json").unlink()
    (out / "li_convs" / "fail").touch()  # li_mnv2_li_aspp's trainer now fails
    assert driver.run_all(out, runs, settings) == 1
    assert started[4:] == ["li_mnv2_li_aspp-seed0", "mnv2_aspp-seed1"]  # the failure did not stop the campaign
    log = (out / "driver.log").read_text()
    assert "FAILED" in log and "li_mnv2_li_aspp-seed0 (exit 3)" in log and "mnv2_aspp-seed1 (from step 5)" in log
    assert not (out / "driver.lock").exists()
    status = driver.status(runs, settings)
    assert "finished  mIoU 50.00" in status[0] and "started, no checkpoint yet" in status[1]
    # Records: the finished runs copied (the ones finished before records were kept too); a campaign on another
    # machine (a new, empty --out) starts only what is not recorded.
    records = tmp_path / "records"
    (out / "li_convs" / "fail").unlink()
    assert driver.run_all(out, runs, settings, records) == 0 and started[6:] == ["li_mnv2_li_aspp-seed0"]
    assert sorted(p.parent.parent.name for p in records.glob("li_convs/*/eval/metrics-7.json")) == [
        "li_mnv2_li_aspp-seed0", "li_mnv2_li_aspp-seed1", "mnv2_aspp-seed0", "mnv2_aspp-seed1"]
    (records / "li_convs" / "mnv2_aspp-seed1" / "eval" / "metrics-7.json").unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere_runs = driver.plan(elsewhere, protocol.select_arms(["li_convs"]), [0, 1])
    assert driver.run_all(elsewhere, elsewhere_runs, settings, records) == 0 and started[7:] == ["mnv2_aspp-seed1"]


def _recorded_run(directory, ablation, seed, miou, curve, intensity=None):
    """A finished run as the trainer leaves it: config.json, the final metrics, eval and train TensorBoard files."""
    import tensorflow as tf

    from experiments import papers

    (directory / "eval").mkdir(parents=True)
    config_lib.save(papers.get_experiment("li_convs", ablation), directory / "config.json")
    per_class = [miou] * 6 + [None]
    for step, value in curve:  # each evaluation's metrics file: the validation curve
        (directory / "eval" / f"metrics-{step}.json").write_text(json.dumps(
            {"miou": value, "pixel_accuracy": 0.8, "per_class_iou": per_class}))
    for name, scalars in (("train", {"images_per_second": [(1, 9.0), (2, 11.0)]}),):
        writer = tf.summary.create_file_writer(str(directory / name))
        with writer.as_default():
            for tag, values in scalars.items():
                for step, value in values:
                    tf.summary.scalar(tag, value, step=step)
            if name == "train" and intensity is not None:
                tf.summary.scalar("li_intensity_mean/rb10", intensity, step=2)
        writer.flush()


def test_the_page_from_recorded_runs(tmp_path):
    from scipy import stats

    from scripts.results import page

    out = tmp_path / "runs"
    values = {("mnv2_aspp", 0): 0.40, ("mnv2_aspp", 1): 0.44, ("li_mnv2_li_aspp", 0): 0.43,
              ("li_mnv2_li_aspp", 1): 0.49}
    for (ablation, seed), miou in values.items():
        _recorded_run(out / "li_convs" / f"{ablation}-seed{seed}", ablation, seed, miou, [(1, miou / 2), (2, miou)],
                      0.01 * (seed + 1) if ablation.startswith("li_") else None)
    runs = driver.plan(out, protocol.select_arms(["li_convs"]), [0, 1, 2])
    settings = driver.Settings(dataset="synthetic", steps=2, crop=(32, 32), eval_every_steps=1)
    arms = page.collect(runs, settings)
    target, figures = tmp_path / "results.md", tmp_path / "results"
    page.write_page(target, figures, runs, settings, arms, [f"c{k}" for k in range(7)], "python -m page")
    text = target.read_text()
    differences = [3.0, 5.0]  # paired by seed, in points
    half = stats.t.ppf(0.975, 1) * np.std(differences, ddof=1) / np.sqrt(2)
    baseline = ("| li_convs | mnv2_aspp (baseline) | mobilenet_v2 | 2 | 42.00 +- 2.83 | 40.00, 44.00 | - | 80.00 "
                "| 2.56 | 10.0 |")
    interval = f"[{4 - half:+.2f}, {4 + half:+.2f}]"
    method = f"| li_convs | li_mnv2_li_aspp | mobilenet_v2 | 2 | 46.00 +- 4.24 | 43.00, 49.00 | +4.00 {interval}"
    assert baseline in text and method in text
    assert "- li_convs/li_mnv2_li_aspp (mean over 2 seed(s)): li_intensity_mean: rb10 0.015" in text
    assert "- li_convs/mnv2_aspp seed 2: not started" in text
    assert "- li_convs/li_mnv2_li_aspp seed 2: not started" in text
    assert "| c0 | 42.00 | 46.00 |" in text  # per-class IoU, mean over seeds
    assert [run.curve for run in arms[0].runs.values()] == [[(1, 20.0), (2, 40.0)], [(1, 22.0), (2, 44.0)]]
    for name in ("miou_differences.png", "validation_curves.png"):
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_killed_driver_takes_its_trainer_along_and_releases_the_lock(tmp_path):
    """SIGTERM while a run trains (a stand-in trainer that sleeps, paused first as `pause` leaves it): the driver
    ends within seconds, its trainer too, the lock is gone, and the log says how to resume."""
    import signal
    import time

    out = tmp_path / "runs"
    script = ("import sys, time; sys.path.insert(0, %r); from scripts.results import driver; "
              "driver.train_command = lambda run, settings: [sys.executable, '-c', 'import time; time.sleep(600)']; "
              "sys.exit(driver.run_all(__import__('pathlib').Path(%r), driver.plan(__import__('pathlib').Path(%r), "
              "driver.protocol.select_arms(['li_convs']), [0]), driver.Settings()))") % (str(ROOT), str(out), str(out))
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    lock = driver.Lock(out)
    deadline = time.monotonic() + 60
    while not lock.read().get("trainer") and time.monotonic() < deadline:
        time.sleep(0.1)
    trainer = lock.read()["trainer"]
    os.kill(trainer, signal.SIGSTOP)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(trainer, 0)
    assert not lock.path.exists()
    assert "stopped (signal 15) during" in (out / "driver.log").read_text()


def test_a_record_copy_cut_short_is_not_a_record(tmp_path, monkeypatch):
    """archive copies into RECORD.partial and renames it once complete: a driver stopped mid-copy leaves no record
    that would count as finished without its config.json or event files; the next archive completes it."""
    out, records = tmp_path / "runs", tmp_path / "records"
    run = driver.plan(out, protocol.select_arms(["li_convs"]), [0])[0]
    for name in ("config.json", "eval/metrics-7.json", "train/events.out.tfevents.1.host.2.v2"):
        (run.model_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (run.model_dir / name).write_text("{}")
    copied, real_copy = [], driver.shutil.copy2

    def copy_then_stop(source, destination):
        if copied:
            raise KeyboardInterrupt  # the driver stopped during the copy
        copied.append(real_copy(source, destination))

    monkeypatch.setattr(driver.shutil, "copy2", copy_then_stop)
    with pytest.raises(KeyboardInterrupt):
        driver.archive(run, out, records)
    record = driver.record_of(run, out, records)
    assert not record.model_dir.exists() and not driver.finished(record, 7)
    monkeypatch.setattr(driver.shutil, "copy2", real_copy)
    driver.archive(run, out, records)
    assert sorted(str(p.relative_to(record.model_dir)) for p in record.model_dir.rglob("*") if p.is_file()) == [
        "config.json", "eval/metrics-7.json", "train/events.out.tfevents.1.host.2.v2"]
    assert not record.model_dir.with_name(record.model_dir.name + ".partial").exists()
