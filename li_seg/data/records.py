"""li_seg's TFRecord format (written by `scripts.convert_dataset`): sharded, self-describing, verifiable.

An output directory holds, per split, shards `<split>-00000-of-00012.tfrecord` and a manifest `<split>.json`:

    {"format": 1, "dataset": "voc", "split": "val", "num_examples": 1449, "class_names": [...],
     "names_sha256": "<digest of the example names in order>",
     "shards": [{"file": "val-00000-of-00006.tfrecord", "first": 0, "count": 242, "sha256": "..." | null}, ...]}

A shard whose "sha256" is set was written completely (it is written to a temporary file and renamed first); the
manifest records the plan before any shard is written, so a re-run resumes where a run stopped. Each record is a
`tf.train.Example` with:

- "image/encoded": the image file's own bytes (JPEG / PNG, not re-encoded) when the dataset reads images as
  plain files; otherwise (e.g. CelebAMask-HQ's downsampled images) a lossless PNG of what the dataset reads;
- "label/encoded": a single-channel PNG of class ids, the dataset's label map already applied (255 = ignore);
- "image/name", "image/height", "image/width".
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import tensorflow as tf

from li_seg import atomic
from li_seg.data.errors import DataError
from li_seg.data.readers import decode_image

FORMAT_VERSION = 1
FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "label/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/name": tf.io.FixedLenFeature([], tf.string),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
}


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def manifest_path(output_dir, split: str) -> pathlib.Path:
    return pathlib.Path(output_dir) / f"{split}.json"


def serialize(image: bytes, label_png: bytes, name: str, height: int, width: int) -> bytes:
    """One record (see the module docstring)."""

    def feature(value):
        if isinstance(value, int):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    example = tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": feature(image), "label/encoded": feature(label_png), "image/name": feature(name.encode()),
        "image/height": feature(height), "image/width": feature(width),
    }))
    return example.SerializeToString()


def parse(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """A record -> (image uint8 (H, W, 3), label int32 (H, W, C) of class ids, name); graph-compatible."""
    features = tf.io.parse_single_example(serialized, FEATURES)
    image = decode_image(features["image/encoded"])
    label = tf.cast(tf.io.decode_png(features["label/encoded"], channels=0), tf.int32)
    return image, label, features["image/name"]


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A split's manifest (see the module docstring); `shards` are dicts with file, first, count, sha256."""

    dataset: str
    split: str
    num_examples: int
    class_names: tuple[str, ...]
    names_sha256: str
    shards: tuple[dict, ...]

    def to_json(self) -> str:
        fields = dataclasses.asdict(self)
        return json.dumps({"format": FORMAT_VERSION, **fields}, indent=1)

    def complete(self) -> bool:
        return all(shard["sha256"] for shard in self.shards)


def read_manifest(output_dir, split: str) -> Manifest:
    """The manifest of `split` in a convert_dataset output directory; DataError (with the fix) if absent."""
    path = manifest_path(output_dir, split)
    if not path.is_file():
        present = sorted(p.stem for p in pathlib.Path(output_dir).glob("*.json"))
        raise DataError(
            f"{path} is missing: {output_dir} holds no converted {split!r} split (splits there: {present or 'none'}). "
            "Fix: run python -m scripts.convert_dataset --dataset=NAME --data_dir=RAW_DIR --output_dir="
            f"{output_dir}, or point --data_dir at that output directory."
        )
    try:
        fields = json.loads(path.read_text())
        if fields.pop("format") != FORMAT_VERSION:
            raise ValueError(f"format {fields.get('format')} is not {FORMAT_VERSION}")
        fields["class_names"] = tuple(fields["class_names"])
        fields["shards"] = tuple(fields["shards"])
        return Manifest(**fields)
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path} is not a li_seg manifest ({error}). Fix: re-run scripts.convert_dataset into a "
                        "fresh --output_dir.") from None


def write_manifest(output_dir, manifest: Manifest) -> None:
    """Writes the manifest atomically (temporary file + rename), so an interrupted run never leaves half of one."""
    atomic.write_text(manifest_path(output_dir, manifest.split), manifest.to_json())


def shard_files(data_config, split: str, dataset_name: str, class_names) -> tuple[list[str], int]:
    """(shard paths in order, number of examples) of a converted split, checked to be complete and to hold the
    configured dataset; DataError (with the fix) otherwise."""
    manifest = read_manifest(data_config.data_dir, split)
    if manifest.dataset != dataset_name or manifest.class_names != tuple(class_names):
        raise DataError(
            f"{manifest_path(data_config.data_dir, split)} holds dataset {manifest.dataset!r}, not {dataset_name!r} "
            "with the configured classes. Fix: set --dataset to the converted dataset, or --data_dir to this "
            "dataset's converted directory."
        )
    if not manifest.complete():
        missing = [shard["file"] for shard in manifest.shards if not shard["sha256"]]
        raise DataError(
            f"the conversion of {split!r} in {data_config.data_dir} is unfinished ({len(missing)} of "
            f"{len(manifest.shards)} shards not written, e.g. {missing[0]}). Fix: re-run the same "
            "scripts.convert_dataset command; it resumes where it stopped."
        )
    paths = [str(pathlib.Path(data_config.data_dir) / shard["file"]) for shard in manifest.shards]
    absent = [path for path in paths if not pathlib.Path(path).is_file()]
    if absent:
        raise DataError(f"{len(absent)} shard(s) of {split!r} listed in the manifest are missing, e.g. {absent[0]}. "
                        "Fix: copy the whole output directory, or re-run scripts.convert_dataset.")
    return paths, manifest.num_examples
