"""A probe that makes an attention visible in TensorBoard: PAN's FPA attention and GAU channel weights.

`AttentionStatistics` passes its input through unchanged. In training mode it also keeps, in a non-trainable
variable, the per-channel mean of its input over the batch and the positions of the last training step, and
publishes it through the diagnostics hook (`li_seg.layers.diagnostics`): "<kind>/<label>" as a histogram over
the channels and "<kind>_mean/<label>" as a scalar (kind: "fpa_attention", "gau_channel_weights"). Inference
leaves the variable alone, so evaluation does not overwrite what training saw, and costs nothing.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from li_seg.analysis.flops import register_flop_rule, zero_flops
from li_seg.layers.diagnostics import Histogram


@keras.saving.register_keras_serializable(package="li_seg")
class AttentionStatistics(keras.layers.Layer):
    """Identity that records the per-channel mean of its input at each training step.

    kind: the quantity's TensorBoard family ("fpa_attention", "gau_channel_weights").
    label: where it sits, in the paper's terms ("fpa", "gau_res4").
    """

    def __init__(self, kind: str, label: str, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.label = kind, label

    def build(self, input_shape):
        self.channel_means = self.add_weight(
            name="channel_means", shape=(input_shape[-1],), initializer="zeros", trainable=False, aggregation="mean"
        )

    def call(self, inputs, training=False):
        if training:
            self.channel_means.assign(ops.cast(ops.mean(inputs, axis=(0, 1, 2)), self.channel_means.dtype))
        return inputs

    def diagnostics(self) -> dict:
        values = ops.convert_to_numpy(self.channel_means)
        return {f"{self.kind}/{self.label}": Histogram(values),
                f"{self.kind}_mean/{self.label}": float(np.mean(values))}

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "label": self.label}


register_flop_rule(AttentionStatistics)(zero_flops)
