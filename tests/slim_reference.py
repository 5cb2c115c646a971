"""TF-slim's real ResNet v1 (the tf-slim package, requirements-crosscheck.txt), built in a tf.compat.v1 graph,
randomly initialised (BN statistics too), saved as a TF1 checkpoint, and its features on given images.

tf-slim 1.1.0's batch_norm imports `tf_keras.legacy_tf_layers`, which tf-keras 2.21 ships as
`tf_keras.src.legacy_tf_layers`: `import_tf_slim` aliases it (a shim for the reference only).
"""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
import tensorflow as tf


def import_tf_slim():
    """(tf_slim, tf_slim.nets.resnet_v1), or skips the test when tf-slim / tf-keras are not installed."""
    try:
        legacy = importlib.import_module("tf_keras.src.legacy_tf_layers")
    except ImportError:
        pytest.skip("tf-slim's reference ResNets need tf-slim and tf-keras "
                    "(pip install -r requirements-crosscheck.txt)")
    sys.modules.setdefault("tf_keras.legacy_tf_layers", legacy)
    for name in ("base", "convolutional", "core", "normalization", "pooling"):
        sys.modules.setdefault(f"tf_keras.legacy_tf_layers.{name}",
                               importlib.import_module(f"tf_keras.src.legacy_tf_layers.{name}"))
    slim = pytest.importorskip("tf_slim", reason="needs tf-slim (requirements-crosscheck.txt)")
    from tf_slim.nets import resnet_v1

    return slim, resnet_v1


def slim_resnet_features(depth: int, images: np.ndarray, output_stride: int, prefix: str, seed: int = 0):
    """Builds slim's resnet_v1_<depth> (no classifier, is_training False), draws every variable at random (BN
    moving means / variances too, so that BN is not an identity), writes a TF1 checkpoint at `prefix` and returns
    {"block1" ... "block4": features of `images`} (images already normalised as slim expects: mean-subtracted)."""
    slim, resnet_v1 = import_tf_slim()
    rng = np.random.default_rng(seed)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.set_random_seed(seed)  # slim's initialisers are random ops (refused unseeded under determinism)
        inputs = tf.compat.v1.placeholder(tf.float32, (None,) + images.shape[1:])
        network = getattr(resnet_v1, f"resnet_v1_{depth}")
        with slim.arg_scope(resnet_v1.resnet_arg_scope()):
            _, end_points = network(inputs, num_classes=None, is_training=False, global_pool=False,
                                    output_stride=output_stride)
        variables = tf.compat.v1.global_variables()
        assigns = []
        for variable in variables:
            shape = variable.shape.as_list()
            name = variable.op.name
            if name.endswith("moving_variance"):
                value = rng.uniform(0.5, 1.5, shape)
            elif name.endswith(("moving_mean", "beta")):
                value = rng.normal(0.0, 0.1, shape)
            elif name.endswith("gamma"):
                value = rng.uniform(0.5, 1.0, shape)
            else:  # He-initialised kernels keep activations at a sane scale over 50-152 layers
                value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
            assigns.append(variable.assign(value.astype(np.float32)))
        scope = f"resnet_v1_{depth}"
        fetch = {f"block{b}": end_points[f"{scope}/block{b}"] for b in range(1, 5)}
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(assigns)
            tf.compat.v1.train.Saver(variables).save(session, prefix, write_meta_graph=False)
            return session.run(fetch, {inputs: images})
