"""What a dataset module provides to the pipeline: a `DatasetSpec` and, per split, its `Examples`.

A new dataset (VOC, Cityscapes, ADE20K, ...) is one module that builds a `DatasetSpec`: its `DatasetInfo`, the
label table of `label_map.py`, and a `load_split(data_config, split) -> Examples` that lists the split's files
(checking they exist, `files.py`) or, like "synthetic", hands over encoded images held in memory. Everything else
(decoding, checks, augmentation, batching, error reports) is shared.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Union

from li_seg.config import DataConfig
from li_seg.data.info import DatasetInfo
from li_seg.data.label_map import make_label_map


@dataclasses.dataclass(frozen=True)
class Examples:
    """One split's examples in file order.

    names: a short name per example (file stem), returned as "name" by evaluation batches.
    images, labels: file paths, or (when `in_memory`) the encoded image / label bytes themselves.
    listing: where the list came from (the split's list file, or a description), quoted in error messages.
    in_memory: whether `images` / `labels` hold bytes instead of paths.
    """

    names: tuple[str, ...]
    images: tuple[Union[str, bytes], ...]
    labels: tuple[Union[str, bytes], ...]
    listing: str
    in_memory: bool = False

    def __len__(self) -> int:
        return len(self.names)

    def take(self, count: int) -> "Examples":
        """The first `count` examples."""
        return dataclasses.replace(
            self, names=self.names[:count], images=self.images[:count], labels=self.labels[:count]
        )

    def image_file(self, index: int) -> str:
        """How error messages name example `index`'s image."""
        return f"{self.listing}: image {self.names[index]}" if self.in_memory else str(self.images[index])

    def label_file(self, index: int) -> str:
        """How error messages name example `index`'s label."""
        return f"{self.listing}: label {self.names[index]}" if self.in_memory else str(self.labels[index])


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A dataset as the pipeline sees it.

    info: classes, palette, split sizes.
    load_split: (data_config, split) -> Examples; raises `DataError` (with the fix) when the split cannot be listed.
    label_map: the 256-entry table from stored label values to class ids (`label_map.make_label_map`).
    """

    info: DatasetInfo
    load_split: Callable[[DataConfig, str], Examples]
    label_map: tuple[int, ...] = make_label_map()
