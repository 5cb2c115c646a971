"""CelebAMask-HQ in its released layout (tests/fixtures/celebamask_hq.py): g_partition.py's splits, g_mask.py's part
order and overwrite rule, the image downsampling, errors."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from li_seg import data
from li_seg.config import DataConfig
from li_seg.data.examples import load_examples
from tests.fixtures import celebamask_hq as fixture
from tests.data_helpers import iteration_error

# face_parsing/Data_preprocessing/g_mask.py's label_list, copied by hand: class id = position + 1.
OFFICIAL_ORDER = (
    "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth", "u_lip", "l_lip",
    "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)
# g_partition.py on the fixture's orig_idx: < 162771 train, [162771, 182638) val, >= 182638 test; file order.
SPLITS = {"train": ["0", "2000", "4006"], "val": ["1", "2", "4005"], "test": ["3", "2001"]}


def by_hand(index: int, order=OFFICIAL_ORDER) -> np.ndarray:
    """g_mask.py: background 0, each existing part in `order` overwrites its pixels with its official class id."""
    label = np.zeros((fixture.MASK_SIZE, fixture.MASK_SIZE), np.int32)
    masks = fixture.parts(index)
    for part in order:
        if part in masks:
            label[masks[part]] = OFFICIAL_ORDER.index(part) + 1
    return label


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("celebamask_hq")
    return root, fixture.write(root)


@pytest.fixture
def fresh(tmp_path):
    return tmp_path, fixture.write(tmp_path)


def _examples(config, split):
    examples = data.build_dataset(config, split, training=False)
    return {example["name"].numpy()[0].decode(): example for example in examples}


def test_info():
    info = data.get_dataset_info("celebamask_hq")
    assert info.num_classes == 19 and info.split_sizes == {"train": 24183, "val": 2993, "test": 2824}
    assert info.class_names == ("background",) + OFFICIAL_ORDER
    assert info.palette[0] == (0, 0, 0) and info.palette[1] == (204, 0, 0) and info.palette[18] == (0, 204, 0)


def test_fixture_exercises_overlaps_and_missing_parts():
    for index, _ in fixture.ROWS:
        assert 0 < len(fixture.parts(index)) < 18
    reversed_order = OFFICIAL_ORDER[::-1]
    assert any((by_hand(index) != by_hand(index, reversed_order)).any() for index, _ in fixture.ROWS)


def test_splits_follow_g_partition_thresholds(tree):
    _, config = tree
    for split, names in SPLITS.items():
        assert list(load_examples(config, split).names) == names
        assert data.num_examples(config, split) == len(names)


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_every_split_decodes_value_by_value(tree, split):
    root, config = tree
    examples = _examples(config, split)
    assert list(examples) == SPLITS[split]
    for name, example in examples.items():
        np.testing.assert_array_equal(example["label"].numpy()[0], by_hand(int(name)))
        # The image: decoded JPEG halved by PIL's (antialiased) bilinear resize, as face_parsing's transforms.Resize.
        decoded = tf.io.decode_jpeg(tf.io.read_file(str(fixture.image_path(root, int(name))))).numpy()
        size = (fixture.MASK_SIZE, fixture.MASK_SIZE)
        halved = np.asarray(Image.fromarray(decoded).resize(size, Image.BILINEAR), np.float32)
        image = example["image"].numpy()[0]
        assert image.shape == (16, 16, 3) and np.abs(image - halved).max() <= 1


def test_training_stream(tree):
    _, config = tree
    batch = next(iter(data.build_dataset(config, "train", training=True, batch_size=3)))
    assert batch["image"].shape == (3, 16, 16, 3) and batch["label"].shape == (3, 16, 16)


def test_mask_pixels_count_by_cv2s_first_channel(fresh):
    """cv2.imread gives BGR: g_mask.py's im[:, :, 0] is the blue channel of an RGB mask."""
    root, config = fresh
    index = 2000
    part = next(part for part in OFFICIAL_ORDER[::-1] if part in fixture.parts(index))  # the last: nothing overwrites
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[0, :4, 0] = 255  # red only: not part of the mask for cv2
    rgb[1, :4, 2] = 255  # blue: part of the mask
    Image.fromarray(rgb).save(fixture.mask_path(root, index, part))
    label = _examples(config, "train")[str(index)]["label"].numpy()[0]
    class_id = OFFICIAL_ORDER.index(part) + 1
    assert (label[1, :4] == class_id).all() and (label[0, :4] != class_id).all()


