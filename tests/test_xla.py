"""XLA (train.jit_compile, --xla): every paper's main model takes the same training step compiled as not.

One replica's loss and gradients (`li_seg.training.step.loss_and_gradients`, what the trainer compiles) under
tf.function(jit_compile=True) against plain tf.function, at a small size (ResNet-18 where the paper has a ResNet;
65 x 65 inputs, so every bilinear resize has a non-integer ratio, where XLA's own ResizeBilinear is wrong). The loss
must agree to 1e-5. The gradients, whose early layers at random initialisation amplify any reordering of the
arithmetic, must differ from the uncompiled ones, variable by variable, by at most three times as much as the
uncompiled step differs from itself with the batch reversed (mathematically the same step), plus 5 % of the
variable's own gradient and 1e-7 of the whole gradient (for variables whose gradient is rounding noise). The 5 %
is calibrated (BUILD_NOTES 22.1): over 19 random initialisations of the five main models the largest difference
used 0.49 of this allowance (with 1e-4 instead, 8 of the 19 failed, up to 71 times over); the negative control
below shows that XLA's own wrong bilinear resize, 20-30 % off, is still caught. Dropout
is off (its random draws differ under XLA) and the deformable convs' offsets start fractional (at zero every
sample sits on an integer position, where CropAndResize and the gather sampler XLA uses take one-sided derivatives
from opposite sides).
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from experiments.papers import main_ablation
from li_seg.layers import resize as resize_layer
from li_seg.ops import bilinear_resize
from tests.paper_models import PAPERS
from tests.xla_step import step_differences


def _compare(paper: str, ablation: str):
    differences = step_differences(paper, ablation)
    assert differences.xla_loss == pytest.approx(differences.loss, rel=1e-5)
    assert not differences.wrong(), differences.wrong()[:10]
    assert not {"CropAndResize", "ResizeBilinear"} & differences.op_types


@pytest.mark.slow  # the default suite's budget; its result is in BUILD_NOTES 22.1
def test_the_criterion_catches_xlas_own_bilinear_resize(monkeypatch, without_op_determinism):
    """Negative control: with ResizeToMatch left on tf.image.resize inside XLA (XLA's ResizeBilinear, 20-30 % off
    in the gradient at non-integer ratios, BUILD_NOTES 19), the gradient criterion flags the step of PAN's main
    model, whose GAUs and output resize by half-pixel bilinear (DeepLabv2's align_corners resize of the smoothing
    paper runs at integer ratios, where XLA's op is right)."""
    monkeypatch.setattr(resize_layer, "in_xla_context", lambda: False)
    differences = step_differences("pan", main_ablation("pan"))
    assert "ResizeBilinear" in differences.op_types
    assert len(differences.wrong()) > 10, differences.wrong()


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
