"""python -m scripts.results.driver run|status|pause|resume --out=DIR [--arms=...] [--seeds=0,1,2] [...]

Runs the protocol's arms (`scripts.results.protocol`) seed by seed, one `python -m experiments.train` process at a
time, each in OUT/<paper>/<ablation>-seed<S> with its log in that directory's driver.log.

Resumable: a run whose final evaluation (eval/metrics-<steps>.json, the trainer's last write) exists is skipped;
an interrupted run is started again with the same command, which resumes it from its newest checkpoint (at most
`train.checkpoint_every_steps` steps are lost; an evaluation cut short is redone). A run that fails is logged and
the driver goes on to the next one; the next `run` tries it again. Stop the driver at any time (Ctrl-C, kill): it
stops its trainer with SIGINT, on which the trainer saves a checkpoint, waits for it, and `run` again resumes (the
trainer runs in its own session, so a terminal's Ctrl-C reaches it once, through the driver; a third signal kills
a trainer that does not stop, losing its steps since its last checkpoint). One driver per OUT:
OUT/driver.lock is locked (flock) by the driver and by its trainer, which inherits the locked descriptor, so a
second driver is refused while either lives, however the other ended (a driver killed with SIGKILL leaves its
trainer to finish its run, still holding the lock).

  run     start or resume every unfinished run (in the background: setsid nohup python -m ... run ... &)
  status  each run's state: finished (mIoU), training or interrupted at step N, stopped, failed (exit status, its
          error line), not started
          (with --records, a run found only there: its record's, marked "recorded")
  pause   stop the running trainer (SIGSTOP) so that a benchmark has the cores; `resume` continues it (SIGCONT)

Records (--records=DIR, e.g. docs/results/runs, committed): each finished run's config.json, eval/metrics-*.json
and train/ and eval/ TensorBoard files (kilobytes; no checkpoints, no image summaries) are copied there, and a run
whose record exists counts as finished: a campaign spread over machines and sessions goes on from what is
committed, and `scripts.results.page --out=DIR` rebuilds the page from the records alone.

--dataset / --data_dir / --steps / --crop / --eval_every_steps replace the protocol's (the tests' tiny runs).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
from typing import Optional

from absl import app, flags

from scripts.results import protocol

REPO = pathlib.Path(__file__).resolve().parents[2]

FLAGS = flags.FLAGS

COMMANDS = ("run", "status", "pause", "resume")


@dataclasses.dataclass(frozen=True)
class Run:
    arm: protocol.Arm
    seed: int
    model_dir: pathlib.Path


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the protocol fixes and a tiny test run replaces."""

    dataset: str = "camvid"
    data_dir: str = ""
    steps: int = protocol.PROTOCOL_STEPS
    crop: tuple[int, int] = protocol.CROP
    eval_every_steps: int = protocol.EVAL_EVERY_STEPS


def plan(out: pathlib.Path, arms, seeds) -> list[Run]:
    """Every (arm, seed), seed-major in protocol order: a partial campaign covers every arm once before any twice."""
    return [Run(arm, seed, out / arm.paper / f"{arm.ablation}-seed{seed}") for seed in seeds for arm in arms]


def finished(run: Run, steps: int) -> bool:
    return (run.model_dir / "eval" / f"metrics-{steps}.json").exists()


def record_of(run: Run, out: pathlib.Path, records: pathlib.Path) -> Run:
    """The run as its record in `records` (same relative place as in `out`)."""
    return dataclasses.replace(run, model_dir=records / run.model_dir.relative_to(out))


def archive(run: Run, out: pathlib.Path, records: pathlib.Path, steps: int) -> None:
    """Copies a finished run's record (config.json, eval/metrics-*.json, train/ event files, eval/ event files
    without their image summaries) into `records`: into a sibling directory first, renamed into place once
    complete, so that a copy cut short (the driver stopped meanwhile) never counts as a finished record. A record
    there of another length (other --steps) is kept and this run is not recorded (logged): a tiny test run never
    replaces a committed one."""
    from li_seg.training.summaries import copy_without_images  # TensorFlow: imported when a run is recorded

    target = record_of(run, out, records).model_dir
    if any(target.glob("eval/metrics-*.json")) and not (target / "eval" / f"metrics-{steps}.json").exists():
        _log(out, f"not recorded: {target} holds a record of another run length; give another --records")
        return
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for pattern, copy in (("config.json", shutil.copy2), ("eval/metrics-*.json", shutil.copy2),
                          ("train/events.out.tfevents.*", shutil.copy2),
                          ("eval/events.out.tfevents.*", copy_without_images)):
        for path in run.model_dir.glob(pattern):
            destination = partial / path.relative_to(run.model_dir)
            destination.parent.mkdir(parents=True, exist_ok=True)
            copy(path, destination)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def latest_step(run: Run) -> Optional[int]:
    """The newest periodic checkpoint's step, or None."""
    steps = [int(path.name.split("-")[1].split(".")[0]) for path in run.model_dir.glob("checkpoints/ckpt-*.index")]
    return max(steps) if steps else None