def test_image_without_any_part_mask_is_named_at_listing(fresh):
    root, config = fresh
    for part in fixture.parts(2001):
        fixture.mask_path(root, 2001, part).unlink()
    with pytest.raises(data.DataError) as raised:
        data.num_examples(config, "test")
    message = str(raised.value)
    assert "celebamask_hq test: 1 of the 2 images have no part mask" in message
    assert str(fixture.image_path(root, 2001)) in message and "CelebAMask-HQ.zip" in message
    assert data.num_examples(config, "train") == 3  # other splits are unaffected


def test_missing_image_mapping_and_mask_folder(fresh):
    root, config = fresh
    fixture.image_path(root, 4006).unlink()
    with pytest.raises(data.DataError, match=r"1 of the 3 files listed in .*mapping\.txt are missing(.|\n)*4006\.jpg"):
        data.num_examples(config, "train")
    mask_folder = fixture.root_of(root) / "CelebAMask-HQ-mask-anno" / "2"
    mask_folder.rename(root / "elsewhere")
    with pytest.raises(data.DataError, match=rf"celebamask_hq val: the mask folder '{mask_folder}' is missing"):
        data.num_examples(config, "val")
    (fixture.root_of(root) / "CelebA-HQ-to-CelebA-mapping.txt").unlink()
    with pytest.raises(data.DataError, match=r"mapping .*CelebA-HQ-to-CelebA-mapping\.txt' is missing: extract"):
        data.num_examples(config, "test")


def test_mapping_without_header_is_refused(fresh):
    root, config = fresh
    mapping = fixture.root_of(root) / "CelebA-HQ-to-CelebA-mapping.txt"
    mapping.write_text("\n".join(mapping.read_text().splitlines()[1:]) + "\n")
    with pytest.raises(data.DataError, match=r"mapping\.txt:1: expected the header line 'idx orig_idx orig_file'"):
        data.num_examples(config, "train")


def test_wrong_split_size_names_the_expected_count(tree):
    root, _ = tree
    config = DataConfig(dataset="celebamask_hq", data_dir=str(root))
    for split, expected in (("train", 24183), ("val", 2993), ("test", 2824)):
        with pytest.raises(data.DataError, match=rf"celebamask_hq {split}: found {len(SPLITS[split])} images in .*"
                                                 rf"mapping\.txt, but the papers' {split} split has {expected}"):
            data.num_examples(config, split)


def test_image_not_twice_the_mask_size_is_named(fresh):
    root, config = fresh
    image = fixture.image_path(root, 1)
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(image)
    message = iteration_error(config, "val")
    assert f"is 16x16 but its image {image} is 15x15" in message and "Fix (size_mismatch)" in message


def test_image_of_odd_size_is_named(fresh):
    root, config = fresh
    image = fixture.image_path(root, 3)
    Image.fromarray(np.zeros((33, 32, 3), np.uint8)).save(image)
    message = iteration_error(config, "test")
    assert f"{image} cannot be read or decoded" in message and "odd side" in message


def test_part_mask_of_another_size_is_named(fresh):
    root, config = fresh
    masks = fixture.parts(2)
    later = [part for part in OFFICIAL_ORDER if part in masks][1]
    path = fixture.mask_path(root, 2, later)
    Image.fromarray(np.zeros((8, 16), np.uint8)).save(path)
    message = iteration_error(config, "val")
    assert f"part mask {path} differs in size" in message


def test_corrupt_part_mask_is_named(fresh):
    root, config = fresh
    part = next(iter(fixture.parts(4005)))
    path = fixture.mask_path(root, 4005, part)
    path.write_bytes(path.read_bytes()[:30])
    message = iteration_error(config, "val")
    assert message.count("cannot be read or decoded") == 1
    assert f"{str(path)[: -len(part) - len('.png')]}{{" in message and part in message
