"""The embedded "synthetic" dataset: procedural scenes (`synthetic_scenes.py`) generated in memory, no files.

Each split is generated on first use, deterministically (example i of a split comes from
`np.random.default_rng((SEED, split id, i))`), cached for the life of the process, and handed to the pipeline as
PNG bytes so it goes through the same decode and checks as file datasets. Image sizes vary (H, W each in
[112, 160]) so evaluation at original resolution is exercised.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from li_seg.config import DataConfig
from li_seg.data import readers
from li_seg.data.datasets import synthetic_scenes
from li_seg.data.files import require_split
from li_seg.data.info import DatasetInfo
from li_seg.data.spec import DatasetSpec, Examples

SEED = 20240531
_SPLIT_IDS = {"train": 0, "val": 1}

INFO = DatasetInfo(
    name="synthetic",
    num_classes=len(synthetic_scenes.CLASS_NAMES),
    class_names=synthetic_scenes.CLASS_NAMES,
    palette=synthetic_scenes.PALETTE,
    split_sizes={"train": 480, "val": 64},
)


@functools.lru_cache(maxsize=None)
def generate_split(split: str) -> tuple[synthetic_scenes.Scene, ...]:
    """The split's scenes (cached per process)."""
    require_split(split, INFO.split_sizes, INFO.name)
    return tuple(
        synthetic_scenes.make_scene(np.random.default_rng((SEED, _SPLIT_IDS[split], index)))
        for index in range(INFO.split_sizes[split])
    )


def _encode_png(array: np.ndarray) -> bytes:
    """Uncompressed PNG (the images are noisy; compression would cost seconds and save little memory)."""
    return tf.io.encode_png(array if array.ndim == 3 else array[:, :, None], compression=0).numpy()


@functools.lru_cache(maxsize=None)
def _encoded_split(split: str) -> Examples:
    scenes = generate_split(split)
    return Examples(
        names=tuple(f"{split}_{index:04d}" for index in range(len(scenes))),
        images=tuple(_encode_png(scene.image) for scene in scenes),
        labels=tuple(_encode_png(scene.label) for scene in scenes),
        listing=f"synthetic {split} (generated in memory)",
        in_memory=True,
    )


def load_split(data_config: DataConfig, split: str) -> Examples:
    """The split's scenes as PNG bytes; data_config.data_dir is not used."""
    del data_config
    return _encoded_split(split)


SPEC = DatasetSpec(
    info=INFO, load_split=load_split, read_image=readers.decode_image, read_label=readers.decode_label
)
