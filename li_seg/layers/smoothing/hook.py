"""Smoothing as a backbone option: `BackboneConfig.smoothing` (a `li_seg.config.SmoothingConfig`) smooths the
spatial conv of every unit whose conv is dilated (rate > 1): at output stride 8 every unit of block3 and block4,
the smoothing paper's DeepLabv2 placement. A pre-filter goes on the conv's input, G Interact on its output (before
its BN); the "aggregated" kind shares one `AggregationCoefficients` ("smoothing_coefficients") across all units.
"""

from __future__ import annotations

from typing import Optional

import keras

from li_seg.config import BackboneConfig, SmoothingConfig, choice_errors
from li_seg.layers.diagnostics import collect_diagnostics
from li_seg.layers.smoothing.aggregation import COEFFICIENT_MODES, AggregatedSmoothing, AggregationCoefficients
from li_seg.layers.smoothing.g_interact import GROUP_INTERACTION_VARIANTS, GroupInteraction
from li_seg.layers.smoothing.kernels import FILTER_SIZE_RULES, GAUSSIAN_VARIANTS
from li_seg.layers.smoothing.prefilter import average_prefilter, gaussian_prefilter
from li_seg.layers.smoothing.ss_conv import SharedSmoothing
from li_seg.layers.unit_hook import Unit, UnitHook, UnitHookProvider

SMOOTHING_KINDS = ("average", "gaussian", "ss_conv", "g_interact", "aggregated")


def smoothing_layers(config, rate: int, name: str, coefficients: Optional[AggregationCoefficients] = None):
    """The layers a `li_seg.config.SmoothingConfig` puts around one dilated conv of rate `rate`:
    (pre-filter applied to the conv's input or None, layer applied to the conv's output or None).
    coefficients: the model's shared `AggregationCoefficients` (kind "aggregated" only)."""
    if config.kind not in SMOOTHING_KINDS:
        raise ValueError(f"Unknown smoothing kind {config.kind!r}; valid: {list(SMOOTHING_KINDS)}.")
    if config.kind == "average":
        return average_prefilter(rate, config.size_rule, config.trainable_average, name=f"{name}_average"), None
    if config.kind == "gaussian":
        layer = gaussian_prefilter(rate, config.size_rule, config.sigma, config.gaussian_variant,
                                   name=f"{name}_gaussian")
        return layer, None
    if config.kind == "ss_conv":
        return SharedSmoothing(rate, name=f"{name}_ss_conv"), None
    if config.kind == "g_interact":
        return None, GroupInteraction(rate, config.g_interact_variant, name=f"{name}_g_interact")
    if coefficients is None:
        raise ValueError("smoothing kind 'aggregated' needs the model's shared AggregationCoefficients.")
    layer = AggregatedSmoothing(
        rate, coefficients, config.size_rule, config.sigma, config.gaussian_variant, config.trainable_average,
        name=f"{name}_aggregated",
    )
    return layer, None


class SmoothingHook(UnitHook):
    """The smoothing of every dilated unit's spatial conv (layers named "<unit>_conv2_<kind>")."""

    def __init__(self, config: SmoothingConfig):
        self.config = config
        self.coefficients = None
        if config.kind == "aggregated":
            self.coefficients = AggregationCoefficients(config.coefficients, name="smoothing_coefficients")
        self._after = {}

    def before_spatial_conv(self, x, unit: Unit):
        if unit.rate == 1:
            return x
        pre_filter, self._after[unit.name] = smoothing_layers(
            self.config, unit.rate, f"{unit.name}_conv2", self.coefficients
        )
        return x if pre_filter is None else pre_filter(x)

    def after_spatial_conv(self, x, unit: Unit):
        after = self._after.pop(unit.name, None)
        return x if after is None else after(x)


def smoothing_errors(backbone: BackboneConfig, family: str, positions, where: str) -> list[str]:
    """What is wrong with BackboneConfig.smoothing (None = off is fine)."""
    smoothing, key = backbone.smoothing, f"{where}.smoothing"
    if smoothing is None:
        return []
    choices = {
        "kind": SMOOTHING_KINDS, "size_rule": FILTER_SIZE_RULES, "gaussian_variant": GAUSSIAN_VARIANTS,
        "coefficients": COEFFICIENT_MODES, "g_interact_variant": GROUP_INTERACTION_VARIANTS,
    }
    errors = [error for field, valid in choices.items()
              for error in choice_errors(f"{key}.{field}", getattr(smoothing, field), valid)]
    if smoothing.sigma <= 0:
        errors.append(f"{key}.sigma must be > 0, got {smoothing.sigma}")
    if family != "resnet":
        errors.append(f"{key} smooths a ResNet's dilated units; {backbone.name} has none (use a ResNet)")
    return errors


def _unit_hook(backbone: BackboneConfig, family: str) -> Optional[UnitHook]:
    return None if backbone.smoothing is None else SmoothingHook(backbone.smoothing)


SMOOTHING_UNIT_HOOK = UnitHookProvider(
    "smoothing", smoothing_errors, _unit_hook,
    new_layers=(r".*_(average|gaussian|ss_conv|g_interact|aggregated)", r"smoothing_coefficients"),
)


def aggregation_coefficients(model: keras.Model) -> dict[str, float]:
    """The aggregated smoothing coefficients of `model` (nested models included) as
    {"smoothing_coefficients/ave": a_Ave, ...}; empty when the model has none."""
    return {
        tag: value for tag, value in collect_diagnostics(model).items() if tag.startswith("smoothing_coefficients/")
    }
