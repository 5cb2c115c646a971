"""Checkpoints of a run: the last N by step, the best by validation mIoU, and resuming.

Layout in the model dir:
  checkpoints/ckpt-<step>.*   the last `keep` periodic checkpoints (tf.train.CheckpointManager)
  best/ckpt-<step>.*          the checkpoint with the highest validation mIoU so far, with best.json beside it

Each checkpoint holds the model, the optimizer (slots, iteration count), the global step, and the state of the
model's random seed generators (dropout), which Keras 3 does not track itself: without them a resumed run would
draw different dropout masks than an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import shutil
from typing import Optional

import keras
import tensorflow as tf

from li_seg import atomic
from li_seg.training.storage import remove_partial_checkpoints, storage_error, storage_problem
from li_seg.training.strategy import Worker


def seed_generator_states(model) -> list:
    """The state variables of the model's SeedGenerators (Keras names them ".../seed_generator_state")."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


class CheckpointKeeper:
    """Saves, resumes and ranks the checkpoints of one model dir.

    In a multi-worker cluster every worker saves (tf.distribute's saving may need all of them), but only the chief
    into the model dir: the others write to MODEL_DIR/.<worker name> and remove it after each save. Everyone
    resumes from the chief's checkpoints and reads the chief's best.json.
    """

    def __init__(self, model_dir, *, model, optimizer, step: tf.Variable, keep: int, worker: Worker = Worker()):
        self.model_dir = pathlib.Path(model_dir)
        self.worker = worker
        self.write_dir = self.model_dir if worker.chief else self.model_dir / f".{worker.name}"
        if not worker.chief:  # what a killed predecessor of this worker left
            shutil.rmtree(self.write_dir, ignore_errors=True)
        self.step = step
        self.checkpoint = tf.train.Checkpoint(
            model=model, optimizer=optimizer, step=step, seed_states=seed_generator_states(model)
        )
        self.latest_manager = tf.train.CheckpointManager(
            self.checkpoint, str(self.write_dir / "checkpoints"), max_to_keep=keep, checkpoint_name="ckpt"
        )
        self.best_manager = tf.train.CheckpointManager(
            self.checkpoint, str(self.write_dir / "best"), max_to_keep=1, checkpoint_name="ckpt"
        )
        self._best_record = self.model_dir / "best" / "best.json"

    @property
    def latest(self) -> Optional[str]:
        """The newest periodic checkpoint of the run (the chief's)."""
        return tf.train.latest_checkpoint(str(self.model_dir / "checkpoints"))

    def restore_latest(self) -> Optional[str]:
        """Restores the latest periodic checkpoint, if any; returns its path. One that cannot be read (a disk that
        filled, a copy cut short) is a WeightsError saying how to resume from the one before it."""
        from li_seg.weights import WeightsError
        from li_seg.weights.errors import reading

        path = self.latest
        if not path:
            return None
        try:
            with reading(path, "this run's newest checkpoint"):
                self.checkpoint.restore(path).assert_existing_objects_matched()
        except WeightsError as error:
            directory = pathlib.Path(path).parent
            older = [p for p in tf.train.get_checkpoint_state(str(directory)).all_model_checkpoint_paths if p != path]
            remedy = (f"To resume from the one before it, {older[-1]}: delete {path}.index and {path}.data-*, and in "
                      f"{directory / 'checkpoint'} set model_checkpoint_path to \"{pathlib.Path(older[-1]).name}\" "
                      "and remove its line for the deleted one" if older else
                      "No older checkpoint is kept: start anew with a new --model_dir")
            raise WeightsError(f"{error}. It is corrupt or incomplete; nothing was changed. {remedy}.") from None
        return path

    def save(self) -> str:
        """Saves a periodic checkpoint numbered by the global step (idempotent for the same step: the manager's own
        record decides, the same way on every worker)."""
        step = int(self.step.numpy())
        saved = self.latest_manager.latest_checkpoint
        if saved and saved.endswith(f"ckpt-{step}"):
            return saved
        return self._save(self.latest_manager, step)

    def _save(self, manager: tf.train.CheckpointManager, step: int) -> str:
        """manager.save; when the write fails, its partial files are removed and a storage problem (full disk,
        read-only) becomes a StorageError naming the directory and the newest complete checkpoint. A worker that
        is not the chief removes what it wrote."""
        try:
            path = manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as error:
            remove_partial_checkpoints(manager.directory)
            reason = storage_problem(error)
            if reason is None:
                raise
            raise storage_error(manager.directory, reason, self.latest) from error
        if not self.worker.chief:
            shutil.rmtree(self.write_dir, ignore_errors=True)
        return path

    @property
    def best_miou(self) -> float:
        if not self._best_record.exists():
            return float("-inf")
        return json.loads(self._best_record.read_text())["miou"]

    def save_if_best(self, miou: float) -> bool:
        """Saves into best/ when `miou` beats every earlier evaluation of this run; returns whether it did."""
        if not miou > self.best_miou:
            return False
        step = int(self.step.numpy())
        path = self._save(self.best_manager, step)
        if self.worker.chief:
            record = {"step": step, "miou": miou, "checkpoint": path}
            atomic.write_text(self._best_record, json.dumps(record, indent=2) + "\n")
        return True


