"""CycleNet (issue 13): CycleASPP / DenseASPP against a NumPy reference of Eq. 2-3 with CliqueNet's weight reuse
(tests/cycleaspp_reference.py, written from the equations without seeing li_seg's code), the reuse itself, ADC
against NumPy (tests/dcn_reference.py for the deformable conv), .keras round trips, any input size, the offset
diagnostics, the recipes and every ablation's structure and training step. Exact parameter and FLOP counts are in
tests/test_model_table.py; the operator's own tests in tests/test_deform_conv*.py."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments import config as config_lib
from experiments import papers
from li_seg.backbones import build_backbone, resnet_plan
from li_seg.config import BackboneConfig, ModelConfig
from li_seg.export.saved_model import export_saved_model
from li_seg.layers import BatchNormSettings, CycleASPP, DeformableAlignment, collect_diagnostics
from li_seg.layers.cycle_aspp import FEEDBACK, part_one_sources, part_two_sources
from li_seg.models import build_model, inference_model
from li_seg.models.cyclenet import ADCConfig, CycleASPPConfig, CycleNetConfig
from li_seg.training.losses import segmentation_loss, weight_decay_variables
from li_seg.training.optimizers import build_optimizer, resolve_lr_multipliers
from li_seg.training.schedules import build_schedule

from tests import cycleaspp_reference as ref
from tests import dcn_reference

BN = BatchNormSettings()
EPS = 1e-5
# CycleNet's head on a ResNet-18 in CycleNet's layout (OS 8, deep stem): the same head, fast to build and trace.
SMALL_BACKBONE = BackboneConfig(name="resnet18", layout="torchvision", output_stride=8)


def _randomize(model, seed=0, scale=0.5):
    """Random weights everywhere (uniform in +-scale), BN moving variances in [0.5, 1.5)."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if weight.path.endswith("moving_variance"):
            weight.assign(rng.uniform(0.5, 1.5, weight.shape).astype("float32"))
        else:
            weight.assign(rng.uniform(-scale, scale, weight.shape).astype("float32"))


def _bn(layer):
    return tuple(v.numpy().astype(np.float64) for v in (layer.gamma, layer.beta, layer.moving_mean,
                                                         layer.moving_variance))


def _reference_params(block, layers, name="cycle_aspp"):
    """The reference's params dict read from the block's layers (tests/cycleaspp_reference.py's layout)."""
    names = {layer.name for layer in block.layers}
    params = {"w1": {}, "w1_part2": {}, "b1": {}, "w3": {}, "b3": {}, "bn": {}}
    for j in range(1, layers + 1):
        clique = block.get_layer(f"{name}{j}_1x1")
        params["w1"].update({(i, j): k.numpy()[0, 0] for i, k in clique.source_kernels.items()})
        params["w1_part2"].update({(i, j): k.numpy()[0, 0] for i, k in clique.feedback_kernels.items()})
        params["b1"][j] = clique.bias.numpy()
        conv = block.get_layer(f"{name}{j}_3x3")
        params["w3"][j], params["b3"][j] = conv.kernel.numpy(), conv.bias.numpy()
        for part, prefix in ((1, f"{name}{j}"), (2, f"{name}{j}_feedback")):
            for key, suffix in (("a", "bn_input"), ("b", "bn_bottleneck")):
                if f"{prefix}_{suffix}" in names:
                    params["bn"][(part, j, key)] = _bn(block.get_layer(f"{prefix}_{suffix}"))
    return params


