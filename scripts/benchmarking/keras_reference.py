"""The keras.applications contender of scripts/benchmark.py's model comparison: THE SAME ARCHITECTURE as our
DeepLabv3-MobileNetV2, assembled from keras.applications.MobileNetV2 (weights=None, include_top=False), truncated
at block_16_project_BN, + the same ASPP head (li_seg.layers.aspp.aspp_v3) + logits 1x1 conv + bilinear resize.

- Output stride 32: the unmodified Keras net. Output stride 16: Keras' net cloned with
  keras.models.clone_model(clone_function=...) so that block_13_pad becomes an Identity and block_13_depthwise has
  stride 1 and SAME padding, and blocks 14-16's depthwise convs have dilation 2 (research/deeplab's atrous rule,
  as `li_seg.backbones.mobilenet_v2`).
- The Keras net is built for the crop's fixed size: its ZeroPadding2D + VALID stride-2 convs then equal our SAME
  ones, so both produce the same feature-map sizes (with unknown sizes Keras drops a row/column of odd maps). It
  gets the same Rescaling to [-1, 1] in front that ours has inside.
- `check_same_architecture`: equal trainable parameter counts, weight-decayed variables and, after copying our
  weights into the Keras model by layer name, equal outputs.
"""

from __future__ import annotations

import keras
import numpy as np

from li_seg.config import ModelConfig
from li_seg.layers.aspp import aspp_v3
from li_seg.layers.normalization import BatchNormSettings
from li_seg.layers.resize import ResizeToMatch
from li_seg.training.losses import weight_decay_variables


def trainable_parameters(model: keras.Model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def keras_mobilenet_v2(output_stride: int, input_shape) -> keras.Model:
    """keras.applications.MobileNetV2 up to block_16_project_BN, at output stride 32 or (cloned) 16."""
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=input_shape)
    base = keras.Model(base.input, base.get_layer("block_16_project_BN").output, name="keras_mobilenet_v2")
    if output_stride == 32:
        return base
    if output_stride != 16:
        raise ValueError(f"the Keras contender supports output stride 16 or 32, got {output_stride}")

    def clone(layer):
        config = layer.get_config()
        if layer.name == "block_13_pad":
            return keras.layers.Identity(name=layer.name)
        if layer.name == "block_13_depthwise":
            config.update(strides=(1, 1), padding="same")
        elif layer.name in ("block_14_depthwise", "block_15_depthwise", "block_16_depthwise"):
            config.update(dilation_rate=(2, 2))
        return layer.__class__.from_config(config)

    return keras.models.clone_model(base, clone_function=clone)


def build_keras_deeplab(config: ModelConfig, num_classes: int, crop) -> keras.Model:
    """Our DeepLabv3 head (same builders as li_seg.models.deeplab) on keras.applications' MobileNetV2."""
    images = keras.Input((*crop, 3), name="images")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(images)
    features = keras_mobilenet_v2(config.backbone.output_stride, (*crop, 3))(x)
    head = config.head
    x = aspp_v3(
        features, BatchNormSettings.from_model_config(config), rates=head.atrous_rates,
        channels=head.aspp_channels, separable=head.aspp_separable, image_pooling=head.image_pooling,
        dropout_rate=head.dropout_rate,
    )
    logits = keras.layers.Conv2D(
        num_classes, 1, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.01), name="logits"
    )(x)
    outputs = ResizeToMatch(dtype="float32", name="upsample_logits")([logits, images])
    return keras.Model(images, outputs, name="keras_deeplabv3")


def _layers_with_weights(model: keras.Model) -> dict:
    found = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.update(_layers_with_weights(layer))
        elif layer.weights:
            found[layer.name] = layer
    return found


def max_output_difference(ours: keras.Model, theirs: keras.Model, images) -> float:
    """Copies our weights into `theirs` by layer name, returns max |ours(x) - theirs(x)| in inference mode."""
    source = _layers_with_weights(ours)
    for name, layer in _layers_with_weights(theirs).items():
        layer.set_weights(source[name].get_weights())
    return float(np.max(np.abs(ours(images, training=False) - theirs(images, training=False))))


def check_same_architecture(ours: keras.Model, theirs: keras.Model, images) -> dict:
    """Asserts equal trainable parameters, weight-decayed variables and outputs (after a weight copy)."""
    params = {"ours": trainable_parameters(ours), "keras": trainable_parameters(theirs)}
    assert params["ours"] == params["keras"], f"trainable parameters differ: {params}"
    decayed = [len(weight_decay_variables(model.trainable_variables)) for model in (ours, theirs)]
    assert decayed[0] == decayed[1], f"weight-decayed variables differ: ours {decayed[0]}, keras {decayed[1]}"
    difference = max_output_difference(ours, theirs, images)
    assert difference < 1e-3, f"the two models compute different functions: max |difference| {difference}"
    return {"params": params, "max_output_difference": difference}
