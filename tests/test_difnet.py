"""DifNet (issue 14): the model composed of its parts (score map, importance map, seed, five walks checked against
the NumPy reference of Eq. 4-5 in tests/difnet_reference.py), the two ResNets with their own weights, Sim-DeepLab,
the parameter counts read from the authors' code, every ablation's structure and training step, the recipes, the
weight-decay scope, the code's label padding and 505 evaluation padding, export and diagnostics. The operator's own
tests are in tests/test_diffusion.py, the layers' in tests/test_random_walk.py, test_importance_map.py and
test_similarity_embedding.py."""

import dataclasses
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments import config as config_lib
from experiments import papers
from li_seg.analysis.flops import CONVENTIONS, count_flops, layer_flops
from li_seg.analysis.layer_calls import calls_needed_for, layer_calls
from li_seg.backbones import resnet_plan
from li_seg.backbones import build_backbone
from li_seg.config import AuxHeadConfig, DataConfig, ModelConfig
from li_seg.layers import BatchNormSettings
from li_seg.data.augment import augment
from li_seg.evaluation.inference import predict_probabilities
from li_seg.export.saved_model import export_saved_model
from li_seg.layers import collect_diagnostics
from li_seg.models import build_model, build_pretrained_model
from li_seg.models.difnet import DifNetConfig, analysis_outputs
from li_seg.ops import transition_rows
from li_seg.training.losses import segmentation_loss, weight_decay_variables
from li_seg.training.optimizers import build_optimizer, resolve_lr_multipliers
from li_seg.training.schedules import build_schedule
from scripts import model_table

from tests import difnet_reference as ref

CLASSES = 5


def _model(ablation="difnet_18", classes=CLASSES, **head):
    cfg = papers.get_experiment("difnet", ablation)
    model_config = cfg.model
    if head:
        model_config = dataclasses.replace(model_config, head=dataclasses.replace(model_config.head, **head))
    return build_model(model_config, classes)


def _randomize(model, seed=0, scale=0.05):
    """Random weights (uniform in +-scale), BN moving variances in [0.5, 1.5), walk logits in +-1."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if weight.path.endswith("moving_variance"):
            weight.assign(rng.uniform(0.5, 1.5, weight.shape).astype("float32"))
        elif weight.path.endswith(("mu_logit", "beta_logit")):
            weight.assign(np.float32(rng.uniform(-1, 1)))
        else:
            weight.assign(rng.uniform(-scale, scale, weight.shape).astype("float32"))


def _flat(t):
    t = np.asarray(t, np.float64)
    return t.reshape(t.shape[0], -1, t.shape[-1])


def test_the_model_is_its_parts_composed_as_the_equations_say():
    """s = M * x; y_1 = s and every walk y_{t+1} = the reference walk (Eq. 4-5) of y_t with Psi_t, s and the
    layer's mu_t = sigmoid(-a_t), beta_t = sigmoid(-b_t); the logits are the last y upsampled bilinearly."""
    keras.utils.set_random_seed(0)
    model = _model()
    _randomize(model, seed=1)
    images = np.random.default_rng(2).uniform(0, 255, (2, 57, 49, 3)).astype("float32")
    outputs = {name: value.numpy() for name, value in analysis_outputs(model)(images, training=False).items()}
    assert set(outputs) == {"score_map", "importance", "seed", "logits"} | {f"{kind}{t}" for t in range(1, 6)
                                                                          for kind in ("psi", "walk")}
    assert outputs["score_map"].shape == (2, 8, 7, CLASSES) and outputs["importance"].shape == (2, 8, 7, 1)
    np.testing.assert_allclose(outputs["seed"], outputs["score_map"] * outputs["importance"], rtol=1e-6)
    assert 0.0 < outputs["importance"].min() and outputs["importance"].max() < 1.0
    seed, y = _flat(outputs["seed"]), _flat(outputs["seed"])
    for t in range(1, 6):
        walk = model.get_layer(f"walk{t}")
        mu = 1.0 / (1.0 + np.exp(float(walk.mu_logit.numpy())))
        beta = 1.0 / (1.0 + np.exp(float(walk.beta_logit.numpy())))
        assert outputs[f"psi{t}"].shape == (2, 8, 7, 64)
        y = ref.diffusion_step(y, _flat(outputs[f"psi{t}"]), seed, mu, beta)
        np.testing.assert_allclose(_flat(outputs[f"walk{t}"]), y, rtol=1e-4, atol=1e-5 * np.abs(y).max())
    upsampled = tf.image.resize(outputs["walk5"], (57, 49), method="bilinear").numpy()
    np.testing.assert_allclose(outputs["logits"], upsampled, atol=1e-5)


