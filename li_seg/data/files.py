"""Checks shared by file-backed datasets when they list a split; each failure is a `DataError` with the fix."""

from __future__ import annotations

import os
import pathlib
from typing import Iterable, Optional

from li_seg.config import DataConfig
from li_seg.data.errors import DataError

MAX_LISTED = 5


def require_data_dir(data_dir: Optional[str], dataset: str, expected: str) -> pathlib.Path:
    """data_dir as a Path; DataError if unset or not a directory. expected: what the folder should hold."""
    if not data_dir:
        raise DataError(f"dataset {dataset!r} needs DataConfig.data_dir (--data_dir): the folder holding {expected}")
    path = pathlib.Path(data_dir).expanduser()
    if not path.is_dir():
        raise DataError(
            f"data_dir {str(path)!r} of dataset {dataset!r} does not exist or is not a directory: set "
            f"DataConfig.data_dir (--data_dir) to the folder holding {expected}"
        )
    return path


def require_split(split: str, splits: Iterable[str], dataset: str) -> None:
    """DataError if `split` is not one of the dataset's splits."""
    splits = list(splits)
    if split not in splits:
        raise DataError(f"dataset {dataset!r} has no split {split!r}; valid splits: {', '.join(splits)}")


def require_file(path: pathlib.Path, what: str, fix: str) -> None:
    """DataError if the file `path` (described by `what`) is missing."""
    if not path.is_file():
        raise DataError(f"{what} {str(path)!r} is missing: {fix}")


def require_files_exist(paths: Iterable[str], listing: str) -> None:
    """DataError counting the files listed in `listing` that are missing, and naming the first few."""
    paths = list(paths)
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing:
        shown = "\n  ".join(missing[:MAX_LISTED]) + ("\n  ..." if len(missing) > MAX_LISTED else "")
        raise DataError(
            f"{len(missing)} of the {len(paths)} files listed in {listing} are missing, e.g.:\n  {shown}\n"
            "Fix: copy the complete dataset into data_dir (the listed paths are relative to it), or point "
            "DataConfig.data_dir (--data_dir) at the complete copy."
        )


def check_split_size(count: int, data_config: DataConfig, dataset: str, split: str, expected: int, where: str) -> None:
    """DataError if a split has `count` examples instead of the papers' `expected` (unless
    data_config.check_split_sizes is off). where: what was counted, e.g. "pairs in leftImg8bit/train"."""
    if count != expected and data_config.check_split_sizes:
        raise DataError(
            f"{dataset} {split}: found {count} {where}, but the papers' {split} split has {expected}. Fix: complete "
            f"the download (README 'Datasets' lists each file to extract where), or, to use a subset or modified "
            f"copy on purpose, turn the check off with DataConfig.check_split_sizes=False "
            f"(--nocheck_split_sizes)."
        )


def pair_files(
    image_dir: pathlib.Path, image_suffix: str, label_dir: pathlib.Path, label_suffix: str, pattern: str,
    where: str, fix: str,
) -> list[tuple[str, str]]:
    """The (image, label) path pairs image_dir/<key><image_suffix>, label_dir/<key><label_suffix> for the keys
    matching the glob `pattern` ("*", or "*/*" for one level of sub-folders), sorted by image path. DataError
    naming (the first few of) the images without their label and the labels without their image, with the `fix`.
    where: what the message is about, e.g. "cityscapes train"."""

    def by_key(folder: pathlib.Path, suffix: str) -> dict[str, pathlib.Path]:
        return {str(path.relative_to(folder))[: -len(suffix)]: path for path in folder.glob(pattern + suffix)}

    images, labels = by_key(image_dir, image_suffix), by_key(label_dir, label_suffix)
    lonely = [f"image {images[key]} has no label {label_dir / (key + label_suffix)}"
              for key in sorted(images.keys() - labels.keys())]
    lonely += [f"label {labels[key]} has no image {image_dir / (key + image_suffix)}"
               for key in sorted(labels.keys() - images.keys())]
    if lonely:
        shown = "\n  ".join(lonely[:MAX_LISTED]) + ("\n  ..." if len(lonely) > MAX_LISTED else "")
        raise DataError(f"{where}: {len(lonely)} file(s) without their counterpart, e.g.:\n  {shown}\nFix: {fix}")
    return sorted((str(images[key]), str(labels[key])) for key in images)
