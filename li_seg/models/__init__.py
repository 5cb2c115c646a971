"""Segmentation models: `build_model(model_config, num_classes)` for every registered architecture.

Registering an architecture (its head config class and head builder, `li_seg.models.registry`) is all a new
paper's model needs here; `build_model` composes backbone -> head -> auxiliary heads for any of them.
"""

from __future__ import annotations

from li_seg.models import cyclenet, deeplab, difnet, pan, registry
from li_seg.models.builder import (
    build_model, build_pretrained_model, inference_model, loss_weights, main_logits, model_errors,
)

for _name in deeplab.ARCHITECTURES:
    registry.register(_name, deeplab.DeepLabConfig, deeplab.build_head)
registry.register(pan.ARCHITECTURE, pan.PanConfig, pan.build_head)
registry.register(cyclenet.ARCHITECTURE, cyclenet.CycleNetConfig, cyclenet.build_head)
registry.register(difnet.ARCHITECTURE, difnet.DifNetConfig, difnet.build_head)


def architectures() -> tuple[str, ...]:
    """The registered architectures."""
    return registry.names()


__all__ = ["architectures", "build_model", "build_pretrained_model", "inference_model", "loss_weights", "main_logits",
           "model_errors"]
