"""python -m scripts.model_table --paper=PAPER [--num_classes=21] [--size=SIZE] [--convention=C] [--profiler]

The parameter and FLOP columns of a paper's model tables, recomputed from our models: for every ablation whose
printed parameters or FLOPs the paper's record holds (`PaperRecord.reported`, experiments/papers/<paper>.py),
our trainable parameter count (the papers' "Parameters" count trainable variables: BN gammas and betas, not the
moving statistics; PAPERS.md section 1; of the model as evaluated: auxiliary heads, trained only, are not
counted, as in the FLOPs) against the printed one, and our FLOPs at the paper's input size
(`PaperRecord.flops_size`, or --size), batch 1, against the printed FLOPs. A paper that prints no counts but
names a size (PAN: 512) gets every ablation's counts, ours being the reference.

FLOPs are counted by `li_seg.analysis.flops` (layer by layer; each layer type's rule beside its class; what a
FLOP counts is a convention, `--convention`, documented there; default: the paper record's `flops_convention`).

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

import math
from typing import Optional, Sequence

from experiments.quiet import quiet_tensorflow  # noqa: E402  (first: before TensorFlow)

quiet_tensorflow()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: E402

from experiments.config import ConfigError  # noqa: E402
from experiments.papers import get_experiment, record  # noqa: E402
from experiments.papers.record import Reported  # noqa: E402
from li_seg.analysis.flops import CONVENTIONS, count_flops  # noqa: E402
from li_seg.models import build_model, inference_model, main_logits  # noqa: E402

FLAGS = flags.FLAGS


def trainable_parameters(model: keras.Model) -> int:
    """The number of trainable weights: the papers' "Parameters" (PAPERS.md section 1)."""
    return int(sum(math.prod(variable.shape) for variable in model.trainable_weights))


def profiler_flops(model: keras.Model, height: int, width: int) -> int:
    """TensorFlow's own count: tf.compat.v1.profiler's float_operation on the frozen inference graph, batch 1."""
    spec = tf.TensorSpec((1, height, width, model.inputs[0].shape[-1]), tf.float32)
    function = tf.function(lambda images: main_logits(model(images, training=False))).get_concrete_function(spec)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    graph = convert_variables_to_constants_v2(function).graph
    return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)


# ---------------------------------------------------------------------------------------------------------------
# The table.


def table_columns(paper: str) -> dict:
    """{ablation: Reported} of the ablations whose parameters or FLOPs the paper printed; every ablation when it
    prints none but its record names a `flops_size` (our counts are the reference); a ValueError otherwise."""
    paper_record = record(paper)
    columns = {name: reported for name, reported in paper_record.reported.items()
               if reported.params_k is not None or reported.gflops is not None}
    if not columns and paper_record.flops_size is not None:
        columns = {name: paper_record.reported.get(name, Reported()) for name in paper_record.ablations}
    if not columns:
        raise ValueError(f"paper {paper!r} reports no parameter or FLOP counts: nothing to compare")
    return columns


def _difference(ours: float, printed: Optional[float], percent: bool = False) -> Optional[float]:
    if printed is None:
        return None
    return 100.0 * (ours / printed - 1.0) if percent else ours - printed


def table_row(
    paper: str, ablation: str, reported, num_classes: int, size: int, convention: str, profiler: bool
) -> dict:
    """One row: our parameters and FLOPs against the printed ones (None where the paper printed none)."""
    model = inference_model(build_model(get_experiment(paper, ablation).model, num_classes))
    params, flops = trainable_parameters(model), count_flops(model, size, size, convention)
    paper_flops = None if reported.gflops is None else reported.gflops * 1e9
    row = {
        "ablation": ablation, "params": params, "params_k": params / 1e3, "paper_params_k": reported.params_k,
        "params_diff_k": _difference(params / 1e3, reported.params_k), "flops": flops, "paper_flops": paper_flops,
        "flops_diff_pct": _difference(flops, paper_flops, percent=True), "source": reported.source,
    }
    if profiler:
        row["profiler_flops"] = profiler_flops(model, size, size)
    return row


