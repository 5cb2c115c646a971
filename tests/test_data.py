"""The input pipeline: registry, determinism and resumption, shapes, augmentation conventions, CamVid."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from li_seg import data
from li_seg.config import DataConfig
from li_seg.data import augment
from li_seg.data.datasets import synthetic
from li_seg.data.pipeline import example_index

SMALL = DataConfig(crop_size=(48, 64))  # synthetic, default scale range 0.5-2.0 step 0.25, flip


def _batches(dataset, count):
    iterator = iter(dataset)
    return [{key: value.numpy() for key, value in next(iterator).items()} for _ in range(count)]


def test_registry_and_info():
    assert {"synthetic", "camvid"} <= set(data.list_datasets())
    info = data.get_dataset_info("synthetic")
    assert info.num_classes == 7 and len(info.class_names) == 7 and len(info.palette) == 7
    assert info.ignore_label == 255 and dict(info.split_sizes) == {"train": 480, "val": 64}
    assert all(len(colour) == 3 and all(0 <= c <= 255 for c in colour) for colour in info.palette)
    hash(info)  # frozen and hashable, split_sizes included
    camvid = data.get_dataset_info("camvid")
    assert camvid.class_names[0] == "sky" and camvid.class_names[-1] == "bicyclist" and camvid.num_classes == 11
    with pytest.raises(ValueError, match="valid datasets: ade20k, ade20k_151, camvid, celebamask_hq, cityscapes,"):
        data.get_dataset_info("imagenet")


def test_each_epoch_is_a_fresh_permutation():
    count = 10
    order = lambda seed: np.array(  # noqa: E731
        [int(example_index(tf.constant(i, tf.int64), count, seed)) for i in range(3 * count)]
    )
    epochs = order(5).reshape(3, count)
    for epoch in epochs:
        assert sorted(epoch) == list(range(count))
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs.ravel(), order(6))


def test_training_is_deterministic_and_resumable():
    build = lambda **kw: data.build_dataset(SMALL, "val", training=True, batch_size=3, **kw)  # noqa: E731
    reference = _batches(build(seed=7), 4)
    again = _batches(build(seed=7), 1)[0]
    resumed = _batches(build(seed=7, start_step=2), 2)
    other_seed = _batches(build(seed=8), 1)[0]
    for key in ("image", "label"):
        np.testing.assert_array_equal(again[key], reference[0][key])
        np.testing.assert_array_equal(resumed[0][key], reference[2][key])
        np.testing.assert_array_equal(resumed[1][key], reference[3][key])
        assert not np.array_equal(other_seed[key], reference[0][key])
    assert not np.array_equal(reference[0]["image"], reference[1]["image"])


def test_training_batch_shapes_and_values():
    dataset = data.build_dataset(SMALL, "val", training=True, batch_size=4)
    assert dataset.element_spec["image"].shape.as_list() == [4, 48, 64, 3]
    assert dataset.element_spec["label"].shape.as_list() == [4, 48, 64]
    batch = _batches(dataset, 1)[0]
    assert batch["image"].dtype == np.float32 and batch["label"].dtype == np.int32
    assert 0 <= batch["image"].min() and batch["image"].max() <= 255 and batch["image"].max() > 100
    assert set(np.unique(batch["label"])) <= set(range(7)) | {255}


def test_evaluation_returns_original_images_in_file_order():
    scenes = synthetic.generate_split("val")
    dataset = data.build_dataset(SMALL, "val", training=False, max_examples=5)
    examples = _batches(dataset, 5)
    assert len(list(dataset)) == 5
    for index, (example, scene) in enumerate(zip(examples, scenes)):
        assert example["image"].dtype == np.float32 and example["label"].dtype == np.int32
        np.testing.assert_array_equal(example["image"][0], scene.image.astype(np.float32))  # PNG is lossless
        np.testing.assert_array_equal(example["label"][0], scene.label)
        assert example["name"].tolist() == [f"val_{index:04d}".encode()]
    assert len({example["image"].shape for example in examples}) > 1  # sizes vary
    assert data.num_examples(SMALL, "val") == 64


def test_scale_set_and_sampled_scales():
    assert augment.scale_set(0.5, 2.0, 0.25) == (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
    assert augment.scale_set(0.5, 1.2, 0.25) == (0.5, 0.75, 1.0)
    assert augment.scale_set(0.5, 2.0, 0) == ()
    with pytest.raises(ValueError):
        augment.scale_set(2.0, 0.5, 0.25)
    seeds = [tf.constant([3, i], tf.int64) for i in range(200)]
    discrete = {round(float(augment.sample_scale(seed, 0.5, 2.0, 0.25)), 6) for seed in seeds}
    assert discrete == {0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0}
    continuous = np.array([float(augment.sample_scale(seed, 0.5, 2.0, 0.0)) for seed in seeds])
    assert 0.5 <= continuous.min() < 0.6 and 1.9 < continuous.max() <= 2.0
    assert len(np.unique(continuous)) == len(seeds)


def test_rescale_keeps_label_values_and_uses_rounded_size():
    rng = np.random.default_rng(0)
    label = tf.constant(rng.choice([0, 3, 7, 255], (13, 21)), tf.int32)
    image = tf.constant(rng.uniform(0, 255, (13, 21, 3)), tf.float32)
    for scale in (0.5, 0.77, 1.0, 1.5, 2.0):
        scaled_image, scaled_label = augment.rescale(image, label, tf.constant(scale))
        expected = [round(13 * scale), round(21 * scale)]
        assert scaled_label.shape.as_list() == expected and scaled_image.shape.as_list() == expected + [3]
        assert set(np.unique(scaled_label)) <= {0, 3, 7, 255}
        assert scaled_label.dtype == tf.int32
    unchanged_image, unchanged_label = augment.rescale(image, label, tf.constant(1.0))
    np.testing.assert_allclose(unchanged_image, image, atol=1e-4)
    np.testing.assert_array_equal(unchanged_label, label)


def test_padding_uses_ignore_for_labels_and_mean_for_images():
    image = tf.fill([3, 5, 3], 9.0)
    label = tf.fill([3, 5], 2)
    padded_image, padded_label = augment.pad_to_at_least(image, label, 6, 7)
    padded_image, padded_label = padded_image.numpy(), padded_label.numpy()
    assert padded_label.shape == (6, 7) and padded_image.shape == (6, 7, 3)
    assert (padded_label[:3, :5] == 2).all() and (padded_image[:3, :5] == 9).all()
    assert (padded_label[3:] == 255).all() and (padded_label[:, 5:] == 255).all()
    assert (padded_image[3:] == augment.IMAGE_PAD_VALUE).all() and (padded_image[:, 5:] == 127.5).all()
    same_image, same_label = augment.pad_to_at_least(image, label, 2, 4)  # already large enough
    assert same_label.shape == (3, 5)


def test_crop_and_flip_keep_image_and_label_aligned():
    """Scale fixed at 1 so pixels are copied: image channel 0 encodes the label and position, so any misaligned
    crop or flip between image and label shows up exactly."""
    height, width = 20, 30
    label = np.arange(height * width).reshape(height, width) % 7
    image = np.stack([label * 10, np.tile(np.arange(width), (height, 1)), np.zeros_like(label)], -1)
    config = DataConfig(crop_size=(16, 24), min_scale=1.0, max_scale=1.0, scale_step=0.0, flip=True)
    flipped = 0
    for i in range(24):
        crop_image, crop_label = augment.augment(
            tf.constant(image, tf.float32), tf.constant(label, tf.int32), config, tf.constant([1, i], tf.int64)
        )
        crop_image, crop_label = crop_image.numpy(), crop_label.numpy()
        assert crop_image.shape == (16, 24, 3) and crop_label.shape == (16, 24)
        np.testing.assert_array_equal(crop_image[:, :, 0], crop_label * 10)
        columns = crop_image[0, :, 1]
        flipped += columns[0] > columns[-1]
        assert np.all(np.abs(np.diff(columns)) == 1)  # a contiguous window, in one direction
    assert 0 < flipped < 24


def test_crop_larger_than_image_pads_labels_with_ignore():
    label = tf.fill([10, 12], 4)
    config = DataConfig(crop_size=(32, 32), min_scale=1.0, max_scale=1.0, scale_step=0.0, flip=False)
    crop_image, crop_label = augment.augment(tf.fill([10, 12, 3], 50.0), label, config, tf.constant([0, 0], tf.int64))
    crop_label, crop_image = crop_label.numpy(), crop_image.numpy()
    assert (crop_label[:10, :12] == 4).all() and (crop_label[10:] == 255).all() and (crop_label[:, 12:] == 255).all()
    assert (crop_image[crop_label == 255] == 127.5).all() and (crop_image[crop_label == 4] == 50).all()


def test_camvid_splits_and_labels(camvid_dir):
    config = DataConfig(dataset="camvid", data_dir=str(camvid_dir), crop_size=(64, 64))
    assert data.num_examples(config, "train") == 367 and data.num_examples(config, "val") == 101
    example = _batches(data.build_dataset(config, "val", training=False, max_examples=1), 1)[0]
    assert example["image"].shape == (1, 360, 480, 3) and example["label"].shape == (1, 360, 480)
    name = example["name"][0].decode()
    raw = np.array(Image.open(camvid_dir / "valannot" / f"{name}.png"))
    label = example["label"][0]
    assert (raw == 11).any() and (label[raw == 11] == 255).all()  # void -> ignore
    np.testing.assert_array_equal(label[raw != 11], raw[raw != 11])
    assert set(np.unique(label)) <= set(range(11)) | {255}
    batch = _batches(data.build_dataset(config, "train", training=True, batch_size=2, seed=1), 1)[0]
    assert batch["image"].shape == (2, 64, 64, 3) and set(np.unique(batch["label"])) <= set(range(11)) | {255}
