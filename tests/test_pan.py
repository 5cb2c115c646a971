"""PAN (issue 12): FPA, GAU, PSPNet's pyramid pooling and SE against NumPy references of their structure
(tests/pan_reference.py, written from the papers' descriptions without seeing li_seg's code), their gradients,
.keras round trips, any input size, the attention diagnostics, and every ablation's structure and training step.
The ablations' exact parameter counts are in tests/test_model_table.py."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments import config as config_lib
from experiments import papers
from li_seg.config import BackboneConfig, ModelConfig
from li_seg.layers import BatchNormSettings, collect_diagnostics
from li_seg.layers.feature_pyramid_attention import FPA_KERNELS, FeaturePyramidAttention
from li_seg.layers.global_attention_upsample import GlobalAttentionUpsample
from li_seg.layers.pyramid_pooling import pyramid_pooling
from li_seg.layers.squeeze_excitation import squeeze_excitation
from li_seg.models import build_model
from li_seg.models.pan import FPAConfig, PanConfig
from li_seg.training.losses import segmentation_loss
from li_seg.training.optimizers import build_optimizer
from li_seg.training.schedules import build_schedule
from li_seg.training.strategy import make_strategy
from li_seg.training.trainer import Trainer

from tests import pan_reference as ref
from tests.test_training import event_tags, tiny_config

BN = BatchNormSettings()
# PAN's head on a ResNet-18 in PAN's layout: the same head structure, fast to build and trace.
SMALL_BACKBONE = BackboneConfig(name="resnet18", layout="torchvision", first_unit_dilated=True, output_stride=16)


def _randomize(model, seed=0):
    """Random weights everywhere, BN moving variances positive (so BN is not the identity)."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if weight.path.endswith("channel_means"):
            continue
        low = 0.5 if weight.path.endswith("moving_variance") else -0.5
        weight.assign(rng.uniform(low, low + 1.0, weight.shape).astype("float32"))


def _params(model, prefix):
    """The reference's weights dict from the block's layers: "<prefix>_down1" -> params["down1"]."""
    params = {}
    for layer in model.layers:
        name = layer.name.removeprefix(f"{prefix}_")
        if isinstance(layer, keras.layers.BatchNormalization):
            params[name] = {"gamma": layer.gamma.numpy(), "beta": layer.beta.numpy(),
                            "mean": layer.moving_mean.numpy(), "var": layer.moving_variance.numpy()}
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            params[name] = {"kernel": layer.kernel.numpy(), **({"bias": layer.bias.numpy()} if layer.use_bias else {})}
    return params


def _close(ours, reference):
    np.testing.assert_allclose(np.asarray(ours, np.float64), reference, rtol=1e-4,
                               atol=1e-4 * max(1.0, float(np.abs(reference).max())))


@pytest.mark.parametrize("kernels, downsampling, global_pooling, pyramid_channels", [
    ("C357", "ave", True, None), ("C333", "max", False, None), ("C357", "conv", True, 1), ("C333", "ave", True, 1),
    ("C357", "max", True, 1),
])
def test_feature_pyramid_attention_matches_the_reference(kernels, downsampling, global_pooling, pyramid_channels):
    """Fig. 3(b) on maps whose sizes are not multiples of 8 (33 x 33: a 513 crop at OS 16; 9 x 7) and on 1 x 1."""
    block = FeaturePyramidAttention(6, BN, 4, FPA_KERNELS[kernels], downsampling, global_pooling, pyramid_channels)
    _randomize(block)
    params = _params(block, "fpa")
    for shape in [(2, 9, 7, 6), (1, 33, 33, 6), (1, 1, 1, 6)]:
        x = np.random.default_rng(1).uniform(-1, 2, shape).astype("float32")
        expected, attention = ref.feature_pyramid_attention(x, params, FPA_KERNELS[kernels], downsampling,
                                                            global_pooling)
        assert attention.shape[-1] == (pyramid_channels or 4)
        _close(block(x, training=False), expected)


