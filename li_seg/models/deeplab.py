"""DeepLabv2, DeepLabv3 and DeepLabv3+ heads (Chen et al. 2017, 2017, 2018): their config and their builder.

- deeplabv2: backbone "block4" -> ASPP-v2 (3x3 convs with bias to the classes at each rate, summed).
- deeplabv3: backbone "block4" -> ASPP-v3 -> "logits" 1x1 conv with bias.
- deeplabv3plus: ASPP-v3 output upsampled to the backbone's "low_level" features' size; low-level -> 1x1 conv
  (48, no bias) -> BN -> ReLU ("decoder_feature_projection"); concatenated; two 3x3 convs (256; depthwise-
  separable when decoder_separable, as research/deeplab) -> "logits" 1x1 conv with bias.

LI-Convs (Wang et al.): `aspp_inhibition` makes the v3 ASPP an LI-ASPP (or RD-ASPP): each atrous branch reads
ReLU(features) -> LI -> ReLU (the rectified features computed once), the image-pooling and 1x1 branches the
features as they are; with `aspp_input_relu` (the authors' code) every branch reads ReLU(features). LI in the
backbone is a backbone option (`BackboneConfig.inhibition`).

`li_seg.models.build_model` resizes the logits to the input (`li_seg.models.builder`).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import keras

from li_seg.config import HeadConfig, InhibitionConfig, choice_errors
from li_seg.layers.aspp import BN_EPSILON, aspp_v2, aspp_v3, conv_bn_relu, separable_conv_bn_relu
from li_seg.layers.inhibition import inhibit, inhibition_errors
from li_seg.layers.normalization import batch_norm
from li_seg.layers.resize import ResizeToMatch

ARCHITECTURES = ("deeplabv2", "deeplabv3", "deeplabv3plus")
ASPP_V2_BRANCHES = 4
LOW_LEVEL_FEATURES = {"unit_output": "low_level", "residual_branch": "low_level_residual"}  # -> backbone endpoint


@dataclasses.dataclass(frozen=True)
class DeepLabConfig(HeadConfig):
    """The head of the DeepLab architectures ("deeplabv2", "deeplabv3", "deeplabv3plus").

    atrous_rates: ASPP rates (v3: the atrous branches, none for research/deeplab's MobileNetV2 VOC models, whose
      ASPP is image pooling + 1x1; v2: the four summed convs).
    aspp_separable: v3 ASPP atrous branches as depthwise-separable convs (research/deeplab MobileNetV2/LI paper).
    aspp_channels: width of the v3 ASPP branches and of its projection.
    image_pooling: v3 ASPP image-pooling branch.
    decoder_channels / low_level_channels / decoder_separable: the v3+ decoder (256, 48, separable).
    dropout_rate: dropout after the v3 ASPP projection (research/deeplab: keep_prob 0.9).
    aspp_inhibition: LI-ASPP (or RD-ASPP): LI (or RD) in front of each atrous conv of the v3 ASPP; None = off.
    aspp_input_relu: the authors' code's ReLU on the whole ASPP input when LI is on (all branches see it);
      the paper's LI-Conv applies that ReLU to the atrous branches only (default).
    low_level_feature: what the v3+ decoder reads: "unit_output" (the low-level unit's output, after the residual
      sum and ReLU) or "residual_branch" (ResNets: before them, the end point research/deeplab's feature
      extractor names 'block1/unit_2/bottleneck_v1/conv3').
    align_corners: resize as TF1's resize_bilinear(align_corners=True) (research/deeplab) in the image pooling, the
      decoder and the logits' upsampling; False = tf.image.resize's half-pixel centres.
    """

    atrous_rates: tuple[int, ...] = (6, 12, 18)
    aspp_separable: bool = True
    aspp_channels: int = 256
    image_pooling: bool = True
    decoder_channels: int = 256
    low_level_channels: int = 48
    decoder_separable: bool = True
    dropout_rate: float = 0.1
    aspp_inhibition: Optional[InhibitionConfig] = None
    aspp_input_relu: bool = False
    low_level_feature: str = "unit_output"
    align_corners: bool = False

    def errors(self, model, where: str = "model.head") -> list[str]:
        errors = []
        if not 0.0 <= self.dropout_rate < 1.0:
            errors.append(f"{where}.dropout_rate must be in [0, 1), got {self.dropout_rate}")
        if any(r < 1 for r in self.atrous_rates):
            errors.append(f"{where}.atrous_rates must be positive integers, got {list(self.atrous_rates)}")
        if model.architecture == "deeplabv2" and len(self.atrous_rates) != ASPP_V2_BRANCHES:
            errors.append(f"deeplabv2's ASPP-v2 sums four branches; got atrous_rates {list(self.atrous_rates)}")
        if min(self.aspp_channels, self.decoder_channels, self.low_level_channels) < 1:
            errors.append(f"{where}: aspp_channels, decoder_channels and low_level_channels must be positive")
        errors += inhibition_errors(self.aspp_inhibition, f"{where}.aspp_inhibition")
        if self.aspp_inhibition is not None and model.architecture == "deeplabv2":
            errors.append(f"{where}.aspp_inhibition needs DeepLabv3's ASPP (deeplabv3 / deeplabv3plus), not deeplabv2")
        errors += choice_errors(f"{where}.low_level_feature", self.low_level_feature, LOW_LEVEL_FEATURES)
        if self.low_level_feature == "residual_branch" and (model.architecture != "deeplabv3plus"
                                                            or model.backbone.name == "mobilenet_v2"):
            errors.append(f"{where}.low_level_feature=residual_branch is the v3+ decoder's tap inside a ResNet unit: "
                          "it needs deeplabv3plus on a ResNet")
        if self.aspp_input_relu and self.aspp_inhibition is None:
            errors.append(f"{where}.aspp_input_relu is the authors' ReLU for LI-ASPP: set {where}.aspp_inhibition too")
        return errors


def _aspp_v3(head: DeepLabConfig, features, bn):
    """ASPP-v3, or LI-ASPP / RD-ASPP when head.aspp_inhibition is set."""
    pre_atrous, atrous_input = None, None
    if head.aspp_inhibition is not None:
        def pre_atrous(x, prefix, rate):  # the atrous input is rectified already (below)
            return inhibit(x, head.aspp_inhibition, prefix, input_relu=False, label=f"aspp_rate{rate}")

        if head.aspp_input_relu:
            features = keras.layers.ReLU(name="aspp_input_relu")(features)
        else:
            atrous_input = keras.layers.ReLU(name="aspp_atrous_input_relu")(features)
    return aspp_v3(
        features,
        bn,
        rates=head.atrous_rates,
        channels=head.aspp_channels,
        separable=head.aspp_separable,
        image_pooling=head.image_pooling,
        dropout_rate=head.dropout_rate,
        pre_atrous=pre_atrous,
        atrous_input=atrous_input,
        align_corners=head.align_corners,
    )


def _decoder(head: DeepLabConfig, high_level, low_level, bn):
    """research/deeplab's refine_by_decoder (one low-level feature): returns the refined OS-4 features."""
    low = keras.layers.Conv2D(head.low_level_channels, 1, use_bias=False, name="decoder_feature_projection")(low_level)
    low = batch_norm(bn, BN_EPSILON, "decoder_feature_projection_bn")(low)
    low = keras.layers.ReLU(name="decoder_feature_projection_relu")(low)
    high = ResizeToMatch(head.align_corners, name="decoder_upsample")([high_level, low])
    x = keras.layers.Concatenate(name="decoder_concat")([high, low])
    for index in range(2):
        name = f"decoder_conv{index}"
        if head.decoder_separable:
            x = separable_conv_bn_relu(x, head.decoder_channels, bn, name)
        else:
            x = conv_bn_relu(x, head.decoder_channels, 3, bn, name)
    return x


def build_head(config, features, images, num_classes: int, bn):
    """The DeepLab head of `config.architecture` on the backbone's `features`: logits at the features' size."""
    head = config.head
    if config.architecture == "deeplabv2":
        return aspp_v2(features["block4"], num_classes, rates=head.atrous_rates)
    x = _aspp_v3(head, features["block4"], bn)
    if config.architecture == "deeplabv3plus":
        x = _decoder(head, x, features[LOW_LEVEL_FEATURES[head.low_level_feature]], bn)
    return keras.layers.Conv2D(
        num_classes, 1, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.01), name="logits"
    )(x)
