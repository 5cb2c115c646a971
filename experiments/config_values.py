"""Typed values for the frozen config dataclasses: coercion of JSON / flag values to the annotated field types,
and nested replacement with every unknown key named.

`ModelConfig.head` is a tagged union: its class is the one `ModelConfig.architecture` registers
(`li_seg.models.registry`). Changing the architecture to one with another head class starts from that class's
defaults before any head change is applied; a Union of several dataclasses without such a tag is refused, never
resolved by taking its first member.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Mapping

from li_seg.config import ModelConfig


class ConfigError(ValueError):
    """A configuration value that is unknown, malformed or contradicts another one."""


def convert(value: Any, annotation: Any, where: str) -> Any:
    """Coerces a JSON-ish value to a dataclass field's annotated type (tuples, Optional, nested dataclasses)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{where} may not be null")
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"{where}: a Union of {inner} cannot be read without a tag")
        return convert(value, inner[0], where)
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping of {annotation.__name__} fields, got {value!r}")
        return replace(annotation(), value, where)
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where} must have {len(args)} values, got {len(value)}: {value!r}")
        return tuple(convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if annotation is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if annotation in (int, float):
        try:
            converted = annotation(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
            raise ConfigError(f"{where} must be a finite number, got {value!r}") from None
        if not math.isfinite(converted):  # no setting means anything at nan or inf
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        if annotation is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return converted
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    return value


def _retag_head(model: ModelConfig, changes: Mapping[str, Any], where: str) -> ModelConfig:
    """`model` with the architecture of `changes` applied first, its head reset to the new architecture's head
    class when that differs (the head's own changes then apply on top)."""
    from li_seg.models import registry

    architecture = convert(changes.get("architecture", model.architecture), str, f"{where}architecture")
    if architecture not in registry.names():
        if "head" in changes:
            raise ConfigError(f"{where}head cannot be read: architecture {architecture!r} is not one of "
                              f"{', '.join(map(repr, registry.names()))}")
        return model
    head_class = registry.get(architecture).config_class
    if type(model.head) is head_class:
        return model
    return dataclasses.replace(model, architecture=architecture, head=head_class())


def _head_hint(instance: Any, key: str, prefix: str) -> str:
    """For a head's field given on the model (the layout before head configs): where it is now."""
    head = getattr(instance, "head", None) if isinstance(instance, ModelConfig) else None
    if dataclasses.is_dataclass(head) and key in {field.name for field in dataclasses.fields(head)}:
        return f" ({key} is a field of the {instance.architecture} head: {prefix}head.{key})"
    return ""


def replace(instance: Any, changes: Mapping[str, Any], where: str) -> Any:
    """dataclasses.replace with type coercion and nested merging; unknown keys list the valid ones."""
    hints = typing.get_type_hints(type(instance))
    prefix = f"{where}." if where else ""
    if isinstance(instance, ModelConfig):
        instance = _retag_head(instance, changes, prefix)
    updates = {}
    for key, value in changes.items():
        if key not in hints:
            raise ConfigError(f"unknown config key {prefix}{key}; valid keys: {', '.join(sorted(hints))}"
                              + _head_hint(instance, key, prefix))
        current = getattr(instance, key)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            updates[key] = replace(current, value, prefix + key)
        else:
            updates[key] = convert(value, hints[key], prefix + key)
    return dataclasses.replace(instance, **updates)
