"""`build_model`: backbone -> head -> optional auxiliary heads, for every registered architecture.

The output contract (README "Models"):
- A model without auxiliary heads returns its logits (B, H, W, num_classes), float32, at the input's size.
- A model with auxiliary heads returns {"logits": ..., <AuxHeadConfig.name>: ...} (all at the input's size).
  Training reads the dict: the loss of each output is weighted by `loss_weights(config)` (1 for "logits", the
  aux head's `loss_weight` for the others). Everything else (evaluation, inference, image summaries, the
  SavedModel's serving signature) reads the logits through `main_logits`, the one place that does; the
  evaluator and the exporter run `inference_model(model)`, the sub-model of the logits without the auxiliary
  heads, so the SavedModel holds neither their computation nor their weights.
"""

from __future__ import annotations

import dataclasses

import keras

from li_seg.backbones import ENDPOINTS, backbone_errors, build_backbone
from li_seg.backbones.pretrained import load_pretrained, open_pretrained, resolve_pretrained
from li_seg.config import ModelConfig, choice_errors
from li_seg.layers.normalization import BatchNormSettings
from li_seg.layers.resize import ResizeToMatch
from li_seg.models import registry
from li_seg.models.aux_head import aux_head_errors, build_aux_head

MAIN_OUTPUT = "logits"


def model_errors(config: ModelConfig, where: str = "model") -> list[str]:
    """What is wrong with `config`: its architecture, backbone, head, auxiliary heads and BN settings, each checked
    where it is defined, every problem at once with the valid values."""
    errors = choice_errors(f"{where}.architecture", config.architecture, registry.names())
    config = registry.with_default_head(config)
    if not errors:
        expected = registry.get(config.architecture).config_class
        if type(config.head) is not expected:
            errors.append(f"{where}.head is a {type(config.head).__name__}; architecture {config.architecture!r} "
                          f"takes a {expected.__name__}")
        else:
            errors += config.head.errors(config, f"{where}.head")
    errors += backbone_errors(config.backbone, f"{where}.backbone")
    errors += aux_head_errors(config.aux_heads, ENDPOINTS, f"{where}.aux_heads")
    if config.frozen_bn and config.sync_bn:
        errors.append(f"{where}.frozen_bn and {where}.sync_bn contradict each other "
                      "(frozen BN has no batch statistics)")
    if config.bn_momentum is not None and not 0.0 <= config.bn_momentum < 1.0:
        errors.append(f"{where}.bn_momentum must be in [0, 1), got {config.bn_momentum}")
    return errors


def loss_weights(config: ModelConfig) -> dict[str, float]:
    """The weight of each output in the training loss: {"logits": 1.0, <aux head name>: its loss_weight, ...}."""
    return {MAIN_OUTPUT: 1.0, **{head.name: head.loss_weight for head in config.aux_heads}}


def main_logits(outputs):
    """The logits of a model's outputs: the tensor itself, or the dict's "logits" (models with aux heads)."""
    return outputs[MAIN_OUTPUT] if isinstance(outputs, dict) else outputs


def inference_model(model: keras.Model) -> keras.Model:
    """`model` as inference reads it: its logits only. A model with auxiliary heads gives the sub-model of its main
    logits (the same layers and weights; the auxiliary heads are not part of it), others are returned as they are."""
    if not isinstance(model.output, dict):
        return model
    return keras.Model(model.input, main_logits(model.output), name=model.name)


def build_model(config: ModelConfig, num_classes: int) -> keras.Model:
    """The model `config` describes: float RGB images (B, H, W, 3) in [0, 255] of any H, W -> logits
    (B, H, W, num_classes), float32 (also under a mixed-precision policy); with auxiliary heads a dict with
    "logits" and one entry per head (see the module docstring). Named after the architecture. Constructs only:
    no file is read (pretrained backbone weights: `build_pretrained_model`).

    Raises ValueError naming every problem of an invalid config (`model_errors`).
    """
    errors = model_errors(config)
    if errors:
        raise ValueError("invalid model configuration:\n  - " + "\n  - ".join(errors))
    config = registry.with_default_head(config)
    bn = BatchNormSettings.from_model_config(config)
    backbone = build_backbone(config.backbone, bn)
    images = keras.Input((None, None, 3), name="images")
    features = backbone(images)
    logits = registry.get(config.architecture).build_head(config, features, images, num_classes, bn)
    align_corners = getattr(config.head, "align_corners", False)  # a head that resizes as research/deeplab
    outputs = ResizeToMatch(align_corners, dtype="float32", name="upsample_logits")([logits, images])
    if config.aux_heads:
        outputs = {MAIN_OUTPUT: outputs}
        for head in config.aux_heads:
            outputs[head.name] = build_aux_head(head, features, images, num_classes, bn)
    return keras.Model(images, outputs, name=config.architecture)


def build_pretrained_model(config: ModelConfig, num_classes: int) -> keras.Model:
    """`build_model` with the backbone's pretrained weights (`config.backbone.weights`) resolved into the config and
    loaded (`li_seg.backbones.pretrained`; the file is read once): what a run starting from nothing trains. Without
    weights it is `build_model`."""
    opened = open_pretrained(config.backbone)
    config = dataclasses.replace(config, backbone=resolve_pretrained(config.backbone, opened))
    model = build_model(config, num_classes)
    load_pretrained(model, opened)
    return model
