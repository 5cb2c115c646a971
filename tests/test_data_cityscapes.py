"""Cityscapes in its official layout (tests/fixtures/cityscapes.py): pairing, label ids -> 19 trainIds, errors."""

import numpy as np
import pytest
import tensorflow as tf

from li_seg import data
from li_seg.config import DataConfig
from tests.fixtures import cityscapes as fixture
from tests.data_helpers import iteration_error

# cityscapesscripts/helpers/labels.py, copied by hand: label id -> trainId; all other ids 0-33 -> 255.
TRAIN_ID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14,
    28: 15, 31: 16, 32: 17, 33: 18,
}


def train_ids(label_ids: np.ndarray) -> np.ndarray:
    expected = np.full(label_ids.shape, 255, np.int32)
    for label_id, train_id in TRAIN_ID.items():
        expected[label_ids == label_id] = train_id
    return expected


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """The fixture tree, read-only for the tests that use it: (root, config)."""
    root = tmp_path_factory.mktemp("cityscapes")
    return root, fixture.write(root)


@pytest.fixture
def fresh(tmp_path):
    """A tree of its own, for tests that break it."""
    return tmp_path, fixture.write(tmp_path)


def test_info():
    info = data.get_dataset_info("cityscapes")
    assert "cityscapes" in data.list_datasets()
    assert info.num_classes == 19 and info.split_sizes == {"train": 2975, "val": 500}
    assert info.class_names[:3] == ("road", "sidewalk", "building") and info.class_names[-1] == "bicycle"
    assert info.class_names[6:8] == ("traffic light", "traffic sign")
    assert info.palette[0] == (128, 64, 128) and info.palette[10] == (70, 130, 180)
    assert info.palette[18] == (119, 11, 32)


def test_fixture_holds_every_label_id():
    ids = set()
    for name in fixture.FRAMES["train"] + fixture.FRAMES["val"]:
        ids |= set(np.unique(fixture.label_ids(name)).tolist())
    assert ids == set(range(34))


@pytest.mark.parametrize("split", ["train", "val"])
def test_every_split_decodes_value_by_value(tree, split):
    root, config = tree
    examples = list(data.build_dataset(config, split, training=False))
    assert [example["name"].numpy()[0].decode() for example in examples] == sorted(fixture.FRAMES[split])
    for example, name in zip(examples, sorted(fixture.FRAMES[split])):
        np.testing.assert_array_equal(example["image"].numpy()[0], fixture.image(name))  # PNG: lossless
        np.testing.assert_array_equal(example["label"].numpy()[0], train_ids(fixture.label_ids(name)))
    assert data.num_examples(config, split) == len(fixture.FRAMES[split])


def test_training_stream(tree):
    _, config = tree
    batch = next(iter(data.build_dataset(config, "train", training=True, batch_size=2)))
    assert batch["image"].shape == (2, 16, 16, 3) and batch["label"].shape == (2, 16, 16)


def test_unknown_split_and_missing_folder(fresh):
    root, config = fresh
    with pytest.raises(data.DataError, match="no split 'test'; valid splits: train, val"):
        data.num_examples(config, "test")
    (root / "gtFine" / "val").rename(root / "gtFine" / "elsewhere")
    with pytest.raises(data.DataError, match=r"gtFine/val' is missing: extract .*gtFine_trainvaltest\.zip"):
        data.num_examples(config, "val")


def test_image_without_label_and_label_without_image_are_named(fresh):
    root, config = fresh
    image, label = fixture.paths(root, "train", "aachen_000001_000019")
    label.unlink()
    orphan_image, orphan_label = fixture.paths(root, "train", "bochum_000000_000313")
    orphan_image.unlink()
    with pytest.raises(data.DataError) as raised:
        data.build_dataset(config, "train", training=True)
    message = str(raised.value)
    assert "cityscapes train: 2 file(s) without their counterpart" in message
    assert f"image {image} has no label {label}" in message
    assert f"label {orphan_label} has no image {orphan_image}" in message


def test_wrong_split_size_names_the_expected_count(tree):
    root, _ = tree
    config = DataConfig(dataset="cityscapes", data_dir=str(root))  # check_split_sizes on
    with pytest.raises(data.DataError, match=r"cityscapes val: found 3 pairs in .*leftImg8bit/val.*has 500"):
        data.num_examples(config, "val")
    with pytest.raises(data.DataError, match=r"found 3 pairs .* train split has 2975"):
        data.num_examples(config, "train")


def test_value_beyond_label_ids_is_named(fresh):
    root, config = fresh
    _, label = fixture.paths(root, "val", "lindau_000000_000019")
    values = fixture.label_ids("lindau_000000_000019")
    values[0, :3] = 34  # not a Cityscapes label id
    tf.io.write_file(str(label), tf.io.encode_png(values[:, :, None]))
    message = iteration_error(config, "val")
    assert f"{label} has values [34] (3 pixels)" in message and "Fix (label_values)" in message


def test_corrupt_label_is_named(fresh):
    root, config = fresh
    _, label = fixture.paths(root, "val", "munster_000000_000019")
    label.write_bytes(label.read_bytes()[:50])
    message = iteration_error(config, "val")
    assert f"{label} cannot be read or decoded" in message and message.count("cannot be read") == 1
