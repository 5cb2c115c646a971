"""python -m scripts.convert_weights --from=FORMAT --input=PATH --output=FILE.weights.h5
    [--backbone=NAME --stem=beta|plain --stem_widths=A,B,C] [--paper=P --ablation=A --num_classes=N]
    [--allow_non_finite]

Converts a pretrained file once into a .weights.h5 of our network, by our layer names (`li_seg.weights.converted`),
which then loads as `--backbone_weights` (a backbone, also one with the layers a paper adds: LI, smoothing, left at
their initialisation) or `--init_checkpoint` (a whole model). Nothing is downloaded.

- Backbone (default): the network is read from the file (`li_seg.weights.describe.infer_backbone`: depth, unit
  type, stem and its widths; --backbone / --stem / --stem_widths override), built in the file's own layout and
  loaded through the format's table (`li_seg.weights`; every unmatched, missing or mis-shaped variable named, no
  partial loads). The output loads into any layout and output stride of that backbone; it records the source
  network's BN epsilon, which a backbone built from it then uses (and checks).
- Whole model (--paper, --ablation, --num_classes): a research/deeplab DeepLabv3 / v3+ checkpoint or Wang & Ji's
  DeepLabv2 into that row's model, head included.
--from: one of li_seg.weights.FORMATS, or "auto" (detected from the file). Prints the backbone config to use.
The input is read as untrusted (docs/weights_security.md): anything refused or unreadable ends with one message
naming the file and the problem, exit status 2; NaN / Inf weights are refused unless --allow_non_finite.
"""

from __future__ import annotations

from experiments.quiet import quiet_tensorflow  # noqa: E402  (first: before TensorFlow)

quiet_tensorflow()

import dataclasses  # noqa: E402
import sys  # noqa: E402

from absl import app, flags  # noqa: E402

from li_seg import weights  # noqa: E402
from li_seg.backbones import NEW_LAYERS, build_backbone, family  # noqa: E402
from li_seg.backbones.pretrained import load_pretrained, resolve_pretrained  # noqa: E402
from li_seg.layers.normalization import BatchNormSettings  # noqa: E402
from li_seg.weights import converted  # noqa: E402
from li_seg.weights.describe import infer_backbone  # noqa: E402

FLAGS = flags.FLAGS


def convert_backbone(path: str, fmt: str, output: str, allow_non_finite: bool = False, **overrides) -> str:
    """Writes `output`, the .weights.h5 of the backbone `path` holds; returns the backbone config's description."""
    if fmt in ("keras", "tf_checkpoint"):
        raise ValueError(f"{path} is one of our own formats ({fmt}) already: load it directly")
    tensors = weights.read_tensors(path, fmt, allow_non_finite)
    config = dataclasses.replace(infer_backbone(fmt, tensors), weights=path, weights_format=fmt,
                                 allow_non_finite_weights=allow_non_finite,
                                 **{k: v for k, v in overrides.items() if v is not None})
    opened = weights.PretrainedFile(path, fmt, family(config.name), allow_non_finite, tensors,
                                    weights.backbone_mapping(fmt, tensors, family(config.name), path))
    config = resolve_pretrained(config, opened)
    backbone = build_backbone(config, BatchNormSettings())
    load_pretrained(backbone, opened)
    epsilon = opened.bn_epsilon
    converted.write(backbone, output, f"{path} ({fmt})", epsilon, normalization=config.normalization)
    fields = [f"name={config.name!r}"]
    if config.name != "mobilenet_v2":
        fields += [f"layout={config.layout!r}", f"stem={config.stem!r}"]
        fields += [f"stem_widths={tuple(config.stem_widths)}"] if config.stem == "beta" else []
    fields += [f"normalization={config.normalization!r}"] if config.normalization else []
    return (f"BackboneConfig({', '.join(fields)}) (the layout the weights were trained in; BN epsilon "
            f"{epsilon:g})")


def convert_model(path: str, fmt: str, output: str, paper: str, ablation: str, num_classes: int,
                  allow_non_finite: bool = False) -> str:
    """Writes `output`, the .weights.h5 of the whole model of `paper`'s `ablation` that `path` holds."""
    from experiments.papers import get_experiment
    from li_seg.models import build_model

    model = build_model(get_experiment(paper, ablation).model, num_classes)
    weights.load_model_weights(model, path, fmt, new_layers=NEW_LAYERS, allow_non_finite=allow_non_finite)
    converted.write(model, output, f"{path} ({fmt})", None, new_layers=NEW_LAYERS)
    return f"the model of --paper={paper} --ablation={ablation} ({num_classes} classes)"


def main(argv) -> int:
    del argv
    if not FLAGS.input or not FLAGS.output or not FLAGS.output.endswith(".weights.h5"):
        print("give --input=PATH and --output=FILE.weights.h5", file=sys.stderr)
        return 2
    whole = (FLAGS.paper, FLAGS.ablation, FLAGS.num_classes)
    if any(v is not None for v in whole) and not all(v is not None for v in whole):
        print("a whole model needs all of --paper, --ablation and --num_classes", file=sys.stderr)
        return 2
    try:
        fmt = weights.detect_format(FLAGS.input) if FLAGS["from"].value == "auto" else FLAGS["from"].value
        if FLAGS.paper:
            what = convert_model(FLAGS.input, fmt, FLAGS.output, *whole, allow_non_finite=FLAGS.allow_non_finite)
        else:
            widths = tuple(int(w) for w in FLAGS.stem_widths) if FLAGS.stem_widths else None
            what = convert_backbone(FLAGS.input, fmt, FLAGS.output, FLAGS.allow_non_finite, name=FLAGS.backbone,
                                    stem=FLAGS.stem, stem_widths=widths)
    except (OSError, ValueError) as error:  # WeightsError is a ValueError; OSError: the output cannot be written
        print(f"convert_weights: {error}", file=sys.stderr)
        return 2
    print(f"wrote {FLAGS.output}: {what}, from {FLAGS.input} ({fmt})")
    return 0


def define_flags() -> None:
    """The command line's flags, defined only when run as a script (tests import the functions above next to
    modules such as experiments.flags that define flags of the same names)."""
    flags.DEFINE_enum("from", "auto", ("auto",) + weights.FORMATS, "The input's format.")
    flags.DEFINE_string("input", None, "The pretrained file (a TF checkpoint by its prefix).")
    flags.DEFINE_string("output", None, "The .weights.h5 to write.")
    flags.DEFINE_string("backbone", None, "Override the network read from the file: mobilenet_v2, resnet18 ... "
                        "resnet152.")
    flags.DEFINE_enum("stem", None, ("beta", "plain"), "Override the stem read from the file.")
    flags.DEFINE_list("stem_widths", None, "Override the deep stem's widths read from the file, e.g. 64,64,128.")
    flags.DEFINE_string("paper", None, "Whole model: the paper of --ablation.")
    flags.DEFINE_string("ablation", None, "Whole model: the row whose model the file holds.")
    flags.DEFINE_integer("num_classes", None, "Whole model: the classes of the file's classifier.")
    flags.DEFINE_boolean("allow_non_finite", False, "Convert NaN / Inf weights (refused by default).")


if __name__ == "__main__":
    define_flags()
    app.run(main)
