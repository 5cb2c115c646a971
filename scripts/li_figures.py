"""The LI-Convs paper's figures as matplotlib plots (scripts/visualize_li.py computes what they show):
Fig. 5 (feature channels before / after an LI layer) and Fig. 6 (class heat maps and predictions)."""

from __future__ import annotations

import pathlib
from typing import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from li_seg.evaluation.visualization import colorize  # noqa: E402


def shared_scale(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both maps divided by the larger of their maxima, clipped to [0, 1] (all-zero maps stay 0)."""
    top = max(float(before.max()), float(after.max()))
    top = top if top > 0 else 1.0
    return np.clip(before / top, 0.0, 1.0), np.clip(after / top, 0.0, 1.0)


def plot_fig5(path, image, before, after, channels: Sequence[int], weights: np.ndarray, layer_name: str) -> None:
    """Fig. 5: the image, then per channel its map before (top) and after (bottom) the LI layer."""
    columns = len(channels) + 1
    figure, axes = plt.subplots(2, columns, figsize=(2.2 * columns, 4.4), squeeze=False,
                               layout="constrained")
    axes[0, 0].imshow(np.asarray(image, np.uint8))
    axes[0, 0].set_title("input", fontsize=9)
    axes[1, 0].text(0.0, 0.5, f"{layer_name}\nW_L mean {weights.mean():.3f}\nmax {weights.max():.3f}\n"
                    "top: before LI\nbottom: ReLU(LI(.))", fontsize=8, va="center")
    for column, channel in enumerate(channels, start=1):
        top, bottom = shared_scale(before[..., channel], after[..., channel])
        axes[0, column].imshow(top, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[0, column].set_title(f"ch {channel}  W_L={weights[channel]:.3f}", fontsize=8)
        axes[1, column].imshow(bottom, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for axis in axes.flat:
        axis.axis("off")
    figure.suptitle(f"LI-Convs Fig. 5: feature channels before / after {layer_name}", fontsize=10)
    save_figure(figure, path)


def heatmap_classes(label_maps: Sequence[np.ndarray], count: int, ignore_label: int) -> list[int]:
    """The `count` classes covering the most pixels over `label_maps` (ground truth and predictions), ascending."""
    counts = {}
    for labels in label_maps:
        values, sizes = np.unique(labels[labels != ignore_label], return_counts=True)
        for value, size in zip(values.tolist(), sizes.tolist()):
            counts[value] = counts.get(value, 0) + size
    ranked = sorted(counts, key=lambda value: (-counts[value], value))
    return sorted(ranked[:count])


def plot_fig6(path, image, label, rows: Sequence[tuple[str, np.ndarray]], classes: Sequence[int], info) -> None:
    """Fig. 6: per model row the image, the ground truth (when given), class heat maps and the prediction."""
    leading = 1 if label is None else 2
    columns = leading + len(classes) + 1
    figure, axes = plt.subplots(len(rows), columns, figsize=(2.2 * columns, 2.4 * len(rows)),
                               squeeze=False, layout="constrained")
    for row, (title, probabilities) in enumerate(rows):
        axes[row, 0].imshow(np.asarray(image, np.uint8))
        axes[row, 0].set_title(title, fontsize=8)
        if label is not None:
            axes[row, 1].imshow(colorize(label, info.palette, info.ignore_label))
            axes[row, 1].set_title("ground truth", fontsize=8)
        for column, class_id in enumerate(classes, start=leading):
            heat_map = axes[row, column].imshow(probabilities[..., class_id], cmap="jet", vmin=0.0, vmax=1.0)
            axes[row, column].set_title(f"P({info.class_names[class_id]})", fontsize=8)
        axes[row, -1].imshow(colorize(probabilities.argmax(-1), info.palette, info.ignore_label))
        axes[row, -1].set_title("prediction", fontsize=8)
    for axis in axes.flat:
        axis.axis("off")
    figure.colorbar(heat_map, ax=axes[:, leading:-1], shrink=0.8, label="softmax probability")
    figure.suptitle("LI-Convs Fig. 6: class heat maps and predictions", fontsize=10)
    save_figure(figure, path)


def save_figure(figure, path) -> None:
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
