"""Writing pretrained-weight files under a source network's own names, for the conversion tests."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def write_tf1_checkpoint(tensors: dict[str, np.ndarray], prefix: str) -> str:
    """A TF1 (name-based, tf.compat.v1.train.Saver) checkpoint holding `tensors` under their names."""
    graph = tf.Graph()
    with graph.as_default():
        variables = {name: tf.compat.v1.Variable(value, name=name.replace(":", "_")) for name, value in tensors.items()}
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return tf.compat.v1.train.Saver(variables).save(session, prefix, write_meta_graph=False)


def random_tensor(name: str, shape, rng: np.random.Generator) -> np.ndarray:
    """A plausible random value for a variable named like TF-slim / PyTorch / Keras names BN and conv variables:
    positive variances, gammas near 1, small means and betas, He-scaled kernels."""
    shape = tuple(shape)
    leaf = name.replace(".", "/").split("/")[-1]
    if leaf in ("moving_variance", "running_var"):
        value = rng.uniform(0.5, 1.5, shape)
    elif leaf in ("gamma",):
        value = rng.uniform(0.5, 1.0, shape)
    elif leaf in ("moving_mean", "running_mean", "beta", "biases", "bias"):
        value = rng.normal(0.0, 0.1, shape)
    else:
        fan_in = np.prod(shape[:-1]) if len(shape) > 1 else 1
        value = rng.normal(0.0, np.sqrt(2.0 / max(fan_in, 1)), shape)
    return value.astype(np.float32)


def bn_epsilons(model: keras.Model) -> set[float]:
    """The epsilons of `model`'s own BatchNormalization layers."""
    return {layer.epsilon for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}
