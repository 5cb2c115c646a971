"""li_seg.ops.adaptive_max_pool2d against a plain-loop NumPy transcription of PyTorch's bin rule (output cell i
covers [floor(i H / h), ceil((i + 1) H / h))) and, where the output is not larger than the input, against
keras.layers.AdaptiveMaxPooling2D (the same rule at a fixed size; Keras 3.15's layer dies with a floating-point
exception when the output is larger); shrinking, equal and growing sizes, under a tf.function with unknown
shapes, and its gradient."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from li_seg.ops import adaptive_max_pool2d


def _reference(x, height, width):
    batch, in_h, in_w, channels = x.shape
    out = np.empty((batch, height, width, channels))
    for i in range(height):
        r0, r1 = (i * in_h) // height, -((-(i + 1) * in_h) // height)
        for j in range(width):
            c0, c1 = (j * in_w) // width, -((-(j + 1) * in_w) // width)
            out[:, i, j] = x[:, r0:r1, c0:c1].max(axis=(1, 2))
    return out


@pytest.mark.parametrize("in_size, out_size", [((13, 11), (4, 5)), ((65, 65), (33, 33)), ((9, 7), (9, 7)),
                                                ((3, 4), (5, 7)), ((97, 129), (13, 17)), ((1, 1), (2, 3))])
def test_matches_the_bin_rule_and_keras(in_size, out_size):
    x = np.random.default_rng(sum(in_size)).normal(size=(2, *in_size, 3)).astype("float32")
    ours = adaptive_max_pool2d(tf.constant(x), out_size).numpy()
    np.testing.assert_array_equal(ours, _reference(x, *out_size))
    if all(o <= i for o, i in zip(out_size, in_size)):  # Keras 3.15's layer kills the process (SIGFPE) otherwise
        np.testing.assert_array_equal(ours, keras.layers.AdaptiveMaxPooling2D(out_size)(x).numpy())


def test_sizes_known_only_at_run_time_and_the_gradient():
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 2]), tf.TensorSpec([None, None, None, 1])])
    def pool_like(x, reference):
        return adaptive_max_pool2d(x, (tf.shape(reference)[1], tf.shape(reference)[2]))

    x = np.random.default_rng(0).normal(size=(1, 10, 6, 2)).astype("float32")
    np.testing.assert_array_equal(pool_like(x, np.zeros((1, 3, 4, 1), "float32")), _reference(x, 3, 4))
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        total = tf.reduce_sum(adaptive_max_pool2d(tensor, (3, 4)))
    gradient = tape.gradient(total, tensor).numpy()
    # each cell's maximum gets 1 per cell it wins (bins may overlap): the counts of the winners
    expected = np.zeros_like(x)
    for i in range(3):
        r0, r1 = (i * 10) // 3, -((-(i + 1) * 10) // 3)
        for j in range(4):
            c0, c1 = (j * 6) // 4, -((-(j + 1) * 6) // 4)
            for c in range(2):
                window = x[0, r0:r1, c0:c1, c]
                r, q = np.unravel_index(np.argmax(window), window.shape)
                expected[0, r0 + r, c0 + q, c] += 1
    np.testing.assert_array_equal(gradient, expected)
