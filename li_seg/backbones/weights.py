"""Loading pretrained backbone weights from a path the user gives. Nothing is ever downloaded.

Three formats, told apart by the path:
- "*.weights.h5": Keras 3's weights file of a backbone built by `li_seg.backbones.build_backbone` with the same
  name (saved with `backbone.save_weights(...)`); matched by structure.
- "*.h5" / "*.hdf5": a legacy Keras HDF5 file, matched by layer name. keras.applications' MobileNetV2 no-top
  file (mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5) loads into our MobileNetV2 since
  the layer names are Keras'; its extra Conv_1 / Conv_1_bn are ignored. Every layer of ours that has weights
  must be in the file.
- anything else: a TF object-based checkpoint prefix written by `tf.train.Checkpoint(backbone=backbone)`.
  research/deeplab's TF1 (slim) checkpoints are not this format and need converting first.
"""

from __future__ import annotations

import h5py
import keras
import tensorflow as tf

_HOW_TO = (
    "Nothing is downloaded: put the weights file on disk (e.g. keras.applications' "
    "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5, or a file saved from a li_seg backbone) and "
    "pass its path as BackboneConfig.weights (command line: --params_override "
    "'model.backbone.weights=/path/to/file'), or set weights to None to start from random initialisation."
)


def load_backbone_weights(backbone: keras.Model, path: str) -> None:
    """Loads the weights at `path` into `backbone` in place.

    Raises FileNotFoundError when `path` (or, for a checkpoint prefix, `path`.index) does not exist, and
    ValueError when the file does not hold weights of this backbone.
    """
    path = str(path)
    is_h5 = path.endswith((".h5", ".hdf5"))
    if not tf.io.gfile.exists(path if is_h5 else f"{path}.index"):
        raise FileNotFoundError(f"Backbone weights not found: {path!r}. {_HOW_TO}")
    if path.endswith(".weights.h5"):
        _load_keras_weights(backbone, path)
    elif is_h5:
        _load_legacy_h5_by_name(backbone, path)
    else:
        _load_checkpoint(backbone, path)


def _load_keras_weights(backbone: keras.Model, path: str) -> None:
    try:
        backbone.load_weights(path)
    except (ValueError, KeyError) as error:
        raise ValueError(f"{path!r} does not hold the weights of backbone {backbone.name!r}: {error}") from error


def _h5_layers_with_weights(path: str) -> set[str]:
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs.get("layer_names", [])]
        return {n for n in names if len(group[n].attrs.get("weight_names", []))}


def _load_legacy_h5_by_name(backbone: keras.Model, path: str) -> None:
    in_file = _h5_layers_with_weights(path)
    missing = [layer.name for layer in backbone.layers if layer.weights and layer.name not in in_file]
    if missing:
        raise ValueError(
            f"{path!r} lacks weights for {len(missing)} layer(s) of backbone {backbone.name!r} "
            f"(e.g. {missing[:5]}); is it a file of another network?"
        )
    backbone.load_weights(path, by_name=True)


def _load_checkpoint(backbone: keras.Model, path: str) -> None:
    status = tf.train.Checkpoint(backbone=backbone).read(path).expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError as error:
        raise ValueError(
            f"Checkpoint {path!r} does not hold backbone {backbone.name!r} under the key 'backbone' "
            f"(write one with tf.train.Checkpoint(backbone=backbone).write(prefix)): {error}"
        ) from error
