"""What a diverging step, a crash during an evaluation or after a step, and an extended run leave behind (issue 11)."""

import json
import logging
import shutil

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import flagsaver

from li_seg.training.trainer import Trainer, TrainingDivergedError

from tests.tensorboard_helpers import tensorboard_view
from tests.test_cli import run_main
from tests.test_training import tiny_config


def _checkpoint_is_finite(prefix) -> bool:
    reader = tf.train.load_checkpoint(prefix)
    return all(np.all(np.isfinite(reader.get_tensor(name)))
               for name, dtype in reader.get_variable_to_dtype_map().items() if dtype.is_floating)


def test_a_diverging_update_is_never_saved(tmp_path):
    """lr 1e30, a checkpoint every step: step 1's loss is finite but its update blows the weights up. Nothing may be
    saved from it, and the message must not send the user to a poisoned checkpoint."""
    cfg = tiny_config(**{"train.learning_rate": 1e30, "train.lr_schedule": "constant", "train.train_steps": 3,
                         "train.checkpoint_every_steps": 1})
    trainer = Trainer(cfg, tmp_path, tf.distribute.get_strategy())
    with pytest.raises(TrainingDivergedError, match=r"after step 1 .*none yet"):
        trainer.train()
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")) is None
    assert not list((tmp_path / "checkpoints").glob("ckpt-*")) if (tmp_path / "checkpoints").exists() else True
    # The advice works: a smaller learning rate in the same model dir trains.
    result = Trainer(tiny_config(**{"train.train_steps": 2}), tmp_path, tf.distribute.get_strategy()).train()
    assert result.step == 2 and np.isfinite(result.loss)


def test_weights_blown_up_after_good_checkpoints_name_the_last_good_one(tmp_path):
    """Steps 1-2 are saved; step 3's update blows the weights up (its own loss is finite): the run stops before
    saving ckpt-3 and names ckpt-2, whose weights are finite."""
    cfg = tiny_config(**{"train.train_steps": 5, "train.checkpoint_every_steps": 1})
    trainer = Trainer(cfg, tmp_path, tf.distribute.get_strategy())
    original = trainer._train_step

    def step_that_blows_up_at_3(batch):
        losses = original(batch)
        if int(trainer.step.numpy()) == 3:
            for variable in trainer.model.trainable_variables:
                variable.assign(variable * 1e30)
        return losses

    trainer._train_step = step_that_blows_up_at_3
    with pytest.raises(TrainingDivergedError, match=r"after step 3 .*ckpt-2"):
        trainer.train()
    latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert latest.endswith("ckpt-2") and _checkpoint_is_finite(latest)


def _train_until_the_evaluation_is_killed(cfg, model_dir, monkeypatch) -> None:
    """Trains `cfg` in `model_dir` until its first evaluation, which is killed (SystemExit)."""
    trainer = Trainer(cfg, model_dir, tf.distribute.get_strategy())

    def killed(*args, **kwargs):
        raise SystemExit("killed during an evaluation")

    monkeypatch.setattr(trainer, "evaluate_and_record", killed)
    with pytest.raises(SystemExit):
        trainer.train(evaluate_during_training=True)


def test_an_evaluation_killed_at_the_end_is_finished_by_the_rerun(tmp_path, monkeypatch):
    cfg = tiny_config(**{"train.train_steps": 2})
    _train_until_the_evaluation_is_killed(cfg, tmp_path, monkeypatch)
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-2")
    assert not (tmp_path / "eval" / "metrics-2.json").exists() and not (tmp_path / "best").exists()

    rerun = Trainer(cfg, tmp_path, tf.distribute.get_strategy())
    result = rerun.train(evaluate_during_training=True)
    assert [step for step, _ in result.evaluations] == [2]
    assert json.loads((tmp_path / "eval" / "metrics-2.json").read_text())["miou"] >= 0.0
    assert tf.train.latest_checkpoint(str(tmp_path / "best")).endswith("ckpt-2")
    # A third run has nothing left to do.
    assert Trainer(cfg, tmp_path, tf.distribute.get_strategy()).train(evaluate_during_training=True).evaluations == []


