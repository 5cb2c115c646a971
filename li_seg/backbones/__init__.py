"""Feature extractors for segmentation: MobileNetV2 and ResNet-18 / 34 / 50 / 101 / 152 v1, at output stride 8,
16 or 32, returning every stage by name.

`build_backbone(config, bn, name=None)` returns a Keras model that takes RGB images (B, H, W, 3) in [0, 255] of
any size, normalises them inside (`BackboneConfig.normalization`) and returns the dict of ENDPOINTS:
- "input": the normalised image (stride 1);
- "stem": the stem's output (stride 2);
- "block1" ... "block4": each block's output (MobileNetV2: the last inverted residual block of strides 4, 8, 16,
  32), at the stride `endpoint_strides(config)` gives (capped by the output stride);
- "low_level": the last stride-4 feature research/deeplab's DeepLabv3+ decoder reads.
Sizes are ceil(H / stride) x ceil(W / stride), except the caffe layout's ceil-mode max-pool (floor(H / 4) + 1
after the stem: `li_seg.backbones.resnet_plan`).

`name` names the model and, when it differs from `config.name`, scopes its variables ("similarity/conv1/kernel"),
so two backbones of one kind can sit in one model (DifNet's seed and similarity ResNets).

Building is not loading: `build_backbone` constructs, with the BN epsilon and normalisation the config holds, and
records its config on the model (`backbone.backbone_config`); `li_seg.backbones.pretrained` resolves those from a
pretrained file into the config and loads the file into every backbone that names it.

The backbones know no paper. The options of `BackboneConfig` that insert layers into units are unit hooks
(`li_seg.layers.unit_hook`), listed in UNIT_HOOKS: LI-Convs' lateral inhibition and the smoothing of dilated
convs. A new option of that kind is a `UnitHookProvider` in its layer's module and one entry there.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Optional

import keras

from li_seg.backbones import mobilenet_v2, resnet_plan
from li_seg.backbones.input_normalization import NORMALIZATIONS
from li_seg.backbones.mobilenet_v2 import UNIT_POSITIONS, build_mobilenet_v2
from li_seg.backbones.output_stride import OUTPUT_STRIDES
from li_seg.backbones.resnet import build_resnet
from li_seg.config import BackboneConfig, choice_errors
from li_seg.layers.inhibition import INHIBITION_UNIT_HOOK
from li_seg.layers.normalization import BatchNormSettings
from li_seg.layers.smoothing import SMOOTHING_UNIT_HOOK
from li_seg.weights import FORMATS

BACKBONES = ("mobilenet_v2",) + tuple(resnet_plan.RESNETS)
ENDPOINTS = ("input", "stem", "block1", "block2", "block3", "block4", "low_level")
UNIT_HOOKS = (INHIBITION_UNIT_HOOK, SMOOTHING_UNIT_HOOK)  # in the order they wrap a unit's conv
# the layers the hooks add, which no pretrained file holds (`li_seg.weights` leaves them at their initialisation)
NEW_LAYERS = tuple(pattern for provider in UNIT_HOOKS for pattern in provider.new_layers)

__all__ = [
    "BACKBONES", "ENDPOINTS", "NEW_LAYERS", "UNIT_HOOKS", "backbone_errors", "build_backbone", "endpoint_strides",
    "family", "unit_positions",
]


def family(name: str) -> str:
    """"mobilenet_v2" or "resnet"."""
    return "mobilenet_v2" if name == "mobilenet_v2" else "resnet"


def unit_positions(name: str) -> tuple[str, ...]:
    """The units of backbone `name` in the papers' names: "rb1" ... "rb17", or "conv2_1" ... "conv5_<n>"."""
    if name == "mobilenet_v2":
        return UNIT_POSITIONS
    return tuple(resnet_plan.unit_positions(name))


def endpoint_strides(config: BackboneConfig) -> dict[str, int]:
    """The stride of every endpoint of the backbone `config` describes."""
    if config.name == "mobilenet_v2":
        return mobilenet_v2.endpoint_strides(config.output_stride)
    return resnet_plan.endpoint_strides(config.name, config.layout, config.output_stride)


