"""Data errors name the offending file and the fix: construction-time (DataError at once) and iteration-time
(tf.errors.InvalidArgumentError -> explain_error -> DataError), on a tiny CamVid-layout tree."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from li_seg import data
from li_seg.config import DataConfig
from tests.fixtures import camvid as camvid_fixture
from tests.data_helpers import iteration_error

HEIGHT, WIDTH = camvid_fixture.HEIGHT, camvid_fixture.WIDTH


@pytest.fixture
def tiny_camvid(tmp_path):
    """tests/fixtures/camvid.py's 3 train and 3 val pairs; returns (root, config)."""
    return tmp_path, camvid_fixture.write(tmp_path)


def test_the_clean_fixture_reads(tiny_camvid):
    _, config = tiny_camvid
    labels = [example["label"].numpy() for example in data.build_dataset(config, "val", training=False)]
    assert len(labels) == 3 and all(label.shape == (1, HEIGHT, WIDTH) for label in labels)
    assert set(np.unique(labels)) == set(range(11)) | {255}


def test_missing_data_dir(tmp_path):
    config = DataConfig(dataset="camvid", data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(data.DataError, match=r"nowhere.*does not exist.*data_dir"):
        data.build_dataset(config, "train", training=True)
    with pytest.raises(data.DataError, match="needs DataConfig.data_dir"):
        data.num_examples(DataConfig(dataset="camvid"), "train")


def test_unknown_split_and_missing_list(tiny_camvid):
    _, config = tiny_camvid
    with pytest.raises(data.DataError, match=r"no split 'tset'.*train, val, test"):
        data.num_examples(config, "tset")
    with pytest.raises(data.DataError, match=r"test\.txt"):
        data.num_examples(config, "test")


def test_missing_files_are_counted_and_named(tiny_camvid):
    root, config = tiny_camvid
    (root / "trainannot" / "a_002.png").unlink()
    (root / "train" / "a_003.png").unlink()
    with pytest.raises(data.DataError) as raised:
        data.build_dataset(config, "train", training=True)
    message = str(raised.value)
    assert "2 of the 6 files listed in" in message and str(root / "train.txt") in message
    assert str(root / "trainannot" / "a_002.png") in message and str(root / "train" / "a_003.png") in message


@pytest.mark.parametrize("which", ["image", "label"])
def test_corrupt_file_is_named(tiny_camvid, which):
    root, config = tiny_camvid
    path = root / ("val" if which == "image" else "valannot") / "a_002.png"
    path.write_bytes(path.read_bytes()[:60])  # truncated
    message = iteration_error(config, "val", training=False)
    assert f"{path} cannot be read or decoded" in message and "Fix (unreadable)" in message
    assert message.count("cannot be read") == 1  # the scan finds exactly the bad file


def test_size_mismatch_is_named(tiny_camvid):
    root, config = tiny_camvid
    label = root / "valannot" / "a_003.png"
    Image.fromarray(np.zeros((HEIGHT, WIDTH - 2), np.uint8)).save(label)
    message = iteration_error(config, "val", training=False)
    assert f"{label} is 24x30 but its image {root / 'val' / 'a_003.png'} is 24x32" in message
    assert "Fix (size_mismatch)" in message


def test_out_of_range_label_is_named_in_training(tiny_camvid):
    root, config = tiny_camvid
    label = root / "trainannot" / "a_001.png"
    values = np.zeros((HEIGHT, WIDTH), np.uint8)
    values[:2, :3] = 12  # 11 is void (-> 255) and fine; 12 is not a CamVid id
    Image.fromarray(values).save(label)
    message = iteration_error(config, "train", training=True)
    assert f"{label} has values [12] (6 pixels)" in message and "[0, 11)" in message
    assert "Fix (label_values)" in message


def test_colour_label_is_named(tiny_camvid):
    root, config = tiny_camvid
    label = root / "valannot" / "a_001.png"
    Image.fromarray(np.zeros((HEIGHT, WIDTH, 3), np.uint8)).save(label)
    message = iteration_error(config, "val", training=False)
    assert f"{label} has 3 channels instead of 1" in message


def test_unequal_evaluation_batch_is_explained():
    config = DataConfig()  # synthetic: sizes vary
    dataset = data.build_dataset(config, "val", training=False, batch_size=2)
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        next(iter(dataset))
    assert "batch_size=1" in str(data.explain_error(raised.value, config, "val"))
