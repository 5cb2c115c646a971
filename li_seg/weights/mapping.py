"""Mapping tables from a pretrained file's variable names to ours, and their strict application.

A `Mapping` is the table of one source format: rows (`Rule`) that match one of our layers by name and give the
source prefix its variables live under, and per layer kind (`Kind`) which source tensors make each of our
variables and how (`transform`). Our variables are addressed as "<layer name>/<variable name>"
("block1_unit1_conv1/kernel", "block1_unit1_conv1_bn/moving_mean"), which does not depend on the scope a model
puts its backbone under.

Source templates are Python format strings over the row's regex groups and the mapping's parameters
(`params`, e.g. {"scope": "resnet_v1_101"}); for every numeric group g, "{g_minus_1}" and "{g_plus_1}" are
g - 1 and g + 1 (our "block1_unit1" is torchvision's "layer1.0" and keras.applications' "conv2_block1"). A
kind's templates read "{p}", the row's expanded source prefix. Ignore patterns are formatted with the params too.

`match(mapping, tensors, layers)` checks everything before anything is assigned: each of our variables must have
a row, its source tensors must exist and give the variable's shape after the transform, and every source tensor
must be used or be on the mapping's ignore list. Any problem raises `MappingError`; every offending variable is
named, in the log (the message lists the first `MAX_LISTED` of each kind and the counts); nothing is loaded then
(no partial loads).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Iterable, Mapping as MappingType, Optional, Sequence

import keras
import numpy as np
from absl import logging

from li_seg.layers.diagnostics import model_layers
from li_seg.weights.errors import MappingError

Transform = Callable[..., np.ndarray]
BN_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")  # a Keras BatchNormalization's, in order
MAX_LISTED = 12  # problems listed per kind in an error message (all of them go to the log)


def identity(array: np.ndarray) -> np.ndarray:
    return array


def torch_conv_kernel(weight: np.ndarray) -> np.ndarray:
    """PyTorch's (out, in, kh, kw) conv weight as Keras' (kh, kw, in, out)."""
    return np.transpose(weight, (2, 3, 1, 0))


def fold_bias_into_mean(moving_mean: np.ndarray, conv_bias: np.ndarray) -> np.ndarray:
    """A conv bias b followed by BN: gamma (x + b - mean) / sqrt(var + eps) + beta equals the BN of the bias-free
    conv with mean - b. Exact, at inference and (the bias shifts batch means alike) in training."""
    return moving_mean - conv_bias


@dataclasses.dataclass(frozen=True)
class Variable:
    """How one of our variables is made: the source keys (templates over "{p}") and the transform taking their
    tensors, in order, to our variable."""

    sources: tuple[str, ...]
    transform: Transform = identity


Kind = MappingType[str, Variable]  # our variable name ("kernel", "gamma", ...) -> how it is made


@dataclasses.dataclass(frozen=True)
class Rule:
    """One row of a table: our layers whose name fully matches `layer` take their variables from the source prefix
    `source` (a template over the match's groups and the mapping's params) as kind `kind` says."""

    layer: str
    source: str
    kind: str


@dataclasses.dataclass(frozen=True)
class Mapping:
    """One source format's table.

    name: what the source is, for messages ("TF-slim resnet_v1_101").
    rules: rows, tried in order (the first matching row wins).
    kinds: the layer kinds the rows name.
    ignored: regexes (full match) of source keys that belong to no variable of ours (a classifier we do not build,
      optimizer slots, BN counters); they may be absent.
    bn_epsilon: the epsilon of the source network's BN layers, which ours must use.
    normalization: the input convention the source network was trained with (`li_seg.backbones.
      input_normalization`), which our backbone takes unless told otherwise (`li_seg.backbones.pretrained`).
    params: values for the templates ("scope").
    vocabulary: per regex group, our value -> the source's (Caffe's "conv1" -> "2a"); a value not listed makes
      the row not match.
    parts: the tables a whole-model table was joined from (`+`), each checked for its own epsilon.
    """

    name: str
    rules: tuple[Rule, ...]
    kinds: MappingType[str, Kind]
    ignored: tuple[str, ...] = ()
    bn_epsilon: Optional[float] = None
    normalization: Optional[str] = None
    params: MappingType[str, str] = dataclasses.field(default_factory=dict)
    vocabulary: MappingType[str, MappingType[str, str]] = dataclasses.field(default_factory=dict)
    parts: tuple["Mapping", ...] = ()

    def with_params(self, **params) -> "Mapping":
        return dataclasses.replace(self, params={**self.params, **params})

    def __add__(self, other: "Mapping") -> "Mapping":
        """The table of a whole model from its parts' (backbone + head): rows and ignore lists joined; each part
        keeps its own BN epsilon (`check_bn_epsilon` per part)."""
        clash = set(self.kinds) & set(other.kinds)
        if any(self.kinds[k] is not other.kinds[k] for k in clash):
            raise ValueError(f"the tables {self.name!r} and {other.name!r} define kinds {sorted(clash)} differently")
        return Mapping(
            name=f"{self.name} + {other.name}", rules=self.rules + other.rules, kinds={**self.kinds, **other.kinds},
            ignored=self.ignored + other.ignored, normalization=self.normalization or other.normalization,
            params={**self.params, **other.params},
            vocabulary={**self.vocabulary, **other.vocabulary},
            parts=(self.parts or (self,)) + (other.parts or (other,)),
        )


def _template_fields(match: re.Match, mapping: "Mapping") -> Optional[dict[str, str]]:
    """The template fields of a row's match; None when a group's value is not in the mapping's vocabulary."""
    fields = dict(mapping.params)
    for name, value in match.groupdict().items():
        if value is None:
            continue
        if name in mapping.vocabulary:
            if value not in mapping.vocabulary[name]:
                return None
            fields[name] = mapping.vocabulary[name][value]
            continue
        fields[name] = value
        if value.isdigit():
            fields[f"{name}_minus_1"] = str(int(value) - 1)
            fields[f"{name}_plus_1"] = str(int(value) + 1)
    return fields