VARIANTS = {  # name -> CycleASPP keyword arguments
    "cycleaspp": {},
    "unshared": {"shared": False},
    "literal": {"update_first_layer": False},
    "without_input": {"include_input": False},
    "input_bn": {"input_bn": True},
    "denseaspp": {"feedback": False},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_cycle_aspp_matches_the_reference(variant):
    """Eq. 2-3 with the reuse of Part I's 1x1 kernels, separate Part II BN, every option; rates 1, 2, 3 on a 9 x 7
    map (rate 3's taps reach past the border) and on 1 x 1."""
    options = VARIANTS[variant]
    rates = (1, 2, 3)
    block = CycleASPP(5, BN, rates, bottleneck_channels=6, growth_channels=4, **options)
    _randomize(block)
    params = _reference_params(block, len(rates))
    for shape in [(2, 9, 7, 5), (1, 1, 1, 5)]:
        y0 = np.random.default_rng(1).uniform(-1, 2, shape)
        expected = ref.cycle_aspp_reference(y0, params, rates, eps=EPS, **options)
        ours = block(y0.astype("float32"), training=False)
        assert ours.shape == expected.shape
        np.testing.assert_allclose(np.asarray(ours, np.float64), expected, rtol=1e-4,
                                   atol=1e-4 * max(1.0, float(np.abs(expected).max())))


def test_part_two_reuses_part_one_kernels_and_unshared_adds_exactly_them():
    """The reuse: each layer's 1x1 conv and 3x3 conv are called by both parts; Part II's kernels W_ij with i < j
    are the very variables Part I reads (and each variable is trained once); BN is separate. Unshared Part II has
    its own kernel for every source, and the parameter counts differ by exactly the J(J-1)/2 reused kernels."""
    rates, bottleneck, growth = (3, 6, 12, 18, 24, 30), 16, 8
    shared = CycleASPP(32, BN, rates, bottleneck, growth)
    unshared = CycleASPP(32, BN, rates, bottleneck, growth, shared=False)
    layers = len(rates)
    for j in range(1, layers + 1):
        clique = shared.get_layer(f"cycle_aspp{j}_1x1")
        assert len(clique._inbound_nodes) == 2 and len(shared.get_layer(f"cycle_aspp{j}_3x3")._inbound_nodes) == 2
        part_one = dict(zip(part_one_sources(j), clique.kernels(part_one_sources(j))))
        part_two = dict(zip(part_two_sources(j, layers), clique.kernels(part_two_sources(j, layers), FEEDBACK)))
        assert all(part_two[i] is part_one[i] for i in range(1, j))
        assert not clique.feedback_kernels
        separate = unshared.get_layer(f"cycle_aspp{j}_1x1")
        own = separate.kernels(part_two_sources(j, layers), FEEDBACK)
        assert not {id(k) for k in own} & {id(k) for k in separate.kernels(part_one_sources(j))}
        assert shared.get_layer(f"cycle_aspp{j}_bn_bottleneck") is not shared.get_layer(
            f"cycle_aspp{j}_feedback_bn_bottleneck")
    paths = [v.path for v in shared.trainable_weights]
    assert len(paths) == len(set(paths))
    difference = unshared.count_params() - shared.count_params()
    assert difference == layers * (layers - 1) // 2 * growth * bottleneck


def test_weight_decay_reaches_every_kernel_of_the_chain_and_the_alignment():
    """The per-source 1x1 kernels ("kernel_from_<i>", "kernel_feedback_from_<i>") and the deformable conv's kernel
    are decayed like every conv kernel; biases and BN are not."""
    model = _small(head=CycleNetConfig(cycle_aspp=CycleASPPConfig(rates=(1, 2), shared=False)), aux=False)
    decayed = {v.path for v in weight_decay_variables(model.trainable_variables)}
    clique = [v.path for v in model.trainable_variables if "_1x1/kernel" in v.path]
    assert clique and set(clique) <= decayed and any("feedback" in path for path in clique)
    assert "adc_deformable/kernel" in decayed and "adc_deformable/offset_mask/kernel" in decayed
    assert not {path for path in decayed if path.endswith(("bias", "gamma", "beta"))}


def test_part_two_trains_the_kernels_only_it_reads():
    """W_ij with i > j is read by Part II alone: its gradient is non-zero (Part II is in the graph), and a DenseASPP
    of the same rates has no such kernel."""
    block = CycleASPP(6, BN, (1, 2), bottleneck_channels=4, growth_channels=3)
    _randomize(block, seed=3)
    kernel = block.get_layer("cycle_aspp1_1x1").source_kernels[2]
    x = tf.random.uniform((2, 5, 5, 6), seed=4)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(block(x, training=False) ** 2)
    assert float(tf.reduce_max(tf.abs(tape.gradient(loss, kernel)))) > 0
    dense = CycleASPP(6, BN, (1, 2), bottleneck_channels=4, growth_channels=3, feedback=False)
    assert set(dense.get_layer("cycle_aspp1_1x1").source_kernels) == {0}


def _cbr(x, conv, bn, rate=1):
    """NumPy conv (1x1 or 3x3, no bias) -> BN -> ReLU."""
    kernel = conv.kernel.numpy().astype(np.float64)
    y = ref.conv1x1(x, kernel[0, 0]) if kernel.shape[0] == 1 else ref.dilated_conv3x3(x, kernel, None, rate)
    return ref.relu(ref.batch_norm(y, _bn(bn), EPS))


def test_adc_matches_numpy_with_active_offsets():
    """ADC (module docstring of li_seg.layers.deformable_alignment) in NumPy: the reductions, the guide conv, the
    offset / mask conv on the guide (random weights: offsets of a few pixels, masks away from 0.5), DCNv2 on the
    reduced high-level features (tests/dcn_reference.py), the fusion convs. X_high at X_low's size (the bilinear
    upsampling is then the identity)."""
    adc = DeformableAlignment(7, 5, BN, low_channels=3, high_channels=4, offset_channels=6, offset_convs=1,
                              fusion_channels=5, fusion_convs=2, name="adc")
    _randomize(adc, seed=5)
    deformable = adc.get_layer("adc_deformable")
    offset_conv = deformable.offset_conv
    offset_conv.kernel.assign(np.random.default_rng(6).uniform(-1, 1, offset_conv.kernel.shape).astype("float32"))
    rng = np.random.default_rng(7)
    high, low = rng.uniform(-1, 2, (2, 9, 8, 7)), rng.uniform(-1, 2, (2, 9, 8, 5))
    low_r = _cbr(low, adc.get_layer("adc_low"), adc.get_layer("adc_low_bn"))
    high_r = _cbr(high, adc.get_layer("adc_high"), adc.get_layer("adc_high_bn"))
    guide = _cbr(np.concatenate([low_r, high_r], -1), adc.get_layer("adc_offset1"), adc.get_layer("adc_offset1_bn"))
    predicted = ref.dilated_conv3x3(guide, offset_conv.kernel.numpy(), offset_conv.bias.numpy(), 1)
    offsets, mask = predicted[..., :18], 1 / (1 + np.exp(-predicted[..., 18:]))
    assert np.abs(offsets).max() > 1.0 and np.abs(mask - 0.5).max() > 0.2
    aligned = dcn_reference.modulated_deform_conv2d(high_r, offsets, mask, deformable.kernel.numpy(),
                                                    deformable.bias.numpy(), padding=1)
    y = np.concatenate([low_r, aligned], -1)
    for index in (1, 2):
        y = _cbr(y, adc.get_layer(f"adc_fusion{index}"), adc.get_layer(f"adc_fusion{index}_bn"))
    ours = adc([high.astype("float32"), low.astype("float32")], training=False)
    np.testing.assert_allclose(np.asarray(ours, np.float64), y, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(y).max()))