@pytest.mark.parametrize("global_pooling, low_kernel, attention", [
    (True, 3, "sigmoid"), (True, 1, "relu"), (False, 3, "sigmoid"),
])
def test_global_attention_upsample_matches_the_reference(global_pooling, low_kernel, attention):
    """Fig. 4, upsampling by a factor that is not an integer (5 x 4 -> 9 x 7) and by 1 (res4 at res5's size)."""
    block = GlobalAttentionUpsample(3, BN, 4, low_kernel, global_pooling, attention)
    _randomize(block)
    params = _params(block, "gau")
    rng = np.random.default_rng(2)
    for high_size, low_size in [((5, 4), (9, 7)), ((6, 6), (6, 6))]:
        high = rng.uniform(-1, 2, (2, *high_size, 4)).astype("float32")
        low = rng.uniform(-1, 2, (2, *low_size, 3)).astype("float32")
        expected, weights = ref.global_attention_upsample(high, low, params, global_pooling, attention)
        assert (weights is not None) == global_pooling
        _close(block([high, low], training=False), expected)


def _functional(build, input_shape):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, build(inputs))


def test_pyramid_pooling_matches_the_reference():
    """PSPNet's module, including sizes the bins do not divide (7 x 11 into 3 x 3 and 6 x 6: overlapping cells)."""
    model = _functional(lambda x: pyramid_pooling(x, BN, branch_channels=2), (None, None, 8))
    _randomize(model)
    params = _params(model, "ppm")
    for shape in [(2, 7, 11, 8), (1, 6, 6, 8), (1, 13, 4, 8)]:
        x = np.random.default_rng(3).uniform(-1, 2, shape).astype("float32")
        _close(model(x, training=False), ref.pyramid_pooling(x, params))


def test_squeeze_excitation_matches_the_reference():
    model = _functional(lambda x: squeeze_excitation(x, reduction=4), (None, None, 8))
    _randomize(model)
    x = np.random.default_rng(4).uniform(-1, 2, (2, 5, 3, 8)).astype("float32")
    _close(model(x), ref.squeeze_excitation(x, _params(model, "se")))


def _directional_derivatives(function, reference, inputs, seed):
    """(ours, finite differences) of <v, f(inputs)> along random directions u: TensorFlow's gradient of our block
    (float32) against central differences of the float64 reference."""
    rng = np.random.default_rng(seed)
    tensors = [tf.constant(x) for x in inputs]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        output = function(*tensors)
    v = rng.normal(size=output.shape)
    gradients = tape.gradient(output, tensors, output_gradients=tf.constant(v, tf.float32))
    ours, numeric, step = [], [], 1e-5
    for _ in range(4):
        directions = [rng.normal(size=x.shape) for x in inputs]
        ours.append(sum(float(np.sum(g.numpy() * u)) for g, u in zip(gradients, directions)))
        plus = reference(*[x + step * u for x, u in zip(inputs, directions)])
        minus = reference(*[x - step * u for x, u in zip(inputs, directions)])
        numeric.append(float(np.sum(v * (plus - minus))) / (2 * step))
    return np.array(ours), np.array(numeric)


def test_gradients_match_finite_differences_of_the_reference():
    """FPA's and GAU's input gradients (backpropagated in TensorFlow) against central differences of the NumPy
    references along random directions."""
    fpa = FeaturePyramidAttention(3, BN, 4, (3, 3, 3), "ave", True)
    gau = GlobalAttentionUpsample(3, BN, 4, 3, True, "sigmoid")
    _randomize(fpa)
    _randomize(gau)
    fpa_params, gau_params = _params(fpa, "fpa"), _params(gau, "gau")
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 2, (1, 9, 7, 3)).astype("float32")
    high, low = rng.uniform(-1, 2, (1, 5, 4, 4)).astype("float32"), rng.uniform(-1, 2, (1, 9, 7, 3)).astype("float32")
    checks = [
        (lambda t: fpa(t, training=False), lambda t: ref.feature_pyramid_attention(t, fpa_params, (3, 3, 3))[0], [x]),
        (lambda h, lo: gau([h, lo], training=False), lambda h, lo: ref.global_attention_upsample(h, lo, gau_params)[0],
         [high, low]),
    ]
    for function, reference, inputs in checks:
        ours, numeric = _directional_derivatives(function, reference, inputs, seed=6)
        assert np.abs(numeric).min() > 1e-2  # the directions see a gradient
        np.testing.assert_allclose(ours, numeric, rtol=1e-3)


def _small_pan(head=None, num_classes=5):
    config = ModelConfig(architecture="pan", backbone=SMALL_BACKBONE, head=head or PanConfig())
    return build_model(config, num_classes)


