"""python -m experiments.export --model_dir=DIR [--checkpoint=best|latest|PATH] [--export_dir=OUT]

Writes a SavedModel whose serving signature takes a uint8 RGB batch of any size and returns the class map and
the class probabilities at input size (li_seg.export), predicting as the run evaluates: the config's eval scales
and flipping are part of the exported graph (--eval_scales / --add_flipped_images change them).
"""

from __future__ import annotations

import pathlib

from absl import app, logging

from experiments import flags as cli
from experiments import train


def export_checkpoint(cfg, model_dir, checkpoint: str, export_dir=None) -> pathlib.Path:
    """Restores `checkpoint` of model_dir into a fresh float32 model and exports it."""
    import keras

    from li_seg import data
    from li_seg.export.saved_model import export_saved_model
    from li_seg.models import build_model
    from li_seg.training.checkpoints import resolve_checkpoint, restore_model

    path = resolve_checkpoint(model_dir, checkpoint)
    keras.mixed_precision.set_global_policy("float32")
    model = build_model(cfg.model, data.get_dataset_info(cfg.data).num_classes)
    restore_model(model, path)
    export_dir = pathlib.Path(export_dir) if export_dir else pathlib.Path(model_dir) / "export"
    export_saved_model(model, str(export_dir), scales=cfg.eval.scales, add_flipped_images=cfg.eval.add_flipped_images)
    logging.info("exported %s to %s (signature serving_default: uint8 images -> classes, probabilities)",
                 path, export_dir)
    return export_dir


def main(argv):
    cli.FLAGS.mode = "export"
    return train.main(argv)


if __name__ == "__main__":
    app.run(main)