def _small(head=None, num_classes=5, aux=True):
    cfg = papers.get_experiment("cyclenet")
    model = dataclasses.replace(cfg.model, backbone=SMALL_BACKBONE, head=head or CycleNetConfig(),
                                aux_heads=cfg.model.aux_heads if aux else ())
    return build_model(model, num_classes)


def test_cyclenet_takes_any_input_size_and_survives_a_keras_round_trip(tmp_path):
    """Logits at the input's size (OS-8 maps 17 x 13, 7 x 5 and 2 x 2); the saved .keras model (its shared
    CliqueConv1x1 calls with their sources) gives the same logits; the export's model has no auxiliary head."""
    keras.utils.set_random_seed(0)
    model = _small(aux=False)
    rng = np.random.default_rng(6)
    for shape in [(1, 129, 97, 3), (2, 50, 37, 3), (1, 9, 9, 3)]:
        images = rng.uniform(0, 255, shape).astype("float32")
        assert model(images, training=True).shape == (*shape[:3], 5)
    path = tmp_path / "cyclenet.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    images = rng.uniform(0, 255, (2, 40, 56, 3)).astype("float32")
    np.testing.assert_allclose(loaded(images), model(images), atol=1e-4)
    with_aux = _small()
    assert set(with_aux.output) == {"logits", "aux_logits"}
    assert not isinstance(inference_model(with_aux).output, dict)


