"""Optimizers of the recipes (SGD with momentum, Adam), per-variable learning-rate multipliers, trainable subsets.

Learning-rate multipliers (DeepLabv2: the classifier at 10x, its biases at 20x; TrainConfig.lr_multipliers) are
applied to the *learning rate* of each variable inside the optimizer's update, not to its gradient: scaling the
gradient is equivalent for SGD but not for Adam, whose update m / (sqrt(v) + eps) is (almost) invariant to the
gradient's scale. `MultipliedSGD` / `MultipliedAdam` are the Keras optimizers with `update_step` receiving
lr * multiplier(variable): one optimizer, one `iterations` counter, its usual checkpoint layout, its constraint
handling (the LI intensity is clipped to [0, 1] after every update) and `LossScaleOptimizer` wrapping unchanged.

Update rules (Keras 3). SGD: v <- momentum * v - lr * g; w <- w + v. (TF1's MomentumOptimizer, used by
research/deeplab, keeps a = momentum * a + g; w <- w - lr * a; the two agree for a constant rate and differ
slightly while the rate decays.) Adam: w <- w - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps), TF1's
AdamOptimizer formula, so the LI paper's epsilon 0.01 means the same thing.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

import keras

OPTIMIZERS = ("sgd", "adam")


def resolve_lr_multipliers(variables: Iterable, lr_multipliers: Sequence[tuple[str, float]]) -> list[float]:
    """Each variable's multiplier: the first (regex, multiplier) pair whose regex `re.search`es its path, else 1."""
    compiled = [(re.compile(pattern), float(multiplier)) for pattern, multiplier in lr_multipliers]
    return [next((m for pattern, m in compiled if pattern.search(v.path)), 1.0) for v in variables]


class _LRMultiplierMixin:
    """Scales the learning rate of each variable's update by its multiplier (resolved when the optimizer is built)."""

    def __init__(self, *args, lr_multipliers: Sequence[tuple[str, float]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.lr_multipliers = tuple((str(p), float(m)) for p, m in lr_multipliers)
        self._variable_multipliers = ()

    def build(self, variables):
        super().build(variables)
        self._variable_multipliers = tuple(resolve_lr_multipliers(variables, self.lr_multipliers))

    def update_step(self, gradient, variable, learning_rate):
        multiplier = self._variable_multipliers[self._get_variable_index(variable)]
        if multiplier != 1.0:
            learning_rate = learning_rate * multiplier
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "lr_multipliers": self.lr_multipliers}


@keras.saving.register_keras_serializable(package="li_seg")
class MultipliedSGD(_LRMultiplierMixin, keras.optimizers.SGD):
    """keras.optimizers.SGD with per-variable learning-rate multipliers (`lr_multipliers`, first match wins)."""


@keras.saving.register_keras_serializable(package="li_seg")
class MultipliedAdam(_LRMultiplierMixin, keras.optimizers.Adam):
    """keras.optimizers.Adam with per-variable learning-rate multipliers (`lr_multipliers`, first match wins)."""


def build_optimizer(train_config, schedule) -> keras.optimizers.Optimizer:
    """The optimizer of `train_config` driven by `schedule` (a LearningRateSchedule or a float).

    "sgd": momentum `train_config.momentum`; "adam": epsilon `train_config.adam_epsilon`. Both apply
    `train_config.lr_multipliers`. With `train_config.mixed_precision` the optimizer is wrapped in
    keras.optimizers.LossScaleOptimizer (dynamic loss scale): the trainer computes gradients of
    `optimizer.scale_loss(loss)` and `apply_gradients` unscales them and skips steps with non-finite gradients.

    Usage in a custom loop: create it under `strategy.scope()` (Keras optimizers bind the current strategy at
    construction), call `optimizer.build(variables)` there before the first step (so that slot variables are
    mirrored and a checkpoint can be restored into them), then `optimizer.apply_gradients(zip(grads, variables))`
    inside the replica function. `optimizer.iterations` counts the updates; `optimizer.learning_rate` is the base
    rate at the current step (multiplier 1), for logging. It is trackable by tf.train.Checkpoint.
    """
    name = train_config.optimizer
    if name == "sgd":
        optimizer = MultipliedSGD(
            learning_rate=schedule, momentum=train_config.momentum, lr_multipliers=train_config.lr_multipliers
        )
    elif name == "adam":
        optimizer = MultipliedAdam(
            learning_rate=schedule, epsilon=train_config.adam_epsilon, lr_multipliers=train_config.lr_multipliers
        )
    else:
        raise ValueError(f"Unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    if train_config.mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def select_trainable(variables: Sequence, patterns: Sequence[str]) -> list:
    """The variables whose path `re.search`-matches one of `patterns` (TrainConfig.trainable_patterns), in order.

    Empty `patterns` selects all. A pattern that matches no variable raises ValueError (a typo would otherwise
    silently freeze the whole model), listing a few of the available paths.
    """
    variables = list(variables)
    if not patterns:
        return variables
    compiled = [re.compile(p) for p in patterns]
    unmatched = [p.pattern for p in compiled if not any(p.search(v.path) for v in variables)]
    if unmatched:
        examples = ", ".join(v.path for v in variables[:8])
        raise ValueError(
            f"trainable_patterns {unmatched} match no variable; {len(variables)} variables, e.g. {examples}"
        )
    return [v for v in variables if any(p.search(v.path) for p in compiled)]
