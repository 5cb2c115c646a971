"""ExperimentConfig: one run's complete, frozen configuration, its overrides, validation and JSON form.

flags -> `papers.get_experiment` -> `override` (dataset preset, flags, --params_override) -> `resolve` (epochs to
steps, BN momentum from the run length) -> `validate` -> config.json in the model dir.

config.json holds every section as plain JSON; the model's head is stored under "model.head" and read back as the
head config class of "model.architecture" (`config_values`). A config.json written before the model contract
(DeepLab's fields directly under "model", "train.aux_loss_weight") or with implicit inhibition positions is
upgraded on loading (`upgrade_legacy`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from typing import Any, Mapping

from experiments.config_values import ConfigError, replace
from experiments.validation import experiment_errors
from li_seg import atomic
from li_seg.layers.inhibition import default_positions
from li_seg.config import (
    AuxHeadConfig, BackboneConfig, DataConfig, EvalConfig, InhibitionConfig, ModelConfig, SmoothingConfig, TrainConfig,
)

# DeepLab's head fields, stored directly under "model" before the head configs existed.
_LEGACY_HEAD_FIELDS = ("atrous_rates", "aspp_separable", "aspp_channels", "image_pooling", "decoder_channels",
                       "low_level_channels", "decoder_separable", "dropout_rate", "aspp_inhibition", "aspp_input_relu")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Everything one run needs: model, data, train and eval sections (li_seg.config), and, for the record, the
    paper and table row it started from (`experiments.papers.get_experiment`; empty when built otherwise)."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    paper: str = ""
    ablation: str = ""


# ---------------------------------------------------------------------------------------------------------------
# Dict / JSON form.


def to_dict(cfg: Any) -> dict:
    """Nested plain dict (tuples become lists through JSON)."""
    return dataclasses.asdict(cfg)


def upgrade_legacy(data: Mapping[str, Any]) -> dict:
    """A config dict of an earlier layout, in today's: DeepLab's head fields move from "model" into "model.head";
    "train.aux_loss_weight" is dropped (it weighted an "aux_logits" output that no model of that code had;
    auxiliary heads now carry their own weight); backbone inhibition with empty positions, which meant the LI
    paper's positions, names them. Today's dicts are returned unchanged."""
    data = json.loads(json.dumps(data))  # a deep copy
    model = data.get("model", {})
    if isinstance(model, dict) and "head" not in model and any(key in model for key in _LEGACY_HEAD_FIELDS):
        architecture = model.get("architecture", ModelConfig.architecture)
        if not architecture.startswith("deeplab"):
            raise ConfigError(f"model: DeepLab head fields ({', '.join(k for k in _LEGACY_HEAD_FIELDS if k in model)}) "
                              f"beside architecture {architecture!r}, which has no such head")
        model["head"] = {key: model.pop(key) for key in _LEGACY_HEAD_FIELDS if key in model}
    if isinstance(data.get("train"), dict):
        data["train"].pop("aux_loss_weight", None)
    backbone = model.get("backbone") if isinstance(model, dict) else None
    if isinstance(backbone, dict) and backbone.get("inhibition") and not backbone.get("inhibition_positions"):
        backbone["inhibition_positions"] = list(default_positions(backbone.get("name", BackboneConfig.name)))
    return data


def from_dict(data: Mapping[str, Any]) -> ExperimentConfig:
    """The inverse of `to_dict` (missing keys keep their defaults; the legacy layout is upgraded)."""
    return replace(ExperimentConfig(), upgrade_legacy(data), "")


def override(cfg: ExperimentConfig, changes: Mapping[str, Any]) -> ExperimentConfig:
    """Applies nested ({"train": {"batch_size": 4}}) or dotted ({"train.batch_size": 4}) overrides."""
    nested: dict = {}
    for key, value in changes.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, Mapping) and isinstance(node.get(leaf), dict):
            node[leaf].update(value)
        else:
            node[leaf] = value
    return replace(cfg, nested, "")


def parse_params_override(text: str) -> dict:
    """--params_override: a JSON object, a path to a JSON file, or comma-separated dotted key=value pairs.

    Values in key=value form are read as JSON when they parse (numbers, true/false, null, [lists]) and as
    strings otherwise: "train.learning_rate=0.01,model.backbone.stem=plain".
    """
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"--params_override is not valid JSON ({e}): {text!r}") from None
    path = pathlib.Path(text)
    if text.endswith(".json"):
        if not path.is_file():
            raise ConfigError(f"--params_override file not found: {text}")
        try:
            overrides = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ConfigError(f"--params_override file {text} is not valid JSON ({error})") from None
        if not isinstance(overrides, dict):
            raise ConfigError(f"--params_override file {text} must hold a JSON object of overrides, got "
                              f"{type(overrides).__name__}")
        return overrides
    result = {}
    for item in _split_top_level(text):
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--params_override item {item!r} is not key=value; example: train.learning_rate=0.01,train.seed=1"
            )
        try:
            result[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            result[key.strip()] = raw.strip()
    return result


def _split_top_level(text: str) -> list[str]:
    """Splits on commas outside [...] so list values like atrous_rates=[6,12,18] stay whole."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item for item in items if item.strip()]


