"""The model contract: backbone -> head -> auxiliary heads; one output contract (training reads the dict, everything
else the logits); the auxiliary FCN head end to end; the architecture registry and the tagged head config."""

import dataclasses
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments import config as config_lib
from experiments.config import ConfigError
from li_seg.config import AuxHeadConfig, BackboneConfig, HeadConfig, ModelConfig
from li_seg.export.saved_model import export_saved_model
from li_seg.models import build_model, inference_model, loss_weights, main_logits, model_errors, registry
from li_seg.models.deeplab import DeepLabConfig
from li_seg.training import step as step_lib
from li_seg.training.losses import cross_entropy_sum, segmentation_loss
from li_seg.training.trainer import Trainer

from tests.test_training import tiny_config

NUM_CLASSES = 5
RESNET18 = BackboneConfig(name="resnet18", layout="torchvision", stem="plain", output_stride=16)
AUX = AuxHeadConfig()  # 3x3 conv 256 -> BN -> ReLU -> dropout 0.1 -> 1x1, on block3, loss weight 0.4
RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def aux_model():
    keras.utils.set_random_seed(0)
    return build_model(ModelConfig(backbone=RESNET18, aux_heads=(AUX,)), NUM_CLASSES)


def _trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def _images(height=40, width=56, batch=2):
    return RNG.uniform(0, 255, (batch, height, width, 3)).astype("float32")


def test_aux_head_structure(aux_model):
    conv, bn = aux_model.get_layer("aux_logits_conv"), aux_model.get_layer("aux_logits_conv_bn")
    assert conv.kernel_size == (3, 3) and conv.filters == 256 and not conv.use_bias and bn.epsilon == 1e-5
    assert conv.input.shape[-1] == 256  # ResNet-18's block3
    assert isinstance(aux_model.get_layer("aux_logits_dropout"), keras.layers.SpatialDropout2D)
    assert aux_model.get_layer("aux_logits_dropout").rate == 0.1
    classifier = aux_model.get_layer("aux_logits_classifier")
    assert classifier.kernel_size == (1, 1) and classifier.use_bias
    plain = build_model(ModelConfig(backbone=RESNET18), NUM_CLASSES)
    head = 9 * 256 * 256 + 2 * 256 + 256 * NUM_CLASSES + NUM_CLASSES
    assert _trainable(aux_model) == _trainable(plain) + head


def test_training_gets_the_dict_and_everything_else_the_logits(aux_model):
    images = _images()
    outputs = aux_model(images, training=True)
    assert set(outputs) == {"logits", "aux_logits"}
    assert outputs["aux_logits"].shape == (2, 40, 56, NUM_CLASSES) and outputs["aux_logits"].dtype == tf.float32
    inference = inference_model(aux_model)
    np.testing.assert_allclose(inference(images), main_logits(aux_model(images)), atol=1e-6)
    assert not any(layer.name.startswith("aux_logits") for layer in inference.layers)
    assert main_logits(outputs["logits"]) is outputs["logits"]


def test_the_aux_head_changes_the_loss_by_its_weight(aux_model):
    images, labels = _images(), RNG.integers(0, NUM_CLASSES, (2, 40, 56))
    outputs = aux_model(images, training=False)
    weights = loss_weights(ModelConfig(backbone=RESNET18, aux_heads=(AUX,)))
    assert weights == {"logits": 1.0, "aux_logits": 0.4}
    main, count = cross_entropy_sum(labels, outputs["logits"])
    aux, _ = cross_entropy_sum(labels, outputs["aux_logits"])
    with_aux = segmentation_loss(labels, outputs, ignore_label=255, weights=weights)
    np.testing.assert_allclose(float(with_aux), float((main + 0.4 * aux) / count), rtol=1e-6)
    assert float(with_aux) > float(segmentation_loss(labels, outputs, ignore_label=255)) > 0
    with pytest.raises(ValueError, match=r"outputs \['aux_logits'\] have a loss weight"):
        segmentation_loss(labels, outputs["logits"], ignore_label=255, weights=weights)


