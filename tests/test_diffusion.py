"""li_seg.ops.diffusion_step (DifNet's random walk, Eq. 4-5), materialised and chunked, against the NumPy reference
(tests/difnet_reference.py, written with its hand-derived gradients by a helper who had not seen our op), against
finite differences in float64, and structurally: the chunked path's forward and backward graphs hold no N x N
tensor."""

import numpy as np
import pytest
import tensorflow as tf

from li_seg.ops import diffusion_step

from tests import difnet_reference as ref


def _case(rng, batch=2, nodes=23, classes=3, depth=4, scale=1.0):
    y = rng.normal(size=(batch, nodes, classes))
    features = rng.normal(size=(batch, nodes, depth)) * scale
    seed = rng.normal(size=(batch, nodes, classes))
    return y, features, seed, 0.7, 0.4


def _gradients(case, chunk_size, dtype=tf.float32, upstream=None):
    y, features, seed, mu, beta = case
    tensors = [tf.constant(a, dtype) for a in (y, features, seed)] + [tf.constant(v, dtype) for v in (mu, beta)]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        out = diffusion_step(*tensors, chunk_size=chunk_size)
        loss = tf.reduce_sum(out * upstream)
    return out, dict(zip(("y", "features", "seed", "mu", "beta"), tape.gradient(loss, tensors)))


@pytest.mark.parametrize("chunk_size", [None, 1, 5, 23, 64])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_values_and_gradients_match_the_reference(chunk_size, scale):
    """N = 23 (not divisible by 5), batch 2; feature scale 30: |f f^T| up to thousands, where an unstabilised
    softmax overflows in float32."""
    rng = np.random.default_rng(int(scale))
    case = _case(rng, scale=scale)
    upstream = rng.normal(size=case[0].shape)
    expected = ref.diffusion_step(*case)
    expected_gradients = ref.diffusion_step_gradients(*case, upstream)
    out, gradients = _gradients(case, chunk_size, upstream=tf.constant(upstream, tf.float32))
    np.testing.assert_allclose(out, expected, atol=1e-4 * np.abs(expected).max())
    for name, gradient in gradients.items():
        reference = np.asarray(expected_gradients[name])
        assert np.all(np.isfinite(gradient)), name
        np.testing.assert_allclose(gradient, reference, atol=2e-4 * max(1.0, np.abs(reference).max()), err_msg=name)


def test_chunked_float64_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    y, features, seed, mu, beta = _case(rng, batch=2, nodes=9, classes=2, depth=3)

    @tf.function
    def walk(y_, features_, seed_, mu_, beta_):
        return diffusion_step(y_, features_, seed_, mu_, beta_, chunk_size=4)

    args = [tf.constant(a, tf.float64) for a in (y, features, seed)] + [tf.constant(v, tf.float64) for v in (mu, beta)]
    theoretical, numerical = tf.test.compute_gradient(walk, args, delta=1e-6)
    for name, analytic, numeric in zip(("y", "features", "seed", "mu", "beta"), theoretical, numerical):
        assert np.abs(numeric).max() > 1e-2, name
        np.testing.assert_allclose(analytic, numeric, atol=1e-7, err_msg=name)


def _tensor_shapes(graph):
    """Static shapes of every op output of `graph` and of the functions it calls (while-loop and map_fn bodies)."""
    shapes = [output.shape for op in graph.get_operations() for output in op.outputs]
    for function in graph._functions.values():  # noqa: SLF001  (the bodies are only reachable this way)
        shapes += _tensor_shapes(function.graph) if hasattr(function, "graph") else []
    return shapes


@pytest.mark.parametrize("chunk_size, holds_p", [(8, False), (None, True)])
def test_the_chunked_path_never_holds_the_whole_transition_matrix(chunk_size, holds_p):
    """Traced with N = 40 nodes and batch 3: no tensor of the forward + backward graph has two dimensions of 40
    when chunked; the materialised path does (the check can fail)."""
    nodes = 40
    specs = [tf.TensorSpec((3, nodes, 5)), tf.TensorSpec((3, nodes, 6)), tf.TensorSpec((3, nodes, 5))]

    @tf.function(input_signature=specs)
    def step(y, features, seed):
        with tf.GradientTape() as tape:
            tape.watch([y, features, seed])
            loss = tf.reduce_sum(diffusion_step(y, features, seed, 0.5, 0.5, chunk_size=chunk_size) ** 2)
        return tape.gradient(loss, [y, features, seed])

    shapes = _tensor_shapes(step.get_concrete_function().graph)
    square = [shape for shape in shapes if shape.rank is not None and list(shape).count(nodes) >= 2]
    assert bool(square) == holds_p, square[:3]


def test_invalid_chunk_size_is_named():
    with pytest.raises(ValueError, match="chunk_size must be a positive number of rows, got 0"):
        diffusion_step(tf.zeros((1, 4, 2)), tf.zeros((1, 4, 3)), tf.zeros((1, 4, 2)), 0.5, 0.5, chunk_size=0)
