"""The diagnostics hook: layers that carry a paper's quantities publish them; the trainer writes what is published.

A layer publishes by defining `diagnostics(self) -> dict[str, Diagnostic]`: TensorBoard tag -> a float (written
as a scalar) or a `Histogram`. Today: the LI intensities W_L (`LateralInhibition`: "li_intensity/<layer>"
histogram, "li_intensity_mean/<layer>" and "li_intensity_max/<layer>" scalars) and the aggregated smoothing
coefficients (`AggregatedSmoothing`: "smoothing_coefficients/{ave,gauss,learned,none}"). `collect_diagnostics`
gathers them from a whole model (nested models included) with Keras' public API only; the trainer imports no
paper layer.

Tags must be unique per quantity: layers that share a quantity (the aggregated smoothing layers share one set of
coefficients) publish it under the same tag, and the collected dict holds it once.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Union

import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class Histogram:
    """Values written as a TensorBoard histogram."""

    values: np.ndarray


Diagnostic = Union[float, Histogram]


def model_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer of `model`, nested models walked through (depth first, in the models' layer order)."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from model_layers(layer)


def collect_diagnostics(model: keras.Model) -> dict[str, Diagnostic]:
    """What every layer of `model` publishes (see the module docstring), tag -> value."""
    published: dict[str, Diagnostic] = {}
    for layer in model_layers(model):
        publish = getattr(layer, "diagnostics", None)
        if callable(publish):
            published.update(publish())
    return published
