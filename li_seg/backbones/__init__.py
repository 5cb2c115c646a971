"""Feature extractors for segmentation: MobileNetV2 and ResNet-50 / 101 v1 at output stride 8, 16 or 32.

`build_backbone(config, bn)` returns a Keras model that takes RGB images (B, H, W, 3) in [0, 255] of any size,
normalises them inside and returns named endpoints: "low_level" (OS 4, for the DeepLabv3+ decoder) and
"high_level" (OS = config.output_stride). Sizes are ceil(H / stride) x ceil(W / stride).
"""

from __future__ import annotations

import keras

from li_seg.backbones import mobilenet_v2, resnet
from li_seg.backbones.mobilenet_v2 import build_mobilenet_v2
from li_seg.backbones.output_stride import OUTPUT_STRIDES
from li_seg.backbones.resnet import UNITS as RESNET_UNITS
from li_seg.backbones.resnet import build_resnet
from li_seg.backbones.weights import load_backbone_weights
from li_seg.config import BackboneConfig
from li_seg.layers.normalization import BatchNormSettings

BACKBONES = ("mobilenet_v2",) + tuple(sorted(RESNET_UNITS))

__all__ = ["BACKBONES", "build_backbone", "inhibition_positions", "load_backbone_weights"]


def inhibition_positions(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(valid, default) inhibition positions of backbone `name`, in the LI paper's names ("rb10", "conv5_3")."""
    if name == "mobilenet_v2":
        return mobilenet_v2.INHIBITION_POSITIONS, mobilenet_v2.DEFAULT_INHIBITION_POSITIONS
    if name in RESNET_UNITS:
        return tuple(resnet.unit_names(name)), resnet.DEFAULT_INHIBITION_POSITIONS
    raise ValueError(f"Unknown backbone {name!r}; valid: {list(BACKBONES)}.")


def build_backbone(config: BackboneConfig, bn: BatchNormSettings) -> keras.Model:
    """The backbone `config.name` at `config.output_stride`, its BN layers built from `bn`.

    `config.inhibition` goes at `config.inhibition_positions` (empty = the backbone's default positions).
    Loads `config.weights` when set (see `load_backbone_weights`). Raises ValueError for an unknown name, stem,
    output stride or inhibition position, and for multi_grid on MobileNetV2 (it has no block to apply it to).
    """
    if config.output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, got {config.output_stride}.")
    _, default_positions = inhibition_positions(config.name)
    positions = config.inhibition_positions or default_positions
    if config.name == "mobilenet_v2":
        if config.multi_grid is not None:
            raise ValueError("multi_grid applies to ResNet backbones only; set it to None for mobilenet_v2.")
        if config.smoothing is not None:
            raise ValueError("smoothing applies to ResNet backbones only; set it to None for mobilenet_v2.")
        backbone = build_mobilenet_v2(config.output_stride, bn, config.inhibition, positions)
    else:
        backbone = build_resnet(
            config.name, config.output_stride, bn, config.multi_grid, config.stem, config.inhibition, positions,
            config.smoothing,
        )
    if config.weights:
        load_backbone_weights(backbone, config.weights)
    return backbone