def test_an_evaluation_killed_during_training_is_finished_before_training_on(tmp_path, monkeypatch):
    cfg = tiny_config(**{"train.eval_every_steps": 2})
    _train_until_the_evaluation_is_killed(cfg, tmp_path, monkeypatch)  # the one at step 2
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-2")
    result = Trainer(cfg, tmp_path, tf.distribute.get_strategy()).train(evaluate_during_training=True)
    assert [step for step, _ in result.evaluations] == [2, 4]
    assert sorted(p.name for p in (tmp_path / "eval").glob("metrics-*.json")) == ["metrics-2.json", "metrics-4.json"]


def test_a_resumed_run_shows_each_step_once_in_tensorboard(tmp_path):
    """Killed after logging step 3 (its checkpoint is step 2): the resumed run replays step 3. TensorBoard must show
    steps 1-4 once each, step 3 from the resumed run, not 1, 2, 3, 3, 4 with a backward jump."""
    from li_seg.training.summaries import read_scalars

    cfg = tiny_config(**{"train.eval_every_steps": 2})
    trainer = Trainer(cfg, tmp_path, tf.distribute.get_strategy())
    original = trainer._after_step

    def killed_after_step_3(step, *args):
        original(step, *args)
        if step == 3:
            raise SystemExit("killed after step 3")

    trainer._after_step = killed_after_step_3
    with pytest.raises(SystemExit):
        trainer.train(evaluate_during_training=True)
    first = dict(tensorboard_view(tmp_path / "train")["loss/loss"])
    assert sorted(first) == [1, 2, 3]

    Trainer(cfg, tmp_path, tf.distribute.get_strategy()).train(evaluate_during_training=True)
    shown = tensorboard_view(tmp_path / "train")["loss/loss"]
    assert [step for step, _ in shown] == [1, 2, 3, 4]
    assert [value for step, value in shown if step <= 2] == [first[1], first[2]]
    assert read_scalars(tmp_path / "train", ("loss/loss",))["loss/loss"] == shown
    assert [step for step, _ in tensorboard_view(tmp_path / "eval")["miou"]] == [2, 4]


TINY = ["--paper=li_convs", "--ablation=mnv2_aspp", "--crop_size=48", "--batch_size=2", "--mode=train",
        "--params_override=model.backbone.name=resnet18,model.backbone.layout=torchvision,model.backbone.stem=plain"]


def test_a_run_can_be_extended_and_keeps_its_bn_momentum(tmp_path, capsys, caplog):
    """A run of 2,000 steps (BN momentum 0.95, derived from its length) extended by re-running it with another
    --train_steps: accepted, keeping the saved momentum (not re-derived: 0.9 here), and saying so."""
    from experiments import config as config_lib
    from experiments import flags as cli

    model_dir = tmp_path / "run"
    with flagsaver.flagsaver():
        cli.FLAGS.unparse_flags()
        cli.FLAGS(["experiments.train", *TINY, "--train_steps=2000", f"--model_dir={model_dir}"])
        started = config_lib.resolve(cli.experiment_from_flags()[0], num_train_examples=0)
    assert started.model.bn_momentum == pytest.approx(0.95)
    with flagsaver.flagsaver():  # a first checkpoint (a model dir without one is started anew)
        assert run_main(capsys, *TINY, "--train_steps=1", f"--model_dir={model_dir}")[0] == 0
    config_lib.save(started, model_dir / "config.json")  # as the 2,000-step run left it, stopped after step 1
    caplog.set_level(logging.INFO)
    with flagsaver.flagsaver():
        code, stderr = run_main(capsys, *TINY, "--train_steps=2", f"--model_dir={model_dir}")
    assert code == 0, stderr
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["train"]["train_steps"] == 2 and saved["model"]["bn_momentum"] == pytest.approx(0.95)
    assert "keeps the BN momentum 0.95 of the run it resumes" in caplog.text
    assert tf.train.latest_checkpoint(str(model_dir / "checkpoints")).endswith("ckpt-2")


def test_a_different_model_is_refused_with_the_real_cause(tmp_path, capsys):
    """(Also the command line's refusal of a model dir holding another model, which tests/test_cli.py tested in
    subprocesses before.)"""
    model_dir = tmp_path / "run"
    with flagsaver.flagsaver():
        assert run_main(capsys, *TINY, "--train_steps=1", f"--model_dir={model_dir}")[0] == 0
    with flagsaver.flagsaver():
        code, stderr = run_main(capsys, *TINY, "--train_steps=1", f"--model_dir={model_dir}",
                                "--params_override=model.backbone.name=resnet18,model.backbone.layout=caffe,"
                                "model.backbone.stem=plain,model.bn_momentum=0.5")
    assert code == 2
    assert "model.backbone.layout: 'torchvision' (saved) vs 'caffe' (now)" in stderr
    assert "model.bn_momentum: 0.9 (saved) vs 0.5 (now)" in stderr
    assert "Use a new --model_dir" in stderr and not (model_dir / "checkpoints" / "ckpt-2.index").exists()


