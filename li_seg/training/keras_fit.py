"""Keras-native training: `model.compile(...)` + `model.fit(dataset)` for every model `li_seg.models` builds.

    model = li_seg.models.build_model(config, num_classes)
    compile_for_segmentation(model, config, keras.optimizers.Adam(1e-3))
    model.fit(fit_dataset(li_seg.data.build_dataset(data_config, "train", training=True, batch_size=8), model),
              steps_per_epoch=100, epochs=3)

The objective is the trainer's (`li_seg.training.losses`, without weight decay): per output, softmax cross-entropy
averaged over the pixels whose label is not the ignore label (`SegmentationLoss`), and a model with auxiliary
heads (a dict of outputs) through Keras' dict losses, weighted by `li_seg.models.loss_weights(config)`. L2 weight
decay is the trainer's (`experiments.train`); with model.fit, use an optimizer's decoupled `weight_decay`. The
trainer stays the reference for the papers' recipes (layer-wise learning rates, distribution, resuming).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from li_seg.config import ModelConfig
from li_seg.models import loss_weights
from li_seg.training.losses import cross_entropy_sum


@keras.saving.register_keras_serializable(package="li_seg")
class SegmentationLoss(keras.losses.Loss):
    """Mean softmax cross-entropy over the valid pixels of the batch (labels (B, H, W) ints; `ignore_label`
    pixels count neither in the sum nor in the mean), computed in float32: `li_seg.training.losses`'s term."""

    def __init__(self, ignore_label: int = 255, name: str = "segmentation_loss", **kwargs):
        super().__init__(name=name, reduction="sum", **kwargs)
        self.ignore_label = ignore_label

    def call(self, y_true, y_pred):
        total, valid = cross_entropy_sum(y_true, y_pred, self.ignore_label)
        return total / tf.maximum(valid, 1.0)

    def get_config(self):
        return {**super().get_config(), "ignore_label": self.ignore_label}


def compile_for_segmentation(model: keras.Model, config: ModelConfig, optimizer, ignore_label: int = 255,
                             jit_compile: bool = False, **compile_kwargs) -> None:
    """model.compile with `SegmentationLoss` on every output (a dict for a model with auxiliary heads) and the
    outputs' weights from `config` (1 for the logits, each auxiliary head's loss_weight). XLA off unless asked
    (Keras' "auto" compiles on CPU too, where it is slower: BUILD_NOTES 19.1; on a GPU pass jit_compile=True)."""
    compile_kwargs["jit_compile"] = jit_compile
    weights = loss_weights(config)
    if isinstance(model.output, dict):
        losses = {name: SegmentationLoss(ignore_label, name=f"{name}_loss") for name in model.output}
        model.compile(optimizer=optimizer, loss=losses, loss_weights={name: weights[name] for name in losses},
                      **compile_kwargs)
    else:
        model.compile(optimizer=optimizer, loss=SegmentationLoss(ignore_label), **compile_kwargs)


def fit_dataset(dataset: tf.data.Dataset, model: keras.Model) -> tf.data.Dataset:
    """`li_seg.data.build_dataset`'s {"image", "label"} batches as the (images, targets) pairs model.fit takes:
    the label for the logits, or the same label for every output of a model with auxiliary heads."""
    names = list(model.output) if isinstance(model.output, dict) else None

    def pair(batch):
        label = batch["label"]
        return batch["image"], ({name: label for name in names} if names else label)

    return dataset.map(pair, num_parallel_calls=tf.data.AUTOTUNE)
