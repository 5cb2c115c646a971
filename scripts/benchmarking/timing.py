"""Timed units (a train step, an inference batch, a pipeline batch), alternating rounds, and their statistics.

The contenders of one comparison run in alternating rounds (A, B, A, B, ...) in one process, because these
machines are noisy: a slow period then hits both, and the ratio stays meaningful where absolute numbers do not.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import statistics
import sys
import time
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from li_seg.config import TrainConfig
from li_seg.models import main_logits
from li_seg.training.optimizers import build_optimizer
from li_seg.training.step import loss_and_gradients

IGNORE_LABEL = 255
# The optimizer every contender shares (SGD + momentum, constant rate, MobileNetV2's L2 of the LI paper).
TRAIN = TrainConfig(optimizer="sgd", lr_schedule="constant", learning_rate=3e-4, weight_decay=4e-5)
RoundFn = Callable[[int], float]  # runs n steps (or batches), returns the timed seconds


def random_batch(batch_size: int, crop, num_classes: int):
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (batch_size, *crop, 3)), tf.float32)
    labels = tf.constant(rng.integers(0, num_classes, (batch_size, *crop)), tf.int32)
    return images, labels


def train_rounds(model: keras.Model, images, labels, weights: Optional[dict] = None,
                 jit_compile: bool = False, mixed_precision: bool = False) -> RoundFn:
    """The trainer's step (`li_seg.training.step.loss_and_gradients`: cross-entropy + L2 decay; SGD momentum) as
    one tf.function, its loss and gradients XLA-compiled when `jit_compile` as the trainer does; n steps per call.
    weights: the model's loss weights (`li_seg.models.loss_weights`; None = its logits only). mixed_precision:
    loss scaling as the trainer's (the model must have been built under the mixed_float16 policy)."""
    optimizer = build_optimizer(dataclasses.replace(TRAIN, mixed_precision=mixed_precision), TRAIN.learning_rate)
    variables = model.trainable_variables
    optimizer.build(variables)
    def compute(images, labels):
        valid = tf.reduce_sum(tf.cast(labels != IGNORE_LABEL, tf.float32))
        return loss_and_gradients(model, variables, images, labels, ignore_label=IGNORE_LABEL,
                                  weights=weights, global_num_valid=valid,
                                  weight_decay=TRAIN.weight_decay,
                                  scale_loss=optimizer.scale_loss if mixed_precision else None)

    compute = tf.function(compute, jit_compile=True) if jit_compile else compute

    @tf.function
    def step(images, labels):
        parts, gradients = compute(images, labels)
        optimizer.apply_gradients(zip(gradients, variables))
        return parts["loss"]

    def run(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            step(images, labels).numpy()  # blocks, as the trainer's per-step loss read does
        return time.perf_counter() - start

    return run


def gradient_step(function, projection):
    """Forward and backward of a tensor function as one tf.function: the gradients of sum(function(*args) *
    projection) with respect to every argument."""

    @tf.function
    def step(*args):
        with tf.GradientTape() as tape:
            tape.watch(args)
            loss = tf.reduce_sum(function(*args) * projection)
        return tape.gradient(loss, args)

    return step


def gradient_rounds(function, inputs: list, projection) -> RoundFn:
    """`gradient_step` of `function` on `inputs`, its gradients read back; n evaluations per call."""
    step = gradient_step(function, projection)

    def run(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            [gradient.numpy() for gradient in step(*inputs)]
        return time.perf_counter() - start

    return run


def inference_rounds(model: keras.Model, images) -> RoundFn:
    """Inference as a user runs it: logits in inference mode, argmax, labels read back; n batches per call."""

    @tf.function
    def predict(images):
        return tf.argmax(main_logits(model(images, training=False)), axis=-1)

    def run(batches: int) -> float:
        start = time.perf_counter()
        for _ in range(batches):
            predict(images).numpy()
        return time.perf_counter() - start

    return run


def pipeline_rounds(dataset: tf.data.Dataset, warmup_batches: int) -> RoundFn:
    """n batches from a fresh iterator (after `warmup_batches` untimed), deleted afterwards."""

    def run(batches: int) -> float:
        iterator = iter(dataset)
        for _ in range(warmup_batches):
            next(iterator)
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        elapsed = time.perf_counter() - start
        del iterator  # stops its background threads before the next (training) round
        return elapsed

    return run


def alternate(contenders: dict, rounds: int, warmup: int) -> dict:
    """contenders: name -> (RoundFn, units per round). Warm-up, then A, B, A, B, ...; seconds per unit per round."""
    for run, _ in contenders.values():
        if warmup:
            run(warmup)
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, (run, units) in contenders.items():
            times[name].append(run(units) / units)
    return times


def summarize(seconds: list, batch_size: int) -> dict:
    median = statistics.median(seconds)
    return {
        "median_s": median, "images_per_s": batch_size / median, "min_s": min(seconds), "max_s": max(seconds),
        "spread": (max(seconds) - min(seconds)) / median, "rounds_s": list(seconds),
    }


def compare(times: dict, a: str, b: str, batch_size: int) -> dict:
    """Stats of both; ratio = images/s of a over b (ratio of medians) and the per-round paired ratios."""
    result = {name: summarize(times[name], batch_size) for name in (a, b)}
    result["ratio"] = result[b]["median_s"] / result[a]["median_s"]
    result["round_ratios"] = [tb / ta for ta, tb in zip(times[a], times[b])]
    result["median_round_ratio"] = statistics.median(result["round_ratios"])
    return result


# ---------------------------------------------------------------------------------------------------------------
# Output.


def _row(name: str, stats: dict, extra: str = "") -> str:
    return (
        f"  {name:<10} {extra:>12} {stats['median_s'] * 1000:>15.1f} {stats['images_per_s']:>10.2f}"
        f"   {stats['min_s'] * 1000:.1f}-{stats['max_s'] * 1000:.1f} ms ({stats['spread']:.0%})"
    )


def print_comparison(
    title: str, result: dict, a: str, b: str, target: Optional[float], extras=None, *, ratio_name: str = "images/s"
) -> None:
    """Both contenders' statistics and the ratio of `a` over `b`; `target` None = no verdict. For ratio_name
    "time" the ratio is a cost (a's time over b's) and the target an upper bound, else a lower bound."""
    extras = extras or {}
    print(f"\n== {title}")
    header = f"  {'contender':<10} {'params' if extras else '':>12} {'median ms/batch':>15} {'images/s':>10}"
    print(header + "   spread (min-max)")
    for name in (a, b):
        print(_row(name, result[name], f"{extras[name]:,}" if extras else ""))
    if target is None:
        verdict = ""
    elif ratio_name == "time":
        verdict = f"   [{'meets' if result['ratio'] <= target else 'ABOVE'} target <= {target:g}]"
    else:
        verdict = f"   [{'meets' if result['ratio'] >= target else 'BELOW'} target >= {target:g}]"
    rounds = " ".join(f"{r:.3f}" for r in result["round_ratios"])
    print(f"  ratio {a}/{b} ({ratio_name}, medians): {result['ratio']:.3f}{verdict}")
    low, high = min(result["round_ratios"]), max(result["round_ratios"])
    print(f"  per-round ratios: {rounds}  (min {low:.3f}, max {high:.3f}, median {result['median_round_ratio']:.3f})")
    for name in (a, b):
        print(f"  per-round ms/batch {name:<9}: " + " ".join(f"{s * 1000:.1f}" for s in result[name]["rounds_s"]))


def print_header(module: Optional[str]) -> None:
    command = [sys.executable, "-m", module] if module else [sys.argv[0]]
    print("command:", shlex.join(command + sys.argv[1:]))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    intra = tf.config.threading.get_intra_op_parallelism_threads() or f"auto = {cores}"
    inter = tf.config.threading.get_inter_op_parallelism_threads() or f"auto = {cores}"
    gpus = len(tf.config.list_physical_devices("GPU"))
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}; CPUs: {os.cpu_count()} ({cores} schedulable), "
          f"GPUs: {gpus}")
    print(f"TF threads: intra-op {intra}, inter-op {inter}")