def test_cyclenet_exports_a_saved_model_and_restores_from_a_checkpoint(tmp_path):
    """The serving signature of the model with its auxiliary head gives the logits' softmax, and a TF checkpoint
    restores every weight into a fresh model (the shared 1x1 convs' per-source kernels included: held in a list,
    they were once left out of checkpoints without an error)."""
    keras.utils.set_random_seed(1)
    model = _small()
    _randomize(model, seed=2, scale=0.05)
    export_saved_model(model, str(tmp_path / "export"))
    serving = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    images = np.random.default_rng(3).integers(0, 256, (1, 37, 45, 3)).astype(np.uint8)
    probabilities = serving(images=tf.constant(images))["probabilities"]
    reference = tf.nn.softmax(inference_model(model)(images.astype(np.float32), training=False))
    np.testing.assert_allclose(probabilities, reference, atol=1e-5)
    path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    fresh = _small()
    tf.train.Checkpoint(model=fresh).read(path).assert_existing_objects_matched()
    assert [w.path for w in fresh.weights] == [w.path for w in model.weights]
    for restored, saved in zip(fresh.weights, model.weights):
        np.testing.assert_array_equal(restored, saved, err_msg=saved.path)


def test_cyclenet_trains_under_mixed_precision():
    """mixed_float16: the shared 1x1 convs and the deformable conv compute in float16, the logits are float32, and a
    training step's gradients are finite."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _small(aux=False)
        clique = model.get_layer("cycle_aspp").get_layer("cycle_aspp2_1x1")
        assert clique.compute_dtype == "float16" and model.get_layer("adc").get_layer(
            "adc_deformable").compute_dtype == "float16"
        images = tf.random.uniform((1, 24, 24, 3), 0, 255, seed=1)
        labels = tf.random.uniform((1, 24, 24), 0, 5, dtype=tf.int32, seed=2)
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = segmentation_loss(labels, logits, ignore_label=255)
        gradients = tape.gradient(loss, model.trainable_variables)
        assert logits.dtype == tf.float32
        assert all(np.isfinite(g.numpy()).all() for g in gradients)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_the_alignment_publishes_its_offsets_from_training_steps():
    """ADC's deformable conv publishes the mean |offset| per tap and the mean mask (0.5 at the start: the offset /
    mask conv is zero-initialised) from training calls."""
    model = _small(aux=False)
    images = np.random.default_rng(7).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    model(images, training=True)
    published = collect_diagnostics(model)
    assert published["deformable_offsets/adc"].values.shape == (18,)
    assert published["deformable_mask_mean/adc"] == pytest.approx(0.5)
    assert published["deformable_offsets_mean_abs/adc"] == 0.0


# --- The ablations: structure, and one training step each ----------------------------------------------------

STRUCTURE = {  # ablation -> (context sub-model or layer, layers in the chain (0: none), feedback, ADC)
    "aspp_6_12_18": ("aspp0", 0, False, False),
    "denseaspp_3_24": ("dense_aspp", 5, False, False),
    "denseaspp_3_30": ("dense_aspp", 6, False, False),
    "cycleaspp_6_24": ("cycle_aspp", 4, True, False),
    "cycleaspp_3_24": ("cycle_aspp", 5, True, False),
    "cycleaspp_3_30": ("cycle_aspp", 6, True, False),
    "cycleaspp_3_30_unshared": ("cycle_aspp", 6, True, False),
    "cycleaspp_3_30_without_input": ("cycle_aspp", 6, True, False),
    "cycleaspp_3_30_literal": ("cycle_aspp", 6, True, False),
    "resnet101": ("fcn", 0, False, False),
    "cyclenet": ("cycle_aspp", 6, True, True),
    "cyclenet_spnet_dilation": ("cycle_aspp", 6, True, True),
    "cyclenet_ms": ("cycle_aspp", 6, True, True),
    "cyclenet_ade20k": ("cycle_aspp", 5, True, True),
}
TRAINED_BY_DEFAULT = ("aspp_6_12_18", "denseaspp_3_24", "cycleaspp_6_24", "resnet101", "cyclenet")


def test_every_ablation_has_a_structure_check():
    assert set(STRUCTURE) == set(papers.list_ablations("cyclenet"))


@pytest.mark.parametrize("ablation", [
    name if name in TRAINED_BY_DEFAULT else pytest.param(name, marks=pytest.mark.slow)
    for name in papers.list_ablations("cyclenet")
])
def test_every_ablation_builds_its_head_and_trains_a_step(ablation):
    """Each row's head on a ResNet-18 in CycleNet's layout (the row's ResNet-101 is counted in test_model_table):
    its context, chain length, feedback and ADC, the auxiliary head; one SGD step of its recipe on 48 x 48 images
    with both losses, finite, every variable with a gradient; logits at the input's size."""
    cfg = papers.get_experiment("cyclenet", ablation)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, backbone=SMALL_BACKBONE, sync_bn=False))
    keras.utils.set_random_seed(0)
    model = build_model(cfg.model, num_classes=5)
    context, chain, feedback, adc = STRUCTURE[ablation]
    layers = {layer.name: layer for layer in model.layers}
    assert context in layers and ("adc" in layers) == adc
    if chain:
        block = layers[context]
        assert sum(layer.name.endswith("_3x3") for layer in block.layers) == chain
        assert any(layer.name.endswith("_feedback_bn_input") for layer in block.layers) == feedback
    train = dataclasses.replace(cfg.train, train_steps=1, epochs=None)
    optimizer = build_optimizer(train, build_schedule(train, 1))
    images = tf.random.uniform((2, 48, 48, 3), 0, 255, seed=1)
    labels = tf.random.uniform((2, 48, 48), 0, 5, dtype=tf.int32, seed=2)
    with tf.GradientTape() as tape:
        outputs = model(images, training=True)
        loss = sum(weight * segmentation_loss(labels, outputs[name], ignore_label=255)
                   for name, weight in (("logits", 1.0), ("aux_logits", 0.4)))
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    assert np.isfinite(float(loss)) and inference_model(model)(images[:1]).shape == (1, 48, 48, 5)
    assert all(gradient is not None for gradient in gradients)


