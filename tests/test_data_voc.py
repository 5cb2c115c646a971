"""PASCAL VOC 2012 + SBD ("voc"): split logic, labels value by value, palette inversion, .mat labels and errors, on
the tiny official-layout tree of tests/fixtures/voc.py."""

import dataclasses
import io
import shutil

import numpy as np
import pytest
import scipy.io
import scipy.sparse
import tensorflow as tf
from PIL import Image

from li_seg import data
from li_seg.data.datasets import voc
from li_seg.data.datasets.palettes import voc_colormap
from li_seg.data.registry import get_spec
from tests.fixtures import voc as fixture
from tests.data_helpers import iteration_error

VOC_NAMES = fixture.VOC_TRAIN + fixture.VOC_VAL


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """(root, config) of an untouched tree, shared by the tests that only read."""
    root = tmp_path_factory.mktemp("voc")
    return root, fixture.write(root)


@pytest.fixture
def tree(tmp_path):
    """(root, config) of a tree the test may damage."""
    return tmp_path, fixture.write(tmp_path)


def _read_split(config, split):
    """{name: (image uint8 (H, W, 3), label int32 (H, W))} of one evaluation pass, in file order."""
    out = {}
    for example in data.build_dataset(config, split, training=False):
        name = example["name"].numpy()[0].decode()
        out[name] = (example["image"].numpy()[0].astype(np.uint8), example["label"].numpy()[0])
    return out


def _png(array, mode=None) -> bytes:
    buffer = io.BytesIO()
    picture = Image.frombytes("P", array.shape[::-1], array.tobytes()) if mode == "P" else Image.fromarray(array)
    if mode == "P":
        picture.putpalette(fixture.voc_colormap().ravel().tolist())
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def test_info():
    info = data.get_dataset_info("voc")
    assert info.name == "voc" and info.num_classes == 21 and info.ignore_label == 255
    assert info.class_names == (
        "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
        "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
    )
    assert info.palette == (
        (0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128), (128, 0, 128), (0, 128, 128),
        (128, 128, 128), (64, 0, 0), (192, 0, 0), (64, 128, 0), (192, 128, 0), (64, 0, 128), (192, 0, 128),
        (64, 128, 128), (192, 128, 128), (0, 64, 0), (128, 64, 0), (0, 192, 0), (128, 192, 0), (0, 64, 128),
    )
    assert info.split_sizes == {"train_aug": 10582, "train": 1464, "val": 1449}
    assert voc_colormap()[255] == (224, 224, 192)  # void
    assert np.array_equal(np.array(voc_colormap()), fixture.voc_colormap())


def test_train_aug_is_sbd_and_voc_train_minus_voc_val(clean):
    root, config = clean
    examples = get_spec(config).load_split(config, "train_aug")
    union = set(fixture.SBD_TRAIN) | set(fixture.SBD_VAL) | set(fixture.VOC_TRAIN)
    assert examples.names == tuple(sorted(union - set(fixture.VOC_VAL)))
    assert "2007_000033" not in examples.names  # in SBD train but VOC val
    voc_dir, sbd_dir = root / "VOCdevkit" / "VOC2012", root / "benchmark_RELEASE" / "dataset"
    for name, image, label in zip(examples.names, examples.images, examples.labels):
        if name in fixture.VOC_TRAIN:  # 2007_000039 and 2008_000008 are in SBD too: VOC's label wins
            assert label == str(voc_dir / "SegmentationClass" / f"{name}.png")
        else:
            assert label == str(sbd_dir / "cls" / f"{name}.mat")
        image_dir = sbd_dir / "img" if name in fixture.SBD_ONLY_IMAGES else voc_dir / "JPEGImages"
        assert image == str(image_dir / f"{name}.jpg")
    assert get_spec(config).load_split(config, "train").names == fixture.VOC_TRAIN
    assert get_spec(config).load_split(config, "val").names == fixture.VOC_VAL


@pytest.mark.parametrize("split", ["train_aug", "train", "val"])
def test_labels_and_images_value_by_value(clean, split):
    root, config = clean
    read = _read_split(config, split)
    examples = get_spec(config).load_split(config, split)
    assert tuple(read) == examples.names
    for name, (image, label) in read.items():
        # VOC's PNGs and SBD's .mat hold class ids and 255 as they are: the expected labels need no mapping.
        expected = fixture.voc_label(name) if name in VOC_NAMES else fixture.sbd_label(name)
        np.testing.assert_array_equal(label, expected, err_msg=name)
        folder = root / "benchmark_RELEASE" / "dataset" / "img" if name in fixture.SBD_ONLY_IMAGES else (
            root / "VOCdevkit" / "VOC2012" / "JPEGImages"
        )
        np.testing.assert_array_equal(image, tf.io.decode_jpeg(tf.io.read_file(str(folder / f"{name}.jpg"))))


def test_training_stream_mixes_png_and_mat_labels(clean):
    _, config = clean
    batch = next(iter(data.build_dataset(config, "train_aug", training=True, batch_size=6)))
    assert batch["image"].shape == (6, 16, 16, 3) and batch["label"].shape == (6, 16, 16)
    assert set(np.unique(batch["label"].numpy())) <= set(range(21)) | {255}