def remove_worker_directories(model_dir) -> None:
    """Removes the temporary directories of the cluster's other workers (MODEL_DIR/.worker-N, .chief-N): a worker
    killed while saving leaves its own behind. Called when the cluster is lost: no worker saves any more."""
    for task_type in ("worker", "chief"):
        for path in pathlib.Path(model_dir).glob(f".{task_type}-*"):
            shutil.rmtree(path, ignore_errors=True)


def resolve_checkpoint(model_dir, which: str = "auto") -> str:
    """A checkpoint path for evaluation or export.

    which: "best" (best/ by mIoU), "latest" (checkpoints/), "auto" (best if one exists, else latest), or an
    explicit checkpoint path (a prefix such as .../ckpt-600, a research/deeplab model.ckpt-30000, or a whole
    model's .weights.h5).
    """
    model_dir = pathlib.Path(model_dir)
    found = {
        "best": tf.train.latest_checkpoint(str(model_dir / "best")),
        "latest": tf.train.latest_checkpoint(str(model_dir / "checkpoints")),
    }
    if which == "auto":
        path = found["best"] or found["latest"]
    elif which in found:
        path = found[which]
    else:
        if not tf.io.gfile.exists(which + ".index") and not (which.endswith(".h5") and tf.io.gfile.exists(which)):
            raise FileNotFoundError(
                f"checkpoint {which!r} not found (expected the file {which}.index); pass 'best', 'latest', "
                "a checkpoint prefix such as MODEL_DIR/checkpoints/ckpt-1000 or a whole model's .weights.h5"
            )
        return which
    if not path:
        raise FileNotFoundError(
            f"no {'' if which == 'auto' else which + ' '}checkpoint in {model_dir}: train first "
            f"(--mode=train or train_and_eval with --model_dir={model_dir})"
        )
    return path


def restore_model(model, path: str, allow_non_finite: bool = False) -> None:
    """Restores only the model's variables from a training checkpoint (optimizer state is ignored), or from a whole
    model's pretrained weights: a research/deeplab or Wang & Ji DeepLabv2 TF1 checkpoint, a whole-model
    .weights.h5 (`li_seg.weights.load_model_weights`; the layers a paper adds to the backbone, LI or smoothing, keep
    their initialisation when the file is a pretrained one; NaN / Inf refused unless `allow_non_finite`)."""
    from li_seg.backbones import NEW_LAYERS
    from li_seg.weights import load_model_weights

    load_model_weights(model, path, new_layers=NEW_LAYERS, allow_non_finite=allow_non_finite)


def load_trained_model(model_config, num_classes: int, model_dir, which: str = "auto", strategy=None):
    """(model, checkpoint path): the float32 model `model_config` describes, built under `strategy`'s scope (if
    given), with the weights of checkpoint `which` of `model_dir` (see `resolve_checkpoint`). The one place where
    evaluation, export, prediction and the figure scripts load a trained model. The backbone's pretrained file is
    not read: config.json holds what it told (`li_seg.backbones.pretrained`), except in runs recorded before it
    did, whose file is read once for its BN epsilon and normalisation."""
    from li_seg.backbones.pretrained import resolve_pretrained
    from li_seg.models import build_model  # the models import the whole library
    from li_seg.weights import WeightsNotFoundError

    path = resolve_checkpoint(model_dir, which)
    backbone = model_config.backbone
    if backbone.weights and backbone.weights_format is None:
        try:
            model_config = dataclasses.replace(model_config, backbone=resolve_pretrained(backbone))
        except WeightsNotFoundError as error:
            raise WeightsNotFoundError(
                f"{model_dir}/config.json was recorded before runs kept their pretrained weights' conventions, so "
                f"its backbone's BN epsilon and input normalisation are read from model.backbone.weights, which is "
                f"gone ({error}). Put the file back, or write them into config.json: model.backbone.weights_format, "
                "bn_epsilon and normalization (README 'Pretrained weights')") from None
    keras.mixed_precision.set_global_policy("float32")
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_model(model_config, num_classes)
    restore_model(model, path)
    return model, path
