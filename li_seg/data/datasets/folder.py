"""The user's own data ("folder"): images and label PNGs in two directories with matching names.

    data_dir/
      images/<split>/<name>.jpg|.jpeg|.png|.bmp      e.g. images/train/0001.jpg, images/val/0107.png
      labels/<split>/<name>.png                      single-channel class ids, same height and width
      classes.json                                   {"class_names": ["background", "road", ...],
                                                      "ignore_label": 255, "palette": [[0, 0, 0], ...]}

Splits are the sub-directories of images/ (each needs its twin under labels/). classes.json gives the class names
(class id = position), the stored value of ignored pixels (default 255; mapped to li_seg's ignore label 255) and
optionally a palette (default: the VOC colour map). DataConfig.class_names / ignore_value (--class_names,
--ignore_value) replace the file's values, and then the file is not needed. There is no expected split size.
"""

from __future__ import annotations

import functools
import json
import pathlib

from li_seg.config import DataConfig
from li_seg.data.errors import DataError
from li_seg.data.files import MAX_LISTED, require_data_dir, require_split
from li_seg.data.info import IGNORE_LABEL, DatasetInfo
from li_seg.data.label_map import make_label_map
from li_seg.data.datasets.palettes import voc_colormap
from li_seg.data.spec import DatasetSpec, Examples

NAME = "folder"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
CLASSES_FILE = "classes.json"
LAYOUT = "images/<split>/ and labels/<split>/ with matching file names, and classes.json"


def _classes(data_config: DataConfig, root: pathlib.Path) -> tuple[tuple[str, ...], int, tuple]:
    """(class names, ignore value, palette) from the config, else from data_dir/classes.json."""
    described = {}
    path = root / CLASSES_FILE
    if path.is_file():
        try:
            described = json.loads(path.read_text())
            if not isinstance(described, dict):
                raise ValueError("the file must hold one JSON object")
        except ValueError as error:
            raise DataError(f"{path} is not valid JSON ({error}); expected e.g. "
                            '{"class_names": ["background", "road"], "ignore_label": 255}') from None
    listed = described.get("class_names", [])
    if not isinstance(listed, list) or not all(isinstance(name, str) and name for name in listed):
        raise DataError(f"{path}: 'class_names' must be a list of non-empty strings, e.g. [\"background\", "
                        f"\"road\"], got {listed!r}")
    names = tuple(data_config.class_names) or tuple(listed)
    if not names:
        raise DataError(f"the folder dataset needs class names: write {path} with "
                        '{"class_names": [...], "ignore_label": 255}, or pass --class_names=a,b,c')
    ignore = data_config.ignore_value if data_config.ignore_value is not None else described.get(
        "ignore_label", IGNORE_LABEL)
    if not isinstance(ignore, int) or not len(names) <= ignore <= 255:
        raise DataError(f"ignore label {ignore!r} of the folder dataset must be an integer in [0, 255] that is not a "
                        f"class id (there are {len(names)} classes)")
    if len(names) > 255:
        raise DataError(f"the folder dataset has {len(names)} classes; label PNGs hold at most 255 class ids")
    palette = described.get("palette") if not data_config.class_names else None
    if palette is not None and not _is_palette(palette, len(names)):
        raise DataError(f"{path}: 'palette' needs one [R, G, B] of integers in [0, 255] per class ({len(names)}), "
                        f"got {palette!r}")
    palette = tuple(tuple(int(c) for c in colour) for colour in palette) if palette else voc_colormap(len(names))
    return names, ignore, palette


def _is_palette(palette, classes: int) -> bool:
    return isinstance(palette, list) and len(palette) == classes and all(
        isinstance(colour, list) and len(colour) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in colour)
        for colour in palette)


def _pairs(root: pathlib.Path, split: str) -> tuple[list[str], list[str], list[str]]:
    """(names, image paths, label paths) of a split, sorted by name; DataError listing unmatched files."""
    image_dir, label_dir = root / "images" / split, root / "labels" / split
    if not label_dir.is_dir():
        raise DataError(f"{label_dir} is missing: every images/<split>/ needs labels/<split>/ ({LAYOUT})")
    images = {}
    for path in sorted(image_dir.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in images:
                raise DataError(f"two images named {path.stem!r} in {image_dir} ({images[path.stem].name}, "
                                f"{path.name}): keep one")
            images[path.stem] = path
    labels = {path.stem: path for path in label_dir.glob("*.png")}
    unlabelled = sorted(set(images) - set(labels))
    orphans = sorted(set(labels) - set(images))
    if unlabelled or orphans:
        raise DataError(
            f"folder {split}: {len(unlabelled)} image(s) without a label in {label_dir} (e.g. "
            f"{unlabelled[:MAX_LISTED]}) and {len(orphans)} label(s) without an image in {image_dir} (e.g. "
            f"{orphans[:MAX_LISTED]}). Fix: give every image a label PNG of the same name, or remove the strays."
        )
    names = sorted(images)
    return names, [str(images[name]) for name in names], [str(labels[name]) for name in names]


@functools.lru_cache(maxsize=8)
def make_spec(data_config: DataConfig) -> DatasetSpec:
    """The folder dataset described by data_config (its data_dir, class_names, ignore_value); the directories are
    listed once per configuration and process."""
    root = require_data_dir(data_config.data_dir, NAME, LAYOUT)
    names, ignore, palette = _classes(data_config, root)
    image_root = root / "images"
    if not image_root.is_dir():
        raise DataError(f"{image_root} is missing: the folder dataset expects {LAYOUT}")
    splits = sorted(path.name for path in image_root.iterdir() if path.is_dir())
    if not splits:
        raise DataError(f"{image_root} has no split directories: put images in images/train/, images/val/, ...")
    listed = {split: _pairs(root, split) for split in splits}
    info = DatasetInfo(
        name=NAME, num_classes=len(names), class_names=names, palette=palette,
        split_sizes={split: len(pairs[0]) for split, pairs in listed.items()},
    )

    def load_split(config: DataConfig, split: str) -> Examples:
        require_split(split, splits, NAME)
        stems, images, labels = listed[split]
        if not stems:
            raise DataError(f"{root / 'images' / split} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return Examples(names=tuple(stems), images=tuple(images), labels=tuple(labels),
                        listing=str(root / "images" / split))

    return DatasetSpec(info=info, load_split=load_split, label_map=make_label_map({ignore: IGNORE_LABEL}))
