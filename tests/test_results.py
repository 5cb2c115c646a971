"""scripts/results: the campaign driver (plan, skip, resume, lock) and the results page, on two tiny real runs."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from experiments import config as config_lib
from li_seg.training import summaries
from scripts.results import driver, protocol
from tests.tensorboard_helpers import tensorboard_view

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


def test_every_method_has_its_papers_baseline_and_shares_its_backbone_data_and_training():
    """Compared on the configs the runs get (the paper's ablation with the protocol's overrides), so that a backbone
    the protocol leaves at the paper's default is compared too; a method's backbone differs only by its own layers."""
    from experiments import papers

    def run_config(arm):
        return config_lib.override(papers.get_experiment(arm.paper, arm.ablation),
                                   {**protocol.COMMON_OVERRIDES, **arm.overrides})

    methods = [arm for arm in protocol.ARMS if arm.baseline]
    assert {arm.paper for arm in methods} == {arm.paper for arm in protocol.ARMS} and len(methods) == 8
    for arm in methods:
        baseline = protocol.ARMS_BY_NAME[f"{arm.paper}/{arm.baseline}"]
        assert baseline.baseline is None
        method_config, baseline_config = run_config(arm), run_config(baseline)
        backbone = config_lib.to_dict(method_config.model.backbone)
        differ = {key for key, value in config_lib.to_dict(baseline_config.model.backbone).items()
                  if backbone[key] != value}
        assert differ <= {"inhibition", "inhibition_positions", "smoothing"}, (arm.name, differ)
        assert backbone["name"] == ("mobilenet_v2" if arm.paper == "li_convs" else "resnet18")
        assert method_config.data == baseline_config.data and method_config.train == baseline_config.train


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


def test_the_protocol_text_on_the_page_states_the_protocols_own_numbers():
    """The page prints protocol.__doc__; every number it states is the one the driver runs."""
    text = " ".join(protocol.__doc__.split())
    common = protocol.COMMON_OVERRIDES
    crops = protocol.BATCH * protocol.PROTOCOL_STEPS
    camvid_train_images = 367
    stated = [
        f"{protocol.CROP[0]} x {protocol.CROP[1]} crops",
        f"scaled uniformly in [{common['data.min_scale']}, {common['data.max_scale']}]",
        f"batch {protocol.BATCH}, {protocol.PROTOCOL_STEPS} steps ({crops:,} crops, "
        f"{crops / camvid_train_images:.1f} epochs)",
        f"Adam (epsilon {common['train.adam_epsilon']:.0e}) lr {protocol.LEARNING_RATE:.0e} with poly decay "
        f"(power {common['train.poly_power']}) to {common['train.end_learning_rate']:.0f}",
        f"L2 {common['train.weight_decay']:.0e} on conv / dense kernels",
        f"evaluation on val every {protocol.EVAL_EVERY_STEPS} steps at input scale {protocol.EVAL_SCALE}",
    ]
    for phrase in stated:
        assert phrase.replace("e-0", "e-") in text, phrase


HOLDER = """
import pathlib, sys, time
sys.path.insert(0, sys.argv[1])
from scripts.results import driver
lock = driver.Lock(pathlib.Path(sys.argv[2]))
lock.acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_the_lock_is_the_kernels_not_a_process_id(tmp_path):
    """A live holder is refused and named; process ids left in a file nobody locks (one reused by another
    process, here our parent's) and a file that is not the driver's are not a holder."""
    lock = driver.Lock(tmp_path)
    for leftover in (json.dumps({"driver": os.getppid(), "trainer": os.getppid()}), "[1, 2]", "\x00garbage"):
        lock.path.write_text(leftover)
        assert not lock.held()
        lock.acquire()
        assert json.loads(lock.path.read_text()) == {"driver": os.getpid(), "trainer": None, "run": None}
        lock.release()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(ROOT), str(tmp_path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert lock.held()
        with pytest.raises(RuntimeError, match=f"another driver holds .*{holder.pid}.*stop it with kill {holder.pid}"):
            lock.acquire()
    finally:
        holder.kill()
        holder.wait()
    assert not lock.held()  # the kernel freed it with its holder; the file is still there
    lock.acquire()
    lock.release()


def test_usage_errors_name_the_problem(tmp_path):
    assert "usage: python -m scripts.results.driver run|status" in _run(
        "scripts.results.driver", "--out=x", check=False).stderr
    bad = _run("scripts.results.driver", "status", "--out=x", "--arms=pan/nope", check=False)
    assert bad.returncode == 2 and "unknown arm(s) pan/nope" in bad.stderr
    same = _run("scripts.results.driver", "run", f"--out={tmp_path}", f"--records={tmp_path}/.", check=False)
    assert same.returncode == 2 and "is --out: give the records their own directory" in same.stderr
    assert not list(tmp_path.iterdir())
    idle = _run("scripts.results.driver", "pause", f"--out={tmp_path}", check=False)
    assert idle.returncode == 1 and "no trainer is running" in idle.stderr


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
    assert f"| li_convs | mnv2_aspp (baseline) | mobilenet_v2 | 1 | {100 * baseline['miou']:.2f} | s0: " in text
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
    assert not driver.Lock(out).held()
    status = driver.status(runs, settings, out)
    assert "finished  mIoU 50.00" in status[0]
    assert "failed (exit 3) started, no checkpoint yet; see its driver.log" in status[1]
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
    assert driver.status(elsewhere_runs, settings, elsewhere, records)[1].endswith("finished  mIoU 50.00 (recorded)")
    assert driver.run_all(elsewhere, elsewhere_runs, settings, records) == 0 and started[7:] == ["mnv2_aspp-seed1"]


def _recorded_run(directory, ablation, seed, miou, curve, intensity=None):
    """A finished run as the trainer leaves it: config.json, the final metrics, eval and train TensorBoard files."""
    import tensorflow as tf

    from experiments import papers

    (directory / "eval").mkdir(parents=True)
    config_lib.save(papers.get_experiment("li_convs", ablation), directory / "config.json")
    per_class = [miou] * 6 + [None]
    for step, value in curve:  # each evaluation's metrics file
        (directory / "eval" / f"metrics-{step}.json").write_text(json.dumps(
            {"miou": value, "pixel_accuracy": 0.8, "per_class_iou": per_class}))
    scalars = {"train": {"images_per_second": [(1, 9.0), (2, 11.0)]}, "eval": {"miou": curve}}
    if intensity is not None:
        scalars["train"]["li_intensity_mean/rb10"] = [(2, intensity)]
    for name, tags in scalars.items():
        writer = tf.summary.create_file_writer(str(directory / name))
        with writer.as_default():
            for tag, values in tags.items():
                for step, value in values:
                    tf.summary.scalar(tag, value, step=step)
        writer.flush()


def test_the_papers_difference_is_its_printed_method_minus_its_printed_baseline():
    from scripts.results import page

    arms = protocol.ARMS_BY_NAME
    # PAPERS.md: CycleNet Table 2 (80.55 vs 76.25, Cityscapes val; its Cityscapes test 82.0 has no baseline),
    # PAN Table 5 vs Table 1 (79.38 vs 72.60), DifNet Table 1 (70.17 vs 66.33), smoothing Table I / III
    assert page.papers_difference(arms["cyclenet/cyclenet"]) == "+4.30 Cityscapes val"
    assert page.papers_difference(arms["pan/pan"]) == "+6.78 VOC val"
    assert page.papers_difference(arms["difnet/difnet_18"]) == "+3.84 VOC val"
    assert page.papers_difference(arms["smoothing/average"]) == "+0.70 VOC val; +0.29 Cityscapes val"
    assert page.papers_difference(arms["smoothing/aggregated"]) == "not printed"  # Fig. 5 only
    assert page.papers_difference(arms["pan/resnet101"]) == "-"


def test_the_page_from_recorded_runs(tmp_path):
    from scipy import stats

    from scripts.results import page

    out = tmp_path / "runs"
    values = {("mnv2_aspp", 0): 0.40, ("mnv2_aspp", 1): 0.44, ("li_mnv2_li_aspp", 0): 0.43,
              ("li_mnv2_li_aspp", 1): 0.49, ("li_mnv2_li_aspp", 2): 0.50}  # seed 2 of the baseline not finished
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
    baseline = ("| li_convs | mnv2_aspp (baseline) | mobilenet_v2 | 2 | 42.00 +- 2.83 | s0: 40.00, s1: 44.00 | - | - | "
                "80.00 | 2.56 | 10.0 |")
    interval = f"[{4 - half:+.2f}, {4 + half:+.2f}] (2 seeds paired)"
    method = (f"| li_convs | li_mnv2_li_aspp | mobilenet_v2 | 3 | 47.33 +- 3.79 | s0: 43.00, s1: 49.00, s2: 50.00 | "
              f"+4.00 {interval} | +0.95 VOC val; +0.97 CelebAMask-HQ test; +0.69 ADE20K val |")  # over the seeds both
    # arms finished; then the paper's Table IV: 73.14 - 72.19, 75.70 - 74.73, 30.66 - 29.97
    assert baseline in text and method in text
    assert "- li_convs/li_mnv2_li_aspp (mean over 3 seed(s)): li_intensity_mean: rb10 0.02" in text
    assert "- li_convs/mnv2_aspp seed 2: not started" in text
    assert "li_mnv2_li_aspp seed 2:" not in text.split("## Runs not finished")[1]
    assert "Made from the records: \"not started\" means not recorded yet" in text  # no run has a driver.log
    assert "| c0 | 42.00 | 47.33 |" in text  # per-class IoU, mean over seeds
    assert [run.curve for run in arms[0].runs.values()] == [  # TensorBoard's float32 scalars
        [(1, pytest.approx(20.0)), (2, pytest.approx(40.0))], [(1, pytest.approx(22.0)), (2, pytest.approx(44.0))]]
    for name in ("miou_differences.png", "validation_curves.png"):
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for event_file in (out / "li_convs" / "mnv2_aspp-seed1" / "eval").glob("events.out.tfevents.*"):
        event_file.unlink()  # a record without its validation curve
    with pytest.raises(page.RecordError, match="mnv2_aspp-seed1 is finished but its record cannot be read \\(its "
                       "eval/ TensorBoard files have no validation mIoU at step 2\\)"):
        page.collect(runs, settings)
    (out / "li_convs" / "mnv2_aspp-seed0" / "config.json").unlink()  # a record damaged by hand
    with pytest.raises(page.RecordError, match="mnv2_aspp-seed0 is finished but its record cannot be read.*"
                       "config.json.*Fix: if it is committed, restore it .*otherwise delete that directory"):
        page.collect(runs, settings)


SLEEPING_TRAINER = """
import pathlib, sys, time
try:
    pathlib.Path(sys.argv[1], "ready").write_text("")
    time.sleep(600)
except KeyboardInterrupt:  # as the trainer does on SIGINT: save a checkpoint, then stop
    pathlib.Path(sys.argv[1], "saved-on-sigint").write_text("")
    sys.exit(130)
"""


STUBBORN_TRAINER = """
import pathlib, sys, time
pathlib.Path(sys.argv[1], "ready").write_text("")
while True:
    try:
        time.sleep(600)
    except KeyboardInterrupt:  # a trainer that hangs instead of saving and stopping
        pass
"""


def _driver_with_a_sleeping_trainer(out, trainer_script=SLEEPING_TRAINER):
    """A driver process whose trainer sleeps (it marks a SIGINT in OUT); returns (driver, trainer's pid, lock) once
    the trainer waits for signals."""
    script = ("import sys, pathlib; sys.path.insert(0, %r); from scripts.results import driver; "
              "driver.train_command = lambda run, settings: [sys.executable, '-c', %r, %r]; out = pathlib.Path(%r); "
              "sys.exit(driver.run_all(out, driver.plan(out, driver.protocol.select_arms(['li_convs']), [0]), "
              "driver.Settings()))") % (str(ROOT), trainer_script, str(out), str(out))
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    lock = driver.Lock(out)
    deadline = time.monotonic() + 60
    while not (out / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return process, lock.read()["trainer"], lock


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_stopped_driver_stops_its_trainer_with_sigint_and_releases_the_lock(tmp_path):
    """SIGTERM while a run trains (its trainer paused first, as `pause` leaves it): the trainer gets SIGINT, on
    which the real one saves a checkpoint; the driver ends within seconds, the lock is free, and the logs and
    `status` say how to resume."""
    out = tmp_path / "runs"
    process, trainer, lock = _driver_with_a_sleeping_trainer(out)
    os.kill(trainer, signal.SIGSTOP)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    time.sleep(0.5)
    assert _gone(trainer) and (out / "saved-on-sigint").exists()
    assert not lock.held() and lock.read() == {"driver": process.pid}
    assert "stopped (signal 15) during" in (out / "driver.log").read_text()
    run = driver.plan(out, protocol.select_arms(["li_convs"]), [0])[0]
    assert driver.state(run, 400) == "started, no checkpoint yet (stopped; run again to resume)"


def test_a_trainer_that_does_not_stop_is_waited_for_then_killed_on_the_third_signal(tmp_path):
    out = tmp_path / "runs"
    process, trainer, lock = _driver_with_a_sleeping_trainer(out, STUBBORN_TRAINER)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert process.poll() is None and not _gone(trainer)  # still waiting for the trainer to save
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert "stopping: waiting for trainer" in process.stderr.read()
    assert _gone(trainer) and not lock.held()
    run = driver.plan(out, protocol.select_arms(["li_convs"]), [0])[0]
    assert driver.state(run, 400).startswith(f"failed (exit {-signal.SIGKILL})")  # killed: it saved nothing


def test_the_trainer_of_a_driver_killed_outright_holds_the_lock_until_it_ends(tmp_path):
    """SIGKILL gives the driver no chance to stop its trainer: the trainer, which inherited the locked descriptor,
    keeps a second driver out (and names itself) while it still writes the run's directory."""
    out = tmp_path / "runs"
    process, trainer, lock = _driver_with_a_sleeping_trainer(out)
    run = driver.plan(out, protocol.select_arms(["li_convs"]), [0])[0]
    assert lock.training() == run.model_dir
    assert driver.state(run, 400, lock.training()) == "training, started, no checkpoint yet"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    try:
        assert lock.held()
        with pytest.raises(RuntimeError, match=f"process ids {process.pid} {trainer}.*kill -INT {trainer}"):
            lock.acquire()
    finally:
        os.kill(trainer, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while lock.held() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert driver.state(run, 400, lock.training()).endswith("(interrupted: its driver is gone; run again to resume)")
    lock.acquire()
    lock.release()


def test_a_record_keeps_the_eval_tensorboard_scalars_without_the_images(tmp_path):
    """A run's eval/ event file holds each evaluation's metrics and prediction panels; its record keeps the first
    as TensorBoard shows them (the resumed session's purge included) and none of the second."""
    import tensorflow as tf

    out, records = tmp_path / "runs", tmp_path / "records"
    run = driver.plan(out, protocol.select_arms(["li_convs"]), [0])[0]
    (run.model_dir / "eval").mkdir(parents=True)
    (run.model_dir / "eval" / "metrics-3.json").write_text("{}")
    panels = np.random.default_rng(0).integers(0, 255, (1, 64, 64, 3), dtype=np.uint8)
    for session, steps in enumerate(((1, 2, 3), (3,))):  # a run interrupted after evaluating step 3, resumed at 3
        writer = tf.summary.create_file_writer(str(run.model_dir / "eval"), filename_suffix=f".{session}")
        with writer.as_default():
            summaries._write_session_start(writer, steps[0])  # as the trainer opens each session's writers
            for step in steps:
                tf.summary.scalar("miou", 0.1 * step + session, step=step)
                tf.summary.image("image_truth_prediction/0", panels, step=step)
        writer.close()
    driver.archive(run, out, records, 3)

    record_dir = driver.record_of(run, out, records).model_dir
    original, record = tensorboard_view(run.model_dir / "eval"), tensorboard_view(record_dir / "eval")
    assert "image_truth_prediction/0" in original
    assert record == {"miou": original["miou"]} and [s for s, _ in record["miou"]] == [1, 2, 3]
    assert record["miou"][-1][1] == pytest.approx(1.3)  # step 3 as the resumed session wrote it
    size = sum(p.stat().st_size for p in record_dir.glob("eval/events.*"))
    assert size < 0.1 * sum(p.stat().st_size for p in run.model_dir.glob("eval/events.*"))


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
        driver.archive(run, out, records, 7)
    record = driver.record_of(run, out, records)
    assert not record.model_dir.exists() and not driver.finished(record, 7)
    monkeypatch.setattr(driver.shutil, "copy2", real_copy)
    driver.archive(run, out, records, 7)
    assert sorted(str(p.relative_to(record.model_dir)) for p in record.model_dir.rglob("*") if p.is_file()) == [
        "config.json", "eval/metrics-7.json", "train/events.out.tfevents.1.host.2.v2"]
    assert not record.model_dir.with_name(record.model_dir.name + ".partial").exists()
    # A run of another length (a tiny test pointed at the committed records) does not replace the record.
    (run.model_dir / "eval" / "metrics-2.json").write_text("{}")
    driver.archive(run, out, records, 2)
    assert not (record.model_dir / "eval" / "metrics-2.json").exists()
    assert "not recorded:" in (out / "driver.log").read_text()