def table_rows(
    paper: str, num_classes: int = 21, size: Optional[int] = None, convention: Optional[str] = None,
    ablations: Optional[Sequence[str]] = None, profiler: bool = False,
) -> list[dict]:
    """The rows of `paper`'s printed columns in the record's order (only `ablations` when given); FLOPs at `size`
    (default: the paper's `flops_size`, else 513) under `convention` (default: the paper's `flops_convention`)."""
    columns = table_columns(paper)
    size = size or record(paper).flops_size or 513
    convention = convention or record(paper).flops_convention
    names = list(columns) if ablations is None else list(ablations)
    unknown = [name for name in names if name not in columns]
    if unknown:
        raise ValueError(f"{paper} reports no parameters or FLOPs for {unknown}; it does for: {', '.join(columns)}")
    return [table_row(paper, name, columns[name], num_classes, size, convention, profiler) for name in names]


def _cell(value, spec: str, width: int) -> str:
    """`value` formatted by `spec` (which yields `width` characters), or "-" when the paper printed none."""
    return "-".rjust(width) if value is None else format(value, spec)


def format_table(rows: list[dict]) -> str:
    """The rows as a text table: parameters (exact, K, paper's K, difference), GFLOPs (ours, paper's, %)."""
    profiler = "profiler_flops" in rows[0]
    header = (
        f"{'ablation':<28} {'params':>11} {'K ours':>10} {'K paper':>9} {'diff K':>8} | "
        f"{'GFLOPs ours':>11} {'paper':>7} {'diff':>8}" + (f" | {'TF profiler':>11}" if profiler else "")
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        paper_gflops = None if row["paper_flops"] is None else row["paper_flops"] / 1e9
        line = (
            f"{row['ablation']:<28} {row['params']:>11,} {row['params_k']:>10.3f} "
            f"{_cell(row['paper_params_k'], '>9g', 9)} {_cell(row['params_diff_k'], '>+8.3f', 8)} | "
            f"{row['flops'] / 1e9:>11.4f} {_cell(paper_gflops, '>7g', 7)} {_cell(row['flops_diff_pct'], '>+7.3f', 7)}%"
        )
        lines.append(line + (f" | {row['profiler_flops'] / 1e9:>11.4f}" if profiler else ""))
    return "\n".join(lines)


def main(argv) -> None:
    del argv
    if FLAGS.convention is not None and FLAGS.convention not in CONVENTIONS:
        raise app.UsageError(f"--convention: one of {', '.join(CONVENTIONS)} (got {FLAGS.convention!r})")
    try:
        rows = table_rows(FLAGS.paper, FLAGS.num_classes, FLAGS.size, FLAGS.convention, profiler=FLAGS.profiler)
    except (ConfigError, ValueError) as error:  # unknown paper, or one that prints no parameters or FLOPs
        raise app.UsageError(str(error)) from error
    size = FLAGS.size or record(FLAGS.paper).flops_size or 513
    convention = FLAGS.convention or record(FLAGS.paper).flops_convention
    print(f"{FLAGS.paper}: {FLAGS.num_classes} classes, FLOPs at {size}x{size}, batch 1, "
          f"convention {convention!r}: {CONVENTIONS[convention]}")
    print(format_table(rows))


def define_flags() -> None:
    """The command line's flags, defined only when run as a program: the functions above are also imported
    (tests), next to modules that define flags of their own."""
    flags.DEFINE_string("paper", None, "Paper whose printed parameter and FLOP columns to reproduce.", required=True)
    flags.DEFINE_integer("num_classes", 21, "Classes of the logits layer (the tables' PASCAL VOC: 21).")
    flags.DEFINE_integer("size", None, "Square input size of the FLOP count (default: the paper's).")
    flags.DEFINE_string("convention", None, f"FLOP counting convention: {', '.join(CONVENTIONS)} (default: the "
                        "paper record's).")
    flags.DEFINE_bool("profiler", False, "Also print TensorFlow's profiler count on our frozen graph (slow).")


if __name__ == "__main__":
    define_flags()
    app.run(main)
