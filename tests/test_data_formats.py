"""Prepared formats: li_seg's TFRecords (conversion, resumption, verification) and the TFDS builders, on the tiny
fixture of every file dataset; each must read back exactly what the raw pipeline reads."""

import dataclasses
import importlib
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from li_seg import data
from li_seg.config import DataConfig
from li_seg.data import convert, records, tfds_builders
from tests.fixtures import camvid as camvid_fixture

FIXTURES = ("camvid", "voc", "pascal_context", "cityscapes", "ade20k", "celebamask_hq")


def _write(name, root):
    return importlib.import_module(f"tests.fixtures.{name}").write(root)


def _splits(config):
    info = data.get_dataset_info(config)
    return [split for split in info.split_sizes if split not in info.optional_splits]


def _evaluation(config, split):
    return [
        {key: value[0] for key, value in batch.items()}
        for batch in data.build_dataset(config, split, training=False).as_numpy_iterator()
    ]


def _assert_same_examples(expected, actual):
    assert [e["name"] for e in actual] == [e["name"] for e in expected]
    for want, got in zip(expected, actual):
        np.testing.assert_array_equal(got["image"], want["image"])
        np.testing.assert_array_equal(got["label"], want["label"])


def _training(config, split, **kwargs):
    tf.random.set_seed(11)  # as the trainer does (keras.utils.set_random_seed): record shuffling must work with it
    dataset = data.build_dataset(config, split, training=True, batch_size=2, seed=3, **kwargs)
    return [batch["label"] for batch in dataset.take(3).as_numpy_iterator()]


@pytest.mark.parametrize("name", FIXTURES)
def test_tfrecord_round_trip(tmp_path, name):
    config = _write(name, tmp_path / "raw")
    output = tmp_path / "records"
    converted = dataclasses.replace(config, data_format="tfrecord", data_dir=str(output))
    for split in _splits(config):
        manifest = convert.convert_split(config, split, output, examples_per_shard=2)
        assert manifest.complete() and manifest.num_examples == data.num_examples(config, split)
        assert convert.verify_split(config, split, output) == manifest.num_examples
        _assert_same_examples(_evaluation(config, split), _evaluation(converted, split))
        assert data.num_examples(converted, split) == manifest.num_examples
    split = _splits(config)[0]
    reference = _training(converted, split)
    resumed = _training(converted, split, start_step=1)
    np.testing.assert_array_equal(resumed[0], reference[1])
    np.testing.assert_array_equal(resumed[1], reference[2])


@pytest.mark.parametrize("name", FIXTURES)
def test_tfds_builder_builds_the_raw_examples(tmp_path, name):
    config = _write(name, tmp_path / "raw")
    builder = tfds_builders.BUILDERS[config.dataset](data_dir=str(tmp_path / "tfds"), config="unchecked")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=config.data_dir))
    assert builder.info.metadata["class_names"] == list(data.get_dataset_info(config).class_names)
    prepared = dataclasses.replace(config, data_format="tfds", data_dir=str(tmp_path / "tfds"))
    for split in _splits(config):
        assert builder.info.splits[split].num_examples == data.num_examples(config, split)
        _assert_same_examples(_evaluation(config, split), _evaluation(prepared, split))
    loaded = tfds.load(tfds_builders.builder_name(config.dataset) + "/unchecked", data_dir=str(tmp_path / "tfds"),
                       split=_splits(config)[-1])
    example = next(iter(loaded))
    assert example["image"].dtype == tf.uint8 and example["label"].shape[-1] == 1
    assert len(_training(prepared, _splits(config)[0])) == 3


def test_every_file_dataset_has_a_builder_and_a_fixture():
    file_datasets = set(data.list_datasets()) - {"synthetic", "folder"}
    assert set(tfds_builders.BUILDERS) == file_datasets
    fixture_datasets = {name for name in FIXTURES} | {"ade20k_151", "pascal_context_59"}
    assert file_datasets == fixture_datasets


