"""Colour label maps and blend them over images (TensorBoard summaries, the visualise_* scripts).

Ignored pixels (label 255) are drawn white, so they stay distinct from PASCAL's black background (class 0).
NumPy in, NumPy out: tensors are accepted through np.asarray.
"""

from __future__ import annotations

import numpy as np

IGNORE_COLOR = (255, 255, 255)


def colorize(label_map, palette, ignore_label: int = 255) -> np.ndarray:
    """RGB uint8 image (..., 3) with palette[label] per pixel and white for `ignore_label`.

    Args:
      label_map: integer labels of any shape (e.g. (H, W) or (B, H, W)); a trailing channel of 1 is dropped.
      palette: (K, 3) colours in [0, 255].
      ignore_label: label drawn white (255, 255, 255).
    Raises ValueError for labels outside [0, K) other than `ignore_label`.
    """
    labels = np.asarray(label_map).astype(np.int64)
    if labels.ndim >= 3 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    palette = np.asarray(palette, np.uint8)
    ignore = labels == ignore_label
    known = labels[~ignore]
    if known.size and (known.min() < 0 or known.max() >= len(palette)):
        raise ValueError(f"labels in [{known.min()}, {known.max()}] exceed the {len(palette)}-colour palette")
    colors = palette[np.where(ignore, 0, labels)]
    colors[ignore] = IGNORE_COLOR
    return colors


def overlay(image, color_map, alpha: float = 0.5) -> np.ndarray:
    """(1 - alpha) * image + alpha * color_map, rounded to uint8; image and color_map (..., 3) in [0, 255]."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    blended = (1.0 - alpha) * np.asarray(image, np.float64) + alpha * np.asarray(color_map, np.float64)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)
