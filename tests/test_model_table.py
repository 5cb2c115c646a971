"""scripts/model_table.py: LI-Convs Tables IV / V parameter counts (exact), one table row end to end, papers without
printed counts, and the profiler convention on a whole model."""

import pytest

from experiments.config import ConfigError
from experiments.papers import get_experiment, list_ablations, record
from li_seg.analysis.flops import count_flops
from li_seg.models import build_model, inference_model
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


def _pan_model(ablation):
    return build_model(get_experiment("pan", ablation).model, NUM_CLASSES)


def test_every_table_row_has_an_exact_count():
    assert list(EXACT_PARAMETERS) == list(model_table.table_columns("li_convs"))


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


# PAN prints no counts: ours are the reference (scripts/model_table.py --paper=pan, 21 classes). The next test
# derives every difference from the structures' formulas; pan_ms and pan_ms_flip are pan's model.
PAN_PARAMETERS = {
    "resnet101": 43_154_133, "resnet101_se": 43_680_597, "fpa_c333_max": 50_824_917, "fpa_c333_ave": 50_824_917,
    "fpa_c333_max_gp": 51_349_717, "fpa_c333_ave_gp": 51_349_717, "fpa_c357_max": 76_515_029,
    "fpa_c357_ave": 76_515_029, "fpa_c357_max_gp": 77_039_829, "fpa_c357_ave_gp": 77_039_829,
    "resnet101_pspnet": 65_708_501, "deeplabv3_os16": 58_164_437, "gau_3x3": 47_284_437, "gau_gp_1x1": 43_812_565,
    "gau_gp_3x3": 47_482_581, "pan": 81_368_277,
}


def _conv_bn(kernel, inputs, outputs):
    """A conv without bias and its BN's gamma and beta."""
    return kernel * kernel * inputs * outputs + 2 * outputs


def test_pan_counts_are_the_structures_formulas():
    """Each count from the paper's structures (C = 256, res5 2048 channels, 21 classes): the ResNet-101 with the
    deep stem is torchvision's 44,549,160 without its FC layer (2,049,000) and 7x7 stem (9,408 + BN 128), plus the
    three 3x3 convs 64-64-128 and the wider input of res2's first unit and shortcut (128 instead of 64 channels)."""
    c, classes = 256, 21
    backbone = (44_549_160 - 2_049_000 - 9_408 - 128 + _conv_bn(3, 3, 64) + _conv_bn(3, 64, 64)
                + _conv_bn(3, 64, 128) + 64 * 64 + 64 * 256)
    reduce, classifier = _conv_bn(1, 2048, c), c * classes + classes
    assert PAN_PARAMETERS["resnet101"] == backbone + reduce + classifier

    def fpa(kernels, gp):
        levels = sum(_conv_bn(k, 2048 if level == 0 else c, c) + _conv_bn(k, c, c) for level, k in enumerate(kernels))
        return _conv_bn(1, 2048, c) + levels + gp * _conv_bn(1, 2048, c)

    def gau(gp, kernel):
        return sum(_conv_bn(kernel, low, c) + gp * _conv_bn(1, c, c) for low in (1024, 512, 256))

    baseline = PAN_PARAMETERS["resnet101"] - reduce
    for name, count in PAN_PARAMETERS.items():
        if name.startswith("fpa_"):
            kernels = (3, 3, 3) if "c333" in name else (7, 5, 3)
            assert count == baseline + fpa(kernels, name.endswith("_gp")), name
    assert PAN_PARAMETERS["resnet101_se"] == PAN_PARAMETERS["resnet101"] + (2048 * 128 + 128) + (128 * 2048 + 2048)
    assert PAN_PARAMETERS["gau_3x3"] == PAN_PARAMETERS["resnet101"] + gau(False, 3)
    assert PAN_PARAMETERS["gau_gp_1x1"] == PAN_PARAMETERS["resnet101"] + gau(True, 1)
    assert PAN_PARAMETERS["gau_gp_3x3"] == PAN_PARAMETERS["resnet101"] + gau(True, 3)
    assert PAN_PARAMETERS["pan"] == baseline + fpa((7, 5, 3), True) + gau(True, 3)
    psp = 4 * _conv_bn(1, 2048, 512) + _conv_bn(3, 4096, 512) + 512 * classes + classes
    assert PAN_PARAMETERS["resnet101_pspnet"] == backbone + psp
    aspp = 2 * _conv_bn(1, 2048, c) + 3 * _conv_bn(3, 2048, c)  # the 1x1 and image-pooling branches, 3 atrous
    assert PAN_PARAMETERS["deeplabv3_os16"] == backbone + aspp + _conv_bn(1, 5 * c, c) + classifier


