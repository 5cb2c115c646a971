"""Reading the tensors of a pretrained file, by name, as NumPy arrays: TF1 (name-based) checkpoints, Keras HDF5
files (legacy and Keras 3), PyTorch .pth (`li_seg.weights.pth`, no torch needed) and .safetensors.

Each reader returns a read-only mapping {source key: array}; a TF checkpoint's tensors are read one at a time when
asked for (the values check reads each once, a table then the ones it takes). No reader trusts its file
(docs/weights_security.md): HDF5 files are checked by `li_seg.weights.hdf5` before anything is read, a checkpoint's
declared sizes are checked against its data files before TensorFlow allocates anything, and every failure is a
WeightsError naming the file (`li_seg.weights.errors.reading`).
"""

from __future__ import annotations

import collections.abc
import glob
import math
import os
import pathlib
import re

import h5py
import numpy as np
import tensorflow as tf

from li_seg.weights import hdf5
from li_seg.weights.errors import WeightsError, WeightsNotFoundError, reading, short
from li_seg.weights.pth import read_pth

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".tar")
HDF5_SUFFIXES = (".h5", ".hdf5")


class CheckpointTensors(collections.abc.Mapping):
    """The variables of a TF checkpoint prefix, read lazily (tf.train.load_checkpoint). Refused before TensorFlow
    allocates anything: a checkpoint whose variables together declare more bytes than its data files hold (a
    string element counts one byte, its length), so that no variable is larger than the data and no two share it."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        with reading(prefix, "a TF checkpoint"):
            self._reader = tf.train.load_checkpoint(prefix)
            self._shapes = self._reader.get_variable_to_shape_map()
            self._dtypes = self._reader.get_variable_to_dtype_map()
        data_bytes = sum(os.path.getsize(f) for f in glob.glob(f"{glob.escape(prefix)}.data-*"))
        declared = {key: math.prod(shape) * (1 if self._dtypes[key] == tf.string else self._dtypes[key].size)
                    for key, shape in self._shapes.items()}
        if sum(declared.values()) > data_bytes:
            largest = max(declared, key=declared.get)
            raise WeightsError(
                f"{prefix}: its variables declare {sum(declared.values())} bytes (the largest, {short(largest)}, "
                f"{declared[largest]}), more than its data files hold ({data_bytes}): it is corrupt or hostile")

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._shapes:
            raise KeyError(key)
        with reading(self.prefix, "a TF checkpoint"):
            return np.asarray(self._reader.get_tensor(key))

    def __iter__(self):
        return iter(self._shapes)

    def __len__(self) -> int:
        return len(self._shapes)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._shapes[key])

    def numeric(self):
        """(name, array) of every variable but strings (TF2's object graph), read one at a time."""
        return ((key, self[key]) for key in self._shapes if self._dtypes[key] != tf.string)


OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"  # written by tf.train.Checkpoint (TF2), not by a TF1 Saver


def is_tf_checkpoint(path: str) -> bool:
    return tf.io.gfile.exists(f"{path}.index")


def read_checkpoint(prefix: str) -> CheckpointTensors:
    return CheckpointTensors(prefix)


def _decode(names) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def read_hdf5(path: str) -> dict[str, np.ndarray]:
    """{"<layer>/<variable>": array} of a legacy Keras HDF5 weights file (keras.applications' downloads, Keras 2's
    save_weights, Keras 3's legacy_h5_format: per layer "weight_names" such as "conv1_conv/kernel:0"; Keras 2's
    "depthwise_kernel" read as Keras 3's "kernel"), checked first (`li_seg.weights.hdf5`). Keras 3's own
    .weights.h5 names variables by position, not by layer, and cannot be read by name."""
    tensors = {}
    with hdf5.open_checked(path) as f:
        if "layer_names" not in f.attrs and "model_weights" not in f:
            raise WeightsError(f"{path} is not a legacy Keras HDF5 weights file (no layer names): a Keras 3 "
                               ".weights.h5 loads only into the model it was saved from (format 'keras')")
        group = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
        read = hdf5.read_once(path)
        for layer in _decode(hdf5.attribute(group, "layer_names", path, [])):
            if not isinstance(group.get(layer), h5py.Group):
                raise WeightsError(f"{path} lists layer {short(layer)} in its layer_names, but has no such group")
            for weight in _decode(hdf5.attribute(group[layer], "weight_names", path, [])):
                if not isinstance(group[layer].get(weight), h5py.Dataset):
                    raise WeightsError(f"{path} lists weight {short(weight)} of layer {short(layer)}, but has no "
                                       "such dataset")
                short_name = weight.split("/")[-1].split(":")[0]
                short_name = "kernel" if short_name == "depthwise_kernel" else short_name
                tensors[f"{layer}/{short_name}"] = read(group[layer][weight])
    return tensors


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file (the safetensors package's NumPy API; bfloat16 is refused by it)."""
    from safetensors.numpy import load_file

    try:
        return dict(load_file(path))
    except Exception as error:  # the package raises its own SafetensorError and TypeError (bfloat16)
        raise WeightsError(f"cannot read {path} as safetensors: {error}") from error


def read_torch(path: str) -> dict[str, np.ndarray]:
    """A PyTorch state dict from .safetensors or a torch.save file (`li_seg.weights.pth.read_pth`)."""
    if path.endswith(".safetensors"):
        return read_safetensors(path)
    return read_pth(path)


def exists(path: str) -> bool:
    return pathlib.Path(path).is_file() or is_tf_checkpoint(path)


def check_exists(path: str, how_to: str) -> None:
    """Raises WeightsNotFoundError naming `path` when it is neither a file nor a TF checkpoint prefix (a directory
    is named as one), with `how_to` (where weights come from)."""
    if exists(path):
        return
    if os.path.isdir(path):
        raise WeightsNotFoundError(f"{path!r} is a directory, not a weights file: give the file (a TF checkpoint by "
                                   f"its prefix, e.g. DIR/model.ckpt). {how_to}")
    suffix = (" (a TF checkpoint is named by its prefix: PREFIX.index must exist)"
              if path.endswith((".ckpt", ".index")) or re.search(r"ckpt-\d+$", path) else "")
    raise WeightsNotFoundError(f"weights not found: {path!r}{suffix}. {how_to}")
