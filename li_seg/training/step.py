"""One replica's loss and gradients: the computation of a training step that XLA may compile.

The trainer (`li_seg.training.trainer`) keeps outside it what XLA should not see or cannot gain from: the
cross-replica sum of valid pixels (a collective) before it and the optimizer's update (Keras' cross-replica
aggregation, variable writes) after it. With `train.jit_compile` (`--xla`) the trainer wraps
`loss_and_gradients` in `tf.function(jit_compile=True)`: forward, loss and backward become one XLA cluster per
shape (BUILD_NOTES 19.2).
"""

from __future__ import annotations

from typing import Callable, Mapping, Optional, Sequence

import keras
import tensorflow as tf

from li_seg.training.losses import l2_weight_decay, segmentation_loss


def loss_and_gradients(
    model: keras.Model, variables: Sequence[tf.Variable], images: tf.Tensor, labels: tf.Tensor, *,
    ignore_label: int, weights: Optional[Mapping[str, float]], global_num_valid: tf.Tensor, weight_decay: float,
    weight_decay_scope: str = "kernels", num_replicas: int = 1,
    scale_loss: Optional[Callable[[tf.Tensor], tf.Tensor]] = None,
) -> tuple[dict[str, tf.Tensor], list[tf.Tensor]]:
    """({"loss", "cross_entropy", "weight_decay"}, gradients of `variables`) of one replica's batch: the
    segmentation loss of the model's outputs (auxiliary heads by `weights`, normalised by the global count of
    valid pixels) plus this replica's share of the L2 weight decay. `scale_loss` (mixed precision's loss scaling)
    scales the loss the gradients are taken of."""
    with tf.GradientTape() as tape:
        outputs = model(images, training=True)
        cross_entropy = segmentation_loss(labels, outputs, ignore_label=ignore_label, weights=weights,
                                          global_num_valid=global_num_valid)
        decay = l2_weight_decay(variables, weight_decay, weight_decay_scope) / num_replicas
        loss = cross_entropy + decay
        scaled = scale_loss(loss) if scale_loss is not None else loss
    gradients = tape.gradient(scaled, variables)
    return {"loss": loss, "cross_entropy": cross_entropy, "weight_decay": decay}, gradients
