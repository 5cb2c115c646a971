"""ExperimentConfig: one run's complete, frozen configuration, its overrides, validation and JSON form.

flags -> `papers.get_experiment` -> `override` (dataset preset, flags, --params_override) -> `resolve` (epochs to
steps, BN momentum from the run length) -> `validate` -> config.json in the model dir.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import types
import typing
from typing import Any, Mapping

from li_seg.config import (
    BackboneConfig, DataConfig, EvalConfig, InhibitionConfig, ModelConfig, SmoothingConfig, TrainConfig,
)


class ConfigError(ValueError):
    """A configuration value that is unknown, malformed or contradicts another one."""


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Everything one run needs: model, data, train and eval sections (li_seg.config)."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()


# ---------------------------------------------------------------------------------------------------------------
# Dict / JSON form.


def to_dict(cfg: Any) -> dict:
    """Nested plain dict (tuples become lists through JSON)."""
    return dataclasses.asdict(cfg)


def _convert(value: Any, annotation: Any, where: str) -> Any:
    """Coerces a JSON-ish value to a dataclass field's annotated type (tuples, Optional, nested dataclasses)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{where} may not be null")
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], where)
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping of {annotation.__name__} fields, got {value!r}")
        return _replace(annotation(), value, where)
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where} must have {len(args)} values, got {len(value)}: {value!r}")
        return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if annotation is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if annotation in (int, float):
        try:
            converted = annotation(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number, got {value!r}") from None
        if annotation is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return converted
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    return value


def _replace(instance: Any, changes: Mapping[str, Any], where: str) -> Any:
    """dataclasses.replace with type coercion and nested merging; unknown keys list the valid ones."""
    hints = typing.get_type_hints(type(instance))
    updates = {}
    for key, value in changes.items():
        if key not in hints:
            raise ConfigError(
                f"unknown config key {where + '.' if where else ''}{key}; valid keys: {', '.join(sorted(hints))}"
            )
        path = f"{where}.{key}" if where else key
        current = getattr(instance, key)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            updates[key] = _replace(current, value, path)
        else:
            updates[key] = _convert(value, hints[key], path)
    return dataclasses.replace(instance, **updates)


def from_dict(data: Mapping[str, Any]) -> ExperimentConfig:
    """The inverse of `to_dict` (missing keys keep their defaults)."""
    return _replace(ExperimentConfig(), data, "")


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
    return _replace(cfg, nested, "")


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
        return json.loads(path.read_text())
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
    # Local imports: the library's dispatch tables are the valid values, and importing them starts TensorFlow.
    from li_seg import data
    from li_seg.backbones import BACKBONES, inhibition_positions
    from li_seg.backbones.output_stride import OUTPUT_STRIDES
    from li_seg.backbones.resnet import STEMS
    from li_seg.layers.inhibition import INHIBITION_KINDS
    from li_seg.models import ARCHITECTURES
    from li_seg.training.optimizers import OPTIMIZERS
    from li_seg.training.schedules import SCHEDULES
    from li_seg.training.strategy import STRATEGIES

    model, backbone, d, t, e = cfg.model, cfg.model.backbone, cfg.data, cfg.train, cfg.eval
    choices = {
        "model.architecture": (model.architecture, ARCHITECTURES),
        "model.backbone.name": (backbone.name, BACKBONES),
        "model.backbone.output_stride": (backbone.output_stride, OUTPUT_STRIDES),
        "model.backbone.stem": (backbone.stem, STEMS),
        "data.dataset": (d.dataset, tuple(data.list_datasets())),
        "data.data_format": (d.data_format, data.DATA_FORMATS),
        "train.optimizer": (t.optimizer, OPTIMIZERS),
        "train.lr_schedule": (t.lr_schedule, SCHEDULES),
        "train.strategy": (t.strategy, STRATEGIES),
    }
    errors = [
        f"{key}={value!r} is not one of {', '.join(map(repr, valid))}"
        for key, (value, valid) in choices.items() if value not in valid
    ]
    if (t.train_steps is None) == (t.epochs is None):
        errors.append("set exactly one of train.train_steps and train.epochs")
    if t.train_steps is not None and t.train_steps < 1:
        errors.append(f"train.train_steps must be >= 1, got {t.train_steps}")
    if t.epochs is not None and t.epochs <= 0:
        errors.append(f"train.epochs must be > 0, got {t.epochs}")
    for name in ("batch_size", "log_every_steps", "summary_every_steps", "image_summary_every_steps",
                 "checkpoint_every_steps", "keep_checkpoints"):
        if getattr(t, name) < 1:
            errors.append(f"train.{name} must be >= 1, got {getattr(t, name)}")
    if t.eval_every_steps < 0:
        errors.append(f"train.eval_every_steps must be >= 0, got {t.eval_every_steps}")
    if t.learning_rate <= 0:
        errors.append(f"train.learning_rate must be > 0, got {t.learning_rate}")
    if t.weight_decay < 0:
        errors.append(f"train.weight_decay must be >= 0, got {t.weight_decay}")
    if t.tpu_address and t.strategy != "tpu":
        errors.append(f"train.tpu_address is set but train.strategy={t.strategy!r}; use --strategy=tpu")
    if model.frozen_bn and model.sync_bn:
        errors.append("model.frozen_bn and model.sync_bn contradict each other (frozen BN has no batch statistics)")
    if model.bn_momentum is not None and not 0.0 <= model.bn_momentum < 1.0:
        errors.append(f"model.bn_momentum must be in [0, 1), got {model.bn_momentum}")
    if not 0.0 <= model.dropout_rate < 1.0:
        errors.append(f"model.dropout_rate must be in [0, 1), got {model.dropout_rate}")
    if not model.atrous_rates or any(r < 1 for r in model.atrous_rates):
        errors.append(f"model.atrous_rates must be positive integers, got {list(model.atrous_rates)}")
    if model.architecture == "deeplabv2" and len(model.atrous_rates) != 4:
        errors.append(f"deeplabv2's ASPP-v2 sums four branches; got atrous_rates {list(model.atrous_rates)}")
    if backbone.multi_grid is not None:
        if backbone.name == "mobilenet_v2":
            errors.append("model.backbone.multi_grid applies to ResNet's last block only, not to mobilenet_v2")
        elif len(backbone.multi_grid) != 3 or any(g < 1 for g in backbone.multi_grid):
            errors.append(f"model.backbone.multi_grid needs 3 positive rates (block4's units), got "
                          f"{list(backbone.multi_grid)}")
    errors += _smoothing_errors(backbone)
    errors += _inhibition_errors("model.backbone.inhibition", backbone.inhibition, INHIBITION_KINDS)
    errors += _inhibition_errors("model.aspp_inhibition", model.aspp_inhibition, INHIBITION_KINDS)
    if backbone.name in BACKBONES:
        valid, _ = inhibition_positions(backbone.name)
        unknown = [p for p in backbone.inhibition_positions if p not in valid]
        if unknown:
            errors.append(f"model.backbone.inhibition_positions {unknown} are not positions of {backbone.name}; "
                          f"valid: {valid[0]} ... {valid[-1]}")
        if backbone.inhibition_positions and backbone.inhibition is None:
            errors.append("model.backbone.inhibition_positions is set but model.backbone.inhibition is null")
    if model.aspp_inhibition is not None and model.architecture == "deeplabv2":
        errors.append("model.aspp_inhibition needs DeepLabv3's ASPP (deeplabv3 / deeplabv3plus), not deeplabv2")
    if model.aspp_input_relu and model.aspp_inhibition is None:
        errors.append("model.aspp_input_relu is the authors' ReLU for LI-ASPP: set model.aspp_inhibition too")
    if (d.class_names or d.ignore_value is not None) and d.dataset != "folder":
        errors.append(f"data.class_names / data.ignore_value describe the 'folder' dataset; {d.dataset!r} has its own")
    if d.skip_bad_examples and d.data_format != "raw":
        errors.append("data.skip_bad_examples scans raw files; prepared records were checked when they were written "
                      "(use scripts.convert_dataset --skip_bad_examples)")
    if min(d.crop_size) < 1:
        errors.append(f"data.crop_size must be positive, got {list(d.crop_size)}")
    if not 0 < d.min_scale <= d.max_scale:
        errors.append(f"need 0 < data.min_scale <= data.max_scale, got {d.min_scale}, {d.max_scale}")
    if d.scale_step < 0:
        errors.append(f"data.scale_step must be >= 0 (0 = continuous), got {d.scale_step}")
    if not e.scales or any(s <= 0 for s in e.scales):
        errors.append(f"eval.scales must be positive, got {list(e.scales)}")
    if e.max_examples is not None and e.max_examples < 1:
        errors.append(f"eval.max_examples must be >= 1, got {e.max_examples}")
    if errors:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(errors))


