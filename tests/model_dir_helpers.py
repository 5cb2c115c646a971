"""A model dir as experiments.train leaves it, for the tools' tests (visualize_li, visualize_difnet)."""

import tensorflow as tf

from experiments import config as config_lib


def write_model_dir(path, cfg, model) -> None:
    """Creates `path` with config.json (`cfg`) and checkpoints/ckpt-1 holding `model`'s weights."""
    path.mkdir(parents=True)
    config_lib.save(cfg, path / "config.json")
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(path / "checkpoints"), 1, "ckpt")
    manager.save(checkpoint_number=1)
