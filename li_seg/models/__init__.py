"""Segmentation models: `build_model(model_config, num_classes)` dispatches on `model_config.architecture`."""

from __future__ import annotations

import keras

from li_seg.config import ModelConfig
from li_seg.models.deeplab import ARCHITECTURES as DEEPLAB_ARCHITECTURES
from li_seg.models.deeplab import build_deeplab

_BUILDERS = {name: build_deeplab for name in DEEPLAB_ARCHITECTURES}
ARCHITECTURES = tuple(_BUILDERS)

__all__ = ["ARCHITECTURES", "build_model"]


def build_model(model_config: ModelConfig, num_classes: int) -> keras.Model:
    """The model `model_config.architecture`: float RGB images (B, H, W, 3) in [0, 255] of any H, W ->
    logits (B, H, W, num_classes), float32 (also under a mixed-precision policy).

    Raises ValueError listing the valid architectures for an unknown one.
    """
    if model_config.architecture not in _BUILDERS:
        raise ValueError(f"Unknown architecture {model_config.architecture!r}; valid: {list(ARCHITECTURES)}.")
    return _BUILDERS[model_config.architecture](model_config, num_classes)