def backbone_errors(config: BackboneConfig, where: str = "model.backbone") -> list[str]:
    """What is wrong with `config` (every problem, with the valid values); `where` prefixes the keys. Every
    choice is checked, including those only ResNets read."""
    errors = choice_errors(f"{where}.name", config.name, BACKBONES)
    errors += choice_errors(f"{where}.output_stride", config.output_stride, OUTPUT_STRIDES)
    errors += choice_errors(f"{where}.layout", config.layout, resnet_plan.LAYOUTS)
    errors += choice_errors(f"{where}.stem", config.stem, resnet_plan.STEMS)
    if config.weights_format is not None:
        errors += choice_errors(f"{where}.weights_format", config.weights_format, FORMATS)
    if config.bn_epsilon is not None and not config.bn_epsilon > 0:
        errors.append(f"{where}.bn_epsilon must be positive, got {config.bn_epsilon}")
    if config.normalization is not None:
        errors += choice_errors(f"{where}.normalization", config.normalization, NORMALIZATIONS)
    if len(config.stem_widths) != 3 or any(w < 1 for w in config.stem_widths):
        errors.append(f"{where}.stem_widths needs 3 positive widths, got {list(config.stem_widths)}")
    elif config.stem == "plain" and config.stem_widths != BackboneConfig.stem_widths:
        errors.append(f"{where}.stem_widths sets the 'beta' stem's widths; the 'plain' stem is one 7x7 conv 64")
    if config.name == "mobilenet_v2" and config.multi_grid is not None:
        errors.append(f"{where}.multi_grid applies to ResNet's last block only, not to mobilenet_v2")
    elif config.name in resnet_plan.RESNETS and config.multi_grid is not None:
        last_block = resnet_plan.units(config.name)[-1]
        if len(config.multi_grid) != last_block or min(config.multi_grid) < 1:
            errors.append(f"{where}.multi_grid needs {last_block} positive rates (block4's units), got "
                          f"{list(config.multi_grid)}")
    if config.first_unit_dilated is not None and (config.name not in resnet_plan.RESNETS or config.layout == "slim"):
        errors.append(f"{where}.first_unit_dilated applies to ResNets in the torchvision or caffe layout (slim's "
                      f"stride sits in a block's last unit), not to {config.name} / {config.layout}")
    if config.name in BACKBONES:
        for provider in UNIT_HOOKS:
            errors += provider.errors(config, family(config.name), unit_positions(config.name), where)
    return errors


def build_backbone(config: BackboneConfig, bn: BatchNormSettings, name: Optional[str] = None) -> keras.Model:
    """The backbone `config` describes, its BN layers built from `bn` (with `config.bn_epsilon` when set), its unit
    hooks from `config`'s options (UNIT_HOOKS), named `name` (default `config.name`; another name also scopes its
    variables). Reads no file: `config.weights` is loaded by `li_seg.backbones.pretrained.load_pretrained`, after
    `resolve_pretrained` gave the config the weights' BN epsilon and normalisation (a config with weights but
    without a resolved `weights_format` is refused, so that no backbone is built with another network's
    conventions by mistake). Raises ValueError naming every problem of an invalid config (`backbone_errors`).
    """
    errors = backbone_errors(config, "backbone")
    if config.weights and config.weights_format is None:
        errors.append(f"backbone.weights={config.weights!r} is not resolved (its format, BN epsilon and "
                      "normalisation come from the file): build it with li_seg.backbones.pretrained."
                      "build_pretrained_backbone, or li_seg.models.build_pretrained_model for a whole model")
    if errors:
        raise ValueError("invalid backbone configuration:\n  - " + "\n  - ".join(errors))
    if config.bn_epsilon is not None:
        bn = dataclasses.replace(bn, epsilon=config.bn_epsilon)
    name = name or config.name
    scope = keras.name_scope(name) if name != config.name else contextlib.nullcontext()
    with scope:
        hooks = [hook for provider in UNIT_HOOKS if (hook := provider.build(config, family(config.name)))]
        build = build_mobilenet_v2 if config.name == "mobilenet_v2" else build_resnet
        backbone = build(config, bn, hooks, name)
    backbone.backbone_config = config
    return backbone
