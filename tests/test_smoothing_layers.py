"""Every smoothing layer: .keras round trip, mixed precision, invalid arguments."""

import numpy as np
import pytest
import tensorflow as tf

import keras
from li_seg.layers.smoothing import (
    AggregatedSmoothing,
    AggregationCoefficients,
    GroupInteraction,
    PreFilter,
    SharedSmoothing,
    average_kernel,
    average_prefilter,
    gaussian_kernel,
    gaussian_prefilter,
)
from tests.smoothing_references import built, copy_weights


def test_keras_save_and_load_round_trip(tmp_path):
    shared = AggregationCoefficients(name="shared_coefficients")
    raw = AggregationCoefficients(mode="code", name="raw_coefficients")
    inputs = keras.Input((None, None, 3))
    x = average_prefilter(4, name="average")(inputs)
    x = gaussian_prefilter(3, "code", variant="code", name="gauss_code")(x)
    x = average_prefilter(3, "code", trainable=True, name="trainable_average")(x)
    x = SharedSmoothing(2, name="ss")(x)
    x = GroupInteraction(3, name="gi")(x)
    x = GroupInteraction(2, variant="code", name="gi_code")(x)
    x = AggregatedSmoothing(2, shared, name="agg_a")(x)
    x = AggregatedSmoothing(4, shared, rule="code", sigma=0.8, name="agg_b")(x)
    outputs = AggregatedSmoothing(3, raw, gaussian_variant="code", trainable_average=True, name="agg_c")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(30)
    for variable in model.trainable_variables:
        variable.assign(variable.numpy() + 0.1 * rng.normal(size=variable.shape))
    path = tmp_path / "smoothing.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    for shape in [(1, 9, 10, 3), (2, 7, 5, 3)]:
        x = rng.normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-6)
    for name in ["average", "gauss_code", "trainable_average", "ss", "gi", "gi_code", "agg_a", "agg_b", "agg_c"]:
        original, restored = model.get_layer(name).get_config(), loaded.get_layer(name).get_config()
        original.pop("coefficients", None), restored.pop("coefficients", None)
        assert original == restored
    assert loaded.get_layer("agg_a").coefficients is loaded.get_layer("agg_b").coefficients  # still shared
    assert loaded.get_layer("agg_c").coefficients.mode == "code"
    assert loaded.get_layer("agg_a").coefficients.as_dict() == shared.as_dict()
    assert loaded.get_layer("average").weights == []
    assert sorted(v.path for v in loaded.trainable_variables) == sorted(v.path for v in model.trainable_variables)
    # A config round trip in memory keeps the very same coefficients instance.
    clone = AggregatedSmoothing.from_config(model.get_layer("agg_a").get_config())
    assert clone.coefficients is shared and clone.rate == 2


@pytest.mark.parametrize(
    "make",
    [
        lambda dtype: gaussian_prefilter(4, dtype=dtype),
        lambda dtype: average_prefilter(3, trainable=True, dtype=dtype),
        lambda dtype: SharedSmoothing(3, dtype=dtype),
        lambda dtype: GroupInteraction(3, dtype=dtype),
        lambda dtype: GroupInteraction(2, variant="code", dtype=dtype),
        lambda dtype: AggregatedSmoothing(4, AggregationCoefficients(), dtype=dtype),
    ],
    ids=["gaussian", "trainable_average", "ss_conv", "g_interact", "g_interact_code", "aggregated"],
)
def test_mixed_precision_computes_in_float16(make):
    rng = np.random.default_rng(40)
    reference, mixed = built(make("float32"), 4), built(make("mixed_float16"), 4)
    for variable in reference.weights:
        variable.assign(variable.numpy() + 0.1 * rng.normal(size=variable.shape))
    copy_weights(reference, mixed)
    x = rng.normal(size=(2, 8, 7, 4)).astype(np.float32)
    y = mixed(x)
    assert y.dtype == tf.float16 and all(w.dtype == "float32" for w in mixed.weights)
    np.testing.assert_allclose(y.numpy().astype(np.float32), reference(x).numpy(), rtol=1e-2, atol=2e-2)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: PreFilter([1.0, 2.0]), "2-D"),
        (lambda: PreFilter(np.zeros((0, 3))), "2-D"),
        (lambda: PreFilter([[np.nan]]), "finite"),
        (lambda: gaussian_kernel(3, variant="other"), "'paper', 'code'"),
        (lambda: gaussian_kernel(3, sigma=0.0), "sigma"),
        (lambda: average_kernel(0), ">= 1"),
        (lambda: SharedSmoothing(0), "rate"),
        (lambda: GroupInteraction(0), "rate"),
        (lambda: GroupInteraction(2, variant="transposed"), "'paper', 'code'"),
        (lambda: AggregatedSmoothing(2, None), "AggregationCoefficients"),
        (lambda: AggregatedSmoothing(1, AggregationCoefficients(), rule="code"), "< 1"),
        (lambda: PreFilter([[1.0]])(keras.Input((None, None, None))), "channel"),
    ],
)
def test_invalid_arguments_name_the_problem(make, message):
    with pytest.raises(ValueError, match=message):
        make()