def layers_with_weights(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of `model` that owns variables, nested models opened (a whole model's backbone)."""
    return [layer for layer in model_layers(model) if layer.weights and not isinstance(layer, keras.Model)]


def variable_key(layer: keras.layers.Layer, variable) -> str:
    return f"{layer.name}/{variable.name}"


def _problem_list(title: str, items: Sequence[str]) -> str:
    logging.error("%s (%d):\n    %s", title, len(items), "\n    ".join(items))
    listed = "\n    ".join(items[:MAX_LISTED])
    more = f"\n    ... and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return f"  {title} ({len(items)}):\n    {listed}{more}"


def match(
    mapping: Mapping, tensors: MappingType[str, np.ndarray], layers: Iterable[keras.layers.Layer], source_name: str,
    target: str = "this network", new_layers: Sequence[str] = (),
) -> list[tuple[object, np.ndarray]]:
    """(variable, value) for every variable of `layers`, from `tensors` by `mapping`; raises MappingError naming
    every problem (see the module docstring). Layers whose name fully matches a regex of `new_layers` (layers a
    paper adds, such as LI or smoothing: `li_seg.backbones.NEW_LAYERS`) are left out. `source_name` and `target`
    name the file and our network in messages."""
    assignments, unmapped, missing, misshaped, used = [], [], [], [], set()
    seen_keys = {}
    for layer in new_layers_removed(layers, new_layers):
        rule, groups = _rule_for(mapping, layer.name)
        for variable in layer.weights:
            key = variable_key(layer, variable)
            if key in seen_keys:
                raise MappingError(f"two layers of the target are both named {layer.name!r}: load them separately")
            seen_keys[key] = True
            spec = mapping.kinds[rule.kind].get(variable.name) if rule else None
            if spec is None:
                unmapped.append(key)
                continue
            prefix = rule.source.format(**groups)
            keys = [template.format(p=prefix, **groups) for template in spec.sources]
            absent = [k for k in keys if k not in tensors]
            if absent:
                missing.append(f"{key} <- {', '.join(absent)}")
                continue
            used.update(keys)
            sources = [tensors[k] for k in keys]
            try:
                value = np.asarray(spec.transform(*sources))
            except (ValueError, TypeError, IndexError):  # a tensor of another rank than the layout transform takes
                shapes = " + ".join(f"{k} {tuple(np.shape(s))}" for k, s in zip(keys, sources))
                misshaped.append(f"{key} {tuple(variable.shape)} <- {shapes} (not transformable)")
                continue
            if tuple(value.shape) != tuple(variable.shape):
                misshaped.append(f"{key} {tuple(variable.shape)} <- {' + '.join(keys)} {tuple(value.shape)}")
                continue
            assignments.append((variable, value))
    ignored = [re.compile(pattern.format(**mapping.params)) for pattern in mapping.ignored]
    unused = sorted(k for k in tensors if k not in used and not any(p.fullmatch(k) for p in ignored))
    problems = []
    if unmapped:
        problems.append(_problem_list("variables of ours that no row of the table maps", unmapped))
    if missing:
        problems.append(_problem_list("variables of ours whose source tensors the file lacks", missing))
    if misshaped:
        problems.append(_problem_list("shapes that differ (ours <- the file's, after the layout transform)",
                                      misshaped))
    if unused:
        problems.append(_problem_list("tensors of the file that nothing of ours takes", unused))
    if problems:
        raise MappingError(
            f"{source_name} does not hold the weights of {target} as {mapping.name}; nothing was loaded:\n"
            + "\n".join(problems)
            + "\nIs it a file of another network (depth, stem, width) or another format? The tables are in "
            "li_seg/weights (README 'Pretrained weights')."
        )
    return assignments


def new_layers_removed(layers: Iterable[keras.layers.Layer], new_layers: Sequence[str]) -> list[keras.layers.Layer]:
    """`layers` without those whose name fully matches a regex of `new_layers`."""
    return [layer for layer in layers if not any(re.fullmatch(pattern, layer.name) for pattern in new_layers)]


def _rule_for(mapping: Mapping, layer_name: str) -> tuple[Optional[Rule], dict[str, str]]:
    for rule in mapping.rules:
        found = re.fullmatch(rule.layer, layer_name)
        fields = _template_fields(found, mapping) if found else None
        if fields is not None:
            return rule, fields
    return None, {}


def assign(assignments: Sequence[tuple[object, np.ndarray]]) -> None:
    """Assigns every (variable, value) of `match`, cast to the variable's dtype."""
    for variable, value in assignments:
        variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))


