"""python -m experiments.predict (--model_dir=RUN | --saved_model=DIR) --input=FILE|FOLDER|GLOB --output=DIR

Segments one's own images: per image, OUTPUT/<name>.png (the label map as a palette PNG at the image's size: the
pixel value is the class, the palette the dataset's colours), OUTPUT/<name>_overlay.png (the colours over the
image) and, with --save_probabilities, OUTPUT/<name>_probabilities.npy (float16, H x W x classes).

--model_dir: a training run (its config.json and best, else latest checkpoint; --checkpoint chooses), predicted
with the run's evaluation (EvalConfig scales / flips / padding; --eval_scales and --add_flipped_images override;
--data_dir points at a 'folder' dataset's classes.json when it has moved since training).
--saved_model: an export of `experiments.export`, with the test-time augmentation baked in at export and the class
names and palette of its "metadata" signature. Grey, palette, RGBA and 16-bit images are converted to RGB (said
per image); a file that cannot be read is reported and skipped, and the run ends with a summary (exit 1 if any
failed). Nothing is overwritten unless --overwrite: existing outputs are named before any work.
"""

from __future__ import annotations

from experiments.quiet import quiet_tensorflow  # noqa: E402  (first: before TensorFlow)

quiet_tensorflow()

import pathlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from experiments import config as config_lib  # noqa: E402
from experiments import flags as cli  # noqa: E402  (--model_dir, --checkpoint, --eval_scales, ...)

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command's own flags, defined when it runs (as scripts.convert_weights', whose --input / --output share
    the names); --model_dir, --checkpoint, --eval_scales, --add_flipped_images and --data_dir (where a 'folder'
    dataset's classes.json is now, if the run's moved) are the training command's."""
    flags.DEFINE_string("saved_model", None, "An exported SavedModel directory (instead of --model_dir).")
    flags.DEFINE_string("input", None, "An image file, a folder of images or a glob pattern (quote it).")
    flags.DEFINE_string("output", None, "Directory for the label PNGs, overlays and probabilities.")
    flags.DEFINE_boolean("save_probabilities", False, "Also write <name>_probabilities.npy (float16, H x W x K).")
    flags.DEFINE_boolean("overwrite", False, "Replace outputs that exist already.")
    for name in ("model_dir", "checkpoint", "eval_scales", "add_flipped_images", "data_dir"):
        flags.declare_key_flag(name, flag_values=cli.FLAGS)


def outputs_of(image: pathlib.Path, output: pathlib.Path, probabilities: bool) -> list[pathlib.Path]:
    names = [f"{image.stem}.png", f"{image.stem}_overlay.png"]
    names += [f"{image.stem}_probabilities.npy"] if probabilities else []
    return [output / name for name in names]


def check_outputs(images: list[pathlib.Path], output: pathlib.Path, probabilities: bool, overwrite: bool) -> None:
    """Refuses, before any work: an --output that is a file, two images writing one output (a.png and a.jpg; a.png
    and a_overlay.png), an output that is one of the input images (even with --overwrite: it would replace the
    photo), and existing outputs without --overwrite."""
    if output.exists() and not output.is_dir():
        raise config_lib.ConfigError(f"--output={output} is a file; give a directory (it is created if missing)")
    inputs = {path.resolve(): path for path in images}
    writers: dict[pathlib.Path, pathlib.Path] = {}
    for path in images:
        for target in outputs_of(path, output, probabilities):
            if target.resolve() in inputs:
                raise config_lib.ConfigError(
                    f"{target} would be written over the input image {inputs[target.resolve()]} (even --overwrite "
                    "never replaces an input): choose another --output")
            if target in writers:
                raise config_lib.ConfigError(f"{writers[target]} and {path} would both write {target}: predict them "
                                             "into different --output folders")
            writers[target] = path
    existing = [target for target in writers if target.exists()]
    if existing and not overwrite:
        raise config_lib.ConfigError(f"{len(existing)} output(s) exist already in {output} (e.g. {existing[0]}): "
                                     "pass --overwrite, or choose another --output")


