"""Feature Pyramid Attention (FPA) of "Pyramid Attention Network for Semantic Segmentation" (Li et al. 2018),
Fig. 3(b), Sec. 3.1: a pixel-wise attention from a three-level feature pyramid, on the backbone's last features.

    master    = CBR_1x1(x)                                             (C channels)
    a_1 = CBR_k1(down(x)),   a_2 = CBR_k2(down(a_1)),   a_3 = CBR_k3(down(a_2))
    l_i = CBR_ki(a_i)                                                  (the lateral conv, same kernel)
    attention = up(up(up(l_3) + l_2) + l_1)                            (each up to the next map's size)
    FPA(x)    = master * attention  [+ up(CBR_1x1(GAP(x)))]            (the global pooling branch, "GP")

CBR = conv (no bias, SAME) -> BN (epsilon 1e-5) -> ReLU. Kernels (k1, k2, k3) = (7, 5, 3) for "C357", (3, 3, 3)
for "C333" (Table 1). `down` halves the map: 2 x 2 average pooling ("ave"), max pooling ("max"), or no pooling with the
level's conv striding by 2 ("conv", JaveyWang's re-implementation). `up` is bilinear resizing to the exact size
of the map it is added to, and pooling / strided convs pad SAME, so any feature size works: 33 x 33 (a 513 crop
at OS 16) -> 17 -> 9 -> 5, a 1 x 1 map stays 1 x 1. The paper's text says the GP branch is "concatenated", its
Fig. 3(b) shows "+": it is added (PAPERS.md; `li_seg.models.pan` records the choice).

Pyramid width: the attention has `pyramid_channels` channels, C (a per-pixel, per-channel attention; default) or
1 (one spatial attention map broadcast over the channels, segmentation_models.pytorch's PAN); the paper does
not say.

`FeaturePyramidAttention(...)` returns the block as a functional sub-model (a Keras Model is a Layer; named like
keras.applications' model constructors), so the model's FLOP count, checkpoints and diagnostics walk into it
and a .keras file restores it without custom code. Its layers are named "<name>_master", "<name>_down1" ...
"<name>_lateral3", "<name>_global_pool"; the attention passes through an `AttentionStatistics` probe
("fpa_attention/<label>" in TensorBoard).
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras

from li_seg.layers.aspp import conv_bn_relu
from li_seg.layers.attention_statistics import AttentionStatistics
from li_seg.layers.normalization import BatchNormSettings
from li_seg.layers.resize import ResizeToMatch

FPA_KERNELS = {"C357": (7, 5, 3), "C333": (3, 3, 3)}
FPA_DOWNSAMPLING = ("ave", "max", "conv")


def _downsample(x, kind: str, name: str):
    pool = keras.layers.AveragePooling2D if kind == "ave" else keras.layers.MaxPooling2D
    return pool(2, strides=2, padding="same", name=name)(x)


def FeaturePyramidAttention(
    input_channels: int,
    bn: BatchNormSettings,
    channels: int = 256,
    kernels: Sequence[int] = FPA_KERNELS["C357"],
    downsampling: str = "ave",
    global_pooling: bool = True,
    pyramid_channels: Optional[int] = None,
    name: str = "fpa",
    label: str = "fpa",
) -> keras.Model:
    """The FPA block (module docstring) as a sub-model: features (B, h, w, input_channels) -> (B, h, w, channels).

    pyramid_channels: the attention's width, `channels` (None) or 1.
    label: the attention's name in TensorBoard ("fpa_attention/<label>").
    """
    if downsampling not in FPA_DOWNSAMPLING:
        raise ValueError(f"FPA downsampling must be one of {FPA_DOWNSAMPLING}, got {downsampling!r}")
    pyramid_channels = channels if pyramid_channels is None else pyramid_channels
    if pyramid_channels not in (1, channels):
        raise ValueError(f"FPA's attention multiplies the master branch: pyramid_channels must be {channels} or 1, "
                         f"got {pyramid_channels}")
    features = keras.Input((None, None, input_channels), name=f"{name}_input")
    master = conv_bn_relu(features, channels, 1, bn, f"{name}_master")

    x, laterals = features, []
    for level, kernel in enumerate(kernels, start=1):
        if downsampling == "conv":
            x = conv_bn_relu(x, pyramid_channels, kernel, bn, f"{name}_down{level}", strides=2)
        else:
            x = _downsample(x, downsampling, f"{name}_pool{level}")
            x = conv_bn_relu(x, pyramid_channels, kernel, bn, f"{name}_down{level}")
        laterals.append(conv_bn_relu(x, pyramid_channels, kernel, bn, f"{name}_lateral{level}"))

    merged = laterals[-1]
    for level in range(len(laterals) - 1, 0, -1):  # up(l_3) + l_2, then up(.) + l_1
        upsampled = ResizeToMatch(name=f"{name}_upsample{level + 1}")([merged, laterals[level - 1]])
        merged = keras.layers.Add(name=f"{name}_merge{level}")([upsampled, laterals[level - 1]])
    attention = ResizeToMatch(name=f"{name}_upsample1")([merged, features])
    attention = AttentionStatistics("fpa_attention", label, name=f"{name}_attention")(attention)
    outputs = keras.layers.Multiply(name=f"{name}_attend")([master, attention])

    if global_pooling:
        pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_global_average")(features)
        pooled = conv_bn_relu(pooled, channels, 1, bn, f"{name}_global_pool")
        pooled = ResizeToMatch(name=f"{name}_global_upsample")([pooled, features])
        outputs = keras.layers.Add(name=f"{name}_add_global")([outputs, pooled])
    return keras.Model(features, outputs, name=name)