def test_checkpoints_without_their_config_are_refused_and_a_config_without_checkpoints_is_replaced(tmp_path, capsys):
    """Checkpoints whose config.json is gone cannot be told apart: refused, nothing written (before, the new
    command's config.json was written and then the restore failed, and the run's own command was refused after).
    A config.json whose run stopped before its first checkpoint holds no work: a corrected command replaces it."""
    model_dir = tmp_path / "run"
    other = "--params_override=model.backbone.name=resnet18,model.backbone.layout=caffe,model.backbone.stem=plain"
    with flagsaver.flagsaver():
        assert run_main(capsys, *TINY, "--train_steps=1", f"--model_dir={model_dir}")[0] == 0
    (model_dir / "config.json").unlink()
    with flagsaver.flagsaver():
        code, stderr = run_main(capsys, *TINY, "--train_steps=2", f"--model_dir={model_dir}", other)
    assert code == 2 and "holds checkpoints but no config.json" in stderr and not (model_dir / "config.json").exists()

    fresh = tmp_path / "fresh"
    with flagsaver.flagsaver():
        assert run_main(capsys, *TINY, "--train_steps=1", f"--model_dir={fresh}", other)[0] == 0
    shutil.rmtree(fresh / "checkpoints")
    with flagsaver.flagsaver():
        code, stderr = run_main(capsys, *TINY, "--train_steps=1", f"--model_dir={fresh}")
    assert code == 0, stderr
    assert json.loads((fresh / "config.json").read_text())["model"]["backbone"]["layout"] == "torchvision"


def test_a_corrupt_newest_checkpoint_says_how_to_resume_from_the_one_before(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO)
    model_dir = tmp_path / "run"
    every_step = [*TINY[:-1], TINY[-1] + ",train.checkpoint_every_steps=1"]
    with flagsaver.flagsaver():
        assert run_main(capsys, *every_step, "--train_steps=2", f"--model_dir={model_dir}")[0] == 0
    data_file = next((model_dir / "checkpoints").glob("ckpt-2.data-*"))
    data_file.write_bytes(data_file.read_bytes()[:100])  # a copy cut short
    with flagsaver.flagsaver():
        code, stderr = run_main(capsys, *every_step, "--train_steps=3", f"--model_dir={model_dir}")
    assert code == 2 and "It is corrupt or incomplete; nothing was changed" in stderr, stderr
    assert "Traceback" not in stderr and len(data_file.read_bytes()) == 100
    # what the message says to do
    for path in (model_dir / "checkpoints").glob("ckpt-2.*"):
        path.unlink()
    state = model_dir / "checkpoints" / "checkpoint"
    assert 'set model_checkpoint_path to "ckpt-1"' in stderr
    state.write_text("".join(line.replace("ckpt-2", "ckpt-1") for line in state.read_text().splitlines(True)
                             if not line.startswith("all_model_checkpoint_paths: \"ckpt-2\"")))
    with flagsaver.flagsaver():
        code, stderr = run_main(capsys, *every_step, "--train_steps=3", f"--model_dir={model_dir}")
    assert code == 0, stderr
    assert "ckpt-1 (step 1)" in caplog.text
    assert tf.train.latest_checkpoint(str(model_dir / "checkpoints")).endswith("ckpt-3")

def test_a_model_dir_that_is_a_file_is_named(tmp_path, capsys):
    path = tmp_path / "run"
    path.write_text("a file")
    with flagsaver.flagsaver():
        code, stderr = run_main(capsys, *TINY, "--train_steps=1", f"--model_dir={path}")
    assert code == 2 and f"--model_dir={path} is a file" in stderr and path.read_text() == "a file"


# Former tracebacks: each now ends with a message naming the thing and the fix (exit status 2).


