"""CycleNet's head (Qu et al., Fig. 2) and the heads of its ablations: config and builder.

    block4 (OS 8) -> context -> [ADC with the low-level features (OS 4)] -> channel dropout -> 1x1 classifier

context (what reads block4, `CycleNetConfig.context`):
- "cycleaspp": `li_seg.layers.CycleASPP` (Part I + Part II; CycleNet, Table 1's CycleASPP rows, Table 2's
  "+CycleASPP").
- "denseaspp": the same chain without Part II (DenseASPP; Table 1's DenseASPP rows).
- "aspp": DeepLabv3's ASPP (`li_seg.layers.aspp_v3`: image pooling, 1x1, three plain 3x3 atrous branches at
  `aspp_rates`, 256 channels, projection; Table 1's "ASPP(6, 12, 18)").
- "fcn": PyTorch-Encoding's FCNHead, 3x3 conv 2048 -> 512 (no bias) + BN + ReLU: Table 2's "ResNet-101" baseline.
  The paper does not describe its baseline; this is the dilated-FCN baseline of the code base its recipe matches
  (SPNet on PyTorch-Encoding).
decoder: "adc" (`li_seg.layers.DeformableAlignment` with the backbone's "low_level" endpoint, block1 of CycleNet's
ResNet) or "none" (the classifier reads the context at OS 8). The classifier is channel dropout `classifier_dropout`
(0.1: DenseASPP's and PyTorch-Encoding's, Dropout2d) -> 1x1 conv with bias; `build_model` upsamples its logits to
the input. BUILD_NOTES.md section 15 records every choice the paper leaves open.
"""

from __future__ import annotations

import dataclasses

import keras

from li_seg.config import HeadConfig, choice_errors
from li_seg.layers.aspp import aspp_v3, conv_bn_relu
from li_seg.layers.cycle_aspp import CycleASPP
from li_seg.layers.deformable_alignment import DeformableAlignment

ARCHITECTURE = "cyclenet"
CONTEXTS = ("cycleaspp", "denseaspp", "aspp", "fcn")
DECODERS = ("adc", "none")
CITYSCAPES_RATES = (3, 6, 12, 18, 24, 30)
ADE20K_RATES = (3, 6, 12, 18, 24)


@dataclasses.dataclass(frozen=True)
class CycleASPPConfig:
    """CycleASPP / DenseASPP (`li_seg.layers.cycle_aspp`): rates (Cityscapes 3..30, ADE20K 3..24); the layers'
    bottleneck / growth widths (DenseASPP-161's 512 / 128); shared: Part II reuses Part I's 1x1 kernels
    (CliqueNet), False = its own; include_input: Y_0 joins the output; update_first_layer: Part II recomputes layer
    1 too (CliqueNet; False = the printed "j != 1"); input_bn: a BN in front of layer 1; dropout_rate: each
    layer's channel dropout."""

    rates: tuple[int, ...] = CITYSCAPES_RATES
    bottleneck_channels: int = 512
    growth_channels: int = 128
    shared: bool = True
    include_input: bool = True
    update_first_layer: bool = True
    input_bn: bool = False
    dropout_rate: float = 0.1


@dataclasses.dataclass(frozen=True)
class ADCConfig:
    """ADC (`li_seg.layers.deformable_alignment`): widths of the reduced low- and high-level features, of the
    offset branch's convs (offset_convs of them) and of the fusion convs f (fusion_convs of them); deformable groups
    of the deformable conv."""

    low_channels: int = 48
    high_channels: int = 256
    offset_channels: int = 256
    offset_convs: int = 1
    deformable_groups: int = 1
    fusion_channels: int = 256
    fusion_convs: int = 2


