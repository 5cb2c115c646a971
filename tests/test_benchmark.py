"""scripts/benchmark.py: the Keras contender is our architecture (fast), the comparisons run tiny (slow: -m slow)."""

import importlib.util
import os
import sys

import pytest

from li_seg.data import get_dataset_info
from li_seg.models import build_model
from scripts import benchmark
from scripts.benchmarking import keras_reference, timing

CROP = (32, 32)


@pytest.mark.parametrize("output_stride", [16, 32])
def test_keras_contender_is_the_same_architecture(output_stride):
    backbone = keras_reference.keras_mobilenet_v2(output_stride, (*CROP, 3))
    size = CROP[0] // output_stride
    assert tuple(backbone.output.shape[1:]) == (size, size, 320)
    ours = build_model(benchmark.model_config(output_stride), 11)
    theirs = keras_reference.build_keras_deeplab(benchmark.model_config(output_stride), 11, CROP)
    images, _ = timing.random_batch(2, CROP, 11)
    checks = keras_reference.check_same_architecture(ours, theirs, images)  # asserts params, decay and outputs equal
    assert checks["params"]["ours"] == checks["params"]["keras"] > 2_000_000


@pytest.mark.slow  # traces two train steps: about 40 s on a busy 2-core machine
def test_both_measurements_positive_throughputs():
    data_config, note = benchmark.pipeline_data_config("camvid", "/nonexistent", CROP, 0.375, 0.75, 0.0)
    assert data_config.dataset == "synthetic" and "synthetic" in note
    tiny = dict(batch_size=2, rounds=1, steps=1, warmup=1)
    num_classes = get_dataset_info("synthetic").num_classes  # the pipeline comparison reuses this model of ours
    model = benchmark.measure_model(16, crop=CROP, num_classes=num_classes, **tiny)
    assert model["params"]["ours"] == model["params"]["keras"]
    assert model["ours"]["images_per_s"] > 0 and model["keras"]["images_per_s"] > 0 and model["ratio"] > 0
    pipeline = benchmark.measure_pipeline(data_config, batches=1, pipeline_warmup=1, **tiny)
    assert pipeline["pipeline"]["images_per_s"] > 0 and pipeline["training"]["images_per_s"] > 0
    assert len(pipeline["round_ratios"]) == 1 and pipeline["ratio"] > 0


@pytest.mark.slow  # traces four steps of two MobileNetV2 models: about 60 s on a busy 2-core machine
def test_li_cost_measurement_reports_time_ratios():
    (result,) = benchmark.measure_cost(
        "li_convs", ["li_mnv2_li_aspp"], batch_size=1, crop=CROP, num_classes=3, rounds=2, steps=1, warmup=1
    )
    cost, measured, params = result
    assert (cost.ablation, cost.baseline) == ("li_mnv2_li_aspp", "mnv2_aspp")
    assert params["ablation"] - params["baseline"] == 2_880  # 3 x 320 (ASPP) + 384 + 576 + 960
    assert set(measured) == {"train", "infer"}  # Table VII reports both
    for stats in measured.values():
        assert stats["ratio"] == pytest.approx(stats["ablation"]["median_s"] / stats["baseline"]["median_s"])
        assert len(stats["round_ratios"]) == 2


@pytest.mark.slow  # traces two ResNet-101 train steps: about 40 s on a busy 2-core machine
def test_smoothing_cost_measurement_reports_time_ratios():
    (result,) = benchmark.measure_cost(
        "smoothing", ["average"], batch_size=1, crop=(33, 33), num_classes=3, rounds=2, steps=1, warmup=1
    )
    cost, measured, params = result
    assert params["ablation"] == params["baseline"]  # fixed filters: no weights
    assert set(measured) == {"train"}  # Table II reports training time only
    stats = measured["train"]
    assert stats["ratio"] == pytest.approx(stats["ablation"]["median_s"] / stats["baseline"]["median_s"])
    assert len(stats["round_ratios"]) == 2


def test_deform_measurement_reports_a_time_ratio():
    result = benchmark.measure_deform(batch_size=1, crop=(6, 5), channels=4, rounds=2, steps=1, warmup=1)
    assert result["ratio"] == pytest.approx(result["deform"]["median_s"] / result["conv"]["median_s"])
    gather = result["gather"]
    assert gather["ratio"] == pytest.approx(gather["deform_gather"]["median_s"] / gather["conv"]["median_s"])
    assert len(result["round_ratios"]) == 2


TORCH_PYTHON = os.environ.get("LI_SEG_TORCH_PYTHON") or (
    sys.executable if importlib.util.find_spec("torchvision") else None)


@pytest.mark.skipif(TORCH_PYTHON is None, reason="no Python with torchvision: install requirements-crosscheck.txt "
                    "here or set LI_SEG_TORCH_PYTHON to one")
