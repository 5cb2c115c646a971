"""`build_dataset` and `num_examples`: the tf.data pipelines for training and evaluation.

Training is an infinite, fully deterministic and resumable stream. Global element i (element 0 is the first
example of step 0) reads example `index_shuffle(i % N, seed=(seed, i // N), N - 1)` (a fresh permutation of the
N examples per epoch) and is augmented with stateless ops seeded by (seed, i). Nothing depends on what came before
element i, so `start_step=k` starts at element k * batch_size without decoding the skipped data, and yields exactly
the batches k, k + 1, ... of `start_step=0`. Prepared records (data_format "tfrecord" / "tfds") are read as
streams with the same guarantees (`streams.py`).

With data_config.skip_bad_examples, a raw split is first scanned (`validate.py`) and the defective examples are
left out, each one logged.
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

from li_seg.config import DataConfig
from li_seg.data import streams
from li_seg.data.augment import augment
from li_seg.data.decode import make_loader
from li_seg.data.errors import DataError
from li_seg.data.examples import load_examples
from li_seg.data.registry import get_spec


def num_examples(data_config: DataConfig, split: str) -> int:
    """Number of examples in `split` of data_config's dataset (in any data_format)."""
    if data_config.data_format != "raw":
        return streams.open_records(data_config, split, get_spec(data_config)).count
    return len(load_examples(data_config, split))


def example_index(element: tf.Tensor, count: int, seed: int) -> tf.Tensor:
    """The example read by global training element `element` (int64): a fresh permutation per epoch."""
    epoch_seed = tf.stack([tf.constant(seed, tf.int64), element // count])
    return tf.random.experimental.index_shuffle(element % count, epoch_seed, tf.constant(count - 1, tf.int64))


def build_dataset(
    data_config: DataConfig,
    split: str,
    *,
    training: bool,
    batch_size: int = 1,
    seed: int = 0,
    start_step: int = 0,
    max_examples: Optional[int] = None,
) -> tf.data.Dataset:
    """The input pipeline of one split.

    training=True: an infinite stream of {"image": float32 (B, crop_h, crop_w, 3) in [0, 255], "label": int32
      (B, crop_h, crop_w), 255 = ignore}, augmented as in `augment.py`, starting at step `start_step`.
    training=False: one pass in file order over {"image": float32 (B, H, W, 3), "label": int32 (B, H, W),
      "name": string (B,)} at each image's original resolution (B > 1 needs equal image sizes; the last batch may
      be smaller).
    max_examples: use only the first N examples of the split.
    Raises DataError (with the fix) when the split cannot be listed; data problems found while iterating raise
    tf.errors.InvalidArgumentError, which `explain_error` turns into a DataError naming the file.
    """
    if batch_size < 1 or start_step < 0 or (max_examples is not None and max_examples < 1):
        raise ValueError(
            f"need batch_size >= 1, start_step >= 0 and max_examples >= 1 or None, got {batch_size}, {start_step} "
            f"and {max_examples}"
        )
    spec = get_spec(data_config)
    if data_config.data_format != "raw":
        source = streams.open_records(data_config, split, spec)
        if training:
            dataset = streams.training_records(source, spec, data_config, seed, start_step * batch_size, max_examples)
            dataset = dataset.batch(batch_size, drop_remainder=True)
        else:
            dataset = streams.evaluation_records(source, spec, max_examples).batch(batch_size)
        return _finish(dataset)
    examples = load_examples(data_config, split, max_examples)
    if not len(examples):
        raise DataError(f"{examples.listing} lists no examples: add the split's image/label pairs to it")
    load = make_loader(spec, examples)

    if training:
        count = len(examples)

        def train_example(element):
            image, label, _ = load(example_index(element, count, seed))
            image, label = augment(image, label, data_config, tf.stack([tf.constant(seed, tf.int64), element]))
            return {"image": image, "label": label}

        dataset = tf.data.Dataset.counter(start=start_step * batch_size, dtype=tf.int64)
        dataset = dataset.map(train_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        dataset = dataset.batch(batch_size, drop_remainder=True)
    else:

        def eval_example(index):
            image, label, name = load(index)
            return {"image": image, "label": label, "name": name}

        dataset = tf.data.Dataset.range(len(examples))
        dataset = dataset.map(eval_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        dataset = dataset.batch(batch_size)
    return _finish(dataset)


def _finish(dataset: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
