"""Smoothing of dilated convolutions: "Efficient Smoothing of Dilated Convolutions for Image Segmentation"
(Ziegler et al.) and its two baselines from Wang & Ji, "Smoothed Dilated Convolutions for Improved Dense
Prediction" (KDD 2018): SS Conv and G Interact. PAPERS.md section 2.

The operator: pre-filter every input channel of a dilated conv (rate r) with a small filter v, then apply the
dilated conv w: y[i] = sum_k ( sum_n x[i - r k - n] v[n] ) w[k]. One module per concept:

- `kernels`: filter sizes (the paper's s = r, the code's s = r - 1), the Average / Gaussian / identity kernels,
  the orientation and alignment conventions every layer here follows;
- `prefilter`: `PreFilter`, the fixed Average and Gaussian (Ziegler et al.; the code's trainable Average);
- `ss_conv`: `SharedSmoothing` (Wang & Ji's SS Conv);
- `g_interact`: `GroupInteraction` (Wang & Ji's G Interact, applied after the dilated conv);
- `aggregation`: `AggregationCoefficients` and `AggregatedSmoothing` (Ziegler et al., Sec. III-D);
- `hook`: the backbone option `BackboneConfig.smoothing` as a unit hook, and `aggregation_coefficients`.
"""

from li_seg.layers.smoothing.aggregation import (
    COEFFICIENT_MODES, COEFFICIENT_NAMES, AggregatedSmoothing, AggregationCoefficients,
)
from li_seg.layers.smoothing.g_interact import GROUP_INTERACTION_VARIANTS, GroupInteraction
from li_seg.layers.smoothing.hook import (
    SMOOTHING_KINDS, SMOOTHING_UNIT_HOOK, SmoothingHook, aggregation_coefficients, smoothing_errors, smoothing_layers,
)
from li_seg.layers.smoothing.kernels import (
    FILTER_SIZE_RULES, GAUSSIAN_VARIANTS, average_kernel, embed_kernel, filter_size, gaussian_kernel,
    identity_kernel,
)
from li_seg.layers.smoothing.prefilter import PreFilter, average_prefilter, gaussian_prefilter
from li_seg.layers.smoothing.ss_conv import SharedSmoothing

__all__ = [
    "AggregatedSmoothing", "AggregationCoefficients", "COEFFICIENT_MODES", "COEFFICIENT_NAMES", "FILTER_SIZE_RULES",
    "GAUSSIAN_VARIANTS", "GROUP_INTERACTION_VARIANTS", "GroupInteraction", "PreFilter", "SMOOTHING_KINDS",
    "SMOOTHING_UNIT_HOOK", "SharedSmoothing", "SmoothingHook", "aggregation_coefficients", "average_kernel",
    "average_prefilter", "embed_kernel", "filter_size", "gaussian_kernel", "gaussian_prefilter", "identity_kernel",
    "smoothing_errors", "smoothing_layers",
]
