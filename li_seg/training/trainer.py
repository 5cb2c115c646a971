"""The training loop: a custom loop under a tf.distribute strategy, resumable and deterministic on request.

One call of `Trainer.train()` runs from the latest checkpoint in the model dir (or from scratch) to
train.train_steps. Every piece it uses is its own module: losses, schedules, optimizers, metrics, checkpoints,
summaries, the data pipeline and the evaluator.

Resuming reproduces an uninterrupted run exactly when ops are deterministic: the checkpoint holds model,
optimizer, step and dropout seed states, and the input pipeline is a pure function of (seed, step)
(li_seg.data.build_dataset(start_step=...)).

Divergence never reaches a checkpoint. A step's loss is computed before its update, so a finite loss does not
vouch for the weights the update produced (a huge learning rate blows them up while the loss it reports is still
finite). Every save is therefore preceded by a check of the state it would write (`_sound`): every model and
optimizer variable finite, and the loss of the step's batch under the new weights finite. A non-finite loss or an
unsound state stops the run without saving, naming the newest checkpoint, which is therefore always a good one; a
data error or Ctrl-C saves the current state first (if sound).

A run killed during an evaluation (the final one or one during training) finishes that evaluation when it is
re-run, before training on: `eval/metrics-<step>.json`, written last, marks an evaluation as done.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib

import keras
import tensorflow as tf
from absl import logging

from li_seg import atomic, data
from li_seg.backbones.pretrained import load_pretrained
from li_seg.evaluation.evaluator import EvalResult, evaluate
from li_seg.layers.diagnostics import collect_diagnostics
from li_seg.models import build_model, loss_weights, main_logits
from li_seg.training.checkpoints import CheckpointKeeper, restore_model
from li_seg.training.losses import segmentation_loss
from li_seg.training.metrics import format_metrics_table
from li_seg.training.optimizers import build_optimizer, select_trainable
from li_seg.training.progress import Progress
from li_seg.training.schedules import build_schedule
from li_seg.training.step import loss_and_gradients
from li_seg.training.strategy import worker
from li_seg.training.summaries import Summaries


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; nothing after the last good checkpoint was saved."""


