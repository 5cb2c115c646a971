"""python -m scripts.model_table --paper=li_convs [--num_classes=21] [--size=513] [--convention=paper] [--profiler]

The parameter and FLOP columns of a paper's model tables (LI-Convs: Tables IV and V, `PAPER_TABLE_COLUMNS` of
experiments/papers/li_convs.py), recomputed from our models: for every row, our trainable parameter count (the
paper's "Parameters (Kilo)" counts trainable variables: BN gammas and betas, not the moving statistics;
PAPERS.md section 1) against the printed K, and our FLOPs at size x size, batch 1, against the printed FLOPs.

FLOPs are counted analytically, layer by layer (nested backbone models included), from the shapes of a
symbolic call at the given size. A multiply-accumulate of Conv2D, DepthwiseConv2D, the LI layer (a zone x zone
depthwise conv, Eq. 5) and Dense counts 2 FLOPs. What else counts is a `FlopConvention` (`--convention`):

- "paper" (default): what TensorFlow's profiler (tf.compat.v1.profiler, float_operation) counts on the
  inference graph research/deeplab exports, which the authors' TF1 code builds:
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
  and no argmax: TensorFlow's profiler on our own frozen graph (`--profiler` prints that count too; it also
  counts the per-channel arithmetic on BN's and the LI layers' weights, a few hundred thousand FLOPs).
- "macs": 2 x multiply-accumulates of the convolutions and Dense on their true output grid, nothing else.
- "all": every arithmetic operation of the inference graph as TensorFlow runs it: "profiler" plus ReLU (1 per
  element), bilinear resizing (3 linear interpolations, 9 per output element) and the argmax.

Result at 513 x 513, 21 classes, convention "paper" (`python -m scripts.model_table --paper=li_convs`): all
eleven rows of Tables IV and V within 0.022 % (MobileNetV2 rows +0.001 to +0.006 %, ResNet-50 rows -0.005 to
+0.006 %, with decoder +0.001 to +0.022 %), except `li_mnv2_li_aspp` (+0.12 %: LI at RB 10, 13, 16, whereas
the printed row counts RB 13, 16, `li_mnv2_rb13_16_li_aspp`, +0.005 %). Gaps left:
- the decoder: ours adds 5.516 G to the ASPP model, the paper's rows 5.50 +- 0.01 G, about 15 M (0.02 %) less;
  not explained (ours: 1x1 conv 48 on the OS-4 features, two separable 3 x 3 convs 256 and the logits, all
  at 129 x 129, rate 1, bias on the logits only);
- RD vs LI: the paper's RD rows are 0.01 / 0.02 G above its LI rows, ours are equal (both a 3 x 3 depthwise
  conv at the same places; RD is not in the authors' released code, its bias or kernel arithmetic unknown).
Other conventions, for the record: without the argmax the MobileNetV2 rows are 5.3 M (0.08 %) lower;
"profiler" is +1.3 % (MobileNetV2) / +0.2 % (ResNet-50) above the paper, "all" +2.8 % / +0.4 %, "macs"
-0.24 % / -4.3 % below (the space-to-batch grid: 40 x 40 instead of 33 x 33 positions, +47 %, for the rate-8
3 x 3 conv of block4 unit 3; 3.7 G over block4's three dilated convs). TensorFlow's
profiler on our frozen graphs gives 6.5618 G (mnv2_aspp) and 87.5126 G (resnet50_aspp), the "profiler"
convention within 0.002 % of both.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
from typing import Optional, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: E402

from experiments.config import ConfigError  # noqa: E402
from experiments.papers import get_experiment, list_ablations  # noqa: E402
from li_seg.layers.lateral_inhibition import LateralInhibition  # noqa: E402
from li_seg.layers.resize import ResizeToMatch  # noqa: E402
from li_seg.models import build_model  # noqa: E402

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class FlopConvention:
    """What a FLOP count includes besides 2 FLOPs per multiply-accumulate of the convolutions and Dense.

    atrous_grid: dilated convs count the output positions of TensorFlow's space-to-batch computation.
    batch_norm, activation, resize: FLOPs per output element of BatchNormalization, ReLU / ReLU6, bilinear
      resizing (`ResizeToMatch`).
    add, bias, pooling, preprocessing: 1 FLOP per element of residual adds, bias adds, pooling (per input
      element of a global mean, per window tap of a max-pool output), the preprocessing's scale and offset.
    argmax: the predictions' argmax over the classes of the model's output, C - 1 comparisons per pixel.
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
ZERO_COST_LAYERS = (
    keras.layers.Concatenate, keras.layers.Dropout, keras.layers.InputLayer, keras.layers.ZeroPadding2D,
)


