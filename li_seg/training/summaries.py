"""TensorBoard summaries: training scalars, evaluation metrics (with per-class IoU) and colour-overlay images.

Written under MODEL_DIR/train and MODEL_DIR/eval, so `tensorboard --logdir MODEL_DIR` shows both side by side.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
import tensorflow as tf

from li_seg.evaluation.visualization import colorize, overlay
from li_seg.layers.diagnostics import Histogram


class Summaries:
    """The run's TensorBoard writers, created on first use (a run with nothing left to do writes nothing).
    `enabled=False` (a multi-worker cluster's workers other than the chief) writes nothing at all."""

    def __init__(self, model_dir, class_names, palette, ignore_label: int, *, enabled: bool = True):
        self.model_dir = pathlib.Path(model_dir)
        self.enabled = enabled
        self._writers = {}
        self.class_names = tuple(class_names)
        self.palette = palette
        self.ignore_label = ignore_label

    def _writer(self, name: str):
        if name not in self._writers:
            self._writers[name] = (tf.summary.create_file_writer(str(self.model_dir / name)) if self.enabled
                                   else tf.summary.create_noop_writer())
        return self._writers[name]

    @property
    def train_writer(self):
        return self._writer("train")

    @property
    def eval_writer(self):
        return self._writer("eval")

    def scalars(self, step: int, values: dict, *, writer: str = "train") -> None:
        with (self.train_writer if writer == "train" else self.eval_writer).as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)

    def metrics(self, step: int, metrics: dict) -> None:
        """mIoU, pixel and mean accuracy, and one "iou/<class>" scalar per class seen in the split."""
        with self.eval_writer.as_default(step=step):
            tf.summary.scalar("miou", metrics["miou"])
            tf.summary.scalar("pixel_accuracy", metrics["pixel_accuracy"])
            tf.summary.scalar("mean_accuracy", metrics["mean_accuracy"])
            for name, iou in zip(self.class_names, metrics["per_class_iou"]):
                if not math.isnan(iou):
                    tf.summary.scalar(f"iou/{name.replace(' ', '_').replace('/', '_')}", iou)

    def diagnostics(self, step: int, published: dict) -> None:
        """What the model's layers publish (`li_seg.layers.diagnostics.collect_diagnostics`): floats as scalars,
        `Histogram`s as histograms, under their own tags (e.g. "li_intensity/<layer>")."""
        with self.train_writer.as_default(step=step):
            for tag, value in published.items():
                if isinstance(value, Histogram):
                    tf.summary.histogram(tag, value.values)
                else:
                    tf.summary.scalar(tag, value)

    def images(self, step: int, samples, *, writer: str = "eval") -> None:
        """For each (image, label, prediction, name): image, ground truth overlay, prediction overlay, side by side."""
        panels = []
        for image, label, prediction, _ in samples:
            truth = overlay(image, colorize(label, self.palette, self.ignore_label))
            predicted = overlay(image, colorize(prediction, self.palette, self.ignore_label))
            panels.append(np.concatenate([image, truth, predicted], axis=1))
        if not panels:
            return
        with (self.train_writer if writer == "train" else self.eval_writer).as_default(step=step):
            for i, panel in enumerate(panels):
                tf.summary.image(f"image_truth_prediction/{i}", panel[None], step=step)

    def flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()


def read_scalars(directory, prefixes: tuple[str, ...]) -> dict[str, list[tuple[int, float]]]:
    """The scalars whose tag starts with one of `prefixes` in the event files of `directory` (e.g. MODEL_DIR/train):
    tag -> [(step, value), ...] sorted by step, the last value written for a step winning (a resumed run rewrites
    steps after its checkpoint)."""
    series: dict[str, dict[int, float]] = {}
    for path in sorted(pathlib.Path(directory).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag.startswith(prefixes):
                    number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else value.simple_value
                    series.setdefault(value.tag, {})[event.step] = number
    return {tag: sorted(values.items()) for tag, values in series.items()}
