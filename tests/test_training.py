"""The training loop: end to end on the synthetic data, resume equality, NaN stop, data errors, distribution."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments import config as config_lib
from experiments import papers
from experiments.config import ExperimentConfig
from li_seg import data
from li_seg.layers.normalization import BatchNormSettings, batch_norm
from li_seg.training import step as step_lib
from li_seg.training import trainer as trainer_lib
from li_seg.training.strategy import make_strategy
from li_seg.training.trainer import Trainer, TrainingDivergedError

# The LI paper's mnv2_aspp with a ResNet-18 backbone: the same DeepLabv3 head and training path, half the tracing
# time of MobileNetV2 (which the LI-Convs tests train).
TINY = {
    "model.backbone": {"name": "resnet18", "layout": "torchvision", "stem": "plain"},
    "data.crop_size": (48, 48), "train.batch_size": 2, "train.train_steps": 4, "train.epochs": None,
    "train.log_every_steps": 1,
    "train.summary_every_steps": 1, "train.image_summary_every_steps": 2, "train.checkpoint_every_steps": 2,
    "train.deterministic": True, "eval.max_examples": 2, "eval.num_image_summaries": 1,
    "train.optimizer": "sgd", "train.learning_rate": 0.01, "train.lr_schedule": "poly",
}


def tiny_config(**changes):
    cfg = config_lib.override(papers.get_experiment("li_convs", "mnv2_aspp"), {**TINY, **changes})
    cfg = config_lib.resolve(cfg, num_train_examples=0)
    config_lib.validate(cfg)
    return cfg


def weights_of(model):
    return [v.numpy() for v in model.variables]


def event_tags(directory):
    tags = set()
    for path in directory.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_train_and_eval_writes_checkpoints_metrics_and_summaries(tmp_path):
    cfg = tiny_config(**{"train.eval_every_steps": 2, "train.keep_checkpoints": 1})
    trainer = Trainer(cfg, tmp_path, tf.distribute.get_strategy())
    result = trainer.train(evaluate_during_training=True)
    assert result.step == 4 and np.isfinite(result.loss)
    assert [step for step, _ in result.evaluations] == [2, 4]
    assert trainer.keeper.latest.endswith("ckpt-4")
    assert [p.name for p in (tmp_path / "checkpoints").glob("*.index")] == ["ckpt-4.index"]  # keep the last 1
    assert sorted(p.name for p in (tmp_path / "eval").glob("metrics-*.json")) == ["metrics-2.json", "metrics-4.json"]
    metrics = json.loads((tmp_path / "eval" / "metrics-4.json").read_text())
    assert 0.0 <= metrics["miou"] <= 1.0
    assert len(metrics["per_class_iou"]) == data.get_dataset_info("synthetic").num_classes
    best = json.loads((tmp_path / "best" / "best.json").read_text())
    assert best["miou"] == max(m["miou"] for _, m in result.evaluations)
    train_tags = event_tags(tmp_path / "train")
    assert {"loss/loss", "loss/cross_entropy", "loss/weight_decay", "learning_rate", "images_per_second"} <= train_tags
    assert any(tag.startswith("image_truth_prediction/") for tag in train_tags)
    eval_tags = event_tags(tmp_path / "eval")
    assert {"miou", "pixel_accuracy", "mean_accuracy"} <= eval_tags
    assert any(tag.startswith("iou/") for tag in eval_tags)
    assert any(tag.startswith("image_truth_prediction/") for tag in eval_tags)


@pytest.mark.slow  # the same equality through the command line and SIGKILL: tests/test_cli.py (default suite)
def test_resumed_run_reaches_the_same_weights_as_an_uninterrupted_one(tmp_path):
    cfg = tiny_config(**{"train.train_steps": 4, "train.checkpoint_every_steps": 2})
    straight = Trainer(cfg, tmp_path / "straight", tf.distribute.get_strategy())
    straight.train()
    expected = weights_of(straight.model)

    interrupted = Trainer(cfg, tmp_path / "resumed", tf.distribute.get_strategy())
    original_after_step = interrupted._after_step

    def ctrl_c_after_step_3(step, *args):
        original_after_step(step, *args)
        if step == 3:
            raise KeyboardInterrupt

    interrupted._after_step = ctrl_c_after_step_3
    with pytest.raises(KeyboardInterrupt):
        interrupted.train()
    assert interrupted.keeper.latest.endswith("ckpt-3")  # saved on Ctrl-C, between periodic checkpoints

    resumed = Trainer(cfg, tmp_path / "resumed", tf.distribute.get_strategy())
    result = resumed.train()
    assert result.step == 4
    for got, want in zip(weights_of(resumed.model), expected):
        np.testing.assert_array_equal(got, want)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    poison = tf.Variable(1.0)
    original = trainer_lib.segmentation_loss
    for module in (trainer_lib, step_lib):  # the training step's loss and the checkpoint check's
        monkeypatch.setattr(module, "segmentation_loss", lambda *a, **k: original(*a, **k) * poison)
    trainer = Trainer(tiny_config(**{"train.train_steps": 6}), tmp_path, tf.distribute.get_strategy())
    original_after_step = trainer._after_step

    def poison_after_step_2(step, *args):
        original_after_step(step, *args)
        if step == 2:
            poison.assign(float("nan"))

    trainer._after_step = poison_after_step_2
    with pytest.raises(TrainingDivergedError, match=r"loss became nan at step 3.*ckpt-2"):
        trainer.train()
    assert trainer.keeper.latest.endswith("ckpt-2")
    saved = tf.train.get_checkpoint_state(str(tmp_path / "checkpoints")).all_model_checkpoint_paths
    assert saved[-1].endswith("ckpt-2")


def test_data_error_mid_training_saves_progress_and_names_the_problem(tmp_path, monkeypatch):
    good = data.build_dataset

    def fake_failing(*args, **kwargs):
        dataset = good(*args, **kwargs)
        def check(index, batch):
            with tf.control_dependencies([tf.debugging.assert_less(index, tf.constant(3, tf.int64),
                                                                   message="corrupt example")]):
                return {k: tf.identity(v) for k, v in batch.items()}
        return dataset.enumerate().map(check)

    monkeypatch.setattr(data, "build_dataset", fake_failing)
    monkeypatch.setattr(data, "explain_error", lambda error, *a: data.DataError(f"bad file: {error.message[:40]}"))
    trainer = Trainer(tiny_config(**{"train.train_steps": 6, "train.checkpoint_every_steps": 100}), tmp_path,
                      tf.distribute.get_strategy())
    with pytest.raises(data.DataError, match="bad file"):
        trainer.train()
    assert trainer.keeper.latest.endswith("ckpt-3")


def test_training_a_subset_keeps_other_weights_but_updates_bn_statistics(tmp_path):
    cfg = tiny_config(**{"train.trainable_patterns": ["^logits/"], "train.train_steps": 2, "train.weight_decay": 0.0})
    trainer = Trainer(cfg, tmp_path, tf.distribute.get_strategy())
    before = {v.path: v.numpy() for v in trainer.model.variables}
    trainer.train()
    after = {v.path: v.numpy() for v in trainer.model.variables}
    changed = {path for path in before if not np.array_equal(before[path], after[path])}
    trainable_paths = {v.path for v in trainer.model.trainable_variables}
    assert {p for p in changed if p in trainable_paths} == {"logits/kernel", "logits/bias"}
    assert any(p.endswith("moving_mean") for p in changed)


def test_two_replica_step_equals_single_device_step(tmp_path):
    """Two replicas with global loss normalisation and SUM-reduced gradients take exactly the single-device step.

    BN is frozen so that both compute the same forward pass; synchronized BN is tested on its own below.
    """
    changes = {"train.train_steps": 1, "model.head.dropout_rate": 0.0, "train.batch_size": 4, "model.frozen_bn": True,
               "train.optimizer": "sgd", "train.lr_schedule": "constant"}
    single = Trainer(tiny_config(**changes), tmp_path / "one", tf.distribute.get_strategy())
    mirrored_strategy = make_strategy("mirrored")
    mirrored = Trainer(tiny_config(**changes), tmp_path / "two", mirrored_strategy)
    assert mirrored_strategy.num_replicas_in_sync == 2
    for a, b in zip(single.model.variables, mirrored.model.variables):
        b.assign(a.numpy())
    single_result = single.train()
    mirrored_result = mirrored.train()
    assert mirrored_result.loss == pytest.approx(single_result.loss, rel=1e-5)
    for a, b in zip(single.model.trainable_variables, mirrored.model.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)


def test_the_xla_step_equals_the_uncompiled_step(tmp_path, without_op_determinism):
    """train.jit_compile: the trainer compiles each replica's forward, loss and backward (li_seg.training.step) and
    takes the same step (dropout off: its draws differ under XLA)."""
    changes = {"train.train_steps": 1, "model.head.dropout_rate": 0.0, "train.lr_schedule": "constant",
               "train.deterministic": False}  # XLA has no deterministic max-pool gradient (validation says so)
    plain = Trainer(tiny_config(**changes), tmp_path / "plain", tf.distribute.get_strategy())
    compiled = Trainer(tiny_config(**changes, **{"train.jit_compile": True}), tmp_path / "xla",
                       tf.distribute.get_strategy())
    for a, b in zip(plain.model.variables, compiled.model.variables):
        b.assign(a.numpy())
    before = weights_of(plain.model)
    plain_result, compiled_result = plain.train(), compiled.train()
    assert compiled_result.loss == pytest.approx(plain_result.loss, rel=1e-5)
    updates = [(w.numpy() - w0, v.numpy() - w0, w.path)
               for w, v, w0 in zip(plain.model.variables, compiled.model.variables, before)]
    moved = [(plain_update, xla_update, path) for plain_update, xla_update, path in updates
             if np.abs(plain_update).max() > 0]
    assert len(moved) > len(updates) / 2
    for plain_update, xla_update, path in moved:  # the step itself, not the weights it is added to
        np.testing.assert_allclose(xla_update, plain_update, rtol=0.05, atol=0.05 * np.abs(plain_update).max(),
                                   err_msg=path)


def test_synchronized_bn_normalises_over_the_global_batch():
    """model.sync_bn: with two replicas each holding half the batch, the output equals BN over the whole batch."""
    model_config = config_lib.override(ExperimentConfig(), {"model.sync_bn": True}).model
    settings = BatchNormSettings.from_model_config(model_config)
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(4, 5, 5, 3)).astype("float32")
    reference = keras.layers.BatchNormalization(epsilon=1e-5)(x, training=True).numpy()
    strategy = make_strategy("mirrored")
    with strategy.scope():
        layer = batch_norm(settings, 1e-5, "sync_bn")
        layer.build(x.shape)
    dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices(x).batch(4))
    outputs = strategy.run(tf.function(lambda batch: layer(batch, training=True)), args=(next(iter(dataset)),))
    got = np.concatenate([t.numpy() for t in strategy.experimental_local_results(outputs)])
    np.testing.assert_allclose(got, reference, atol=1e-5)
    assert layer.synchronized


def test_mixed_precision_trains_with_loss_scaling_and_float32_logits(tmp_path):
    try:
        trainer = Trainer(tiny_config(**{"train.mixed_precision": True, "train.train_steps": 2}), tmp_path,
                          tf.distribute.get_strategy())
        assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
        assert trainer.model.get_layer("aspp0").compute_dtype == "float16"
        result = trainer.train()
        assert np.isfinite(result.loss)
        assert trainer.model(tf.zeros((1, 40, 56, 3))).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")
