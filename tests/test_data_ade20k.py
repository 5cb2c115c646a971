"""ADE20K (ADEChallengeData2016) in its official layout (tests/fixtures/ade20k.py): both label conventions, errors."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from li_seg import data
from li_seg.config import DataConfig
from tests.fixtures import ade20k as fixture
from tests.data_helpers import iteration_error


def names_of(split):
    return sorted(name for name in fixture.SIZES if fixture.split_of(name) == split)


def expected(stored: np.ndarray, dataset: str) -> np.ndarray:
    """By hand: "ade20k" ignores 0 and shifts 1-150 to 0-149; "ade20k_151" keeps the stored values."""
    stored = stored.astype(np.int32)
    return np.where(stored == 0, 255, stored - 1) if dataset == "ade20k" else stored


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("ade20k")
    return root, fixture.write(root)


@pytest.fixture
def fresh(tmp_path):
    return tmp_path, fixture.write(tmp_path)


def test_info():
    info, info_151 = data.get_dataset_info("ade20k"), data.get_dataset_info("ade20k_151")
    assert {"ade20k", "ade20k_151"} <= set(data.list_datasets())
    assert info.num_classes == 150 and info_151.num_classes == 151
    assert info.split_sizes == info_151.split_sizes == {"train": 20210, "val": 2000}
    assert info.class_names[:5] == ("wall", "building", "sky", "floor", "tree") and info.class_names[-1] == "flag"
    assert info.class_names[7] == "bed" and info.class_names[44] == "chest of drawers"
    assert info_151.class_names == ("other",) + info.class_names
    assert info_151.palette[0] == (0, 0, 0) and info_151.palette[1:] == info.palette
    assert info.palette[0] == (120, 120, 120)


@pytest.mark.parametrize("dataset", ["ade20k", "ade20k_151"])
@pytest.mark.parametrize("split", ["train", "val"])
def test_every_split_decodes_value_by_value(tree, dataset, split):
    _, config = tree
    config = dataclasses.replace(config, dataset=dataset)
    examples = list(data.build_dataset(config, split, training=False))
    assert [example["name"].numpy()[0].decode() for example in examples] == names_of(split)
    for example, name in zip(examples, names_of(split)):
        stored = fixture.annotation(name)
        assert example["image"].shape[1:3] == stored.shape
        np.testing.assert_array_equal(example["label"].numpy()[0], expected(stored, dataset))
    label = examples[0]["label"].numpy()
    if dataset == "ade20k":
        assert 255 in label and 149 in label and 150 not in label
    else:
        assert 0 in label and 150 in label and 255 not in label


def test_training_stream(tree):
    _, config = tree
    batch = next(iter(data.build_dataset(config, "train", training=True, batch_size=3)))
    assert batch["image"].shape == (3, 16, 16, 3) and batch["label"].shape == (3, 16, 16)


def test_missing_annotation_and_orphan_annotation_are_named(fresh):
    root, config = fresh
    image, label = fixture.paths(root, "ADE_train_00000002")
    label.unlink()
    orphan_image, orphan_label = fixture.paths(root, "ADE_train_00000003")
    orphan_image.unlink()
    with pytest.raises(data.DataError) as raised:
        data.num_examples(config, "train")
    message = str(raised.value)
    assert f"image {image} has no label {label}" in message
    assert f"label {orphan_label} has no image {orphan_image}" in message
    assert "re-extract ADEChallengeData2016.zip" in message


def test_missing_folder(fresh):
    root, config = fresh
    (root / "ADEChallengeData2016" / "annotations" / "validation").rename(root / "elsewhere")
    with pytest.raises(data.DataError, match=r"annotations/validation' is missing: extract ADEChallengeData2016\.zip"):
        data.num_examples(dataclasses.replace(config, dataset="ade20k_151"), "val")


@pytest.mark.parametrize("dataset", ["ade20k", "ade20k_151"])
def test_wrong_split_size_names_the_expected_count(tree, dataset):
    root, _ = tree
    config = DataConfig(dataset=dataset, data_dir=str(root))
    with pytest.raises(data.DataError, match=rf"{dataset} train: found 3 pairs in .*images/training.* has 20210"):
        data.num_examples(config, "train")
    with pytest.raises(data.DataError, match=r"found 2 pairs .* val split has 2000"):
        data.num_examples(config, "val")


@pytest.mark.parametrize("dataset", ["ade20k", "ade20k_151"])
def test_value_above_150_is_named(fresh, dataset):
    root, config = fresh
    _, label = fixture.paths(root, "ADE_val_00000002")
    stored = fixture.annotation("ADE_val_00000002")
    stored[1, :2] = 151
    tf.io.write_file(str(label), tf.io.encode_png(stored[:, :, None]))
    message = iteration_error(dataclasses.replace(config, dataset=dataset), "val")
    assert f"{label} has values [151] (2 pixels)" in message


def test_corrupt_image_is_named(fresh):
    root, config = fresh
    image, _ = fixture.paths(root, "ADE_val_00000001")
    image.write_bytes(image.read_bytes()[:40])
    message = iteration_error(config, "val")
    assert f"{image} cannot be read or decoded" in message
