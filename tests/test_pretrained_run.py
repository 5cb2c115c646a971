"""Building is not loading (issue 27): a run reads its pretrained backbone file once, when it starts from nothing,
and records what the file told (format, BN epsilon, normalisation) in config.json; evaluation, export and resuming
never read it again, so they work after the file is moved. The normalisation travels with the weights (issue 24
item 4): an explicit one that contradicts them is refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import save_file

import li_seg.weights
from experiments import evaluate, export, train
from experiments import flags as cli
from li_seg.backbones.pretrained import resolve_pretrained
from li_seg.config import BackboneConfig
from li_seg.weights import WeightsError
from tests.weights_helpers import torch_resnet18_state_dict

TINY = ["--paper=li_convs", "--ablation=mnv2_aspp", "--crop_size=48", "--batch_size=2", "--deterministic",
        "--params_override=train.log_every_steps=1,train.checkpoint_every_steps=2,eval.max_examples=2,"
        "model.backbone.name=resnet18,model.backbone.layout=torchvision,model.backbone.stem=plain"]


def _main(module, *args):
    cli.FLAGS.unparse_flags()
    cli.FLAGS([module.__name__, *args])
    return module.main([module.__name__])


@pytest.fixture
def torchvision_file(tmp_path):
    tensors, _ = torch_resnet18_state_dict("torchvision", np.random.default_rng(27))
    path = tmp_path / "weights" / "resnet18.safetensors"
    path.parent.mkdir()
    save_file(tensors, str(path))
    return path


@pytest.mark.slow  # the default suite's budget (30-45 s); the loading itself is tested in test_published_weights
def test_a_trained_run_evaluates_exports_and_resumes_without_its_pretrained_file(
        tmp_path, torchvision_file, monkeypatch, capsys):
    reads = []
    real_read = li_seg.weights.read_tensors
    monkeypatch.setattr(li_seg.weights, "read_tensors", lambda *a, **k: reads.append(a[0]) or real_read(*a, **k))
    run = tmp_path / "run"
    common = [*TINY, f"--model_dir={run}"]
    assert _main(train, *common, f"--backbone_weights={torchvision_file}", "--train_steps=2") == 0
    assert reads == [str(torchvision_file)]  # one read: conventions and values from the same PretrainedFile
    backbone = json.loads((run / "config.json").read_text())["model"]["backbone"]
    assert (backbone["weights_format"], backbone["bn_epsilon"], backbone["normalization"]) == (
        "torch", 1e-5, "imagenet")

    shutil.move(torchvision_file, tmp_path / "moved.safetensors")
    assert _main(evaluate, f"--model_dir={run}") == 0
    assert _main(export, f"--model_dir={run}", f"--export_dir={tmp_path / 'export'}") == 0
    assert (tmp_path / "export" / "saved_model.pb").exists()
    # the same command, two more steps: resumes from the checkpoint, the file is not needed
    assert _main(train, *common, f"--backbone_weights={torchvision_file}", "--train_steps=4") == 0
    assert (run / "eval" / "metrics-4.json").exists()
    assert reads == [str(torchvision_file)]
    capsys.readouterr()

    # A run recorded before config.json kept the conventions reads them from the file, and names it when gone.
    config = json.loads((run / "config.json").read_text())
    config["model"]["backbone"].update(weights_format=None, bn_epsilon=None, normalization=None)
    (run / "config.json").write_text(json.dumps(config))
    assert _main(evaluate, f"--model_dir={run}") == 2
    assert "recorded before runs kept their pretrained weights' conventions" in capsys.readouterr().err


def test_a_normalisation_contradicting_the_weights_is_refused_unless_meant(torchvision_file):
    config = BackboneConfig(name="resnet18", layout="caffe", stem="plain", weights=str(torchvision_file))
    assert resolve_pretrained(config).normalization == "imagenet"  # not the caffe layout's default
    contradicting = BackboneConfig(name="resnet18", layout="caffe", stem="plain", weights=str(torchvision_file),
                                   normalization="caffe_bgr")
    with pytest.raises(WeightsError, match="normalised as 'imagenet'.*allow_normalization_mismatch"):
        resolve_pretrained(contradicting)
    meant = BackboneConfig(name="resnet18", layout="caffe", stem="plain", weights=str(torchvision_file),
                           normalization="caffe_bgr", allow_normalization_mismatch=True)
    assert resolve_pretrained(meant).normalization == "caffe_bgr"  # DifNet's code