def train_command(run: Run, settings: Settings) -> list[str]:
    overrides = {**protocol.COMMON_OVERRIDES, **run.arm.overrides,
                 "train.eval_every_steps": settings.eval_every_steps,
                 "train.checkpoint_every_steps": settings.eval_every_steps}
    for cadence in ("train.log_every_steps", "train.summary_every_steps"):  # scalars at least as often as evals
        overrides[cadence] = min(overrides[cadence], settings.eval_every_steps)
    return [sys.executable, "-m", "experiments.train", f"--paper={run.arm.paper}", f"--ablation={run.arm.ablation}",
            f"--dataset={settings.dataset}", f"--data_dir={settings.data_dir}",
            f"--crop_size={settings.crop[0]},{settings.crop[1]}", f"--batch_size={protocol.BATCH}",
            f"--learning_rate={protocol.LEARNING_RATE}", f"--eval_scales={protocol.EVAL_SCALE}",
            f"--seed={run.seed}", f"--train_steps={settings.steps}", f"--model_dir={run.model_dir}",
            f"--params_override={json.dumps(overrides, separators=(',', ':'))}"]


def define_flags() -> None:
    """The campaign's flags (also `scripts.results.page`'s, which reads the same runs)."""
    flags.DEFINE_string("out", None, "Directory of the runs (OUT/<paper>/<ablation>-seed<S>).")
    flags.DEFINE_list("arms", [], "Arms as paper/ablation or a paper name; default: every arm of the protocol.")
    flags.DEFINE_list("seeds", [str(seed) for seed in protocol.PROTOCOL_SEEDS], "Seeds, run seed-major.")
    flags.DEFINE_string("dataset", "camvid", "Dataset of every run.")
    flags.DEFINE_string("data_dir", str(REPO.parent / "shared" / "datasets" / "camvid"), "Its directory.")
    flags.DEFINE_integer("steps", protocol.PROTOCOL_STEPS, "Training steps of every run.")
    flags.DEFINE_list("crop", [str(side) for side in protocol.CROP], "Training crop height,width.")
    flags.DEFINE_integer("eval_every_steps", protocol.EVAL_EVERY_STEPS, "Validation (and checkpoint) cadence.")
    flags.DEFINE_string("records", None, "Directory of finished runs' records (docs/results/runs): copied there, "
                        "and a run recorded there is not run again.")


def settings_from_flags() -> tuple[pathlib.Path, list[Run], Settings]:
    """(OUT, the runs, the settings) the flags name; ValueError naming a bad --arms / --seeds / --crop value."""
    if not FLAGS.out:
        raise ValueError("--out=DIR is required: the directory of the runs")
    out = pathlib.Path(FLAGS.out).resolve()
    arms = protocol.select_arms(FLAGS.arms)
    try:
        seeds = [int(seed) for seed in FLAGS.seeds]
        crop = tuple(int(side) for side in FLAGS.crop)
    except ValueError:
        raise ValueError(f"--seeds and --crop take integers; got --seeds={','.join(FLAGS.seeds)} "
                         f"--crop={','.join(FLAGS.crop)}") from None
    if len(crop) != 2:
        raise ValueError(f"--crop is height,width; got {','.join(FLAGS.crop)}")
    settings = Settings(FLAGS.dataset, FLAGS.data_dir, FLAGS.steps, crop, FLAGS.eval_every_steps)
    return out, plan(out, arms, seeds), settings