def test_pan_takes_any_input_size_and_survives_a_keras_round_trip(tmp_path):
    """Logits at the input's size for inputs whose OS-16 maps are 33 x 33, 4 x 3 and 1 x 1; the saved .keras model
    gives the same logits and keeps the attention statistics."""
    keras.utils.set_random_seed(0)
    model = _small_pan()
    rng = np.random.default_rng(6)
    for shape in [(1, 513, 513, 3), (2, 50, 37, 3), (1, 9, 9, 3)]:
        images = rng.uniform(0, 255, shape).astype("float32")
        assert model(images, training=True).shape == (*shape[:3], 5)
    path = tmp_path / "pan.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    images = rng.uniform(0, 255, (2, 40, 56, 3)).astype("float32")
    np.testing.assert_allclose(loaded(images), model(images), atol=1e-5)
    assert collect_diagnostics(loaded).keys() == collect_diagnostics(model).keys()
    np.testing.assert_array_equal(collect_diagnostics(loaded)["fpa_attention/fpa"].values,
                                  collect_diagnostics(model)["fpa_attention/fpa"].values)


def test_attention_statistics_follow_training_steps_only():
    """FPA's attention and each GAU's channel weights are published (diagnostics hook) from training calls; an
    inference call leaves them as they were. Sigmoid channel weights lie in (0, 1)."""
    model = _small_pan()
    images = np.random.default_rng(7).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    model(images, training=True)
    published = collect_diagnostics(model)
    tags = {"fpa_attention/fpa", "gau_channel_weights/gau_res4", "gau_channel_weights/gau_res3",
            "gau_channel_weights/gau_res2"}
    assert tags | {"fpa_attention_mean/fpa", "gau_channel_weights_mean/gau_res2"} <= published.keys()
    weights = published["gau_channel_weights/gau_res3"].values
    assert weights.shape == (256,) and 0.0 < weights.min() and weights.max() < 1.0
    assert np.any(published["fpa_attention/fpa"].values != 0)
    model(images[::-1] * 0.5, training=False)
    np.testing.assert_array_equal(collect_diagnostics(model)["fpa_attention/fpa"].values,
                                  published["fpa_attention/fpa"].values)


def test_the_trainer_writes_the_attentions_to_tensorboard(tmp_path):
    """Two replicas (the probes' variables are averaged across them), one step, the tags in TensorBoard."""
    cfg = tiny_config(**{"model.architecture": "pan", "model.backbone.first_unit_dilated": True,
                         "train.train_steps": 1})
    strategy = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    trainer = Trainer(cfg, tmp_path, strategy)
    trainer.train(evaluate_during_training=False)
    tags = event_tags(tmp_path / "train")
    assert {"fpa_attention/fpa", "fpa_attention_mean/fpa", "gau_channel_weights/gau_res4"} <= tags
    weights = collect_diagnostics(trainer.model)["gau_channel_weights/gau_res2"].values
    assert np.all(np.isfinite(weights)) and 0.0 < weights.min() and weights.max() < 1.0


# --- The ablations: structure, and one training step each ----------------------------------------------------

def _sub_models(model):
    return {layer.name: layer for layer in model.layers if isinstance(layer, keras.Model)}


STRUCTURE = {  # ablation -> (context layer that must exist, number of GAU blocks)
    "resnet101": ("reduce", 0), "resnet101_se": ("se_scale", 0), "resnet101_pspnet": ("ppm_concat", 0),
    "gau_3x3": ("reduce", 3), "gau_gp_1x1": ("reduce", 3), "gau_gp_3x3": ("reduce", 3), "pan": ("fpa", 3),
    "pan_ms": ("fpa", 3), "pan_ms_flip": ("fpa", 3), "deeplabv3_os16": ("aspp0", 0),
    **{name: ("fpa", 0) for name in papers.list_ablations("pan") if name.startswith("fpa_")},
}
# One training step for each distinct structure by default; the other FPA settings differ only in kernels and
# pooling, which the reference tests cover, and train with -m slow.
TRAINED_BY_DEFAULT = ("resnet101", "resnet101_se", "fpa_c357_max", "fpa_c333_ave_gp", "resnet101_pspnet",
                      "deeplabv3_os16", "gau_3x3", "gau_gp_1x1", "pan")


def test_every_ablation_has_a_structure_check():
    assert set(STRUCTURE) == set(papers.list_ablations("pan"))


