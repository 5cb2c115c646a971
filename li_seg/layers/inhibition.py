"""LI-Conv's input side: ReLU -> LI layer -> ReLU, placed in front of a (dilated) conv (LI-Convs paper, Sec. 3).

`inhibit(x, config, name, label=...)` inserts it, where `config` is a `li_seg.config.InhibitionConfig`:
- kind "li": `LateralInhibition` (Eq. 3-5), the paper's layer;
- kind "rd": Table V's "RD" ablation, a regular trainable 3x3 depthwise conv (9 weights per channel, no bias)
  in the same position. Its initialisation is not given by the paper (and RD is not in the released code);
  it starts as the identity (`CentreTap`), as an LI layer initialised at W_L = 0 does, so that both ablations
  start from the same network and differ only in the kernel's freedom (BUILD_NOTES.md).
Both compute in float32 under a mixed policy: a kernel of 1 at the centre and taps near 1e-4 around it does not
survive float16 (BUILD_NOTES 19.3).

Order as the authors' code: ReLU -> LI -> ReLU. `input_relu=False` drops the first ReLU where the input is
already the output of a ReLU or ReLU6 (MobileNetV2's expansion, ResNet's conv1), on which it is the identity.
Layers are named `name`_lateral_inhibition (or `name`_regular_depthwise), `name`_inhibition_input_relu and
`name`_inhibition_relu, after the layers around them (Keras' "block_9" is RB10); the LI layer's TensorBoard tags
carry `label`, the paper's name of the position ("rb10", "conv5_3", "aspp_rate6").

In a backbone (LI-MobileNetV2, LI-ResNet) it is a unit hook (`INHIBITION_UNIT_HOOK`, `li_seg.layers.unit_hook`):
in front of the spatial conv of the units `BackboneConfig.inhibition_positions` names: explicitly, never an
implicit default (the LI paper's choices, `DEFAULT_POSITIONS`, are what the paper's table rows name and what
the error for a missing list suggests). In DeepLab's ASPP (LI-ASPP) the head inserts it (`li_seg.models.deeplab`).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

import keras
from keras import ops

from li_seg.config import BackboneConfig, InhibitionConfig, choice_errors
from li_seg.layers.lateral_inhibition import LateralInhibition, argument_errors
from li_seg.layers.unit_hook import Unit, UnitHook, UnitHookProvider

INHIBITION_KINDS = ("li", "rd")
RD_KERNEL_SIZE = 3
# The LI paper's positions per backbone family: LI-MobileNetV2 RB 10, 13, 16; LI-ResNet-50 conv5_3.
DEFAULT_POSITIONS = {"mobilenet_v2": ("rb10", "rb13", "rb16"), "resnet": ("conv5_3",)}


def default_positions(backbone_name: str) -> tuple[str, ...]:
    """The LI paper's positions for a backbone ("mobilenet_v2", "resnet50", ...)."""
    return DEFAULT_POSITIONS["mobilenet_v2" if backbone_name == "mobilenet_v2" else "resnet"]


