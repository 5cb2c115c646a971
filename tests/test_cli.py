"""The command line as a user runs it: flag errors, train -> eval -> export, and resuming after SIGKILL."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

from experiments import flags as cli
from experiments import papers
from experiments import train
from li_seg.data import get_dataset_info

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
HOSTILE = FIXTURES / "hostile"  # tests/test_hostile_weights.py
TINY_FLAGS = [  # mnv2_aspp's DeepLabv3 head on a ResNet-18: what a user's override does, and fast to trace
    "--paper=li_convs", "--ablation=mnv2_aspp", "--crop_size=48", "--batch_size=2", "--deterministic",
    "--params_override=train.log_every_steps=1,train.checkpoint_every_steps=2,eval.max_examples=2,"
    "model.backbone.name=resnet18,model.backbone.layout=torchvision,model.backbone.stem=plain",
]


def run_cli(*args, module="experiments.train", timeout=300, check=True):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr[-4000:]}")
    return result


def run_main(capsys, *args):
    """experiments.train.main in-process (no TensorFlow start-up per case); returns (exit code, stderr)."""
    cli.FLAGS.unparse_flags()
    cli.FLAGS(["experiments.train", *args])
    code = train.main(["experiments.train"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--ablation=mnv2"], "valid ablations: mnv2_aspp, mnv2_li_aspp, li_mnv2_aspp, li_mnv2_li_aspp,"),
        (["--recipe=cityscapes"], "unknown recipe 'cityscapes' for paper 'li_convs'; valid recipes: paper, voc,"),
        (["--finetune=li_only"], "--finetune=li_only continues a trained model: give --init_checkpoint"),
        (["--init_checkpoint=/nonexistent/ckpt-5"], "expected the file /nonexistent/ckpt-5.index"),
        (["--backbone_weights=/nonexistent/resnet50.pth"], "weights not found: '/nonexistent/resnet50.pth'"),
        ([f"--backbone_weights={FIXTURES / 'tiny_state_dict.pth'}"], "is not a ResNet state dict of torchvision"),
        ([f"--backbone_weights={FIXTURES / 'tiny_state_dict.pth'}", "--weights_format=tf_slim"],
         "is a torch file, not tf_slim"),
        ([f"--backbone_weights={HOSTILE / 'storage_overread.pth'}"], "declares 16384 bytes, stored as 4"),
        ([f"--backbone_weights={HOSTILE / 'external_storage.h5'}"], "stores its data in external files"),
        ([f"--backbone_weights={HOSTILE / 'nan.pth'}"], "pass --allow_non_finite_weights"),
        ([f"--backbone_weights={HOSTILE}"], "is a directory, not a weights file"),
        (["--params_override=model.backbone.inhibition_positions=rb19"], "valid: rb1 ... rb17"),
        (["--ablation=mnv2_aspp", "--params_override=model.backbone.inhibition={}"],
         "inhibition_positions is empty: name the units (rb1 ... rb17; the LI paper's for mobilenet_v2: ['rb10',"),
        (["--train_steps=5", "--epochs=2"], "--train_steps and --epochs contradict"),
        (["--xla", "--deterministic"], "train.jit_compile and train.deterministic exclude each other"),
        (["--xla", "--params_override=model.sync_bn=true"], "train.jit_compile and model.sync_bn exclude each other"),
        (["--output_stride=12"], "backbone.output_stride=12 is not one of 8, 16, 32"),
        (["--dataset=imagenet"], "data.dataset='imagenet' is not one of"),
        (["--params_override=train.learnin_rate=1"], "unknown config key train.learnin_rate; valid keys:"),
        (["--dataset=camvid", "--data_dir=/nonexistent/camvid"], "/nonexistent/camvid"),
        (["--mode=eval", "--model_dir=/nonexistent/run"], "no checkpoint in /nonexistent/run"),
        (["--dataset=voc", "--data_format=tfrecord", "--skip_bad_examples"], "data.skip_bad_examples scans raw"),
        (["--dataset=camvid", "--class_names=a,b"], "describe the 'folder' dataset; 'camvid' has its own"),
        (["--dataset=voc", "--data_dir=/nonexistent/voc"], "/nonexistent/voc"),
        (["--dataset=cityscapes", "--data_format=tfrecord", "--data_dir=/tmp"], "no converted 'train' split"),
        (["--dataset=folder", "--data_dir=/tmp"], "needs class names"),
        (["--epochs=nan"], "train.epochs must be a finite number, got nan"),
        (["--learning_rate=inf"], "train.learning_rate must be a finite number, got inf"),
        (["--mode=export", "--format=tflite", "--tflite_size=64,64,3"], "--tflite_size is the input's H,W as two"),
        (["--mode=export", "--format=tflite", "--tflite_size=0,0"], "two positive integers (e.g. 513,513), got 0,0"),
        (["--mode=export", "--format=tflite", "--tflite_size=abc"], "two positive integers (e.g. 513,513), got abc"),
        (["--mode=export", f"--export_dir={FIXTURES / 'tiny_state_dict.pth'}"], "tiny_state_dict.pth is a file"),
        (["--mode=export", f"--export_dir={FIXTURES}"], "holds other files: give an empty or new directory"),
    ],
)
def test_bad_flags_end_with_a_clear_message_and_exit_code_2(args, message, tmp_path, capsys):
    if not any(arg.startswith("--model_dir") for arg in args):
        args = [*args, f"--model_dir={tmp_path / 'run'}"]
    with flagsaver.flagsaver():
        code, stderr = run_main(capsys, *args)
    assert code == 2
    assert message in stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_ctrl_c_ends_with_how_to_go_on_not_a_traceback(tmp_path, capsys, monkeypatch):
    """The trainer saves a checkpoint on KeyboardInterrupt (tests/test_training.py); the command line then says how
    to resume and exits 130 (the campaign driver stops its trainer this way)."""
    from experiments import runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run", interrupted)
    with flagsaver.flagsaver():
        code, stderr = run_main(capsys, f"--model_dir={tmp_path / 'run'}")
    assert code == 130 and "interrupted: run the same command again to go on" in stderr


def test_li_only_finetuning_needs_a_model_with_li_layers(tmp_path, capsys):
    stage1 = tmp_path / "stage1" / "checkpoints"
    stage1.mkdir(parents=True)
    (stage1 / "ckpt-3.index").write_text("")
    args = ["--ablation=mnv2_aspp", "--finetune=li_only", f"--init_checkpoint={stage1 / 'ckpt-3'}",
            f"--model_dir={tmp_path / 'run'}"]
    with flagsaver.flagsaver():
        code, stderr = run_main(capsys, *args)
    assert code == 2 and "this model has no LI layer; choose an LI ablation" in stderr


def test_finetune_and_recipe_flags_shape_the_config(tmp_path):
    stage1 = tmp_path / "stage1"
    (stage1 / "best").mkdir(parents=True)
    (stage1 / "best" / "ckpt-7.index").write_text("")
    (stage1 / "best" / "checkpoint").write_text('model_checkpoint_path: "ckpt-7"\n')
    with flagsaver.flagsaver():
        cli.FLAGS.unparse_flags()
        cli.FLAGS(["experiments.train", "--recipe=voc", "--finetune=li_only", f"--init_checkpoint={stage1}",
                   "--dataset=camvid"])
        cfg, _ = cli.experiment_from_flags()
    assert cfg.model == papers.get_experiment("li_convs", "li_mnv2_li_aspp").model
    assert cfg.train.init_checkpoint == str(stage1 / "best" / "ckpt-7")
    assert cfg.train.trainable_patterns == papers.stage("li_convs", "li_only").trainable_patterns
    assert (cfg.train.optimizer, cfg.train.learning_rate, cfg.train.train_steps) == ("sgd", 0.007, 115_440)
    assert cfg.data.crop_size == (513, 513)  # the recipe wins over the camvid preset


def test_the_xla_flag_sets_jit_compile():
    with flagsaver.flagsaver():
        cli.FLAGS.unparse_flags()
        cli.FLAGS(["experiments.train", "--xla"])
        cfg, _ = cli.experiment_from_flags()
    assert cfg.train.jit_compile and not papers.get_experiment("li_convs").train.jit_compile


@pytest.mark.parametrize("extra, crop, scales, steps", [
    ([], (321, 321), (0.5, 1.5, 0.0), 20_000),  # the paper's VOC recipe, not the generic VOC preset (513, 0.5-2.0)
    (["--recipe=cityscapes"], (721, 721), (0.5, 1.5, 0.0), 80_000),
])
def test_a_paper_trains_on_a_dataset_with_its_own_recipe_for_it(extra, crop, scales, steps, monkeypatch):
    logged = []
    monkeypatch.setattr(cli.logging, "info", lambda message, *args: logged.append(message % args))
    with flagsaver.flagsaver():
        cli.FLAGS.unparse_flags()
        cli.FLAGS(["experiments.train", "--paper=smoothing", "--dataset=voc", *extra])
        cfg, _ = cli.experiment_from_flags()
    assert cfg.data.crop_size == crop and (cfg.data.min_scale, cfg.data.max_scale, cfg.data.scale_step) == scales
    assert cfg.train.train_steps == steps
    assert any("with the paper's recipe for it, --recipe=voc" in line for line in logged) == (not extra)
    with flagsaver.flagsaver():  # LI-Convs' ablations carry the paper's recipe; the VOC preset matches its crops
        cli.FLAGS.unparse_flags()
        cli.FLAGS(["experiments.train", "--paper=li_convs", "--dataset=voc"])
        cfg, _ = cli.experiment_from_flags()
    assert cfg.data.crop_size == (513, 513) and cfg.train.optimizer == "adam"


def test_unknown_mode_lists_the_valid_modes():
    valid = r"one of <train\|eval\|train_and_eval\|export>"
    with flagsaver.flagsaver(), pytest.raises(flags.IllegalFlagValueError, match=valid):
        cli.FLAGS(["experiments.train", "--mode=fit"])


def test_train_eval_export_round_trip(tmp_path):
    model_dir = tmp_path / "run"
    trained = run_cli(*TINY_FLAGS, f"--model_dir={model_dir}", "--train_steps=2", "--mode=train_and_eval")
    assert "step 2/2 | loss" in trained.stderr and "img/s | ETA" in trained.stderr
    assert re.search(r"step 1 done: tracing and compiling the training step took \d+ s", trained.stderr)
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["train"]["train_steps"] == 2 and saved["data"]["crop_size"] == [48, 48]
    assert saved["model"]["bn_momentum"] == 0.9  # auto for a 2-step run

    evaluated = run_cli(f"--model_dir={model_dir}", "--mode=eval", "--eval_scales=0.75,1.0", "--add_flipped_images",
                        module="experiments.evaluate")
    assert "mIoU" in evaluated.stderr
    metrics = json.loads((model_dir / "eval" / "metrics-2.json").read_text())
    assert 0.0 <= metrics["miou"] <= 1.0

    exported = run_cli(f"--model_dir={model_dir}", module="experiments.export")
    assert re.search(r"exporting \S+/best/ckpt-2 to \S+/export \(tracing", exported.stderr)
    served = tf.saved_model.load(str(model_dir / "export")).signatures["serving_default"]
    images = np.random.default_rng(0).integers(0, 256, size=(2, 37, 53, 3), dtype=np.uint8)
    outputs = served(images=tf.constant(images))
    assert outputs["classes"].shape == (2, 37, 53) and outputs["classes"].dtype == tf.int32
    assert outputs["probabilities"].shape[:3] == (2, 37, 53)
    np.testing.assert_allclose(tf.reduce_sum(outputs["probabilities"], -1), 1.0, atol=1e-5)
    metadata = tf.saved_model.load(str(model_dir / "export")).signatures["metadata"]()
    info = get_dataset_info("synthetic")
    assert [name.decode() for name in metadata["class_names"].numpy()] == list(info.class_names)
    np.testing.assert_array_equal(metadata["palette"], np.asarray(info.palette, np.uint8))
    assert int(metadata["ignore_label"]) == 255


def _checkpoint_tensors(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith("save_counter") and "CHECKPOINTABLE" not in name}


def test_run_killed_with_sigkill_resumes_to_the_same_weights(tmp_path):
    flags = [*TINY_FLAGS, "--train_steps=8", "--mode=train"]
    run_cli(*flags, f"--model_dir={tmp_path / 'straight'}")

    killed_dir = tmp_path / "killed"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.Popen([sys.executable, "-m", "experiments.train", *flags, f"--model_dir={killed_dir}"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    # A checkpoint is complete once CheckpointManager records it in its state file, after writing its data and
    # index files; killing in between leaves the previous checkpoint as the latest one, as it should.
    while tf.train.latest_checkpoint(str(killed_dir / "checkpoints")) is None:
        assert process.poll() is None, "training ended before its first checkpoint"
        assert time.time() < deadline, "no checkpoint within 240 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    latest = tf.train.latest_checkpoint(str(killed_dir / "checkpoints"))
    assert not latest.endswith("ckpt-8"), "the run finished before it could be killed"

    resumed = run_cli(*flags, f"--model_dir={killed_dir}")
    assert f"resumed from {latest}" in resumed.stderr
    straight = _checkpoint_tensors(str(tmp_path / "straight" / "checkpoints" / "ckpt-8"))
    again = _checkpoint_tensors(str(killed_dir / "checkpoints" / "ckpt-8"))
    assert straight.keys() == again.keys() and len(straight) > 100
    for name in straight:
        np.testing.assert_array_equal(again[name], straight[name], err_msg=name)


def test_help_lists_the_flags_that_matter():
    result = run_cli("--help", check=False, timeout=120)
    shown = result.stdout + result.stderr
    for flag in ("--paper", "--ablation", "--dataset", "--data_dir", "--model_dir", "--mode", "--recipe",
                 "--params_override"):
        assert flag in shown, flag
    assert "li_convs, smoothing, pan, cyclenet, difnet." in " ".join(shown.split()) and "--helpfull" in shown
