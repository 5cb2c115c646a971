"""tf.distribute strategies by name (TrainConfig.strategy): one place that knows how each is set up."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional

import tensorflow as tf
from absl import logging

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored", "tpu")
TF_CONFIG_HELP = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", '
                  '"index": 0}}\' (https://www.tensorflow.org/guide/distributed_training)')


class StrategyError(ValueError):
    """A distribution strategy that cannot be set up here (no TPU, a malformed TF_CONFIG); says what to do."""


def _check_tf_config() -> None:
    """Validates TF_CONFIG (if set): JSON with a "cluster" dict of job -> address list and a "task" {type, index}."""
    raw = os.environ.get("TF_CONFIG")
    if raw is None:
        return
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise StrategyError(f"TF_CONFIG is not valid JSON ({error}): {raw!r}; set it as {TF_CONFIG_HELP}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not all(isinstance(a, list) for a in cluster.values()):
        raise StrategyError(f'TF_CONFIG needs "cluster": {{job: [host:port, ...]}}, got {raw!r}; e.g. {TF_CONFIG_HELP}')
    if not isinstance(task, dict) or task.get("type") not in cluster or not isinstance(task.get("index"), int):
        raise StrategyError(f'TF_CONFIG needs "task": {{"type": one of {list(cluster)}, "index": int}}, got {raw!r}; '
                            f"e.g. {TF_CONFIG_HELP}")
    if not 0 <= task["index"] < len(cluster[task["type"]]):
        raise StrategyError(f"TF_CONFIG task index {task['index']} out of range for job {task['type']!r}: {raw!r}")


def _log_waiting() -> None:
    """Says who this worker is and what it waits for: MultiWorkerMirroredStrategy blocks (in C++, silently at the
    log level our entry points set) until every worker of TF_CONFIG has connected."""
    raw = os.environ.get("TF_CONFIG")
    if raw is None:
        return
    config = json.loads(raw)
    task, cluster = config["task"], config["cluster"]
    count = sum(len(tasks) for tasks in cluster.values())
    logging.info(
        "multi-worker training: this is %s %d of %d workers (TF_CONFIG); waiting for all %d to connect. Start each "
        "with the same command and its own TF_CONFIG task; a worker that never starts leaves the others waiting "
        "here (stop them with kill)", task["type"], task["index"], count, count,
    )


def _connect_tpu(tpu_address: Optional[str]) -> tf.distribute.Strategy:
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise StrategyError(
            f"No TPU reachable at tpu_address={tpu_address!r}: {error}. On a Cloud TPU VM give --tpu_address=NAME "
            "(or grpc://HOST:8470); without a TPU use --strategy=default (or mirrored for several GPUs)"
        ) from None
    return tf.distribute.TPUStrategy(resolver)


@dataclasses.dataclass(frozen=True)
class Worker:
    """This process's place in a multi-worker cluster: `chief` writes the run's files (checkpoints, TensorBoard,
    metrics, config.json); the others write checkpoints to a temporary directory of their own (saving is
    collective) and remove it. The chief is the "chief" task, or worker 0 of a cluster without one."""

    chief: bool = True
    name: str = "chief"
    count: int = 1


def worker(strategy: tf.distribute.Strategy) -> Worker:
    """The Worker of `strategy` (a strategy without a cluster is its own chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not cluster or resolver.task_type is None:
        return Worker()
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in cluster)
    return Worker(chief, f"{task_type}-{task_id}", sum(len(tasks) for tasks in cluster.values()))


def make_strategy(name: str, tpu_address: Optional[str] = None) -> tf.distribute.Strategy:
    """The strategy called `name`.

    "default": tf.distribute.get_strategy() (the current one; no replication outside any scope).
    "mirrored": MirroredStrategy over all local GPUs, or, without GPUs, over all logical CPU devices (one on a
      plain machine; the test suite configures two).
    "multi_worker_mirrored": MultiWorkerMirroredStrategy configured by the TF_CONFIG environment variable
      (absent = a single worker); a malformed TF_CONFIG raises StrategyError. Create it at program start, before
      other TensorFlow ops (TensorFlow configures collective ops when its context starts).
    "tpu": TPUStrategy on the TPU `tpu_address` (name or grpc:// address; None = the local / environment TPU);
      StrategyError when none can be reached.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy([d.name for d in gpus])
        # CPU replicas reduce through one device: TF's default (RING collectives) gains nothing on one host's CPUs
        # and its collective keys restart at the same values in every MirroredStrategy, so two strategies in one
        # process (a test session) abort with "Shape mismatch in the collective instance 100".
        cpus = tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(
            [d.name for d in cpus], cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    if name == "multi_worker_mirrored":
        _check_tf_config()
        _log_waiting()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        return _connect_tpu(tpu_address)
    raise ValueError(f"Unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
