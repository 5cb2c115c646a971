"""SavedModel export with a "serving_default" signature: uint8 images of any size -> classes and probabilities,
and a "metadata" signature: what the classes are.

The model normalises raw RGB inside (DESIGN.md conventions), so serving only casts uint8 to float32. Outputs are
at the input resolution, optionally averaged over scales and flips exactly as in evaluation
(li_seg.evaluation.inference.predict_probabilities). `metadata()` returns {"class_names": string (K,), "palette":
uint8 (K, 3), "ignore_label": int32} of the dataset the model was trained on, so a served model can name and draw
its predictions.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from li_seg.evaluation.inference import predict_probabilities
from li_seg.models import inference_model


class _SegmentationServer(tf.Module):
    """Holds the model (so its variables are saved) and the serving function."""

    def __init__(self, model: keras.Model, scales: Sequence[float], add_flipped_images: bool, info=None):
        super().__init__(name="segmentation_server")
        self.model = model
        self._scales = tuple(float(s) for s in scales)
        self._add_flipped_images = bool(add_flipped_images)
        if info is not None:  # saving traces every tf.function of the module: define it only with something to say
            metadata = {"class_names": list(info.class_names), "palette": np.asarray(info.palette, np.uint8),
                        "ignore_label": np.int32(info.ignore_label)}
            self.metadata = tf.function(lambda: {key: tf.constant(value) for key, value in metadata.items()},
                                        input_signature=[])

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    def serve(self, images):
        # The signature declares three channels but a loaded SavedModel does not enforce it: check here, before a
        # kernel deep inside the network fails on a grey or RGBA image.
        check = tf.debugging.assert_equal(
            tf.shape(images)[-1], 3, message="images must be RGB: uint8 of shape (batch, height, width, 3)"
        )
        with tf.control_dependencies([check]):  # before the network, not in parallel with it
            images = tf.identity(images)
        probabilities = predict_probabilities(
            self.model, tf.cast(images, tf.float32), self._scales, self._add_flipped_images
        )
        return {
            "classes": tf.argmax(probabilities, axis=-1, output_type=tf.int32),
            "probabilities": probabilities,
        }


def export_saved_model(
    model: keras.Model,
    export_dir: str,
    scales: Sequence[float] = (1.0,),
    add_flipped_images: bool = False,
    info=None,
) -> None:
    """Writes `model` as a SavedModel to `export_dir`.

    Signature "serving_default": images uint8 (B, H, W, 3), any B, H, W ->
      {"classes": int32 (B, H, W), "probabilities": float32 (B, H, W, K)}; other channel counts are refused with
      an InvalidArgumentError naming the expected shape.
    Signature "metadata" (when `info`, a `li_seg.data.DatasetInfo`, is given): () -> {"class_names", "palette",
      "ignore_label"}.
    The model must accept any spatial size (built from keras.Input(shape=(None, None, 3))); only its logits are
    exported (`li_seg.models.inference_model`: auxiliary heads are left out). `scales` and
    `add_flipped_images` bake test-time augmentation into the graph (EvalConfig's fields); the default is a
    single plain pass.
    """
    server = _SegmentationServer(inference_model(model), scales, add_flipped_images, info)
    signatures = {"serving_default": server.serve}
    if info is not None:
        signatures["metadata"] = server.metadata.get_concrete_function()
    tf.saved_model.save(server, export_dir, signatures=signatures)
