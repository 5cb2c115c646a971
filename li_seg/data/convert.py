"""Converting a raw split to li_seg's sharded TFRecords (`records.py`), resumably, and verifying the result.

`convert_split` lists the split, plans its shards (recorded in the manifest before anything is written), and
writes each shard that is not already complete: to a temporary file first, renamed when it is whole, then marked
complete with its SHA-256 in the manifest. A re-run with the same listing skips the complete shards; a different
listing (files added, another dataset) is refused rather than mixed in. Every example goes through the same
reading and checks as training, so a defective example stops the conversion naming its file, unless
DataConfig.skip_bad_examples leaves it out (and reports it). `verify_split` reads everything back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import pathlib

import tensorflow as tf
from absl import logging

from li_seg.config import DataConfig
from li_seg.data import records
from li_seg.data.encode import encoded_examples
from li_seg.data.errors import DataError
from li_seg.data.examples import load_examples
from li_seg.data.pipeline import build_dataset
from li_seg.data.registry import get_spec
from li_seg.data.spec import DatasetSpec, Examples


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _names_digest(names) -> str:
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def _plan(spec: DatasetSpec, split: str, examples: Examples, examples_per_shard: int) -> records.Manifest:
    count = len(examples)
    num_shards = max(1, math.ceil(count / examples_per_shard))
    bounds = [round(i * count / num_shards) for i in range(num_shards + 1)]  # shards differ by at most one
    shards = tuple(
        {"file": records.shard_name(split, i, num_shards), "first": bounds[i], "count": bounds[i + 1] - bounds[i],
         "sha256": None}
        for i in range(num_shards)
    )
    return records.Manifest(
        dataset=spec.info.name, split=split, num_examples=count, class_names=spec.info.class_names,
        names_sha256=_names_digest(examples.names), shards=shards,
    )


def _same_plan(a: records.Manifest, b: records.Manifest) -> bool:
    strip = lambda m: dataclasses.replace(m, shards=tuple({**s, "sha256": None} for s in m.shards))  # noqa: E731
    return strip(a) == strip(b)


def _write_shard(path: pathlib.Path, examples: Examples, shard: dict, data_config, split, bar) -> str:
    """Writes one shard (temporary file, then rename); returns its SHA-256."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with tf.io.TFRecordWriter(str(temporary)) as writer:
            for image, label, name, height, width in encoded_examples(
                    data_config, split, examples, shard["first"], shard["count"]):
                writer.write(records.serialize(image, label, name.decode(), int(height), int(width)))
                if bar is not None:
                    bar.update(1)
    except DataError:
        temporary.unlink(missing_ok=True)
        raise
    temporary.replace(path)
    return _sha256(path)


def convert_split(data_config: DataConfig, split: str, output_dir, examples_per_shard: int = 256,
                  progress: bool = False) -> records.Manifest:
    """Converts (or finishes converting) `split` of a raw dataset into output_dir; returns the final manifest."""
    if examples_per_shard < 1:
        raise ValueError(f"examples_per_shard must be >= 1, got {examples_per_shard}")
    spec = get_spec(data_config)
    examples = load_examples(data_config, split)
    output = pathlib.Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    manifest = _plan(spec, split, examples, examples_per_shard)
    if records.manifest_path(output, split).is_file():
        existing = records.read_manifest(output, split)
        if not _same_plan(existing, manifest):
            raise DataError(
                f"{records.manifest_path(output, split)} belongs to another conversion ({existing.dataset} {split}, "
                f"{existing.num_examples} examples, other files or shard sizes) than this one ({manifest.dataset}, "
                f"{manifest.num_examples} examples). Fix: use a fresh --output_dir, or delete {split}.json and "
                f"{split}-*.tfrecord there to start this split again."
            )
        manifest = existing
    records.write_manifest(output, manifest)
    shards = list(manifest.shards)
    todo = [i for i, shard in enumerate(shards)
            if not (shard["sha256"] and (output / shard["file"]).is_file()
                    and _sha256(output / shard["file"]) == shard["sha256"])]
    logging.info("%s %s: %d examples in %d shards, %d already complete", spec.info.name, split, len(examples),
                 len(shards), len(shards) - len(todo))
    bar = None
    if progress:
        import tqdm  # a dependency of tensorflow-datasets

        bar = tqdm.tqdm(total=sum(shards[i]["count"] for i in todo), desc=f"converting {spec.info.name} {split}",
                        unit="img", dynamic_ncols=True)
    try:
        for i in todo:
            digest = _write_shard(output / shards[i]["file"], examples, shards[i], data_config, split, bar)
            shards[i] = {**shards[i], "sha256": digest}
            manifest = dataclasses.replace(manifest, shards=tuple(shards))
            records.write_manifest(output, manifest)
    finally:
        if bar is not None:
            bar.close()
    return manifest


def verify_split(data_config: DataConfig, split: str, output_dir) -> int:
    """Reads a converted split back: every shard's SHA-256 and record count against the manifest, every record
    decoded and checked as training reads it, and the names in the order of the raw listing. Returns the number
    of examples; DataError naming the first discrepancy."""
    output = pathlib.Path(output_dir)
    manifest = records.read_manifest(output, split)
    examples = load_examples(data_config, split)
    if manifest.names_sha256 != _names_digest(examples.names):
        raise DataError(f"{output} ({split}) was converted from another listing than {data_config.data_dir} "
                        "now gives. Fix: re-convert into a fresh --output_dir.")
    for shard in manifest.shards:
        path = output / shard["file"]
        if not shard["sha256"] or not path.is_file() or _sha256(path) != shard["sha256"]:
            raise DataError(f"shard {path} is missing, unfinished or changed since it was written. Fix: re-run "
                            "scripts.convert_dataset with the same arguments; it rewrites that shard.")
        found = sum(1 for _ in tf.data.TFRecordDataset(str(path)))
        if found != shard["count"]:
            raise DataError(f"shard {path} holds {found} records, its manifest says {shard['count']}. Fix: delete "
                            "it and re-run scripts.convert_dataset.")
    converted = dataclasses.replace(data_config, data_format="tfrecord", data_dir=str(output),
                                    skip_bad_examples=False)
    names = []
    try:
        for batch in build_dataset(converted, split, training=False).as_numpy_iterator():
            names.extend(name.decode() for name in batch["name"])
    except tf.errors.InvalidArgumentError as error:
        raise DataError(f"a record in {output} ({split}) fails the pipeline's checks: {error.message}") from None
    if tuple(names) != examples.names:
        raise DataError(f"{output} ({split}) holds {len(names)} records whose names differ from the listing's "
                        f"{len(examples)}. Fix: re-convert into a fresh --output_dir.")
    return len(names)
