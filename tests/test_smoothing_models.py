"""The smoothing paper's DeepLabv2 ablations: each builds and trains a step, the smoothing sits where the paper puts
it, SS Conv and G Interact are the identity at initialisation, and the parameter counts."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments import config as config_lib
from experiments import papers
from li_seg.config import BackboneConfig, SmoothingConfig
from li_seg.layers import smoothing
from li_seg.models import build_model
from li_seg.training.losses import segmentation_loss
from li_seg.training.optimizers import build_optimizer, resolve_lr_multipliers
from li_seg.training.schedules import build_schedule

ABLATIONS = papers.list_ablations("smoothing")
SMOOTHING_TYPES = (smoothing.PreFilter, smoothing.SharedSmoothing, smoothing.GroupInteraction,
                   smoothing.AggregatedSmoothing)
# Trainable parameters with 21 classes: DeepLabv2 ResNet-101 (BN frozen: gamma / beta not trainable) + the
# smoothing weights: SS Conv 23 x 3^2 + 3 x 7^2 = 354; G Interact 23 x 4^2 + 3 x 16^2 = 1,136; aggregated = SS
# Conv's 354 + 4 shared coefficient logits.
TRAINABLE = {"deeplabv2": 43_943_188, "average": 43_943_188, "gaussian": 43_943_188, "ss_conv": 43_943_542,
             "g_interact": 43_944_324, "aggregated": 43_943_546}


def _model(ablation, num_classes=21):
    keras.utils.set_random_seed(0)
    return build_model(papers.get_experiment("smoothing", ablation).model, num_classes)


def _smoothing_layers(model):
    backbone = model.get_layer("resnet101")
    return [layer for layer in backbone.layers if isinstance(layer, SMOOTHING_TYPES)]


@pytest.fixture(scope="module")
def models():
    """Each ablation built once (21 classes); the identity test reads them first, the train-step test then trains
    them (pytest runs a module's tests in order)."""
    return {ablation: _model(ablation) for ablation in ABLATIONS}


PLACED = {"average": smoothing.PreFilter, "gaussian": smoothing.PreFilter, "ss_conv": smoothing.SharedSmoothing,
          "g_interact": smoothing.GroupInteraction, "aggregated": smoothing.AggregatedSmoothing}
UNITS = [f"block3_unit{u}" for u in range(1, 24)] + [f"block4_unit{u}" for u in range(1, 4)]


@pytest.mark.parametrize("ablation", ["ss_conv", "g_interact"])
def test_identity_at_initialisation_leaves_the_network_unchanged(models, ablation):
    """Runs before any test trains the module's models: their smoothing weights are at initialisation."""
    baseline, smoothed = models["deeplabv2"], models[ablation]
    for layer in baseline.get_layer("resnet101").layers:
        smoothed.get_layer("resnet101").get_layer(layer.name).set_weights(layer.get_weights())
    for name in ("logits_rate6", "logits_rate12", "logits_rate18", "logits_rate24"):
        smoothed.get_layer(name).set_weights(baseline.get_layer(name).get_weights())
    images = tf.random.uniform((1, 41, 49, 3), 0, 255, seed=1)
    np.testing.assert_allclose(smoothed(images).numpy(), baseline(images).numpy(), rtol=1e-5, atol=1e-5)


def test_aggregated_coefficients_are_one_shared_convex_set(models):
    model = models["aggregated"]  # not trained yet: the coefficients at initialisation
    coefficients = smoothing.aggregation_coefficients(model)
    assert sorted(coefficients) == [f"smoothing_coefficients/{k}" for k in ("ave", "gauss", "learned", "none")]
    assert np.isclose(sum(coefficients.values()), 1.0) and all(np.isclose(v, 0.25) for v in coefficients.values())
    shared = {id(layer.coefficients) for layer in _smoothing_layers(model)}
    assert len(shared) == 1
    assert sum(v.path.endswith("smoothing_coefficients/logits") for v in model.trainable_weights) == 1


@pytest.mark.parametrize("ablation", ABLATIONS)
def test_every_ablation_builds_places_its_smoothing_and_trains_a_step(models, ablation):
    """The smoothing of every block3 / block4 conv2 and nowhere else, the trainable parameter count, then one step
    of the VOC recipe (SGD, classifier lr x10 / x20) on a 33x33 input (a 5x5 OS-8 map): finite loss, and every
    smoothing weight receives gradient."""
    cfg = papers.get_experiment("smoothing", ablation)
    config_lib.validate(cfg)
    model = models[ablation]
    layers = _smoothing_layers(model)
    assert [layer.name.rsplit("_conv2_", 1)[0] for layer in layers] == (UNITS if ablation in PLACED else [])
    assert all(isinstance(layer, PLACED[ablation]) for layer in layers)
    if ablation in ("average", "gaussian"):  # fixed, no weights; the paper's size rule s = r (rates 2 and 4)
        assert all(not layer.weights for layer in layers)
        sizes = [np.asarray(layer.get_config()["kernel"]).shape for layer in layers]
        assert sizes == [(2, 2)] * 23 + [(4, 4)] * 3
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == TRAINABLE[ablation]

    train = dataclasses.replace(cfg.train, train_steps=1)
    optimizer = build_optimizer(train, build_schedule(train, 1))
    images = tf.random.uniform((2, 33, 33, 3), 0, 255)
    labels = tf.random.uniform((2, 33, 33), 0, 21, dtype=tf.int32)
    with tf.GradientTape() as tape:
        loss = segmentation_loss(labels, model(images, training=True), ignore_label=255)
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    assert np.isfinite(float(loss)) and model(images[:1]).shape == (1, 33, 33, 21)
    smoothing_weights = [(v, g) for v, g in zip(model.trainable_variables, gradients)
                         if any(part in v.path for part in ("_ss_conv", "_g_interact", "_aggregated", "smoothing_"))]
    assert bool(smoothing_weights) == (ablation in ("ss_conv", "g_interact", "aggregated"))
    for variable, gradient in smoothing_weights:
        assert gradient is not None and np.any(gradient.numpy() != 0), variable.path


def test_g_interact_follows_the_conv_and_prefilters_precede_it(models):
    backbone = models["g_interact"].get_layer("resnet101")
    node = backbone.get_layer("block4_unit2_conv2_g_interact")._inbound_nodes[0]
    assert node.input_tensors[0]._keras_history[0].name == "block4_unit2_conv2"
    backbone = models["gaussian"].get_layer("resnet101")
    node = backbone.get_layer("block4_unit2_conv2")._inbound_nodes[0]
    assert node.input_tensors[0]._keras_history[0].name == "block4_unit2_conv2_gaussian"


def test_recipes_and_classifier_multipliers(models):
    cfg = papers.get_experiment("smoothing", "deeplabv2")
    train = cfg.train
    assert (train.optimizer, train.learning_rate, train.batch_size, train.train_steps) == ("sgd", 0.002, 10, 20_000)
    assert (train.weight_decay, cfg.data.crop_size, cfg.model.frozen_bn) == (1e-4, (321, 321), True)
    model = models["deeplabv2"]
    multipliers = dict(zip((v.path for v in model.trainable_variables),
                           resolve_lr_multipliers(model.trainable_variables, train.lr_multipliers)))
    boosted = {path: m for path, m in multipliers.items() if m != 1.0}
    assert boosted == {**{f"logits_rate{r}/kernel": 10.0 for r in (6, 12, 18, 24)},
                       **{f"logits_rate{r}/bias": 20.0 for r in (6, 12, 18, 24)}}
    city = papers.apply_recipe("smoothing", "cityscapes", cfg)
    assert (city.train.learning_rate, city.train.batch_size, city.data.crop_size, city.train.train_steps) == (
        1e-4, 3, (721, 721), 80_000)


@pytest.mark.parametrize("change, message", [
    ({"model.backbone.smoothing.kind": "median"}, "smoothing.kind='median' is not one of"),
    ({"model.backbone.smoothing.size_rule": "r"}, "size_rule='r' is not one of 'paper', 'code'"),
    ({"model.backbone.smoothing.sigma": 0}, "sigma must be > 0"),
    ({"model.backbone": dataclasses.asdict(BackboneConfig(name="mobilenet_v2", smoothing=SmoothingConfig()))},
     "mobilenet_v2 has none"),
])
def test_invalid_smoothing_configs_are_refused(change, message):
    cfg = config_lib.override(papers.get_experiment("smoothing", "gaussian"), change)
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.validate(cfg)
