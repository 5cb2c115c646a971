"""Reading the tensors of a pretrained file, by name, as NumPy arrays: TF1 (name-based) checkpoints, Keras HDF5
files (legacy and Keras 3), PyTorch .pth (`li_seg.weights.pth`, no torch needed) and .safetensors.

Each reader returns a read-only mapping {source key: array}; a TF checkpoint's tensors are read when first asked
for, so optimizer slots that no table takes cost nothing.
"""

from __future__ import annotations

import collections.abc
import pathlib

import h5py
import numpy as np
import tensorflow as tf

from li_seg.weights.pth import read_pth

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".tar")
HDF5_SUFFIXES = (".h5", ".hdf5")


class CheckpointTensors(collections.abc.Mapping):
    """The variables of a TF checkpoint prefix, read lazily (tf.train.load_checkpoint)."""

    def __init__(self, prefix: str):
        self._reader = tf.train.load_checkpoint(prefix)
        self._shapes = self._reader.get_variable_to_shape_map()

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._shapes:
            raise KeyError(key)
        return np.asarray(self._reader.get_tensor(key))

    def __iter__(self):
        return iter(self._shapes)

    def __len__(self) -> int:
        return len(self._shapes)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._shapes[key])


OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def is_tf_checkpoint(path: str) -> bool:
    return tf.io.gfile.exists(f"{path}.index")


def is_object_based_checkpoint(path: str) -> bool:
    """Whether the checkpoint at prefix `path` was written by tf.train.Checkpoint (TF2) rather than a TF1 Saver."""
    return OBJECT_GRAPH_KEY in tf.train.load_checkpoint(path).get_variable_to_shape_map()


def read_checkpoint(prefix: str) -> CheckpointTensors:
    return CheckpointTensors(prefix)


def _decode(names) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def read_hdf5(path: str) -> dict[str, np.ndarray]:
    """{"<layer>/<variable>": array} of a legacy Keras HDF5 weights file (keras.applications' downloads, Keras 2's
    save_weights, Keras 3's legacy_h5_format: per layer "weight_names" such as "conv1_conv/kernel:0"; Keras 2's
    "depthwise_kernel" read as Keras 3's "kernel"). Keras 3's own .weights.h5 names variables by position, not by
    layer, and cannot be read by name."""
    tensors = {}
    with h5py.File(path, "r") as f:
        if "layer_names" not in f.attrs and "model_weights" not in f:
            raise ValueError(f"{path} is not a legacy Keras HDF5 weights file (no layer names): a Keras 3 "
                             ".weights.h5 loads only into the model it was saved from (format 'keras')")
        group = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
        for layer in _decode(group.attrs.get("layer_names", [])):
            for weight in _decode(group[layer].attrs.get("weight_names", [])):
                short = weight.split("/")[-1].split(":")[0]
                short = "kernel" if short == "depthwise_kernel" else short
                tensors[f"{layer}/{short}"] = np.asarray(group[layer][weight])
    return tensors


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file (the safetensors package's NumPy API; bfloat16 is refused by it)."""
    from safetensors.numpy import load_file

    try:
        return dict(load_file(path))
    except Exception as error:  # the package raises its own SafetensorError and TypeError (bfloat16)
        raise ValueError(f"cannot read {path} as safetensors: {error}") from error


def read_torch(path: str) -> dict[str, np.ndarray]:
    """A PyTorch state dict from .safetensors or a torch.save file (`li_seg.weights.pth.read_pth`)."""
    if path.endswith(".safetensors"):
        return read_safetensors(path)
    return read_pth(path)


def exists(path: str) -> bool:
    return pathlib.Path(path).is_file() or is_tf_checkpoint(path)
