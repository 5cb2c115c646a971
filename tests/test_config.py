"""ExperimentConfig: overrides, JSON round trip, resolution, validation messages, and the paper registry."""

import pytest

from experiments import config as config_lib
from experiments import papers
from experiments.config import ConfigError, ExperimentConfig


def test_json_round_trip_restores_tuples_and_nesting(tmp_path):
    cfg = config_lib.override(
        papers.get_experiment("li_convs", "resnet50_aspp"),
        {"train.lr_multipliers": [["logits/kernel", 10.0]], "eval.scales": [0.75, 1.0]},
    )
    config_lib.save(cfg, tmp_path / "config.json")
    loaded = config_lib.load(tmp_path / "config.json")
    assert loaded == cfg
    assert loaded.model.backbone.multi_grid == (1, 2, 4)
    assert loaded.train.lr_multipliers == (("logits/kernel", 10.0),)


def test_dotted_and_nested_overrides_agree():
    dotted = config_lib.override(ExperimentConfig(), {"model.backbone.output_stride": 8, "train.batch_size": 4})
    nested = config_lib.override(ExperimentConfig(), {"model": {"backbone": {"output_stride": 8}},
                                                      "train": {"batch_size": 4}})
    assert dotted == nested
    assert dotted.model.backbone.output_stride == 8 and dotted.model.backbone.name == "mobilenet_v2"


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown config key train\.learning_rat;.*learning_rate"):
        config_lib.override(ExperimentConfig(), {"train.learning_rat": 0.1})


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"train.batch_size": "eight"}, r"train\.batch_size must be a finite number"),
        ({"train.batch_size": 1e999}, r"train\.batch_size must be a finite number, got inf"),
        ({"train.learning_rate": "nan"}, r"train\.learning_rate must be a finite number, got 'nan'"),
        ({"train.epochs": float("inf")}, r"train\.epochs must be a finite number"),
        ({"eval.scales": "0.5,nan"}, r"eval\.scales\[1\] must be a finite number"),
        ({"data.crop_size": [1, 2, 3]}, r"data\.crop_size must have 2 values"),
        ({"train.deterministic": "maybe"}, r"train\.deterministic must be true or false"),
        ({"train.seed": 1.5}, r"train\.seed must be an integer"),
    ],
)
def test_malformed_values_are_rejected(changes, message):
    with pytest.raises(ConfigError, match=message):
        config_lib.override(ExperimentConfig(), changes)


def test_params_override_forms(tmp_path):
    assert config_lib.parse_params_override('{"train": {"seed": 3}}') == {"train": {"seed": 3}}
    assert config_lib.parse_params_override("train.seed=3,model.atrous_rates=[12,24,36],model.backbone.stem=plain") == {
        "train.seed": 3, "model.atrous_rates": [12, 24, 36], "model.backbone.stem": "plain"}
    path = tmp_path / "o.json"
    path.write_text('{"train.seed": 5}')
    assert config_lib.parse_params_override(str(path)) == {"train.seed": 5}
    with pytest.raises(ConfigError, match="not key=value"):
        config_lib.parse_params_override("train.seed")
    with pytest.raises(ConfigError, match="not valid JSON"):
        config_lib.parse_params_override("{train: 1}")


def test_resolve_converts_epochs_and_picks_bn_momentum_from_run_length():
    cfg = config_lib.override(ExperimentConfig(), {"train.epochs": 2.0, "train.train_steps": None,
                                                   "train.batch_size": 10})
    resolved = config_lib.resolve(cfg, num_train_examples=105)
    assert resolved.train.train_steps == 21 and resolved.train.epochs is None  # ceil(2 * 105 / 10)
    assert resolved.model.bn_momentum == 0.9  # 1 - 100/21 clipped to 0.9
    assert config_lib.auto_bn_momentum(1000) == 0.9
    assert config_lib.auto_bn_momentum(10_000) == pytest.approx(0.99)
    assert config_lib.auto_bn_momentum(115_440) == pytest.approx(1 - 100 / 115_440)
    assert config_lib.auto_bn_momentum(400_000) == 0.9997
    explicit = config_lib.override(ExperimentConfig(), {"model.bn_momentum": 0.5})
    assert config_lib.resolve(explicit, 0).model.bn_momentum == 0.5


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"model.architecture": "deeplabv4"}, r"model\.architecture='deeplabv4' is not one of 'deeplabv2', "
                                              r"'deeplabv3', 'deeplabv3plus'"),
        ({"model.backbone.output_stride": 12}, r"backbone\.output_stride=12 is not one of 8, 16, 32"),
        ({"train.optimizer": "rmsprop"}, r"'sgd', 'adam'"),
        ({"data.dataset": "imagenet"}, r"data\.dataset='imagenet' is not one of .*synthetic"),
        ({"train.epochs": 3.0}, "exactly one of train.train_steps and train.epochs"),
        ({"model.frozen_bn": True, "model.sync_bn": True}, "contradict"),
        ({"model.backbone.multi_grid": [1, 2, 4]}, "not to mobilenet_v2"),
        ({"model.backbone.name": "resnet50", "model.backbone.multi_grid": [1, 2]}, "needs 3 positive rates"),
        ({"model.architecture": "deeplabv2"}, "four branches"),
        ({"data.min_scale": 2.0, "data.max_scale": 1.0}, "min_scale <= data.max_scale"),
        ({"train.tpu_address": "grpc://1.2.3.4:8470"}, "--strategy=tpu"),
    ],
)
def test_validate_names_the_problem_and_the_valid_choices(changes, message):
    cfg = config_lib.override(ExperimentConfig(), changes)
    with pytest.raises(ConfigError, match=message):
        config_lib.validate(cfg)


def test_registry_errors_list_valid_names():
    with pytest.raises(ValueError, match="valid papers: li_convs"):
        papers.get_experiment("li_conv")
    with pytest.raises(ValueError, match="valid ablations: mnv2_aspp, mnv2_li_aspp, li_mnv2_aspp"):
        papers.get_experiment("li_convs", "mnv2")
    assert papers.get_experiment("li_convs") == papers.get_experiment("li_convs", papers.main_ablation("li_convs"))


def test_li_convs_baselines_follow_the_paper():
    mnv2 = papers.get_experiment("li_convs", "mnv2_aspp")
    assert mnv2.model.architecture == "deeplabv3" and mnv2.model.head.atrous_rates == (6, 12, 18)
    assert mnv2.model.head.aspp_separable and mnv2.model.head.image_pooling
    assert mnv2.model.backbone.output_stride == 16
    assert (mnv2.train.optimizer, mnv2.train.learning_rate, mnv2.train.adam_epsilon) == ("adam", 3e-4, 0.01)
    assert mnv2.train.weight_decay == 4e-5
    resnet = papers.get_experiment("li_convs", "resnet50_aspp_decoder")
    assert resnet.model.architecture == "deeplabv3plus"
    assert (resnet.model.backbone.name, resnet.model.backbone.stem) == ("resnet50", "beta")
    assert resnet.model.backbone.multi_grid == (1, 2, 4) and resnet.train.weight_decay == 1e-4


def test_a_config_json_that_is_not_an_object_is_named(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="config.json cannot be read as a li_seg config: it holds a JSON list"):
        config_lib.load(path)