def test_the_two_resnets_have_their_own_weights_and_the_similarity_levels_are_the_papers():
    """A second ResNet-18 "similarity" of the same structure, no variable shared with the seed branch; Psi_1 reads
    the normalised image (3 channels), Psi_2..5 blocks 1-4 (64, 128, 256, 512 channels); the caffe layout at OS 8
    (block3 rate 2, block4 rate 4 on every unit)."""
    model = _model()
    seed_branch, similarity = model.get_layer("resnet18"), model.get_layer("similarity")
    assert [w.shape for w in seed_branch.weights] == [w.shape for w in similarity.weights]
    assert all(w.path.startswith("similarity/") for w in similarity.weights)
    assert not {id(w) for w in seed_branch.weights} & {id(w) for w in similarity.weights}
    widths = [model.get_layer(f"psi{t}").get_layer(f"psi{t}_conv").kernel.shape[2] for t in range(1, 6)]
    assert widths == [3, 64, 128, 256, 512]
    schedule = resnet_plan.unit_schedule("resnet18", "caffe", 8, None)
    assert [rate for _, rate in schedule[2]] == [2, 2] and [rate for _, rate in schedule[3]] == [4, 4]
    assert [model.get_layer(f"aspp_rate{r}").dilation_rate for r in (6, 12, 18, 24)] == [(r, r) for r in
                                                                                      (6, 12, 18, 24)]