def bn_epsilons(layers: Iterable[keras.layers.Layer]) -> dict[str, float]:
    """The epsilon of every BatchNormalization layer among `layers`, by name."""
    return {layer.name: float(layer.epsilon) for layer in layers
            if isinstance(layer, keras.layers.BatchNormalization)}


def check_bn_epsilon(mapping: Mapping, layers: Sequence[keras.layers.Layer], source_name: str) -> None:
    """Raises MappingError when a BN layer of ours that `mapping` loads does not use the source network's
    epsilon."""
    for part in mapping.parts:
        check_bn_epsilon(part.with_params(**mapping.params), layers, source_name)
    if mapping.bn_epsilon is None:
        return
    mine = [layer for layer in layers if _rule_for(mapping, layer.name)[0] is not None]
    wrong = [f"{name} ({eps:g})" for name, eps in bn_epsilons(mine).items()
             if not np.isclose(eps, mapping.bn_epsilon, rtol=1e-6, atol=0.0)]
    if wrong:
        raise MappingError(
            f"{source_name} ({mapping.name}) was trained with BN epsilon {mapping.bn_epsilon:g}, but "
            f"{len(wrong)} BN layer(s) of ours use another (e.g. {wrong[:3]}): set --params_override="
            f"model.backbone.bn_epsilon={mapping.bn_epsilon:g} (with model.backbone.weights, leaving it unset "
            f"follows the weights)"
        )
