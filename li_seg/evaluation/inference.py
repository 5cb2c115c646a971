"""Class probabilities at the input resolution, optionally averaged over scales and horizontal flips.

research/deeplab's eval_scales / add_flipped_images (CycleNet and PAN report "+MS" and "+MS+flip" rows): for each
scale s the image is resized bilinearly to round(s * (H, W)), the model's logits are resized bilinearly back to
(H, W), turned into probabilities with a softmax, and the probabilities of all scales (and of the flipped inputs,
flipped back) are averaged with equal weights.

Resizing uses tf.image.resize (half-pixel centres, i.e. align_corners=False, no antialiasing), the TF2 / Keras
convention; research/deeplab's TF1 code used align_corners=True. At scale 1 nothing is resized, so a single-scale
prediction is exactly softmax(model(images)).

`pad_to` centre-pads small images first (with the training's image pad value) and crops the probabilities back
to the original pixels: the evaluation of DifNet's code, which pads VOC val to 505 x 505 with label 255.
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import tensorflow as tf

from li_seg.data.augment import IMAGE_PAD_VALUE
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


def _centre_padded(images: tf.Tensor, pad_to: int, pad_value: float) -> tuple[tf.Tensor, tf.Tensor]:
    """`images` centre-padded with `pad_value` to at least pad_to x pad_to, and the (top, left) offset of the
    original pixels: round(missing / 2) before, rounding halves up (DifNet's evaluation, Python 2's round: VOC val
    padded to 505)."""
    size = tf.shape(images)[1:3]
    extra = tf.maximum(pad_to - size, 0)
    before = (extra + 1) // 2
    paddings = [[0, 0], [before[0], extra[0] - before[0]], [before[1], extra[1] - before[1]], [0, 0]]
    return tf.pad(images, paddings, constant_values=pad_value), before


def predict_probabilities(
    model: keras.Model,
    images,
    scales: Sequence[float] = (1.0,),
    add_flipped_images: bool = False,
    pad_to: Optional[int] = None,
    pad_value: float = IMAGE_PAD_VALUE,
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
      pad_to: centre-pad the images with `pad_value` (DataConfig.image_pad_value) to at least pad_to x pad_to first
        and return the probabilities of the original pixels only (EvalConfig.pad_to); None = no padding.
    """
    if not scales:
        raise ValueError("scales must not be empty")
    images = tf.cast(images, tf.float32)
    if pad_to is not None:
        size = tf.shape(images)[1:3]
        padded, offset = _centre_padded(images, pad_to, pad_value)
        probabilities = predict_probabilities(model, padded, scales, add_flipped_images)
        return probabilities[:, offset[0]:offset[0] + size[0], offset[1]:offset[1] + size[1]]
    probabilities = []
    for scale in scales:
        probabilities.append(_probabilities_at_scale(model, images, float(scale)))
        if add_flipped_images:
            flipped = _probabilities_at_scale(model, tf.reverse(images, axis=[2]), float(scale))
            probabilities.append(tf.reverse(flipped, axis=[2]))
    return tf.add_n(probabilities) / float(len(probabilities))
