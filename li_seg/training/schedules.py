"""Learning-rate schedules: DeepLab's "poly" policy (with optional linear warm-up) and a constant rate.

Poly (Chen et al., DeepLabv2 sec. 4.1; research/deeplab `tf.train.polynomial_decay`):
    lr(step) = (base - end) * (1 - min(step, decay_steps) / decay_steps) ** power + end.

Warm-up convention (TF Model Garden's `LinearWarmup`): for step < warmup_steps the rate rises linearly from 0
to the schedule's value at `warmup_steps`, lr(step) = lr_poly(warmup_steps) * step / warmup_steps; from
`warmup_steps` on it is lr_poly(step). The poly curve keeps counting from step 0 (the warm-up does not shift it),
so the schedule is continuous and still ends at `end` after `decay_steps`. Step 0 (the first update, since a
Keras optimizer evaluates its schedule at `iterations` = updates already applied) has rate 0 under warm-up.
"""

from __future__ import annotations

import keras
import tensorflow as tf

SCHEDULES = ("poly", "constant")


@keras.saving.register_keras_serializable(package="li_seg")
class PolyDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr = (base - end) * (1 - min(step, decay_steps) / decay_steps) ** power + end, with linear warm-up.

    Args:
      base_learning_rate: the rate at step 0 (without warm-up).
      decay_steps: steps over which the rate decays to `end_learning_rate` (the training length).
      power: the poly exponent (0.9 in every DeepLab recipe).
      end_learning_rate: the rate from `decay_steps` on. With end == base the schedule is constant.
      warmup_steps: length of the linear warm-up from 0 (module docstring); 0 = none.
    """

    def __init__(
        self,
        base_learning_rate: float,
        decay_steps: int,
        power: float = 0.9,
        end_learning_rate: float = 0.0,
        warmup_steps: int = 0,
    ):
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be positive, got {decay_steps}")
        if not 0 <= warmup_steps <= decay_steps:
            raise ValueError(f"warmup_steps must be in [0, decay_steps={decay_steps}], got {warmup_steps}")
        self.base_learning_rate = float(base_learning_rate)
        self.decay_steps = int(decay_steps)
        self.power = float(power)
        self.end_learning_rate = float(end_learning_rate)
        self.warmup_steps = int(warmup_steps)

    def _poly(self, step: tf.Tensor) -> tf.Tensor:
        fraction = tf.minimum(step, float(self.decay_steps)) / float(self.decay_steps)
        return (self.base_learning_rate - self.end_learning_rate) * (1.0 - fraction) ** self.power + (
            self.end_learning_rate
        )

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        decayed = self._poly(step)
        if self.warmup_steps == 0:
            return decayed
        warm = self._poly(tf.constant(float(self.warmup_steps))) * step / float(self.warmup_steps)
        return tf.where(step < float(self.warmup_steps), warm, decayed)

    def get_config(self):
        return {
            "base_learning_rate": self.base_learning_rate,
            "decay_steps": self.decay_steps,
            "power": self.power,
            "end_learning_rate": self.end_learning_rate,
            "warmup_steps": self.warmup_steps,
        }


def build_schedule(train_config, total_steps: int) -> PolyDecay:
    """The schedule of `train_config.lr_schedule` over `total_steps` training steps.

    "poly": PolyDecay(learning_rate, total_steps, poly_power, end_learning_rate, warmup_steps).
    "constant": learning_rate throughout (after the same optional warm-up); expressed as PolyDecay with
    end == base, where the poly term vanishes exactly.
    """
    name = train_config.lr_schedule
    if name == "poly":
        end = train_config.end_learning_rate
    elif name == "constant":
        end = train_config.learning_rate
    else:
        raise ValueError(f"Unknown lr_schedule {name!r}; valid: {', '.join(SCHEDULES)}")
    return PolyDecay(
        train_config.learning_rate,
        total_steps,
        power=train_config.poly_power,
        end_learning_rate=end,
        warmup_steps=train_config.warmup_steps,
    )
