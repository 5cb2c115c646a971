"""Checks shared by file-backed datasets when they list a split; each failure is a `DataError` with the fix."""

from __future__ import annotations

import os
import pathlib
from typing import Iterable, Optional

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