@keras.saving.register_keras_serializable(package="li_seg")
class CentreTap(keras.initializers.Initializer):
    """A depthwise kernel (kh, kw, C, M) that is the identity: 1 at the centre tap, 0 elsewhere."""

    def __call__(self, shape, dtype=None):
        kernel = np.zeros(shape, dtype="float32")
        kernel[shape[0] // 2, shape[1] // 2] = 1.0
        return ops.convert_to_tensor(kernel, dtype=dtype)


def inhibition_errors(config: Optional[InhibitionConfig], where: str) -> list[str]:
    """What is wrong with an InhibitionConfig at key `where` (None = off is fine)."""
    if config is None:
        return []
    errors = choice_errors(f"{where}.kind", config.kind, INHIBITION_KINDS)
    return errors + argument_errors(config.zone_size, config.sigma, config.rate, config.intensity_init, f"{where}.")


def inhibition_layer(config: InhibitionConfig, name: str, label: Optional[str] = None) -> keras.layers.Layer:
    """The LI layer (kind "li") or the RD ablation's depthwise conv (kind "rd"), unnamed ReLUs excluded."""
    if config.kind == "li":
        return LateralInhibition(
            config.zone_size, config.sigma, config.rate, config.intensity_init, label=label,
            name=f"{name}_lateral_inhibition",
        )
    if config.kind == "rd":
        return keras.layers.DepthwiseConv2D(
            RD_KERNEL_SIZE, padding="same", use_bias=False, depthwise_initializer=CentreTap(), dtype="float32",
            name=f"{name}_regular_depthwise",
        )
    raise ValueError(f"Unknown inhibition kind {config.kind!r}; valid: {list(INHIBITION_KINDS)}.")


def inhibit(x, config: InhibitionConfig, name: str, *, input_relu: bool = True, label: Optional[str] = None):
    """ReLU -> LI (or RD) -> ReLU on `x`; the result feeds the conv that follows."""
    if input_relu:
        x = keras.layers.ReLU(name=f"{name}_inhibition_input_relu")(x)
    x = inhibition_layer(config, name, label)(x)
    return keras.layers.ReLU(name=f"{name}_inhibition_relu")(x)


# ---------------------------------------------------------------------------------------------------------------
# The backbone option BackboneConfig.inhibition / inhibition_positions as a unit hook.


class InhibitionHook(UnitHook):
    """LI (or RD) -> ReLU in front of the spatial conv of the units at `positions`. The LI-Conv's first ReLU is
    dropped: the conv's input is already rectified (ResNet's conv1 + ReLU, MobileNetV2's expansion + ReLU6)."""

    def __init__(self, config: InhibitionConfig, positions):
        self.config = config
        self.positions = frozenset(positions)

    def before_spatial_conv(self, x, unit: Unit):
        if unit.position not in self.positions:
            return x
        return inhibit(x, self.config, unit.name, input_relu=False, label=unit.position)


def _unit_errors(backbone: BackboneConfig, family: str, positions, where: str) -> list[str]:
    errors = inhibition_errors(backbone.inhibition, f"{where}.inhibition")
    unknown = [p for p in backbone.inhibition_positions if p not in positions]
    if unknown:
        errors.append(f"{where}.inhibition_positions {unknown} are not positions of {backbone.name}; "
                      f"valid: {positions[0]} ... {positions[-1]}")
    elif backbone.inhibition is not None and not backbone.inhibition_positions:
        errors.append(f"{where}.inhibition is set but {where}.inhibition_positions is empty: name the units "
                      f"({positions[0]} ... {positions[-1]}; the LI paper's for {family}: "
                      f"{list(DEFAULT_POSITIONS[family])})")
    if backbone.inhibition_positions and backbone.inhibition is None:
        errors.append(f"{where}.inhibition_positions is set but {where}.inhibition is null")
    return errors


def _unit_hook(backbone: BackboneConfig, family: str) -> Optional[UnitHook]:
    if backbone.inhibition is None:
        return None
    return InhibitionHook(backbone.inhibition, backbone.inhibition_positions)


INHIBITION_UNIT_HOOK = UnitHookProvider(
    "inhibition", _unit_errors, _unit_hook, new_layers=(r".*_lateral_inhibition", r".*_regular_depthwise")
)


# ---------------------------------------------------------------------------------------------------------------
# Reading LI models and configs.


def _inhibition_configs(value):
    """Every InhibitionConfig inside a (nested) config dataclass."""
    if isinstance(value, InhibitionConfig):
        yield value
    elif dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            yield from _inhibition_configs(getattr(value, field.name))
    elif isinstance(value, tuple):
        for item in value:
            yield from _inhibition_configs(item)


def has_lateral_inhibition(model_config) -> bool:
    """Whether a ModelConfig puts LI layers (kind "li", not the RD ablation) anywhere (backbone, head)."""
    return any(config.kind == "li" for config in _inhibition_configs(model_config))


def intensities(model: keras.Model) -> dict[str, np.ndarray]:
    """The LI intensities W_L of every LateralInhibition layer in `model` (nested models included), by layer path,
    in build order."""
    return {
        variable.path.rsplit("/", 1)[0]: keras.ops.convert_to_numpy(variable)
        for variable in model.variables if variable.path.endswith("_lateral_inhibition/intensity")
    }
