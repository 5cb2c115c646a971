"""Command-line flags shared by train / evaluate / export, and their translation into an ExperimentConfig.

Order of precedence (later wins): the paper's ablation -> the dataset's preset -> --recipe (default: the paper's
recipe for the dataset, `PaperRecord.dataset_recipes`, if it has one) -> the named flags -> --finetune ->
--params_override. In eval and export modes an existing MODEL_DIR/config.json replaces the
first three, so `--mode=export --model_dir=DIR` needs no other flag.

--finetune=STAGE runs one of the paper's extra stages (`PaperRecord.stages`, e.g. li_convs' li_only, the LI
paper's second stage): it restores --init_checkpoint (a stage-1 model dir or a checkpoint prefix) and trains only
the stage's variables; BN layers still run in training mode, so their moving statistics keep updating.
"""

from __future__ import annotations

import pathlib

from absl import flags, logging

from experiments import config as config_lib
from experiments import datasets, papers
from experiments.data_flags import data_overrides, define_data_flags
from li_seg import weights as weight_formats
from li_seg.weights import published
from li_seg.training.checkpoints import resolve_checkpoint
from li_seg.training.strategy import STRATEGIES

MODES = ("train", "eval", "train_and_eval", "export")


def _per_paper(names) -> str:
    """"paper: a, b; paper2: c" for the help texts, from the papers' records."""
    return "; ".join(f"{paper}: {', '.join(names(papers.record(paper))) or 'none'}" for paper in papers.PAPERS)


flags.DEFINE_string("paper", "li_convs", f"The paper whose tables to use: {', '.join(papers.PAPERS)}.")
flags.DEFINE_string("ablation", None, "A row of the paper's tables (default: the paper's main model).")
flags.DEFINE_enum("mode", "train_and_eval", MODES, "What to do.")
flags.DEFINE_string(
    "recipe", None, f"A named training recipe of the paper ({_per_paper(lambda record: record.recipes)})."
)
flags.DEFINE_string(
    "finetune", None, "An extra stage of the paper, training a subset from --init_checkpoint "
    f"({_per_paper(lambda record: record.stages)}).",
)
flags.DEFINE_string(
    "init_checkpoint", None, "Initial weights of the whole model: a model dir (its best, else latest checkpoint), a "
    "checkpoint prefix (ours, or a research/deeplab / Wang & Ji DeepLabv2 TF1 model.ckpt) or a whole model's "
    ".weights.h5 (README 'Pretrained weights').",
)
flags.DEFINE_string(
    "backbone_weights", None, "Pretrained backbone weights (model.backbone.weights): 'paper' (what the paper started "
    "from), a published name (fetched once, hash-checked: README 'Pretrained weights', e.g. torchvision_resnet50), "
    "or a file: a TF-slim / research/deeplab / DeepLabv2 checkpoint prefix, a keras.applications .h5, a torchvision "
    "/ timm / PyTorch-Encoding / mmsegmentation .pth or .safetensors, or a converted .weights.h5.",
)
flags.DEFINE_enum(
    "weights_format", None, weight_formats.FORMATS,
    "The format of --backbone_weights (model.backbone.weights_format); default: detected from the file.",
)
flags.DEFINE_boolean(
    "allow_non_finite_weights", None, "Load NaN / Inf values of --backbone_weights and --init_checkpoint "
    "(model.backbone.allow_non_finite_weights); refused by default, naming the tensors.",
)
define_data_flags()
flags.DEFINE_string("model_dir", None, "Checkpoints, TensorBoard logs, config.json, export (default runs/PAPER/...).")
flags.DEFINE_integer("batch_size", None, "Global training batch size.")
flags.DEFINE_integer("train_steps", None, "Training steps (exclusive with --epochs).")
flags.DEFINE_float("epochs", None, "Training epochs over the train split (exclusive with --train_steps).")
flags.DEFINE_list("crop_size", None, "Training crop: H,W or one size for both.")
flags.DEFINE_float("learning_rate", None, "Base learning rate.")
flags.DEFINE_integer("output_stride", None, "Backbone output stride: 8, 16 or 32.")
flags.DEFINE_list("atrous_rates", None, "DeepLab heads: ASPP atrous rates, e.g. 6,12,18.")
flags.DEFINE_list("eval_scales", None, "Evaluation scales, e.g. 0.5,0.75,1.0,1.25,1.5,1.75.")
flags.DEFINE_boolean("add_flipped_images", None, "Also evaluate horizontally flipped images.")
flags.DEFINE_integer("seed", None, "Random seed (weights, data order, augmentation, dropout).")
flags.DEFINE_boolean("deterministic", None, "Deterministic TensorFlow ops (slower; reproducible runs).")
flags.DEFINE_boolean("mixed_precision", None, "mixed_float16 compute (logits and loss stay float32).")
flags.DEFINE_boolean("xla", None, "Compile each training step's forward, loss and backward with XLA "
                     "(train.jit_compile).")
