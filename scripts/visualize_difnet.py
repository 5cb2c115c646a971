"""python -m scripts.visualize_difnet --model_dir=DIR [--image=PATH | --split=S --index=I] [--pixels=r,c;r,c]
    [--output=OUT.png] [--checkpoint=auto]

DifNet's figures (Jiang et al., NeurIPS 2018; PAPERS.md section 5) for a trained DifNet model dir of
experiments.train, each a PNG:

- Fig. 2, OUT_fig2.png: the image, the score map x (its argmax, coloured), the influence map E_i = sum_k |x_ik|
  and the importance map M (the seed branch's view of where the seeds are).
- Fig. 3, OUT_fig3.png: one row per chosen pixel, one column per walk t: row i of P_t (where pixel i's new score
  is gathered from) as a heat map over the seed map, the pixel marked. Rows come from `li_seg.ops.transition_rows`
  (P_t is never built whole).
- Fig. 4, OUT_fig4.png: the prediction after each step: the seed s, then y_2 ... y_6 (argmax, coloured), and the
  ground truth for a dataset image.

Maps are at the seed's resolution (output stride 8), drawn stretched to the image. --pixels are (row, column) in
image coordinates, ";"-separated; by default three: the image centre and the pixels of the highest and the lowest
importance. mu_t and beta_t of every walk are printed beside the paper's Table 3. --output defaults to
MODEL_DIR/visualize_difnet.png. A model dir without a DifNet (a Sim-DeepLab has no walks), a pixel outside the
image and an unreadable image end with a one-line error (exit code 2).
"""

from __future__ import annotations

import pathlib
import sys
from typing import Optional, Sequence

from experiments.quiet import quiet_tensorflow  # noqa: E402  (first: before TensorFlow)

quiet_tensorflow()

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from experiments import config as config_lib  # noqa: E402
from li_seg import data  # noqa: E402
from li_seg.evaluation.visualization import colorize  # noqa: E402
from experiments.papers.difnet import TABLE_3  # noqa: E402
from li_seg.layers.random_walk import RandomWalk  # noqa: E402
from li_seg.models.difnet import LEVELS, analysis_outputs, walk_name  # noqa: E402
from li_seg.ops import transition_rows  # noqa: E402
from scripts.li_figures import save_figure  # noqa: E402
from scripts.visualize_li import VisualizationError, dataset_example, load_image, load_trained_model  # noqa: E402

FLAGS = flags.FLAGS


def walks(model) -> dict[int, RandomWalk]:
    """The model's walks by their place t in the five-walk cascade."""
    names = {layer.name: layer for layer in model.layers if isinstance(layer, RandomWalk)}
    return {t: names[walk_name(level)] for t, level in enumerate(LEVELS, start=1) if walk_name(level) in names}


def walk_report(model) -> str:
    """mu_t and beta_t of every walk beside the paper's Table 3."""
    lines = ["walk   mu_t    beta_t   (paper Table 3: mu_t / beta_t)"]
    for t, layer in walks(model).items():
        mu, beta = (float(np.asarray(value)) for value in (layer.mu, layer.beta))
        lines.append(f"{t:>4}  {mu:.4f}  {beta:.4f}   ({TABLE_3[t][0]:.4f} / {TABLE_3[t][1]:.4f})")
    return "\n".join(lines)


def parse_pixels(text: Optional[str]) -> Optional[list[tuple[int, int]]]:
    """"r,c;r,c" -> [(r, c), ...]; None for no text."""
    if not text:
        return None
    try:
        pixels = [tuple(int(v) for v in item.split(",")) for item in text.split(";") if item.strip()]
    except ValueError:
        pixels = []
    if not pixels or any(len(pixel) != 2 for pixel in pixels):
        raise VisualizationError(f"--pixels must be row,column pairs separated by ';' (e.g. 10,20;50,60), got "
                                 f"{text!r}")
    return pixels


