"""Batch normalisation as the recipes configure it: one settings object, one factory.

Every backbone and head builds its BN layers through `batch_norm(settings, epsilon, name)`, so the recipe's
momentum, synchronisation across replicas and freezing apply to the whole model at once. The epsilon stays a
per-call argument because it belongs to the structure being reproduced (keras.applications' MobileNetV2: 1e-3;
TF-slim ResNet and research/deeplab's ASPP / decoder: 1e-5).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import keras

from li_seg.config import ModelConfig

DEFAULT_MOMENTUM = 0.99


@dataclasses.dataclass(frozen=True)
class BatchNormSettings:
    """How every BN layer of a model is built.

    momentum: Keras convention, moving = momentum * moving + (1 - momentum) * batch.
    synchronized: statistics all-reduced across replicas (keras BatchNormalization(synchronized=True)).
    frozen: the layer is not trainable; Keras 3 then also runs it in inference mode (moving statistics used and
      never updated), as in the DeepLabv2 recipe.
    epsilon: overrides the structure's epsilon (a backbone's, set to its pretrained weights' by
      `li_seg.backbones.build_backbone`); None = the structure's.
    """

    momentum: float = DEFAULT_MOMENTUM
    synchronized: bool = False
    frozen: bool = False
    epsilon: Optional[float] = None

    @classmethod
    def from_model_config(cls, config: ModelConfig) -> "BatchNormSettings":
        """The settings of `config` (bn_momentum None reads as 0.99)."""
        momentum = DEFAULT_MOMENTUM if config.bn_momentum is None else config.bn_momentum
        return cls(momentum=momentum, synchronized=config.sync_bn, frozen=config.frozen_bn)


def batch_norm(settings: BatchNormSettings, epsilon: float, name: str) -> keras.layers.BatchNormalization:
    """A BatchNormalization layer (scale and centre on) built from `settings`, with the structure's `epsilon`
    unless the settings override it."""
    layer = keras.layers.BatchNormalization(
        momentum=settings.momentum, epsilon=epsilon if settings.epsilon is None else settings.epsilon,
        synchronized=settings.synchronized, name=name,
    )
    layer.trainable = not settings.frozen
    return layer
