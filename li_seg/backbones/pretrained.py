"""Pretrained backbone weights: resolved into the config when a run is set up, loaded once when it starts fresh.

Building is not loading (as mmsegmentation's `init_weights`): `build_backbone` / `build_model` only construct,
with the BN epsilon and input normalisation the config holds. A run first resolves them from the weights file
(`resolve_pretrained`: the file's network's values where the config leaves them unset), records them in
config.json, and loads the file when it starts from nothing (`load_pretrained`, from the same `PretrainedFile`:
the file is read once per run). Evaluation, export, prediction and a resumed run build from config.json and
restore their own checkpoint: they never read the pretrained file.

An explicit normalisation that contradicts the weights' is refused (the features would be off: keras.applications'
ResNets subtract another Caffe mean than DeepLabv2's) unless `allow_normalization_mismatch` says it is meant (DifNet's
released code feeds Caffe-normalised BGR to torchvision's weights).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import keras

from li_seg.backbones import NEW_LAYERS, build_backbone, family
from li_seg.backbones.input_normalization import default_normalization
from li_seg.config import BackboneConfig
from li_seg.layers.diagnostics import model_layers
from li_seg.layers.normalization import BatchNormSettings
from li_seg.weights import PretrainedFile, WeightsError, load_backbone_weights, open_backbone_weights, published


def weights_path(config: BackboneConfig) -> str:
    """The local file of `config.weights`: the path itself, or a published name's verified copy (fetched once into
    the Keras cache: `li_seg.weights.published`)."""
    return published.fetch(config.weights) if published.is_published(config.weights) else config.weights


def open_pretrained(config: BackboneConfig) -> Optional[PretrainedFile]:
    """`config.weights` (a path or a published name) read and checked (None without weights); WeightsError naming
    the problem."""
    if not config.weights:
        return None
    opened = open_backbone_weights(weights_path(config), family(config.name), config.weights_format,
                                   config.allow_non_finite_weights)
    return dataclasses.replace(opened, source=config.weights)


def resolve_pretrained(config: BackboneConfig, opened: Optional[PretrainedFile] = None) -> BackboneConfig:
    """`config` with its weights' format, BN epsilon and normalisation filled in where unset (the file is read
    unless `opened` is given); unchanged without weights. Raises WeightsError for a normalisation that contradicts
    the weights' (unless `config.allow_normalization_mismatch`)."""
    if not config.weights:
        return config
    opened = opened or open_pretrained(config)
    normalization = config.normalization
    if normalization is None:
        normalization = opened.normalization or default_normalization(config.name, config.layout)
    elif opened.normalization not in (None, normalization) and not config.allow_normalization_mismatch:
        raise WeightsError(
            f"{opened.path} holds weights trained on inputs normalised as {opened.normalization!r} "
            f"({opened.mapping.name}), but model.backbone.normalization is {normalization!r}: leave it unset (the "
            f"weights' is used), or set model.backbone.allow_normalization_mismatch=true if the mismatch is meant")
    epsilon = config.bn_epsilon if config.bn_epsilon is not None else opened.bn_epsilon
    return dataclasses.replace(config, weights_format=opened.fmt, normalization=normalization, bn_epsilon=epsilon)


def pretrained_backbones(model: keras.Model) -> list[keras.Model]:
    """The backbones of `model` (itself included) built from a config that names pretrained weights."""
    candidates = [model, *model_layers(model)]
    return [m for m in candidates if getattr(getattr(m, "backbone_config", None), "weights", None)]


def load_pretrained(model: keras.Model, opened: Optional[PretrainedFile] = None) -> int:
    """Loads every pretrained backbone of `model` (`pretrained_backbones`: DifNet has two, from the same file) from
    its file, `opened` when it is that file (else read once here); the layers a paper adds to a backbone (LI,
    smoothing: NEW_LAYERS) keep their initialisation. Returns how many backbones were loaded."""
    backbones = pretrained_backbones(model)
    files: dict[str, PretrainedFile] = {opened.source or opened.path: opened} if opened else {}
    for backbone in backbones:
        config = backbone.backbone_config
        if config.weights not in files:  # keyed by what the config names: a published name is fetched once
            files[config.weights] = open_pretrained(config)
        load_backbone_weights(backbone, files[config.weights], new_layers=NEW_LAYERS)
    return len(backbones)


def build_pretrained_backbone(config: BackboneConfig, bn: BatchNormSettings, name: Optional[str] = None
                              ) -> keras.Model:
    """`build_backbone` of `config` with its weights resolved and loaded (reads the file once)."""
    opened = open_pretrained(config)
    backbone = build_backbone(resolve_pretrained(config, opened), bn, name)
    load_pretrained(backbone, opened)
    return backbone
