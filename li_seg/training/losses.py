"""The training objective: per-pixel softmax cross-entropy with an ignore label, plus L2 weight decay.

Cross-entropy (every paper of PAPERS.md): L = -1/N sum_{p valid} log softmax(z_p)[y_p], where the valid pixels
are those whose label is not `ignore_label` (255) and N is their number. Ignored pixels are masked, never
remapped to a class (DESIGN.md "Ignore label lost"). The loss is computed in float32 even when the model runs in
mixed precision.

Weight decay (TrainConfig.weight_decay): weight_decay * sum_w ||w||^2 / 2 over convolution / dense kernels, as
TF-slim's `l2_regularizer` that research/deeplab's recipes were tuned with (biases, BN and constrained weights
such as the lateral-inhibition intensity W_L, which the LI paper leaves undecayed, are excluded). Scope "all"
(TrainConfig.weight_decay_scope) decays every trainable variable instead, as PyTorch SGD's weight_decay, whose
gradient weight_decay * w is this term's.

Distributed training. Keras optimizers all-reduce gradients with SUM across replicas, so each replica's loss must
be its share of the global objective. The exact global mean over valid pixels is obtained, inside the replica
function, by

    local_valid = tf.reduce_sum(tf.cast(labels != ignore_label, tf.float32))
    global_valid = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, local_valid)
    loss = segmentation_loss(labels, outputs, ignore_label=..., weights=li_seg.models.loss_weights(config),
                             global_num_valid=global_valid)
    loss += l2_weight_decay(model.trainable_variables, weight_decay) / strategy.num_replicas_in_sync

Summing these per-replica losses (and their gradients) gives the loss of the whole global batch, whatever the
number of valid pixels on each replica.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Union

import tensorflow as tf

KERNEL_NAMES = frozenset({"kernel", "depthwise_kernel", "pointwise_kernel"})
KERNEL_PREFIX = "kernel_"  # a layer with several kernels names each "kernel_<what>" (CliqueConv1x1's "kernel_from_3")
WEIGHT_DECAY_SCOPES = ("kernels", "all")


def cross_entropy_sum(labels, logits, ignore_label: int = 255) -> tuple[tf.Tensor, tf.Tensor]:
    """Softmax cross-entropy summed over the valid pixels, and the number of valid pixels.

    Args:
      labels: integer labels (B, H, W) or (B, H, W, 1) of the same spatial size as `logits`; values in
        [0, K) or `ignore_label`.
      logits: (B, H, W, K), any float dtype (cast to float32).
      ignore_label: pixels with this label contribute nothing (neither loss nor count).

    Returns:
      (loss_sum, num_valid), both float32 scalars. Labels outside [0, K) that are not `ignore_label` raise an
      InvalidArgumentError (on CPU; on GPU the op would silently return NaN, so they are checked explicitly).
    """
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    if labels.shape.rank == 4:
        labels = tf.squeeze(labels, axis=-1)
    valid = tf.not_equal(labels, ignore_label)
    safe_labels = tf.where(valid, labels, tf.zeros_like(labels))
    in_range = tf.logical_and(safe_labels >= 0, safe_labels < tf.shape(logits)[-1])
    check = tf.debugging.Assert(
        tf.reduce_all(in_range), [f"labels must be in [0, num_classes) or {ignore_label} (ignore)"]
    )
    with tf.control_dependencies([check]):
        per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe_labels, logits=logits)
    valid = tf.cast(valid, tf.float32)
    return tf.reduce_sum(per_pixel * valid), tf.reduce_sum(valid)


def segmentation_loss(
    labels,
    outputs: Union[tf.Tensor, Mapping[str, tf.Tensor]],
    *,
    ignore_label: int,
    weights: Optional[Mapping[str, float]] = None,
    global_num_valid: Optional[tf.Tensor] = None,
) -> tf.Tensor:
    """Sum over the model's outputs of weight x mean cross-entropy over valid pixels.

    Args:
      labels: (B, H, W[, 1]) integer labels at the logits' resolution.
      outputs: logits (B, H, W, K), or a dict of logits {"logits": ..., "aux_logits": ...} (a model with
        auxiliary heads: `li_seg.models.build_model`), all at the labels' resolution.
      ignore_label: masked label (255).
      weights: output name -> weight (`li_seg.models.loss_weights(model_config)`: 1 for "logits", each aux
        head's loss_weight); None = {"logits": 1}. Every weighted output must be in `outputs`; outputs without a
        weight do not enter the loss. A plain logits tensor is the output "logits".
      global_num_valid: the number of valid pixels of the whole global batch (see the module docstring). When
        given, the sums are divided by it, so that summing the per-replica losses yields the exact global mean;
        when None, by this call's own count.

    Returns:
      A float32 scalar; 0 (not NaN) when no pixel is valid.
    """
    outputs = outputs if isinstance(outputs, Mapping) else {"logits": outputs}
    weights = {"logits": 1.0} if weights is None else weights
    missing = sorted(set(weights) - set(outputs))
    if missing:
        raise ValueError(f"segmentation_loss: outputs {missing} have a loss weight but the model has no such output "
                         f"(it returns {sorted(outputs)})")
    total = tf.constant(0.0, tf.float32)
    num_valid = None
    for name, weight in weights.items():
        loss_sum, num_valid = cross_entropy_sum(labels, outputs[name], ignore_label)
        total += weight * loss_sum
    denominator = num_valid if global_num_valid is None else tf.cast(global_num_valid, tf.float32)
    return tf.math.divide_no_nan(total, denominator)


def weight_decay_variables(variables: Iterable, scope: str = "kernels") -> list:
    """The variables L2 weight decay applies to. scope "kernels" (TrainConfig.weight_decay_scope's default):
    trainable, unconstrained kernels (conv, depthwise, pointwise, dense); "all": every trainable variable (PyTorch
    SGD's weight_decay: biases, BN scales and offsets, DifNet's mu / beta logits too).

    Keras 3 names a variable by its attribute ("kernel", "depthwise_kernel", ...); `.path` adds the layer
    ("block_1_depthwise/kernel"); a layer holding several kernels names each "kernel_<what>" (CycleASPP's
    per-source 1x1 kernels "kernel_from_<i>"). Biases, BN gamma/beta, moving statistics and variables carrying a
    constraint (the LI intensity W_L, kept in [0, 1]) are left out.
    """
    if scope not in WEIGHT_DECAY_SCOPES:
        raise ValueError(f"weight decay scope {scope!r} is not one of {list(WEIGHT_DECAY_SCOPES)}")
    if scope == "all":
        return [v for v in variables if v.trainable]
    return [
        v
        for v in variables
        if v.trainable and (v.name in KERNEL_NAMES or v.name.startswith(KERNEL_PREFIX))
        and getattr(v, "constraint", None) is None
    ]


def l2_weight_decay(variables: Iterable, weight_decay: float, scope: str = "kernels") -> tf.Tensor:
    """weight_decay * sum(w ** 2) / 2 over `weight_decay_variables(variables, scope)` (TF-slim `l2_regularizer`),
    float32."""
    selected = weight_decay_variables(variables, scope)
    if weight_decay == 0.0 or not selected:
        return tf.constant(0.0, tf.float32)
    return weight_decay * tf.add_n([tf.nn.l2_loss(tf.cast(v, tf.float32)) for v in selected])
