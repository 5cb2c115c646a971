"""Our converted files (`python -m scripts.convert_weights`): a .weights.h5 in Keras' legacy HDF5 layout, by layer
name (root attribute "layer_names"; per layer "weight_names" such as "block1_unit1_conv1/kernel:0"), with the
source network's BN epsilon, its input normalisation and the source's name as attributes.

By name rather than by position (Keras 3's own .weights.h5), so that a converted backbone loads into a backbone
with the layers a paper adds (LI, smoothing: `li_seg.backbones.NEW_LAYERS`, left at their initialisation), through
the same strict checks as every table (`BY_NAME`: each of our variables from the tensor of the same name).
"""

from __future__ import annotations

from typing import Optional, Sequence

import h5py
import keras
import numpy as np

from li_seg.weights import hdf5
from li_seg.weights.errors import WeightsError, short
from li_seg.weights.mapping import (
    BN_VARIABLES, Mapping, Rule, Variable, layers_with_weights, new_layers_removed, variable_key,
)

EPSILON_ATTRIBUTE = "li_seg_bn_epsilon"
NORMALIZATION_ATTRIBUTE = "li_seg_normalization"
SOURCE_ATTRIBUTE = "li_seg_source"

BY_NAME = Mapping(
    name="a converted li_seg file (by layer name)",
    rules=(Rule(r"(?P<name>.+)", "{name}", "layer"),),
    kinds={"layer": {name: Variable((f"{{p}}/{name}",)) for name in ("kernel", "bias") + BN_VARIABLES}},
)


def is_converted(path: str) -> bool:
    """Whether the HDF5 file at `path` was written by `write` (the file checked first: `li_seg.weights.hdf5`)."""
    with hdf5.open_checked(path) as f:
        return SOURCE_ATTRIBUTE in f.attrs


def bn_epsilon(path: str) -> Optional[float]:
    """The source network's BN epsilon recorded in a converted file (None for a whole model's file)."""
    with hdf5.open_checked(path) as f:
        value = hdf5.attribute(f, EPSILON_ATTRIBUTE, path)
    if value is None:
        return None
    if not (isinstance(value, (float, np.floating)) and np.isfinite(value) and value > 0):
        raise WeightsError(f"{path} records BN epsilon {short(value)}, not a positive number")
    return float(value)


def normalization(path: str) -> Optional[str]:
    """The source network's input normalisation recorded in a converted file (None: not recorded, as in files
    converted before it was, and whole models' files); its value is checked where the config takes it
    (`li_seg.backbones.backbone_errors`)."""
    with hdf5.open_checked(path) as f:
        value = hdf5.attribute(f, NORMALIZATION_ATTRIBUTE, path)
    if value is None:
        return None
    value = value.decode() if isinstance(value, (bytes, np.bytes_)) else value
    if not (isinstance(value, str) and value.isidentifier()):
        raise WeightsError(f"{path} records input normalisation {short(value)}, not a normalisation's name")
    return value


def mapping(path: str) -> Mapping:
    """`BY_NAME` with the file's BN epsilon and input normalisation."""
    return Mapping(BY_NAME.name, BY_NAME.rules, BY_NAME.kinds, bn_epsilon=bn_epsilon(path),
                   normalization=normalization(path))


def write(model: keras.Model, path: str, source: str, epsilon: Optional[float],
          new_layers: Sequence[str] = (), normalization: Optional[str] = None) -> None:
    """Writes `model`'s variables by layer name to `path`, without the layers matching `new_layers`."""
    with h5py.File(path, "w") as f:
        names = []
        for layer in new_layers_removed(layers_with_weights(model), new_layers):
            group = f.create_group(layer.name)
            weight_names = [f"{variable_key(layer, variable)}:0" for variable in layer.weights]
            for weight_name, variable in zip(weight_names, layer.weights):
                group.create_dataset(weight_name, data=np.asarray(variable.numpy()))
            group.attrs["weight_names"] = [n.encode() for n in weight_names]
            names.append(layer.name.encode())
        f.attrs["layer_names"] = names
        f.attrs[SOURCE_ATTRIBUTE] = np.bytes_(source.encode())  # fixed-length: variable-length ones are not read
        if epsilon is not None:
            f.attrs[EPSILON_ATTRIBUTE] = epsilon
        if normalization is not None:
            f.attrs[NORMALIZATION_ATTRIBUTE] = np.bytes_(normalization.encode())
