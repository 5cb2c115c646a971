"""Wang & Ji's SS Conv and G Interact (paper and authors'-code variants), against NumPy implementations written from
the equations (tests/smoothing_references.py)."""

import numpy as np
import pytest
import tensorflow as tf

from li_seg.layers.smoothing import (
    GroupInteraction,
    SharedSmoothing,
)
from li_seg.training.losses import weight_decay_variables
from tests.smoothing_references import (
    authors_gi_conv,
    authors_mixing_reference,
    built,
    check_gradients,
    group_interaction_reference,
    prefilter_reference,
)


@pytest.mark.parametrize("rate", [2, 3, 4])
def test_shared_smoothing_identity_at_init_and_reference(rate):
    layer = built(SharedSmoothing(rate), 3)
    (weight,) = layer.trainable_weights
    size = 2 * rate - 1
    expected_init = np.zeros((size, size))
    expected_init[rate - 1, rate - 1] = 1.0  # the code's mask[dilation_factor - 1, dilation_factor - 1] = 1
    np.testing.assert_array_equal(weight.numpy(), expected_init)
    rng = np.random.default_rng(rate)
    x = rng.normal(size=(2, 7, 10, 3)).astype(np.float32)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    v = rng.normal(size=(size, size))
    weight.assign(v)
    np.testing.assert_allclose(layer(x).numpy(), prefilter_reference(x, v), rtol=1e-5, atol=1e-5)
    assert weight_decay_variables(layer.trainable_variables) == []


@pytest.mark.parametrize("rate, shape", [(2, (2, 5, 7, 3)), (2, (1, 6, 9, 2)), (3, (2, 7, 8, 3)), (4, (1, 7, 10, 2))])
def test_group_interaction_identity_at_init_and_reference(rate, shape):
    layer = built(GroupInteraction(rate), shape[-1])
    rng = np.random.default_rng(rate + shape[1])
    y = rng.normal(size=shape).astype(np.float32)
    np.testing.assert_array_equal(layer.interaction.numpy(), np.eye(rate**2))
    np.testing.assert_array_equal(layer(y).numpy(), y)
    matrix = rng.normal(size=(rate**2, rate**2))
    layer.interaction.assign(matrix)
    np.testing.assert_allclose(
        layer(y).numpy(), group_interaction_reference(y, matrix, rate), rtol=1e-5, atol=1e-5
    )


def test_group_interaction_any_batch_and_size_in_a_graph():
    layer = built(GroupInteraction(3), 2)
    layer.interaction.assign(np.random.default_rng(0).normal(size=(9, 9)))
    matrix = layer.interaction.numpy()
    graph = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 2), tf.float32)])
    for shape in [(1, 4, 5, 2), (3, 9, 9, 2), (2, 11, 7, 2), (1, 1, 2, 2)]:
        y = np.random.default_rng(shape[1]).normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(graph(y).numpy(), group_interaction_reference(y, matrix, 3), atol=1e-5)


@pytest.mark.parametrize("rate, shape", [(2, (2, 5, 7, 3)), (3, (1, 7, 8, 2)), (4, (1, 6, 9, 2))])
def test_group_interaction_code_variant_is_the_authors_loop(rate, shape):
    """The authors' loop uses l[i] where the sum needs l[0] (for i >= 1): variant="code" reproduces it."""
    rng = np.random.default_rng(rate)
    y = rng.normal(size=shape).astype(np.float32)
    fix_w = rng.normal(size=(rate**2, rate**2))
    code = built(GroupInteraction(rate, variant="code"), shape[-1])
    paper = built(GroupInteraction(rate), shape[-1])
    np.testing.assert_array_equal(code(y).numpy(), y)  # identical at the identity initialisation
    code.interaction.assign(fix_w.T)
    paper.interaction.assign(fix_w.T)
    expected = authors_mixing_reference(y, fix_w, rate)
    np.testing.assert_allclose(code(y).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(paper(y).numpy(), group_interaction_reference(y, fix_w.T, rate), rtol=1e-5, atol=1e-5)
    assert not np.allclose(paper(y).numpy(), expected, atol=1e-2)


@pytest.mark.parametrize("rate, height, width", [(2, 6, 8), (2, 7, 9), (3, 8, 10), (4, 8, 12)])
def test_group_interaction_after_dilated_conv_matches_the_authors_gi(rate, height, width):
    """Whole-op check against the authors' _smoothed_dilated_conv2d_GI (decomposed conv + mixing): equal
    everywhere when H, W are multiples of r; otherwise equal outside the last partial block (there the code
    mixes in its conv's values on the padded rows, this layer zeros)."""
    rng = np.random.default_rng(rate * height)
    x = rng.normal(size=(2, height, width, 3)).astype(np.float32)
    w = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
    fix_w = rng.normal(size=(rate**2, rate**2)).astype(np.float32)
    layer = built(GroupInteraction(rate, variant="code"), 4)
    layer.interaction.assign(fix_w.T)
    ours = layer(tf.nn.conv2d(x, w, 1, "SAME", dilations=rate)).numpy()
    theirs = authors_gi_conv(x, w, fix_w, rate).numpy()
    full_h, full_w = rate * (height // rate), rate * (width // rate)
    np.testing.assert_allclose(ours[:, :full_h, :full_w], theirs[:, :full_h, :full_w], rtol=1e-4, atol=1e-4)
    if (full_h, full_w) == (height, width):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    else:
        assert not np.allclose(ours, theirs, atol=1e-3)


def test_gradients_shared_smoothing():
    x = np.random.default_rng(22).normal(size=(1, 5, 6, 2))
    layer = built(SharedSmoothing(3, dtype="float64"), 2)
    layer.smoothing_kernel.assign(np.random.default_rng(23).normal(size=(5, 5)))
    check_gradients(layer, x, [(layer.smoothing_kernel, prefilter_reference)])


@pytest.mark.parametrize("variant", ["paper", "code"])
def test_gradients_group_interaction(variant):
    x = np.random.default_rng(24).normal(size=(1, 5, 7, 2))
    layer = built(GroupInteraction(2, variant=variant, dtype="float64"), 2)
    layer.interaction.assign(np.random.default_rng(25).normal(size=(4, 4)))

    def reference(x_value, matrix):
        if variant == "paper":
            return group_interaction_reference(x_value, matrix, 2)
        return authors_mixing_reference(x_value, matrix.T, 2)

    check_gradients(layer, x, [(layer.interaction, reference)])
