"""scripts/compare_runs.py: per-run and per-group (over seeds) tables from what the runs recorded."""

import json

import tensorflow as tf

from experiments import config as config_lib
from experiments import papers
from scripts import compare_runs


def _fake_run(directory, miou, intensity):
    (directory / "eval").mkdir(parents=True)
    config_lib.save(papers.get_experiment("li_convs"), directory / "config.json")
    per_class = [miou] * 6 + [None]
    for step, factor in ((300, 0.5), (600, 1.0)):
        metrics = {"miou": miou * factor, "per_class_iou": [v * factor if v else v for v in per_class]}
        (directory / "eval" / f"metrics-{step}.json").write_text(json.dumps(metrics))
    writer = tf.summary.create_file_writer(str(directory / "train"))
    with writer.as_default():
        for step, value in ((50, 0.0), (100, intensity)):
            tf.summary.scalar("li_intensity_mean/aspp_rate6", value, step=step)
            tf.summary.scalar("li_intensity_max/aspp_rate6", 3 * value, step=step)
    writer.flush()


def test_groups_seeds_and_reports_mean_and_spread(tmp_path, capsys):
    _fake_run(tmp_path / "li-seed0", 0.30, 0.02)
    _fake_run(tmp_path / "li-seed1", 0.40, 0.04)
    assert compare_runs.main([str(tmp_path / "li-seed0"), str(tmp_path / "li-seed1")]) == 0
    out = capsys.readouterr().out
    assert "li-seed0                                   600  30.00" in out
    assert f"{tmp_path.name}/li  " in out and "mIoU  35.00 +- 7.07 (n=2, 30.00-40.00)" in out
    assert "W_L mean aspp_rate6" in out and "0.0200 0.0400" in out
    assert "W_L max aspp_rate6" in out and "0.0600 0.1200" in out


def test_a_run_without_evaluation_is_named(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert compare_runs.main([str(tmp_path / "empty")]) == 2
    assert "has no eval/metrics-*.json" in capsys.readouterr().err


def test_runs_of_one_name_in_two_directories_are_two_groups(tmp_path, capsys):
    _fake_run(tmp_path / "pan" / "resnet101-seed0", 0.30, 0.0)
    _fake_run(tmp_path / "cyclenet" / "resnet101-seed0", 0.50, 0.0)
    assert compare_runs.main([str(tmp_path / "pan" / "resnet101-seed0"),
                              str(tmp_path / "cyclenet" / "resnet101-seed0")]) == 0
    out = capsys.readouterr().out
    assert "pan/resnet101" in out and "cyclenet/resnet101" in out and "n=2" not in out
