"""LI-Convs variants: where the LI (and RD) layers sit, that every table row builds and trains, and the LI stage 2."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments import config as config_lib
from experiments import papers
from li_seg.config import BackboneConfig, InhibitionConfig, ModelConfig
from li_seg.layers import LateralInhibition, intensities
from li_seg.models import build_model
from li_seg.training.losses import segmentation_loss
from li_seg.training.optimizers import build_optimizer, select_trainable
from li_seg.training.schedules import build_schedule
from li_seg.training.trainer import Trainer

from tests.test_training import event_tags, tiny_config

LI = InhibitionConfig()


def _inbound(model, name):
    """Names of the layers feeding layer `name` of a functional model."""
    node = model.get_layer(name)._inbound_nodes[0]
    return [t._keras_history[0].name for t in node.input_tensors]


# In the default suite, one train step for each distinct structure: the MobileNetV2 baseline, the main model (LI in
# backbone and ASPP), Table I's LI rate 5 and 5x5 zones, LI in RB1 (which has no expansion), and the ResNet-50
# decoder models with RD and with LI. The other rows differ from these only in where or how LI is initialised,
# which test_li_layers_sit_where_the_tables_say (placement) and scripts/model_table's tests (exact parameter counts)
# check without training; their train steps run with -m slow, to keep the default suite short.
TRAINED_BY_DEFAULT = ("mnv2_aspp", "li_mnv2_li_aspp", "mnv2_li_aspp_rate5", "mnv2_li_aspp_zone5", "li_mnv2_rb1_6_aspp",
                      "rd_resnet50_rd_aspp_decoder", "li_resnet50_li_aspp_decoder")


@pytest.mark.parametrize("ablation", [
    name if name in TRAINED_BY_DEFAULT else pytest.param(name, marks=pytest.mark.slow)
    for name in papers.list_ablations("li_convs")
])
def test_every_ablation_builds_and_trains_a_step(ablation):
    """Each table row: a small input through the model, one optimizer step of its recipe, finite loss, and LI
    intensities that receive gradient and stay in [0, 1]. MobileNetV2 gets 96x96 inputs (a 6x6 OS-16 map, so
    that the LI rate 5 of Table I reaches inside it), ResNet-50 40x40 to stay fast."""
    cfg = papers.get_experiment("li_convs", ablation)
    keras.utils.set_random_seed(0)
    model = build_model(cfg.model, num_classes=5)
    train = dataclasses.replace(cfg.train, train_steps=1, epochs=None)
    optimizer = build_optimizer(train, build_schedule(train, 1))
    size = 96 if cfg.model.backbone.name == "mobilenet_v2" else 40
    images = tf.random.uniform((2, size, size, 3), 0, 255)
    labels = tf.random.uniform((2, size, size), 0, 5, dtype=tf.int32)
    with tf.GradientTape() as tape:
        loss = segmentation_loss(labels, model(images, training=True), ignore_label=255)
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    assert np.isfinite(float(loss))
    assert model(images[:1]).shape == (1, size, size, 5)
    expect_li = ablation.startswith("li_") or "_li_" in ablation
    assert bool(intensities(model)) == expect_li
    for variable, gradient in zip(model.trainable_variables, gradients):
        if variable.path.endswith("lateral_inhibition/intensity"):
            assert np.any(gradient.numpy() != 0), variable.path
            assert 0.0 <= variable.numpy().min() and variable.numpy().max() <= 1.0


def _li_layers(ablation):
    model = build_model(papers.get_experiment("li_convs", ablation).model, num_classes=21)
    return {name: values.shape[0] for name, values in intensities(model).items()}


@pytest.mark.parametrize(
    "ablation, expected",
    [
        ("li_mnv2_aspp", {"block_9_lateral_inhibition": 384, "block_12_lateral_inhibition": 576,
                          "block_15_lateral_inhibition": 960}),
        ("li_mnv2_rb13_16_aspp", {"block_12_lateral_inhibition": 576, "block_15_lateral_inhibition": 960}),
        ("li_mnv2_rb16_aspp", {"block_15_lateral_inhibition": 960}),
        ("li_mnv2_rb1_6_aspp", {"expanded_conv_lateral_inhibition": 32, "block_1_lateral_inhibition": 96,
                                "block_2_lateral_inhibition": 144, "block_3_lateral_inhibition": 144,
                                "block_4_lateral_inhibition": 192, "block_5_lateral_inhibition": 192}),
        ("mnv2_li_aspp", {f"aspp{i}_lateral_inhibition": 320 for i in (1, 2, 3)}),
        ("li_resnet50_aspp", {"block4_unit3_lateral_inhibition": 512}),
        ("li_resnet50_conv4_6_conv5_3_aspp", {"block3_unit6_lateral_inhibition": 256,
                                              "block4_unit3_lateral_inhibition": 512}),
        ("li_resnet50_conv3_4_aspp", {"block2_unit4_lateral_inhibition": 128}),
        ("li_resnet50_li_aspp", {"block4_unit3_lateral_inhibition": 512,
                                 **{f"aspp{i}_lateral_inhibition": 2048 for i in (1, 2, 3)}}),
    ],
)
def test_li_layers_sit_where_the_tables_say(ablation, expected):
    """Tables II-V: the RBs / units (and their expanded widths) that get an LI layer."""
    assert _li_layers(ablation) == expected


def test_li_mnv2_position_is_between_expansion_and_depthwise():
    backbone = build_model(papers.get_experiment("li_convs", "li_mnv2_aspp").model, 3).get_layer("mobilenet_v2")
    assert _inbound(backbone, "block_12_lateral_inhibition") == ["block_12_expand_relu"]
    assert _inbound(backbone, "block_12_inhibition_relu") == ["block_12_lateral_inhibition"]
    assert _inbound(backbone, "block_12_depthwise") == ["block_12_inhibition_relu"]
    assert _inbound(backbone, "block_11_depthwise") == ["block_11_expand_relu"]


def test_li_resnet_position_is_between_conv1_and_conv2():
    model = build_model(papers.get_experiment("li_convs", "li_resnet50_aspp").model, 3).get_layer("resnet50")
    assert _inbound(model, "block4_unit3_lateral_inhibition") == ["block4_unit3_conv1_relu"]
    assert _inbound(model, "block4_unit3_conv2") == ["block4_unit3_inhibition_relu"]


def test_li_aspp_rectifies_only_the_atrous_branches_by_default():
    """Paper: ReLU -> LI -> ReLU in front of each atrous depthwise; the 1x1 and pooling branches read the features."""
    model = build_model(papers.get_experiment("li_convs", "mnv2_li_aspp").model, 3)
    for i in (1, 2, 3):
        assert _inbound(model, f"aspp{i}_lateral_inhibition") == ["aspp_atrous_input_relu"]
        assert _inbound(model, f"aspp{i}_depthwise") == [f"aspp{i}_inhibition_relu"]
    assert _inbound(model, "aspp0") == ["mobilenet_v2"]
    model_config = papers.get_experiment("li_convs", "mnv2_li_aspp").model
    authors = dataclasses.replace(model_config, head=dataclasses.replace(model_config.head, aspp_input_relu=True))
    model = build_model(authors, 3)
    assert _inbound(model, "aspp0") == ["aspp_input_relu"]
    assert _inbound(model, "aspp1_lateral_inhibition") == ["aspp_input_relu"]


def test_rd_is_a_regular_depthwise_conv_starting_as_identity():
    model = build_model(papers.get_experiment("li_convs", "rd_resnet50_rd_aspp").model, 3)
    layer = model.get_layer("aspp2_regular_depthwise")
    kernel = layer.kernel.numpy()
    assert kernel.shape == (3, 3, 2048, 1) and layer.trainable and not layer.use_bias
    expected = np.zeros_like(kernel)
    expected[1, 1] = 1.0
    np.testing.assert_array_equal(kernel, expected)
    assert model.get_layer("resnet50").get_layer("block4_unit3_regular_depthwise").kernel.shape[2] == 512


def test_li_backbone_at_zero_intensity_equals_the_baseline():
    """LI starts as the identity (init 0) and its first ReLU is dropped only where it is the identity."""
    keras.utils.set_random_seed(1)
    base = build_model(papers.get_experiment("li_convs", "mnv2_aspp").model, 4)
    li = build_model(papers.get_experiment("li_convs", "li_mnv2_aspp").model, 4)
    li_variables = {v.path: v for v in li.variables}
    for variable in base.variables:
        if "seed_generator" not in variable.path:  # dropout RNG state; its path counts layers built so far
            li_variables[variable.path].assign(variable.numpy())
    images = tf.random.uniform((1, 65, 49, 3), 0, 255, seed=3)
    np.testing.assert_allclose(li(images).numpy(), base(images).numpy(), rtol=1e-4, atol=1e-4)


def test_li_layers_can_be_set_from_config_overrides():
    cfg = config_lib.override(
        papers.get_experiment("li_convs", "mnv2_aspp"),
        {"model.backbone.inhibition": {"zone_size": 5, "rate": 2}, "model.backbone.inhibition_positions": ["rb17"]},
    )
    config_lib.validate(cfg)
    model = build_model(cfg.model, 3)
    layer = model.get_layer("mobilenet_v2").get_layer("block_16_lateral_inhibition")
    assert isinstance(layer, LateralInhibition) and (layer.zone_size, layer.rate) == (5, 2)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"model.backbone.inhibition": {}, "model.backbone.inhibition_positions": ["rb18"]},
         "['rb18'] are not positions of mobilenet_v2; valid: rb1 ... rb17"),
        ({"model.backbone.inhibition_positions": ["rb3"]}, "model.backbone.inhibition is null"),
        ({"model.head.aspp_inhibition": {"kind": "lateral"}},
         "model.head.aspp_inhibition.kind='lateral' is not one of"),
        ({"model.head.aspp_inhibition": {"zone_size": 4}}, "zone_size must be odd"),
        ({"model.head.aspp_inhibition": {"intensity_init": [0.3, 0.1]}}, "intensity_init must satisfy"),
        ({"model.head.aspp_inhibition": {"sigma": -1}}, "sigma must be > 0"),
        ({"model.head.aspp_input_relu": True}, "set model.head.aspp_inhibition too"),
    ],
)
def test_invalid_inhibition_settings_are_named(changes, message):
    cfg = config_lib.override(papers.get_experiment("li_convs", "mnv2_aspp"), changes)
    with pytest.raises(config_lib.ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config_lib.validate(cfg)


def test_resnet_positions_are_checked_by_the_builder():
    config = ModelConfig(backbone=BackboneConfig(name="resnet50", inhibition=LI, inhibition_positions=("conv5_4",)))
    with pytest.raises(ValueError, match="conv5_4"):
        build_model(config, 3)


def test_li_only_finetuning_trains_intensities_and_bn_statistics_only(tmp_path):
    """The paper's stage 2: all other variables frozen, BN moving statistics still updating, W_L logged."""
    cfg = config_lib.override(tiny_config(), {})
    cfg = dataclasses.replace(cfg, model=papers.get_experiment("li_convs", "li_mnv2_li_aspp").model)
    cfg = config_lib.override(cfg, {
        "model.bn_momentum": 0.9, "train.trainable_patterns": papers.stage("li_convs", "li_only").trainable_patterns,
        "train.train_steps": 2, "train.optimizer": "adam", "train.learning_rate": 0.05, "model.head.dropout_rate": 0.0,
    })
    trainer = Trainer(cfg, tmp_path, tf.distribute.get_strategy())
    assert len(select_trainable(trainer.model.trainable_variables, cfg.train.trainable_patterns)) == 6
    before = {v.path: v.numpy() for v in trainer.model.variables}
    trainer.train()
    after = {v.path: v.numpy() for v in trainer.model.variables}
    changed = {path for path in before if not np.array_equal(before[path], after[path])}
    trainable_paths = {v.path for v in trainer.model.trainable_variables}
    assert {p for p in changed if p in trainable_paths} == {
        p for p in trainable_paths if p.endswith("lateral_inhibition/intensity")
    }
    assert any(p.endswith("moving_mean") for p in changed)
    for name, values in intensities(trainer.model).items():
        assert values.min() >= 0.0 and values.max() <= 1.0 and values.max() > 0.0, name
    tags = event_tags(tmp_path / "train")
    # Tagged with the paper's names: RB13 (Keras' block_12), ASPP's rate-6 branch, RB10 (block_9).
    assert "li_intensity/rb13" in tags
    assert "li_intensity_mean/aspp_rate6" in tags
    assert "li_intensity_max/rb10" in tags
