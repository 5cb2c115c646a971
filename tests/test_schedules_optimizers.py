"""Poly schedule, optimizers with per-variable learning-rate multipliers, trainable subsets, checkpoints, replicas."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from li_seg.config import TrainConfig
from li_seg.training.optimizers import build_optimizer, resolve_lr_multipliers, select_trainable
from li_seg.training.schedules import PolyDecay, build_schedule
from li_seg.training.strategy import make_strategy


def _poly(step, base, end, steps, power):
    return (base - end) * (1 - min(step, steps) / steps) ** power + end


def test_poly_decay_exact_values():
    schedule = PolyDecay(0.01, 100, power=0.9, end_learning_rate=1e-4)
    for step in (0, 1, 37, 99, 100, 250):
        np.testing.assert_allclose(float(schedule(step)), _poly(step, 0.01, 1e-4, 100, 0.9), rtol=1e-6)
    assert float(schedule(100)) == pytest.approx(1e-4)
    restored = PolyDecay.from_config(schedule.get_config())
    assert restored.get_config() == schedule.get_config()


def test_poly_decay_linear_warmup_from_zero_to_the_poly_value():
    schedule = PolyDecay(0.02, 100, power=0.9, warmup_steps=10)
    at_warmup_end = _poly(10, 0.02, 0.0, 100, 0.9)
    np.testing.assert_allclose(
        [float(schedule(s)) for s in (0, 4, 10, 60)],
        [0.0, at_warmup_end * 0.4, at_warmup_end, _poly(60, 0.02, 0.0, 100, 0.9)],
        rtol=1e-6,
    )


def test_build_schedule_poly_constant_and_unknown():
    config = TrainConfig(learning_rate=3e-4, lr_schedule="constant", poly_power=0.9)
    constant = build_schedule(config, 50)
    assert [float(constant(s)) for s in (0, 25, 50, 80)] == pytest.approx([3e-4] * 4, rel=1e-6)
    poly = build_schedule(dataclasses.replace(config, lr_schedule="poly", end_learning_rate=1e-5), 50)
    assert float(poly(25)) == pytest.approx(_poly(25, 3e-4, 1e-5, 50, 0.9), rel=1e-6)
    with pytest.raises(ValueError, match="poly, constant"):
        build_schedule(dataclasses.replace(config, lr_schedule="cosine"), 50)
    with pytest.raises(ValueError, match="sgd, adam"):
        build_optimizer(dataclasses.replace(config, optimizer="rmsprop"), constant)


def test_resolve_lr_multipliers_first_match_wins():
    variables = [keras.Variable(0.0, name=n) for n in ("logits_kernel", "logits_bias", "conv_kernel")]
    pairs = (("logits_bias", 20.0), ("logits", 10.0))
    assert resolve_lr_multipliers(variables, pairs) == [10.0, 20.0, 1.0]


def _two_variable_step(optimizer_name, steps, momentum=0.9, adam_epsilon=1e-7):
    """Variables a (multiplier 1) and b (multiplier 10) with identical gradients; returns their trajectories."""
    config = TrainConfig(
        optimizer=optimizer_name, momentum=momentum, adam_epsilon=adam_epsilon, lr_multipliers=(("^b$", 10.0),)
    )
    schedule = PolyDecay(0.01, 10, power=0.9)
    optimizer = build_optimizer(config, schedule)
    a, b = keras.Variable([0.0, 0.0], name="a"), keras.Variable([0.0, 0.0], name="b")
    grad = tf.constant([0.5, -0.25])
    history = [(a.numpy(), b.numpy())]
    for _ in range(steps):
        optimizer.apply_gradients([(grad, a), (grad, b)])
        history.append((a.numpy(), b.numpy()))
    return history, schedule, grad.numpy()


def test_sgd_multiplier_scales_the_update_exactly():
    history, schedule, g = _two_variable_step("sgd", steps=3)
    velocity, expected = np.zeros(2), np.zeros(2)
    for step in range(3):
        velocity = 0.9 * velocity - float(schedule(step)) * g
        expected = expected + velocity
    np.testing.assert_allclose(history[-1][0], expected, rtol=1e-6)
    np.testing.assert_allclose(history[-1][1], 10 * history[-1][0], rtol=1e-6)


def test_adam_multiplier_scales_the_learning_rate_not_the_gradient():
    history, schedule, g = _two_variable_step("adam", steps=1, adam_epsilon=1e-10)
    lr = float(schedule(0))
    # First Adam step: lr * sqrt(1 - b2) / (1 - b1) * m / (sqrt(v) + eps) with m = (1 - b1) g, v = (1 - b2) g^2.
    step = lr * np.sqrt(1 - 0.999) * g / (np.sqrt((1 - 0.999) * g**2) + 1e-10)
    np.testing.assert_allclose(-history[1][0], step, rtol=1e-5)  # float32 rounding of 1 - 0.999
    np.testing.assert_allclose(history[1][1], 10 * history[1][0], rtol=1e-6)
    np.testing.assert_allclose(np.abs(history[1][1]), 10 * lr, rtol=1e-5)


def _model():
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Conv2D(3, 3, padding="same", name="body")(inputs)
    outputs = keras.layers.Conv2D(2, 1, name="head")(x)
    return keras.Model(inputs, outputs)


def _loss(model, x):
    return tf.reduce_mean(tf.square(model(x, training=True) - 1.0))


def test_select_trainable_only_selected_variables_change():
    model = _model()
    selected = select_trainable(model.trainable_variables, ["^head/"])
    assert [v.path for v in selected] == ["head/kernel", "head/bias"]
    assert select_trainable(model.trainable_variables, []) == model.trainable_variables
    with pytest.raises(ValueError, match="body/kernel"):
        select_trainable(model.trainable_variables, ["^nothing"])
    before = [v.numpy() for v in model.variables]
    optimizer = build_optimizer(TrainConfig(), 0.1)
    x = tf.random.stateless_normal((2, 4, 4, 3), seed=(1, 2))
    with tf.GradientTape() as tape:
        loss = _loss(model, x)
    optimizer.apply_gradients(zip(tape.gradient(loss, selected), selected))
    changed = {v.path for v, old in zip(model.variables, before) if not np.array_equal(v.numpy(), old)}
    assert changed == {"head/kernel", "head/bias"}


def test_checkpoint_round_trips_slot_variables(tmp_path):
    config = TrainConfig(optimizer="adam", lr_multipliers=(("head", 10.0),))
    model, optimizer = _model(), build_optimizer(config, 1e-2)
    x = tf.random.stateless_normal((2, 4, 4, 3), seed=(3, 4))
    for _ in range(2):
        with tf.GradientTape() as tape:
            loss = _loss(model, x)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    path = tf.train.Checkpoint(model=model, optimizer=optimizer).save(str(tmp_path / "ckpt"))

    model2, optimizer2 = _model(), build_optimizer(config, 1e-2)
    optimizer2.build(model2.trainable_variables)
    tf.train.Checkpoint(model=model2, optimizer=optimizer2).restore(path).assert_consumed()
    assert int(optimizer2.iterations) == 2
    assert len(optimizer2.variables) == len(optimizer.variables) > 2
    for saved, restored in zip(optimizer.variables, optimizer2.variables):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())


def test_loss_scale_optimizer_when_mixed_precision():
    optimizer = build_optimizer(TrainConfig(mixed_precision=True, momentum=0.0), 0.1)
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    w = keras.Variable([1.0], name="w")
    with tf.GradientTape() as tape:
        loss = optimizer.scale_loss(tf.reduce_sum(3.0 * w))
    optimizer.apply_gradients([(tape.gradient(loss, w), w)])
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.1 * 3.0], rtol=1e-6)
    assert int(optimizer.iterations) == 1


def test_mirrored_step_equals_single_device_step():
    x = tf.random.stateless_normal((4, 4, 4, 3), seed=(5, 6))
    config = TrainConfig(optimizer="adam", lr_multipliers=(("head", 10.0),))

    keras.utils.set_random_seed(0)
    reference = _model()
    ref_optimizer = build_optimizer(config, 1e-2)
    with tf.GradientTape() as tape:
        loss = _loss(reference, x)
    variables = reference.trainable_variables
    ref_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    strategy = make_strategy("mirrored")
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = _model()
        optimizer = build_optimizer(config, 1e-2)
        optimizer.build(model.trainable_variables)

    @tf.function
    def step(shard):
        def replica_fn(shard):
            with tf.GradientTape() as tape:
                # Per-replica share of the global mean: gradients are summed over replicas.
                loss = _loss(model, shard) / strategy.num_replicas_in_sync
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))

        strategy.run(replica_fn, args=(shard,))

    dataset = tf.data.Dataset.from_tensor_slices(x).batch(4)
    step(next(iter(strategy.experimental_distribute_dataset(dataset))))
    assert int(optimizer.iterations.numpy()) == 1
    for got, want in zip(model.trainable_variables, reference.trainable_variables):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_make_strategy_default_mirrored_and_errors(monkeypatch):
    assert make_strategy("default") is tf.distribute.get_strategy()
    assert make_strategy("mirrored").num_replicas_in_sync == 2  # conftest's two logical CPUs
    with pytest.raises(ValueError, match="default, mirrored, multi_worker_mirrored, tpu"):
        make_strategy("horovod")
    for bad in ("{not json", '{"cluster": {"worker": ["a:1"]}}', '{"cluster": {"worker": ["a:1"]}, '
                '"task": {"type": "worker", "index": 3}}'):
        monkeypatch.setenv("TF_CONFIG", bad)
        with pytest.raises(ValueError, match="TF_CONFIG"):
            make_strategy("multi_worker_mirrored")
