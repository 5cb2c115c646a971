"""--dataset=folder: the user's images and label PNGs in two directories, classes from classes.json or flags."""

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from li_seg import data
from li_seg.config import DataConfig


def _write(root, splits=("train", "val"), count=2, classes=None):
    rng = np.random.default_rng(1)
    labels = {}
    for split in splits:
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for index in range(count):
            name = f"{split}_{index}"
            Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(root / "images" / split /
                                                                                   f"{name}.jpg")
            label = rng.choice(np.array([0, 1, 2, 9], np.uint8), (12, 16))
            Image.fromarray(label).save(root / "labels" / split / f"{name}.png")
            labels[name] = label
    if classes is not None:
        (root / "classes.json").write_text(json.dumps(classes))
    return labels


def test_classes_json_and_ignore_value(tmp_path):
    labels = _write(tmp_path, classes={"class_names": ["bg", "road", "car"], "ignore_label": 9})
    config = DataConfig(dataset="folder", data_dir=str(tmp_path), crop_size=(8, 8))
    info = data.get_dataset_info(config)
    assert info.class_names == ("bg", "road", "car") and dict(info.split_sizes) == {"train": 2, "val": 2}
    for batch in data.build_dataset(config, "val", training=False).as_numpy_iterator():
        expected = labels[batch["name"][0].decode()].astype(np.int32)
        expected[expected == 9] = 255
        np.testing.assert_array_equal(batch["label"][0], expected)
    batch = next(data.build_dataset(config, "train", training=True, batch_size=2).as_numpy_iterator())
    assert batch["image"].shape == (2, 8, 8, 3)


def test_flags_replace_the_file(tmp_path):
    _write(tmp_path, classes={"class_names": ["only"], "ignore_label": 255})
    config = DataConfig(dataset="folder", data_dir=str(tmp_path), class_names=("a", "b", "c"), ignore_value=9)
    info = data.get_dataset_info(config)
    assert info.num_classes == 3 and len(info.palette) == 3
    assert data.num_examples(config, "train") == 2


@pytest.mark.parametrize("problem, message", [
    ("no_classes", "needs class names.*classes.json.*--class_names"),
    ("bad_json", "classes.json is not valid JSON"),
    ("ignore_is_a_class", "ignore label 1 .* not a class id"),
    ("unlabelled", r"1 image\(s\) without a label .*train_1"),
    ("no_images_dir", "images is missing"),
    ("names_a_string", "'class_names' must be a list of non-empty strings.*got 'road'"),
    ("palette_a_number", r"'palette' needs one \[R, G, B\] of integers in \[0, 255\] per class \(3\), got 5"),
    ("palette_out_of_range", r"'palette' needs .*got \[\[0, 0, 0\], \[0, 0, 256\], \[1, 2, 3\]\]"),
])
def test_clear_errors(tmp_path, problem, message):
    _write(tmp_path, classes={"class_names": ["bg", "road", "car"], "ignore_label": 9})
    config = DataConfig(dataset="folder", data_dir=str(tmp_path))
    if problem == "no_classes":
        (tmp_path / "classes.json").unlink()
    elif problem == "bad_json":
        (tmp_path / "classes.json").write_text("{class_names: [")
    elif problem == "ignore_is_a_class":
        config = dataclasses.replace(config, ignore_value=1)
    elif problem == "unlabelled":
        (tmp_path / "labels" / "train" / "train_1.png").unlink()
    elif problem == "no_images_dir":
        (tmp_path / "images").rename(tmp_path / "pictures")
    elif problem == "names_a_string":  # would have been the classes 'r', 'o', 'a', 'd'
        (tmp_path / "classes.json").write_text(json.dumps({"class_names": "road"}))
    elif problem.startswith("palette"):
        palette = 5 if problem == "palette_a_number" else [[0, 0, 0], [0, 0, 256], [1, 2, 3]]
        (tmp_path / "classes.json").write_text(json.dumps({"class_names": ["bg", "road", "car"], "palette": palette}))
    with pytest.raises(data.DataError, match=message):
        data.num_examples(config, "train")


def test_out_of_range_label_is_refused(tmp_path):
    _write(tmp_path, classes={"class_names": ["bg", "road"], "ignore_label": 9})  # value 2 is not a class
    config = DataConfig(dataset="folder", data_dir=str(tmp_path))
    from li_seg.data import validate

    report = validate.scan(config, "val")
    assert {problem.kind for problem in report.problems} == {"label_values"}