@pytest.mark.parametrize("args, env, message", [
    (["--strategy=tpu"], {}, "No TPU reachable at tpu_address=None"),
    (["--strategy=multi_worker_mirrored"], {"TF_CONFIG": "{not json"}, "TF_CONFIG is not valid JSON"),
    (["--strategy=multi_worker_mirrored"], {"TF_CONFIG": '{"cluster": {"worker": ["127.0.0.1:1"]}}'},
     'TF_CONFIG needs "task"'),
])
def test_strategies_that_cannot_start_say_why(tmp_path, capsys, monkeypatch, args, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with flagsaver.flagsaver():
        code, stderr = run_main(capsys, *TINY, "--train_steps=1", f"--model_dir={tmp_path / 'run'}", *args)
    assert code == 2 and message in stderr and "Traceback" not in stderr


def test_a_malformed_params_override_file_says_why(tmp_path, capsys):
    overrides = tmp_path / "overrides.json"
    overrides.write_text('{"train.seed": 3,}')
    with flagsaver.flagsaver():
        code, stderr = run_main(capsys, "--train_steps=1", f"--model_dir={tmp_path / 'run'}",
                                f"--params_override={overrides}")
    assert code == 2 and f"--params_override file {overrides} is not valid JSON" in stderr


def test_a_model_dir_that_cannot_be_written_says_why(tmp_path, capsys, monkeypatch):
    from experiments import config as config_lib

    def read_only(cfg, path):
        raise PermissionError(30, "Read-only file system", str(path))  # errno 30 = EROFS

    monkeypatch.setattr(config_lib, "save", read_only)
    with flagsaver.flagsaver():
        code, stderr = run_main(capsys, *TINY, "--train_steps=1", f"--model_dir={tmp_path / 'run'}")
    assert code == 2 and f"cannot write {tmp_path / 'run' / 'config.json'}: Read-only file system" in stderr
    assert "writable disk" in stderr and "Traceback" not in stderr


def test_a_finished_run_re_run_in_a_read_only_model_dir_has_nothing_to_write(tmp_path, capsys, monkeypatch):
    from experiments import config as config_lib

    model_dir = tmp_path / "run"
    with flagsaver.flagsaver():
        assert run_main(capsys, *TINY, "--train_steps=1", f"--model_dir={model_dir}")[0] == 0

    def read_only(*args, **kwargs):
        raise PermissionError(30, "Read-only file system", str(model_dir))

    monkeypatch.setattr(config_lib, "save", read_only)
    monkeypatch.setattr(tf.summary, "create_file_writer", read_only)
    with flagsaver.flagsaver():
        code, stderr = run_main(capsys, *TINY, "--train_steps=1", f"--model_dir={model_dir}")
    assert code == 0, stderr


def test_a_full_disk_leaves_no_partial_checkpoint(tmp_path):
    """The checkpoint write fails half way (its "_temp" shard directory written, then ENOSPC): the partial files
    are removed and the error says where, why, how much space is left and which checkpoint is complete."""
    from li_seg.training.storage import StorageError

    trainer = Trainer(tiny_config(**{"train.train_steps": 4, "train.checkpoint_every_steps": 2}), tmp_path,
                      tf.distribute.get_strategy())
    manager = trainer.keeper.latest_manager
    original = manager.save

    def save_until_the_disk_is_full(checkpoint_number):
        if checkpoint_number < 4:
            return original(checkpoint_number=checkpoint_number)
        partial = tmp_path / "checkpoints" / f"ckpt-{checkpoint_number}_temp"
        partial.mkdir()
        (partial / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 1000)
        raise tf.errors.ResourceExhaustedError(None, None, f"{partial}/part-00000; No space left on device")

    manager.save = save_until_the_disk_is_full
    with pytest.raises(StorageError, match=r"checkpoints: No space left on device \(.* MB free on its disk\)\. The "
                                           r"newest complete checkpoint is .*ckpt-2"):
        trainer.train()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if "_temp" in p.name) == []


def test_serving_refuses_images_that_are_not_rgb_at_the_signature(tmp_path):
    import keras

    from li_seg.export.saved_model import export_saved_model

    images = keras.Input((None, None, 3))
    export_saved_model(keras.Model(images, keras.layers.Conv2D(2, 1)(images)), str(tmp_path))
    serve = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]
    assert serve(images=tf.zeros((1, 4, 5, 3), tf.uint8))["classes"].shape == (1, 4, 5)
    for channels in (1, 4):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"images must be RGB: uint8 of shape"):
            serve(images=tf.zeros((1, 4, 5, channels), tf.uint8))
