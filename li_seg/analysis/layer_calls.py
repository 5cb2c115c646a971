"""Every layer call of a Keras functional model at a concrete input size, nested models walked through, using
Keras' public API only: the graph from `Model.get_config()` (each layer's inbound nodes name the tensors it
reads as (layer, node, tensor index)), the layers from `Model.get_layer`, their shapes from
`Layer.compute_output_spec`.

Each layer must be called once per model (li_seg's models never share a layer between two calls): the node
indices of `get_config()` count differently in call arguments (every node of the layer) and in the model's
inputs / outputs (a nested model's nodes from 1), so a tensor is found by its layer and tensor index.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras


@dataclasses.dataclass(frozen=True)
class LayerCall:
    """One call of a (non-model) layer: the layer, its input and output tensors (KerasTensors) and their shapes."""

    layer: keras.layers.Layer
    inputs: tuple
    outputs: tuple

    @property
    def input_shapes(self) -> tuple:
        return tuple(tensor.shape for tensor in self.inputs)

    @property
    def output_shapes(self) -> tuple:
        return tuple(tensor.shape for tensor in self.outputs)


def _is_tensor_reference(value) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _substitute(value, produced: dict):
    """The serialised call arguments with each tensor reference replaced by the tensor it names."""
    if _is_tensor_reference(value):
        name, _, index = value["config"]["keras_history"]
        return produced[name][index]
    if isinstance(value, dict):
        return {key: _substitute(item, produced) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_substitute(item, produced) for item in value]
    return value


def _references(spec):
    """The (layer, node, index) triples of a config's "input_layers" / "output_layers", in their structure."""
    if isinstance(spec, dict):
        return {key: _references(value) for key, value in spec.items()}
    if len(spec) == 3 and isinstance(spec[0], str):
        return tuple(spec)
    return [_references(item) for item in spec]


def _walk(model: keras.Model, inputs: list, calls: list) -> Any:
    """Runs `model`'s graph on `inputs` (KerasTensors, in its inputs' order); returns its outputs' structure."""
    config = model.get_config()
    produced = {}  # layer name -> its output tensors
    for (name, _, index), tensor in zip(_flat(_references(config["input_layers"])), inputs):
        produced.setdefault(name, {})[index] = tensor
    for layer_config in config["layers"]:
        layer = model.get_layer(layer_config["name"])
        if len(layer_config["inbound_nodes"]) > 1:
            raise NotImplementedError(f"layer {layer.name!r} is called {len(layer_config['inbound_nodes'])} times in "
                                      f"model {model.name!r}; layer_calls needs each layer called once")
        for node in layer_config["inbound_nodes"]:
            args = _substitute(node["args"], produced)
            if isinstance(layer, keras.Model):
                outputs = _walk(layer, keras.tree.flatten(args), calls)
            else:
                kwargs = {key: value for key, value in _substitute(node["kwargs"], produced).items()
                          if key not in ("mask", "training")}
                outputs = layer.compute_output_spec(*args, **kwargs)
                flat_inputs = tuple(t for t in keras.tree.flatten((args, kwargs)) if isinstance(t, keras.KerasTensor))
                calls.append(LayerCall(layer, flat_inputs, tuple(keras.tree.flatten(outputs))))
            produced[layer.name] = dict(enumerate(keras.tree.flatten(outputs)))
    return _structure(_references(config["output_layers"]), produced)


def _flat(references) -> list[tuple]:
    if isinstance(references, tuple):
        return [references]
    items = references.values() if isinstance(references, dict) else references
    return [reference for item in items for reference in _flat(item)]


def _structure(references, produced):
    if isinstance(references, tuple):
        name, _, index = references
        return produced[name][index]
    if isinstance(references, dict):
        return {key: _structure(value, produced) for key, value in references.items()}
    return [_structure(item, produced) for item in references]


def layer_calls(model: keras.Model, input_shape) -> tuple[list[LayerCall], Any]:
    """(every layer call of `model` on a symbolic input of `input_shape`, in graph order; the model's outputs)."""
    calls: list[LayerCall] = []
    outputs = _walk(model, [keras.KerasTensor(tuple(input_shape))], calls)
    return calls, outputs


def calls_needed_for(calls: list[LayerCall], output) -> list[LayerCall]:
    """The calls that `output` (a KerasTensor) depends on: what inference runs when only it is read."""
    needed, kept = {id(output)}, []
    for call in reversed(calls):
        if any(id(tensor) in needed for tensor in call.outputs):
            kept.append(call)
            needed.update(id(tensor) for tensor in call.inputs)
    return kept[::-1]
