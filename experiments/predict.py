"""python -m experiments.predict (--model_dir=RUN | --saved_model=DIR) --input=FILE|FOLDER|GLOB --output=DIR

Segments one's own images: per image, OUTPUT/<name>.png (the label map as a palette PNG at the image's size: the
pixel value is the class, the palette the dataset's colours), OUTPUT/<name>_overlay.png (the colours over the
image) and, with --save_probabilities, OUTPUT/<name>_probabilities.npy (float16, H x W x classes).

--model_dir: a training run (its config.json and best, else latest checkpoint; --checkpoint chooses), predicted
with the run's evaluation (EvalConfig scales / flips / padding; --eval_scales and --add_flipped_images override).
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
    the names); --model_dir, --checkpoint, --eval_scales and --add_flipped_images are the training command's."""
    flags.DEFINE_string("saved_model", None, "An exported SavedModel directory (instead of --model_dir).")
    flags.DEFINE_string("input", None, "An image file, a folder of images or a glob pattern (quote it).")
    flags.DEFINE_string("output", None, "Directory for the label PNGs, overlays and probabilities.")
    flags.DEFINE_boolean("save_probabilities", False, "Also write <name>_probabilities.npy (float16, H x W x K).")
    flags.DEFINE_boolean("overwrite", False, "Replace outputs that exist already.")
    for name in ("model_dir", "checkpoint", "eval_scales", "add_flipped_images"):
        flags.declare_key_flag(name, flag_values=cli.FLAGS)


def outputs_of(image: pathlib.Path, output: pathlib.Path, probabilities: bool) -> list[pathlib.Path]:
    names = [f"{image.stem}.png", f"{image.stem}_overlay.png"]
    names += [f"{image.stem}_probabilities.npy"] if probabilities else []
    return [output / name for name in names]


def _predictor():
    """The predictor the flags name: a run's checkpoint or a SavedModel."""
    from li_seg import data
    from li_seg.evaluation.predictors import CheckpointPredictor, Classes, SavedModelPredictor
    from li_seg.training.checkpoints import load_trained_model

    if FLAGS.saved_model:
        if FLAGS.eval_scales is not None or FLAGS.add_flipped_images is not None:
            raise config_lib.ConfigError("--eval_scales / --add_flipped_images are baked into a SavedModel at "
                                         "export; predict from --model_dir to choose them")
        return SavedModelPredictor(FLAGS.saved_model), FLAGS.saved_model
    saved = pathlib.Path(FLAGS.model_dir) / "config.json"
    if not saved.exists():
        raise config_lib.ConfigError(f"{FLAGS.model_dir} holds no config.json: give a training run's --model_dir "
                                     "or an exported --saved_model")
    cfg = config_lib.load(saved)
    info = data.get_dataset_info(cfg.data)
    model, path = load_trained_model(cfg.model, info.num_classes, FLAGS.model_dir, FLAGS.checkpoint)
    scales = [float(s) for s in FLAGS.eval_scales] if FLAGS.eval_scales is not None else cfg.eval.scales
    flip = FLAGS.add_flipped_images if FLAGS.add_flipped_images is not None else cfg.eval.add_flipped_images
    classes = Classes(tuple(info.class_names), np.asarray(info.palette, np.uint8), info.ignore_label)
    return CheckpointPredictor(model, classes, scales, flip, cfg.eval.pad_to, cfg.data.image_pad_value), path


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
        stems: dict[str, pathlib.Path] = {}
        for path in images:
            if path.stem in stems:
                raise config_lib.ConfigError(f"{stems[path.stem]} and {path} would write the same outputs "
                                             f"({path.stem}.png): predict them into different --output folders")
            stems[path.stem] = path
        existing = [p for path in images for p in outputs_of(path, output, FLAGS.save_probabilities) if p.exists()]
        if existing and not FLAGS.overwrite:
            raise config_lib.ConfigError(f"{len(existing)} output(s) exist already in {output} (e.g. {existing[0]}): "
                                         "pass --overwrite, or choose another --output")
        predictor, source = _predictor()
    except (config_lib.ConfigError, ValueError, FileNotFoundError, WeightsError) as error:
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
