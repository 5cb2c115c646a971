"""Per-unit hooks: how a paper inserts layers into a backbone's units without the backbone knowing the paper.

A backbone calls every hook it was given at two points of each unit (a ResNet residual unit, a MobileNetV2
inverted residual block), around the unit's spatial conv (the conv that is strided or dilated: ResNet's 3x3
conv2, MobileNetV2's 3x3 depthwise):

    x = hook.before_spatial_conv(x, unit)   # the conv's input (ResNet: after conv1 + BN + ReLU;
                                            # MobileNetV2: after the expansion + BN + ReLU6)
    x = spatial_conv(x)
    x = hook.after_spatial_conv(x, unit)    # before the conv's BN

Both return their input unchanged by default. LI-Convs' lateral inhibition (`li_seg.layers.inhibition`) and the
smoothing of dilated convs (`li_seg.layers.smoothing`) are hooks. `UnitHookProvider` connects a hook to its
`BackboneConfig` field: it validates the field's settings and builds the hook for one backbone.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional


@dataclasses.dataclass(frozen=True)
class Unit:
    """One unit as a hook sees it.

    family: "resnet" or "mobilenet_v2".
    position: the unit's name in the papers: ResNet "conv{b+1}_{u}" (block b, unit u: "conv5_3"), MobileNetV2
      "rb{n}" (the n-th inverted residual block).
    name: the unit's layer-name prefix ("block4_unit3", "block_12", "expanded_conv").
    stride, rate: of the unit's spatial conv (rate = dilation).
    """

    family: str
    position: str
    name: str
    stride: int
    rate: int


class UnitHook:
    """Base class of the hooks: both points are the identity."""

    def before_spatial_conv(self, x, unit: Unit):
        return x

    def after_spatial_conv(self, x, unit: Unit):
        return x


@dataclasses.dataclass(frozen=True)
class UnitHookProvider:
    """A BackboneConfig option implemented as a unit hook.

    name: the option, for messages ("inhibition").
    errors(backbone_config, family, positions, where) -> list[str]: what is wrong with the option's settings,
      given the backbone's family and the names of its units (`Unit.position`); `where` prefixes the keys.
    build(backbone_config, family) -> UnitHook or None: the hook for one backbone (None when the option is off).
    new_layers: regexes (full match) of the names of the layers with weights the hook adds. No pretrained file
      holds them: loading pretrained weights (`li_seg.weights`) leaves them at their initialisation.
    """

    name: str
    errors: Callable[..., list]
    build: Callable[..., Optional[UnitHook]]
    new_layers: tuple[str, ...] = ()
