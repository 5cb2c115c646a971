"""What a dataset module provides to the pipeline: a `DatasetSpec` and, per split, its `Examples`.

A dataset (VOC, Cityscapes, ADE20K, ...) is one module that builds a `DatasetSpec`: its `DatasetInfo`, the label
table of `label_map.py`, a `load_split(data_config, split) -> Examples` that lists the split's files (checking
they exist and that the split has its expected size, `files.py`), and, when its files are not plain images and
single-channel label PNGs, its own `read_image` / `read_label`. Everything else (label mapping, checks,
augmentation, batching, validation, conversion to TFRecords, the TFDS builder, error reports) is shared.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Union

import tensorflow as tf

from li_seg.config import DataConfig
from li_seg.data import readers
from li_seg.data.info import DatasetInfo
from li_seg.data.label_map import make_label_map


@dataclasses.dataclass(frozen=True)
class Examples:
    """One split's examples in file order.

    names: a short name per example (file stem), returned as "name" by evaluation batches.
    images, labels: what the dataset's `read_image` / `read_label` take for each example: file paths by default,
      the encoded bytes when `in_memory`, or a dataset's own description (e.g. CelebAMask-HQ's list of part masks).
    listing: where the list came from (the split's list file, or a description), quoted in error messages.
    in_memory: whether `images` / `labels` hold bytes (error messages then name the example, not the bytes).
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
        return self.select(range(min(count, len(self))))

    def select(self, indices) -> "Examples":
        """The examples at `indices`, in that order."""
        indices = list(indices)
        return dataclasses.replace(
            self,
            names=tuple(self.names[i] for i in indices),
            images=tuple(self.images[i] for i in indices),
            labels=tuple(self.labels[i] for i in indices),
        )

    def image_file(self, index: int) -> str:
        """How error messages name example `index`'s image."""
        return f"{self.listing}: image {self.names[index]}" if self.in_memory else str(self.images[index])

    def label_file(self, index: int) -> str:
        """How error messages name example `index`'s label."""
        return f"{self.listing}: label {self.names[index]}" if self.in_memory else str(self.labels[index])


Reader = Callable[[tf.Tensor], tf.Tensor]


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A dataset as the pipeline sees it.

    info: classes, palette, split sizes.
    load_split: (data_config, split) -> Examples; raises `DataError` (with the fix) when the split cannot be listed.
    label_map: the table from stored label values to class ids (`label_map.make_label_map`).
    read_image: an `Examples.images` entry (tf.string scalar) -> uint8 (H, W, 3); graph-compatible.
    read_label: an `Examples.labels` entry -> int32 (H, W, C) label values as stored (before `label_map`).
    """

    info: DatasetInfo
    load_split: Callable[[DataConfig, str], Examples]
    label_map: tuple[int, ...] = make_label_map()
    read_image: Reader = readers.read_image
    read_label: Reader = readers.read_label