def test_trainer_weights_the_aux_loss_and_exports_the_logits_only(tmp_path, monkeypatch):
    """End to end: the trainer's loss gets both outputs with the config's weights; evaluation runs; the export's
    serving signature is that of a model without the head, whose variables it does not even hold."""
    seen = []
    original = step_lib.segmentation_loss

    def spy(labels, outputs, **kwargs):
        seen.append((sorted(outputs), kwargs["weights"]))
        return original(labels, outputs, **kwargs)

    monkeypatch.setattr(step_lib, "segmentation_loss", spy)  # the training step's loss
    cfg = tiny_config(**{"train.train_steps": 1, "train.eval_every_steps": 0})  # a ResNet-18 DeepLabv3
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, aux_heads=(AUX,)))
    trainer = Trainer(cfg, tmp_path, tf.distribute.get_strategy())
    result = trainer.train(evaluate_during_training=True)
    assert np.isfinite(result.loss) and seen == [(["aux_logits", "logits"], {"logits": 1.0, "aux_logits": 0.4})]
    assert 0.0 <= result.evaluations[-1][1]["miou"] <= 1.0

    export_saved_model(trainer.model, str(tmp_path / "export"))
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    serve = loaded.signatures["serving_default"]
    assert set(serve.structured_outputs) == {"classes", "probabilities"}
    assert serve.structured_input_signature[1]["images"].dtype == tf.uint8
    saved = [name for name, _ in tf.train.list_variables(str(tmp_path / "export" / "variables" / "variables"))
             if name.endswith("VARIABLE_VALUE")]

    def weights(model):  # dropout's random-seed state is not saved by tf.saved_model
        return [v for v in model.variables if not v.path.endswith("seed_generator_state")]

    assert len(saved) == len(weights(inference_model(trainer.model))) == len(weights(trainer.model)) - 7
    images = RNG.integers(0, 256, (1, 37, 45, 3), dtype=np.uint8)
    expected = tf.nn.softmax(main_logits(trainer.model(images.astype(np.float32), training=False)))
    np.testing.assert_allclose(serve(images=tf.constant(images))["probabilities"], expected, atol=1e-5)


@pytest.mark.parametrize("heads, message", [
    ((AuxHeadConfig(feature="block5"),), "aux_heads[0].feature='block5' is not one of"),
    ((AuxHeadConfig(name="logits"),), "names must be unique and not ('logits',)"),
    ((AUX, AUX), "names must be unique"),
    ((AuxHeadConfig(loss_weight=-1.0),), "loss_weight must be >= 0"),
])
def test_invalid_aux_heads_are_named(heads, message):
    assert any(message in error for error in model_errors(ModelConfig(aux_heads=heads)))


# The registry and the tagged head config.


@dataclasses.dataclass(frozen=True)
class _TestHead(HeadConfig):
    width: int = 8

    def errors(self, model, where="model.head"):
        return [] if self.width > 0 else [f"{where}.width must be > 0, got {self.width}"]


def _build_test_head(config, features, images, num_classes, bn):
    x = keras.layers.Conv2D(config.head.width, 1, name="test_head_conv")(features["block4"])
    return keras.layers.Conv2D(num_classes, 1, name="test_head_logits")(x)


@pytest.fixture
def test_architecture():
    registry.register("test_arch", _TestHead, _build_test_head)
    yield "test_arch"
    registry.unregister("test_arch")


def test_a_registered_architecture_builds_and_validates(test_architecture):
    config = ModelConfig(architecture="test_arch")
    assert config.head is None  # the config is data: the head's defaults are the registry's to give
    assert registry.with_default_head(config).head == _TestHead()
    model = build_model(config, NUM_CLASSES)
    assert model.name == "test_arch" and model(_images(33, 33)).shape == (2, 33, 33, NUM_CLASSES)
    assert model.get_layer("test_head_conv").filters == 8
    assert model_errors(dataclasses.replace(config, head=_TestHead(width=0))) == ["model.head.width must be > 0, got 0"]
    mismatch = model_errors(ModelConfig(architecture="test_arch", head=DeepLabConfig()))
    assert mismatch == ["model.head is a DeepLabConfig; architecture 'test_arch' takes a _TestHead"]
    with pytest.raises(ValueError, match="registered already"):
        registry.register("test_arch", _TestHead, _build_test_head)