# ---------------------------------------------------------------------------------------------------------------
# Resolution and validation.


def auto_bn_momentum(train_steps: int) -> float:
    """BN momentum for a run of `train_steps`: the moving averages' horizon 1 / (1 - m) is ~1 % of the run.

    m = clip(1 - 100 / train_steps, 0.9, 0.9997); research/deeplab's 0.9997 is reached from ~333k steps on (the
    LI paper's 115k-step VOC recipe gets 0.99913; pin model.bn_momentum to override). Measured
    (BUILD_NOTES.md, "BN momentum"): DeepLabv3-MNV2 trained from scratch on CamVid with m = 0.9875 (horizon 80
    steps) predicted one class everywhere in inference mode at step 400 (val mIoU 2.9 %) while its batch
    statistics gave 21.6 % after recomputing them: while weights move fast, the moving averages lag behind.
    """
    return float(min(0.9997, max(0.9, 1.0 - 100.0 / max(train_steps, 1))))


def resolve(cfg: ExperimentConfig, num_train_examples: int) -> ExperimentConfig:
    """Fills the derived values: train_steps from epochs, and BN momentum from the run length when unset."""
    train = cfg.train
    if train.epochs is not None:
        steps = max(1, math.ceil(train.epochs * num_train_examples / train.batch_size))
        train = dataclasses.replace(train, train_steps=steps, epochs=None)
    model = cfg.model
    if model.bn_momentum is None:
        model = dataclasses.replace(model, bn_momentum=auto_bn_momentum(train.train_steps))
    return dataclasses.replace(cfg, model=model, train=train)


def validate(cfg: ExperimentConfig) -> None:
    """Raises ConfigError naming every unknown choice or contradictory setting, with the valid values."""
    errors = experiment_errors(cfg)
    if errors:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(errors))


def save(cfg: ExperimentConfig, path: pathlib.Path) -> None:
    """Writes `cfg` as JSON, atomically (a temporary file renamed): a reader never sees a partial config.json."""
    atomic.write_text(path, json.dumps(to_dict(cfg), indent=2, sort_keys=True) + "\n")


def load(path: pathlib.Path) -> ExperimentConfig:
    """The config saved at `path`; a ConfigError naming the file and the problem when it cannot be read."""
    path = pathlib.Path(path)
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict):
            raise ConfigError(f"it holds a JSON {type(saved).__name__}, not an object of config sections")
        return from_dict(saved)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON ({error})") from None
    except (ConfigError, TypeError) as error:
        raise ConfigError(f"{path} cannot be read as a li_seg config: {error}") from None


__all__ = [
    "AuxHeadConfig", "BackboneConfig", "ConfigError", "DataConfig", "EvalConfig", "ExperimentConfig",
    "InhibitionConfig", "ModelConfig", "SmoothingConfig", "TrainConfig",
    "auto_bn_momentum", "from_dict", "load", "override", "parse_params_override", "resolve", "save", "to_dict",
    "upgrade_legacy", "validate",
]
