"""What TensorBoard shows of a log directory, for the tests of what the trainer and the results records write."""

import tensorflow as tf


def tensorboard_view(directory) -> dict:
    """{tag: [(step, value)]} as TensorBoard's own loader shows `directory` (its purge of restarted sessions
    included); a scalar's value is a float, an image summary's its encoded panels."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as loader

    accumulator = loader.EventAccumulator(str(directory), size_guidance={loader.TENSORS: 0})
    accumulator.Reload()
    return {tag: [(event.step, tf.make_ndarray(event.tensor_proto).tolist()) for event in accumulator.Tensors(tag)]
            for tag in accumulator.Tags()[loader.TENSORS]}
