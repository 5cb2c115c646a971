"""XLA (train.jit_compile, --xla): every paper's main model takes the same training step compiled as not.

One replica's loss and gradients (`li_seg.training.step.loss_and_gradients`, what the trainer compiles) under
tf.function(jit_compile=True) against plain tf.function, at a small size (ResNet-18 where the paper has a ResNet;
65 x 65 inputs, so every bilinear resize has a non-integer ratio, where XLA's own ResizeBilinear is wrong). The loss
must agree to 1e-5. The gradients, whose early layers at random initialisation amplify any reordering of the
arithmetic, must differ from the uncompiled ones, variable by variable, by at most three times as much as the
uncompiled step differs from itself with the batch reversed (mathematically the same step), plus 1e-4 of the
variable's own gradient and 1e-7 of the whole gradient (for variables whose gradient is rounding noise). Dropout
is off (its random draws differ under XLA) and the deformable convs' offsets start fractional (at zero every
sample sits on an integer position, where CropAndResize and the gather sampler XLA uses take one-sided derivatives
from opposite sides).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments.papers import main_ablation
from li_seg.models import build_model, loss_weights
from li_seg.ops import bilinear_resize
from li_seg.training.step import loss_and_gradients
from tests.paper_models import PAPERS, batch, prepare, small_config

SIZE, CLASSES = 65, 5


def _within_the_uncompiled_spread(gradients, xla_gradients, reversed_gradients, variables) -> list[str]:
    """The variables whose compiled gradient is further from the uncompiled one than the criterion allows."""
    total = np.sqrt(sum(float(np.sum(g.numpy() ** 2)) for g in gradients))
    wrong = []
    for g, x, r, v in zip(gradients, xla_gradients, reversed_gradients, variables):
        g, x, r = g.numpy(), x.numpy(), r.numpy()
        allowed = 3 * np.linalg.norm(r - g) + 1e-4 * np.linalg.norm(g) + 1e-7 * total
        if np.linalg.norm(x - g) > allowed:
            wrong.append(f"{v.path}: {np.linalg.norm(x - g):.3g} > {allowed:.3g}")
    return wrong


def _compare(paper: str, ablation: str):
    keras.utils.set_random_seed(0)
    model_config = small_config(paper, ablation)
    rng = np.random.default_rng(0)
    model = prepare(build_model(model_config, CLASSES), rng)
    images, labels = batch(rng, 2, SIZE, CLASSES)

    def step(images, labels):
        return loss_and_gradients(model, model.trainable_variables, images, labels, ignore_label=255,
                                  weights=loss_weights(model_config), global_num_valid=tf.constant(2.0 * SIZE ** 2),
                                  weight_decay=1e-4)

    plain, compiled = tf.function(step), tf.function(step, jit_compile=True)
    (loss, gradients), (xla_loss, xla_gradients) = plain(images, labels), compiled(images, labels)
    _, reversed_gradients = plain(tf.reverse(images, [0]), tf.reverse(labels, [0]))
    assert float(xla_loss["loss"]) == pytest.approx(float(loss["loss"]), rel=1e-5)
    wrong = _within_the_uncompiled_spread(gradients, xla_gradients, reversed_gradients, model.trainable_variables)
    assert not wrong, wrong[:10]
    graph = compiled.get_concrete_function(images, labels).graph
    assert not {"CropAndResize", "ResizeBilinear"} & {op.type for op in graph.get_operations()}


@pytest.mark.parametrize("size_in, size_out", [((1, 1), (17, 17)), ((5, 7), (65, 63)), ((33, 33), (513, 513)),
                                               ((8, 8), (64, 64)), ((65, 65), (9, 9))])
def test_bilinear_resize_is_tf_image_resize_with_and_without_xla(size_in, size_out):
    """li_seg.ops.bilinear_resize (what ResizeToMatch runs inside XLA) against tf.image.resize, forward and
    gradient; XLA's own lowering of the latter is wrong for the non-integer ratios here."""
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(2, *size_in, 3)), tf.float32)
    upstream = tf.constant(rng.normal(size=(2, *size_out, 3)), tf.float32)

    def resized_and_gradient(resize, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = resize(x, size_out)
            loss = tf.reduce_sum(y * upstream)
        return y, tape.gradient(loss, x)

    expected, expected_gradient = tf.function(lambda x: resized_and_gradient(tf.image.resize, x))(x)
    for jit_compile in (False, True):
        got, gradient = tf.function(lambda x: resized_and_gradient(bilinear_resize, x), jit_compile=jit_compile)(x)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=2e-6)
        np.testing.assert_allclose(gradient.numpy(), expected_gradient.numpy(), rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("paper", PAPERS)
def test_each_papers_main_model_takes_the_same_step_under_xla(paper, without_op_determinism):
    _compare(paper, main_ablation(paper))


@pytest.mark.slow
@pytest.mark.parametrize("paper, ablation", [
    ("li_convs", "li_resnet50_li_aspp_decoder"),  # Table V: ResNet, DeepLabv3+ decoder, LI in the backbone
    ("smoothing", "ss_conv"),
    ("pan", "fpa_c357_ave_gp"),  # Table 1: FPA alone
    ("cyclenet", "aspp_6_12_18"),  # Table 1
    ("difnet", "sim_deeplab_18"),
])
def test_a_row_of_each_other_table_family_takes_the_same_step_under_xla(paper, ablation, without_op_determinism):
    _compare(paper, ablation)
