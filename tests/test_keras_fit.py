"""model.compile + model.fit (issue 24 item 6): every paper's model trains with Keras' own loop, on both output
contracts (plain logits; logits + auxiliary heads through Keras' dict losses), with the trainer's objective."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from li_seg.config import DataConfig
from li_seg.data import build_dataset, get_dataset_info
from li_seg.models import build_model, loss_weights
from li_seg.training.keras_fit import SegmentationLoss, compile_for_segmentation, fit_dataset
from li_seg.training.losses import segmentation_loss
from tests.paper_models import PAPERS, prepare, small_config

SIZE, CLASSES = 33, 7


def _labels_with_ignored(rng, batch):
    labels = rng.integers(0, CLASSES, (batch, SIZE, SIZE))
    labels[:, :4] = 255  # ignored rows: counted neither in the sum nor in the mean
    return tf.constant(labels, tf.int32)


def _fits(paper: str, ablation: str):
    keras.utils.set_random_seed(0)
    config = small_config(paper, ablation)
    model = prepare(build_model(config, CLASSES), np.random.default_rng(0))
    compile_for_segmentation(model, config, keras.optimizers.Adam(1e-3))
    rng = np.random.default_rng(1)
    images = tf.constant(rng.uniform(0, 255, (2, SIZE, SIZE, 3)), tf.float32)
    labels = _labels_with_ignored(rng, 2)
    targets = {name: labels for name in model.output} if isinstance(model.output, dict) else labels
    keras_loss = model.evaluate(images, targets, verbose=0, return_dict=True)["loss"]
    ours = segmentation_loss(labels, model(images, training=False), ignore_label=255, weights=loss_weights(config))
    assert keras_loss == pytest.approx(float(ours), rel=1e-5)  # the trainer's objective, weights included
    before = [w.numpy() for w in model.trainable_weights]
    history = model.fit(images, targets, epochs=2, batch_size=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))
    return model


def test_plain_logits_fit_also_from_the_input_pipeline():
    """PAN's ResNet baseline on ResNet-18 (one output); then from li_seg.data's training pipeline (the embedded
    dataset: 7 classes) through fit_dataset. LI-Convs' model is one of the slow test's."""
    assert get_dataset_info(DataConfig()).num_classes == CLASSES
    model = _fits("pan", "resnet101")
    data = fit_dataset(build_dataset(DataConfig(crop_size=(33, 33)), "train", training=True, batch_size=2), model)
    history = model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_logits_and_auxiliary_heads_fit_through_dict_losses():
    """CycleNet (logits + aux_logits at 0.4): Keras' dict losses, weighted as the trainer weights them."""
    model = _fits("cyclenet", "resnet101")
    assert set(model.output) == {"logits", "aux_logits"}


@pytest.mark.slow
@pytest.mark.parametrize("paper", PAPERS)
def test_every_papers_main_model_fits(paper):
    from experiments import papers

    _fits(paper, papers.main_ablation(paper))


def test_the_loss_ignores_the_ignore_label():
    logits = tf.constant(np.random.default_rng(2).normal(size=(1, 2, 2, 3)), tf.float32)
    labels = tf.constant([[[0, 255], [2, 255]]], tf.int32)
    expected = -np.mean([tf.nn.log_softmax(logits)[0, 0, 0, 0], tf.nn.log_softmax(logits)[0, 1, 0, 2]])
    assert float(SegmentationLoss()(labels, logits)) == pytest.approx(expected, rel=1e-6)
