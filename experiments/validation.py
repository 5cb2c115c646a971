"""Every problem of an ExperimentConfig at once, with the valid values: the model's, checked by the library where
each part is defined (`li_seg.models.model_errors`), and the data, train and eval sections'."""

from __future__ import annotations

from li_seg.config import choice_errors


def data_errors(d) -> list[str]:
    from li_seg import data  # the registered datasets (importing them starts TensorFlow)
    from li_seg.data.augment import PAD_PLACEMENTS
    from li_seg.data.info import IGNORE_LABEL

    errors = choice_errors("data.dataset", d.dataset, tuple(data.list_datasets()))
    errors += choice_errors("data.data_format", d.data_format, data.DATA_FORMATS)
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
    errors += choice_errors("data.pad_placement", d.pad_placement, PAD_PLACEMENTS)
    if not 0.0 <= d.image_pad_value <= 255.0:
        errors.append(f"data.image_pad_value is an RGB value in [0, 255], got {d.image_pad_value}")
    classes = _num_classes(d) or IGNORE_LABEL
    if d.label_pad_value != IGNORE_LABEL and not 0 <= d.label_pad_value < classes:
        errors.append(f"data.label_pad_value must be a class of {d.dataset!r} (0 .. {classes - 1}) or the ignore "
                      f"label {IGNORE_LABEL}, got {d.label_pad_value}")
    return errors


def _num_classes(d):
    """The dataset's number of classes; None when it cannot be read here (a folder dataset without its files)."""
    from li_seg import data

    try:
        return data.get_dataset_info(d).num_classes
    except (ValueError, OSError):
        return None


def train_errors(t) -> list[str]:
    from li_seg.training.losses import WEIGHT_DECAY_SCOPES
    from li_seg.training.optimizers import OPTIMIZERS
    from li_seg.training.schedules import SCHEDULES
    from li_seg.training.strategy import STRATEGIES

    errors = choice_errors("train.optimizer", t.optimizer, OPTIMIZERS)
    errors += choice_errors("train.lr_schedule", t.lr_schedule, SCHEDULES)
    errors += choice_errors("train.strategy", t.strategy, STRATEGIES)
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
    errors += choice_errors("train.weight_decay_scope", t.weight_decay_scope, WEIGHT_DECAY_SCOPES)
    if t.tpu_address and t.strategy != "tpu":
        errors.append(f"train.tpu_address is set but train.strategy={t.strategy!r}; use --strategy=tpu")
    if t.jit_compile and t.deterministic:
        errors.append("train.jit_compile and train.deterministic exclude each other: TensorFlow's XLA has no "
                      "deterministic max-pool gradient (the ResNet backbones and PAN's FPA max-pool); drop --xla or "
                      "--deterministic")
    return errors


def eval_errors(e) -> list[str]:
    errors = []
    if not e.scales or any(s <= 0 for s in e.scales):
        errors.append(f"eval.scales must be positive, got {list(e.scales)}")
    if e.max_examples is not None and e.max_examples < 1:
        errors.append(f"eval.max_examples must be >= 1, got {e.max_examples}")
    if e.pad_to is not None and e.pad_to < 1:
        errors.append(f"eval.pad_to must be >= 1 (or null: no padding), got {e.pad_to}")
    return errors


def experiment_errors(cfg) -> list[str]:
    """Every problem of `cfg` (an ExperimentConfig), model first."""
    from li_seg.models import model_errors

    errors = model_errors(cfg.model) + data_errors(cfg.data) + train_errors(cfg.train) + eval_errors(cfg.eval)
    if cfg.train.jit_compile and cfg.model.sync_bn:
        errors.append("train.jit_compile and model.sync_bn exclude each other: synchronized BN's cross-replica "
                      "all-reduce cannot run inside the XLA-compiled per-replica step; drop --xla or sync_bn")
    return errors
