"""Cross-entropy with the ignore label and L2 weight decay, against NumPy references."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from li_seg.training.losses import cross_entropy_sum, l2_weight_decay, segmentation_loss, weight_decay_variables
from li_seg.training.strategy import make_strategy


def _numpy_ce(labels, logits, ignore=255):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    valid = labels != ignore
    picked = np.take_along_axis(log_softmax, np.where(valid, labels, 0)[..., None], axis=-1)[..., 0]
    return -(picked * valid).sum(), valid.sum()


def _batch(seed=0, shape=(2, 5, 6), k=4, ignore_fraction=0.3):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=shape + (k,)).astype(np.float32) * 3
    labels = rng.integers(0, k, size=shape)
    labels[rng.random(shape) < ignore_fraction] = 255
    return labels, logits


def test_cross_entropy_sum_matches_numpy_with_ignore_pixels():
    labels, logits = _batch()
    loss_sum, num_valid = cross_entropy_sum(labels, logits)
    expected_sum, expected_valid = _numpy_ce(labels, logits)
    assert float(num_valid) == expected_valid
    np.testing.assert_allclose(float(loss_sum), expected_sum, rtol=1e-5)
    # (B, H, W, 1) labels and float16 logits: same result, float32 out.
    loss16, _ = cross_entropy_sum(labels[..., None], tf.constant(logits, tf.float16))
    assert loss16.dtype == tf.float32
    np.testing.assert_allclose(float(loss16), expected_sum, rtol=2e-3)


def test_ignored_pixels_do_not_depend_on_their_logits():
    labels, logits = _batch()
    perturbed = logits + 100.0 * (labels == 255)[..., None] * np.arange(4, dtype=np.float32)
    a = segmentation_loss(labels, logits, ignore_label=255)
    b = segmentation_loss(labels, perturbed, ignore_label=255)
    np.testing.assert_allclose(float(a), float(b), rtol=1e-6)


def test_all_ignore_batch_gives_zero_loss_and_zero_gradient():
    labels = np.full((1, 3, 3), 255)
    logits = tf.Variable(np.ones((1, 3, 3, 2), np.float32))
    with tf.GradientTape() as tape:
        loss = segmentation_loss(labels, logits, ignore_label=255)
    grad = tape.gradient(loss, logits)
    assert float(loss) == 0.0
    assert np.all(grad.numpy() == 0.0)


def test_out_of_range_label_raises():
    labels = np.array([[[0, 7]]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes"):
        cross_entropy_sum(labels, np.zeros((1, 1, 2, 3), np.float32))


def test_aux_logits_weighted_mean():
    labels, logits = _batch(seed=1)
    _, aux = _batch(seed=2)
    main_sum, n = _numpy_ce(labels, logits)
    aux_sum, _ = _numpy_ce(labels, aux)
    loss = segmentation_loss(labels, {"logits": logits, "aux_logits": aux}, ignore_label=255,
                             weights={"logits": 1.0, "aux_logits": 0.4})
    np.testing.assert_allclose(float(loss), (main_sum + 0.4 * aux_sum) / n, rtol=1e-5)


def test_global_num_valid_gives_exact_global_mean_across_replicas():
    strategy = make_strategy("mirrored")
    labels, logits = _batch(seed=3, shape=(2, 4, 4))
    labels[0, :3] = 255  # replica 0 has far fewer valid pixels than replica 1
    expected_sum, expected_valid = _numpy_ce(labels, logits)

    def replica_fn():
        ctx = tf.distribute.get_replica_context()
        i = ctx.replica_id_in_sync_group
        local_labels, local_logits = tf.gather(labels, [i]), tf.gather(logits, [i])
        local_valid = tf.reduce_sum(tf.cast(local_labels != 255, tf.float32))
        global_valid = ctx.all_reduce(tf.distribute.ReduceOp.SUM, local_valid)
        return segmentation_loss(
            local_labels, local_logits, ignore_label=255, global_num_valid=global_valid
        )

    per_replica = tf.function(lambda: strategy.run(replica_fn))()
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
    np.testing.assert_allclose(float(total), expected_sum / expected_valid, rtol=1e-5)


class _Constrained(keras.layers.Layer):
    """Stands in for LateralInhibition: a per-channel kernel-named weight kept in [0, 1] by a constraint."""

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1],), initializer="ones", constraint=keras.constraints.NonNeg()
        )

    def call(self, x):
        return x * self.kernel


def _small_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = _Constrained(name="li")(x)
    x = keras.layers.DepthwiseConv2D(3, name="dw")(x)
    x = keras.layers.SeparableConv2D(5, 1, name="sep")(x)
    frozen = keras.layers.Conv2D(5, 1, name="frozen")
    x = frozen(x)
    frozen.trainable = False
    outputs = keras.layers.Dense(2, name="head")(x)
    return keras.Model(inputs, outputs)


def test_weight_decay_selects_exactly_trainable_unconstrained_kernels():
    model = _small_model()
    paths = sorted(v.path for v in weight_decay_variables(model.variables))
    assert paths == ["conv/kernel", "dw/kernel", "head/kernel", "sep/depthwise_kernel", "sep/pointwise_kernel"]
    selected = [v for v in model.variables if v.path in paths]
    expected = 4e-5 * sum((v.numpy().astype(np.float64) ** 2).sum() for v in selected) / 2
    np.testing.assert_allclose(float(l2_weight_decay(model.variables, 4e-5)), expected, rtol=1e-5)
    assert float(l2_weight_decay(model.variables, 0.0)) == 0.0