def _is_driver(pid: Optional[int]) -> bool:
    """Whether process `pid` runs this driver (for messages: the process id in a lock file may have been reused);
    where /proc is missing, whether it exists."""
    if not pid:
        return False
    try:
        return b"scripts.results" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        if pathlib.Path("/proc/self").exists():
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lock:
    """OUT/driver.lock, locked with flock(2) by the driver and by its trainer (which inherits the descriptor): the
    kernel takes it atomically and frees it when both have closed it, however they ended, so no process id is
    trusted (one may have been reused). The file stays; its text, {"driver": pid, "trainer": pid or null, "run":
    the run directory training or null}, is only read while the lock is held: it names whom to wait for, whom
    `pause` / `resume` signal, and which run is training."""

    def __init__(self, out: pathlib.Path):
        self.path = out / "driver.lock"
        self._file = None

    def read(self) -> dict:
        """The driver's and trainer's process ids and the run training, as written ({} for nothing readable)."""
        try:
            held = json.loads(self.path.read_text())
        except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError):
            return {}
        if not isinstance(held, dict):
            return {}
        return {key: held[key] for key, kind in (("driver", int), ("trainer", int), ("run", str))
                if isinstance(held.get(key), kind)}

    def held(self) -> bool:
        """Whether a driver, or the trainer it left, holds the lock now."""
        try:
            with open(self.path) as probe:
                fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except FileNotFoundError:
            return False
        except BlockingIOError:
            return True
        return False

    def training(self) -> Optional[pathlib.Path]:
        """The run directory being trained now under OUT, or None."""
        run = self.read().get("run")
        return pathlib.Path(run) if run and self.held() else None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = open(self.path, "a+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            held = self.read()
            driver, trainer = held.get("driver"), held.get("trainer")
            if _is_driver(driver):
                how = f"stop it with kill {driver} (it stops its trainer, which saves a checkpoint)"
            elif trainer:
                how = f"its trainer runs on alone: stop it with kill -INT {trainer} (it saves a checkpoint)"
            else:
                how = "stop the process that holds it"
            raise RuntimeError(f"another driver holds {self.path} (process ids {driver or '-'} {trainer or '-'}); "
                               f"wait for it, or {how}, and run again: it resumes") from None
        self._file = file
        self.write(None, None)

    def fileno(self) -> int:
        return self._file.fileno()

    def write(self, trainer: Optional[int], run: Optional[pathlib.Path]) -> None:
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps({"driver": os.getpid(), "trainer": trainer, "run": run and str(run)}))
        self._file.flush()

    def release(self) -> None:
        """Unlocks (the file stays: removing it would let a driver lock a new file while a trainer this driver
        could not stop still holds the old one)."""
        self.write(None, None)
        self._file.close()
        self._file = None


# The driver's last line in a run's driver.log once its trainer has ended: `status` reads the run's state from it.
EXITED = "# driver: the trainer exited with status "
STOPPED = "# driver: stopped the trainer (it saves a checkpoint on SIGINT); run again to resume"
COMMAND = "$ "  # the line before each attempt's output


def _log(out: pathlib.Path, message: str) -> None:
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
    print(line, flush=True)
    with open(out / "driver.log", "a") as log:
        log.write(line + "\n")


class _Stop:
    """The driver's SIGTERM / SIGINT handler: the trainer stops with the driver (no orphan keeps writing a run's
    directory). The first signal sends it SIGINT, on which it saves a checkpoint (once: a second SIGINT would cut
    the save short), and the driver goes on waiting for it; a second signal says so; a third kills the trainer
    without saving. Without a trainer the driver exits at once, except while one is being started (`starting`):
    then `run_all` stops it as soon as it exists."""

    def __init__(self):
        self.signals: list[int] = []
        self.trainer: Optional[subprocess.Popen] = None
        self.starting = False
        self.interrupted = False  # the trainer was sent SIGINT while it ran

    def __call__(self, signum, frame):
        self.signals.append(signum)
        if self.trainer is None:
            if not self.starting:
                raise SystemExit(128 + signum)
        elif len(self.signals) == 1:
            self.interrupt()
        elif len(self.signals) == 2:
            print(f"stopping: waiting for trainer {self.trainer.pid} to save its checkpoint; signal once more to "
                  "kill it without saving", file=sys.stderr, flush=True)
        else:
            self.trainer.kill()

    def interrupt(self) -> None:
        if self.trainer.poll() is None:  # not ended and reaped: its process id is still its own
            self.interrupted = True
            self.trainer.send_signal(signal.SIGCONT)  # a paused trainer must run to save and stop
            self.trainer.send_signal(signal.SIGINT)


def _train(run: Run, command: list[str], lock: Lock, stop: _Stop) -> int:
    """Runs one trainer in its own session, holding the lock too, with its output in the run's driver.log; returns
    its exit status. However this ends (a signal, an error), the trainer has ended when it returns."""
    with open(run.model_dir / "driver.log", "a") as log:
        log.write(f"\n{COMMAND}{' '.join(command)}\n")
        log.flush()
        stop.starting = True
        stop.trainer = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                        pass_fds=(lock.fileno(),), start_new_session=True)
        stop.starting = False
        try:
            if stop.signals:  # a signal came while it started
                stop.interrupt()
            lock.write(stop.trainer.pid, run.model_dir)
            code = stop.trainer.wait()
        finally:
            if stop.trainer.poll() is None:  # an error above, the trainer still running
                stop.interrupt()
                stop.trainer.wait()
            stopped = stop.interrupted and stop.trainer.returncode in (130, -signal.SIGINT)
            log.write(f"\n{STOPPED if stopped else EXITED + str(stop.trainer.returncode)}\n")
            stop.trainer = None
    return code


