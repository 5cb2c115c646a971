"""Two local workers of MultiWorkerMirroredStrategy (TF_CONFIG on 127.0.0.1) sharing one model dir: the chief writes,
the other leaves nothing behind; a killed worker ends its peer with a message, not a traceback; restarted, both
resume from the chief's checkpoint."""

import dataclasses
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from experiments import papers, runner
from li_seg.training.checkpoints import CheckpointKeeper
from li_seg.training.strategy import Worker

ROOT = pathlib.Path(__file__).resolve().parents[1]
FLAGS = [
    "--paper=li_convs", "--ablation=mnv2_aspp", "--crop_size=48", "--batch_size=2", "--strategy=multi_worker_mirrored",
    "--params_override=model.backbone.name=resnet18,model.backbone.layout=torchvision,model.backbone.stem=plain,"
    "train.checkpoint_every_steps=2,train.summary_every_steps=1,train.log_every_steps=1,eval.max_examples=4",
]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(model_dir, *args, count=2):
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(count)]
    workers = []
    for index in range(count):
        tf_config = json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "TF_CONFIG": tf_config}
        log = open(pathlib.Path(model_dir).parent / f"worker{index}.log", "w+")
        process = subprocess.Popen([sys.executable, "-m", "experiments.train", *FLAGS, f"--model_dir={model_dir}",
                                    *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        workers.append((process, log))
    return workers


def _finish(workers, timeout=240) -> list[tuple[int, str]]:
    results = []
    deadline = time.time() + timeout
    for process, log in workers:
        try:
            process.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.seek(0)
        results.append((process.returncode, log.read()))
        log.close()
    return results


@pytest.mark.slow  # 70-80 s: the suite's budget (BUILD_NOTES 21.8); the save-kill test below stays in it
def test_a_killed_worker_ends_its_peer_and_both_resume_with_the_chief_writing(tmp_path):
    """Two workers train; worker 1 is killed after the first checkpoint: worker 0 (the chief) ends with a message
    (exit 2), nothing partial left. Both restarted resume from the chief's checkpoint and finish with an
    evaluation: one TensorBoard writer per directory, one metrics file, no worker directory, equal losses."""
    model_dir = tmp_path / "run"
    workers = _start_workers(model_dir, "--train_steps=400", "--mode=train")
    chiefs = [workers[0][0].pid]
    deadline = time.time() + 240
    while tf.train.latest_checkpoint(str(model_dir / "checkpoints")) is None:
        assert all(process.poll() is None for process, _ in workers), "a worker ended before the first checkpoint"
        assert time.time() < deadline, "no checkpoint within 240 s"
        time.sleep(0.2)
    workers[1][0].send_signal(signal.SIGKILL)
    (code, log), _ = _finish(workers, timeout=120)
    assert code == 2, log[-3000:]
    assert "waiting for all 2 to connect" in log
    assert "error: lost contact with another worker of the cluster: worker 1 stopped responding" in log
    assert "resumes from the chief's newest checkpoint" in log and "Traceback" not in log
    saved = tf.train.latest_checkpoint(str(model_dir / "checkpoints"))
    assert not list(model_dir.glob(".worker-*")) and not list((model_dir / "checkpoints").glob("*_temp*"))

    step = int(saved.rsplit("-", 1)[1])
    workers = _start_workers(model_dir, f"--train_steps={step + 2}", "--mode=train_and_eval")
    chiefs.append(workers[0][0].pid)
    results = _finish(workers)
    for code, log in results:
        assert code == 0, log[-3000:]
        assert f"resumed from {saved}" in log
    assert tf.train.latest_checkpoint(str(model_dir / "checkpoints")).endswith(f"ckpt-{step + 2}")
    assert sorted(p.name for p in model_dir.iterdir()) == ["best", "checkpoints", "config.json", "eval", "train"]
    writers = {name: [int(p.name.rsplit(".", 3)[1]) for p in (model_dir / name).glob("events.out.tfevents.*")]
               for name in ("train", "eval")}  # events.out.tfevents.<time>.<host>.<pid>.<n>.v2
    assert sorted(writers["train"]) == sorted(chiefs) and writers["eval"] == chiefs[1:]  # the chiefs' writers only
    assert [p.name for p in (model_dir / "eval").glob("metrics-*.json")] == [f"metrics-{step + 2}.json"]
    losses = [[line.split("loss ")[1].split()[0] for line in log.splitlines() if f"step {step + 2}/" in line]
              for _, log in results]
    assert losses[0] == losses[1] and losses[0]  # one model, trained together


def test_a_worker_killed_while_saving_leaves_no_directory_behind(tmp_path):
    """A worker killed during its save leaves MODEL_DIR/.worker-1: its peer, ending on the lost cluster, removes it
    (and the restarted worker would remove its own)."""
    model_dir = tmp_path / "run"
    (model_dir / ".worker-1" / "checkpoints").mkdir(parents=True)
    cfg = papers.get_experiment("li_convs", "mnv2_aspp")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, strategy="multi_worker_mirrored"))
    error = tf.errors.UnavailableError(None, None, "Socket closed ... remote target /job:worker/replica:0/task:1")
    message = runner._explain_failure(error, cfg, model_dir)
    assert "worker 1 stopped responding" in message and not (model_dir / ".worker-1").exists()

    (model_dir / ".worker-1" / "checkpoints").mkdir(parents=True)
    step = tf.Variable(0, dtype=tf.int64)
    CheckpointKeeper(model_dir, model=tf.Module(), optimizer=tf.Module(), step=step, keep=1,
                     worker=Worker(False, "worker-1", 2))
    assert not (model_dir / ".worker-1").exists()
