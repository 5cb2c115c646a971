"""A prepared split as the record streams read it (li_seg's TFRecords or a TFDS build)."""

from __future__ import annotations

import dataclasses
from typing import Callable


@dataclasses.dataclass(frozen=True)
class RecordSource:
    """A prepared split: shard files in example order, the number of examples, and the record parser
    (serialized -> image uint8 (H, W, 3), label int32 (H, W, C) of class ids, name)."""

    files: tuple[str, ...]
    count: int
    parse: Callable
    location: str
