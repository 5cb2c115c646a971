"""python -m scripts.visualize_li --model_dir=DIR [--baseline_model_dir=DIR2] [--image=PATH | --split=S --index=I]
    [--layer=NAME] [--channels=8] [--classes=4] [--output=OUT.png] [--checkpoint=auto]

The LI-Convs paper's qualitative figures (PAPERS.md section 1), for a trained model dir of experiments.train:

- Fig. 5, written to OUT_fig5.png: what one lateral-inhibition (LI) layer does to its features. Column 0: the
  input image (top) and the layer's name with its W_L statistics (bottom). Then, for the `--channels` channels
  with the largest learned intensity W_L (titled with their W_L), the feature map before the LI layer (top row:
  its input) and after it (bottom row: ReLU of its output, i.e. what the following dilated conv reads). Both maps
  of a channel share one display scale ([0, max of the two] -> [0, 1]): LI only subtracts non-negative
  neighbours from non-negative features, so the "after" map is the "before" map darkened around strong
  neighbours, and a shared scale shows exactly that. --layer picks the LI layer (default: the model's first).
- Fig. 6 (and 7, 8), written to OUT_fig6.png: one row per model (the LI model; the --baseline_model_dir model
  below it, as the paper compares baseline and LI): the input image, the ground truth (dataset images only), the
  softmax probability heat map of up to `--classes` classes (those covering most pixels of the ground truth and
  the predictions, the same classes in every row), and the colourised prediction (single scale).

--output defaults to MODEL_DIR/visualize_li.png, i.e. MODEL_DIR/visualize_li_fig5.png and _fig6.png. The image is
--image (PNG or JPEG, RGB) or example --index of --split (default: the config's eval split) of the model dir's
dataset. The learned intensities of every LI layer (mean / min / max of W_L) and those of the plotted channels
are printed. A model dir without config.json or checkpoint, a model without LI layers, an unknown --layer and an
unreadable image end with a one-line error (exit code 2). --checkpoint applies to --model_dir; the baseline's is
chosen as by --checkpoint=auto (its best, else its latest).
"""

from __future__ import annotations

import pathlib
import sys
from typing import Optional

from experiments.quiet import quiet_tensorflow  # noqa: E402  (first: before TensorFlow)

quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from PIL import Image  # noqa: E402

from experiments import config as config_lib  # noqa: E402
from experiments.papers import li_convs  # noqa: E402
from li_seg import data  # noqa: E402
from li_seg.evaluation.inference import predict_probabilities  # noqa: E402
from li_seg.layers.inhibition import has_lateral_inhibition  # noqa: E402
from li_seg.layers.lateral_inhibition import LateralInhibition  # noqa: E402
from li_seg.training.checkpoints import load_trained_model as load_trained_model_from  # noqa: E402
from scripts.li_figures import heatmap_classes, plot_fig5, plot_fig6  # noqa: E402

FLAGS = flags.FLAGS


class VisualizationError(ValueError):
    """A model dir, layer or image that cannot be visualised; the message says why and what is valid."""


# ---------------------------------------------------------------------------------------------------------------
# The model and its LI layers.


def li_ablations() -> list[str]:
    """The LI-Convs ablations whose models have LI layers."""
    return [name for name, make in li_convs.PAPER.ablations.items() if has_lateral_inhibition(make().model)]


def load_config(model_dir) -> config_lib.ExperimentConfig:
    """MODEL_DIR/config.json, or a VisualizationError saying the dir is no experiments.train model dir."""
    path = pathlib.Path(model_dir) / "config.json"
    if not path.is_file():
        raise VisualizationError(
            f"{path} not found: --model_dir must be a model dir written by experiments.train "
            f"(python -m experiments.train --model_dir={model_dir} ...)"
        )
    return config_lib.load(path)


def load_trained_model(model_dir, checkpoint: str = "auto", *, require_li: bool = False):
    """(config, float32 model restored from `checkpoint` of model_dir), as experiments.export loads it.

    require_li: raise a VisualizationError naming the LI ablations when the model has no LI layer.
    """
    cfg = load_config(model_dir)
    if require_li and not has_lateral_inhibition(cfg.model):
        raise VisualizationError(
            f"the model in {model_dir} has no lateral-inhibition layers; the LI-Convs ablations with LI layers "
            f"are: {', '.join(li_ablations())} (e.g. python -m experiments.train --paper=li_convs "
            f"--ablation={li_convs.PAPER.main_ablation})"
        )
    try:
        num_classes = data.get_dataset_info(cfg.data).num_classes
        model, _ = load_trained_model_from(cfg.model, num_classes, model_dir, checkpoint)
    except FileNotFoundError as error:
        raise VisualizationError(str(error)) from None
    return cfg, model


