"""PASCAL-Context ("pascal_context", 60 classes, and "pascal_context_59"): the 459 -> 60 / 59 mappings value by
value, labels.txt checks, .mat labels and errors, on the tiny official-layout tree of tests/fixtures/pascal_context.py.
"""

import dataclasses
import shutil

import numpy as np
import pytest
import scipy.io
import tensorflow as tf

from li_seg import data
from li_seg.data.datasets import pascal_context
from li_seg.data.registry import get_spec
from tests.fixtures import pascal_context as fixture

# mmsegmentation's tools/convert_datasets/pascal_context.py `_mapping`, sorted: position = class id of the 60-class
# convention (0 = background).
MAPPING = (
    0, 2, 9, 18, 19, 22, 23, 25, 31, 33, 34, 44, 45, 46, 59, 65, 68, 72, 80, 85, 98, 104, 105, 113, 115, 144, 158,
    159, 162, 187, 189, 207, 220, 232, 258, 259, 260, 284, 295, 296, 308, 324, 326, 347, 349, 354, 355, 360, 366,
    368, 397, 415, 416, 420, 424, 427, 440, 445, 454, 458,
)
NAMES_59 = (
    "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book", "bottle", "building", "bus",
    "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow", "cup", "curtain", "dog", "door", "fence",
    "floor", "flower", "food", "grass", "ground", "horse", "keyboard", "light", "motorbike", "mountain", "mouse",
    "person", "plate", "platform", "pottedplant", "road", "rock", "sheep", "shelves", "sidewalk", "sign", "sky", "snow",
    "sofa", "table", "track", "train", "tree", "truck", "tvmonitor", "wall", "water", "window", "wood",
)


def expected_60(label_id: int) -> int:
    return MAPPING.index(label_id) if label_id in MAPPING else 0


def expected_59(label_id: int) -> int:
    return MAPPING.index(label_id) - 1 if label_id in MAPPING[1:] else 255


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """(root, config) of an untouched tree, shared by the tests that only read."""
    root = tmp_path_factory.mktemp("pascal_context")
    return root, fixture.write(root)


@pytest.fixture
def tree(tmp_path):
    """(root, config) of a tree the test may damage."""
    return tmp_path, fixture.write(tmp_path)


def test_infos():
    info = data.get_dataset_info("pascal_context")
    assert info.num_classes == 60 and info.class_names == ("background",) + NAMES_59
    assert info.split_sizes == {"train": 4998, "val": 5105} and len(info.palette) == 60
    assert info.palette[0] == (0, 0, 0)
    info_59 = data.get_dataset_info("pascal_context_59")
    assert info_59.num_classes == 59 and info_59.class_names == NAMES_59
    assert info_59.split_sizes == {"train": 4998, "val": 5105} and info_59.palette == info.palette[1:]


def test_the_59_names_sit_at_their_label_ids():
    """The fixture's labels.txt lines are the real file's (NVlabs/ODISE pascal_context_459.txt has the same)."""
    assert [fixture.LABEL_NAMES[label_id] for label_id in MAPPING[1:]] == list(NAMES_59)
    assert [label_id for label_id, _ in pascal_context.CLASSES_59] == list(MAPPING[1:])


@pytest.mark.parametrize("dataset, expected", [("pascal_context", expected_60), ("pascal_context_59", expected_59)])
def test_tables(dataset, expected):
    table = get_spec(dataset).label_map
    assert len(table) == 460
    assert list(table) == [expected(label_id) for label_id in range(460)]


@pytest.mark.parametrize("dataset, expected", [("pascal_context", expected_60), ("pascal_context_59", expected_59)])
@pytest.mark.parametrize("split", ["train", "val"])
def test_labels_value_by_value(clean, dataset, expected, split):
    root, config = clean
    config = dataclasses.replace(config, dataset=dataset)
    names = fixture.TRAIN if split == "train" else fixture.VAL
    seen = set()
    examples = list(data.build_dataset(config, split, training=False))
    assert [example["name"].numpy()[0].decode() for example in examples] == list(names)
    for name, example in zip(names, examples):
        stored = fixture.label_map(name)
        seen |= set(np.unique(stored).tolist())
        np.testing.assert_array_equal(example["label"].numpy()[0], np.vectorize(expected)(stored), err_msg=name)
        assert example["image"].shape == (1, fixture.HEIGHT, fixture.WIDTH, 3)
    if split == "train":
        assert seen == set(fixture.LABEL_IDS)  # unlabeled, all 59 classes, other classes and id 459