@dataclasses.dataclass(frozen=True)
class CycleNetConfig(HeadConfig):
    """The "cyclenet" architecture's head (module docstring): context, decoder, classifier.

    aspp_rates: the "aspp" context's atrous rates (Table 1: 6, 12, 18).
    fcn_channels: the "fcn" context's width (PyTorch-Encoding's FCNHead: C_in / 4 = 512).
    """

    context: str = "cycleaspp"
    cycle_aspp: CycleASPPConfig = CycleASPPConfig()
    aspp_rates: tuple[int, ...] = (6, 12, 18)
    fcn_channels: int = 512
    decoder: str = "adc"
    adc: ADCConfig = ADCConfig()
    classifier_dropout: float = 0.1

    def errors(self, model, where: str = "model.head") -> list[str]:
        errors = choice_errors(f"{where}.context", self.context, CONTEXTS)
        errors += choice_errors(f"{where}.decoder", self.decoder, DECODERS)
        chain, adc = self.cycle_aspp, self.adc
        for key, rates in ((f"{where}.cycle_aspp.rates", chain.rates), (f"{where}.aspp_rates", self.aspp_rates)):
            if not rates or min(rates) < 1:
                errors.append(f"{key} needs at least one positive atrous rate, got {list(rates)}")
        widths = {"cycle_aspp.bottleneck_channels": chain.bottleneck_channels,
                  "cycle_aspp.growth_channels": chain.growth_channels, "fcn_channels": self.fcn_channels,
                  "adc.low_channels": adc.low_channels, "adc.high_channels": adc.high_channels,
                  "adc.offset_channels": adc.offset_channels, "adc.fusion_channels": adc.fusion_channels,
                  "adc.deformable_groups": adc.deformable_groups}
        errors += [f"{where}.{key} must be positive, got {value}" for key, value in widths.items() if value < 1]
        if adc.offset_convs < 0 or adc.fusion_convs < 0:
            errors.append(f"{where}.adc.offset_convs and .fusion_convs count convs: >= 0, got {adc.offset_convs}, "
                          f"{adc.fusion_convs}")
        if adc.deformable_groups >= 1 and adc.high_channels % adc.deformable_groups:
            errors.append(f"{where}.adc.deformable_groups={adc.deformable_groups} must divide adc.high_channels="
                          f"{adc.high_channels} (each group of channels shares one set of offsets)")
        for key, rate in ((f"{where}.cycle_aspp.dropout_rate", chain.dropout_rate),
                          (f"{where}.classifier_dropout", self.classifier_dropout)):
            if not 0.0 <= rate < 1.0:
                errors.append(f"{key} must be in [0, 1), got {rate}")
        return errors


def _context(head: CycleNetConfig, features, bn):
    """What reads block4 (module docstring)."""
    if head.context == "fcn":
        return conv_bn_relu(features, head.fcn_channels, 3, bn, "fcn")
    if head.context == "aspp":
        return aspp_v3(features, bn, head.aspp_rates, separable=False, image_pooling=True, dropout_rate=0.0)
    chain = head.cycle_aspp
    name = "cycle_aspp" if head.context == "cycleaspp" else "dense_aspp"
    return CycleASPP(
        features.shape[-1], bn, chain.rates, chain.bottleneck_channels, chain.growth_channels,
        feedback=head.context == "cycleaspp", shared=chain.shared, include_input=chain.include_input,
        update_first_layer=chain.update_first_layer, input_bn=chain.input_bn, dropout_rate=chain.dropout_rate,
        name=name,
    )(features)


def build_head(config, features, images, num_classes: int, bn):
    """The CycleNet head of `config.head` on the backbone's endpoints: logits at OS 4 (ADC) or OS 8."""
    head = config.head
    x = _context(head, features["block4"], bn)
    if head.decoder == "adc":
        adc = head.adc
        low = features["low_level"]
        x = DeformableAlignment(
            x.shape[-1], low.shape[-1], bn, adc.low_channels, adc.high_channels, adc.offset_channels,
            adc.offset_convs, adc.deformable_groups, adc.fusion_channels, adc.fusion_convs,
        )([x, low])
    if head.classifier_dropout:
        x = keras.layers.SpatialDropout2D(head.classifier_dropout, name="classifier_dropout")(x)
    return keras.layers.Conv2D(num_classes, 1, name="logits")(x)