def li_layers(model: keras.Model) -> dict[str, tuple[keras.Model, LateralInhibition]]:
    """Every LateralInhibition layer of `model`, nested models included, in build order: its paper name ("rb10",
    "aspp_rate6"; the layer name when it has none) -> (the model that holds it directly, the layer)."""
    found = {}
    for layer in model.layers:
        if isinstance(layer, LateralInhibition):
            found[layer.label or layer.name] = (model, layer)
        elif isinstance(layer, keras.Model):
            found.update(li_layers(layer))
    return found


def intensity(layer: LateralInhibition) -> np.ndarray:
    """The layer's learned W_L, one per channel (C,)."""
    return keras.ops.convert_to_numpy(layer.intensity)


def select_layer(model: keras.Model, name: Optional[str]) -> tuple[keras.Model, LateralInhibition]:
    """The LI layer `name`, by paper name ("rb13") or layer name ("block_12_lateral_inhibition"), None: the
    model's first; and the model that holds it. Unknown names list the valid."""
    layers = li_layers(model)
    if not layers:
        raise VisualizationError("the model has no lateral-inhibition layers")
    if name is None:
        return next(iter(layers.values()))
    for label, (holder, layer) in layers.items():
        if name in (label, layer.name):
            return holder, layer
    raise VisualizationError(f"unknown --layer {name!r}; the model's LI layers: "
                             + ", ".join(f"{label} ({layer.name})" for label, (_, layer) in layers.items()))


def display_name(layer: LateralInhibition) -> str:
    """"rb13 (block_12_lateral_inhibition)": the paper's name, then the layer's."""
    return f"{layer.label} ({layer.name})" if layer.label else layer.name


def intensity_report(model: keras.Model) -> str:
    """One line per LI layer: channels and mean / min / max of its learned W_L."""
    lines = ["learned LI intensities W_L (clipped to [0, 1]):"]
    for _, layer in li_layers(model).values():
        w = intensity(layer)
        lines.append(f"  {display_name(layer):<44} C={w.size:<5} mean {w.mean():.4f}  min {w.min():.4f}  "
                     f"max {w.max():.4f}")
    return "\n".join(lines)


