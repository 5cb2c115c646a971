"""Every layer call of a Keras functional model at a concrete input size, nested models walked through, using
Keras' public API only: the graph from `Model.get_config()` (each layer's inbound nodes name the tensors it
reads as (layer, node, tensor index)), the layers from `Model.get_layer`, their shapes from
`Layer.compute_output_spec`.

A layer may be called several times in one model (CycleASPP's Part II reuses Part I's layers): a tensor is found
by its layer, the call (the node index of `get_config()`, which counts the layer's calls in this model) and its
tensor index. A nested model must be called once: its node indices count differently in call arguments and in
the outer model's outputs (from 1), so a nested model's tensors are found by layer and tensor index alone.
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
        return _produced(produced, *value["config"]["keras_history"])
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


def _produced(produced: dict, name: str, node: int, index: int):
    """The tensor (layer `name`, call `node`, output `index`); a layer called once is found whatever `node`.
    KeyError while that call has not been walked yet."""
    calls = produced[name]
    return calls[node if calls["count"] > 1 else 0][index]


def _walk(model: keras.Model, inputs: list, calls: list) -> Any:
    """Runs `model`'s graph on `inputs` (KerasTensors, in its inputs' order); returns its outputs' structure.

    The config lists each layer once with all its calls, so a shared layer's later call may read tensors of layers
    listed after it: calls are walked in the config's order as soon as what they read exists."""
    config = model.get_config()
    produced = {}  # layer name -> {"count": its calls, call index -> {output index -> tensor}}
    for (name, _, index), tensor in zip(_flat(_references(config["input_layers"])), inputs):
        produced.setdefault(name, {"count": 1, 0: {}})[0][index] = tensor
    pending = []
    for layer_config in config["layers"]:
        layer = model.get_layer(layer_config["name"])
        nodes = layer_config["inbound_nodes"]
        if isinstance(layer, keras.Model) and len(nodes) > 1:
            raise NotImplementedError(f"model {layer.name!r} is called {len(nodes)} times in model {model.name!r}; "
                                      "layer_calls needs each nested model called once")
        if nodes:
            produced[layer.name] = {"count": len(nodes)}
        pending += [(layer, index, node) for index, node in enumerate(nodes)]
    while pending:
        waiting = []
        for layer, index, node in pending:
            try:
                args = _substitute(node["args"], produced)
                kwargs = {key: value for key, value in _substitute(node["kwargs"], produced).items()
                          if key not in ("mask", "training")}
            except KeyError:
                waiting.append((layer, index, node))
                continue
            if isinstance(layer, keras.Model):
                outputs = _walk(layer, keras.tree.flatten(args), calls)
            else:
                outputs = layer.compute_output_spec(*args, **kwargs)
                flat_inputs = tuple(t for t in keras.tree.flatten((args, kwargs)) if isinstance(t, keras.KerasTensor))
                calls.append(LayerCall(layer, flat_inputs, tuple(keras.tree.flatten(outputs))))
            produced[layer.name][index] = dict(enumerate(keras.tree.flatten(outputs)))
        if len(waiting) == len(pending):
            raise ValueError(f"model {model.name!r}: calls of {sorted({layer.name for layer, _, _ in waiting})} read "
                             "tensors no layer produces")
        pending = waiting
    return _structure(_references(config["output_layers"]), produced)


def _flat(references) -> list[tuple]:
    if isinstance(references, tuple):
        return [references]
    items = references.values() if isinstance(references, dict) else references
    return [reference for item in items for reference in _flat(item)]


def _structure(references, produced):
    if isinstance(references, tuple):
        return _produced(produced, *references)
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
