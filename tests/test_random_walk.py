"""li_seg.layers.RandomWalk: DifNet's walk on maps against the NumPy reference of Eq. 4-5 (tests/difnet_reference.py),
the code's parameterisation mu = sigmoid(-a), beta = sigmoid(-b) (0.5 at the start), the chunk-size rule, the
diagnostics and a .keras round trip."""

import keras
import numpy as np
import pytest

from li_seg.layers.random_walk import AUTO_CHUNK, MATERIALISED_NODES, RandomWalk, chunk_rows

from tests import difnet_reference as ref


def _maps(rng, batch=2, height=5, width=7, classes=3, depth=4):
    return (rng.normal(size=(batch, height, width, classes)), rng.normal(size=(batch, height, width, depth)),
            rng.normal(size=(batch, height, width, classes)))


@pytest.mark.parametrize("chunk_size", ["auto", None, 4])
def test_the_walk_on_maps_matches_the_reference(chunk_size):
    rng = np.random.default_rng(0)
    y, features, seed = _maps(rng)
    walk = RandomWalk(chunk_size=chunk_size)
    walk.build([y.shape, features.shape, seed.shape])
    assert float(walk.mu) == 0.5 and float(walk.beta) == 0.5
    walk.mu_logit.assign(-1.0)  # mu = sigmoid(1)
    walk.beta_logit.assign(0.5)  # beta = sigmoid(-0.5)
    mu, beta = 1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(0.5))
    flat = [a.reshape(2, 35, -1) for a in (y, features, seed)]
    expected = ref.diffusion_step(*flat, mu, beta).reshape(y.shape)
    ours = walk([a.astype("float32") for a in (y, features, seed)])
    np.testing.assert_allclose(ours, expected, atol=1e-5 * np.abs(expected).max())
    assert walk.diagnostics() == {f"difnet_mu/{walk.name}": pytest.approx(mu),
                                  f"difnet_beta/{walk.name}": pytest.approx(beta)}


def test_chunk_rule_and_invalid_values():
    assert chunk_rows("auto", MATERIALISED_NODES) is None and chunk_rows("auto", MATERIALISED_NODES + 1) == AUTO_CHUNK
    assert chunk_rows("auto", None) == AUTO_CHUNK
    assert chunk_rows(None, 10**6) is None and chunk_rows(64, 10) == 64
    with pytest.raises(ValueError, match="chunk_size must be 'auto', None or a positive int, got 0"):
        RandomWalk(chunk_size=0)


def test_a_model_with_walks_takes_any_size_and_survives_a_keras_round_trip(tmp_path):
    y, features, seed = (keras.Input((None, None, c)) for c in (3, 4, 3))
    out = RandomWalk(label="walk1", name="walk1")([y, features, seed])
    out = RandomWalk(chunk_size=5, label="walk2", name="walk2")([out, features, seed])
    model = keras.Model([y, features, seed], out)
    model.get_layer("walk2").mu_logit.assign(0.3)
    rng = np.random.default_rng(1)
    inputs = [a.astype("float32") for a in _maps(rng, height=6, width=3)]
    model.save(tmp_path / "walks.keras")
    loaded = keras.models.load_model(tmp_path / "walks.keras")
    np.testing.assert_allclose(loaded(inputs), model(inputs), atol=1e-6)
    assert set(loaded.get_layer("walk2").diagnostics()) == {"difnet_mu/walk2", "difnet_beta/walk2"}
