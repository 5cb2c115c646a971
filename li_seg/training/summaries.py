"""TensorBoard summaries: training scalars, evaluation metrics (with per-class IoU) and colour-overlay images.

Written under MODEL_DIR/train and MODEL_DIR/eval, so `tensorboard --logdir MODEL_DIR` shows both side by side.

A resumed run replays the steps after its checkpoint, which the interrupted run may already have logged. Each
training session therefore opens its writers with a `SessionLog.START` event at the first step it will write:
TensorBoard (both its Python loader and its Rust data server) treats every START after a run's first as a restart
and drops what earlier sessions wrote at that step and later, so the curves show each step once, without backward
jumps. This is the purge Keras' TF1 TensorBoard callback wrote; TensorFlow 2's summary API has no public call for a
raw event, so `_write_session_start` uses `summary_ops_v2.import_event` (the op behind TF2's event import).
"""

from __future__ import annotations

import math
import pathlib

import time

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import summary_ops_v2

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
        self._session_start: dict[str, int] = {}

    def start_session(self, *, train_step: int, eval_step: int) -> None:
        """Declares the first step this session writes to each writer: what earlier sessions wrote there at that
        step or later is dropped by TensorBoard (a START event, written when the writer is created)."""
        self._session_start = {"train": train_step, "eval": eval_step}

    def _writer(self, name: str):
        if name not in self._writers:
            if not self.enabled:
                self._writers[name] = tf.summary.create_noop_writer()
                return self._writers[name]
            self._writers[name] = tf.summary.create_file_writer(str(self.model_dir / name))
            if name in self._session_start:
                _write_session_start(self._writers[name], self._session_start[name])
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


def _write_session_start(writer, step: int) -> None:
    event = tf.compat.v1.Event(step=step, wall_time=time.time(),
                               session_log=tf.compat.v1.SessionLog(status=tf.compat.v1.SessionLog.START))
    with writer.as_default():
        summary_ops_v2.import_event(tf.constant(event.SerializeToString()))


def read_scalars(directory, prefixes: tuple[str, ...]) -> dict[str, list[tuple[int, float]]]:
    """The scalars whose tag starts with one of `prefixes` in the event files of `directory` (e.g. MODEL_DIR/train):
    tag -> [(step, value), ...] sorted by step, read as TensorBoard reads them: a session START after the first
    drops what was written at its step and later (a resumed run rewrites the steps after its checkpoint)."""
    series: dict[str, dict[int, float]] = {}
    sessions = 0
    for path in sorted(pathlib.Path(directory).glob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):  # summary_iterator's own recommended replacement
            event = tf.compat.v1.Event.FromString(record.numpy())
            if event.HasField("session_log") and event.session_log.status == tf.compat.v1.SessionLog.START:
                sessions += 1
                if sessions > 1:
                    series = {tag: {step: v for step, v in values.items() if step < event.step}
                              for tag, values in series.items()}
            for value in event.summary.value:
                if value.tag.startswith(prefixes):
                    number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else value.simple_value
                    series.setdefault(value.tag, {})[event.step] = number
    return {tag: sorted(values.items()) for tag, values in series.items() if values}


def copy_without_images(source, destination) -> None:
    """The event file `source` written to `destination` without its image summaries: every event kept as it was
    (file version, session STARTs, scalars, histograms) except the values of tags whose plugin is "images" (TF2
    names a tag's plugin in its first value only, once per writer, hence once per file) and TF1 image values; an
    event left with no value is dropped. TensorBoard reads the copy as the original, less its images (a run's eval
    files: megabytes of prediction panels around a few kilobytes of metrics)."""
    image_tags = set()
    with tf.io.TFRecordWriter(str(destination)) as writer:
        for record in tf.data.TFRecordDataset(str(source)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            if event.HasField("summary"):
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name == "images" or value.HasField("image"):
                        image_tags.add(value.tag)
                kept = [value for value in event.summary.value if value.tag not in image_tags]
                if not kept:
                    continue
                del event.summary.value[:]
                event.summary.value.extend(kept)
            writer.write(event.SerializeToString())
