"""Run as a script (its own process: four logical CPU devices must be configured before TensorFlow starts):

    python -m tests.replica_probe PAPER recipe|sync|local [REPLICAS, default 1,2,4]

One training step of PAPER's main model at the replica tests' size (tests/paper_models.py) through the trainer
(`li_seg.training.trainer.Trainer`), on 1 replica x 4 images, 2 x 2 and 4 x 1 (MirroredStrategy over logical CPU
devices), from the same weights and the same batch. BN as the paper's recipe has it ("recipe": frozen, synchronised
or per replica), or trained and synchronised ("sync") or trained per replica ("local") whatever the recipe says.

Each run is compared with what it should equal: the single replica's step when BN is frozen or synchronised; when
each replica normalises its own share, the step computed on one device with BN over each share separately (each
share's loss over the global count of valid pixels, the gradients summed: what the trainer's replicas compute).
Prints one JSON object: per replica count the loss, the reference's loss, and the distance of the updates
(w1 - w0 of the trainable weights, and of BN's moving statistics where BN is synchronised) from the reference's:
the whole update's relative L2 distance and the worst variable's max |difference| / max |its update|. "single"
gives the same distances from the single replica's step (how far per-replica BN takes a step).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

MAX_REPLICAS = 4
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * MAX_REPLICAS)

from experiments import config as config_lib  # noqa: E402
from experiments.papers import get_experiment, main_ablation  # noqa: E402
from li_seg import data  # noqa: E402
from li_seg.models import build_model, loss_weights  # noqa: E402
from li_seg.training.optimizers import build_optimizer  # noqa: E402
from li_seg.training.step import loss_and_gradients  # noqa: E402
from li_seg.training.trainer import Trainer  # noqa: E402
from tests.paper_models import prepare, small_config  # noqa: E402

SIZE, BATCH = 65, 4


def experiment(paper: str, mode: str):
    model = small_config(paper, main_ablation(paper))
    if mode != "recipe":
        model = dataclasses.replace(model, frozen_bn=False, sync_bn=mode == "sync")
    cfg = dataclasses.replace(get_experiment(paper), model=model)
    cfg = config_lib.override(cfg, {
        "data.dataset": "synthetic", "data.crop_size": (SIZE, SIZE), "train.batch_size": BATCH,
        "train.train_steps": 1, "train.epochs": None, "train.optimizer": "sgd", "train.momentum": 0.9,
        "train.learning_rate": 0.01, "train.lr_schedule": "constant", "train.warmup_steps": 0,
        "train.mixed_precision": False, "train.jit_compile": False, "train.deterministic": False,
        "train.checkpoint_every_steps": 1000, "train.summary_every_steps": 1000,
        "train.image_summary_every_steps": 1000,
    })
    cfg = config_lib.resolve(cfg, num_train_examples=0)
    config_lib.validate(cfg)
    return cfg


def per_share_step(cfg, initial, replicas: int) -> tuple[float, list]:
    """The step of `replicas` replicas with per-replica BN, on one device: (loss, updated trainable weights)."""
    model = prepare(build_model(cfg.model, data.get_dataset_info(cfg.data).num_classes), np.random.default_rng(0))
    for variable, value in zip(model.variables, initial):
        variable.assign(value)
    batch = next(iter(data.build_dataset(cfg.data, cfg.data.train_split, training=True, batch_size=BATCH,
                                         seed=cfg.train.seed, start_step=0)))
    images, labels = batch["image"], batch["label"]
    valid = tf.reduce_sum(tf.cast(labels != 255, tf.float32))
    share = BATCH // replicas
    loss, gradients = 0.0, None
    for start in range(0, BATCH, share):
        parts, shard = loss_and_gradients(
            model, model.trainable_variables, images[start:start + share], labels[start:start + share],
            ignore_label=255, weights=loss_weights(cfg.model), global_num_valid=valid,
            weight_decay=cfg.train.weight_decay, weight_decay_scope=cfg.train.weight_decay_scope,
            num_replicas=replicas)
        loss += float(parts["loss"])
        shard = [tf.zeros_like(v) if g is None else g for g, v in zip(shard, model.trainable_variables)]
        gradients = shard if gradients is None else [a + b for a, b in zip(gradients, shard)]
    optimizer = build_optimizer(cfg.train, cfg.train.learning_rate)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return loss, [v.numpy() for v in model.trainable_variables]


def distances(updates, reference) -> dict:
    """Relative L2 distance of the whole update and the worst variable's relative max difference."""
    worst, distance, norm = (0.0, ""), 0.0, 0.0
    for (update, path), expected in zip(updates, reference):
        scale = np.abs(expected).max()
        if scale > 0:
            worst = max(worst, (float(np.abs(update - expected).max() / scale), path))
        distance, norm = distance + float(np.sum((update - expected) ** 2)), norm + float(np.sum(expected ** 2))
    return {"whole": (distance / norm) ** 0.5, "worst": worst}


def main(paper: str, mode: str, replica_counts=(1, 2, 4)) -> dict:
    cfg = experiment(paper, mode)
    per_replica_bn = not (cfg.model.frozen_bn or cfg.model.sync_bn)
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    initial, result = None, {"bn": "frozen" if cfg.model.frozen_bn else "sync" if cfg.model.sync_bn else "local"}
    with tempfile.TemporaryDirectory() as directory:
        for replicas in replica_counts:
            strategy = tf.distribute.MirroredStrategy(devices[:replicas],
                                                      cross_device_ops=tf.distribute.ReductionToOneDevice())
            trainer = Trainer(cfg, os.path.join(directory, str(replicas)), strategy)
            prepare(trainer.model, np.random.default_rng(0))
            if initial is None:
                initial = [v.numpy() for v in trainer.model.variables]
            for variable, value in zip(trainer.model.variables, initial):
                variable.assign(value)
            before = {v.path: w for v, w in zip(trainer.model.variables, initial)}
            checked = trainer.model.trainable_variables if per_replica_bn else trainer.model.variables
            loss = trainer.train().loss
            updates = [(v.numpy() - before[v.path], v.path) for v in checked]
            if replicas == 1:
                single = [u for u, _ in updates]
            entry = {"loss": loss, "single": distances(updates, single)}
            if per_replica_bn:
                reference_loss, weights = per_share_step(cfg, initial, replicas)
                reference = [w - before[v.path] for w, v in zip(weights, checked)]
                entry.update(reference_loss=reference_loss, reference=distances(updates, reference))
            result[replicas] = entry
    return result


if __name__ == "__main__":
    counts = tuple(int(r) for r in sys.argv[3].split(",")) if len(sys.argv) > 3 else (1, 2, 4)
    print(json.dumps(main(sys.argv[1], sys.argv[2], counts)))