def _predictor():
    """The predictor the flags name: a run's checkpoint or a SavedModel."""
    from experiments.validation import eval_errors
    from li_seg import data
    from li_seg.evaluation.predictors import CheckpointPredictor, Classes, SavedModelPredictor
    from li_seg.training.checkpoints import load_trained_model

    if FLAGS.saved_model:
        if FLAGS.eval_scales is not None or FLAGS.add_flipped_images is not None:
            raise config_lib.ConfigError("--eval_scales / --add_flipped_images are baked into a SavedModel at "
                                         "export; predict from --model_dir to choose them")
        return SavedModelPredictor(_saved_model_dir(pathlib.Path(FLAGS.saved_model))), FLAGS.saved_model
    saved = pathlib.Path(FLAGS.model_dir) / "config.json"
    if not saved.exists():
        raise config_lib.ConfigError(f"{FLAGS.model_dir} holds no config.json: give a training run's --model_dir "
                                     "or an exported --saved_model")
    cfg = config_lib.load(saved)
    overrides = {"eval.scales": FLAGS.eval_scales, "eval.add_flipped_images": FLAGS.add_flipped_images,
                 "data.data_dir": FLAGS.data_dir}
    cfg = config_lib.override(cfg, {key: value for key, value in overrides.items() if value is not None})
    errors = eval_errors(cfg.eval)
    if errors:
        raise config_lib.ConfigError("; ".join(errors))
    info = data.get_dataset_info(cfg.data)
    model, path = load_trained_model(cfg.model, info.num_classes, FLAGS.model_dir, FLAGS.checkpoint)
    classes = Classes(tuple(info.class_names), np.asarray(info.palette, np.uint8), info.ignore_label)
    return CheckpointPredictor(model, classes, cfg.eval.scales, cfg.eval.add_flipped_images, cfg.eval.pad_to,
                               cfg.data.image_pad_value), path


def _saved_model_dir(path: pathlib.Path) -> str:
    """`path` if it holds a SavedModel; a ConfigError saying what to give instead if not."""
    if (path / "saved_model.pb").exists():
        return str(path)
    if (path / "config.json").exists():
        hint = (f"it is a training run: give --model_dir={path}, or --saved_model={path / 'export'} after "
                f"python -m experiments.export --model_dir={path}")
    else:
        hint = "give the directory python -m experiments.export wrote (it holds saved_model.pb)"
    raise config_lib.ConfigError(f"--saved_model={path} holds no SavedModel (no saved_model.pb): {hint}")


def predict_all(predictor, images: list[pathlib.Path], output: pathlib.Path) -> list[tuple[pathlib.Path, str]]:
    """Writes every image's outputs; returns the (image, reason) of those that failed."""
    from li_seg.evaluation.image_files import read_rgb, write_label_png, write_overlay

    failed = []
    start = time.monotonic()
    for index, path in enumerate(images, start=1):
        try:
            image, note = read_rgb(path)
        except (OSError, ValueError, SyntaxError) as error:  # Pillow's errors for unreadable / corrupt files
            failed.append((path, f"{type(error).__name__}: {error}"))
            logging.warning("skipped %s: cannot read it as an image (%s)", path, error)
            continue
        probabilities = predictor.probabilities(image)
        labels = np.argmax(probabilities, axis=-1)
        classes = predictor.classes
        label_png, overlay_png, *probability_npy = outputs_of(path, output, FLAGS.save_probabilities)
        write_label_png(label_png, labels, classes.palette)
        write_overlay(overlay_png, image, labels, classes.palette, classes.ignore_label)
        if probability_npy:
            np.save(probability_npy[0], probabilities.astype(np.float16))
        rate = index / max(time.monotonic() - start, 1e-9)
        logging.info("%d/%d %s (%d x %d)%s | %.2f images/s", index, len(images), path.name, image.shape[0],
                     image.shape[1], f" [{note}]" if note else "", rate)
    return failed


def main(argv) -> int:
    from li_seg.data.errors import DataError
    from li_seg.evaluation.image_files import expand_inputs
    from li_seg.weights import WeightsError

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.INFO)
    try:
        if bool(FLAGS.model_dir) == bool(FLAGS.saved_model):
            raise config_lib.ConfigError("give one of --model_dir=RUN (a training run) or --saved_model=DIR")
        if not FLAGS.input or not FLAGS.output:
            raise config_lib.ConfigError("give --input=FILE|FOLDER|GLOB and --output=DIR")
        images = expand_inputs(FLAGS.input)
        output = pathlib.Path(FLAGS.output)
        check_outputs(images, output, FLAGS.save_probabilities, FLAGS.overwrite)
        predictor, source = _predictor()
    except (config_lib.ConfigError, ValueError, FileNotFoundError, WeightsError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output.mkdir(parents=True, exist_ok=True)
    logging.info("segmenting %d image(s) with %s into %s", len(images), source, output)
    failed = predict_all(predictor, images, output)
    print(f"{len(images) - len(failed)} of {len(images)} image(s) segmented into {output}"
          + "".join(f"\nfailed: {path}: {reason}" for path, reason in failed))
    return 1 if failed else 0


def run() -> None:
    """The command line (also the console script of pyproject.toml [project.scripts])."""
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
