"""The label lookup table: maps the values stored in a dataset's label files to class ids.

Every dataset goes through it (identity by default), so a dataset only lists its exceptions, e.g. CamVid's void
value 11 -> 255, Cityscapes' 34 label ids -> 19 train ids, or Pascal Context's 459 label ids -> 59 classes +
background. Values a dataset does not map, including values beyond the end of the table, keep their value, so a
stray value is caught by the pipeline's range check instead of silently becoming a class.
"""

from __future__ import annotations

from typing import Mapping

import tensorflow as tf

TABLE_SIZE = 256


def make_label_map(mapping: Mapping[int, int] = (), size: int = TABLE_SIZE) -> tuple[int, ...]:
    """The `size`-entry table: identity, except stored value v -> mapping[v] (a class id or 255)."""
    table = list(range(size))
    for stored, mapped in dict(mapping).items():
        if not (0 <= stored < size and 0 <= mapped < 256):
            raise ValueError(f"label map entry {stored} -> {mapped} is outside [0, {size}) -> [0, 256)")
        table[stored] = mapped
    return tuple(table)


def apply_label_map(label: tf.Tensor, table: tuple[int, ...]) -> tf.Tensor:
    """Maps stored label values (any integer dtype and shape) through `table`; returns int32 of the same shape.
    Values outside the table keep their value."""
    label = tf.cast(label, tf.int32)
    inside = (label >= 0) & (label < len(table))
    mapped = tf.gather(tf.constant(table, tf.int32), tf.clip_by_value(label, 0, len(table) - 1))
    return tf.where(inside, mapped, label)
