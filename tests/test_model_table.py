"""scripts/model_table.py: LI-Convs Tables IV / V parameter counts (exact), the FLOP counter against hand
arithmetic and against TensorFlow's profiler, the LI layers' FLOPs, one table row end to end."""

import keras
import pytest

from experiments.config import ConfigError
from experiments.papers import get_experiment, li_convs
from li_seg.layers.lateral_inhibition import LateralInhibition
from li_seg.models import build_model
from scripts import model_table

NUM_CLASSES = 21

# PAPERS.md section 1: the trainable-parameter counts behind the printed "Parameters (Kilo)" (21 classes).
EXACT_PARAMETERS = {
    "mnv2_aspp": 2_568_021,
    "mnv2_li_aspp": 2_568_981,
    "li_mnv2_aspp": 2_569_941,
    "li_mnv2_li_aspp": 2_570_901,
    "li_mnv2_rb13_16_li_aspp": 2_570_517,
    "resnet50_aspp": 26_656_981,
    "rd_resnet50_rd_aspp": 26_716_885,
    "li_resnet50_li_aspp": 26_663_637,
    "resnet50_aspp_decoder": 26_819_909,
    "rd_resnet50_rd_aspp_decoder": 26_879_813,
    "li_resnet50_li_aspp_decoder": 26_826_565,
}


def _model(ablation):
    return build_model(get_experiment("li_convs", ablation).model, NUM_CLASSES)


def test_every_table_row_has_an_exact_count():
    assert list(EXACT_PARAMETERS) == list(li_convs.PAPER_TABLE_COLUMNS)


@pytest.mark.parametrize("ablation", list(EXACT_PARAMETERS))
def test_trainable_parameters_are_the_papers(ablation):
    assert model_table.trainable_parameters(_model(ablation)) == EXACT_PARAMETERS[ablation]


def _tiny_model():
    """16x16x3 -> conv 3x3 8 (bias) -> [nested: depthwise 3x3 stride 2 -> LI 5x5 -> depthwise 3x3 rate 3]."""
    inner_input = keras.Input((16, 16, 8))
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)(inner_input)
    x = LateralInhibition(zone_size=5)(x)
    x = keras.layers.DepthwiseConv2D(3, dilation_rate=3, padding="same", use_bias=False)(x)
    inner = keras.Model(inner_input, x, name="inner")
    images = keras.Input((None, None, 3))
    return keras.Model(images, inner(keras.layers.Conv2D(8, 3, padding="same")(images)))


def test_flops_of_a_tiny_model_by_hand():
    conv = 16 * 16 * 8 * 2 * (3 * 3 * 3)  # output elements x 2 x (kh kw C_in)
    strided_depthwise = 8 * 8 * 8 * 2 * (3 * 3)
    lateral_inhibition = 8 * 8 * 8 * 2 * (5 * 5)
    dilated_depthwise = 8 * 8 * 8 * 2 * (3 * 3)
    model = _tiny_model()
    assert model_table.count_flops(model, 16, 16, "macs") == (
        conv + strided_depthwise + lateral_inhibition + dilated_depthwise
    )
    bias = 16 * 16 * 8
    dilated_on_space_to_batch_grid = 9 * 9 * 8 * 2 * (3 * 3)  # 8 rows at rate 3: ceil(8 / 3) * 3 = 9
    argmax = 8 * 8 * (8 - 1)
    assert model_table.count_flops(model, 16, 16, "paper") == (
        conv + bias + strided_depthwise + lateral_inhibition + dilated_on_space_to_batch_grid + argmax
    )


def test_profiler_convention_equals_tensorflows_profiler():
    """Dilated convs (SAME and VALID, on TF's space-to-batch grid), bias, add, max-pool, mean, dense."""
    images = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(6, 3, dilation_rate=2, padding="same")(images)
    y = keras.layers.DepthwiseConv2D(3, dilation_rate=4, padding="same")(x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.Conv2D(5, 3, dilation_rate=3, padding="valid", use_bias=False)(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(images, x)
    for height, width in ((17, 17), (15, 22)):
        assert model_table.count_flops(model, height, width, "profiler") == model_table.profiler_flops(
            model, height, width
        )


def test_a_layer_without_rule_is_an_error():
    images = keras.Input((None, None, 3))
    model = keras.Model(images, keras.layers.LayerNormalization()(images))
    with pytest.raises(TypeError, match="no FLOP rule.*LayerNormalization"):
        model_table.count_flops(model, 8, 8)


def test_li_aspp_costs_three_depthwise_3x3_on_320_channels_at_33x33():
    """Default convention, 513 x 513: an OS-16 33 x 33 map; the LI layers run at rate 1 (no space-to-batch)."""
    difference = model_table.count_flops(_model("mnv2_li_aspp"), 513, 513) - model_table.count_flops(
        _model("mnv2_aspp"), 513, 513
    )
    assert difference == 2 * 33 * 33 * 9 * 320 * 3


def test_one_table_row_end_to_end():
    (row,) = model_table.table_rows("li_convs", ablations=["mnv2_aspp"])
    assert row["params"] == EXACT_PARAMETERS["mnv2_aspp"] and row["paper_params_k"] == 2568.02
    assert abs(row["params_diff_k"]) < 0.01
    assert row["paper_flops"] == pytest.approx(6.479e9) and abs(row["flops_diff_pct"]) < 0.05
    table = model_table.format_table([row])
    assert "mnv2_aspp" in table and "2,568,021" in table


def test_papers_without_table_columns_are_refused(monkeypatch):
    with pytest.raises(ConfigError, match="unknown paper"):
        model_table.table_rows("no_such_paper")
    with pytest.raises(ValueError, match="not in li_convs's PAPER_TABLE_COLUMNS"):
        model_table.table_rows("li_convs", ablations=["mnv2_li_aspp_zone5"])
    monkeypatch.delattr(li_convs, "PAPER_TABLE_COLUMNS")
    with pytest.raises(ValueError, match="defines no PAPER_TABLE_COLUMNS"):
        model_table.table_rows("li_convs")


@pytest.mark.slow  # freezes and profiles the 513 x 513 graph: about 30 s on a busy 2-core machine
def test_profiler_convention_matches_tensorflows_profiler_on_mnv2():
    """Up to the per-channel arithmetic on BN's weights that TensorFlow's graph also counts."""
    model = _model("mnv2_aspp")
    analytic = model_table.count_flops(model, 513, 513, "profiler")
    assert model_table.profiler_flops(model, 513, 513) == pytest.approx(analytic, rel=1e-4)
