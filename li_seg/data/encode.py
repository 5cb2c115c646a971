"""A raw split's examples encoded for storage (li_seg's TFRecords, the TFDS builders): the image's own bytes (or
a lossless PNG when the dataset transforms what it reads), the label as a PNG of class ids, the name and size,
read and checked in parallel exactly as the training pipeline reads them."""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

from li_seg.config import DataConfig
from li_seg.data import readers
from li_seg.data.decode import make_loader
from li_seg.data.diagnose import explain_error
from li_seg.data.examples import load_examples
from li_seg.data.registry import get_spec
from li_seg.data.spec import DatasetSpec, Examples


def record_function(spec: DatasetSpec, examples: Examples):
    """index -> (encoded image, label PNG of class ids, name, height, width), with the pipeline's checks."""
    load = make_loader(spec, examples)
    sources = tf.constant(examples.images, tf.string)
    # The image's own encoded bytes when the dataset decodes them unchanged (a file, or in-memory bytes); None when
    # it transforms what it reads (e.g. resizes), which is then stored losslessly as a PNG.
    own_bytes = {readers.read_image: tf.io.read_file, readers.decode_image: tf.identity}.get(spec.read_image)

    def record(index):
        image, label, name = load(index)
        if own_bytes is None:
            encoded = tf.io.encode_png(tf.cast(image, tf.uint8))
        else:
            encoded = own_bytes(tf.gather(sources, index))
        shape = tf.shape(label, out_type=tf.int64)
        label_png = tf.io.encode_png(tf.cast(label, tf.uint8)[:, :, None])
        return encoded, label_png, name, shape[0], shape[1]

    return record


def encoded_examples(data_config: DataConfig, split: str, examples: Optional[Examples] = None,
                     first: int = 0, count: Optional[int] = None):
    """Yields (encoded image, label PNG of class ids, name, height, width) of examples first, first + 1, ... of
    the split (all by default), read and checked in parallel as the pipeline reads them; a defect raises the
    DataError naming its file."""
    spec = get_spec(data_config)
    examples = load_examples(data_config, split) if examples is None else examples
    stop = len(examples) if count is None else first + count
    dataset = tf.data.Dataset.range(first, stop).map(
        record_function(spec, examples), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    try:
        yield from dataset.as_numpy_iterator()
    except tf.errors.InvalidArgumentError as error:
        raise explain_error(error, data_config, split) from None