@pytest.mark.parametrize("ablation", list(PAN_PARAMETERS))
def test_pan_parameters_are_pinned(ablation):
    model = _pan_model(ablation)
    assert model_table.trainable_parameters(model) == PAN_PARAMETERS[ablation]
    if ablation == "pan":  # res5 dilated by 2 in every unit, OS 16
        backbone = model.get_layer("resnet101")
        assert [backbone.get_layer(f"block4_unit{u}_conv2").dilation_rate for u in (1, 2, 3)] == [(2, 2)] * 3


def test_pan_table_prints_every_ablation_with_our_counts_as_the_reference():
    assert list(model_table.table_columns("pan")) == list_ablations("pan")
    (row,) = model_table.table_rows("pan", ablations=["resnet101"])
    assert row["params"] == PAN_PARAMETERS["resnet101"] and row["paper_params_k"] is None
    assert row["flops"] == count_flops(_pan_model("resnet101"), 512, 512, "macs")
    assert "43,154,133" in model_table.format_table([row])


# CycleNet (19 Cityscapes classes): trainable parameters of the evaluated model (the auxiliary head is not counted)
# and multiply-accumulates at 769 x 769 (97 x 97 at OS 8), the convention of its record. Table 1 prints GFLOPs for
# the DenseASPP and CycleASPP rows (BUILD_NOTES.md section 15 compares them); cyclenet_ms is cyclenet's model.
CYCLENET_CLASSES = 19
CYCLENET_COUNTS = {
    "aspp_6_12_18": (58_163_923, 564_311_906_752), "denseaspp_3_24": (51_549_651, 506_783_100_480),
    "denseaspp_3_30": (53_525_203, 525_304_829_888), "cycleaspp_6_24": (50_040_275, 518_476_154_048),
    "cycleaspp_3_24": (52_215_251, 546_863_935_040), "cycleaspp_3_30": (54_522_067, 577_101_600_704),
    "cycleaspp_3_30_unshared": (55_505_107, 577_101_600_704),
    "cycleaspp_3_30_without_input": (54_483_155, 576_735_477_696),
    "cycleaspp_3_30_literal": (54_192_083, 568_468_805_568), "resnet101": (52_071_891, 511_943_748_800),
    "cyclenet": (57_851_726, 682_457_472_192), "cyclenet_ade20k": (55_514_574, 651_934_375_104),
}


def _cyclenet_model(ablation):
    return build_model(get_experiment("cyclenet", ablation).model, CYCLENET_CLASSES)