@dataclasses.dataclass(frozen=True)
class LayerCall:
    """One call of a (non-model) layer during a symbolic forward pass: its input and output shapes."""

    layer: keras.layers.Layer
    input_shapes: tuple
    output_shapes: tuple


# ---------------------------------------------------------------------------------------------------------------
# Counting.


def trainable_parameters(model: keras.Model) -> int:
    """The number of trainable weights: the paper's "Parameters" (Tables IV, V; PAPERS.md section 1)."""
    return int(sum(math.prod(variable.shape) for variable in model.trainable_weights))


def layer_calls(model: keras.Model, input_shape: Sequence[int]) -> list[LayerCall]:
    """Every layer call of `model` on a symbolic input of `input_shape`, nested models walked through.

    Keras' own shape propagation (the graph walk `compute_output_spec` makes), with each nested functional
    model's graph walked in turn instead of being treated as one operation.
    """
    calls = []

    def operation_fn(operation):
        def run(*args, **kwargs):
            if isinstance(operation, keras.Model):
                return operation._run_through_graph(args[0], operation_fn=operation_fn)
            outputs = operation.compute_output_spec(*args, **kwargs)
            inputs = [x for x in keras.tree.flatten((args, kwargs)) if isinstance(x, keras.KerasTensor)]
            calls.append(LayerCall(
                operation, tuple(x.shape for x in inputs), tuple(x.shape for x in keras.tree.flatten(outputs))
            ))
            return outputs

        return run

    model._run_through_graph(keras.KerasTensor(tuple(input_shape)), operation_fn=operation_fn)
    return calls


def _atrous_extent(size: int, kernel: int, rate: int, padding: str) -> int:
    """Output positions along one axis of a stride-1 conv dilated by `rate` in TensorFlow's space-to-batch form:
    the (SAME-padded) input is padded to a multiple of `rate`, split into rate x rate sub-grids, each convolved
    VALID with the undilated kernel (tf.nn.convolution)."""
    padded = size + ((kernel - 1) * rate if padding == "same" else 0)
    return math.ceil(padded / rate) * rate - (kernel - 1) * rate


def _output_positions(call: LayerCall, kernel_size, rates, padding: str, convention: FlopConvention) -> int:
    """Batch x output height x output width of a conv-like layer (the space-to-batch grid if dilated)."""
    batch, height, width = call.output_shapes[0][:3]
    if convention.atrous_grid and max(rates) > 1:
        in_height, in_width = call.input_shapes[0][1:3]
        height = _atrous_extent(in_height, kernel_size[0], rates[0], padding)
        width = _atrous_extent(in_width, kernel_size[1], rates[1], padding)
    return batch * height * width


def _conv_flops(layer, call: LayerCall, convention: FlopConvention) -> int:
    """Conv2D / DepthwiseConv2D: 2 x kh x kw x C_in / groups per output element (on the space-to-batch grid if
    dilated), + 1 per element of the (cropped) output for the bias add."""
    kernel_h, kernel_w = layer.kernel_size
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        macs_per_output = kernel_h * kernel_w
    else:
        macs_per_output = kernel_h * kernel_w * call.input_shapes[0][-1] // layer.groups
    positions = _output_positions(call, layer.kernel_size, layer.dilation_rate, layer.padding, convention)
    bias = math.prod(call.output_shapes[0]) if convention.bias and layer.use_bias else 0
    return positions * call.output_shapes[0][-1] * 2 * macs_per_output + bias


def _lateral_inhibition_flops(layer: LateralInhibition, call: LayerCall, convention: FlopConvention) -> int:
    """The LI layer (LI-Convs Eq. 5): a zone x zone depthwise conv at the LI rate, SAME, 2 x zone^2 per element.
    Its kernel is computed from the C intensities, not per pixel (constant at inference): not counted."""
    zone = (layer.zone_size, layer.zone_size)
    positions = _output_positions(call, zone, (layer.rate, layer.rate), "same", convention)
    return positions * call.output_shapes[0][-1] * 2 * layer.zone_size**2


