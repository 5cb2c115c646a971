"""The embedded synthetic dataset: deterministic, varied sizes, every class, thin structures, occlusion, ignore
pixels, and not solvable from pixel colour."""

import numpy as np
import pytest

from li_seg.data.datasets import synthetic, synthetic_scenes
from li_seg.data.datasets.synthetic_scenes import BACKGROUND, WIRE


@pytest.fixture(scope="module")
def train():
    return synthetic.generate_split("train")


@pytest.fixture(scope="module")
def val():
    return synthetic.generate_split("val")


def test_generation_is_deterministic(val):
    assert len(val) == 64
    for index in (0, 17, 63):
        again = synthetic_scenes.make_scene(np.random.default_rng((synthetic.SEED, 1, index)))
        np.testing.assert_array_equal(again.image, val[index].image)
        np.testing.assert_array_equal(again.label, val[index].label)
    assert not np.array_equal(val[0].image[:100, :100], val[1].image[:100, :100])


def test_sizes_vary_within_range(train):
    shapes = np.array([scene.label.shape for scene in train])
    assert len(train) == 480
    assert shapes.min() >= 112 and shapes.max() <= 160
    assert len({tuple(shape) for shape in shapes}) > 100 and (shapes[:, 0] != shapes[:, 1]).mean() > 0.9
    assert all(scene.image.shape == scene.label.shape + (3,) and scene.image.dtype == np.uint8 for scene in train)


def test_every_class_and_ignore_present(train):
    counts = np.bincount(np.concatenate([scene.label.ravel() for scene in train]), minlength=256)
    assert (counts[:7] > 0).all() and counts[7:255].sum() == 0
    fractions = counts / counts.sum()
    assert 0.6 < fractions[BACKGROUND] < 0.9  # measured 0.80
    assert (fractions[1:7] > 0.01).all()  # each object class 1.7-4.3 %
    assert 0.005 < fractions[255] < 0.03  # measured 1.4 %: 1-px bands on about half the shapes' outlines
    assert np.mean([(scene.label == 255).any() for scene in train]) > 0.8


def test_wires_are_thin(train):
    """Local width <= 3: almost no wire pixel lies inside a 4x4 block of wire (only where two wires cross at a
    shallow angle)."""
    wire_pixels = inside_block = 0
    for scene in train:
        wire = scene.label == WIRE
        blocks = np.lib.stride_tricks.sliding_window_view(wire, (4, 4)).all(axis=(2, 3))
        covered = np.zeros_like(wire)
        for dy in range(4):
            for dx in range(4):
                covered[dy : dy + blocks.shape[0], dx : dx + blocks.shape[1]] |= blocks
        wire_pixels += wire.sum()
        inside_block += (covered & wire).sum()
    assert wire_pixels > 10_000
    assert inside_block / wire_pixels < 0.01


def test_objects_occlude_each_other(train):
    occluded = np.array([scene.occluded for scene in train])
    assert occluded.mean() > 1.5 and (occluded > 0).mean() > 0.8  # measured: 2.8 per scene, 94 % of scenes


def test_pixel_colour_does_not_predict_the_class(train, val):
    """The anti-toy check. A per-pixel colour classifier (the Bayes-optimal majority label of each of 16^3
    quantised RGB bins, fitted on train, scored on val) must fail on objects, because every class draws its colours
    from the same distribution.

    Measured (16 bins): fitted on all classes it predicts background almost everywhere: 4.7 % accuracy on object
    pixels (79.0 % overall, below the 82.5 % background share). Fitted on object classes only, it scores 17.8 % on
    object pixels against 20.4 % for always predicting the most frequent object class: colour carries no class
    information (8 and 32 bins: 20.3 % and 17.4 %). Thresholds leave a margin of 10 and 3 points.
    """
    bins = 16

    def quantised(scenes):
        images = np.concatenate([scene.image.reshape(-1, 3) for scene in scenes]).astype(np.int64) * bins // 256
        labels = np.concatenate([scene.label.ravel() for scene in scenes]).astype(np.int64)
        keep = labels != 255
        return images[keep] @ np.array([bins * bins, bins, 1]), labels[keep]

    train_bins, train_labels = quantised(train)
    val_bins, val_labels = quantised(val)
    counts = np.zeros((bins**3, 7))
    np.add.at(counts, (train_bins, train_labels), 1)
    objects = val_labels != BACKGROUND

    all_classes = counts.argmax(axis=1)[val_bins]
    assert (all_classes[objects] == val_labels[objects]).mean() < 0.15

    counts[:, BACKGROUND] = -1
    objects_only = counts.argmax(axis=1)[val_bins[objects]]
    accuracy = (objects_only == val_labels[objects]).mean()
    prior = np.bincount(val_labels[objects]).max() / objects.sum()
    assert accuracy < prior + 0.03
