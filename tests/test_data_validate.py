"""Validation without training (li_seg.data.validate, scripts.validate_dataset), skipping bad examples, and the
split-size check: every kind of defect is found and named with its file."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from li_seg import data
from li_seg.data import validate
from tests.fixtures import camvid

HEIGHT, WIDTH = camvid.HEIGHT, camvid.WIDTH


@pytest.fixture
def defective(tmp_path):
    """The tiny CamVid with one defect of each kind in train: a truncated image, a label of the wrong size, a label
    value outside the classes, and a colour label; val is clean. Returns (config, {kind: file})."""
    config = camvid.write(tmp_path)
    image = tmp_path / "train" / "a_001.png"
    image.write_bytes(image.read_bytes()[:80])
    wrong_size = tmp_path / "trainannot" / "a_002.png"
    Image.fromarray(np.zeros((HEIGHT, WIDTH - 4), np.uint8)).save(wrong_size)
    out_of_range = tmp_path / "valannot" / "a_003.png"
    values = np.zeros((HEIGHT, WIDTH), np.uint8)
    values[0, :5] = 40
    Image.fromarray(values).save(out_of_range)
    colour = tmp_path / "trainannot" / "a_003.png"
    Image.fromarray(np.zeros((HEIGHT, WIDTH, 3), np.uint8)).save(colour)
    return config, {"unreadable": image, "size_mismatch": wrong_size, "label_values": out_of_range,
                    "label_channels": colour}


def test_scan_finds_every_defect_with_its_file(defective):
    config, files = defective
    train = validate.scan(config, "train")
    assert train.bad_indices == [0, 1, 2] and train.num_examples == 3 and train.expected_examples == 367
    assert not train.size_matches
    found = {problem.kind: problem.file for problem in train.problems}
    assert found == {kind: str(files[kind]) for kind in ("unreadable", "size_mismatch", "label_channels")}
    val = validate.scan(config, "val")
    assert [(p.kind, p.file) for p in val.problems] == [("label_values", str(files["label_values"]))]
    assert "[40] (5 pixels)" in val.problems[0].detail


def test_class_pixel_counts(tmp_path):
    config = camvid.write(tmp_path)
    report = validate.scan(config, "val")
    labels = np.stack([np.array(Image.open(tmp_path / "valannot" / f"{name}.png")) for name in camvid.NAMES])
    np.testing.assert_array_equal(report.class_pixels, np.bincount(labels.ravel(), minlength=12)[:11])
    assert report.ignore_pixels == int((labels == 11).sum()) and not report.problems


def test_training_refuses_a_defect_by_default_and_skips_it_on_request(defective):
    config, files = defective
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        list(data.build_dataset(config, "val", training=False).as_numpy_iterator())
    assert str(files["label_values"]) in str(data.explain_error(raised.value, config, "val"))
    skipping = dataclasses.replace(config, skip_bad_examples=True)
    names = [b["name"][0].decode() for b in data.build_dataset(skipping, "val", training=False).as_numpy_iterator()]
    assert names == ["a_001", "a_002"]
    assert data.num_examples(skipping, "val") == 2
    with pytest.raises(data.DataError, match="every one of the 3 examples is defective"):
        data.build_dataset(dataclasses.replace(skipping, dataset="camvid"), "train", training=True)


def test_split_size_is_checked_unless_turned_off(tmp_path):
    config = dataclasses.replace(camvid.write(tmp_path), check_split_sizes=True)
    with pytest.raises(data.DataError, match=r"camvid train: found 3 pairs .* split has 367.*--nocheck_split_sizes"):
        data.num_examples(config, "train")
    assert data.num_examples(dataclasses.replace(config, check_split_sizes=False), "train") == 3


def _script(*args):
    return subprocess.run([sys.executable, "-m", "scripts.validate_dataset", *args], capture_output=True, text=True,
                          timeout=300)


def test_validate_dataset_script(defective, tmp_path):
    config, files = defective
    report = tmp_path / "report.json"
    result = _script("--dataset=camvid", f"--data_dir={config.data_dir}", f"--report={report}")
    assert result.returncode == 1, result.stderr
    assert "camvid train: 3 examples (papers' split: 367) MISMATCH" in result.stdout
    assert f"[unreadable] {files['unreadable']}" in result.stdout
    assert f"[label_values] {files['label_values']}" in result.stdout
    assert "dataset has defects" in result.stdout and report.is_file()
    result = _script("--dataset=camvid", f"--data_dir={config.data_dir}", "--splits=tset")
    assert result.returncode == 2 and "no split(s) ['tset']" in result.stderr
