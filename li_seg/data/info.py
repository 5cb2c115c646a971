"""`DatasetInfo`: what the rest of the library needs to know about a dataset (classes, palette, splits)."""

from __future__ import annotations

import dataclasses
from typing import Mapping

IGNORE_LABEL = 255


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """A dataset's fixed description.

    name: the registry name (`li_seg.data.list_datasets()`).
    num_classes: number of trained classes; labels are in [0, num_classes) or `ignore_label`.
    class_names: one name per class id.
    ignore_label: label value skipped by losses and metrics (always 255 in li_seg).
    palette: one (R, G, B) colour per class id, for visualisation.
    split_sizes: the papers' number of examples per split name; a raw split of another size is refused unless
      DataConfig.check_split_sizes is off (`li_seg.data.num_examples` gives the actual count).
    optional_splits: splits that a copy of the dataset may lack (e.g. CamVid's held-out test split); the others
      belong to every complete download.
    """

    name: str
    num_classes: int
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    split_sizes: Mapping[str, int] = dataclasses.field(hash=False)
    ignore_label: int = IGNORE_LABEL
    optional_splits: tuple[str, ...] = ()

    def __post_init__(self):
        if len(self.class_names) != self.num_classes or len(self.palette) != self.num_classes:
            raise ValueError(
                f"dataset {self.name!r}: {self.num_classes} classes but {len(self.class_names)} names and "
                f"{len(self.palette)} palette colours"
            )
        object.__setattr__(self, "split_sizes", dict(self.split_sizes))  # a copy: the caller's dict may change
