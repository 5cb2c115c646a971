"""scripts/model_table.py: LI-Convs Tables IV / V parameter counts (exact), one table row end to end, papers without
printed counts, and the profiler convention on a whole model."""

import pytest

from experiments.config import ConfigError
from experiments.papers import get_experiment, record
from li_seg.analysis.flops import count_flops
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
    assert list(EXACT_PARAMETERS) == list(model_table.printed_columns("li_convs"))


@pytest.mark.parametrize("ablation", list(EXACT_PARAMETERS))
def test_trainable_parameters_are_the_papers(ablation):
    assert model_table.trainable_parameters(_model(ablation)) == EXACT_PARAMETERS[ablation]


def test_one_table_row_end_to_end():
    (row,) = model_table.table_rows("li_convs", ablations=["mnv2_aspp"])
    assert row["params"] == EXACT_PARAMETERS["mnv2_aspp"] and row["paper_params_k"] == 2568.02
    assert abs(row["params_diff_k"]) < 0.01
    assert row["paper_flops"] == pytest.approx(6.479e9) and abs(row["flops_diff_pct"]) < 0.05
    table = model_table.format_table([row])
    assert "mnv2_aspp" in table and "2,568,021" in table


def test_papers_without_table_columns_are_refused():
    with pytest.raises(ConfigError, match="unknown paper"):
        model_table.table_rows("no_such_paper")
    with pytest.raises(ValueError, match=r"li_convs reports no parameters or FLOPs for \['mnv2_li_aspp_zone5'\]"):
        model_table.table_rows("li_convs", ablations=["mnv2_li_aspp_zone5"])
    assert not any(r.params_k or r.gflops for r in record("smoothing").reported.values())
    with pytest.raises(ValueError, match="'smoothing' reports no parameter or FLOP counts"):
        model_table.table_rows("smoothing")


@pytest.mark.slow  # freezes and profiles the 513 x 513 graph: about 30 s on a busy 2-core machine
def test_profiler_convention_matches_tensorflows_profiler_on_mnv2():
    """Up to the per-channel arithmetic on BN's weights that TensorFlow's graph also counts."""
    model = _model("mnv2_aspp")
    analytic = count_flops(model, 513, 513, "profiler")
    assert model_table.profiler_flops(model, 513, 513) == pytest.approx(analytic, rel=1e-4)