def test_config_json_reads_the_head_by_its_architecture(test_architecture, tmp_path):
    cfg = config_lib.override(config_lib.ExperimentConfig(), {"model.architecture": "test_arch", "model.head.width": 3})
    assert cfg.model.head == _TestHead(width=3)  # the architecture is applied first, the head starts from its class
    config_lib.save(cfg, tmp_path / "config.json")
    assert config_lib.load(tmp_path / "config.json") == cfg
    back = config_lib.override(cfg, {"model.architecture": "deeplabv2", "model.head.atrous_rates": [6, 12, 18, 24]})
    assert back.model.head == DeepLabConfig(atrous_rates=(6, 12, 18, 24))
    with pytest.raises(ConfigError,
                       match=r"unknown config key model.head.width; valid keys: align_corners, aspp_channels"):
        config_lib.from_dict({"model": {"architecture": "deeplabv3", "head": {"width": 4}}})
    with pytest.raises(ConfigError, match="model.head cannot be read: architecture 'fcn' is not one of 'deeplabv2'"):
        config_lib.from_dict({"model": {"architecture": "fcn", "head": {"width": 4}}})


def test_a_union_of_two_dataclasses_is_refused_not_guessed():
    from typing import Union

    from experiments.config_values import convert

    with pytest.raises(TypeError, match="cannot be read without a tag"):
        convert({"width": 3}, Union[_TestHead, DeepLabConfig], "model.head")


@pytest.mark.parametrize("paper, ablation", [("li_convs", "li_resnet50_li_aspp_decoder"), ("smoothing", "aggregated")])
def test_config_json_of_the_previous_layout_loads(paper, ablation):
    """config.json files written before the model contract (tests/fixtures/legacy_configs, written by that code):
    DeepLab's fields under "model", "train.aux_loss_weight", and backbone inhibition with empty positions (the
    paper's, implicitly)."""
    from experiments import papers

    path = pathlib.Path(__file__).parent / "fixtures" / "legacy_configs" / f"{paper}-{ablation}.json"
    expected = config_lib.resolve(papers.get_experiment(paper, ablation), 10582)
    # issue 15 changed these rows' backbones to match their pretrained weights (smoothing: caffe layout, BN epsilon
    # 1e-3; LI's ResNet-50 beta: inputs in [-1, 1]); the files keep the backbone that was trained then
    then = dataclasses.replace(expected.model.backbone, layout="slim", normalization=None, bn_epsilon=None)
    # and issue 24 gave the Table V decoder rows research/deeplab's decoder path; the files keep the one of then
    head = expected.model.head
    if getattr(head, "low_level_feature", None) == "residual_branch":
        head = dataclasses.replace(head, low_level_feature="unit_output", align_corners=False)
    expected = dataclasses.replace(expected, model=dataclasses.replace(expected.model, backbone=then, head=head))
    assert config_lib.load(path) == dataclasses.replace(expected, paper="", ablation="")  # not recorded then


def test_config_json_that_cannot_load_says_why(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"model": {"architecture": "deeplabv3", "atrous_rate": [6, 12]}}')
    with pytest.raises(ConfigError, match=r"config.json cannot be read as a li_seg config: unknown config key "
                                          r"model.atrous_rate"):
        config_lib.load(path)
    path.write_text('{"model": {"architecture": "pan", "atrous_rates": [6, 12]}}')
    with pytest.raises(ConfigError, match=r"DeepLab head fields \(atrous_rates\) beside architecture 'pan'"):
        config_lib.load(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        config_lib.load(path)


def test_a_head_field_given_on_the_model_says_where_it_lives():
    with pytest.raises(ConfigError, match=r"atrous_rates is a field of the deeplabv3 head: model.head.atrous_rates"):
        config_lib.override(config_lib.ExperimentConfig(), {"model.atrous_rates": [6, 12, 18]})
