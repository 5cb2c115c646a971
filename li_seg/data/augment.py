"""Training augmentation, written by hand so that labels are never interpolated or reflected.

The research/deeplab recipe: random scale -> pad to at least the crop -> random crop -> random horizontal flip.
Every random draw is a stateless op seeded by a per-example seed of shape [2], so an example's augmentation depends
only on (seed, global example index) and a resumed run reproduces it exactly.

Conventions:
- Resizing uses `tf.image.resize` (half-pixel centres, i.e. align_corners=False, no antialiasing): the image
  bilinear (float32), the label nearest-neighbour (values are never mixed). The scaled size is
  round(size * scale), at least 1.
- Padding goes at the bottom and right (research/deeplab's pad_to_bounding_box at offset 0; `DataConfig.
  pad_placement="random"`: the image at a uniformly random offset, as DifNet's code): the image with
  `DataConfig.image_pad_value` (default `IMAGE_PAD_VALUE`, mid-grey 127.5, research/deeplab's mean pixel, which the
  [-1, 1] normalisation maps to 0; DifNet's code: 0), the label with the ignore label 255, so padded pixels are
  never trained on (`DataConfig.label_pad_value`: a class instead, as DifNet's code pads with background).
- Crop offsets are uniform over all valid positions and shared by image and label.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from li_seg.config import DataConfig
from li_seg.data.info import IGNORE_LABEL

IMAGE_PAD_VALUE = 127.5
PAD_PLACEMENTS = ("corner", "random")


def scale_set(min_scale: float, max_scale: float, scale_step: float) -> tuple[float, ...]:
    """The discrete scales {min, min + step, ..., max} of a scale_step > 0 (() for continuous, step 0)."""
    if not 0 < min_scale <= max_scale or scale_step < 0:
        raise ValueError(
            f"need 0 < min_scale <= max_scale and scale_step >= 0, got {min_scale}, {max_scale}, {scale_step}"
        )
    if scale_step == 0:
        return ()
    count = int(np.floor((max_scale - min_scale) / scale_step + 1e-6)) + 1
    return tuple(float(min_scale + k * scale_step) for k in range(count))


def sample_scale(seed: tf.Tensor, min_scale: float, max_scale: float, scale_step: float) -> tf.Tensor:
    """A float32 scale: uniform in [min_scale, max_scale] (scale_step 0) or uniform over `scale_set`."""
    scales = scale_set(min_scale, max_scale, scale_step)
    if not scales:
        return tf.random.stateless_uniform([], seed, min_scale, max_scale, tf.float32)
    index = tf.random.stateless_uniform([], seed, 0, len(scales), tf.int32)
    return tf.gather(tf.constant(scales, tf.float32), index)


def rescale(image: tf.Tensor, label: tf.Tensor, scale: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Resizes image (H, W, 3) bilinearly and label (H, W) by nearest neighbour to round((H, W) * scale)."""
    size = tf.cast(tf.shape(label), tf.float32) * scale
    size = tf.maximum(tf.cast(tf.round(size), tf.int32), 1)
    image = tf.image.resize(image, size, method="bilinear")
    label = tf.image.resize(label[:, :, None], size, method="nearest")[:, :, 0]
    return image, label


def pad_to_at_least(
    image: tf.Tensor, label: tf.Tensor, height: int, width: int, label_value: int = IGNORE_LABEL,
    image_value: float = IMAGE_PAD_VALUE, seed=None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Pads to at least (height, width): image with `image_value`, label with `label_value`; at the bottom / right,
    or, given a `seed`, the image at a uniformly random offset (DifNet's code: randint(0, missing) rows above)."""
    shape = tf.shape(label)
    missing = [tf.maximum(height - shape[0], 0), tf.maximum(width - shape[1], 0)]
    before = [0, 0]
    if seed is not None:
        seeds = tf.random.experimental.stateless_split(seed, 2)
        before = [tf.random.stateless_uniform([], seeds[axis], 0, tf.maximum(missing[axis], 1), tf.int32)
                  for axis in (0, 1)]
    paddings = [[before[axis], missing[axis] - before[axis]] for axis in (0, 1)]
    image = tf.pad(image, paddings + [[0, 0]], constant_values=image_value)
    label = tf.pad(label, paddings, constant_values=tf.cast(label_value, label.dtype))
    return image, label


def random_crop(image, label, height: int, width: int, seed) -> tuple[tf.Tensor, tf.Tensor]:
    """The same uniformly placed (height, width) window of image and label (both at least that large)."""
    shape = tf.shape(label)
    seeds = tf.random.experimental.stateless_split(seed, 2)
    top = tf.random.stateless_uniform([], seeds[0], 0, shape[0] - height + 1, tf.int32)
    left = tf.random.stateless_uniform([], seeds[1], 0, shape[1] - width + 1, tf.int32)
    image = tf.slice(image, [top, left, 0], [height, width, 3])
    label = tf.slice(label, [top, left], [height, width])
    return image, label


def random_flip(image, label, seed) -> tuple[tf.Tensor, tf.Tensor]:
    """Flips image and label left-right together with probability 1/2."""
    flip = tf.random.stateless_uniform([], seed) < 0.5
    return tf.cond(flip, lambda: (image[:, ::-1], label[:, ::-1]), lambda: (image, label))


def augment(image: tf.Tensor, label: tf.Tensor, data_config: DataConfig, seed: tf.Tensor):
    """Scale, pad, crop and flip one example; returns image float32 (crop_h, crop_w, 3), label int32 (crop_h, crop_w).

    seed: int64 [2], the example's own seed; independent seeds for each draw are split from it.
    """
    height, width = data_config.crop_size
    scale_seed, crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    scale = sample_scale(scale_seed, data_config.min_scale, data_config.max_scale, data_config.scale_step)
    image, label = rescale(image, label, scale)
    pad_seed = (tf.random.experimental.stateless_fold_in(crop_seed, 1)
                if data_config.pad_placement == "random" else None)
    image, label = pad_to_at_least(image, label, height, width, data_config.label_pad_value,
                                   data_config.image_pad_value, pad_seed)
    image, label = random_crop(image, label, height, width, crop_seed)
    if data_config.flip:
        image, label = random_flip(image, label, flip_seed)
    image.set_shape([height, width, 3])
    label.set_shape([height, width])
    return image, label