def test_every_class_colour_and_void_are_inverted(clean):
    _, config = clean
    values = set()
    for split in ("train", "val"):
        values |= {int(v) for _, label in _read_split(config, split).values() for v in np.unique(label)}
    assert values == set(range(21)) | {255}


@pytest.mark.parametrize("mode", ["P", "RGB"])
def test_read_label_inverts_the_whole_colormap(tmp_path, mode):
    indices = np.arange(256, dtype=np.uint8).reshape(16, 16)
    path = tmp_path / "label.png"
    path.write_bytes(_png(indices, "P") if mode == "P" else _png(fixture.voc_colormap()[indices]))
    np.testing.assert_array_equal(voc.read_label(tf.constant(str(path))).numpy()[:, :, 0], indices)


def test_grey_label_png_is_read_as_indices(tree):
    root, config = tree
    name = fixture.VOC_VAL[1]
    grey = np.full((fixture.HEIGHT, fixture.WIDTH), 7, np.uint8)
    grey[:5] = 255
    grey[5:9, :10] = 15
    path = root / "VOCdevkit" / "VOC2012" / "SegmentationClass" / f"{name}.png"
    Image.fromarray(grey).save(path)
    assert Image.open(path).mode == "L"
    np.testing.assert_array_equal(_read_split(config, "val")[name][1], grey)


def test_colour_outside_the_colormap_is_named(tree):
    root, config = tree
    name = fixture.VOC_VAL[2]
    colours = fixture.voc_colormap()[fixture.voc_label(name)]
    colours[2:4, 5:8] = (1, 2, 3)  # no VOC colour
    path = root / "VOCdevkit" / "VOC2012" / "SegmentationClass" / f"{name}.png"
    path.write_bytes(_png(colours))
    message = iteration_error(config, "val")
    assert f"{path} has values [{voc.UNKNOWN_COLOUR}] (6 pixels)" in message and "Fix (label_values)" in message


def test_sbd_mat_is_the_gtcls_struct(clean):
    root, _ = clean
    name = "2008_000002"
    path = root / "benchmark_RELEASE" / "dataset" / "cls" / f"{name}.mat"
    gtcls = scipy.io.loadmat(path)["GTcls"][0, 0]
    assert set(gtcls.dtype.names) == {"Boundaries", "Segmentation", "CategoriesPresent"}
    assert gtcls["Segmentation"].dtype == np.uint8
    assert gtcls["Boundaries"].shape == (20, 1) and scipy.sparse.issparse(gtcls["Boundaries"][0, 0])
    segmentation = fixture.sbd_label(name)
    np.testing.assert_array_equal(gtcls["Segmentation"], segmentation)
    np.testing.assert_array_equal(gtcls["CategoriesPresent"][:, 0], np.unique(segmentation[segmentation > 0]))
    np.testing.assert_array_equal(voc.read_label(tf.constant(str(path))).numpy()[:, :, 0], segmentation)


def test_missing_sbd_folder(tree):
    root, config = tree
    shutil.rmtree(root / "benchmark_RELEASE")
    with pytest.raises(data.DataError, match=r"benchmark_RELEASE.*missing.*benchmark\.tgz.*11,355"):
        data.num_examples(config, "train_aug")
    assert data.num_examples(config, "train") == 3 and data.num_examples(config, "val") == 3


def test_missing_voc_folder_and_lists(tree):
    root, config = tree
    (root / "benchmark_RELEASE" / "dataset" / "val.txt").unlink()
    with pytest.raises(data.DataError, match=r"SBD val list \(2,857 names\).*benchmark\.tgz"):
        data.num_examples(config, "train_aug")
    (root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / "val.txt").unlink()
    with pytest.raises(data.DataError, match=r"VOC 2012 val list \(1,449 names\).*VOCtrainval_11-May-2012\.tar"):
        data.num_examples(config, "val")
    shutil.rmtree(root / "VOCdevkit")
    with pytest.raises(data.DataError, match=r"VOC2012.*missing.*VOCtrainval_11-May-2012\.tar.*17,125"):
        data.num_examples(config, "train")


def test_missing_files_are_counted_and_named(tree):
    root, config = tree
    voc_label = root / "VOCdevkit" / "VOC2012" / "SegmentationClass" / "2008_000008.png"
    sbd_label = root / "benchmark_RELEASE" / "dataset" / "cls" / "2008_000007.mat"
    voc_label.unlink()
    sbd_label.unlink()
    with pytest.raises(data.DataError) as raised:
        data.build_dataset(config, "train_aug", training=True)
    message = str(raised.value)
    assert "2 of the 12 files listed in train_aug" in message
    assert str(voc_label) in message and str(sbd_label) in message


@pytest.mark.parametrize("split, count, expected", [("train_aug", 6, 10582), ("train", 3, 1464), ("val", 3, 1449)])
def test_split_sizes_are_checked(clean, split, count, expected):
    _, config = clean
    with pytest.raises(data.DataError, match=rf"voc {split}: found {count} images .* has {expected}\."):
        data.num_examples(dataclasses.replace(config, check_split_sizes=True), split)
    with pytest.raises(data.DataError, match=r"no split 'test'.*train_aug, train, val"):
        data.num_examples(config, "test")
