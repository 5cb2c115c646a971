"""Each paper's table rows at a size the 2-core test machines can train a step of, shared by the XLA, mixed
precision and replica tests: ResNet-18 where the paper has a ResNet, CycleASPP at ResNet-18's scale, dropout off
(its random draws differ between the runs compared) and the deformable convs' offsets started fractional (at
zero every sample sits on an integer position, where the samplers' one-sided derivatives may differ)."""

from __future__ import annotations

import dataclasses
import re

import keras
import numpy as np
import tensorflow as tf

from experiments.papers import get_experiment
from li_seg.config import ModelConfig
from li_seg.layers.deformable import ModulatedDeformableConv2D
from li_seg.layers.diagnostics import model_layers

PAPERS = ("li_convs", "smoothing", "pan", "cyclenet", "difnet")


def small_config(paper: str, ablation: str) -> ModelConfig:
    """The table row's model config with ResNet-18 for a ResNet and CycleASPP 64 / 32 wide (DenseNet-121's 128 /
    64 would do too); MobileNetV2 stays as it is. ResNet-18 has two units per block: a multi-grid keeps its first
    two rates and an LI position past a block's second unit moves to it (LI-ResNet-50's conv5_3 -> conv5_2)."""
    model_config = get_experiment(paper, ablation).model
    backbone = model_config.backbone
    if backbone.name != "mobilenet_v2":
        positions = tuple(re.sub(r"^conv(\d)_(\d+)$", lambda m: f"conv{m[1]}_{min(int(m[2]), 2)}", position)
                          for position in backbone.inhibition_positions)
        backbone = dataclasses.replace(backbone, name="resnet18", inhibition_positions=positions,
                                       multi_grid=backbone.multi_grid and tuple(backbone.multi_grid[:2]))
    head = model_config.head
    if paper == "cyclenet":
        head = dataclasses.replace(head, cycle_aspp=dataclasses.replace(head.cycle_aspp, bottleneck_channels=64,
                                                                        growth_channels=32))
    return dataclasses.replace(model_config, backbone=backbone, head=head)


def prepare(model: keras.Model, rng: np.random.Generator) -> keras.Model:
    """Dropout off (SpatialDropout2D included) and the deformable convs' offset biases uniform in [0.1, 0.4]."""
    for layer in model_layers(model):
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
        if isinstance(layer, ModulatedDeformableConv2D):
            layer.offset_conv.bias.assign(rng.uniform(0.1, 0.4, layer.offset_conv.bias.shape))
    return model


def batch(rng: np.random.Generator, batch_size: int, size: int, classes: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Images uniform in [0, 255] and labels uniform over the classes."""
    images = tf.constant(rng.uniform(0, 255, (batch_size, size, size, 3)), tf.float32)
    labels = tf.constant(rng.integers(0, classes, (batch_size, size, size)), tf.int32)
    return images, labels
