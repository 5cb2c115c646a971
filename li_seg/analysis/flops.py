"""FLOPs of a model at a given input size, counted analytically layer by layer (`layer_calls`), under a
`FlopConvention` that says what a FLOP counts.

A multiply-accumulate of a conv or Dense counts 2 FLOPs. Every layer type has a rule: Keras' own layers here,
li_seg's custom layers beside their class (`register_flop_rule(LayerType)` on a function (layer, call, convention)
-> FLOPs), so a new layer brings its own rule and nothing here changes. A layer without a rule is an error, not
a silent 0.

Conventions (`CONVENTIONS`; scripts/model_table.py prints what each gives for the papers' tables):
- "paper": what TensorFlow's profiler (tf.compat.v1.profiler, float_operation) counts on the inference graph
  research/deeplab exports, which the LI-Convs authors' TF1 code builds:
  * a dilated conv runs on TensorFlow's space-to-batch grid (tf.nn.convolution with dilation rate r: the
    SAME-padded input is padded up to a multiple of r), ceil(H / r) r x ceil(W / r) r output positions
    (at 33 x 33: 34 at rate 2, 36 at rates 4, 6, 12, 18, 40 at rate 8);
  * 1 FLOP per element of residual adds, bias adds and the preprocessing's scale and offset (a scale of 1 or
    an offset of 0 is no arithmetic), per input element of the image pooling's mean and per window tap of a
    max-pool output;
  * batch norm folded into the convs (the exported graph's fused batch norm, which the profiler does not
    count); ReLU / ReLU6 and bilinear resizing: 0 (no profiler statistics either);
  * the predictions' argmax over the classes (the exported graph's output): C - 1 comparisons per pixel.
- "profiler": the same rules with batch norm unfolded (2 per element, as tf.keras' inference graph computes it)
  and no argmax: TensorFlow's profiler on our own frozen graph.
- "macs": 2 x multiply-accumulates of the convolutions and Dense on their true output grid, nothing else.
- "multiply_accumulates": the same multiply-accumulates counted once each: the "FLOPs" that PyTorch counters
  (thop, ptflops) print, which CycleNet's Table 1 is closest to.
- "all": every arithmetic operation of the inference graph as TensorFlow runs it: "profiler" plus ReLU (1 per
  element), bilinear resizing (3 linear interpolations, 9 per output element) and the argmax.
Only what inference computes is counted: the layers the main logits depend on (auxiliary heads are not).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import keras
import numpy as np

from li_seg.analysis.layer_calls import LayerCall, calls_needed_for, layer_calls


@dataclasses.dataclass(frozen=True)
class FlopConvention:
    """What a FLOP count includes besides 2 FLOPs per multiply-accumulate of the convolutions and Dense.

    atrous_grid: dilated convs count the output positions of TensorFlow's space-to-batch computation.
    batch_norm, activation, resize: FLOPs per output element of BatchNormalization, ReLU / ReLU6 / sigmoid,
      bilinear resizing.
    add, bias, pooling, preprocessing: 1 FLOP per element of residual adds and attention products, bias adds,
      pooling (per input element of a global mean, per window tap of a max- or average-pool output), the
      preprocessing's scale and offset.
    argmax: the predictions' argmax over the classes of the model's output, C - 1 comparisons per pixel.
    multiply_accumulates: count each multiply-accumulate once instead of twice (every other count must be off).
    """

    atrous_grid: bool
    batch_norm: int
    activation: int
    resize: int
    add: bool
    bias: bool
    pooling: bool
    preprocessing: bool
    argmax: bool
    multiply_accumulates: bool = False


_PROFILER = FlopConvention(
    atrous_grid=True, batch_norm=2, activation=0, resize=0, add=True, bias=True, pooling=True, preprocessing=True,
    argmax=False,
)
CONVENTIONS = {
    "paper": dataclasses.replace(_PROFILER, batch_norm=0, argmax=True),
    "profiler": _PROFILER,
    "macs": FlopConvention(
        atrous_grid=False, batch_norm=0, activation=0, resize=0, add=False, bias=False, pooling=False,
        preprocessing=False, argmax=False,
    ),
    "all": dataclasses.replace(_PROFILER, activation=1, resize=9, argmax=True),
}
CONVENTIONS["multiply_accumulates"] = dataclasses.replace(CONVENTIONS["macs"], multiply_accumulates=True)
FlopRule = Callable[[keras.layers.Layer, LayerCall, FlopConvention], int]
_RULES: dict[type, FlopRule] = {}


def register_flop_rule(*layer_types: type):
    """Decorator: `rule(layer, call, convention) -> FLOPs` counts the layers of `layer_types` (and subclasses)."""

    def register(rule: FlopRule) -> FlopRule:
        for layer_type in layer_types:
            _RULES[layer_type] = rule
        return rule

    return register


def zero_flops(layer, call: LayerCall, convention: FlopConvention) -> int:
    """Layers that move or select data without arithmetic."""
    return 0


def elements(shape) -> int:
    return math.prod(shape)


def _atrous_extent(size: int, kernel: int, rate: int, padding: str) -> int:
    """Output positions along one axis of a stride-1 conv dilated by `rate` in TensorFlow's space-to-batch form:
    the (SAME-padded) input is padded to a multiple of `rate`, split into rate x rate sub-grids, each convolved
    VALID with the undilated kernel (tf.nn.convolution)."""
    padded = size + ((kernel - 1) * rate if padding == "same" else 0)
    return math.ceil(padded / rate) * rate - (kernel - 1) * rate


def output_positions(call: LayerCall, kernel_size, rates, padding: str, convention: FlopConvention) -> int:
    """Batch x output height x output width of a conv-like layer (the space-to-batch grid if dilated)."""
    batch, height, width = call.output_shapes[0][:3]
    if convention.atrous_grid and max(rates) > 1:
        in_height, in_width = call.input_shapes[0][1:3]
        height = _atrous_extent(in_height, kernel_size[0], rates[0], padding)
        width = _atrous_extent(in_width, kernel_size[1], rates[1], padding)
    return batch * height * width


def depthwise_flops(call: LayerCall, kernel_size, rates, convention: FlopConvention) -> int:
    """A SAME depthwise filter of `kernel_size` at `rates` on every channel: 2 x taps per output element."""
    positions = output_positions(call, kernel_size, rates, "same", convention)
    return positions * call.output_shapes[0][-1] * 2 * math.prod(kernel_size)


@register_flop_rule(keras.layers.Conv2D, keras.layers.DepthwiseConv2D)
def _conv_flops(layer, call: LayerCall, convention: FlopConvention) -> int:
    """2 x kh x kw x C_in / groups per output element (on the space-to-batch grid if dilated), + 1 per element of
    the (cropped) output for the bias add."""
    kernel_h, kernel_w = layer.kernel_size
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        macs_per_output = kernel_h * kernel_w
    else:
        macs_per_output = kernel_h * kernel_w * call.input_shapes[0][-1] // layer.groups
    positions = output_positions(call, layer.kernel_size, layer.dilation_rate, layer.padding, convention)
    bias = elements(call.output_shapes[0]) if convention.bias and layer.use_bias else 0
    return positions * call.output_shapes[0][-1] * 2 * macs_per_output + bias


@register_flop_rule(keras.layers.Dense)
def _dense_flops(layer, call: LayerCall, convention: FlopConvention) -> int:
    """2 x inputs per output unit (+ the bias add)."""
    return elements(call.output_shapes[0]) * (2 * call.input_shapes[0][-1] + (convention.bias and layer.use_bias))


@register_flop_rule(keras.layers.Rescaling)
def _rescaling_flops(layer, call: LayerCall, convention: FlopConvention) -> int:
    """The preprocessing x * scale + offset: 1 per element for each of scale != 1 and offset != 0."""
    operations = int(np.any(np.asarray(layer.scale) != 1)) + int(np.any(np.asarray(layer.offset) != 0))
    return convention.preprocessing * operations * elements(call.output_shapes[0])


@register_flop_rule(keras.layers.GlobalAveragePooling2D, keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
def _pooling_flops(layer, call: LayerCall, convention: FlopConvention) -> int:
    """TensorFlow's profiler rules: a global mean reads every input element once; a max- or average-pool output
    element combines its window's taps."""
    if isinstance(layer, keras.layers.GlobalAveragePooling2D):
        count = elements(call.input_shapes[0])
    else:
        count = elements(call.output_shapes[0]) * math.prod(layer.pool_size)
    return convention.pooling * count


