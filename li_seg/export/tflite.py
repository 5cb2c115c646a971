"""TFLite export of the mobile models (research/deeplab exports its MobileNetV2 DeepLabs so; the LI paper's
LI-MobileNetV2 is its efficient model).

The TFLite model takes one float32 RGB image in [0, 255] of a fixed size (1, H, W, 3) (normalisation inside, as
every li_seg model) and returns its logits (1, H, W, K) float32 at that size; an app resizes its camera frame to
(H, W), takes the argmax, and resizes the labels back. Quantisation (`QUANTIZATIONS`): "none" (float32),
"float16" (weights in float16, computed in float32 where the device has no float16 kernels), "int8" (weights and
activations in int8, calibrated on a representative set of training images; operations without an int8 kernel
stay float). Only the logits are exported (auxiliary heads are training-only).

A model TFLite cannot run (CycleNet's deformable convolution samples with gather / crop_and_resize patterns the
converter refuses; DifNet's walks) fails with `TFLiteExportError` naming the converter's reason.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from li_seg.models import inference_model

QUANTIZATIONS = ("none", "float16", "int8")


class TFLiteExportError(ValueError):
    """The converter refused the model (the message says why and what converts)."""


def convert_to_tflite(model: keras.Model, size: tuple[int, int], quantize: str = "none",
                      calibration: Optional[Iterable[np.ndarray]] = None) -> bytes:
    """The TFLite flatbuffer of `model`'s logits at input `size` (H, W); `calibration`: (H, W, 3) images in
    [0, 255] for "int8" (a hundred training images is research/deeplab's practice)."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantize!r}; valid: {list(QUANTIZATIONS)}")
    if quantize == "int8" and calibration is None:
        raise ValueError("int8 quantization needs calibration images (the training split's)")
    logits_model = inference_model(model)
    height, width = size

    @tf.function(input_signature=[tf.TensorSpec([1, height, width, 3], tf.float32, name="images")])
    def serve(images):
        return {"logits": tf.cast(logits_model(images, training=False), tf.float32)}

    # the weights frozen into constants: the flatbuffer holds them (TFLite's resource variables would start empty)
    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        images = [np.asarray(image, np.float32) for image in calibration]
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in images)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        return converter.convert()
    except Exception as error:  # the converter raises ConverterError (and others) with MLIR's diagnostics
        unsupported = sorted(set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", str(error))))
        reason = (f"TFLite has no kernel for {', '.join(unsupported)}" if unsupported
                  else " ".join(str(error).split())[:300])
        raise TFLiteExportError(
            f"TFLite cannot convert {model.name}: {reason}. TFLite export is meant for the MobileNetV2 models (the LI "
            "paper's mnv2_* rows); export others as a SavedModel (--format=saved_model)") from None


def tflite_logits(flatbuffer: bytes, images: Iterable[np.ndarray]) -> list[np.ndarray]:
    """The TFLite interpreter's logits (H, W, K) of each (H, W, 3) image at the model's input size."""
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    (inputs,), (outputs,) = interpreter.get_input_details(), interpreter.get_output_details()
    results = []
    for image in images:
        interpreter.set_tensor(inputs["index"], np.asarray(image, np.float32)[None])
        interpreter.invoke()
        results.append(interpreter.get_tensor(outputs["index"])[0].copy())
    return results


def calibration_images(data_config, size: tuple[int, int], count: int = 100) -> list[np.ndarray]:
    """The first `count` training images (file order), resized bilinearly to `size`: int8's representative set."""
    from li_seg.data import build_dataset

    dataset = build_dataset(data_config, data_config.train_split, training=False, max_examples=count)
    return [tf.image.resize(batch["image"], size)[0].numpy() for batch in dataset]
