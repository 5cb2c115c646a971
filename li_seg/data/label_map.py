"""The label lookup table: a 256-entry table that maps the values stored in a dataset's label files to class ids.

Every dataset goes through it (identity by default), so a new dataset only lists its exceptions, e.g. CamVid's
void value 11 -> 255 or Cityscapes' 34 label ids -> 19 train ids. Values a dataset does not map keep their value,
so a stray value is caught by the pipeline's range check instead of silently becoming a class.
"""

from __future__ import annotations

from typing import Mapping

import tensorflow as tf


def make_label_map(mapping: Mapping[int, int] = ()) -> tuple[int, ...]:
    """The 256-entry table: identity, except stored value v -> mapping[v] (class id or 255)."""
    table = list(range(256))
    for stored, mapped in dict(mapping).items():
        if not (0 <= stored < 256 and 0 <= mapped < 256):
            raise ValueError(f"label map entry {stored} -> {mapped} is outside [0, 256)")
        table[stored] = mapped
    return tuple(table)


def apply_label_map(label: tf.Tensor, table: tuple[int, ...]) -> tf.Tensor:
    """Maps a uint8 label map (any shape) through `table` (tf.gather); returns int32 of the same shape."""
    return tf.gather(tf.constant(table, tf.int32), tf.cast(label, tf.int32))
