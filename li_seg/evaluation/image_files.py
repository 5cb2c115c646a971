"""Images one wants segmented, read from files, and the masks written back (`experiments.predict`).

Reading: any format Pillow decodes, fully decoded up front (a truncated file fails here, not half-way through a
model), turned upright by its EXIF orientation, and converted to 8-bit RGB with a note saying from what (grey,
palette, RGBA: alpha dropped, 16-bit: scaled by its maximum). Writing: the label map as a palette PNG (the pixel
value is the class, the palette the dataset's colours, so both tools and eyes read it) and a colour overlay.
"""

from __future__ import annotations

import glob
import pathlib
from typing import Optional

import numpy as np
from PIL import Image, ImageOps

from li_seg.evaluation.visualization import colorize, overlay

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def expand_inputs(spec: str) -> list[pathlib.Path]:
    """The files `spec` names: a file, a folder (its images by suffix, sorted; not recursive) or a glob pattern
    (every match, sorted). ValueError when it names nothing."""
    path = pathlib.Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{spec} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if path.is_file():
        return [path]
    files = sorted(pathlib.Path(p) for p in glob.glob(spec) if pathlib.Path(p).is_file())
    if not files:
        raise ValueError(f"--input={spec} is no file, folder or matching glob pattern")
    return files


def read_rgb(path: pathlib.Path) -> tuple[np.ndarray, Optional[str]]:
    """(H, W, 3) uint8 RGB of the image at `path` and a note on what was converted (None if nothing); OSError /
    ValueError (Pillow's) for a file that is not a readable image."""
    with Image.open(path) as image:
        image.load()
        notes = []
        upright = ImageOps.exif_transpose(image)
        if upright.size != image.size or upright.tobytes() != image.tobytes():
            notes.append("rotated upright by its EXIF orientation")
        image = upright
        mode = image.mode
        if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            values = np.asarray(image, np.float64)
            top = values.max() if values.size and values.max() > 0 else 1.0
            image = Image.fromarray(np.round(values / top * 255).astype(np.uint8))
            notes.append(f"{mode} values scaled by their maximum {top:g} to 8 bits")
        if image.mode != "RGB":
            what = {"L": "grey", "LA": "grey with alpha (alpha dropped)", "RGBA": "RGBA (alpha dropped)",
                    "P": "a palette image", "1": "black and white", "CMYK": "CMYK"}.get(image.mode, image.mode)
            notes.append(f"converted from {what} to RGB")
            image = image.convert("RGB")
        return np.asarray(image, np.uint8), "; ".join(notes) or None


def write_label_png(path: pathlib.Path, labels: np.ndarray, palette: np.ndarray) -> None:
    """`labels` (H, W) as a palette PNG: pixel value = class, colours = `palette` (at most 256 classes)."""
    if labels.max(initial=0) > 255:
        raise ValueError(f"{path}: a palette PNG holds classes 0-255, got {labels.max()}")
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    colours = np.zeros((256, 3), np.uint8)
    colours[:len(palette)] = palette[:256]
    image.putpalette(colours.reshape(-1).tolist())
    image.save(path)


def write_overlay(path: pathlib.Path, image: np.ndarray, labels: np.ndarray, palette: np.ndarray,
                  ignore_label: int = 255, alpha: float = 0.5) -> None:
    Image.fromarray(overlay(image, colorize(labels, palette, ignore_label), alpha)).save(path)
