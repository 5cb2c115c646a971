"""python -m experiments.predict (issue 24 item 2): a folder, a file or a glob of one's own images (grey, RGBA,
corrupt, CamVid's files) segmented by a trained run or its SavedModel; labels equal the argmax of the model's own
probabilities, at each image's size, in the dataset's palette; nothing overwritten unless asked."""

from __future__ import annotations

import re

import numpy as np
import pytest
from absl import flags
from PIL import Image

from experiments import config as config_lib
from experiments import export, predict, train
from experiments import flags as cli
from li_seg import data
from li_seg.evaluation.inference import predict_probabilities
from li_seg.training.checkpoints import load_trained_model

TINY = ["--paper=li_convs", "--ablation=mnv2_aspp", "--crop_size=48", "--batch_size=2", "--train_steps=2",
        "--params_override=eval.max_examples=2,model.backbone.name=resnet18,model.backbone.layout=torchvision,"
        "model.backbone.stem=plain"]


def _main(module, *args):
    if module is predict and "saved_model" not in flags.FLAGS:
        predict.define_flags()
    cli.FLAGS.unparse_flags()
    cli.FLAGS([module.__name__, *args])
    return module.main([module.__name__])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    assert _main(train, *TINY, f"--model_dir={root / 'run'}") == 0
    assert _main(export, f"--model_dir={root / 'run'}", f"--export_dir={root / 'export'}") == 0
    return root


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(24)
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)).save(folder / "rgb.jpg", quality=95)
    Image.fromarray(rng.integers(0, 256, (29, 41), dtype=np.uint8)).save(folder / "grey.png")
    Image.fromarray(rng.integers(0, 256, (31, 22, 4), dtype=np.uint8), "RGBA").save(folder / "rgba.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    (folder / "notes.txt").write_text("not an image suffix: not an input of a folder")
    return folder


def test_a_folder_from_a_run(run, images, tmp_path, capsys):
    out = tmp_path / "out"
    code = _main(predict, f"--model_dir={run / 'run'}", f"--input={images}", f"--output={out}",
                 "--save_probabilities")
    printed = capsys.readouterr().out
    assert code == 1  # one file failed
    assert "3 of 4 image(s) segmented" in printed and f"failed: {images / 'broken.png'}" in printed
    cfg = config_lib.load(run / "run" / "config.json")
    info = data.get_dataset_info(cfg.data)
    model, _ = load_trained_model(cfg.model, info.num_classes, run / "run")
    for name, size in (("rgb", (37, 53)), ("grey", (29, 41)), ("rgba", (31, 22))):
        label = Image.open(out / f"{name}.png")
        assert label.mode == "P" and label.size == size[::-1]
        assert np.array_equal(np.asarray(label.getpalette(), np.uint8).reshape(-1, 3)[:info.num_classes],
                              np.asarray(info.palette, np.uint8))
        source = Image.open(next(images.glob(f"{name}.*"))).convert("RGB")
        expected = predict_probabilities(model, np.asarray(source, np.float32)[None], cfg.eval.scales)[0].numpy()
        np.testing.assert_array_equal(np.asarray(label), expected.argmax(-1))
        np.testing.assert_allclose(np.load(out / f"{name}_probabilities.npy"), expected, atol=1e-3)
        assert Image.open(out / f"{name}_overlay.png").size == size[::-1]
    # nothing is overwritten unless asked, and nothing is done then
    before = (out / "rgb.png").stat().st_mtime_ns
    assert _main(predict, f"--model_dir={run / 'run'}", f"--input={images}", f"--output={out}") == 2
    assert "output(s) exist already" in capsys.readouterr().err and (out / "rgb.png").stat().st_mtime_ns == before


def test_a_glob_from_the_saved_model_agrees_with_the_run(run, images, tmp_path, capsys):
    from_run, from_export = tmp_path / "run_out", tmp_path / "export_out"
    assert _main(predict, f"--model_dir={run / 'run'}", f"--input={images}/r*.*", f"--output={from_run}") == 0
    assert _main(predict, f"--saved_model={run / 'export'}", f"--input={images}/r*.*", f"--output={from_export}") == 0
    for name in ("rgb.png", "rgba.png"):
        ours, exported = (np.asarray(Image.open(folder / name)) for folder in (from_run, from_export))
        np.testing.assert_array_equal(ours, exported)
        assert Image.open(from_run / name).getpalette() == Image.open(from_export / name).getpalette()
    assert _main(predict, f"--saved_model={run / 'export'}", "--eval_scales=0.5", f"--input={images}",
                 f"--output={tmp_path / 'x'}") == 2
    assert "baked into a SavedModel" in capsys.readouterr().err


def test_camvid_files(run, camvid_dir, tmp_path):
    val = sorted((camvid_dir / "val").iterdir())[:2]
    assert _main(predict, f"--model_dir={run / 'run'}", f"--input={val[0]}", f"--output={tmp_path}") == 0
    assert Image.open(tmp_path / f"{val[0].stem}.png").size == Image.open(val[0]).size


def test_usage_errors_name_the_fix(run, tmp_path, capsys):
    assert _main(predict, f"--input={tmp_path}", f"--output={tmp_path}") == 2
    assert "give one of --model_dir=RUN" in capsys.readouterr().err
    assert _main(predict, f"--model_dir={run / 'run'}", f"--input={tmp_path}/nothing*", f"--output={tmp_path}") == 2
    assert "is no file, folder or matching glob" in capsys.readouterr().err


def test_inputs_and_outputs_never_collide(run, images, tmp_path, capsys):
    """Refused before any work: outputs written over the input photos (even with --overwrite), two images
    writing one output, and an --output that is a file."""
    jpeg = (images / "rgb.jpg").read_bytes()
    model = f"--model_dir={run / 'run'}"
    assert _main(predict, model, f"--input={images}/*.jpg", f"--output={images}", "--overwrite") == 0  # rgb.png: new
    for name in ("rgb.png", "rgb_overlay.png"):
        (images / name).unlink()
    assert _main(predict, model, f"--input={images}/rgba.png", f"--output={images}", "--overwrite") == 2
    assert "would be written over the input image" in capsys.readouterr().err
    (images / "rgb_overlay.png").write_bytes(b"a photo named like an overlay")
    assert _main(predict, model, f"--input={images}/rgb*", f"--output={tmp_path / 'out'}") == 2
    assert "would both write" in capsys.readouterr().err and (images / "rgb.jpg").read_bytes() == jpeg
    assert _main(predict, model, f"--input={images}/rgba.png", f"--output={images / 'rgb.jpg'}") == 2
    assert "is a file; give a directory" in capsys.readouterr().err and (images / "rgb.jpg").read_bytes() == jpeg


@pytest.mark.parametrize("flag, message", [
    ("--eval_scales=0", r"eval.scales must be positive, got \[0.0\]"),
    ("--eval_scales=nan", "eval.scales\\[0\\] must be a finite number"),
    ("--saved_model=RUN", "holds no SavedModel .*it is a training run: give --model_dir="),
    ("--saved_model=NOWHERE", "holds no SavedModel .*the directory python -m experiments.export wrote"),
])
def test_bad_scales_and_saved_models_are_named(run, images, tmp_path, capsys, flag, message):
    flag = flag.replace("RUN", str(run / "run")).replace("NOWHERE", str(tmp_path / "nowhere"))
    model = [] if flag.startswith("--saved_model") else [f"--model_dir={run / 'run'}"]
    assert _main(predict, *model, flag, f"--input={images}/rgba.png", f"--output={tmp_path / 'out'}") == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_a_folder_run_whose_dataset_moved_is_told_where_it_is_with_data_dir(tmp_path, capsys):
    """A run on one's own 'folder' dataset reads its class names and palette from the dataset's classes.json."""
    from li_seg.data.datasets import folder
    from tests.test_data_folder import _write

    dataset, moved, run = tmp_path / "mine", tmp_path / "moved", tmp_path / "run"
    _write(dataset, classes={"class_names": ["bg", "road", "car"], "ignore_label": 9})
    assert _main(train, *TINY, "--dataset=folder", f"--data_dir={dataset}", f"--model_dir={run}") == 0
    dataset.rename(moved)
    folder.make_spec.cache_clear()  # as a new process finds it
    image = moved / "images" / "val" / "val_0.jpg"
    assert _main(predict, f"--model_dir={run}", f"--input={image}", f"--output={tmp_path / 'out'}") == 2
    assert str(dataset) in capsys.readouterr().err
    assert _main(predict, f"--model_dir={run}", f"--data_dir={moved}", f"--input={image}",
                 f"--output={tmp_path / 'out'}") == 0
    assert Image.open(tmp_path / "out" / "val_0.png").size == (16, 12)
