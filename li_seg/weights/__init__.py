"""Pretrained weights from the files the papers' users have on disk, into our backbones and DeepLab models. A file is
downloaded only when named (`li_seg.weights.published`: fetched once, verified, then read as any file).

Formats (`FORMATS`; detected from the file by `detect_format`, or named):
- "keras": a Keras 3 .weights.h5 of one of our backbones (saved with `backbone.save_weights`), matched by
  structure (position).
- "converted": a .weights.h5 written by `python -m scripts.convert_weights` (`li_seg.weights.converted`: by layer
  name, with the source's BN epsilon).
- "tf_checkpoint": a TF2 object-based checkpoint prefix written by tf.train.Checkpoint(backbone=backbone).
- "keras_applications": keras.applications' MobileNetV2 and ResNet50 / 101 / 152 legacy HDF5 files, the ones
  its downloads leave in ~/.keras/models (`li_seg.weights.keras_applications`).
- "tf_slim": TF1 checkpoints with TF-slim / research/deeplab variable names: slim's resnet_v1_50 / 101 / 152,
  research/deeplab's resnet_v1_*_beta and MobileNetV2, and whole research/deeplab DeepLabv3 / v3+ models
  (`li_seg.weights.tf_slim`).
- "deeplabv2_tf": the TF DeepLabv2 ResNet-101 of Wang & Ji (converted from Caffe), backbone and classifier
  (`li_seg.weights.deeplabv2_tf`).
- "torch": PyTorch state dicts (.pth / .pt / .bin via `li_seg.weights.pth`, no torch needed; .safetensors) of
  torchvision / timm ResNets, PyTorch-Encoding's deep-base and mmsegmentation's ResNetV1c
  (`li_seg.weights.torch_resnet`).

Entry points: `load_backbone_weights` (BackboneConfig.weights: a backbone's weights, the rest of the file such as a
classifier ignored by name), `load_model_weights` (--init_checkpoint / --checkpoint: a whole model: our
checkpoints, a whole-model .weights.h5, or a research/deeplab / Wang & Ji checkpoint with its head), and
`open_backbone_weights` (a backbone's file read and checked once, with the BN epsilon and input normalisation of
the network it came from, which `li_seg.backbones.pretrained` resolves into the config before the backbone is
built). Every table-based load is strict: a file
that is not the network's weights raises `MappingError` naming every unmatched, missing or mis-shaped variable,
and nothing is loaded.

No file is trusted (docs/weights_security.md): the readers refuse what their format's writers never write and
whatever could read outside the file or claim more memory than it holds (`li_seg.weights.pth`,
`li_seg.weights.hdf5`, `li_seg.weights.sources`); every tensor read must be real and finite
(`li_seg.weights.values`; `allow_non_finite` loads NaN / Inf anyway); and every failure, whatever raised it, is one
`WeightsError` naming the file (`li_seg.weights.errors`), which the command lines print before exiting with 2.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import re
from typing import Optional, Sequence

import keras
import tensorflow as tf
from absl import logging

from li_seg.weights import converted, deeplabv2_tf, hdf5, keras_applications, sources, tf_slim, torch_resnet
from li_seg.weights.errors import MappingError, WeightsError, WeightsNotFoundError, reading
from li_seg.weights.mapping import (
    Mapping, assign, check_bn_epsilon, layers_with_weights, match, new_layers_removed,
)
from li_seg.weights.values import check_values

FORMATS = ("keras", "converted", "tf_checkpoint", "keras_applications", "tf_slim", "deeplabv2_tf", "torch")
TABLE_FORMATS = ("tf_slim", "deeplabv2_tf", "keras_applications", "converted", "torch")

__all__ = [
    "FORMATS", "MappingError", "WeightsError", "WeightsNotFoundError", "backbone_mapping", "detect_format",
    "PretrainedFile", "load_backbone_weights", "load_model_weights", "model_mapping", "open_backbone_weights",
    "read_tensors",
]

_HOW_TO = (
    "Put the file on disk and pass its path as --backbone_weights (model.backbone.weights), or a published name "
    "(--backbone_weights=paper for what the paper started from), or a whole model's checkpoint as "
    "--init_checkpoint; README 'Pretrained weights' lists the files each paper starts from."
)


def detect_format(path: str) -> str:
    """The format of the file at `path` (see the module docstring), from its name and contents; WeightsNotFoundError
    when there is no such file or checkpoint prefix."""
    path = str(path)
    with reading(path):
        if sources.is_tf_checkpoint(path):
            keys = set(sources.read_checkpoint(path))
            if sources.OBJECT_GRAPH_KEY in keys:
                return "tf_checkpoint"
            return "deeplabv2_tf" if deeplabv2_tf.holds(keys) else "tf_slim"
        sources.check_exists(path, _HOW_TO)
        is_converted = path.endswith(sources.HDF5_SUFFIXES) and converted.is_converted(path)
    if is_converted:
        return "converted"
    if path.endswith(".weights.h5"):
        return "keras"
    if path.endswith(sources.HDF5_SUFFIXES):
        return "keras_applications"
    if path.endswith(sources.TORCH_SUFFIXES + (".safetensors",)):
        return "torch"
    raise WeightsError(
        f"cannot tell the format of {path!r} from its name; name it with --weights_format / "
        f"model.backbone.weights_format, one of {list(FORMATS)}"
    )


def read_tensors(path: str, fmt: str, allow_non_finite: bool = False):
    """{source key: array} of a table-based format's file, every tensor checked (real, finite unless
    `allow_non_finite`: `li_seg.weights.values`). Raises WeightsError when the file cannot be read as `fmt`."""
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"format {fmt!r} is not read by a table; table formats: {', '.join(TABLE_FORMATS)}")
    with reading(path, fmt):
        if fmt in ("tf_slim", "deeplabv2_tf"):
            tensors = sources.read_checkpoint(path)
            check_values(tensors.numeric(), path, allow_non_finite)
            return tensors
        tensors = sources.read_hdf5(path) if fmt in ("keras_applications", "converted") else sources.read_torch(path)
        check_values(tensors.items(), path, allow_non_finite)
        return tensors


@dataclasses.dataclass(frozen=True)
class PretrainedFile:
    """A backbone's pretrained weights file, read and checked once (`open_backbone_weights`): its tensors and the
    table that maps them (None for our own formats, which load by structure), hence the source network's BN
    epsilon and input normalisation (None where the file does not tell). `source`: what the config named, a path or
    a published name (`li_seg.backbones.pretrained.open_pretrained`), so that a name is fetched and hashed once."""

    path: str
    fmt: str
    family: str
    allow_non_finite: bool = False
    tensors: object = None
    mapping: Optional[Mapping] = None
    source: Optional[str] = None

    @property
    def bn_epsilon(self) -> Optional[float]:
        return self.mapping.bn_epsilon if self.mapping else None

    @property
    def normalization(self) -> Optional[str]:
        return self.mapping.normalization if self.mapping else None


def open_backbone_weights(path: str, family: str, fmt: Optional[str] = None,
                          allow_non_finite: bool = False) -> PretrainedFile:
    """Reads and checks the weights of a `family` ("mobilenet_v2" / "resnet") backbone at `path` (format `fmt`,
    detected when None) and picks their table. Raises WeightsError naming the problem."""
    path = str(path)
    fmt = fmt or detect_format(path)
    _check_format(fmt, path)
    if fmt in _OWN_FORMATS:
        return PretrainedFile(path, fmt, family, allow_non_finite)
    tensors = read_tensors(path, fmt, allow_non_finite)
    with reading(path, fmt):
        return PretrainedFile(path, fmt, family, allow_non_finite, tensors,
                              backbone_mapping(fmt, tensors, family, path))


def _family(layers) -> str:
    return "mobilenet_v2" if any(layer.name == "Conv1" for layer in layers) else "resnet"


def _slim_scope(keys) -> Optional[str]:
    for key in keys:
        found = re.fullmatch(r"(resnet_v1_\d+)/block1/unit_1/bottleneck_v1/conv1/weights", key)
        if found:
            return found.group(1)
    return None


def _wrong_network(path: str, holds: str, family: str) -> MappingError:
    return MappingError(f"{path} holds {holds}, but the backbone is a {family}: choose the matching "
                        "model.backbone.name (README 'Pretrained weights')")


def backbone_mapping(fmt: str, tensors, family: str, path: str = "the file", alone: bool = True) -> Mapping:
    """The table that loads `family`'s ("mobilenet_v2" / "resnet") backbone from `tensors` of format `fmt`; when
    `alone` and the file also holds a head (a whole research/deeplab or DeepLabv2 model), everything outside the
    backbone is ignored."""
    keys = list(tensors)
    if fmt == "tf_slim":
        if "MobilenetV2/Conv/weights" in tensors:
            if family != "mobilenet_v2":
                raise _wrong_network(path, "research/slim's MobilenetV2", family)
            return _only(tf_slim.SLIM_MOBILENET_V2, "MobilenetV2", alone=alone)
        scope = _slim_scope(keys)
        if scope is None:
            raise MappingError(f"{path} holds no TF-slim resnet_v1 (no '<scope>/block1/unit_1/bottleneck_v1/conv1/"
                               f"weights') nor MobilenetV2 variables; e.g. {sorted(keys)[:5]}")
        if family != "resnet":
            raise _wrong_network(path, f"TF-slim's {scope}", family)
        table = tf_slim.SLIM_RESNET.with_params(scope=scope)
        if f"{scope}/conv1_1/weights" in tensors:  # research/deeplab's resnet_v1_*_beta
            table = dataclasses.replace(table, normalization="unit_range")
        return _only(table, scope, alone=alone)
    if fmt == "keras_applications":
        holds = "mobilenet_v2" if "Conv1/kernel" in tensors else "resnet" if "conv1_conv/kernel" in tensors else None
        if holds is None:
            raise MappingError(f"{path} holds neither keras.applications' MobileNetV2 ('Conv1') nor its ResNets "
                               f"('conv1_conv'; Keras 2.2.4's older files named them 'conv1' / 'res2a_branch2a'); "
                               f"e.g. {sorted(keys)[:5]}")
        if holds != family:
            raise _wrong_network(path, f"keras.applications' {holds}", family)
        return keras_applications.KERAS_MOBILENET_V2 if family == "mobilenet_v2" else keras_applications.KERAS_RESNET
    if fmt == "converted":
        return converted.mapping(path)
    if fmt == "torch":
        found = [mapping for key, mapping in torch_resnet.BY_STEM_KEY.items() if key in tensors]
        if len(found) != 1:
            raise MappingError(f"{path} is not a ResNet state dict of torchvision, timm, PyTorch-Encoding or "
                               f"mmsegmentation (stem keys {list(torch_resnet.BY_STEM_KEY)}); e.g. {sorted(keys)[:5]}")
        if family != "resnet":
            raise _wrong_network(path, f"a {found[0].name}", family)
        return found[0]
    if fmt == "deeplabv2_tf":
        if family != "resnet":
            raise _wrong_network(path, "a DeepLabv2 ResNet-101", family)
        return _only(deeplabv2_tf.BACKBONE, None, deeplabv2_tf.CLASSIFIER_KEYS, alone=alone)
    raise ValueError(f"format {fmt!r} has no table")


def _only(mapping: Mapping, scope: Optional[str], other: tuple[str, ...] = (), alone: bool = True) -> Mapping:
    """`mapping` for loading a backbone `alone`: source keys outside `scope`/ (and those matching `other`)
    ignored."""
    if not alone:
        return mapping
    outside = (rf"(?!{re.escape(scope)}/).*",) if scope else ()
    return dataclasses.replace(mapping, ignored=mapping.ignored + outside + other)


def model_mapping(fmt: str, tensors, architecture: str, family: str, path: str = "the file") -> Mapping:
    """The table of a whole model: research/deeplab's DeepLabv3 / v3+ (backbone + head) or Wang & Ji's
    DeepLabv2 (backbone + classifier)."""
    if fmt == "tf_slim" and architecture in ("deeplabv3", "deeplabv3plus"):
        backbone = backbone_mapping(fmt, tensors, family, path, alone=False)
        return backbone + tf_slim.RESEARCH_DEEPLAB_HEAD
    if fmt == "deeplabv2_tf" and architecture == "deeplabv2" and family == "resnet":
        return backbone_mapping(fmt, tensors, family, path, alone=False) + deeplabv2_tf.CLASSIFIER
    if fmt == "converted":
        return converted.mapping(path)
    raise MappingError(f"{path} ({fmt}) holds no whole {architecture} model with a {family} backbone: whole-model "
                       "tables exist for research/deeplab DeepLabv3 / v3+ (tf_slim), Wang & Ji's DeepLabv2 "
                       "(deeplabv2_tf) and converted files; load a backbone alone with --backbone_weights")


def load_with_table(model: keras.Model, mapping: Mapping, tensors, path: str, new_layers: Sequence[str] = ()) -> None:
    """Checks (BN epsilon, every variable) and assigns `model`'s variables from `tensors` by `mapping`; the layers
    matching `new_layers` keep their initialisation (logged)."""
    layers = layers_with_weights(model)
    check_bn_epsilon(mapping, layers, path)
    assign(match(mapping, tensors, layers, path, f"{model.name!r}", new_layers))
    kept = len(layers) - len(new_layers_removed(layers, new_layers))
    logging.info("loaded %s from %s (%s)%s", model.name, path, mapping.name,
                 f"; {kept} layer(s) the paper adds keep their initialisation" if kept else "")


_OWN_FORMATS = ("keras", "tf_checkpoint")


def _load_own(model: keras.Model, path: str, fmt: str, key: str, allow_non_finite: bool) -> None:
    """Loads one of our own files into `model` (a "backbone" or a whole "model", the key it is saved under in a
    TF checkpoint): a Keras 3 .weights.h5 by position, or an object-based checkpoint (optimizer state ignored).
    Every tensor of the file is checked first (`li_seg.weights.values`; HDF5 by `li_seg.weights.hdf5`)."""
    with reading(path, fmt):
        tensors = hdf5.datasets(path) if fmt == "keras" else sources.read_checkpoint(path).numeric()
        check_values(tensors, path, allow_non_finite)
        problem = None
        with _tensorflow_warnings_silenced():  # a read stopped at a mismatched tensor warns, once freed, of every
            try:  # value it left unrestored: hundreds of lines after the one error that says why
                if fmt == "keras":
                    model.load_weights(path)
                else:
                    tf.train.Checkpoint(**{key: model}).read(path).expect_partial().assert_existing_objects_matched()
            except (AssertionError, ValueError, KeyError) as error:
                problem = str(error)
            if problem is not None:
                gc.collect()  # frees the stopped read (its traceback went with the error)
        if problem is not None:
            raise WeightsError(
                f"{path!r} does not hold the weights of {key} {model.name!r} (another network, architecture or "
                f"number of classes? A Keras 3 .weights.h5 loads by position into the network it was saved from, a "
                f"checkpoint holds it under the key {key!r}: tf.train.Checkpoint({key}=...); convert pretrained "
                f"files with scripts.convert_weights): {problem}")


@contextlib.contextmanager
def _tensorflow_warnings_silenced():
    tf_logger = tf.get_logger()
    level = tf_logger.level
    tf_logger.setLevel("ERROR")
    try:
        yield
    finally:
        tf_logger.setLevel(level)


def load_backbone_weights(backbone: keras.Model, path, fmt: Optional[str] = None,
                          new_layers: Sequence[str] = (), allow_non_finite: bool = False) -> None:
    """Loads the backbone weights at `path` (format `fmt`, detected when None), or those of an opened
    `PretrainedFile` (read once for several backbones), into `backbone` in place; layers matching `new_layers`
    (`li_seg.backbones.NEW_LAYERS`: LI, smoothing) keep their initialisation when the file is a pretrained one
    (table formats). NaN / Inf values are refused unless `allow_non_finite`.

    Raises WeightsError (WeightsNotFoundError for a missing file, MappingError for a file of another network)
    naming every problem; nothing is loaded then.
    """
    opened = path if isinstance(path, PretrainedFile) else open_backbone_weights(
        path, _family(layers_with_weights(backbone)), fmt, allow_non_finite)
    if opened.mapping is None:
        _load_own(backbone, opened.path, opened.fmt, "backbone", opened.allow_non_finite)
        return
    family = _family(layers_with_weights(backbone))
    if family != opened.family:
        raise _wrong_network(opened.path, f"{opened.family} weights", family)
    with reading(opened.path, opened.fmt):  # a tensor a transform cannot take (a kernel of another rank, ...)
        load_with_table(backbone, opened.mapping, opened.tensors, opened.path, new_layers)


def load_model_weights(model: keras.Model, path: str, fmt: Optional[str] = None,
                       new_layers: Sequence[str] = (), allow_non_finite: bool = False) -> None:
    """Loads a whole model's weights: our object-based checkpoint (the model's variables only; optimizer state
    ignored), a whole-model .weights.h5, or a research/deeplab / DeepLabv2 TF1 checkpoint by its table
    (`model_mapping`, chosen by the model's architecture, which `li_seg.models.build_model` names it after, and
    its backbone's family; layers matching `new_layers` keep their initialisation). NaN / Inf values are refused
    unless `allow_non_finite`. Raises WeightsError naming the problem when the file cannot be read or does not
    hold this model's weights."""
    path = str(path)
    fmt = fmt or detect_format(path)
    _check_format(fmt, path)
    if fmt in _OWN_FORMATS:
        _load_own(model, path, fmt, "model", allow_non_finite)
    else:
        tensors = read_tensors(path, fmt, allow_non_finite)
        with reading(path, fmt):  # a tensor a transform cannot take (a kernel of another rank, ...)
            mapping = model_mapping(fmt, tensors, model.name, _family(layers_with_weights(model)), path)
            load_with_table(model, mapping, tensors, path, new_layers)


_CHECKPOINT_FORMATS = ("tf_checkpoint", "tf_slim", "deeplabv2_tf")


def _check_format(fmt: str, path: str) -> None:
    """Raises ValueError for an unknown format, or one that the file at `path` cannot be (a checkpoint prefix
    named as a file format or the reverse)."""
    if fmt not in FORMATS:
        raise WeightsError(f"unknown weights format {fmt!r} for {path}; valid: {list(FORMATS)}")
    if not sources.exists(path):
        detect_format(path)  # raises WeightsNotFoundError naming the path
    if sources.is_tf_checkpoint(path) != (fmt in _CHECKPOINT_FORMATS):
        actual = detect_format(path)
        raise WeightsError(f"{path} is a {actual} file, not {fmt}: set the weights format to {actual} or leave it "
                           "unset (detected from the file)")
