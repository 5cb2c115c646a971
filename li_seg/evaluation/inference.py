"""Class probabilities at the input resolution, optionally averaged over scales and horizontal flips.

research/deeplab's eval_scales / add_flipped_images (CycleNet and PAN report "+MS" and "+MS+flip" rows): for each
scale s the image is resized bilinearly to round(s * (H, W)), the model's logits are resized bilinearly back to
(H, W), turned into probabilities with a softmax, and the probabilities of all scales (and of the flipped inputs,
flipped back) are averaged with equal weights.

Resizing uses tf.image.resize (half-pixel centres, i.e. align_corners=False, no antialiasing), the TF2 / Keras
convention; research/deeplab's TF1 code used align_corners=True. At scale 1 nothing is resized, so a single-scale
prediction is exactly softmax(model(images)).
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from li_seg.models import main_logits


def _scaled_size(size: tf.Tensor, scale: float) -> tf.Tensor:
    """max(1, round-half-up(scale * size)) for an int32 (height, width) tensor."""
    scaled = tf.floor(tf.cast(size, tf.float32) * scale + 0.5)
    return tf.maximum(tf.cast(scaled, tf.int32), 1)


def _probabilities_at_scale(model: keras.Model, images: tf.Tensor, scale: float) -> tf.Tensor:
    size = tf.shape(images)[1:3]
    if scale != 1.0:
        images = tf.image.resize(images, _scaled_size(size, scale), method="bilinear")
    logits = tf.cast(main_logits(model(images, training=False)), tf.float32)
    if scale != 1.0:
        logits = tf.image.resize(logits, size, method="bilinear")
    return tf.nn.softmax(logits, axis=-1)


def predict_probabilities(
    model: keras.Model,
    images,
    scales: Sequence[float] = (1.0,),
    add_flipped_images: bool = False,
) -> tf.Tensor:
    """Averaged softmax probabilities (B, H, W, K), float32, at the resolution of `images`.

    Args:
      model: images (B, h, w, 3) in [0, 255] -> logits (B, h, w, K), or a dict with them under "logits" (a model
        with auxiliary heads; li_seg.models.build_model), called with training=False.
      images: (B, H, W, 3), any real or integer dtype (cast to float32). Works inside tf.function with unknown
        H and W.
      scales: input scales to average (EvalConfig.scales).
      add_flipped_images: also average the predictions of the horizontally flipped images, flipped back
        (EvalConfig.add_flipped_images).
    """
    if not scales:
        raise ValueError("scales must not be empty")
    images = tf.cast(images, tf.float32)
    probabilities = []
    for scale in scales:
        probabilities.append(_probabilities_at_scale(model, images, float(scale)))
        if add_flipped_images:
            flipped = _probabilities_at_scale(model, tf.reverse(images, axis=[2]), float(scale))
            probabilities.append(tf.reverse(flipped, axis=[2]))
    return tf.add_n(probabilities) / float(len(probabilities))