def _block_rates(backbone: BackboneConfig) -> list[list[int]]:
    """The rate of every unit of block3 and block4 under `backbone`'s options."""
    schedule = resnet_plan.unit_schedule(backbone.name, backbone.layout, backbone.output_stride,
                                         multi_grid=backbone.multi_grid,
                                         first_unit_dilated=backbone.first_unit_dilated)
    return [[rate for _, rate in block] for block in schedule[2:]]


def test_cyclenet_backbone_recipes_and_evaluation_variants():
    """ResNet-101 deep stem at OS 8, every unit of block3 at rate 2 and of block4 at rate 4 (Sec. 3's sentence), the
    aux head, the Cityscapes / ADE20K recipes, +MS."""
    cfg = papers.get_experiment("cyclenet")
    backbone = cfg.model.backbone
    assert (backbone.name, backbone.stem, backbone.stem_widths, backbone.output_stride, backbone.layout) == (
        "resnet101", "beta", (64, 64, 128), 8, "torchvision")
    assert _block_rates(backbone) == [[2] * 23, [4, 4, 4]]
    assert all(_block_rates(papers.get_experiment("cyclenet", name).model.backbone) == [[2] * 23, [4, 4, 4]]
               for name in papers.list_ablations("cyclenet") if name != "cyclenet_spnet_dilation")
    (aux,) = cfg.model.aux_heads
    assert (aux.feature, aux.channels, aux.dropout_rate, aux.loss_weight) == ("block3", 256, 0.1, 0.4)
    train = cfg.train
    assert (train.optimizer, train.momentum, train.learning_rate, train.weight_decay) == ("sgd", 0.9, 1e-2, 1e-4)
    assert (train.batch_size, train.epochs, train.train_steps, train.lr_schedule) == (8, 180, None, "poly")
    assert (cfg.data.crop_size, cfg.data.min_scale, cfg.data.max_scale, cfg.data.flip) == ((796, 796), 0.75, 2.0, True)
    assert cfg.model.sync_bn
    assert papers.apply_recipe("cyclenet", "cityscapes_769", cfg).data.crop_size == (769, 769)
    ade = papers.get_experiment("cyclenet", "cyclenet_ade20k")
    assert (ade.train.learning_rate, ade.train.batch_size, ade.train.epochs, ade.data.crop_size) == (
        2e-2, 16, 120, (512, 512))
    assert ade.model.head.cycle_aspp.rates == (3, 6, 12, 18, 24)
    ms = papers.get_experiment("cyclenet", "cyclenet_ms")
    assert ms.model == cfg.model and ms.eval.scales == (0.75, 1.0, 1.25, 1.5, 1.75) and not ms.eval.add_flipped_images