def strongest_channels(weights: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` channels with the largest W_L, largest first (ties: the lower index first)."""
    return np.argsort(-weights, kind="stable")[:count]


# ---------------------------------------------------------------------------------------------------------------
# Fig. 5: features before and after an LI layer.


def feature_maps(model: keras.Model, layer_name: Optional[str], image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(before, after) of the LI layer `layer_name` for one image (H, W, 3) in [0, 255], each (h, w, C).

    before = the LI layer's input; after = the output of the ReLU that follows it (`inhibit`'s
    `<prefix>_inhibition_relu`), which the dilated conv reads. A layer inside the backbone is reached through a
    sub-model of the backbone: li_seg's backbones take the model's input image as it is (they normalise inside).
    """
    holder, layer = select_layer(model, layer_name)
    relu = holder.get_layer(layer.name.replace("_lateral_inhibition", "_inhibition_relu"))
    probe = keras.Model(holder.input, [layer.input, relu.output])
    before, after = probe(np.asarray(image, np.float32)[None], training=False)
    return keras.ops.convert_to_numpy(before)[0], keras.ops.convert_to_numpy(after)[0]


# ---------------------------------------------------------------------------------------------------------------
# Fig. 6: class heat maps and predictions, baseline vs LI.


def class_probabilities(model: keras.Model, image: np.ndarray) -> np.ndarray:
    """Softmax probabilities (H, W, K) of one image (H, W, 3) in [0, 255], single scale."""
    return predict_probabilities(model, np.asarray(image, np.float32)[None]).numpy()[0]


# ---------------------------------------------------------------------------------------------------------------
# Inputs and the whole tool.


def load_image(path) -> np.ndarray:
    """An RGB image file as float32 (H, W, 3) in [0, 255]; VisualizationError when it cannot be read."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), np.float32)
    except OSError as error:  # missing file, not an image (PIL.UnidentifiedImageError), truncated data
        raise VisualizationError(f"cannot read --image {str(path)!r}: {error}") from None


def dataset_example(data_config, split: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(image float32 (H, W, 3), label int32 (H, W)) of example `index` of `split`."""
    size = data.num_examples(data_config, split)
    if not 0 <= index < size:
        raise VisualizationError(f"--index {index} is outside {data_config.dataset}/{split} (0 .. {size - 1})")
    dataset = data.build_dataset(data_config, split, training=False, max_examples=index + 1)
    try:
        example = next(iter(dataset.skip(index)))
    except tf.errors.InvalidArgumentError as error:
        raise data.explain_error(error, data_config, split) from None
    return example["image"].numpy()[0], example["label"].numpy()[0]


def output_paths(output, model_dir) -> dict[str, pathlib.Path]:
    """OUT.png -> {"fig5": OUT_fig5.png, "fig6": OUT_fig6.png}; default OUT = MODEL_DIR/visualize_li.png."""
    base = pathlib.Path(output) if output else pathlib.Path(model_dir) / "visualize_li.png"
    return {figure: base.with_name(f"{base.stem}_{figure}.png") for figure in ("fig5", "fig6")}


def row_title(model_dir, cfg, role: str) -> str:
    inhibition = "LI" if has_lateral_inhibition(cfg.model) else "no LI"
    return f"{role}: {pathlib.Path(model_dir).name}\n({cfg.model.backbone.name}, {inhibition})"


def visualize(
    model_dir,
    *,
    baseline_model_dir=None,
    image_path=None,
    split: Optional[str] = None,
    index: int = 0,
    layer: Optional[str] = None,
    channels: int = 8,
    classes: int = 4,
    output=None,
    checkpoint: str = "auto",
) -> dict[str, pathlib.Path]:
    """Writes Fig. 5 and Fig. 6 for model_dir (and baseline_model_dir); returns {"fig5": path, "fig6": path}."""
    if channels < 1 or classes < 1:
        raise VisualizationError(f"--channels and --classes must be >= 1, got {channels} and {classes}")
    cfg, model = load_trained_model(model_dir, checkpoint, require_li=True)
    li_layer = select_layer(model, layer)[1]
    info = data.get_dataset_info(cfg.data)
    if image_path is not None:
        image, label = load_image(image_path), None
    else:
        image, label = dataset_example(cfg.data, split or cfg.data.eval_split, index)
    paths = output_paths(output, model_dir)
    print(intensity_report(model))

    weights = intensity(li_layer)
    chosen = strongest_channels(weights, channels)
    print(f"Fig. 5 channels of {display_name(li_layer)} (largest W_L first): "
          + ", ".join(f"{channel}: {weights[channel]:.4f}" for channel in chosen))
    before, after = feature_maps(model, li_layer.name, image)
    plot_fig5(paths["fig5"], image, before, after, chosen, weights, display_name(li_layer))

    rows = [(row_title(model_dir, cfg, "LI"), class_probabilities(model, image))]
    if baseline_model_dir is not None:
        baseline_cfg, baseline = load_trained_model(baseline_model_dir)
        if baseline_cfg.data.dataset != cfg.data.dataset:
            raise VisualizationError(
                f"the baseline was trained on {baseline_cfg.data.dataset!r}, the LI model on {cfg.data.dataset!r}: "
                "their classes differ"
            )
        rows.append((row_title(baseline_model_dir, baseline_cfg, "baseline"), class_probabilities(baseline, image)))
    label_maps = [probabilities.argmax(-1) for _, probabilities in rows] + ([] if label is None else [label])
    plot_fig6(paths["fig6"], image, label, rows, heatmap_classes(label_maps, classes, info.ignore_label), info)
    for figure, path in paths.items():
        print(f"wrote {figure}: {path}")
    return paths


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        visualize(
            FLAGS.model_dir, baseline_model_dir=FLAGS.baseline_model_dir, image_path=FLAGS.image, split=FLAGS.split,
            index=FLAGS.index, layer=FLAGS.layer, channels=FLAGS.channels, classes=FLAGS.classes,
            output=FLAGS.output, checkpoint=FLAGS.checkpoint,
        )
    except (VisualizationError, config_lib.ConfigError, data.DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def define_flags() -> None:
    """The command line's flags, defined only when run as a program: the functions above are also imported
    (tests), next to modules such as experiments.flags that define flags of the same names."""
    flags.DEFINE_string("model_dir", None, "Model dir of an LI model (config.json + checkpoint).", required=True)
    flags.DEFINE_string("baseline_model_dir", None, "Optional model dir of the baseline: a second row in Fig. 6.")
    flags.DEFINE_string("image", None, "An RGB image (PNG or JPEG); default: --index of --split of the dataset.")
    flags.DEFINE_string("split", None, "Dataset split of the image (default: the config's eval split).")
    flags.DEFINE_integer("index", 0, "Example index in --split.")
    flags.DEFINE_string("layer", None, "LI layer of Fig. 5 by the paper's name (rb13, aspp_rate6) or layer name "
                          "(default: the first).")
    flags.DEFINE_integer("channels", 8, "Channels in Fig. 5 (those with the largest W_L).")
    flags.DEFINE_integer("classes", 4, "Class heat maps in Fig. 6 (the classes covering most pixels).")
    flags.DEFINE_string("output", None, "OUT.png -> OUT_fig5.png, OUT_fig6.png (default MODEL_DIR/visualize_li.png).")
    flags.DEFINE_string("checkpoint", "auto", "best, latest, auto (best, else latest) or a checkpoint prefix.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
