"""Keras layers and layer builders of li_seg (one paper concept per module)."""

from li_seg.layers.aspp import aspp_v2, aspp_v3, conv_bn_relu, separable_conv_bn_relu
from li_seg.layers.attention_statistics import AttentionStatistics
from li_seg.layers.cycle_aspp import CliqueConv1x1, CycleASPP
from li_seg.layers.deformable import ModulatedDeformableConv2D
from li_seg.layers.deformable_alignment import DeformableAlignment
from li_seg.layers.diagnostics import Histogram, collect_diagnostics
from li_seg.layers.feature_pyramid_attention import FeaturePyramidAttention
from li_seg.layers.global_attention_upsample import GlobalAttentionUpsample
from li_seg.layers.importance_map import ImportanceMap
from li_seg.layers.inhibition import INHIBITION_KINDS, has_lateral_inhibition, inhibit, intensities
from li_seg.layers.lateral_inhibition import LateralInhibition
from li_seg.layers.normalization import BatchNormSettings, batch_norm
from li_seg.layers.pyramid_pooling import pyramid_pooling
from li_seg.layers.random_walk import RandomWalk
from li_seg.layers.resize import ResizeToMatch
from li_seg.layers.similarity_embedding import AdaptiveMaxPoolToMatch, SimilarityEmbedding
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
from li_seg.layers.squeeze_excitation import squeeze_excitation
from li_seg.layers.unit_hook import Unit, UnitHook, UnitHookProvider

__all__ = [
    "AdaptiveMaxPoolToMatch",
    "AggregatedSmoothing",
    "AggregationCoefficients",
    "AttentionStatistics",
    "BatchNormSettings",
    "CliqueConv1x1",
    "CycleASPP",
    "DeformableAlignment",
    "FeaturePyramidAttention",
    "GlobalAttentionUpsample",
    "GroupInteraction",
    "Histogram",
    "INHIBITION_KINDS",
    "ImportanceMap",
    "LateralInhibition",
    "ModulatedDeformableConv2D",
    "PreFilter",
    "RandomWalk",
    "ResizeToMatch",
    "SMOOTHING_KINDS",
    "SharedSmoothing",
    "SimilarityEmbedding",
    "Unit",
    "UnitHook",
    "UnitHookProvider",
    "aggregation_coefficients",
    "aspp_v2",
    "aspp_v3",
    "batch_norm",
    "collect_diagnostics",
    "conv_bn_relu",
    "has_lateral_inhibition",
    "inhibit",
    "intensities",
    "pyramid_pooling",
    "separable_conv_bn_relu",
    "smoothing_layers",
    "squeeze_excitation",
]