def test_p_rows_on_request_are_rows_of_the_reference_transition_matrix():
    features = np.random.default_rng(3).normal(0, 3, (2, 30, 8)).astype("float32")
    rows = transition_rows(features, [0, 7, 29]).numpy()
    np.testing.assert_allclose(rows, ref.transition_matrix(features)[:, [0, 7, 29]], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(rows.sum(-1), 1.0, rtol=1e-5)
    for nodes in ([30], [-1]):
        with pytest.raises(tf.errors.InvalidArgumentError, match="transition_rows: node indices must be"):
            transition_rows(features, nodes)


def test_analysis_outputs_refuse_other_architectures_and_read_the_logits_of_aux_heads():
    with pytest.raises(ValueError, match="is no 'difnet' model"):
        analysis_outputs(build_model(papers.get_experiment("li_convs", "mnv2_aspp").model, CLASSES))
    cfg = papers.get_experiment("difnet", "sim_deeplab_18")
    model = build_model(dataclasses.replace(cfg.model, aux_heads=(AuxHeadConfig(),)), CLASSES)
    outputs = analysis_outputs(model)(np.zeros((1, 33, 33, 3), np.float32))
    assert outputs["logits"].shape == (1, 33, 33, CLASSES)


def test_one_weights_file_loads_into_both_resnets(tmp_path):
    """model.backbone.weights: a ResNet-18 backbone's .weights.h5 loads into the seed and the similarity branch
    (the authors load one torchvision state dict into both)."""
    cfg = papers.get_experiment("difnet", "difnet_18")
    source = build_backbone(cfg.model.backbone, BatchNormSettings())
    for weight in source.weights:
        weight.assign(np.random.default_rng(len(weight.path)).normal(0, 0.1, weight.shape).astype("float32"))
    source.save_weights(tmp_path / "resnet18.weights.h5")
    backbone = dataclasses.replace(cfg.model.backbone, weights=str(tmp_path / "resnet18.weights.h5"))
    model = build_pretrained_model(dataclasses.replace(cfg.model, backbone=backbone), CLASSES)
    for branch in ("resnet18", "similarity"):
        loaded = model.get_layer(branch).weights
        assert len(loaded) == len(source.weights)
        for got, saved in zip(loaded, source.weights):
            np.testing.assert_array_equal(got, saved, err_msg=f"{branch}: {got.path}")


def test_chunked_and_whole_transitions_give_the_same_model():
    """The same weights with P_t chunked (7 rows: 56 nodes in 8 chunks) and whole: logits and every variable's
    gradient agree (to 1e-5 of the largest gradient)."""
    whole, chunked = _model(transition="whole"), _model(transition="chunked", chunk_rows=7)
    _randomize(whole, seed=4)
    chunked.set_weights(whole.get_weights())
    images = tf.constant(np.random.default_rng(5).uniform(0, 255, (1, 57, 49, 3)).astype("float32"))
    labels = tf.constant(np.random.default_rng(6).integers(0, CLASSES, (1, 57, 49)))
    results = []
    for model in (whole, chunked):
        with tf.GradientTape() as tape:
            logits = model(images, training=False)
            loss = segmentation_loss(labels, logits, ignore_label=255)
        results.append((logits.numpy(), [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-4, atol=1e-5)
    scale = max(np.abs(g).max() for g in results[0][1])  # float32 noise relative to the largest gradient
    for g_chunked, g_whole in zip(results[1][1], results[0][1]):
        np.testing.assert_allclose(g_chunked, g_whole, rtol=2e-3, atol=1e-5 * scale)


def test_sim_deeplab_is_the_score_map_and_dropping_walks_removes_them_with_their_psis():
    keras.utils.set_random_seed(0)
    sim = _model("sim_deeplab_18")
    names = {layer.name for layer in sim.layers}
    assert "similarity" not in names and "importance" not in names and not any(n.startswith("walk") for n in names)
    images = np.random.default_rng(7).uniform(0, 255, (1, 41, 41, 3)).astype("float32")
    outputs = analysis_outputs(sim)(images)
    assert set(outputs) == {"score_map", "logits"}
    without = _model("difnet_18", walks=("input", "block2", "block4"))
    assert sorted(n for n in (layer.name for layer in without.layers) if n.startswith(("walk", "psi"))) == [
        "psi1", "psi3", "psi5", "walk1", "walk3", "walk5"]


# --- Parameter counts (21 classes) read from the authors' code (PAPERS.md section 5) ------------------------------

PARAMETERS = {
    "sim_deeplab_18": 11_563_668, "sim_deeplab_34": 21_671_828, "sim_deeplab_50": 25_056_404,
    "sim_deeplab_101": 44_048_532, "difnet_18": 22_807_948, "difnet_34": 43_024_268, "difnet_50": 48_816_524,
    "difnet_101": 86_800_780,
}
RESNETS = {18: 11_176_512, 34: 21_284_672, 50: 23_508_032, 101: 42_500_160}  # torchvision's, without fc


def _psi(channels):
    return channels * 64 + 64 + 2 * 64  # 1x1 conv with bias, BN scale and offset


def test_the_counts_decompose_as_the_structures_say():
    """Sim-DeepLab = ResNet + ASPP-v2 4 (9 C K + K); DifNet = Sim-DeepLab + ResNet + five Psis + H + 5 (a, b); the
    two ablation rows without a published count follow from DifNet-50's."""
    for depth, block4 in ((18, 512), (34, 512), (50, 2048), (101, 2048)):
        aspp = 4 * (9 * block4 * 21 + 21)
        levels = (3, 64, 128, 256, 512) if block4 == 512 else (3, 256, 512, 1024, 2048)
        importance = 2 * 21 + 21 * 8 * 25 + 2 * 8 + 8 * 4 * 25 + 2 * 4 + 4 * 25
        assert PARAMETERS[f"sim_deeplab_{depth}"] == RESNETS[depth] + aspp
        assert PARAMETERS[f"difnet_{depth}"] == (RESNETS[depth] + aspp + RESNETS[depth] + sum(map(_psi, levels))
                                                 + importance + 10)


# Our multiply-accumulates at 321 (the training crop) and 505 (the code's evaluation pad), as
# `python -m scripts.model_table --paper=difnet [--size=505]` prints them (the paper prints none; a regression pin,
# the structure is checked by test_flops_at_321_count_the_second_resnet_and_the_walks_on_41_x_41_nodes).
MACS = {
    "sim_deeplab_18": (20_369_882_304, 49_663_118_016), "sim_deeplab_34": (37_709_012_160, 91_922_901_696),
    "sim_deeplab_50": (43_297_830_080, 105_539_701_440), "sim_deeplab_101": (75_135_808_704, 183_117_548_224),
    "difnet_18": (41_441_671_093, 105_241_905_728), "difnet_34": (76_119_930_805, 189_761_473_088),
    "difnet_50": (85_715_369_909, 213_141_568_064), "difnet_101": (149_391_327_157, 368_297_261_632),
}


@pytest.mark.parametrize("ablation", [
    name if name.endswith(("_18", "_50")) else pytest.param(name, marks=pytest.mark.slow) for name in PARAMETERS
])
def test_trainable_parameters_are_the_authors_code_and_the_flops_pinned(ablation):
    model = _model(ablation, classes=21)
    assert model_table.trainable_parameters(model) == PARAMETERS[ablation]
    assert tuple(count_flops(model, size, size, "multiply_accumulates") for size in (321, 505)) == MACS[ablation]


def test_ablation_rows_without_a_published_count():
    """No ASPP: ASPP-v2's four convs become one (3 convs of 9 x 2048 x 21 + 21 fewer); without walks 2 and 4:
    Psi_2 (256 channels), Psi_4 (1024) and two (a, b) pairs fewer."""
    assert model_table.trainable_parameters(_model("difnet_50_no_aspp", classes=21)) == (
        PARAMETERS["difnet_50"] - 3 * (9 * 2048 * 21 + 21))
    assert model_table.trainable_parameters(_model("difnet_50_without_walks_2_4", classes=21)) == (
        PARAMETERS["difnet_50"] - _psi(256) - _psi(1024) - 4)


def test_flops_at_321_count_the_second_resnet_and_the_walks_on_41_x_41_nodes():
    """DifNet-18 - Sim-DeepLab-18 at 321 (multiply-accumulates) = a second ResNet-18's count + the Psis, H and the
    seed product + five walks of N^2 (64 + 21) each (f f^T and P y) on N = 41 x 41 = 1,681 nodes."""
    sim, dif = (_model(name, classes=21) for name in ("sim_deeplab_18", "difnet_18"))
    convention = CONVENTIONS["multiply_accumulates"]
    calls, outputs = layer_calls(dif, (1, 321, 321, 3))
    parts = {"walk": 0, "psi": 0, "importance": 0, "seed": 0}
    for call in calls_needed_for(calls, outputs):
        part = re.match(r"walk|psi|importance|seed", call.layer.name)
        if part:
            parts[part.group()] += layer_flops(call, convention) // 2
    assert parts["walk"] == 5 * (41 * 41) ** 2 * (64 + 21)
    resnet, seed_resnet = (count_flops(keras.Model(branch.input, branch.output["block4"]), 321, 321, convention)
                           for branch in (dif.get_layer("similarity"), dif.get_layer("resnet18")))
    assert resnet == seed_resnet > 0
    difference = count_flops(dif, 321, 321, convention) - count_flops(sim, 321, 321, convention)
    assert difference == resnet + sum(parts.values())


# --- Ablations and recipes --------------------------------------------------------------------------------------

TRAINED_BY_DEFAULT = ("sim_deeplab_18", "difnet_18")


@pytest.mark.parametrize("ablation", [
    name if name in TRAINED_BY_DEFAULT else pytest.param(name, marks=pytest.mark.slow)
    for name in papers.list_ablations("difnet")
])
def test_every_ablation_builds_and_trains_a_step_of_its_recipe(ablation):
    """One SGD step of the row's recipe (its 10x layers included) on 48 x 40 images: finite loss, every variable
    with a gradient, logits at the input's size."""
    cfg = papers.get_experiment("difnet", ablation)
    keras.utils.set_random_seed(0)
    model = build_model(cfg.model, CLASSES)
    train = dataclasses.replace(cfg.train, train_steps=1, epochs=None)
    optimizer = build_optimizer(train, build_schedule(train, 1))
    images = tf.random.uniform((2, 48, 40, 3), 0, 255, seed=1)
    labels = tf.random.uniform((2, 48, 40), 0, CLASSES, dtype=tf.int32, seed=2)
    with tf.GradientTape() as tape:
        logits = model(images, training=True)
        loss = segmentation_loss(labels, logits, ignore_label=255)
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    assert np.isfinite(float(loss)) and logits.shape == (2, 48, 40, CLASSES)
    assert all(gradient is not None for gradient in gradients)


def test_the_recipes():
    """paper: DeepLabv2's optimiser with every new layer at 10x (conv biases 20x); code: main.py's one group at
    2.5e-3, 200 epochs, decay on every variable, small crops padded black at a random offset with label 0,
    evaluation padded to 505; VOC keeps the 321 crop."""
    cfg = papers.get_experiment("difnet")
    assert cfg.ablation == "difnet_50" and cfg.model.backbone.name == "resnet50"
    train, data = cfg.train, cfg.data
    assert (train.optimizer, train.learning_rate, train.momentum, train.weight_decay, train.weight_decay_scope) == (
        "sgd", 2.5e-4, 0.9, 5e-4, "kernels")
    assert (train.batch_size, train.epochs, train.lr_schedule, train.poly_power) == (16, 200, "poly", 0.9)
    assert (data.crop_size, data.label_pad_value, data.flip) == ((321, 321), 255, True)
    from li_seg.data.augment import scale_set
    assert scale_set(data.min_scale, data.max_scale, data.scale_step) == pytest.approx(
        [0.5 + 0.1 * k for k in range(10)])
    model = build_model(cfg.model, 21)
    multipliers = dict(zip((v.path for v in model.trainable_variables),
                           resolve_lr_multipliers(model.trainable_variables, train.lr_multipliers)))
    new = {path for path, m in multipliers.items() if m != 1.0}
    assert new == {path for path in multipliers if not path.startswith(("conv1", "block", "similarity/"))}
    assert {path for path, m in multipliers.items() if m == 20.0} == (
        {f"aspp_rate{r}/bias" for r in (6, 12, 18, 24)} | {f"psi{t}_conv/bias" for t in range(1, 6)})
    assert len(new) == 8 + 9 + 5 * 4 + 10 and set(multipliers.values()) == {1.0, 10.0, 20.0}
    aspp_only = papers.apply_recipe("difnet", "paper_aspp_only", cfg).train.lr_multipliers
    assert [m for m in resolve_lr_multipliers(model.trainable_variables, aspp_only) if m != 1.0] == [10.0, 20.0] * 4
    code = papers.apply_recipe("difnet", "code", cfg)
    assert (code.train.learning_rate, code.train.train_steps, code.train.epochs, code.train.lr_multipliers) == (
        2.5e-3, None, 200, ())
    assert config_lib.resolve(code, 10582).train.train_steps == 132_275  # main.py's per-epoch rounding: 132,400
    assert (code.train.weight_decay_scope, code.model.bn_momentum, code.eval.pad_to) == ("all", 0.9, 505)
    assert (code.data.label_pad_value, code.data.image_pad_value, code.data.pad_placement) == (0, 0.0, "random")
    voc = config_lib.override(cfg, {"data.dataset": "voc", "data.crop_size": (513, 513)})
    assert papers.apply_recipe("difnet", papers.record("difnet").dataset_recipes["voc"], voc).data.crop_size == (
        321, 321)


def test_weight_decay_scope_all_reaches_every_trainable_variable_the_default_only_kernels():
    model = _model()
    variables = model.trainable_variables
    kernels = {v.path for v in weight_decay_variables(variables)}
    everything = {v.path for v in weight_decay_variables(variables, "all")}
    assert everything == {v.path for v in variables}
    assert "walk3/mu_logit" in everything and "walk3/mu_logit" not in kernels
    assert "psi2_conv/bias" in everything - kernels and "psi2_conv/kernel" in kernels
    with pytest.raises(ValueError, match="weight decay scope 'biases' is not one of"):
        weight_decay_variables(variables, "biases")


def test_the_codes_training_padding():
    """A 10 x 12 image in a 16 x 16 crop: padded label 255 by default, 0 with label_pad_value=0; image pad 127.5 or
    image_pad_value; the image at the top-left corner, or (pad_placement="random") at offsets that vary with the
    seed, the image and its label kept together."""
    image = tf.fill((10, 12, 3), 100.0)
    label = tf.ones((10, 12), tf.int32)
    corners, offsets = set(), set()
    for index in range(12):
        seed = tf.constant([index, 2], tf.int64)
        for placement, pad_value, image_value in (("corner", 255, 127.5), ("random", 0, 0.0)):
            config = DataConfig(crop_size=(16, 16), min_scale=1.0, max_scale=1.0, scale_step=0.0, flip=False,
                                label_pad_value=pad_value, image_pad_value=image_value, pad_placement=placement)
            padded_image, padded = (t.numpy() for t in augment(image, label, config, seed))
            rows, columns = np.nonzero(padded == 1)
            assert len(rows) == 120 and np.ptp(rows) == 9 and np.ptp(columns) == 11
            assert sorted(np.unique(padded)) == sorted({1, pad_value})
            assert (padded_image[padded == 1] == 100.0).all() and (padded_image[padded != 1] == image_value).all()
            (corners if placement == "corner" else offsets).add((rows.min(), columns.min()))
    assert corners == {(0, 0)} and len(offsets) > 4 and max(offsets) <= (5, 3)


def test_evaluation_padding_scores_the_original_pixels_of_the_centre_padded_image():
    """pad_to 40 around 21 x 30: 10 rows above (an odd remainder's extra pixel at the top, Python 2's round in the
    code) and 5 columns left, padded with the given value; a dimension already large enough is not padded."""
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(3, 5, padding="same")])
    images = np.random.default_rng(8).uniform(0, 255, (1, 21, 30, 3)).astype("float32")
    padded = np.full((1, 40, 40, 3), 0.0, np.float32)
    padded[:, 10:31, 5:35] = images
    expected = tf.nn.softmax(model(padded)).numpy()[:, 10:31, 5:35]
    np.testing.assert_allclose(predict_probabilities(model, images, pad_to=40, pad_value=0.0), expected, atol=1e-6)
    one_side = np.full((1, 25, 30, 3), 127.5, np.float32)
    one_side[:, 2:23] = images
    expected = tf.nn.softmax(model(one_side)).numpy()[:, 2:23]
    np.testing.assert_allclose(predict_probabilities(model, images, pad_to=25), expected, atol=1e-6)
    large = predict_probabilities(model, images, pad_to=20)
    np.testing.assert_allclose(large, predict_probabilities(model, images), atol=1e-6)


def test_the_trainer_and_the_evaluator_read_the_codes_options(tmp_path, monkeypatch):
    """train.weight_decay_scope reaches the trainer's weight decay, eval.pad_to and data.image_pad_value the
    evaluator's predictions (each call recorded)."""
    from li_seg.evaluation import evaluator as evaluator_lib
    from li_seg.training import step as step_lib
    from li_seg.training import trainer as trainer_lib
    from tests.test_training import tiny_config

    scopes, paddings = [], []
    decay = step_lib.l2_weight_decay
    monkeypatch.setattr(step_lib, "l2_weight_decay", lambda *a: scopes.append(a[2]) or decay(*a))
    predict = evaluator_lib.predict_probabilities
    monkeypatch.setattr(evaluator_lib, "predict_probabilities",
                        lambda *a, **k: paddings.append(k) or predict(*a, **k))
    cfg = tiny_config(**{"train.train_steps": 1, "train.weight_decay_scope": "all", "eval.pad_to": 64,
                         "data.image_pad_value": 0.0})
    trainer = trainer_lib.Trainer(cfg, tmp_path, tf.distribute.get_strategy())
    trainer.train()
    assert scopes and set(scopes) == {"all"}
    evaluator_lib.evaluate(trainer.model, cfg.data, cfg.eval)
    assert paddings and all(k == {"pad_to": 64, "pad_value": 0.0} for k in paddings)


def test_invalid_settings_say_what_is_wrong():
    bad = DifNetConfig(aspp_init="torch", transition="sparse", walks=("block2", "input", "block9"), aspp_rates=())
    errors = bad.errors(ModelConfig(architecture="difnet", head=bad))
    assert any("aspp_init='torch' is not one of 'code', 'deeplab'" in error for error in errors)
    assert any("transition='sparse' is not one of 'auto', 'whole', 'chunked'" in error for error in errors)
    assert any("walks['block9']='block9' is not one of" in error for error in errors)
    assert any("must name each level once, in the cascade's order" in error for error in errors)
    assert any("aspp_rates needs at least one positive atrous rate" in error for error in errors)
    empty = DifNetConfig(walks=())
    assert any("DifNet needs at least one random walk" in error
               for error in empty.errors(ModelConfig(architecture="difnet", head=empty)))
    cfg = papers.get_experiment("difnet", "difnet_18")
    for change, message in (({"model.backbone.name": "mobilenet_v2"}, "is not a ResNet"),
                            ({"train.weight_decay_scope": "bias"}, "train.weight_decay_scope='bias' is not one of"),
                            ({"data.label_pad_value": 300}, r"pad_value must be a class of 'synthetic' \(0 .. 6\)"),
                            ({"data.label_pad_value": 100}, "data.label_pad_value must be a class"),
                            ({"data.pad_placement": "centre"}, "data.pad_placement='centre' is not one of"),
                            ({"eval.pad_to": 0}, "eval.pad_to must be >= 1")):
        with pytest.raises(config_lib.ConfigError, match=message):
            config_lib.validate(config_lib.override(cfg, change))


# --- Export, round trip, diagnostics, mixed precision -----------------------------------------------------------

def test_difnet_round_trips_exports_logits_only_and_publishes_mu_and_beta(tmp_path):
    """A .keras round trip gives the same logits; the SavedModel serves the logits' softmax (the analysis outputs
    are not in it); the walks publish mu_t and beta_t (0.5 at the start: a = b = 0) under their cascade index."""
    keras.utils.set_random_seed(0)
    model = _model(walks=("input", "block2", "block4"))
    images = np.random.default_rng(9).uniform(0, 255, (1, 45, 37, 3)).astype("float32")
    model(images, training=True)
    published = collect_diagnostics(model)
    assert {tag: published[tag] for tag in published if tag.startswith("difnet_")} == {
        f"difnet_{kind}/walk{t}": 0.5 for kind in ("mu", "beta") for t in (1, 3, 5)}
    _randomize(model, seed=10)
    path = tmp_path / "difnet.keras"
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path)(images), model(images), atol=1e-4)
    export_saved_model(model, str(tmp_path / "export"))
    serving = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    probabilities = serving(images=tf.constant(images.astype(np.uint8)))["probabilities"]
    expected = tf.nn.softmax(model(images.astype(np.uint8).astype(np.float32), training=False))
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_difnet_trains_under_mixed_precision_with_the_walks_in_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _model()
        assert model.get_layer("walk2").compute_dtype == "float32"
        assert model.get_layer("aspp_rate6").compute_dtype == "float16"
        images = tf.random.uniform((1, 40, 40, 3), 0, 255, seed=1)
        labels = tf.random.uniform((1, 40, 40), 0, CLASSES, dtype=tf.int32, seed=2)
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = segmentation_loss(labels, logits, ignore_label=255)
        gradients = tape.gradient(loss, model.trainable_variables)
        assert logits.dtype == tf.float32 and all(np.isfinite(g.numpy()).all() for g in gradients)
    finally:
        keras.mixed_precision.set_global_policy("float32")



def test_table_4_parts_compose_into_the_whole_model():
    """scripts/difnet_table4.py: the diffusion part fed the similarity part's embeddings of the seed part's seed
    gives the whole model's last walk (the parts share its layers and weights)."""
    from scripts import difnet_table4

    model = _model()
    parts = difnet_table4.parts(model)
    images = tf.constant(np.random.default_rng(11).uniform(0, 255, (1, 41, 33, 3)), tf.float32)
    seed = parts["seed"](images)
    walked = parts["diffusion"]([seed, *parts["similarity"]([images, seed])])
    np.testing.assert_allclose(walked, analysis_outputs(model)(images)["walk5"], rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # builds and traces DifNet-50 and Sim-DeepLab-101: about 40 s
def test_table_4_measures_every_part_and_both_models():
    from scripts import difnet_table4

    result = difnet_table4.measure(batch_size=1, crop=(33, 33), rounds=1, steps=1, warmup=1)
    assert set(result) == {"seed", "similarity", "diffusion", "difnet_50", "sim_deeplab_101"}
    report = difnet_table4.report(result)
    assert "seed" in report and "(paper 39 / 36 = 1.083)" in report