def _dense_flops(layer, call: LayerCall, convention: FlopConvention) -> int:
    """Dense: 2 x inputs per output unit (+ the bias add)."""
    outputs = math.prod(call.output_shapes[0])
    return outputs * (2 * call.input_shapes[0][-1] + (convention.bias and layer.use_bias))


def _rescaling_flops(layer, call: LayerCall, convention: FlopConvention) -> int:
    """The preprocessing x * scale + offset: 1 per element for each of scale != 1 and offset != 0."""
    operations = int(np.any(np.asarray(layer.scale) != 1)) + int(np.any(np.asarray(layer.offset) != 0))
    return convention.preprocessing * operations * math.prod(call.output_shapes[0])


def _pooling_flops(layer, call: LayerCall, convention: FlopConvention) -> int:
    """TensorFlow's profiler rules: a global mean reads every input element once; a max-pool output element
    compares its window's taps."""
    if isinstance(layer, keras.layers.GlobalAveragePooling2D):
        elements = math.prod(call.input_shapes[0])
    else:
        elements = math.prod(call.output_shapes[0]) * math.prod(layer.pool_size)
    return convention.pooling * elements


def _elementwise_flops(layer, call: LayerCall, convention: FlopConvention) -> Optional[int]:
    """Per-output-element layers (BN, ReLU, Add, bilinear resize); None for other layer types."""
    if isinstance(layer, keras.layers.BatchNormalization):
        per_element = convention.batch_norm
    elif isinstance(layer, keras.layers.ReLU):
        per_element = convention.activation
    elif isinstance(layer, keras.layers.Add):
        per_element = convention.add * (len(call.input_shapes) - 1)
    elif isinstance(layer, ResizeToMatch):
        per_element = convention.resize
    else:
        return None
    return per_element * math.prod(call.output_shapes[0])


def layer_flops(call: LayerCall, convention: FlopConvention) -> int:
    """The FLOPs of one layer call under `convention`; a TypeError for a layer type without a rule."""
    layer = call.layer
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
        return _conv_flops(layer, call, convention)
    if isinstance(layer, LateralInhibition):
        return _lateral_inhibition_flops(layer, call, convention)
    if isinstance(layer, keras.layers.Dense):
        return _dense_flops(layer, call, convention)
    if isinstance(layer, keras.layers.Rescaling):
        return _rescaling_flops(layer, call, convention)
    if isinstance(layer, (keras.layers.GlobalAveragePooling2D, keras.layers.MaxPooling2D)):
        return _pooling_flops(layer, call, convention)
    if isinstance(layer, ZERO_COST_LAYERS):
        return 0
    elementwise = _elementwise_flops(layer, call, convention)
    if elementwise is None:
        raise TypeError(f"no FLOP rule for layer {layer.name!r} of type {type(layer).__name__}")
    return elementwise


def count_flops(model: keras.Model, height: int, width: int, convention: str | FlopConvention = "paper") -> int:
    """The FLOPs of `model` on one height x width image under `convention` (a name of CONVENTIONS or one)."""
    if isinstance(convention, str):
        convention = CONVENTIONS[convention]
    input_shape = (1, height, width, model.inputs[0].shape[-1])
    total = sum(layer_flops(call, convention) for call in layer_calls(model, input_shape))
    if convention.argmax:
        output_shape = model.compute_output_shape(input_shape)
        total += math.prod(output_shape[:-1]) * (output_shape[-1] - 1)
    return int(total)


def profiler_flops(model: keras.Model, height: int, width: int) -> int:
    """TensorFlow's own count: tf.compat.v1.profiler's float_operation on the frozen inference graph, batch 1."""
    spec = tf.TensorSpec((1, height, width, model.inputs[0].shape[-1]), tf.float32)
    function = tf.function(lambda images: model(images, training=False)).get_concrete_function(spec)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    graph = convert_variables_to_constants_v2(function).graph
    return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)


# ---------------------------------------------------------------------------------------------------------------
# The table.


def paper_table_columns(paper: str) -> dict:
    """The paper's printed columns {ablation: (parameters in K, FLOPs in G)}; a ValueError if it has none."""
    list_ablations(paper)  # a ConfigError for an unknown paper
    columns = getattr(importlib.import_module(f"experiments.papers.{paper}"), "PAPER_TABLE_COLUMNS", None)
    if not columns:
        raise ValueError(
            f"paper {paper!r} defines no PAPER_TABLE_COLUMNS (printed parameters and FLOPs): nothing to compare"
        )
    return columns


