"""The architecture registry: architecture name -> (head config class, head builder).

`li_seg/models/__init__.py` registers every architecture; `build_model` composes backbone -> head -> auxiliary
heads for any of them (`li_seg.models.builder`). A new architecture is a module with its head config (a
`li_seg.config.HeadConfig` subclass that validates itself) and its head builder, plus one `register` line there.

A head builder is called as `build_head(config, features, images, num_classes, bn)`:
- config: the whole ModelConfig (its `head` is of the registered class);
- features: the backbone's endpoints by name ("input", "stem", "block1" ... "block4", "low_level");
- images: the model's input (B, H, W, 3), RGB in [0, 255] (for heads that build a second backbone, as DifNet);
- num_classes, bn: the number of classes and the model's `BatchNormSettings`;
and returns the logits (B, h, w, num_classes) at any resolution: `build_model` resizes them to the input.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from li_seg.config import HeadConfig, ModelConfig

HeadBuilder = Callable[..., object]


@dataclasses.dataclass(frozen=True)
class Architecture:
    name: str
    config_class: type
    build_head: HeadBuilder


_ARCHITECTURES: dict[str, Architecture] = {}


def register(name: str, config_class: type, build_head: HeadBuilder) -> None:
    """Registers architecture `name`; a name registered twice is an error."""
    if not (isinstance(config_class, type) and issubclass(config_class, HeadConfig)):
        raise TypeError(f"{name}: the head config class must subclass li_seg.config.HeadConfig, got {config_class}")
    if name in _ARCHITECTURES:
        raise ValueError(f"architecture {name!r} is registered already")
    _ARCHITECTURES[name] = Architecture(name, config_class, build_head)


def unregister(name: str) -> None:
    """Removes architecture `name` (tests that register a temporary one)."""
    del _ARCHITECTURES[name]


def names() -> tuple[str, ...]:
    """The registered architectures, in registration order."""
    return tuple(_ARCHITECTURES)


def get(name: str) -> Architecture:
    """The registered architecture `name`; ValueError listing the valid ones otherwise."""
    if name not in _ARCHITECTURES:
        raise ValueError(f"Unknown architecture {name!r}; valid: {list(_ARCHITECTURES)}.")
    return _ARCHITECTURES[name]


def with_default_head(config: ModelConfig) -> ModelConfig:
    """`config` with its head's defaults when `head` is None (an unregistered architecture is left to
    validation, which names it)."""
    if config.head is not None or config.architecture not in _ARCHITECTURES:
        return config
    return dataclasses.replace(config, head=_ARCHITECTURES[config.architecture].config_class())
