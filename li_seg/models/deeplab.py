"""DeepLabv2, DeepLabv3 and DeepLabv3+ (Chen et al. 2017, 2017, 2018) on a `li_seg.backbones` feature extractor.

- deeplabv2: backbone "high_level" -> ASPP-v2 (3x3 convs with bias to the classes at each rate, summed).
- deeplabv3: backbone "high_level" -> ASPP-v3 -> "logits" 1x1 conv with bias.
- deeplabv3plus: ASPP-v3 output upsampled to the "low_level" features' size; low-level -> 1x1 conv (48, no bias)
  -> BN -> ReLU ("decoder_feature_projection"); concatenated; two 3x3 convs (256; depthwise-separable when
  decoder_separable, as research/deeplab) -> "logits" 1x1 conv with bias.

LI-Convs (Wang et al.): `aspp_inhibition` makes the v3 ASPP an LI-ASPP (or RD-ASPP): each atrous branch reads
ReLU(features) -> LI -> ReLU (the rectified features computed once), the image-pooling and 1x1 branches the
features as they are; with `aspp_input_relu` (the authors' code) every branch reads ReLU(features). LI in the
backbone is the backbone's business (`BackboneConfig.inhibition`).

The logits are resized bilinearly to the input's size with half-pixel centres (tf.image.resize); DeepLab's TF1
code used align_corners=True (see `li_seg.layers.resize`). The final resize runs in float32, so the output is
float32 under a mixed_float16 policy too. Inputs: RGB (B, H, W, 3) floats in [0, 255], any H and W; outputs:
logits (B, H, W, num_classes).
"""

from __future__ import annotations

import keras

from li_seg.backbones import build_backbone
from li_seg.config import ModelConfig
from li_seg.layers.aspp import BN_EPSILON, aspp_v2, aspp_v3, conv_bn_relu, separable_conv_bn_relu
from li_seg.layers.inhibition import inhibit
from li_seg.layers.normalization import BatchNormSettings, batch_norm
from li_seg.layers.resize import ResizeToMatch

ARCHITECTURES = ("deeplabv2", "deeplabv3", "deeplabv3plus")


def _aspp_v3(config: ModelConfig, features, bn):
    """ASPP-v3, or LI-ASPP / RD-ASPP when config.aspp_inhibition is set."""
    pre_atrous, atrous_input = None, None
    if config.aspp_inhibition is not None:
        def pre_atrous(x, prefix):  # the atrous input is rectified already (below)
            return inhibit(x, config.aspp_inhibition, prefix, input_relu=False)

        if config.aspp_input_relu:
            features = keras.layers.ReLU(name="aspp_input_relu")(features)
        else:
            atrous_input = keras.layers.ReLU(name="aspp_atrous_input_relu")(features)
    return aspp_v3(
        features,
        bn,
        rates=config.atrous_rates,
        channels=config.aspp_channels,
        separable=config.aspp_separable,
        image_pooling=config.image_pooling,
        dropout_rate=config.dropout_rate,
        pre_atrous=pre_atrous,
        atrous_input=atrous_input,
    )


def _decoder(config: ModelConfig, high_level, low_level, bn):
    """research/deeplab's refine_by_decoder (one low-level feature): returns the refined OS-4 features."""
    low = keras.layers.Conv2D(
        config.low_level_channels, 1, use_bias=False, name="decoder_feature_projection"
    )(low_level)
    low = batch_norm(bn, BN_EPSILON, "decoder_feature_projection_bn")(low)
    low = keras.layers.ReLU(name="decoder_feature_projection_relu")(low)
    high = ResizeToMatch(name="decoder_upsample")([high_level, low])
    x = keras.layers.Concatenate(name="decoder_concat")([high, low])
    for index in range(2):
        name = f"decoder_conv{index}"
        if config.decoder_separable:
            x = separable_conv_bn_relu(x, config.decoder_channels, bn, name)
        else:
            x = conv_bn_relu(x, config.decoder_channels, 3, bn, name)
    return x


def _logits(x, num_classes):
    return keras.layers.Conv2D(
        num_classes, 1, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.01), name="logits"
    )(x)


def build_deeplab(config: ModelConfig, num_classes: int) -> keras.Model:
    """The DeepLab `config.architecture` (one of ARCHITECTURES), named after it."""
    if config.architecture not in ARCHITECTURES:
        raise ValueError(f"Unknown DeepLab architecture {config.architecture!r}; valid: {list(ARCHITECTURES)}.")
    bn = BatchNormSettings.from_model_config(config)
    backbone = build_backbone(config.backbone, bn)
    images = keras.Input((None, None, 3), name="images")
    features = backbone(images)
    if config.architecture == "deeplabv2":
        logits = aspp_v2(features["high_level"], num_classes, rates=config.atrous_rates)
    else:
        x = _aspp_v3(config, features["high_level"], bn)
        if config.architecture == "deeplabv3plus":
            x = _decoder(config, x, features["low_level"], bn)
        logits = _logits(x, num_classes)
    outputs = ResizeToMatch(dtype="float32", name="upsample_logits")([logits, images])
    return keras.Model(images, outputs, name=config.architecture)
