"""The Pyramid Attention Network head (Li et al. 2018, Fig. 2) and the heads of its ablations: config and builder.

    res5 ("block4") -> context -> [GAU with res4, res3, res2 in turn] -> 1x1 classifier (bias) -> logits

context (what reads res5, `PanConfig.context`):
- "fpa": Feature Pyramid Attention (`li_seg.layers.FeaturePyramidAttention`): PAN, Table 1's FPA rows.
- "none": a 1x1 conv -> BN -> ReLU to `channels` (FPA's master branch alone): Table 1's "ResNet101" baseline
  and the reduction in front of Table 3's GAU-only decoder. The paper does not say what its baseline's head is.
- "se": squeeze-and-excitation on res5, then the same 1x1 reduction: Table 1's "+SE".
- "ppm": PSPNet's head, pyramid pooling (bins 1, 2, 3, 6; 512 per branch) -> 3x3 conv 512 -> BN -> ReLU ->
  dropout 0.1: Table 2's "ResNet101+PSPNet*" (PSPNet's own head; no decoder).
decoder: "gau" (`li_seg.layers.GlobalAttentionUpsample` with block3, block2, block1 = res4, res3, res2; res4 is at
the same OS 16 as res5) or "none" (the classifier reads the context's output, upsampled to the input by `build_model`).

Every conv is bias-free, followed by BN (epsilon 1e-5) and ReLU, at width `channels` (256: PAN's widths are not
in the paper; segmentation_models.pytorch's default decoder is 32, JaveyWang's keeps the backbone's 2048 / 1024
/ 512); the classifier is a 1x1 conv with bias (JaveyWang: 3x3). BUILD_NOTES.md section 14 records each choice.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import keras

from li_seg.config import HeadConfig, choice_errors
from li_seg.layers.aspp import conv_bn_relu
from li_seg.layers.feature_pyramid_attention import FPA_DOWNSAMPLING, FPA_KERNELS, FeaturePyramidAttention
from li_seg.layers.global_attention_upsample import GAU_ATTENTIONS, GlobalAttentionUpsample
from li_seg.layers.pyramid_pooling import PSP_BINS, pyramid_pooling
from li_seg.layers.squeeze_excitation import squeeze_excitation

ARCHITECTURE = "pan"
CONTEXTS = ("fpa", "none", "se", "ppm")
DECODERS = ("gau", "none")
GAU_FEATURES = (("block3", "res4"), ("block2", "res3"), ("block1", "res2"))
PSP_CHANNELS = 512
PSP_DROPOUT = 0.1


@dataclasses.dataclass(frozen=True)
class FPAConfig:
    """Feature Pyramid Attention (Fig. 3(b)): kernels "C357" / "C333"; downsampling "ave" / "max" pooling (Table
    1) or "conv" (stride-2 convs, JaveyWang); global_pooling: the GP branch; pyramid_channels: the attention's
    width, None = the head's `channels` (per pixel and channel) or 1 (one spatial map)."""

    kernels: str = "C357"
    downsampling: str = "ave"
    global_pooling: bool = True
    pyramid_channels: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class GAUConfig:
    """Global Attention Upsample (Fig. 4): low_kernel, the low-level conv (3 or 1, Table 3's columns);
    global_pooling: the channel attention from the high level (Table 3's "GP"); attention: its nonlinearity,
    "sigmoid" or "relu" (JaveyWang)."""

    low_kernel: int = 3
    global_pooling: bool = True
    attention: str = "sigmoid"


@dataclasses.dataclass(frozen=True)
class PanConfig(HeadConfig):
    """The "pan" architecture's head (module docstring): context on res5, decoder, widths.

    channels: the width of FPA, the reduction, GAU (256).
    se_reduction: the SE block's reduction ratio (16, as SENet).
    ppm_bins: PSPNet's pyramid bins.
    """

    context: str = "fpa"
    fpa: FPAConfig = FPAConfig()
    decoder: str = "gau"
    gau: GAUConfig = GAUConfig()
    channels: int = 256
    se_reduction: int = 16
    ppm_bins: tuple[int, ...] = PSP_BINS

    def errors(self, model, where: str = "model.head") -> list[str]:
        choices = ((f"{where}.context", self.context, CONTEXTS), (f"{where}.decoder", self.decoder, DECODERS),
                   (f"{where}.fpa.kernels", self.fpa.kernels, tuple(FPA_KERNELS)),
                   (f"{where}.fpa.downsampling", self.fpa.downsampling, FPA_DOWNSAMPLING),
                   (f"{where}.gau.attention", self.gau.attention, GAU_ATTENTIONS),
                   (f"{where}.gau.low_kernel", self.gau.low_kernel, (3, 1)))
        errors = [error for key, value, valid in choices for error in choice_errors(key, value, valid)]
        if self.channels < 1 or self.se_reduction < 1:
            errors.append(f"{where}.channels and {where}.se_reduction must be positive")
        if self.fpa.pyramid_channels not in (None, 1, self.channels):
            errors.append(f"{where}.fpa.pyramid_channels must be None (= channels, {self.channels}) or 1: the "
                          f"attention multiplies the master branch; got {self.fpa.pyramid_channels}")
        if not self.ppm_bins or min(self.ppm_bins) < 1:
            errors.append(f"{where}.ppm_bins must be positive bin counts, got {list(self.ppm_bins)}")
        if self.decoder == "gau" and model.backbone.layout == "slim" and model.backbone.name.startswith("resnet"):
            errors.append(f"{where}.decoder=gau reads res2-res4 at strides 4, 8, 16; the slim layout ends each "
                          "block with its stride (res2 at 8): set model.backbone.layout=torchvision (PAN's) or caffe")
        if self.context == "ppm" and self.decoder == "gau":
            errors.append(f"{where}: PSPNet's head ('ppm') is a baseline without decoder; set {where}.decoder=none")
        return errors


def _context(head: PanConfig, features, bn):
    """What reads res5 (module docstring)."""
    if head.context == "ppm":
        x = pyramid_pooling(features, bn, head.ppm_bins, branch_channels=features.shape[-1] // len(head.ppm_bins))
        x = conv_bn_relu(x, PSP_CHANNELS, 3, bn, "psp_bottleneck")
        return keras.layers.Dropout(PSP_DROPOUT, name="psp_dropout")(x)
    if head.context == "fpa":
        fpa = head.fpa
        return FeaturePyramidAttention(
            features.shape[-1], bn, head.channels, FPA_KERNELS[fpa.kernels], fpa.downsampling, fpa.global_pooling,
            fpa.pyramid_channels,
        )(features)
    if head.context == "se":
        features = squeeze_excitation(features, head.se_reduction)
    return conv_bn_relu(features, head.channels, 1, bn, "reduce")


def build_head(config, features, images, num_classes: int, bn):
    """The PAN head of `config.head` on the backbone's endpoints: logits at the last decoded features' size."""
    head = config.head
    x = _context(head, features["block4"], bn)
    if head.decoder == "gau":
        gau = head.gau
        for index, (endpoint, paper_name) in enumerate(GAU_FEATURES, start=1):
            low = features[endpoint]
            block = GlobalAttentionUpsample(
                low.shape[-1], bn, head.channels, gau.low_kernel, gau.global_pooling, gau.attention,
                name=f"gau{index}", label=f"gau_{paper_name}",
            )
            x = block([x, low])
    return keras.layers.Conv2D(
        num_classes, 1, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.01), name="logits"
    )(x)
