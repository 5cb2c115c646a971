"""What `python -m experiments.train | evaluate | export` run: one mode on a resolved, validated config.

Configuration errors, bad data and a diverging loss end with a one-paragraph message (exit code 2 or 1), not a
traceback. The three entry points are thin wrappers that fix the mode; this module imports none of them.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import sys
from typing import Optional

from absl import app, logging

from experiments import config as config_lib
from experiments import flags as cli

FLAGS = cli.FLAGS
# What exports write into an export directory: a SavedModel, and the TFLite files with their labels.
EXPORT_FILES = ("saved_model.pb", "variables", "assets", "fingerprint.pb", "labels.txt", "model.tflite",
                "model_float16.tflite", "model_int8.tflite")
# Data settings a run may change when it resumes: where and in which format the same examples are read.
RESUMABLE_CHANGES = ("data_dir", "data_format", "check_split_sizes", "skip_bad_examples")


def _leaves(tree: dict, prefix: str = "") -> dict:
    """A nested config dict as {"model.backbone.layout": value, ...}."""
    leaves = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            leaves.update(_leaves(value, f"{prefix}{key}."))
        else:
            leaves[f"{prefix}{key}"] = value
    return leaves


_CONVENTIONS = ("weights_format", "bn_epsilon", "normalization")  # what a pretrained file tells the config


def _pretrained_conventions(cfg, saved):
    """(cfg with its backbone's pretrained conventions resolved, the opened file or None). A run that recorded them
    (config.json of the same weights) passes them on without reading the file; otherwise the file is read here,
    once, and handed to the trainer, which loads it if the run starts from nothing (`li_seg.backbones.pretrained`)."""
    backbone = cfg.model.backbone
    if not backbone.weights:
        return cfg, None
    if saved is not None and saved.model.backbone.weights == backbone.weights:
        inherited = {key: getattr(saved.model.backbone, key) for key in _CONVENTIONS
                     if getattr(backbone, key) is None}
        backbone = dataclasses.replace(backbone, **inherited)
    opened = None
    if backbone.weights_format is None or backbone.normalization is None:
        from li_seg.backbones.pretrained import open_pretrained, resolve_pretrained

        opened = open_pretrained(backbone)
        backbone = resolve_pretrained(backbone, opened)
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, backbone=backbone)), opened


def _check_model_dir(cfg, model_dir, *, momentum_derived: bool = False, chief: bool = True):
    """Refuses to resume a model dir that holds a different model or dataset, naming each setting that differs, or
    checkpoints without the config.json that says what they are (a config.json without a checkpoint is replaced:
    nothing was trained); records config.json (the chief of a multi-worker cluster only) with the pretrained
    weights' conventions resolved; returns (the config to run, the pretrained file if it was read:
    `_pretrained_conventions`).

    Extending a run (re-running it with another train_steps or epochs) is resuming it: when this run's BN
    momentum was derived from its length (model.bn_momentum unset), it keeps the saved run's momentum, and says so.
    """
    import tensorflow as tf

    if model_dir.exists() and not model_dir.is_dir():
        raise config_lib.ConfigError(f"--model_dir={model_dir} is a file; give a directory (created if missing)")
    saved_path = model_dir / "config.json"
    saved = config_lib.load(saved_path) if saved_path.exists() else None
    trained = tf.train.latest_checkpoint(str(model_dir / "checkpoints")) is not None  # what the trainer resumes
    if saved is None and trained:
        raise config_lib.ConfigError(
            f"{model_dir} holds checkpoints but no config.json, so which model they are cannot be told: put its "
            "config.json back (the one the run was started with), or use a new --model_dir")
    if saved is not None and not trained:
        logging.info("%s holds a config.json but no checkpoint (a run stopped before its first): started anew",
                     model_dir)
        saved = None
    cfg, opened = _pretrained_conventions(cfg, saved)
    if saved is not None:
        if momentum_derived and saved.model.bn_momentum != cfg.model.bn_momentum:
            logging.info("keeps the BN momentum %g of the run it resumes (derived from that run's length; this "
                         "length would give %g; set model.bn_momentum to choose)", saved.model.bn_momentum,
                         cfg.model.bn_momentum)
            cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, bn_momentum=saved.model.bn_momentum))
        before = _leaves({section: config_lib.to_dict(saved)[section] for section in ("model", "data")})
        now = _leaves({section: config_lib.to_dict(cfg)[section] for section in ("model", "data")})
        differences = [
            f"{key}: {before.get(key)!r} (saved) vs {value!r} (now)" for key, value in now.items()
            if key.split(".")[1] not in RESUMABLE_CHANGES and before.get(key) != value
        ]
        if differences:
            raise config_lib.ConfigError(
                f"{model_dir} holds a run of a different model or dataset:\n  " + "\n  ".join(differences)
                + "\nUse a new --model_dir, or the saved settings to resume it."
            )
        if saved == cfg:  # a re-run of the same command: nothing to record (a read-only finished run stays usable)
            return cfg, opened
    if not chief:
        return cfg, opened
    model_dir.mkdir(parents=True, exist_ok=True)
    config_lib.save(cfg, saved_path)
    return cfg, opened


def evaluate_checkpoint(cfg, model_dir, checkpoint: str, strategy):
    """Restores `checkpoint` of model_dir into a fresh model under `strategy` and evaluates it."""
    from li_seg import data
    from li_seg.evaluation.evaluator import evaluate
    from li_seg.training.checkpoints import load_trained_model
    from li_seg.training.summaries import Summaries
    from li_seg.training.trainer import record_evaluation

    info = data.get_dataset_info(cfg.data)
    model, path = load_trained_model(cfg.model, info.num_classes, model_dir, checkpoint, strategy)
    step = int(path.rsplit("-", 1)[-1])
    logging.info("evaluating %s on %s/%s", path, cfg.data.dataset, cfg.data.eval_split)
    result = evaluate(model, cfg.data, cfg.eval, strategy=strategy)
    summaries = Summaries(model_dir, info.class_names, info.palette, info.ignore_label)
    record_evaluation(model_dir, step, result, summaries)
    return result


def export_checkpoint(cfg, model_dir, checkpoint: str, export_dir=None) -> pathlib.Path:
    """Restores `checkpoint` of model_dir into a fresh float32 model and exports it."""
    from li_seg import data
    from li_seg.export.saved_model import export_saved_model
    from li_seg.training.checkpoints import load_trained_model

    export_dir = _export_dir(export_dir, model_dir, "saved_model.pb")
    info = data.get_dataset_info(cfg.data)
    model, path = load_trained_model(cfg.model, info.num_classes, model_dir, checkpoint)
    logging.info("exporting %s to %s (tracing the serving signatures)", path, export_dir)
    export_saved_model(model, str(export_dir), scales=cfg.eval.scales, add_flipped_images=cfg.eval.add_flipped_images,
                       info=info)
    logging.info("exported %s to %s (signatures serving_default: uint8 images -> classes, probabilities; metadata: "
                 "class names, palette, ignore label)", path, export_dir)
    return export_dir


def export_tflite(cfg, model_dir, checkpoint: str, export_dir=None, quantize: str = "none",
                  size=None) -> pathlib.Path:
    """Restores `checkpoint` of model_dir and writes EXPORT_DIR/model[_QUANTIZE].tflite (logits at `size`, default
    the training crop) and labels.txt; int8 is calibrated on 100 training images resized to `size`."""
    from li_seg import data
    from li_seg.export.tflite import calibration_images, convert_to_tflite
    from li_seg.training.checkpoints import load_trained_model

    name = "model.tflite" if quantize == "none" else f"model_{quantize}.tflite"
    export_dir = _export_dir(export_dir, model_dir, name)
    size = _tflite_size(size) or tuple(cfg.data.crop_size)
    info = data.get_dataset_info(cfg.data)
    model, path = load_trained_model(cfg.model, info.num_classes, model_dir, checkpoint)
    calibration = calibration_images(cfg.data, size) if quantize == "int8" else None
    flatbuffer = convert_to_tflite(model, size, quantize, calibration)
    export_dir.mkdir(parents=True, exist_ok=True)
    target = export_dir / name
    target.write_bytes(flatbuffer)
    (export_dir / "labels.txt").write_text("\n".join(info.class_names) + "\n")
    logging.info("exported %s to %s (%.1f MB; input float32 (1, %d, %d, 3) RGB in [0, 255], output logits)", path,
                 target, len(flatbuffer) / 2**20, *size)
    return target


def _export_dir(export_dir, model_dir, product: str) -> pathlib.Path:
    """The export's directory (default MODEL_DIR/export). An earlier export there (its `product` file) is replaced,
    and said so; a file, or a directory of other files, is refused: an export writes its own files into it."""
    export_dir = pathlib.Path(export_dir) if export_dir else pathlib.Path(model_dir) / "export"
    if export_dir.exists() and not export_dir.is_dir():
        raise config_lib.ConfigError(f"--export_dir={export_dir} is a file; give a directory (created if missing)")
    if (export_dir / product).exists():
        logging.warning("replaces the export in %s (%s)", export_dir, product)
    elif export_dir.exists() and any(p.name not in EXPORT_FILES for p in export_dir.iterdir()):
        raise config_lib.ConfigError(f"--export_dir={export_dir} holds other files: give an empty or new directory")
    return export_dir


def _tflite_size(size) -> Optional[tuple[int, int]]:
    """--tflite_size H,W as two positive integers (None: not given)."""
    if not size:
        return None
    values = tuple(int(s) for s in size if s.strip().isdigit())
    if len(values) != 2 or len(size) != 2 or min(values) < 1:
        raise config_lib.ConfigError(f"--tflite_size is the input's H,W as two positive integers (e.g. 513,513), got "
                                     f"{','.join(size)}")
    return values


def run(cfg, model_dir, mode: str, *, checkpoint: str = "auto", export_dir=None, momentum_derived=False,
        strategy=None, export_format: str = "saved_model", quantize: str = "none", tflite_size=None) -> None:
    """Runs one mode for a resolved, validated config (callable from Python as well as from the command line).

    momentum_derived: cfg's BN momentum was derived from the run length (see `_check_model_dir`).
    strategy: the tf.distribute strategy (default: made from cfg.train; the command line makes it first thing,
      as multi-worker collectives must be configured before TensorFlow's context starts).
    """
    from li_seg.training.strategy import make_strategy

    if mode in ("train", "train_and_eval", "eval") and strategy is None:
        strategy = make_strategy(cfg.train.strategy, cfg.train.tpu_address)
    if mode in ("train", "train_and_eval"):
        from li_seg.training.strategy import worker
        from li_seg.training.trainer import Trainer

        cfg, pretrained = _check_model_dir(cfg, model_dir, momentum_derived=momentum_derived,
                                           chief=worker(strategy).chief)
        trainer = Trainer(cfg, model_dir, strategy, pretrained=pretrained)
        result = trainer.train(evaluate_during_training=mode == "train_and_eval")
        logging.info("finished at step %d in %s", result.step, model_dir)
    elif mode == "eval":
        evaluate_checkpoint(cfg, model_dir, checkpoint, strategy)
    elif mode == "export" and export_format == "tflite":
        export_tflite(cfg, model_dir, checkpoint, export_dir, quantize, tflite_size)
    elif mode == "export":
        if quantize != "none":
            raise config_lib.ConfigError("--quantize applies to --format=tflite")
        export_checkpoint(cfg, model_dir, checkpoint, export_dir)
    else:
        raise config_lib.ConfigError(f"unknown mode {mode!r}; valid modes: {', '.join(cli.MODES)}")


def _explain_failure(error, cfg, model_dir):
    """The message for a failure a user can fix (a storage problem, a lost worker), or None. A lost cluster also
    removes the workers' temporary directories (a worker killed while saving leaves its own)."""
    import tensorflow as tf

    from li_seg.training.checkpoints import remove_worker_directories
    from li_seg.training.storage import storage_error, storage_problem

    reason = storage_problem(error)
    if reason is not None:
        return str(storage_error(getattr(error, "filename", None) or model_dir, reason))
    lost = isinstance(error, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError))
    if lost and cfg is not None and cfg.train.strategy == "multi_worker_mirrored":
        # TensorFlow names the lost task as a remote target (connection reset) or as unhealthy (no heartbeat).
        lost_task = re.search(r"(?:remote target|unhealthy[^/]*)\s*/job:(\w+)/replica:\d+/task:(\d+)", error.message)
        who = f"{lost_task.group(1)} {lost_task.group(2)}" if lost_task else "a worker"
        remove_worker_directories(model_dir)
        return (f"lost contact with another worker of the cluster: {who} stopped responding. Start every worker "
                "again with its command and TF_CONFIG: training resumes from the chief's newest checkpoint in "
                f"{pathlib.Path(model_dir) / 'checkpoints'}")
    return None


