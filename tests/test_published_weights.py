"""--backbone_weights=NAME (issue 24 items 3 and 5): the published files' table, and fetching through file:// URLs
of files the tests write (no test touches the network): a good file loads, a wrong hash is refused and the copy
removed, an archive's member is extracted alone, a fetched file gets every check a file given by path gets, and
an unreachable URL names itself and how to pass the file by path."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tarfile
import zipfile

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file

from experiments import flags as cli
from experiments import papers
from experiments.config import ConfigError
import li_seg.backbones.pretrained
import li_seg.weights
from li_seg.backbones import build_backbone
from li_seg.backbones.pretrained import build_pretrained_backbone, load_pretrained, resolve_pretrained
from li_seg.config import BackboneConfig
from li_seg.layers.normalization import BatchNormSettings
from li_seg.weights import WeightsError, published, read_tensors
from li_seg.weights.published import PUBLISHED, Published
from tests.weights_helpers import torch_resnet18_state_dict, write_tf1_checkpoint

HEX_LENGTH = {"sha256_prefix": 8, "md5": 32, "sha1_member": 40}


def test_every_row_cites_its_source_and_its_hash_has_the_published_form():
    assert {"torchvision_resnet18", "torchvision_resnet34", "torchvision_resnet50", "torchvision_resnet101",
            "torchvision_resnet152", "keras_resnet50", "keras_resnet101", "keras_resnet152", "keras_mobilenet_v2",
            "deeplab_resnet_v1_50_beta", "deeplab_resnet_v1_101_beta", "slim_mobilenet_v2", "encoding_resnet101s",
            "mmseg_resnet101_v1c"} <= set(PUBLISHED)
    for entry in PUBLISHED.values():
        assert re.search(r"\S+/\S+ \S+\.(py|md|json)", entry.source), entry.name  # repository and file
        assert entry.hash_kind in published.HASH_KINDS
        if entry.hash_kind == "none":
            assert entry.hash is None
        else:
            assert re.fullmatch(rf"[0-9a-f]{{{HEX_LENGTH[entry.hash_kind]}}}", entry.hash), entry.name
        if entry.hash_kind in ("sha256_prefix", "sha1_member"):  # torch.hub's and Encoding's file-name convention
            assert f"-{entry.hash[:8]}." in entry.url
        assert entry.url or entry.note
        BackboneConfig(**entry.backbone)  # a network our backbones build


def test_every_papers_start_is_published():
    for paper in papers.PAPERS:
        record = papers.record(paper)
        assert record.pretrained, paper
        for network, name in record.pretrained.items():
            assert PUBLISHED[name].backbone["name"] == network


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LI_SEG_WEIGHTS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / published.CACHE_SUBDIR


def _publish(monkeypatch, entry: Published) -> Published:
    monkeypatch.setitem(PUBLISHED, entry.name, entry)
    return entry


def _resnet18_file(tmp_path, name="resnet18-xxxxxxxx.safetensors", nan=False):
    tensors, ours = torch_resnet18_state_dict("torchvision", np.random.default_rng(24))
    if nan:
        tensors["layer1.0.conv1.weight"][0, 0, 0, 0] = np.nan
    path = tmp_path / "origin" / name
    path.parent.mkdir(exist_ok=True)
    save_file(tensors, str(path))
    return path, tensors, ours


def _entry(name, path, hash_kind, digest, **fields):
    backbone = {"name": "resnet18", "stem": "plain"}
    return Published(name, path.as_uri(), digest, hash_kind, backbone, "tests tests/test_published_weights.py",
                     **fields)


def test_a_published_name_fetches_verifies_and_loads_once(tmp_path, cache, monkeypatch):
    path, tensors, ours = _resnet18_file(tmp_path)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    _publish(monkeypatch, _entry("test_resnet18", path, "sha256_prefix", sha256[:8]))
    config = BackboneConfig(name="resnet18", layout="torchvision", stem="plain", weights="test_resnet18")
    backbone = build_pretrained_backbone(config, BatchNormSettings())
    assert backbone.backbone_config.normalization == "imagenet"  # the source's, from its table
    variables = {f"{layer.name}/{v.name}": v.numpy() for layer in backbone.layers for v in layer.weights}
    for key, variable in ours.items():
        expected = tensors[key]
        expected = expected.transpose(2, 3, 1, 0) if expected.ndim == 4 else expected
        np.testing.assert_array_equal(variables[variable], expected, err_msg=key)
    assert (cache / path.name).exists()
    path.unlink()  # fetched once: the cache serves the next run
    assert published.fetch("test_resnet18") == str(cache / path.name)


def test_a_name_is_fetched_and_hashed_once_for_every_backbone_of_a_model(tmp_path, cache, monkeypatch):
    """Two backbones naming the same published file (DifNet's seed and similarity branches): one fetch, one hash
    check, one read, whether the opened file is handed in (build_pretrained_backbone) or not (load_pretrained)."""
    path, _, _ = _resnet18_file(tmp_path)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    _publish(monkeypatch, _entry("test_twice", path, "sha256_prefix", sha256[:8]))
    fetches, reads = [], []
    real_fetch, real_read = published.fetch, li_seg.weights.read_tensors
    monkeypatch.setattr(published, "fetch", lambda *a, **k: fetches.append(a) or real_fetch(*a, **k))
    monkeypatch.setattr(li_seg.weights, "read_tensors", lambda *a, **k: reads.append(a) or real_read(*a, **k))
    config = BackboneConfig(name="resnet18", layout="torchvision", stem="plain", weights="test_twice")
    build_pretrained_backbone(config, BatchNormSettings())
    assert (len(fetches), len(reads)) == (1, 1)
    resolved = resolve_pretrained(config, li_seg.backbones.pretrained.open_pretrained(config))
    fetches.clear(), reads.clear()
    inputs = keras.Input((32, 32, 3))
    branches = [build_backbone(resolved, BatchNormSettings(), name=name) for name in ("seed", "similarity")]
    model = keras.Model(inputs, [branch(inputs)["block4"] for branch in branches])
    assert load_pretrained(model) == 2
    assert (len(fetches), len(reads)) == (1, 1)
    np.testing.assert_array_equal(branches[0].get_layer("conv1").kernel.numpy(),
                                  branches[1].get_layer("conv1").kernel.numpy())


def test_a_wrong_hash_is_refused_and_the_copy_removed(tmp_path, cache, monkeypatch):
    path, _, _ = _resnet18_file(tmp_path)
    _publish(monkeypatch, _entry("test_bad", path, "md5", "0" * 32))
    with pytest.raises(WeightsError, match=r"has md5 [0-9a-f]{32}, but its source publishes 0{32}.*was removed"):
        published.fetch("test_bad")
    assert not (cache / path.name).exists()


def test_a_fetched_file_gets_the_checks_of_a_file_given_by_path(tmp_path, cache, monkeypatch):
    path, _, _ = _resnet18_file(tmp_path, nan=True)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    _publish(monkeypatch, _entry("test_nan", path, "sha256_prefix", sha256[:8]))  # the hash vouches for it...
    config = BackboneConfig(name="resnet18", layout="torchvision", stem="plain", weights="test_nan")
    with pytest.raises(WeightsError, match="layer1.0.conv1.weight.*allow_non_finite_weights"):  # ...not its values
        build_pretrained_backbone(config, BatchNormSettings())


def test_an_archive_member_is_extracted_alone_and_loads(tmp_path, cache, monkeypatch):
    rng = np.random.default_rng(5)
    prefix = write_tf1_checkpoint({"MobilenetV2/Conv/weights": rng.normal(size=(3, 3, 3, 32)).astype(np.float32)},
                                  str(tmp_path / "ckpt" / "model.ckpt"))
    archive = tmp_path / "origin" / "mobilenet.tar.gz"
    archive.parent.mkdir()
    outside = tmp_path / "outside.txt"
    with tarfile.open(archive, "w:gz") as tar:
        for file in (tmp_path / "ckpt").iterdir():
            tar.add(file, arcname=f"mobilenet_v2/{file.name}")
        link = tarfile.TarInfo("mobilenet_v2/model.ckpt.meta")  # a link out of the cache is never followed
        link.type, link.linkname = tarfile.SYMTYPE, str(outside)
        tar.addfile(link)
    _publish(monkeypatch, _entry("test_tar", archive, "none", None, member="model.ckpt"))
    loaded = published.fetch("test_tar")
    assert loaded == str(cache / "test_tar_extracted" / "model.ckpt")
    extracted = sorted(p.name for p in (cache / "test_tar_extracted").iterdir())
    assert extracted == sorted(p.name for p in (tmp_path / "ckpt").glob("model.ckpt.*")), extracted  # not the link
    assert not outside.exists()
    tensors = read_tensors(loaded, "tf_slim")
    np.testing.assert_array_equal(tensors["MobilenetV2/Conv/weights"], read_tensors(prefix, "tf_slim")[
        "MobilenetV2/Conv/weights"])


def test_a_zip_members_hash_is_checked_after_extraction(tmp_path, cache, monkeypatch):
    path, _, _ = _resnet18_file(tmp_path, name="resnet18s-00000000.safetensors")
    archive = tmp_path / "origin" / "resnet18s.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(path, path.name)
    sha1 = hashlib.sha1(path.read_bytes()).hexdigest()
    _publish(monkeypatch, _entry("test_zip", archive, "sha1_member", sha1, member=path.name))
    assert published.fetch("test_zip").endswith(f"test_zip_extracted/{path.name}")
    _publish(monkeypatch, _entry("test_zip_bad", archive, "sha1_member", "f" * 40, member=path.name))
    with pytest.raises(WeightsError, match="the extracted resnet18s-00000000.safetensors of test_zip_bad has sha1"):
        published.fetch("test_zip_bad")
    assert not (cache / "test_zip_bad_extracted" / path.name).exists() and not (cache / archive.name).exists()


def test_without_the_network_the_message_names_the_url_and_the_way_by_path(tmp_path, cache, monkeypatch):
    entry = _publish(monkeypatch, dataclasses.replace(PUBLISHED["encoding_resnet101s"],
                                                      url=(tmp_path / "nowhere" / "resnet101s-03a0f310.zip").as_uri()))
    with pytest.raises(WeightsError) as raised:
        published.fetch(entry.name)
    message = str(raised.value)
    assert entry.url in message and "--backbone_weights=PATH/resnet101s-03a0f310.pth" in message
    assert "extract resnet101s-03a0f310.pth" in message
    with pytest.raises(WeightsError, match="Google Drive folder.*--backbone_weights=PATH/deeplab_resnet_init.ckpt"):
        published.fetch("wang_ji_deeplabv2_coco")
    with pytest.raises(WeightsError, match="unknown published weights 'resnet9'; published: torchvision_resnet18"):
        published.fetch("resnet9")


def _experiment(*args):
    cli.FLAGS.unparse_flags()
    cli.FLAGS(["experiments.train", *args])
    return cli.experiment_from_flags()[0]


def test_a_name_sets_the_network_and_paper_names_what_the_paper_started_from():
    cfg = _experiment("--paper=difnet", "--ablation=difnet_18", "--backbone_weights=paper")
    backbone = cfg.model.backbone
    assert (backbone.weights, backbone.name, backbone.stem, backbone.layout) == (
        "torchvision_resnet18", "resnet18", "plain", "caffe")  # the layout stays the paper's
    cfg = _experiment("--paper=pan", "--ablation=resnet101", "--backbone_weights=mmseg_resnet101_v1c")
    assert (cfg.model.backbone.stem, cfg.model.backbone.stem_widths) == ("beta", (32, 32, 64))
    assert _experiment("--paper=smoothing", "--backbone_weights=paper").model.backbone.weights == (
        "wang_ji_deeplabv2_coco")
    with pytest.raises(ConfigError, match="starts no resnet18 from published weights; it starts mobilenet_v2 from"):
        _experiment("--paper=li_convs", "--backbone_weights=paper",
                    "--params_override=model.backbone.name=resnet18,model.backbone.layout=torchvision")
