"""Evaluation of a split at each image's original resolution, under any tf.distribute strategy.

Images of different sizes are grouped num_replicas at a time with `padded_batch`; each replica crops its images
back to their own size before inference, so padding never reaches the model or the metrics. Each replica
accumulates one confusion matrix, the matrices are summed across replicas (`strategy.reduce(SUM)`), and every
metric is derived from the one summed matrix (li_seg.training.metrics).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Optional

import numpy as np
import tensorflow as tf
from absl import logging

from li_seg import data
from li_seg.evaluation.inference import predict_probabilities
from li_seg.models import inference_model
from li_seg.training.metrics import confusion_matrix, segmentation_metrics


@dataclasses.dataclass
class EvalResult:
    metrics: dict
    confusion: np.ndarray
    samples: list  # (image uint8 HxWx3, label HxW, prediction HxW, name) of the first images


class _EvalProgress:
    """Logs "evaluated i/N images" about every tenth of the split (and at its end), with the speed."""

    def __init__(self, total: int, split: str):
        self.total, self.split, self.done = total, split, 0
        self.every = max(1, total // 10)
        self.start = time.perf_counter()

    def update(self, images: int) -> None:
        before, self.done = self.done, min(self.done + images, self.total)
        if self.done // self.every > before // self.every or self.done == self.total:
            rate = self.done / max(time.perf_counter() - self.start, 1e-9)
            logging.info("evaluated %d/%d %s images (%.1f img/s)", self.done, self.total, self.split, rate)


def _with_sizes(example):
    shape = tf.shape(example["label"])
    return {**example, "height": shape[0], "width": shape[1]}


def evaluate(model, data_config, eval_config, *, strategy: Optional[tf.distribute.Strategy] = None) -> EvalResult:
    """Scores `model` on data_config.eval_split with eval_config's scales and flipping."""
    strategy = strategy or tf.distribute.get_strategy()
    model = inference_model(model)  # the logits only: auxiliary heads are training's
    info = data.get_dataset_info(data_config)
    num_classes, ignore = info.num_classes, info.ignore_label
    scales, flip = tuple(eval_config.scales), eval_config.add_flipped_images
    padding = {"pad_to": eval_config.pad_to, "pad_value": data_config.image_pad_value}

    dataset = data.build_dataset(
        data_config, data_config.eval_split, training=False, batch_size=1, max_examples=eval_config.max_examples
    )
    grouped = (
        dataset.unbatch()
        .map(_with_sizes)
        .padded_batch(
            strategy.num_replicas_in_sync,
            padding_values={"image": 0.0, "label": ignore, "name": "", "height": 0, "width": 0},
        )
    )
    distributed = strategy.experimental_distribute_dataset(grouped)

    def replica_confusion(batch):
        total = tf.zeros((num_classes, num_classes), tf.int64)
        for i in tf.range(tf.shape(batch["image"])[0]):
            height, width = batch["height"][i], batch["width"][i]
            image = batch["image"][i : i + 1, :height, :width]
            label = batch["label"][i, :height, :width]
            probabilities = predict_probabilities(model, image, scales, flip, **padding)
            prediction = tf.argmax(probabilities[0], axis=-1, output_type=tf.int32)
            total += confusion_matrix(label, prediction, num_classes, ignore)
        return total

    @tf.function(reduce_retracing=True)
    def step(batch):
        per_replica = strategy.run(replica_confusion, args=(batch,))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    confusion = np.zeros((num_classes, num_classes), np.int64)
    iterator = iter(distributed)
    total = data.num_examples(data_config, data_config.eval_split)
    total = total if eval_config.max_examples is None else min(total, eval_config.max_examples)
    progress = _EvalProgress(total, data_config.eval_split)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            break
        except tf.errors.InvalidArgumentError as error:
            raise data.explain_error(error, data_config, data_config.eval_split) from None
        confusion += step(batch).numpy()
        progress.update(strategy.num_replicas_in_sync)

    samples = []
    for example in dataset.take(eval_config.num_image_summaries):
        probabilities = predict_probabilities(model, example["image"], scales, flip, **padding)
        samples.append((
            example["image"][0].numpy().astype(np.uint8),
            example["label"][0].numpy(),
            np.argmax(probabilities[0].numpy(), axis=-1),
            example["name"][0].numpy().decode(),
        ))
    metrics = segmentation_metrics(confusion, class_names=info.class_names)
    return EvalResult(metrics=metrics, confusion=confusion, samples=samples)