@pytest.mark.parametrize("ablation", [
    name if name in TRAINED_BY_DEFAULT else pytest.param(name, marks=pytest.mark.slow)
    for name in papers.list_ablations("pan")
])
def test_every_ablation_builds_its_head_and_trains_a_step(ablation):
    """Each table row's head on a ResNet-18 in PAN's layout, without multi-grid (the row's ResNet-101 is counted in
    test_model_table): the row's context module and GAU blocks, the FPA kernels and pooling of its name, one SGD
    step of its recipe on 48 x 48 images, finite loss, logits at the input's size."""
    cfg = papers.get_experiment("pan", ablation)
    small = dataclasses.replace(cfg.model.backbone, name="resnet18", multi_grid=None)  # ResNet-18's res5: 2 units
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, backbone=small))
    keras.utils.set_random_seed(0)
    model = build_model(cfg.model, num_classes=5)
    context, gau_blocks = STRUCTURE[ablation]
    layers = {layer.name for layer in model.layers}
    assert context in layers
    assert sum(name.startswith("gau") for name in _sub_models(model)) == gau_blocks
    if context == "fpa":
        fpa = _sub_models(model)["fpa"]
        kernels = [fpa.get_layer(f"fpa_lateral{level}").kernel_size[0] for level in (1, 2, 3)]
        assert kernels == list(FPA_KERNELS[cfg.model.head.fpa.kernels])
        assert any(layer.name == "fpa_global_pool" for layer in fpa.layers) == cfg.model.head.fpa.global_pooling
        pool = type(fpa.get_layer("fpa_pool1")).__name__
        assert pool == {"ave": "AveragePooling2D", "max": "MaxPooling2D"}[cfg.model.head.fpa.downsampling]
    train = dataclasses.replace(cfg.train, train_steps=1, epochs=None)
    optimizer = build_optimizer(train, build_schedule(train, 1))
    images = tf.random.uniform((2, 48, 48, 3), 0, 255, seed=1)
    labels = tf.random.uniform((2, 48, 48), 0, 5, dtype=tf.int32, seed=2)
    with tf.GradientTape() as tape:
        loss = segmentation_loss(labels, model(images, training=True), ignore_label=255)
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    assert np.isfinite(float(loss)) and model(images[:1]).shape == (1, 48, 48, 5)
    assert all(gradient is not None for gradient in gradients)


def test_pan_recipe_and_evaluation_variants():
    cfg = papers.get_experiment("pan")
    assert (cfg.train.optimizer, cfg.train.momentum, cfg.train.learning_rate) == ("sgd", 0.9, 4e-3)
    assert (cfg.train.weight_decay, cfg.train.batch_size, cfg.data.crop_size) == (1e-4, 16, (512, 512))
    assert (cfg.data.min_scale, cfg.data.max_scale, cfg.data.flip) == (0.5, 2.0, True)
    assert papers.apply_recipe("pan", "cityscapes", cfg).data.crop_size == (768, 768)
    ms, flip = papers.get_experiment("pan", "pan_ms"), papers.get_experiment("pan", "pan_ms_flip")
    assert ms.model == flip.model == cfg.model
    assert ms.eval.scales == (0.5, 0.75, 1.0, 1.25, 1.5, 1.75) and not ms.eval.add_flipped_images
    assert flip.eval.scales == ms.eval.scales and flip.eval.add_flipped_images
    backbone = cfg.model.backbone
    assert (backbone.name, backbone.stem, backbone.stem_widths, backbone.output_stride) == (
        "resnet101", "beta", (64, 64, 128), 16)


def test_invalid_pan_heads_say_what_is_wrong():
    bad = PanConfig(context="aspp", fpa=FPAConfig(kernels="C555", pyramid_channels=7))
    errors = bad.errors(ModelConfig(architecture="pan", head=bad))
    assert any("context='aspp' is not one of 'fpa', 'none', 'se', 'ppm'" in error for error in errors)
    assert any("fpa.kernels='C555' is not one of 'C357', 'C333'" in error for error in errors)
    assert any("pyramid_channels must be None (= channels, 256) or 1" in error for error in errors)
    slim = ModelConfig(architecture="pan", backbone=BackboneConfig(name="resnet50", layout="slim"))
    assert any("the slim layout ends each block with its stride" in error for error in PanConfig().errors(slim))
    with pytest.raises(config_lib.ConfigError, match="PSPNet's head .* set model.head.decoder=none"):
        config_lib.validate(config_lib.override(papers.get_experiment("pan", "resnet101_pspnet"),
                                                {"model.head.decoder": "gau"}))