def test_deform_measurement_alternates_with_torchvisions_deform_conv2d():
    result = benchmark.measure_deform(batch_size=1, crop=(6, 5), channels=4, rounds=2, steps=1, warmup=1,
                                      torch_python=TORCH_PYTHON)
    torch = result["torch"]
    assert torch["ratio"] == pytest.approx(torch["torch_deform"]["median_s"] / torch["torch_conv"]["median_s"])
    ours = result["ours_vs_torchvision"]
    assert ours["ratio"] == pytest.approx(ours["deform"]["median_s"] / ours["torch_deform"]["median_s"])
    assert len(torch["round_ratios"]) == 2 and all(s > 0 for s in torch["torch_deform"]["rounds_s"])


def test_diffusion_measurement_reports_a_time_ratio_and_the_chunked_peak_is_smaller():
    result = benchmark.measure_diffusion(batch_size=1, side=5, chunk_size=4, rounds=2, steps=1, warmup=1)
    assert result["ratio"] == pytest.approx(result["chunked"]["median_s"] / result["materialised"]["median_s"])
    from scripts.benchmarking import diffusion, peak_memory

    peaks = {kind: peak_memory.step_peak_mb(diffusion.__name__, kind, 1, 40, 21, 64, 64) for kind in diffusion.KINDS}
    assert 0 <= peaks["chunked"] < peaks["materialised"]  # 1,600 nodes: P is 10 MB per walk


@pytest.mark.slow  # traces two ResNet-101 train steps and two inferences: about 60 s on a busy 2-core machine
def test_pan_cost_measurement_times_inference_where_the_record_asks():
    (result,) = benchmark.measure_cost(
        "pan", ["gau_gp_3x3"], batch_size=1, crop=(33, 33), num_classes=3, rounds=2, steps=1, warmup=1
    )
    cost, measured, params = result
    assert (cost.ablation, cost.baseline) == ("gau_gp_3x3", "resnet101") and cost.paper_infer_ratio is None
    assert set(measured) == {"train", "infer"}  # the paper reports no timings; the record asks for both
    assert params["ablation"] > params["baseline"]


@pytest.mark.slow  # two fresh TensorFlow processes: about 15 s
def test_peak_memory_of_the_deformable_step_exceeds_the_convolutions():
    """Backpropagation keeps every tap's sampled map (the default sampler): at 1 x 64 x 64 x 64 nine feature maps and
    more, against the convolution's few."""
    from scripts.benchmarking import deform, peak_memory

    conv, deformable = (peak_memory.step_peak_mb(deform.__name__, kind, 1, 64, 64, 64) for kind in ("conv", "deform"))
    assert 0 <= conv < deformable and deformable > 20


@pytest.mark.slow  # compiles the LI paper's main model with XLA: about 40 s
def test_xla_measurement_reports_a_time_ratio():
    results = benchmark.measure_xla(["li_convs"], batch_size=1, crop=CROP, num_classes=3, rounds=2, steps=1, warmup=1)
    result = results["li_convs"]
    assert result["ratio"] == pytest.approx(result["xla"]["median_s"] / result["plain"]["median_s"])
    assert len(result["round_ratios"]) == 2


@pytest.mark.parametrize("paper, rows", [("li_convs", ["li_mnv2_li_aspp", "mnv2_aspp"]),
                                         ("smoothing", ["gaussian", "deeplabv2"]), ("pan", ["pan", "resnet101"]),
                                         ("cyclenet", ["cyclenet", "resnet101"]),
                                         ("difnet", ["difnet_50", "sim_deeplab_101"])])
def test_memory_measures_each_papers_main_model_and_its_baseline(paper, rows):
    assert benchmark.memory_rows(paper) == rows
    assert benchmark.memory_rows(paper, ["other"]) == ["other"]


def test_memory_prints_the_per_replica_need_and_the_fewest_replicas_that_fit(capsys):
    from scripts.benchmarking.train_memory import Need

    # PAN's recipe: batch 16 at crop 512. 2 GB fixed + 1 GB per image: 18 GB on one card, 4 x 4 needs 6 GB.
    benchmark.print_memory("pan", "pan", {"float32": Need(fixed=2048.0, per_image=1024.0), "mixed_float16": None})
    lines = capsys.readouterr().out.splitlines()
    line = lines[1]
    assert "mixed_float16  not measured" in lines[2]
    assert "1 x 16: 18.0 GB, 2 x 8: 10.0 GB, 4 x 4: 6.0 GB, 8 x 2: 4.0 GB" in line
    assert "16 GB: 2 x 8, 24 GB: 1 x 16, 40 GB: 1 x 16, 80 GB: 1 x 16" in line  # 85 % of 16 GB is 13.6 GB


@pytest.mark.slow  # four fresh processes training DeepLabv3-MobileNetV2 at 513 x 513: about a minute
def test_memory_of_a_training_step_has_fewer_bytes_per_image_in_float16():
    from scripts.benchmarking import train_memory

    single = train_memory.measure("li_convs", "mnv2_aspp", "float32")
    mixed = train_memory.measure("li_convs", "mnv2_aspp", "mixed_float16")
    assert single.per_image > 100 and single.fixed > 0  # 513 x 513: hundreds of MB of activations per image
    assert mixed.per_image < 0.9 * single.per_image  # 0.75 when measured (BUILD_NOTES 19.5)