@register_flop_rule(keras.layers.BatchNormalization, keras.layers.ReLU, keras.layers.Activation, keras.layers.Add,
                    keras.layers.Multiply)
def _elementwise_flops(layer, call: LayerCall, convention: FlopConvention) -> int:
    """Per output element: BN's scale and shift, an activation (ReLU, sigmoid), an add or a product (attention)."""
    if isinstance(layer, keras.layers.BatchNormalization):
        per_element = convention.batch_norm
    elif isinstance(layer, (keras.layers.ReLU, keras.layers.Activation)):
        per_element = convention.activation
    else:
        per_element = convention.add * (len(call.input_shapes) - 1)
    return per_element * elements(call.output_shapes[0])


register_flop_rule(
    keras.layers.Concatenate, keras.layers.Dropout, keras.layers.SpatialDropout2D, keras.layers.InputLayer,
    keras.layers.ZeroPadding2D, keras.layers.Identity, keras.layers.Reshape,
)(zero_flops)


def layer_flops(call: LayerCall, convention: FlopConvention) -> int:
    """The FLOPs of one layer call under `convention`; a TypeError for a layer type without a rule."""
    for layer_type in type(call.layer).__mro__:
        if layer_type in _RULES:
            return _RULES[layer_type](call.layer, call, convention)
    raise TypeError(
        f"no FLOP rule for layer {call.layer.name!r} of type {type(call.layer).__name__}: register one beside its "
        "class with li_seg.analysis.flops.register_flop_rule"
    )


def count_flops(model: keras.Model, height: int, width: int, convention: str | FlopConvention = "paper") -> int:
    """The FLOPs of `model`'s inference on one height x width image under `convention` (a name of CONVENTIONS or
    one). `model` has one output, its logits: a model with auxiliary heads is counted as evaluated, through
    `li_seg.models.inference_model` (this module imports no model: the layers import it for their rules)."""
    if isinstance(convention, str):
        convention = CONVENTIONS[convention]
    calls, logits = layer_calls(model, (1, height, width, model.inputs[0].shape[-1]))
    if isinstance(logits, dict):
        raise ValueError(f"{model.name} has several outputs ({', '.join(logits)}); count its inference model: "
                         "count_flops(li_seg.models.inference_model(model), ...)")
    total = sum(layer_flops(call, convention) for call in calls_needed_for(calls, logits))
    if convention.argmax:
        total += elements(logits.shape[:-1]) * (logits.shape[-1] - 1)
    if convention.multiply_accumulates:
        if convention != CONVENTIONS["multiply_accumulates"]:
            raise ValueError("multiply_accumulates counts the convolutions' multiply-accumulates alone")
        total //= 2  # every rule counts 2 per multiply-accumulate, and nothing else is counted
    return int(total)
