"""Mixed precision (train.mixed_precision, Keras' mixed_float16): every paper's main model trains a step, and the
paper operators keep float32 where float16 would lose them.

Operators that compute in float32 under a mixed policy (their own tests show what float16 loses): the LI layer and
the RD ablation's depthwise conv (tests/test_lateral_inhibition.py), DifNet's random walks (the row-softmax over
thousands of nodes), the logits' upsampling; the deformable conv samples at float32 positions whatever its inputs'
dtype (tests/test_deform_conv.py). The others compute in float16 and stay within float16 rounding of their float32
selves at a paper's map size (below): FPA and GAU, whose global averages Keras accumulates in float32
(tf.reduce_mean of float16 over a 257 x 257 map returns 0 on CPU), CycleASPP, the ADC decoder; the smoothing
filters in tests/test_smoothing_layers.py.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments.papers import main_ablation
from li_seg.config import TrainConfig
from li_seg.layers import LateralInhibition
from li_seg.layers.cycle_aspp import CycleASPP
from li_seg.layers.deformable_alignment import DeformableAlignment
from li_seg.layers.diagnostics import model_layers
from li_seg.layers.feature_pyramid_attention import FeaturePyramidAttention
from li_seg.layers.global_attention_upsample import GlobalAttentionUpsample
from li_seg.layers.normalization import BatchNormSettings
from li_seg.layers.random_walk import RandomWalk
from li_seg.models import build_model, loss_weights
from li_seg.training.optimizers import build_optimizer
from li_seg.training.step import loss_and_gradients
from tests.paper_models import PAPERS, batch, prepare, small_config

SIZE, CLASSES = 65, 5
FLOAT32_OPERATORS = {"li_convs": LateralInhibition, "difnet": RandomWalk}


def _built(config, policy: str) -> keras.Model:
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    return prepare(build_model(config, CLASSES), np.random.default_rng(0))


@pytest.mark.parametrize("paper", [paper if paper not in ("cyclenet", "difnet") else pytest.param(
    paper, marks=pytest.mark.slow) for paper in PAPERS])  # slow: 17-20 s each, the suite's budget
def test_each_papers_main_model_trains_a_step_under_mixed_precision(paper, mixed_float16_policy):
    """Loss scaling as the trainer does it (LossScaleOptimizer: overflowing steps are skipped and the scale
    halved): one step is applied, the loss is float32, finite and within 1 % of the float32 model's with the same
    weights, every output is float32, every updated weight finite."""
    config = small_config(paper, main_ablation(paper))
    reference = _built(config, "float32")
    model = _built(config, "mixed_float16")
    model.set_weights(reference.get_weights())
    images, labels = batch(np.random.default_rng(1), 2, SIZE, CLASSES)
    arguments = dict(ignore_label=255, weights=loss_weights(config), global_num_valid=tf.constant(2.0 * SIZE**2),
                     weight_decay=1e-4)
    expected = loss_and_gradients(reference, reference.trainable_variables, images, labels, **arguments)[0]["loss"]

    optimizer = build_optimizer(TrainConfig(mixed_precision=True), 0.01)
    optimizer.build(model.trainable_variables)
    step = tf.function(lambda images, labels: loss_and_gradients(
        model, model.trainable_variables, images, labels, scale_loss=optimizer.scale_loss, **arguments))
    before = [v.numpy() for v in model.trainable_variables]
    for _ in range(8):
        losses, gradients = step(images, labels)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        if int(optimizer.iterations) == 1:
            break
    assert int(optimizer.iterations) == 1, "every step overflowed"
    assert losses["loss"].dtype == tf.float32
    assert float(losses["loss"]) == pytest.approx(float(expected), rel=1e-2)
    assert all(o.dtype == tf.float32 for o in keras.tree.flatten(model(images)))
    after = [v.numpy() for v in model.trainable_variables]
    assert all(np.isfinite(w).all() for w in after)
    assert sum(not np.array_equal(a, b) for a, b in zip(after, before)) > len(before) // 2
    operators = [layer for layer in model_layers(model) if isinstance(layer, FLOAT32_OPERATORS.get(paper, ()))]
    assert paper not in FLOAT32_OPERATORS or operators
    assert all(layer.compute_dtype == "float32" for layer in operators)


BN = BatchNormSettings()
OPERATORS = {
    "fpa": (lambda: FeaturePyramidAttention(64, BN, channels=32), [(2, 65, 65, 64)]),
    "gau": (lambda: GlobalAttentionUpsample(32, BN, channels=32), [(2, 129, 129, 32), (2, 257, 257, 32)]),
    "cycle_aspp": (lambda: CycleASPP(64, BN, bottleneck_channels=32, growth_channels=16, dropout_rate=0.0),
                   [(2, 65, 65, 64)]),
    "adc": (lambda: DeformableAlignment(32, 16, BN, low_channels=8, high_channels=16, offset_channels=16,
                                        fusion_channels=16), [(2, 49, 49, 32), (2, 97, 97, 16)]),
}


@pytest.mark.parametrize("name", list(OPERATORS))
def test_float16_operators_stay_within_float16_rounding_of_float32(name, mixed_float16_policy):
    """The operator in float16 against its float32 self with the same weights, in training mode (batch statistics),
    at map sizes of the papers' crops: every element within 2 % of the output's largest magnitude, the mean
    absolute difference within 0.5 % of the output's mean magnitude (float16 keeps 11 significant bits)."""
    make, shapes = OPERATORS[name]
    keras.mixed_precision.set_global_policy("float32")
    reference = make()
    keras.mixed_precision.set_global_policy("mixed_float16")
    operator = make()
    rng = np.random.default_rng(3)
    for variable in reference.trainable_variables:
        variable.assign(variable.numpy() + 0.1 * rng.normal(size=variable.shape))
    operator.set_weights(reference.get_weights())
    # Per image and channel scales, as real features have: two images of equal statistics would leave the global
    # branches' batch norm (over B values per channel) normalising rounding noise.
    inputs = [tf.constant(rng.uniform(0, 4, shape) * rng.uniform(0.5, 1.5, (shape[0], 1, 1, shape[3])), tf.float32)
              for shape in shapes]
    expected = reference(inputs, training=True).numpy()
    got = operator(inputs, training=True)
    assert got.dtype == tf.float16
    difference = np.abs(got.numpy().astype(np.float32) - expected)
    assert difference.max() <= 2e-2 * np.abs(expected).max()
    assert difference.mean() <= 5e-3 * np.abs(expected).mean()
