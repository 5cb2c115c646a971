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


BN_KEYS = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def torch_resnet18_state_dict(stem: str, rng: np.random.Generator):
    """{torch key: array} of a ResNet-18 with `stem` "torchvision" (7x7), "encoding" (conv1.0 / .3 / .6 + bn1,
    64-64-128) or "mmseg" (stem.0 ... stem.7, 32-32-64), and {torch key: our "layer/variable"}."""
    tensors, ours = {}, {}

    def conv(key, shape, layer):
        tensors[f"{key}.weight"] = random_tensor("weight", shape, rng)
        ours[f"{key}.weight"] = f"{layer}/kernel"

    def bn(key, channels, layer):
        for torch_name, keras_name in BN_KEYS.items():
            tensors[f"{key}.{torch_name}"] = random_tensor(keras_name, (channels,), rng)
            ours[f"{key}.{torch_name}"] = f"{layer}/{keras_name}"
        tensors[f"{key}.num_batches_tracked"] = np.array(10, np.int64)

    if stem == "torchvision":
        conv("conv1", (64, 3, 7, 7), "conv1")
        bn("bn1", 64, "conv1_bn")
        channels = 64
    else:
        widths = (64, 64, 128) if stem == "encoding" else (32, 32, 64)
        convs = ("conv1.0", "conv1.3", "conv1.6") if stem == "encoding" else ("stem.0", "stem.3", "stem.6")
        bns = ("conv1.1", "conv1.4", "bn1") if stem == "encoding" else ("stem.1", "stem.4", "stem.7")
        previous = 3
        for index, (c, b, width) in enumerate(zip(convs, bns, widths), start=1):
            conv(c, (width, previous, 3, 3), f"conv1_{index}")
            bn(b, width, f"conv1_{index}_bn")
            previous = width
        channels = widths[-1]
    for layer, width in enumerate((64, 128, 256, 512), start=1):
        for unit in range(2):
            prefix, name = f"layer{layer}.{unit}", f"block{layer}_unit{unit + 1}"
            conv(f"{prefix}.conv1", (width, channels, 3, 3), f"{name}_conv1")
            bn(f"{prefix}.bn1", width, f"{name}_conv1_bn")
            conv(f"{prefix}.conv2", (width, width, 3, 3), f"{name}_conv2")
            bn(f"{prefix}.bn2", width, f"{name}_conv2_bn")
            if unit == 0 and channels != width:
                conv(f"{prefix}.downsample.0", (width, channels, 1, 1), f"{name}_shortcut")
                bn(f"{prefix}.downsample.1", width, f"{name}_shortcut_bn")
            channels = width
    tensors["fc.weight"] = random_tensor("weight", (1000, 512), rng)
    tensors["fc.bias"] = random_tensor("bias", (1000,), rng)
    return tensors, ours