def choose_pixels(importance: np.ndarray, image_shape) -> list[tuple[int, int]]:
    """The default pixels (image coordinates): the centre, the highest and the lowest importance."""
    height, width = image_shape[:2]
    h, w = importance.shape
    chosen = [(height // 2, width // 2)]
    for flat in (int(np.argmax(importance)), int(np.argmin(importance))):
        row, column = divmod(flat, w)
        chosen.append((min(height - 1, int((row + 0.5) * height / h)), min(width - 1, int((column + 0.5) * width / w))))
    return chosen


def to_node(pixel: tuple[int, int], image_shape, map_shape) -> tuple[int, int]:
    """The seed-map cell (row, column) of an image pixel; VisualizationError when it is outside the image."""
    (row, column), (height, width), (h, w) = pixel, image_shape[:2], map_shape
    if not (0 <= row < height and 0 <= column < width):
        raise VisualizationError(f"--pixels {pixel} is outside the {height} x {width} image")
    return min(h - 1, row * h // height), min(w - 1, column * w // width)


def difnet_maps(model, image: np.ndarray, pixels: Optional[Sequence[tuple[int, int]]]) -> dict:
    """What the figures show, as NumPy: x, E, M, the argmax after each step, the P_t rows of the chosen pixels."""
    outputs = {name: np.asarray(value)[0] for name, value in
               analysis_outputs(model)(image[None].astype(np.float32), training=False).items()}
    scores, importance = outputs["score_map"], outputs["importance"][..., 0]
    pixels = list(pixels) if pixels else choose_pixels(importance, image.shape)
    nodes = [to_node(pixel, image.shape, importance.shape) for pixel in pixels]
    width = importance.shape[1]
    rows = {}
    for t in walks(model):
        psi = outputs[f"psi{t}"]
        flat = psi.reshape(1, -1, psi.shape[-1])
        rows[t] = np.asarray(transition_rows(flat, [r * width + c for r, c in nodes]))[0].reshape(
            len(nodes), *importance.shape)
    steps = {"seed s": outputs["seed"].argmax(-1)}
    steps.update({f"after walk {t}": outputs[f"walk{t}"].argmax(-1) for t in walks(model)})
    return {"scores": scores, "influence": np.abs(scores).sum(-1), "importance": importance, "pixels": pixels,
            "nodes": nodes, "rows": rows, "steps": steps}


def _stretched(axis, values, image_shape, **kwargs):
    """Shows a seed-resolution map over the image's extent."""
    return axis.imshow(values, extent=(0, image_shape[1], image_shape[0], 0), interpolation="nearest", **kwargs)


def plot_fig2(path, image, maps, info) -> None:
    figure, axes = plt.subplots(1, 4, figsize=(11, 3), layout="constrained")
    axes[0].imshow(np.asarray(image, np.uint8))
    axes[0].set_title("image", fontsize=8)
    _stretched(axes[1], colorize(maps["scores"].argmax(-1), info.palette), image.shape)
    axes[1].set_title("score map x (argmax)", fontsize=8)
    figure.colorbar(_stretched(axes[2], maps["influence"], image.shape, cmap="jet"), ax=axes[2], shrink=0.7)
    axes[2].set_title("influence E = sum_k |x_k|", fontsize=8)
    figure.colorbar(_stretched(axes[3], maps["importance"], image.shape, cmap="jet", vmin=0, vmax=1), ax=axes[3],
                    shrink=0.7)
    axes[3].set_title("importance map M", fontsize=8)
    for axis in axes:
        axis.axis("off")
    figure.suptitle("DifNet Fig. 2: score, influence and importance maps", fontsize=10)
    save_figure(figure, path)


def plot_fig3(path, image, maps) -> None:
    pixels, rows = maps["pixels"], maps["rows"]
    figure, axes = plt.subplots(len(pixels), len(rows) + 1, figsize=(2.4 * (len(rows) + 1), 2.4 * len(pixels)),
                                squeeze=False, layout="constrained")
    for i, (row, column) in enumerate(pixels):
        axes[i, 0].imshow(np.asarray(image, np.uint8))
        axes[i, 0].plot(column, row, "w+", markersize=12, markeredgewidth=2)
        axes[i, 0].set_title(f"pixel ({row}, {column})", fontsize=8)
        for j, (t, values) in enumerate(rows.items(), start=1):
            _stretched(axes[i, j], values[i], image.shape, cmap="jet")
            axes[i, j].plot(column, row, "w+", markersize=12, markeredgewidth=2)
            axes[i, j].set_title(f"row of P_{t}", fontsize=8)
    for axis in axes.flat:
        axis.axis("off")
    figure.suptitle("DifNet Fig. 3: transition probabilities from the chosen pixels", fontsize=10)
    save_figure(figure, path)


def plot_fig4(path, image, label, maps, info) -> None:
    steps = maps["steps"]
    columns = len(steps) + 1 + (label is not None)
    figure, axes = plt.subplots(1, columns, figsize=(2.4 * columns, 2.6), squeeze=False, layout="constrained")
    axes[0, 0].imshow(np.asarray(image, np.uint8))
    axes[0, 0].set_title("image", fontsize=8)
    for column, (title, prediction) in enumerate(steps.items(), start=1):
        _stretched(axes[0, column], colorize(prediction, info.palette), image.shape)
        axes[0, column].set_title(title, fontsize=8)
    if label is not None:
        axes[0, -1].imshow(colorize(label, info.palette, info.ignore_label))
        axes[0, -1].set_title("ground truth", fontsize=8)
    for axis in axes.flat:
        axis.axis("off")
    figure.suptitle("DifNet Fig. 4: the prediction after each random walk", fontsize=10)
    save_figure(figure, path)


def output_paths(output, model_dir) -> dict[str, pathlib.Path]:
    """OUT.png -> {"fig2": OUT_fig2.png, ...}; default OUT = MODEL_DIR/visualize_difnet.png."""
    base = pathlib.Path(output) if output else pathlib.Path(model_dir) / "visualize_difnet.png"
    return {figure: base.with_name(f"{base.stem}_{figure}.png") for figure in ("fig2", "fig3", "fig4")}


def visualize(model_dir, *, image_path=None, split: Optional[str] = None, index: int = 0, pixels=None, output=None,
              checkpoint: str = "auto") -> dict[str, pathlib.Path]:
    """Writes Figs. 2-4 for model_dir; returns {"fig2": path, "fig3": path, "fig4": path}."""
    cfg, model = load_trained_model(model_dir, checkpoint)
    if cfg.model.architecture != "difnet" or not walks(model):
        raise VisualizationError(f"the model in {model_dir} is no DifNet with random walks (architecture "
                                 f"{cfg.model.architecture!r}); train one with python -m experiments.train "
                                 "--paper=difnet (a sim_deeplab_* ablation has no walks)")
    info = data.get_dataset_info(cfg.data)
    if image_path is not None:
        image, label = load_image(image_path), None
    else:
        image, label = dataset_example(cfg.data, split or cfg.data.eval_split, index)
    print(walk_report(model))
    maps = difnet_maps(model, image, pixels)
    paths = output_paths(output, model_dir)
    plot_fig2(paths["fig2"], image, maps, info)
    plot_fig3(paths["fig3"], image, maps)
    plot_fig4(paths["fig4"], image, label, maps, info)
    for figure, path in paths.items():
        print(f"wrote {figure}: {path}")
    return paths


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        visualize(FLAGS.model_dir, image_path=FLAGS.image, split=FLAGS.split, index=FLAGS.index,
                  pixels=parse_pixels(FLAGS.pixels), output=FLAGS.output, checkpoint=FLAGS.checkpoint)
    except (VisualizationError, config_lib.ConfigError, data.DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def define_flags() -> None:
    """The command line's flags, defined only when run as a program (tests import the functions)."""
    flags.DEFINE_string("model_dir", None, "Model dir of a DifNet (config.json + checkpoint).", required=True)
    flags.DEFINE_string("image", None, "An RGB image (PNG or JPEG); default: --index of --split of the dataset.")
    flags.DEFINE_string("split", None, "Dataset split of the image (default: the config's eval split).")
    flags.DEFINE_integer("index", 0, "Example index in --split.")
    flags.DEFINE_string("pixels", None, "Fig. 3's pixels as row,column in image coordinates, ';'-separated "
                        "(default: the centre, the highest and the lowest importance).")
    flags.DEFINE_string("output", None, "OUT.png -> OUT_fig2.png, OUT_fig3.png, OUT_fig4.png "
                        "(default MODEL_DIR/visualize_difnet.png).")
    flags.DEFINE_string("checkpoint", "auto", "best, latest, auto (best, else latest) or a checkpoint prefix.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
