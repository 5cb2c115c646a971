"""python -m experiments.evaluate --model_dir=DIR [--checkpoint=best|latest|PATH] [--eval_scales=...]

Evaluates a checkpoint on the eval split at original resolution (single scale, or multi-scale + flip), prints
the metrics table and writes it to TensorBoard and MODEL_DIR/eval/metrics-<step>.json.
"""

from __future__ import annotations

from absl import app, logging

from experiments import flags as cli
from experiments import train


def evaluate_checkpoint(cfg, model_dir, checkpoint: str, strategy):
    """Restores `checkpoint` of model_dir into a fresh model under `strategy` and evaluates it."""
    from li_seg import data
    from li_seg.evaluation.evaluator import evaluate
    from li_seg.models import build_model
    from li_seg.training.checkpoints import resolve_checkpoint, restore_model
    from li_seg.training.summaries import Summaries
    from li_seg.training.trainer import record_evaluation

    path = resolve_checkpoint(model_dir, checkpoint)
    info = data.get_dataset_info(cfg.data)
    with strategy.scope():
        model = build_model(cfg.model, info.num_classes)
    restore_model(model, path)
    step = int(path.rsplit("-", 1)[-1])
    logging.info("evaluating %s on %s/%s", path, cfg.data.dataset, cfg.data.eval_split)
    result = evaluate(model, cfg.data, cfg.eval, strategy=strategy)
    summaries = Summaries(model_dir, info.class_names, info.palette, info.ignore_label)
    record_evaluation(model_dir, step, result, summaries)
    return result


def main(argv):
    cli.FLAGS.mode = "eval"
    return train.main(argv)


if __name__ == "__main__":
    app.run(main)