def configure_determinism(seed: int, deterministic: bool) -> None:
    """Seeds Python, NumPy, TensorFlow and Keras; with `deterministic`, also makes TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


@dataclasses.dataclass
class TrainResult:
    step: int
    loss: float
    evaluations: list  # (step, metrics dict)


class Trainer:
    """Builds model and optimizer under `strategy` for an experiment config (sections model/data/train/eval)."""

    def __init__(self, cfg, model_dir, strategy: tf.distribute.Strategy, pretrained=None):
        """`pretrained`: the backbone's pretrained file already read (`li_seg.weights.PretrainedFile`), loaded if the
        run starts from nothing (else read then); cfg's backbone conventions are resolved (`experiments.runner`)."""
        self.cfg = cfg
        self.pretrained = pretrained
        self.model_dir = pathlib.Path(model_dir)
        self.strategy = strategy
        self.info = data.get_dataset_info(cfg.data)
        train = cfg.train
        keras.mixed_precision.set_global_policy("mixed_float16" if train.mixed_precision else "float32")
        configure_determinism(train.seed, train.deterministic)
        with strategy.scope():
            self.model = build_model(cfg.model, self.info.num_classes)
            self.schedule = build_schedule(train, train.train_steps)
            self.optimizer = build_optimizer(train, self.schedule)
            self.step = tf.Variable(
                0, dtype=tf.int64, trainable=False, name="global_step",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
            self.variables = select_trainable(self.model.trainable_variables, train.trainable_patterns)
            self.optimizer.build(self.variables)  # slots mirrored now, so a checkpoint restores into them
        self.worker = worker(strategy)
        replicas = strategy.num_replicas_in_sync
        if replicas > 1 and not (cfg.model.sync_bn or cfg.model.frozen_bn):
            logging.info("BN normalises each replica's %d of the %d images (model.sync_bn=false); the replicas' moving "
                         "statistics drift apart and the chief's are saved. model.sync_bn=true uses the whole batch",
                         train.batch_size // replicas, train.batch_size)
        self.keeper = CheckpointKeeper(
            self.model_dir, model=self.model, optimizer=self.optimizer, step=self.step, keep=train.keep_checkpoints,
            worker=self.worker,
        )
        self.summaries = Summaries(self.model_dir, self.info.class_names, self.info.palette, self.info.ignore_label,
                                   enabled=self.worker.chief)
        self._train_step = self._make_train_step()

    # ------------------------------------------------------------------------------------------------------------
    def _make_train_step(self):
        train, ignore = self.cfg.train, self.info.ignore_label
        num_replicas = self.strategy.num_replicas_in_sync
        mixed = train.mixed_precision
        weights = loss_weights(self.cfg.model)

        def compute(images, labels, global_valid):
            return loss_and_gradients(
                self.model, self.variables, images, labels, ignore_label=ignore, weights=weights,
                global_num_valid=global_valid, weight_decay=train.weight_decay,
                weight_decay_scope=train.weight_decay_scope, num_replicas=num_replicas,
                scale_loss=self.optimizer.scale_loss if mixed else None,
            )

        if train.jit_compile:  # forward, loss and backward as XLA clusters; collectives and the update outside
            compute = tf.function(compute, jit_compile=True)

        def replica_step(batch):
            labels = batch["label"]
            context = tf.distribute.get_replica_context()
            local_valid = tf.reduce_sum(tf.cast(labels != ignore, tf.float32))
            global_valid = context.all_reduce(tf.distribute.ReduceOp.SUM, local_valid)
            parts, gradients = compute(batch["image"], labels, global_valid)
            self.optimizer.apply_gradients(zip(gradients, self.variables))
            return parts

        @tf.function
        def train_step(batch):
            per_replica = self.strategy.run(replica_step, args=(batch,))
            self.step.assign_add(1)
            return {
                name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for name, value in per_replica.items()
            }

        return train_step

    # ------------------------------------------------------------------------------------------------------------
    def restore(self) -> int:
        """Resumes from the latest checkpoint, else loads train.init_checkpoint's model weights, else the backbone's
        pretrained weights (the only time a run reads that file for its values); returns the step."""
        path = self.keeper.restore_latest()
        if path:
            logging.info("resumed from %s (step %d)", path, int(self.step.numpy()))
        elif self.cfg.train.init_checkpoint:
            restore_model(self.model, self.cfg.train.init_checkpoint,
                          allow_non_finite=self.cfg.model.backbone.allow_non_finite_weights)
            logging.info("initialised the model from %s", self.cfg.train.init_checkpoint)
        elif self.cfg.model.backbone.weights:
            loaded = load_pretrained(self.model, self.pretrained)
            logging.info("initialised %d backbone(s) from %s", loaded, self.cfg.model.backbone.weights)
        self.pretrained = None  # read once: not kept for the run's length
        return int(self.step.numpy())

    def train(self, *, evaluate_during_training: bool = False) -> TrainResult:
        """Trains to train.train_steps; with `evaluate_during_training`, evaluates every train.eval_every_steps
        (if > 0) and at the end, keeping the best checkpoint by mIoU."""
        cfg, train = self.cfg, self.cfg.train
        total = train.train_steps
        start = self.restore()
        evaluations: list = []
        unfinished = evaluate_during_training and self._evaluation_due(start) and not self._evaluated(start)
        self.summaries.start_session(train_step=start + 1, eval_step=start if unfinished else start + 1)
        if unfinished:
            logging.info("the evaluation at step %d did not finish: evaluating now", start)
            evaluations.append((start, self.evaluate_and_record().metrics))
        if start >= total:
            logging.info("model dir %s is already trained to step %d (train_steps=%d)", self.model_dir, start, total)
            return TrainResult(step=start, loss=float("nan"), evaluations=evaluations)

        dataset = data.build_dataset(
            cfg.data, cfg.data.train_split, training=True, batch_size=train.batch_size, seed=train.seed,
            start_step=start,
        )
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
        progress = Progress(total, train.batch_size, start)
        logging.info(
            "training %s on %s from step %d to %d (batch %d, %d replica(s))", self.model.name, cfg.data.dataset,
            start, total, train.batch_size, self.strategy.num_replicas_in_sync,
        )
        step, loss, batch = start, float("nan"), None
        try:
            while step < total:
                try:
                    batch = next(iterator)
                except tf.errors.InvalidArgumentError as error:
                    raise data.explain_error(error, cfg.data, cfg.data.train_split) from None
                losses = self._train_step(batch)
                step = int(self.step.numpy())
                loss = float(losses["loss"].numpy())
                if not math.isfinite(loss):
                    raise self._diverged(f"the loss became {loss} at step {step}")
                first = step == start + 1  # the first step traced the train function: not a sample of the speed
                if first:
                    logging.info("step %d done: tracing and compiling the training step took %.0f s", step,
                                 progress.elapsed())
                self._after_step(step, losses, batch, progress)
                if first:
                    progress.restart(step)
                if evaluate_during_training and self._evaluation_due(step) and step < total:
                    evaluations.append((step, self.evaluate_and_record().metrics))
                    progress.restart(step)
        except (data.DataError, KeyboardInterrupt):
            done = int(self.step.numpy())  # what the weights hold: a step interrupted on its way back has completed
            if self._sound(batch if step > start else None):
                logging.warning("interrupted after step %d: saved %s", done, self.keeper.save())
            else:
                logging.warning("interrupted after step %d: its state is not finite, nothing saved (newest: %s)", done,
                                self.keeper.latest)
            raise
        finally:
            self.summaries.flush()
        if evaluate_during_training:
            evaluations.append((step, self.evaluate_and_record().metrics))
        return TrainResult(step=step, loss=loss, evaluations=evaluations)

    def _after_step(self, step: int, losses: dict, batch, progress: Progress) -> None:
        train = self.cfg.train
        learning_rate = float(self.schedule(step - 1))
        if step % train.log_every_steps == 0 or step == train.train_steps:
            logging.info(progress.line(step, float(losses["loss"]), learning_rate))
        if step % train.summary_every_steps == 0:
            values = {f"loss/{name}": float(value) for name, value in losses.items()}
            values.update({"learning_rate": learning_rate, "images_per_second": progress.images_per_second})
            self.summaries.scalars(step, values)
            self.summaries.diagnostics(step, collect_diagnostics(self.model))
        if step % train.image_summary_every_steps == 0:
            self.summaries.images(step, self._training_samples(batch), writer="train")
        if step % train.checkpoint_every_steps == 0 or step == train.train_steps:
            if not self._sound(batch):
                raise self._diverged(f"the weights after step {step} are not finite or give a non-finite loss")
            self.keeper.save()
            progress.restart(step)

    def _sound(self, batch=None) -> bool:
        """Whether the current state may be saved: every floating-point model and optimizer variable finite, and
        (given the step's batch) the loss of its first replica's images under the current weights finite."""
        for variable in self.model.variables + self.optimizer.variables:
            floating = keras.backend.is_float_dtype(variable.dtype)
            if floating and not bool(tf.reduce_all(tf.math.is_finite(variable.value))):
                return False
        if batch is None:
            return True
        images = self.strategy.experimental_local_results(batch["image"])[0]
        labels = self.strategy.experimental_local_results(batch["label"])[0]
        outputs = self.model(images, training=False)
        loss = segmentation_loss(labels, main_logits(outputs), ignore_label=self.info.ignore_label)
        return bool(tf.math.is_finite(loss))

    def _diverged(self, what: str) -> TrainingDivergedError:
        return TrainingDivergedError(
            f"{what}; nothing was saved after the last good checkpoint ({self.keeper.latest or 'none yet'}). "
            "Lower the learning rate (--learning_rate) or check the data, then re-run the same command to resume "
            "from that checkpoint."
        )

    def _evaluation_due(self, step: int) -> bool:
        """Whether training with evaluation evaluates at `step`: every train.eval_every_steps (if > 0), and at
        the end."""
        every, total = self.cfg.train.eval_every_steps, self.cfg.train.train_steps
        return step > 0 and (step >= total or (every > 0 and step % every == 0))

    def _evaluated(self, step: int) -> bool:
        return (self.model_dir / "eval" / f"metrics-{step}.json").exists()

    def _training_samples(self, batch, count: int = 3) -> list:
        images = self.strategy.experimental_local_results(batch["image"])[0][:count]
        labels = self.strategy.experimental_local_results(batch["label"])[0][:count]
        predictions = tf.argmax(main_logits(self.model(images, training=False)), axis=-1)
        return [
            (image.numpy().astype("uint8"), label.numpy(), prediction.numpy(), f"train/{i}")
            for i, (image, label, prediction) in enumerate(zip(images, labels, predictions))
        ]

    # ------------------------------------------------------------------------------------------------------------
    def evaluate_and_record(self) -> EvalResult:
        """Evaluates the current weights; writes the best checkpoint, then TensorBoard and eval/metrics-<step>.json."""
        step = int(self.step.numpy())
        result = evaluate(self.model, self.cfg.data, self.cfg.eval, strategy=self.strategy)
        if self.keeper.save_if_best(result.metrics["miou"]):
            logging.info("new best mIoU %.4f at step %d", result.metrics["miou"], step)
        if self.worker.chief:  # last: its metrics file marks the evaluation as done
            record_evaluation(self.model_dir, step, result, self.summaries)
        return result


def record_evaluation(model_dir, step: int, result: EvalResult, summaries: Summaries) -> None:
    """Logs the metrics table and writes them to TensorBoard and MODEL_DIR/eval/metrics-<step>.json."""
    logging.info("evaluation at step %d:\n%s", step, format_metrics_table(result.metrics, summaries.class_names))
    summaries.metrics(step, result.metrics)
    summaries.images(step, result.samples)
    summaries.flush()
    path = pathlib.Path(model_dir) / "eval" / f"metrics-{step}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps({k: _nan_to_none(v) for k, v in result.metrics.items()}, indent=2) + "\n")


def _nan_to_none(value):
    """JSON has no NaN: absent classes' IoU (NaN) is written as null."""
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