def main(argv, mode=None) -> int:
    """The command line: flags -> config -> `run`. `mode` fixes --mode (experiments.evaluate / export).

    Exit status 0 done, 1 the training diverged, 2 the run could not start or go on (a configuration, data,
    distribution or storage problem, named with its fix), 130 interrupted (Ctrl-C, SIGINT: training saves a
    checkpoint first)."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if mode is not None:
        FLAGS.mode = mode
    logging.set_verbosity(logging.INFO)
    import tensorflow as tf

    from li_seg import data
    from li_seg.training.storage import StorageError
    from li_seg.training.strategy import StrategyError, make_strategy
    from li_seg.training.trainer import TrainingDivergedError
    from li_seg.export.tflite import TFLiteExportError
    from li_seg.weights import WeightsError

    model_dir, cfg = None, None
    try:
        cfg, model_dir = cli.experiment_from_flags()
        config_lib.validate(cfg)
        strategy = None
        if FLAGS.mode != "export":  # before anything runs TensorFlow ops (see `run`)
            strategy = make_strategy(cfg.train.strategy, cfg.train.tpu_address)
        # Counting the train split also checks that the dataset is where data_dir says, before any model is built;
        # export needs no data, and eval and export read an already resolved MODEL_DIR/config.json.
        training = FLAGS.mode in ("train", "train_and_eval")
        momentum_derived = cfg.model.bn_momentum is None
        cfg = config_lib.resolve(cfg, data.num_examples(cfg.data, cfg.data.train_split) if training else 0)
        run(cfg, model_dir, FLAGS.mode, checkpoint=FLAGS.checkpoint, export_dir=FLAGS.export_dir,
            momentum_derived=momentum_derived, strategy=strategy, export_format=FLAGS.format,
            quantize=FLAGS.quantize, tflite_size=FLAGS.tflite_size)
    except (config_lib.ConfigError, FileNotFoundError, data.DataError, StrategyError, StorageError,
            WeightsError, TFLiteExportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except TrainingDivergedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: run the same command again to go on (training resumes from its newest checkpoint)",
              file=sys.stderr)
        return 130
    except (OSError, tf.errors.OpError) as error:
        message = _explain_failure(error, cfg, model_dir)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0
