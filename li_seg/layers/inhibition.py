"""LI-Conv's input side: ReLU -> LI layer -> ReLU, placed in front of a (dilated) conv (LI-Convs paper, Sec. 3).

`inhibit(x, config, name)` inserts it, where `config` is a `li_seg.config.InhibitionConfig`:
- kind "li": `LateralInhibition` (Eq. 3-5), the paper's layer;
- kind "rd": Table V's "RD" ablation, a regular trainable 3x3 depthwise conv (9 weights per channel, no bias)
  in the same position. Its initialisation is not given by the paper (and RD is not in the released code);
  it starts as the identity (`CentreTap`), as an LI layer initialised at W_L = 0 does, so that both ablations
  start from the same network and differ only in the kernel's freedom (BUILD_NOTES.md).

Order as the authors' code: ReLU -> LI -> ReLU. `input_relu=False` drops the first ReLU where the input is
already the output of a ReLU or ReLU6 (MobileNetV2's expansion, ResNet's conv1), on which it is the identity.
Layers are named `name`_lateral_inhibition (or `name`_regular_depthwise), `name`_inhibition_input_relu and
`name`_inhibition_relu.
"""

from __future__ import annotations

import numpy as np

import keras
from keras import ops

from li_seg.config import InhibitionConfig
from li_seg.layers.lateral_inhibition import LateralInhibition

INHIBITION_KINDS = ("li", "rd")
RD_KERNEL_SIZE = 3


@keras.saving.register_keras_serializable(package="li_seg")
class CentreTap(keras.initializers.Initializer):
    """A depthwise kernel (kh, kw, C, M) that is the identity: 1 at the centre tap, 0 elsewhere."""

    def __call__(self, shape, dtype=None):
        kernel = np.zeros(shape, dtype="float32")
        kernel[shape[0] // 2, shape[1] // 2] = 1.0
        return ops.convert_to_tensor(kernel, dtype=dtype)


def inhibition_layer(config: InhibitionConfig, name: str) -> keras.layers.Layer:
    """The LI layer (kind "li") or the RD ablation's depthwise conv (kind "rd"), unnamed ReLUs excluded."""
    if config.kind == "li":
        return LateralInhibition(
            config.zone_size, config.sigma, config.rate, config.intensity_init, name=f"{name}_lateral_inhibition"
        )
    if config.kind == "rd":
        return keras.layers.DepthwiseConv2D(
            RD_KERNEL_SIZE, padding="same", use_bias=False, depthwise_initializer=CentreTap(),
            name=f"{name}_regular_depthwise",
        )
    raise ValueError(f"Unknown inhibition kind {config.kind!r}; valid: {list(INHIBITION_KINDS)}.")


def inhibit(x, config: InhibitionConfig, name: str, *, input_relu: bool = True):
    """ReLU -> LI (or RD) -> ReLU on `x`; the result feeds the conv that follows."""
    if input_relu:
        x = keras.layers.ReLU(name=f"{name}_inhibition_input_relu")(x)
    x = inhibition_layer(config, name)(x)
    return keras.layers.ReLU(name=f"{name}_inhibition_relu")(x)


def has_lateral_inhibition(model_config) -> bool:
    """Whether a ModelConfig puts LI layers (kind "li", not the RD ablation) in the backbone or the ASPP."""
    return any(
        inhibition is not None and inhibition.kind == "li"
        for inhibition in (model_config.backbone.inhibition, model_config.aspp_inhibition)
    )


def intensities(model: keras.Model) -> dict[str, np.ndarray]:
    """The LI intensities W_L of every LateralInhibition layer in `model` (nested models included), by layer name,
    in build order."""
    return {
        variable.path.rsplit("/", 1)[0]: keras.ops.convert_to_numpy(variable)
        for variable in model.variables if variable.path.endswith("_lateral_inhibition/intensity")
    }
