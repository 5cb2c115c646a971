"""The normalisation of raw RGB images in [0, 255] at the start of every backbone, as its weights expect.

The models take raw RGB pixels and normalise inside (DESIGN.md), so an exported model needs no preprocessing. The
convention belongs to the pretrained weights, so it is a backbone setting (`BackboneConfig.normalization`):

- "unit_range": x / 127.5 - 1 (keras.applications' MobileNetV2, research/deeplab's MobileNetV2);
- "mean_rgb": x - research/deeplab's mean RGB (123.15, 115.90, 103.06) (its ResNets; the TF-slim layout);
- "imagenet": (x / 255 - mean) / std with torchvision's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225);
- "caffe_bgr": channels reversed to BGR, minus the Caffe mean (104.008, 116.669, 122.679) (DeepLabv2's Caffe
  models; DifNet's released code, which feeds that to torchvision's weights);
- "caffe_bgr_keras": channels reversed to BGR, minus keras.applications' mean (103.939, 116.779, 123.68)
  (`keras.applications.resnet.preprocess_input`, mode "caffe": its ResNet50 / 101 / 152 weights).

Pretrained weights bring their convention (`li_seg.weights.Mapping.normalization`, resolved into the config by
`li_seg.backbones.pretrained`), as they bring their BN epsilon.

Each is one `Rescaling` layer named "preprocess" (after a `ReverseChannels` for "caffe_bgr"), computed in float32.
"""

from __future__ import annotations

import keras

from li_seg.analysis.flops import register_flop_rule, zero_flops
from li_seg.backbones import resnet_plan

NORMALIZATIONS = ("unit_range", "mean_rgb", "imagenet", "caffe_bgr", "caffe_bgr_keras")
MEAN_RGB = (123.15, 115.90, 103.06)  # research/deeplab feature_extractor._MEAN_RGB
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (104.008, 116.669, 122.679)
KERAS_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # keras.applications imagenet_utils._preprocess_numpy_input


@keras.saving.register_keras_serializable(package="li_seg")
class ReverseChannels(keras.layers.Layer):
    """RGB -> BGR (the last axis reversed)."""

    def call(self, inputs):
        return keras.ops.flip(inputs, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape


register_flop_rule(ReverseChannels)(zero_flops)


def default_normalization(name: str, layout: str) -> str:
    """A backbone's own convention when neither the config nor its weights say otherwise: MobileNetV2 [-1, 1],
    ResNets by layout (`resnet_plan.DEFAULT_NORMALIZATION`)."""
    return "unit_range" if name == "mobilenet_v2" else resnet_plan.DEFAULT_NORMALIZATION[layout]


def normalize_input(images, normalization: str, name: str = "preprocess"):
    """`images` (B, H, W, 3) RGB in [0, 255] normalised by `normalization` (one of NORMALIZATIONS)."""
    if normalization == "unit_range":
        return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, dtype="float32", name=name)(images)
    if normalization == "mean_rgb":
        return keras.layers.Rescaling(1.0, offset=[-m for m in MEAN_RGB], dtype="float32", name=name)(images)
    if normalization == "imagenet":
        scale = [1.0 / (255.0 * s) for s in IMAGENET_STD]
        offset = [-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
        return keras.layers.Rescaling(scale, offset=offset, dtype="float32", name=name)(images)
    if normalization in ("caffe_bgr", "caffe_bgr_keras"):
        mean = CAFFE_MEAN_BGR if normalization == "caffe_bgr" else KERAS_CAFFE_MEAN_BGR
        bgr = ReverseChannels(dtype="float32", name=f"{name}_rgb_to_bgr")(images)
        return keras.layers.Rescaling(1.0, offset=[-m for m in mean], dtype="float32", name=name)(bgr)
    raise ValueError(f"Unknown normalization {normalization!r}; valid: {list(NORMALIZATIONS)}.")