def run_all(out: pathlib.Path, runs: list[Run], settings: Settings,
            records: Optional[pathlib.Path] = None) -> int:
    """Trains every unfinished run in order (finished: in `out`, or recorded in `records`, where each run that
    finishes is copied); returns the number that failed (each is logged)."""
    lock = Lock(out)
    lock.acquire()
    failed = 0
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for run in runs:
            recorded = records is not None and finished(record_of(run, out, records), settings.steps)
            if finished(run, settings.steps):
                if records is not None and not recorded:
                    archive(run, out, records, settings.steps)  # finished before records were kept
                continue
            if recorded:
                continue
            run.model_dir.mkdir(parents=True, exist_ok=True)
            command = train_command(run, settings)
            _log(out, f"start {run.model_dir} (from step {latest_step(run) or 0})")
            start = time.monotonic()
            code = _train(run, command, lock, stop)
            if stop.signals:
                _log(out, f"stopped (signal {stop.signals[0]}) during {run.model_dir}: run again to resume it")
                raise SystemExit(128 + stop.signals[0])
            lock.write(None, None)
            minutes = (time.monotonic() - start) / 60
            if code == 0 and finished(run, settings.steps):
                _log(out, f"done  {run.model_dir} in {minutes:.1f} min")
                if records is not None:
                    archive(run, out, records, settings.steps)
            else:
                failed += 1
                _log(out, f"FAILED {run.model_dir} (exit {code}) after {minutes:.1f} min: see its driver.log")
    finally:
        lock.release()
    return failed


def state(run: Run, steps: int, training: Optional[pathlib.Path] = None) -> str:
    """finished (its mIoU), failed (exit status and that attempt's error line), stopped, training or interrupted at
    step N, or not started: from the run's final metrics file, the lines the driver leaves in its driver.log, and
    `training` (`Lock.training()`: the run a live driver or its trainer is training)."""
    if finished(run, steps):
        metrics = json.loads((run.model_dir / "eval" / f"metrics-{steps}.json").read_text())
        return f"finished  mIoU {100 * metrics['miou']:.2f}"
    if not (run.model_dir / "driver.log").exists():
        return "not started"
    step = latest_step(run)
    progress = f"at step {step}" if step is not None else "started, no checkpoint yet"
    lines = (run.model_dir / "driver.log").read_text(errors="replace").strip().splitlines()
    attempt = lines[max((i for i, line in enumerate(lines) if line.startswith(COMMAND)), default=0):]
    last = attempt[-1] if attempt else ""
    if last == STOPPED:
        return f"{progress} (stopped; run again to resume)"
    if last.startswith(EXITED):
        errors = [line for line in attempt if line.startswith("error:") or "Error" in line]
        reason = f": {errors[-1][:120]}" if errors else ""
        return f"failed (exit {last.removeprefix(EXITED)}) {progress}; see its driver.log{reason}"
    if training == run.model_dir:
        return f"training, {progress}"
    return f"{progress} (interrupted: its driver is gone; run again to resume)"


def status(runs: list[Run], settings: Settings, out: pathlib.Path,
           records: Optional[pathlib.Path] = None) -> list[str]:
    """One line per run: its state in `out`, or its record's (marked "recorded") when only `records` has it."""
    training = Lock(out).training()
    lines = []
    for run in runs:
        shown = run
        if records is not None and not finished(run, settings.steps):
            record = record_of(run, out, records)
            shown = record if finished(record, settings.steps) else run
        lines.append(f"{str(run.model_dir):<60} {state(shown, settings.steps, training)}"
                     + (" (recorded)" if shown is not run else ""))
    return lines


def signal_trainer(out: pathlib.Path, signum: int) -> int:
    lock = Lock(out)
    pid = lock.read().get("trainer")
    try:
        if not lock.held() or pid is None:  # a process id in a lock nobody holds may have been reused
            raise ProcessLookupError
        os.kill(pid, signum)
    except ProcessLookupError:
        print(f"no trainer is running under {out}", file=sys.stderr)
        return 1
    print(f"{'paused' if signum == signal.SIGSTOP else 'resumed'} trainer {pid}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in COMMANDS:
        print(f"usage: python -m scripts.results.driver {'|'.join(COMMANDS)} --out=DIR [...]; "
              f"got {' '.join(argv[1:]) or 'no command'}", file=sys.stderr)
        return 2
    try:
        out, runs, settings = settings_from_flags()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    command = argv[1]
    if command in ("pause", "resume"):
        return signal_trainer(out, signal.SIGSTOP if command == "pause" else signal.SIGCONT)
    records = pathlib.Path(FLAGS.records).resolve() if FLAGS.records else None
    if command == "status":
        print("\n".join(status(runs, settings, out, records)))
        return 0
    if records == out:
        print(f"error: --records={FLAGS.records} is --out: give the records their own directory (e.g. "
              "docs/results/runs); a record replaces its directory", file=sys.stderr)
        return 2
    try:
        failed = run_all(out, runs, settings, records)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
