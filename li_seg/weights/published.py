"""Published pretrained backbones by name: `--backbone_weights=NAME` fetches, verifies and loads one.

Each row is a file its source publishes, with the URL and the hash taken from the source's own code (cited per
row; read at the commit named): torchvision's file-name prefix (the first 8 hex digits of the file's SHA-256,
which torch.hub checks: torch/hub.py HASH_REGEX and download_url_to_file), Keras' `file_hash` (MD5: 32 hex
digits, keras.utils.get_file's "auto"), PyTorch-Encoding's SHA-1 of the .pth inside its zip
(encoding/models/model_store.py `_model_sha1`, checked by encoding/utils/files.py check_sha1), OpenMMLab's name
prefix (the same convention as torchvision's, though mmengine does not check it). TF-slim's and research/deeplab's
checkpoints and keras.applications' MobileNetV2 have no published hash: they load after the same checks as any
file, and the log says that no hash vouched for them.

A name adds a source, never trust: the file is fetched once into the Keras cache (keras.utils.get_file, no hash
given to it: the check is ours and covers the prefix kinds), its hash checked (a mismatch removes the copy and
names both hashes), an archive's member extracted alone (regular files only, by base name, bounded size), and the
result read through the same hostile-file checks and strict tables as a file given by path (`li_seg.weights`).
Without internet the error names the URL and how to pass the file by path.

The network a name holds (`Published.backbone`: depth, stem, stem widths) is set on the config with the name
(`backbone_fields`); the source's BN epsilon and input normalisation come from its table when the run resolves
the weights (`li_seg.backbones.pretrained`). The layout stays the paper's (every layout loads every source; the
table names the source's own).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import tarfile
import zipfile
from typing import Optional

import keras
from absl import logging

from li_seg.weights.errors import WeightsError

CACHE_SUBDIR = "li_seg_weights"
MAX_MEMBER_BYTES = 2 << 30  # no backbone checkpoint is larger; a bigger member is refused before extraction
HASH_KINDS = ("sha256_prefix", "md5", "sha1_member", "none")


@dataclasses.dataclass(frozen=True)
class Published:
    """name: what --backbone_weights takes. url: the file (None: no stable URL, `note` says where it is).
    hash / hash_kind: as the source publishes it (HASH_KINDS; "sha1_member": of the archive's member).
    member: for an archive, the base name of the file (or TF checkpoint prefix) inside it to load.
    backbone: the network the file holds, as BackboneConfig fields. source: where the URL and hash were read."""

    name: str
    url: Optional[str]
    hash: Optional[str]
    hash_kind: str
    backbone: dict
    source: str
    member: Optional[str] = None
    note: str = ""


def _torchvision(depth: int, tag: str, version: str = "V1") -> Published:
    return Published(
        f"torchvision_resnet{depth}" + ("" if version == "V1" else "_v2"),
        f"https://download.pytorch.org/models/resnet{depth}-{tag}.pth", tag, "sha256_prefix",
        {"name": f"resnet{depth}", "stem": "plain"},
        f"pytorch/vision torchvision/models/resnet.py @1f1a920d (torchvision 0.29.1), ResNet{depth}_Weights."
        f"IMAGENET1K_{version}")


def _keras_resnet(depth: int, md5: str) -> Published:
    return Published(
        f"keras_resnet{depth}",
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
        f"resnet{depth}_weights_tf_dim_ordering_tf_kernels_notop.h5", md5, "md5",
        {"name": f"resnet{depth}", "stem": "plain"},
        "keras-team/keras keras/src/applications/resnet.py @3422977a, WEIGHTS_HASHES[...][1] (no top)")


def _deeplab_beta(depth: int) -> Published:
    return Published(
        f"deeplab_resnet_v1_{depth}_beta", f"http://download.tensorflow.org/models/resnet_v1_{depth}_2018_05_04.tar.gz",
        None, "none", {"name": f"resnet{depth}", "stem": "beta", "stem_widths": (64, 64, 128)},
        "tensorflow/models research/deeplab/g3doc/model_zoo.md @1c8526da (no hash published)", member="model.ckpt")


def _encoding(depth: int, sha1: str) -> Published:
    return Published(
        f"encoding_resnet{depth}s", f"https://s3.us-west-1.wasabisys.com/encoding/models/resnet{depth}s-{sha1[:8]}.zip",
        sha1, "sha1_member", {"name": f"resnet{depth}", "stem": "beta", "stem_widths": (64, 64, 128)},
        "zhanghang1989/PyTorch-Encoding encoding/models/model_store.py @ac748410, _model_sha1",
        member=f"resnet{depth}s-{sha1[:8]}.pth")


def _mmseg_v1c(depth: int, tag: str) -> Published:
    return Published(
        f"mmseg_resnet{depth}_v1c", f"https://download.openmmlab.com/pretrain/third_party/resnet{depth}_v1c-{tag}.pth",
        tag, "sha256_prefix", {"name": f"resnet{depth}", "stem": "beta", "stem_widths": (32, 32, 64)},
        "open-mmlab/mmcv mmcv/model_zoo/open_mmlab.json @v1.7.2 (also mmengine/hub/openmmlab.json)")


PUBLISHED = {entry.name: entry for entry in (
    _torchvision(18, "f37072fd"), _torchvision(34, "b627a593"), _torchvision(50, "0676ba61"),
    _torchvision(101, "63fe2227"), _torchvision(152, "394f9c45"),
    _torchvision(50, "11ad3fa6", "V2"), _torchvision(101, "cd907fc2", "V2"), _torchvision(152, "f82ba261", "V2"),
    _keras_resnet(50, "4d473c1dd8becc155b73f8504c6f6626"), _keras_resnet(101, "88cf7a10940856eca736dc7b7e228a21"),
    _keras_resnet(152, "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    Published("keras_mobilenet_v2", "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
              "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", None, "none",
              {"name": "mobilenet_v2"},
              "keras-team/keras keras/src/applications/mobilenet_v2.py @3422977a (get_file without file_hash)"),
    _deeplab_beta(50), _deeplab_beta(101),
    Published("slim_mobilenet_v2", "https://storage.googleapis.com/mobilenet_v2/checkpoints/mobilenet_v2_1.0_224.tgz",
              None, "none", {"name": "mobilenet_v2"},
              "tensorflow/models research/slim/nets/mobilenet/README.md @0ba83cf0 (no hash published)",
              member="mobilenet_v2_1.0_224.ckpt"),
    _encoding(50, "a75c83cfc89a56a4e8ba71b14f1ec67e923787b3"),
    _encoding(101, "03a0f310d6447880f1b22a83bd7d1aa7fc702c6e"),
    _mmseg_v1c(50, "2cccc1ad"), _mmseg_v1c(101, "e67eebb6"),
    Published("wang_ji_deeplabv2_coco", None, None, "none", {"name": "resnet101", "stem": "plain"},
              "divelab/dilated README.md @b82cc375; DrSleep/tensorflow-deeplab-resnet README.md @066023c0",
              note="Wang & Ji's (DrSleep's) COCO-pretrained DeepLabv2 is published only in a Google Drive folder, "
                   "https://drive.google.com/drive/folders/0B_rootXHuswsZ0E4Mjh1ZU5xZVU?resourcekey=0-9Ui2e1br1d6jymsI"
                   "6UdGUQ, which cannot be fetched by URL: download deeplab_resnet_init.ckpt (.index and .data) from "
                   "it and pass --backbone_weights=PATH/deeplab_resnet_init.ckpt"),
)}


def is_published(value: Optional[str]) -> bool:
    return value in PUBLISHED


def backbone_fields(name: str) -> dict:
    """The BackboneConfig fields of the network `name` holds."""
    return dict(PUBLISHED[name].backbone)


def _digest(path: pathlib.Path, algorithm: str) -> str:
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _verify(path: pathlib.Path, entry: Published, algorithm: str, expected: str, what: str,
            also_remove: tuple[pathlib.Path, ...] = ()) -> None:
    actual = _digest(path, algorithm)
    if not actual.startswith(expected):
        for bad in (path, *also_remove):
            bad.unlink(missing_ok=True)
        raise WeightsError(
            f"{what} of {entry.name} has {algorithm} {actual}, but its source publishes {expected} ({entry.source}): "
            f"the copy is corrupt or not the published file and was removed; run again to fetch it anew")


def _extract(archive: pathlib.Path, entry: Published, directory: pathlib.Path) -> pathlib.Path:
    """The archive's files whose base name is `entry.member` or starts with it plus "." (a TF checkpoint's
    .index / .data), extracted flat into `directory` (regular files only, each at most MAX_MEMBER_BYTES);
    returns the path to load."""
    target = directory / entry.member
    if target.exists() or any(directory.glob(f"{entry.member}.*")):
        return target
    wanted = lambda base: base == entry.member or base.startswith(entry.member + ".")  # noqa: E731
    directory.mkdir(parents=True, exist_ok=True)
    found = 0
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                base = pathlib.PurePosixPath(info.filename).name
                if info.is_dir() or not wanted(base):
                    continue
                if info.file_size > MAX_MEMBER_BYTES:
                    raise WeightsError(f"{archive}: member {info.filename} claims {info.file_size} bytes")
                (directory / base).write_bytes(z.read(info))
                found += 1
    else:
        with tarfile.open(archive) as t:
            for member in t.getmembers():
                base = pathlib.PurePosixPath(member.name).name
                if not (member.isreg() and wanted(base)):
                    continue
                if member.size > MAX_MEMBER_BYTES:
                    raise WeightsError(f"{archive}: member {member.name} claims {member.size} bytes")
                (directory / base).write_bytes(t.extractfile(member).read())
                found += 1
    if not found:
        raise WeightsError(f"{archive} ({entry.name}) holds no file named {entry.member}[.*]")
    return target


def fetch(name: str, cache_dir: Optional[str] = None) -> str:
    """The local path of published weights `name`, fetched once into CACHE_DIR/li_seg_weights (`cache_dir`, else
    $LI_SEG_WEIGHTS_CACHE, else Keras' cache ~/.keras) and verified; WeightsError naming the problem."""
    entry = PUBLISHED.get(name)
    if entry is None:
        raise WeightsError(f"unknown published weights {name!r}; published: {', '.join(PUBLISHED)} (or a file path)")
    if entry.url is None:
        raise WeightsError(f"{entry.name}: {entry.note}")
    file_name = entry.url.rsplit("/", 1)[-1]
    # Keras' cache, made first: get_file falls back to /tmp/.keras when the directory does not exist yet.
    cache_dir = (cache_dir or os.environ.get("LI_SEG_WEIGHTS_CACHE")
                 or os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras")))
    os.makedirs(cache_dir, exist_ok=True)
    try:
        path = pathlib.Path(keras.utils.get_file(file_name, entry.url, cache_subdir=CACHE_SUBDIR, cache_dir=cache_dir))
    except Exception as error:  # get_file raises a bare Exception for URL and HTTP failures
        raise WeightsError(
            f"could not fetch {entry.name} from {entry.url} ({error}). Without internet access, download that file "
            f"on another machine{' and extract ' + entry.member + ' from it' if entry.member else ''}, then pass "
            f"its path: --backbone_weights=PATH/{entry.member or file_name}") from None
    if entry.hash_kind == "sha256_prefix":
        _verify(path, entry, "sha256", entry.hash, "the file")
    elif entry.hash_kind == "md5":
        _verify(path, entry, "md5", entry.hash, "the file")
    else:
        logging.warning("%s: its source publishes no hash for the file (%s); it is loaded after the checks every "
                        "weights file gets", entry.name, entry.source)
    if entry.member is None:
        return str(path)
    loaded = _extract(path, entry, path.parent / f"{entry.name}_extracted")
    if entry.hash_kind == "sha1_member":
        _verify(loaded, entry, "sha1", entry.hash, f"the extracted {entry.member}", also_remove=(path,))
    return str(loaded)