def test_conversion_resumes_and_refuses_another_listing(tmp_path):
    config = _write("camvid", tmp_path / "raw")
    output = tmp_path / "records"
    manifest = convert.convert_split(config, "train", output, examples_per_shard=1)
    shards = [output / shard["file"] for shard in manifest.shards]
    # An interrupted run: the last shard was never finished (no checksum, a partial temporary file).
    interrupted = dataclasses.replace(manifest, shards=manifest.shards[:-1] + ({**manifest.shards[-1],
                                                                               "sha256": None},))
    records.write_manifest(output, interrupted)
    shards[-1].unlink()
    shards[-1].with_name(shards[-1].name + ".tmp").write_bytes(b"partial")
    before = [path.stat().st_mtime_ns for path in shards[:-1]]
    with pytest.raises(data.DataError, match="unfinished"):
        data.build_dataset(dataclasses.replace(config, data_format="tfrecord", data_dir=str(output)), "train",
                           training=False)
    resumed = convert.convert_split(config, "train", output, examples_per_shard=1)
    assert resumed == manifest  # the same shards and checksums
    assert [path.stat().st_mtime_ns for path in shards[:-1]] == before  # finished shards were not rewritten
    assert not shards[-1].with_name(shards[-1].name + ".tmp").exists()
    with pytest.raises(data.DataError, match="another conversion"):
        convert.convert_split(config, "train", output, examples_per_shard=2)


def test_verification_finds_damage(tmp_path):
    config = _write("camvid", tmp_path / "raw")
    output = tmp_path / "records"
    manifest = convert.convert_split(config, "val", output, examples_per_shard=2)
    shard = output / manifest.shards[0]["file"]
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(data.DataError, match="changed since it was written"):
        convert.verify_split(config, "val", output)
    (output / "val.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(data.DataError, match="not a li_seg manifest"):
        convert.verify_split(config, "val", output)


def test_records_of_another_dataset_are_refused(tmp_path):
    config = _write("camvid", tmp_path / "raw")
    convert.convert_split(config, "val", tmp_path / "records")
    wrong = dataclasses.replace(config, dataset="cityscapes", data_format="tfrecord",
                                data_dir=str(tmp_path / "records"))
    with pytest.raises(data.DataError, match="holds dataset 'camvid', not 'cityscapes'"):
        data.build_dataset(wrong, "val", training=False)
    with pytest.raises(data.DataError, match=r"no converted 'train' split.*scripts.convert_dataset"):
        data.num_examples(dataclasses.replace(wrong, dataset="camvid"), "train")


def test_a_defect_stops_the_conversion_naming_the_file(tmp_path):
    config = _write("camvid", tmp_path / "raw")
    label = tmp_path / "raw" / "valannot" / "a_002.png"
    label.write_bytes(label.read_bytes()[:50])
    with pytest.raises(data.DataError, match=f"{label} cannot be read"):
        convert.convert_split(config, "val", tmp_path / "records", examples_per_shard=1)
    assert not list((tmp_path / "records").glob("*.tmp"))
    skipping = dataclasses.replace(config, skip_bad_examples=True)
    manifest = convert.convert_split(skipping, "val", tmp_path / "records2", examples_per_shard=1)
    assert manifest.num_examples == 2


def test_real_camvid_converts_and_reads_back(camvid_dir, tmp_path):
    config = DataConfig(dataset="camvid", data_dir=str(camvid_dir))
    manifest = convert.convert_split(config, "val", tmp_path, examples_per_shard=40)
    assert [shard["count"] for shard in manifest.shards] == [34, 33, 34]
    assert convert.verify_split(config, "val", tmp_path) == 101
    converted = dataclasses.replace(config, data_format="tfrecord", data_dir=str(tmp_path))
    first = lambda cfg: next(data.build_dataset(cfg, "val", training=False).as_numpy_iterator())  # noqa: E731
    raw, records_ = first(config), first(converted)
    assert raw["name"] == records_["name"]
    np.testing.assert_array_equal(raw["image"], records_["image"])
    np.testing.assert_array_equal(raw["label"], records_["label"])


@pytest.mark.slow
def test_tfds_build_command_line(tmp_path):
    for module in ("apache_beam", "mlcroissant"):
        pytest.importorskip(module, reason="the tfds command line needs requirements-tfds-cli.txt (TFDS #5463)")
    config = _write("camvid", tmp_path / "raw")
    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "tfds"), "build", "li_seg_camvid/unchecked",
         "--imports=li_seg.data.tfds_builders", f"--manual_dir={config.data_dir}", f"--data_dir={tmp_path / 'tfds'}"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = tfds.load("li_seg_camvid/unchecked", data_dir=str(tmp_path / "tfds"), split="val")
    assert [example["name"].numpy().decode() for example in loaded] == list(camvid_fixture.NAMES)