def test_invalid_cyclenet_heads_say_what_is_wrong():
    bad = CycleNetConfig(context="psp", cycle_aspp=CycleASPPConfig(rates=(), dropout_rate=1.5),
                         adc=ADCConfig(high_channels=255, deformable_groups=2, offset_convs=-1))
    errors = bad.errors(ModelConfig(architecture="cyclenet", head=bad))
    assert any("context='psp' is not one of 'cycleaspp', 'denseaspp', 'aspp', 'fcn'" in error for error in errors)
    assert any("cycle_aspp.rates needs at least one positive atrous rate" in error for error in errors)
    assert any("cycle_aspp.dropout_rate must be in [0, 1), got 1.5" in error for error in errors)
    assert any("deformable_groups=2 must divide adc.high_channels=255" in error for error in errors)
    assert any("offset_convs and .fusion_convs count convs" in error for error in errors)
    with pytest.raises(config_lib.ConfigError, match="model.head.decoder='fpn' is not one of 'adc', 'none'"):
        config_lib.validate(config_lib.override(papers.get_experiment("cyclenet"), {"model.head.decoder": "fpn"}))


def test_spnet_dilation_ablation_is_spnets_make_layer():
    """`cyclenet_spnet_dilation` runs SPNet's dilated ResNet (houqb/SPNet models/resnet.py, `_make_layer` with
    base.py's multi_grid=True): layer3's first unit at 1, the other 22 at 2; layer4 at multi_dilations (4, 8, 16).
    The rates reach the built convolutions (a ResNet-50 with the ablation's options: the same layer3 rule and
    layer4)."""
    backbone = papers.get_experiment("cyclenet", "cyclenet_spnet_dilation").model.backbone
    assert _block_rates(backbone) == [[1] + [2] * 22, [4, 8, 16]]
    built = build_backbone(dataclasses.replace(backbone, name="resnet50"), BatchNormSettings())
    rates = [[built.get_layer(f"block{block}_unit{unit}_conv2").dilation_rate[0] for unit in range(1, count + 1)]
             for block, count in ((3, 6), (4, 3))]
    assert rates == [[1] + [2] * 5, [4, 8, 16]]


def test_spnet_recipes_train_new_modules_at_ten_times():
    """SPNet's tool/train.py: the backbone at base_lr, the head and the auxiliary head at 10x. The variables at 1x are
    exactly those of the backbone built alone; every other variable of the model (context, ADC, classifiers, aux
    head) is at 10x; the paper's own recipes keep one rate."""
    cfg = papers.get_experiment("cyclenet")
    model = build_model(dataclasses.replace(cfg.model, backbone=SMALL_BACKBONE, sync_bn=False), num_classes=5)
    backbone_paths = {v.path for v in build_backbone(SMALL_BACKBONE, BatchNormSettings()).trainable_variables}
    for recipe, lr in (("cityscapes_spnet_10x", 1e-2), ("ade20k_spnet_10x", 2e-2)):
        train = papers.apply_recipe("cyclenet", recipe, cfg).train
        multipliers = dict(zip((v.path for v in model.trainable_variables),
                               resolve_lr_multipliers(model.trainable_variables, train.lr_multipliers)))
        assert train.learning_rate == lr
        assert {path for path, m in multipliers.items() if m == 1.0} == backbone_paths
        new = {path for path, m in multipliers.items() if m == 10.0}
        assert new == set(multipliers) - backbone_paths
        assert any(p.startswith("aux_logits") for p in new) and any(p.startswith("adc_") for p in new)
    for recipe in ("cityscapes", "cityscapes_769", "ade20k"):
        assert papers.apply_recipe("cyclenet", recipe, cfg).train.lr_multipliers == ()
