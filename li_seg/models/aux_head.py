"""The auxiliary FCN head of PSPNet-style deep supervision (Zhao et al. 2017; SPNet and CycleNet train with it).

PyTorch-Encoding's FCNHead, which SPNet's code (houqb/SPNet) puts on block3 with loss weight 0.4 (PAPERS.md section
3): 3x3 conv to `channels` (C_in / 4 = 256 for ResNet's 1024-channel block3), no bias -> BN -> ReLU -> channel
dropout (PyTorch's Dropout2d = Keras' SpatialDropout2D) -> 1x1 conv with bias to the classes. Here its logits are
upsampled bilinearly to the input (in float32), like the main logits, so both losses read the full-resolution
labels. Initialisation is Keras' (Glorot uniform), not PyTorch's Kaiming uniform.

Layers are named after the head (`AuxHeadConfig.name`, "aux_logits" by default): "aux_logits_conv" (+ "_bn",
"_relu"), "aux_logits_dropout", "aux_logits_classifier", "aux_logits_upsample".
"""

from __future__ import annotations

import keras

from li_seg.config import AuxHeadConfig, choice_errors
from li_seg.layers.aspp import conv_bn_relu
from li_seg.layers.resize import ResizeToMatch

RESERVED_NAMES = ("logits",)


def aux_head_errors(heads: tuple, endpoints, where: str = "model.aux_heads") -> list[str]:
    """What is wrong with the auxiliary heads (names unique and not "logits", a backbone endpoint, sizes)."""
    errors = []
    names = [head.name for head in heads]
    if len(set(names)) != len(names) or set(names) & set(RESERVED_NAMES):
        errors.append(f"{where}: names must be unique and not {RESERVED_NAMES}, got {names}")
    for index, head in enumerate(heads):
        key = f"{where}[{index}]"
        errors += choice_errors(f"{key}.feature", head.feature, endpoints)
        if head.channels < 1:
            errors.append(f"{key}.channels must be >= 1, got {head.channels}")
        if not 0.0 <= head.dropout_rate < 1.0:
            errors.append(f"{key}.dropout_rate must be in [0, 1), got {head.dropout_rate}")
        if head.loss_weight < 0:
            errors.append(f"{key}.loss_weight must be >= 0, got {head.loss_weight}")
    return errors


def build_aux_head(head: AuxHeadConfig, features, images, num_classes: int, bn):
    """The auxiliary logits (B, H, W, num_classes), float32, at the size of `images`."""
    x = conv_bn_relu(features[head.feature], head.channels, 3, bn, f"{head.name}_conv")
    if head.dropout_rate:
        x = keras.layers.SpatialDropout2D(head.dropout_rate, name=f"{head.name}_dropout")(x)
    x = keras.layers.Conv2D(num_classes, 1, name=f"{head.name}_classifier")(x)
    return ResizeToMatch(dtype="float32", name=f"{head.name}_upsample")([x, images])
