"""Segment one's own images: class probabilities of one RGB image from a trained run's checkpoint or from an
exported SavedModel, with what the classes are (names, palette) from the dataset or the SavedModel's "metadata"
signature. `experiments.predict` is the command line.

Both predict at the image's own size with the test-time augmentation the run evaluates with (EvalConfig scales,
flips, padding; a SavedModel has its own baked in at export) and return float32 probabilities (H, W, K).
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from li_seg.evaluation.inference import predict_probabilities


@dataclasses.dataclass(frozen=True)
class Classes:
    names: tuple[str, ...]
    palette: np.ndarray  # (K, 3) uint8
    ignore_label: int = 255


class CheckpointPredictor:
    """A model restored from a run (`li_seg.training.checkpoints.load_trained_model`), one traced function for
    every image size."""

    def __init__(self, model, classes: Classes, scales: Sequence[float] = (1.0,), add_flipped_images: bool = False,
                 pad_to: Optional[int] = None, pad_value: float = 127.5):
        self.classes = classes
        self._predict = tf.function(
            lambda images: predict_probabilities(model, images, tuple(scales), add_flipped_images, pad_to, pad_value),
            input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """(H, W, K) float32 for an (H, W, 3) uint8 RGB image."""
        return self._predict(tf.constant(image[None], tf.float32))[0].numpy()


class SavedModelPredictor:
    """An exported SavedModel (`li_seg.export.saved_model`): its "serving_default" signature, its "metadata" for the
    classes (a SavedModel exported without it gets numbered classes and a generated palette, `fallback_classes`)."""

    def __init__(self, export_dir: str):
        loaded = tf.saved_model.load(export_dir)
        if "serving_default" not in loaded.signatures:
            raise ValueError(f"{export_dir} has no serving_default signature: export it with "
                             "python -m experiments.export --model_dir=RUN")
        self._serve = loaded.signatures["serving_default"]
        self._loaded = loaded  # keeps the variables alive
        self.classes = None
        if "metadata" in loaded.signatures:
            metadata = {key: value.numpy() for key, value in loaded.signatures["metadata"]().items()}
            self.classes = Classes(tuple(name.decode() for name in metadata["class_names"]),
                                   np.asarray(metadata["palette"], np.uint8), int(metadata["ignore_label"]))

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        outputs = self._serve(images=tf.constant(image[None], tf.uint8))
        probabilities = outputs["probabilities"][0].numpy()
        if self.classes is None:
            self.classes = fallback_classes(probabilities.shape[-1])
        return probabilities


def fallback_classes(num_classes: int) -> Classes:
    """Numbered classes with PASCAL VOC's bit-interleaved palette (research/deeplab's create_pascal_label_colormap)."""
    palette = np.zeros((num_classes, 3), np.uint8)
    for label in range(num_classes):
        value, shift = label, 7
        while value:
            for channel in range(3):
                palette[label, channel] |= ((value >> channel) & 1) << shift
            value >>= 3
            shift -= 1
    return Classes(tuple(f"class_{k}" for k in range(num_classes)), palette)