def test_cyclenet_counts_are_the_structures_formulas():
    """Every parameter count from the structures (PAN's deep-stem ResNet-101 backbone, block4 2048 channels,
    CycleASPP 512 / 128, ADC 48 / 256); the CycleASPP - DenseASPP FLOP difference is Part II's 1x1 and 3x3 convs on
    97 x 97 maps (each 3x3 conv counted at each of its two calls)."""
    c0, bottleneck, growth, classes = 2048, 512, 128, CYCLENET_CLASSES
    backbone = PAN_PARAMETERS["resnet101"] - _conv_bn(1, 2048, 256) - (256 * 21 + 21)

    def classifier(inputs):
        return inputs * classes + classes

    def chain(layers, feedback=True, shared=True, update_first=True):
        total = 0
        for j in range(1, layers + 1):
            inputs = c0 + (j - 1) * growth
            total += (2 * inputs if j > 1 else 0) + inputs * bottleneck + 3 * bottleneck + 9 * bottleneck * growth
            total += growth
            if feedback and (update_first or j > 1):
                new_sources = layers - 1 if not shared else layers - j
                total += new_sources * growth * bottleneck + 2 * (layers - 1) * growth + 2 * bottleneck
        return total

    def adc(context):
        return (_conv_bn(1, 256, 48) + _conv_bn(1, context, 256) + _conv_bn(3, 304, 256) + 9 * 256 * 27 + 27
                + 9 * 256 * 256 + 256 + _conv_bn(3, 304, 256) + _conv_bn(3, 256, 256))

    params = {name: count for name, (count, _) in CYCLENET_COUNTS.items()}
    assert params["resnet101"] == backbone + _conv_bn(3, c0, 512) + classifier(512)
    aspp = 2 * _conv_bn(1, c0, 256) + 3 * _conv_bn(3, c0, 256) + _conv_bn(1, 5 * 256, 256)
    assert params["aspp_6_12_18"] == backbone + aspp + classifier(256)
    for name, layers, feedback in (("denseaspp_3_24", 5, False), ("denseaspp_3_30", 6, False),
                                   ("cycleaspp_6_24", 4, True), ("cycleaspp_3_24", 5, True),
                                   ("cycleaspp_3_30", 6, True)):
        assert params[name] == backbone + chain(layers, feedback) + classifier(c0 + layers * growth), name
    assert params["cycleaspp_3_30_unshared"] == backbone + chain(6, shared=False) + classifier(c0 + 6 * growth)
    assert params["cycleaspp_3_30_literal"] == backbone + chain(6, update_first=False) + classifier(c0 + 6 * growth)
    assert params["cycleaspp_3_30_without_input"] == backbone + chain(6) + classifier(6 * growth)
    assert params["cyclenet"] == backbone + chain(6) + adc(c0 + 6 * growth) + classifier(256)
    assert params["cyclenet_ade20k"] == backbone + chain(5) + adc(c0 + 5 * growth) + classifier(256)
    macs = {name: count for name, (_, count) in CYCLENET_COUNTS.items()}
    for cycle, dense, layers in (("cycleaspp_3_24", "denseaspp_3_24", 5), ("cycleaspp_3_30", "denseaspp_3_30", 6)):
        part_two = layers * ((layers - 1) * growth * bottleneck + 9 * bottleneck * growth) * 97 * 97
        assert macs[cycle] - macs[dense] == part_two


@pytest.mark.parametrize("ablation", list(CYCLENET_COUNTS))
def test_cyclenet_counts_are_pinned(ablation):
    model = inference_model(_cyclenet_model(ablation))
    flops = count_flops(model, 769, 769, "multiply_accumulates")
    assert (model_table.trainable_parameters(model), flops) == CYCLENET_COUNTS[ablation]


def test_cyclenet_table_prints_table_one_beside_its_gflops():
    columns = model_table.table_columns("cyclenet")
    assert list(columns) == ["denseaspp_3_24", "denseaspp_3_30", "cycleaspp_6_24", "cycleaspp_3_24", "cycleaspp_3_30"]
    assert [columns[name].gflops for name in columns] == [539.1, 555.5, 530.8, 551.5, 574.0]
    (row,) = model_table.table_rows("cyclenet", CYCLENET_CLASSES, ablations=["cycleaspp_3_30"])
    assert (row["params"], row["flops"]) == CYCLENET_COUNTS["cycleaspp_3_30"]  # the aux head is not counted
    assert row["paper_flops"] == 574.0e9 and row["flops_diff_pct"] == pytest.approx(0.540, abs=0.001)
    model = inference_model(_cyclenet_model("cycleaspp_3_30"))
    assert count_flops(model, 769, 769, "macs") == 2 * CYCLENET_COUNTS["cycleaspp_3_30"][1]


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
