"""Helpers shared by the dataset tests."""

import pytest
import tensorflow as tf

from li_seg import data


def iteration_error(config, split, training=False) -> str:
    """Iterates the split as the trainer (3 batches of 3) or the evaluator (one pass) does until the pipeline
    fails, and returns the message of explain_error's DataError."""
    dataset = data.build_dataset(config, split, training=training, batch_size=3 if training else 1)
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        for _ in dataset.take(3) if training else dataset:
            pass
    error = data.explain_error(raised.value, config, split)
    assert isinstance(error, data.DataError)
    return str(error)