def _smoothing_errors(backbone: BackboneConfig) -> list[str]:
    """What is wrong with model.backbone.smoothing (None = off is fine)."""
    from li_seg.layers import smoothing as smoothing_lib

    smoothing, key = backbone.smoothing, "model.backbone.smoothing"
    if smoothing is None:
        return []
    choices = {
        "kind": smoothing_lib.SMOOTHING_KINDS, "size_rule": smoothing_lib.FILTER_SIZE_RULES,
        "gaussian_variant": smoothing_lib.GAUSSIAN_VARIANTS, "coefficients": smoothing_lib.COEFFICIENT_MODES,
        "g_interact_variant": smoothing_lib.GROUP_INTERACTION_VARIANTS,
    }
    errors = [
        f"{key}.{field}={getattr(smoothing, field)!r} is not one of {', '.join(map(repr, valid))}"
        for field, valid in choices.items() if getattr(smoothing, field) not in valid
    ]
    if smoothing.sigma <= 0:
        errors.append(f"{key}.sigma must be > 0, got {smoothing.sigma}")
    if backbone.name == "mobilenet_v2":
        errors.append(f"{key} smooths a ResNet's dilated units; mobilenet_v2 has none (use resnet50 / resnet101)")
    return errors


def _inhibition_errors(key: str, inhibition, kinds) -> list[str]:
    """What is wrong with an InhibitionConfig (None = off is fine)."""
    if inhibition is None:
        return []
    errors = []
    if inhibition.kind not in kinds:
        errors.append(f"{key}.kind={inhibition.kind!r} is not one of {', '.join(map(repr, kinds))}")
    if inhibition.zone_size < 3 or inhibition.zone_size % 2 == 0:
        errors.append(f"{key}.zone_size must be odd and >= 3, got {inhibition.zone_size}")
    if inhibition.sigma <= 0:
        errors.append(f"{key}.sigma must be > 0, got {inhibition.sigma}")
    if inhibition.rate < 1:
        errors.append(f"{key}.rate must be >= 1, got {inhibition.rate}")
    low, high = inhibition.intensity_init
    if not 0.0 <= low <= high <= 1.0:
        errors.append(f"{key}.intensity_init must satisfy 0 <= low <= high <= 1, got {[low, high]}")
    return errors


def save(cfg: ExperimentConfig, path: pathlib.Path) -> None:
    path.write_text(json.dumps(to_dict(cfg), indent=2, sort_keys=True) + "\n")


def load(path: pathlib.Path) -> ExperimentConfig:
    return from_dict(json.loads(pathlib.Path(path).read_text()))


__all__ = [
    "BackboneConfig", "ConfigError", "DataConfig", "EvalConfig", "ExperimentConfig", "InhibitionConfig", "ModelConfig",
    "SmoothingConfig", "TrainConfig",
    "auto_bn_momentum", "from_dict", "load", "override", "parse_params_override", "resolve", "save", "to_dict",
    "validate",
]