def test_mat_is_a_uint16_labelmap(clean):
    root, _ = clean
    name = fixture.VAL[0]
    path = root / "trainval" / f"{name}.mat"
    contents = scipy.io.loadmat(path)
    assert [key for key in contents if not key.startswith("__")] == ["LabelMap"]
    assert contents["LabelMap"].dtype == np.uint16
    np.testing.assert_array_equal(contents["LabelMap"], fixture.label_map(name))
    read = pascal_context.read_label(tf.constant(str(path))).numpy()
    assert read.dtype == np.int32 and read.shape == (fixture.HEIGHT, fixture.WIDTH, 1)
    np.testing.assert_array_equal(read[:, :, 0], fixture.label_map(name))


def test_ids_beyond_459_are_named(tree):
    root, config = tree
    name = fixture.VAL[1]
    label = fixture.label_map(name)
    label[:2, :2] = 460
    path = root / "trainval" / f"{name}.mat"
    scipy.io.savemat(path, {"LabelMap": label})
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        for _ in data.build_dataset(config, "val", training=False):
            pass
    message = str(data.explain_error(raised.value, config, "val"))
    assert f"{path} has values [460] (4 pixels)" in message


def test_labels_txt_is_checked_when_present(tree):
    root, config = tree
    labels = root / "labels.txt"
    labels.write_text(labels.read_text().replace("2: aeroplane", "2: airplane").replace("458: wood", "458: wool"))
    with pytest.raises(data.DataError, match=r"2 of 59 differ: 2: 'airplane' instead of 'aeroplane'; 458: 'wool'"):
        data.num_examples(config, "train")
    labels.write_text("1 accordion\n")
    with pytest.raises(data.DataError, match=r"labels\.txt:1: expected 'id: name'"):
        data.num_examples(config, "train")
    labels.unlink()  # optional
    assert data.num_examples(config, "train") == 3


def test_missing_folders_lists_and_files(tree):
    root, config = tree
    mat = root / "trainval" / f"{fixture.TRAIN[1]}.mat"
    mat.unlink()
    with pytest.raises(data.DataError, match=r"1 of the 6 files listed in .*Main/train\.txt are missing"):
        data.num_examples(config, "train")
    assert data.num_examples(config, "val") == 2
    shutil.move(root / "trainval", root / "VOCdevkit" / "VOC2010" / "trainval")  # where mmsegmentation's docs put it
    with pytest.raises(data.DataError, match=r"trainval.*missing \(10,103 \.mat files.*trainval\.tar\.gz.*move it up"):
        data.num_examples(config, "val")
    shutil.rmtree(root / "VOCdevkit" / "VOC2010" / "trainval")
    with pytest.raises(data.DataError) as raised:
        data.num_examples(config, "val")
    assert "extract trainval.tar.gz" in str(raised.value) and "move it up" not in str(raised.value)
    (root / "VOCdevkit" / "VOC2010" / "ImageSets" / "Main" / "val.txt").unlink()
    with pytest.raises(data.DataError, match=r"VOC 2010 val list \(5,105 names\).*VOCtrainval_03-May-2010\.tar"):
        data.num_examples(dataclasses.replace(config, dataset="pascal_context_59"), "val")


@pytest.mark.parametrize("dataset", ["pascal_context", "pascal_context_59"])
def test_split_sizes_are_checked(clean, dataset):
    _, config = clean
    config = dataclasses.replace(config, dataset=dataset, check_split_sizes=True)
    with pytest.raises(data.DataError, match=rf"{dataset} train: found 3 images .* has 4998\."):
        data.num_examples(config, "train")
    with pytest.raises(data.DataError, match=rf"{dataset} val: found 2 images .* has 5105\."):
        data.num_examples(config, "val")
