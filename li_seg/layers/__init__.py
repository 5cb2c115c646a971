"""Keras layers and layer builders of li_seg (one paper concept per module)."""

from li_seg.layers.aspp import aspp_v2, aspp_v3, conv_bn_relu, separable_conv_bn_relu
from li_seg.layers.inhibition import INHIBITION_KINDS, has_lateral_inhibition, inhibit, intensities
from li_seg.layers.lateral_inhibition import LateralInhibition
from li_seg.layers.normalization import BatchNormSettings, batch_norm
from li_seg.layers.resize import ResizeToMatch
from li_seg.layers.smoothing import (
    SMOOTHING_KINDS,
    AggregatedSmoothing,
    AggregationCoefficients,
    GroupInteraction,
    PreFilter,
    SharedSmoothing,
    aggregation_coefficients,
    smoothing_layers,
)

__all__ = [
    "AggregatedSmoothing",
    "AggregationCoefficients",
    "BatchNormSettings",
    "GroupInteraction",
    "INHIBITION_KINDS",
    "LateralInhibition",
    "PreFilter",
    "ResizeToMatch",
    "SMOOTHING_KINDS",
    "SharedSmoothing",
    "aspp_v2",
    "aspp_v3",
    "batch_norm",
    "conv_bn_relu",
    "has_lateral_inhibition",
    "inhibit",
    "aggregation_coefficients",
    "intensities",
    "separable_conv_bn_relu",
    "smoothing_layers",
]
