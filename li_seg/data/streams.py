"""Training and evaluation streams over prepared records: li_seg's TFRecords (`records.py`) or a TFDS build
(`tfds_builders.py`).

Records are read sequentially, so the raw pipeline's random access per element is replaced by a stream that
depends only on the seed: each epoch reads the shards in a permutation drawn from (seed, epoch), and one shuffle
buffer of `SHUFFLE_BUFFER` records, seeded with the seed (a Python int: tf.data rejects tensor seeds once a global
seed is set), runs over the whole stream. Element i is still augmented with (seed, i), and a resumed run skips the
first start_step * batch_size records without decoding them, so it yields exactly the batches of an uninterrupted
run.
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

from li_seg.config import DataConfig
from li_seg.data import records
from li_seg.data.augment import augment
from li_seg.data.decode import checked
from li_seg.data.files import require_data_dir
from li_seg.data.label_map import make_label_map
from li_seg.data.record_source import RecordSource
from li_seg.data.spec import DatasetSpec

SHUFFLE_BUFFER = 256
_IDENTITY = make_label_map()


def open_records(data_config: DataConfig, split: str, spec: DatasetSpec) -> RecordSource:
    """The prepared split of data_config.data_format "tfrecord" or "tfds"; DataError (with the fix) if absent."""
    if data_config.data_format == "tfds":
        from li_seg.data import tfds_builders  # TFDS is imported only by those who use it

        return tfds_builders.record_source(data_config, split)
    require_data_dir(data_config.data_dir, spec.info.name, "the output of scripts.convert_dataset")
    files, count = records.shard_files(data_config, split, spec.info.name, spec.info.class_names)
    return RecordSource(tuple(files), count, records.parse, f"{data_config.data_dir} ({split})")


def _checked_record(source: RecordSource, spec: DatasetSpec, element, serialized):
    image, label, name = source.parse(serialized)
    where = tf.strings.join(["record ", name, " of ", source.location])
    image, label = checked(spec, image, label, element, where, where, label_map=_IDENTITY)
    return image, label, name


def evaluation_records(source: RecordSource, spec: DatasetSpec, max_examples: Optional[int]) -> tf.data.Dataset:
    """One pass in file order: {"image", "label", "name"} per example."""
    dataset = tf.data.TFRecordDataset(list(source.files))
    if max_examples is not None:
        dataset = dataset.take(max_examples)

    def example(element, serialized):
        image, label, name = _checked_record(source, spec, element, serialized)
        return {"image": image, "label": label, "name": name}

    return dataset.enumerate().map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def training_records(
    source: RecordSource, spec: DatasetSpec, data_config: DataConfig, seed: int, start_element: int,
    max_examples: Optional[int],
) -> tf.data.Dataset:
    """An infinite stream of {"image", "label"} augmented as data_config says, from global element
    `start_element` on."""
    files = tf.constant(source.files)
    seed_tensor = tf.constant(seed, tf.int64)

    def epoch(number):
        if max_examples is None:
            return tf.data.TFRecordDataset(
                tf.random.experimental.stateless_shuffle(files, seed=tf.stack([seed_tensor, number]))
            )
        return tf.data.TFRecordDataset(files).take(max_examples)  # the first max_examples records

    def example(element, serialized):
        image, label, _ = _checked_record(source, spec, element, serialized)
        image, label = augment(image, label, data_config, tf.stack([seed_tensor, element]))
        return {"image": image, "label": label}

    dataset = tf.data.Dataset.counter(dtype=tf.int64).flat_map(epoch).shuffle(SHUFFLE_BUFFER, seed=seed)
    dataset = dataset.enumerate().skip(start_element)
    return dataset.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