def table_row(
    paper: str, ablation: str, printed: tuple, num_classes: int, size: int, convention: str, profiler: bool
) -> dict:
    """One row: our parameters and FLOPs against the printed (parameters in K, FLOPs in G)."""
    model = build_model(get_experiment(paper, ablation).model, num_classes)
    params, flops = trainable_parameters(model), count_flops(model, size, size, convention)
    paper_params_k, paper_gflops = printed
    row = {
        "ablation": ablation, "params": params, "params_k": params / 1e3, "paper_params_k": paper_params_k,
        "params_diff_k": params / 1e3 - paper_params_k, "flops": flops, "paper_flops": paper_gflops * 1e9,
        "flops_diff_pct": 100.0 * (flops / (paper_gflops * 1e9) - 1.0),
    }
    if profiler:
        row["profiler_flops"] = profiler_flops(model, size, size)
    return row


def table_rows(
    paper: str, num_classes: int = 21, size: int = 513, convention: str = "paper",
    ablations: Optional[Sequence[str]] = None, profiler: bool = False,
) -> list[dict]:
    """The rows of `paper`'s PAPER_TABLE_COLUMNS in their order (only `ablations` when given)."""
    columns = paper_table_columns(paper)
    names = list(columns) if ablations is None else list(ablations)
    unknown = [name for name in names if name not in columns]
    if unknown:
        raise ValueError(f"{unknown} not in {paper}'s PAPER_TABLE_COLUMNS: {', '.join(columns)}")
    return [table_row(paper, name, columns[name], num_classes, size, convention, profiler) for name in names]


def format_table(rows: list[dict]) -> str:
    """The rows as a text table: parameters (exact, K, paper's K, difference), GFLOPs (ours, paper's, %)."""
    profiler = "profiler_flops" in rows[0]
    header = (
        f"{'ablation':<28} {'params':>11} {'K ours':>10} {'K paper':>9} {'diff K':>8} | "
        f"{'GFLOPs ours':>11} {'paper':>7} {'diff':>8}" + (f" | {'TF profiler':>11}" if profiler else "")
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        line = (
            f"{row['ablation']:<28} {row['params']:>11,} {row['params_k']:>10.3f} {row['paper_params_k']:>9g} "
            f"{row['params_diff_k']:>+8.3f} | {row['flops'] / 1e9:>11.4f} {row['paper_flops'] / 1e9:>7g} "
            f"{row['flops_diff_pct']:>+7.3f}%"
        )
        lines.append(line + (f" | {row['profiler_flops'] / 1e9:>11.4f}" if profiler else ""))
    return "\n".join(lines)


def main(argv) -> None:
    del argv
    if FLAGS.convention not in CONVENTIONS:
        raise app.UsageError(f"--convention: one of {', '.join(CONVENTIONS)} (got {FLAGS.convention!r})")
    try:
        rows = table_rows(FLAGS.paper, FLAGS.num_classes, FLAGS.size, FLAGS.convention, profiler=FLAGS.profiler)
    except (ConfigError, ValueError) as error:  # unknown paper, or one without PAPER_TABLE_COLUMNS
        raise app.UsageError(str(error)) from error
    print(f"{FLAGS.paper}: {FLAGS.num_classes} classes, FLOPs at {FLAGS.size}x{FLAGS.size}, batch 1, "
          f"convention {FLAGS.convention!r}: {CONVENTIONS[FLAGS.convention]}")
    print(format_table(rows))


def define_flags() -> None:
    """The command line's flags, defined only when run as a program: the functions above are also imported
    (tests), next to modules that define flags of their own."""
    flags.DEFINE_string("paper", "li_convs", "Paper whose PAPER_TABLE_COLUMNS to reproduce.")
    flags.DEFINE_integer("num_classes", 21, "Classes of the logits layer (the tables' PASCAL VOC: 21).")
    flags.DEFINE_integer("size", 513, "Square input size of the FLOP count.")
    flags.DEFINE_string("convention", "paper", f"FLOP counting convention: {', '.join(CONVENTIONS)}.")
    flags.DEFINE_bool("profiler", False, "Also print TensorFlow's profiler count on our frozen graph (slow).")


if __name__ == "__main__":
    define_flags()
    app.run(main)