flags.DEFINE_enum("strategy", None, STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_string("tpu_address", None, "TPU name or grpc:// address for --strategy=tpu.")
flags.DEFINE_string(
    "params_override", "", "Any config value: JSON, a .json file, or key=value pairs such as "
    "'train.weight_decay=1e-4,model.backbone.stem=plain'."
)
flags.DEFINE_string("checkpoint", "auto", "For eval/export: 'auto' (best, else latest), 'best', 'latest' or a path.")
flags.DEFINE_string("export_dir", None, "SavedModel directory for --mode=export (default MODEL_DIR/export).")
flags.DEFINE_enum("format", "saved_model", ("saved_model", "tflite"), "--mode=export: a SavedModel, or a TFLite "
                  "model of the logits at a fixed size (the MobileNetV2 rows) in EXPORT_DIR/model[_QUANTIZE].tflite.")
flags.DEFINE_enum("quantize", "none", ("none", "float16", "int8"), "--format=tflite: float16 weights, or int8 "
                  "weights and activations calibrated on 100 training images.")
flags.DEFINE_list("tflite_size", None, "--format=tflite: the input H,W (default: the training crop).")

FLAGS = flags.FLAGS


def _flag_overrides() -> dict:
    """Dotted config overrides from the flags the user gave."""
    if FLAGS.train_steps is not None and FLAGS.epochs is not None:
        raise config_lib.ConfigError("--train_steps and --epochs contradict each other: give one of them")
    result = data_overrides()
    result.pop("data.dataset", None)  # chosen first, as it selects the dataset's preset
    simple = {
        "batch_size": "train.batch_size", "learning_rate": "train.learning_rate",
        "output_stride": "model.backbone.output_stride", "add_flipped_images": "eval.add_flipped_images",
        "seed": "train.seed", "deterministic": "train.deterministic", "mixed_precision": "train.mixed_precision",
        "xla": "train.jit_compile",
        "strategy": "train.strategy", "tpu_address": "train.tpu_address",
        "backbone_weights": "model.backbone.weights", "weights_format": "model.backbone.weights_format",
        "allow_non_finite_weights": "model.backbone.allow_non_finite_weights",
    }
    for flag, key in simple.items():
        if FLAGS[flag].value is not None:
            result[key] = FLAGS[flag].value
    if FLAGS.train_steps is not None:
        result.update({"train.train_steps": FLAGS.train_steps, "train.epochs": None})
    if FLAGS.epochs is not None:
        result.update({"train.epochs": FLAGS.epochs, "train.train_steps": None})
    if FLAGS.crop_size is not None:
        crop = FLAGS.crop_size * 2 if len(FLAGS.crop_size) == 1 else FLAGS.crop_size
        result["data.crop_size"] = crop
    if FLAGS.atrous_rates is not None:
        result["model.head.atrous_rates"] = FLAGS.atrous_rates
    if FLAGS.eval_scales is not None:
        result["eval.scales"] = FLAGS.eval_scales
    if FLAGS.init_checkpoint is not None:
        path = pathlib.Path(FLAGS.init_checkpoint)
        which = "auto" if path.is_dir() else FLAGS.init_checkpoint  # a model dir, or a prefix that must exist
        result["train.init_checkpoint"] = resolve_checkpoint(path if path.is_dir() else path.parent, which)
    return result


def _finetune(cfg: config_lib.ExperimentConfig, paper: str, name: str) -> config_lib.ExperimentConfig:
    """--finetune: the paper's stage `name`, training only its variables of a model restored from
    train.init_checkpoint."""
    stage = papers.stage(paper, name)
    if not cfg.train.init_checkpoint:
        raise config_lib.ConfigError(
            f"--finetune={name} continues a trained model: give --init_checkpoint=STAGE1_MODEL_DIR (or a checkpoint "
            "prefix such as STAGE1_MODEL_DIR/checkpoints/ckpt-1000)"
        )
    refusal = stage.refuses(cfg.model)
    if refusal:
        raise config_lib.ConfigError(f"--finetune={name} {refusal}")
    return config_lib.override(cfg, {"train.trainable_patterns": stage.trainable_patterns})


def _published_weights(cfg: config_lib.ExperimentConfig, paper: str) -> config_lib.ExperimentConfig:
    """--backbone_weights=NAME of published weights (`li_seg.weights.published`) sets the network the file holds
    (depth, stem, stem widths); "paper" is the name of what the paper started from for this backbone."""
    weights = cfg.model.backbone.weights
    if weights == "paper":
        pretrained = papers.record(paper).pretrained
        if cfg.model.backbone.name not in pretrained:
            raise config_lib.ConfigError(
                f"--backbone_weights=paper: the {paper} paper starts no {cfg.model.backbone.name} from published "
                f"weights; it starts {', '.join(f'{net} from {name}' for net, name in pretrained.items())}")
        weights = pretrained[cfg.model.backbone.name]
    if not published.is_published(weights):
        return cfg
    fields = {f"model.backbone.{key}": value for key, value in published.backbone_fields(weights).items()}
    return config_lib.override(cfg, {**fields, "model.backbone.weights": weights})


def default_model_dir(paper: str, ablation: str, dataset: str) -> pathlib.Path:
    return pathlib.Path("runs") / paper / f"{ablation}-{dataset}"


def experiment_from_flags() -> tuple[config_lib.ExperimentConfig, pathlib.Path]:
    """The run's config (not yet resolved or validated) and its model dir."""
    ablation = FLAGS.ablation or papers.main_ablation(FLAGS.paper)
    cfg = papers.get_experiment(FLAGS.paper, ablation)
    dataset = FLAGS.dataset or cfg.data.dataset
    model_dir = pathlib.Path(FLAGS.model_dir) if FLAGS.model_dir else default_model_dir(FLAGS.paper, ablation, dataset)
    saved = model_dir / "config.json"
    trained = None  # the run evaluated or exported
    if FLAGS.mode in ("eval", "export") and saved.exists():
        cfg = trained = config_lib.load(saved)
        if FLAGS.dataset:
            cfg = config_lib.override(cfg, {"data.dataset": FLAGS.dataset})
    else:
        cfg = config_lib.override(cfg, datasets.preset(dataset))
        recipe = FLAGS.recipe or papers.record(FLAGS.paper).dataset_recipes.get(dataset)
        if recipe:
            if not FLAGS.recipe:
                logging.info("training %s on %s with the paper's recipe for it, --recipe=%s (give --recipe to choose "
                             "another)", FLAGS.paper, dataset, recipe)
            cfg = papers.apply_recipe(FLAGS.paper, recipe, cfg)
    cfg = config_lib.override(cfg, _flag_overrides())
    if FLAGS.finetune:
        cfg = _finetune(cfg, FLAGS.paper, FLAGS.finetune)
    cfg = config_lib.override(cfg, config_lib.parse_params_override(FLAGS.params_override))
    if trained is not None and cfg.data.dataset != trained.data.dataset:
        _check_classes(trained, cfg, model_dir)
    return _published_weights(cfg, FLAGS.paper), model_dir


def _check_classes(trained: config_lib.ExperimentConfig, cfg: config_lib.ExperimentConfig, model_dir) -> None:
    """A run evaluated or exported on another dataset (--dataset) must predict that dataset's classes."""
    from li_seg import data

    try:
        before = data.get_dataset_info(trained.data)
    except data.DataError:  # a 'folder' dataset moved since: the checkpoint's shapes will tell
        return
    now = data.get_dataset_info(cfg.data)
    if before.num_classes != now.num_classes:
        raise config_lib.ConfigError(
            f"{model_dir} was trained on {trained.data.dataset!r} ({before.num_classes} classes); "
            f"{cfg.data.dataset!r} has {now.num_classes}: a model evaluates or exports only on a dataset with its own "
            f"classes (leave out --dataset, or fine-tune the run on {cfg.data.dataset!r} first: --init_checkpoint)")
