"""PASCAL VOC 2012 segmentation, 21 classes, with SBD's extra labels for the papers' "train_aug" training set.

Download and extract both archives into data_dir, unchanged:
- VOCtrainval_11-May-2012.tar (Everingham et al.):
  http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar
- SBD, the Semantic Boundaries Dataset (Hariharan et al., ICCV 2011), benchmark.tgz, needed for "train_aug" only:
  https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz

    <data_dir>/
      VOCdevkit/VOC2012/
        JPEGImages/<name>.jpg                  17,125 images, e.g. 2007_000032.jpg
        SegmentationClass/<name>.png           2,913 palette PNGs (the train + val images)
        ImageSets/Segmentation/train.txt       1,464 names, one per line
        ImageSets/Segmentation/val.txt         1,449 names
        (Annotations/, SegmentationObject/, ImageSets/Main/, ... are not read)
      benchmark_RELEASE/dataset/
        img/<name>.jpg                         11,355 images (the same pictures as VOC's JPEGImages)
        cls/<name>.mat                         11,355 class labels, MATLAB struct GTcls
        train.txt                              8,498 names
        val.txt                                2,857 names
        (inst/, the instance labels, is not read)

Splits:
- "train_aug": 10,582 = (SBD train + SBD val + VOC train) - VOC val, the training set of the papers (set it with
  DataConfig.train_split="train_aug"). Sorted by name: the set has no order of its own (DeepLab's train_aug.txt
  lists it in another order), and the order only fixes evaluation order and training's per-epoch permutations.
- "train": VOC's 1,464, "val": VOC's 1,449, in their lists' order.

Labels: an image annotated in VOC (a VOC train name) takes VOC's SegmentationClass PNG, finer than SBD's and with
the 255 "void" band on object borders (li_seg's ignore label); every other train_aug image takes SBD's
cls/<name>.mat, GTcls.Segmentation (uint8 class ids 0-20, no void; GTcls.Boundaries and .CategoriesPresent are not
read). The image is VOC's JPEGImages/<name>.jpg when present, else SBD's img/<name>.jpg. VOC's PNGs are palette
("P") images whose pixel values are the class ids, coloured with the standard VOC colormap (`palettes.voc_colormap`);
TensorFlow's PNG decoder expands the palette to RGB, so `read_label` maps each colour back to its index; a colour
outside the colormap becomes 256 (UNKNOWN_COLOUR), which the pipeline's label check reports with the file, never a
class. A grey (single-channel) PNG is read as class ids as it is. The label map is the identity.
"""

from __future__ import annotations

import pathlib

import tensorflow as tf

from li_seg.config import DataConfig
from li_seg.data.errors import DataError
from li_seg.data.files import (
    check_split_size, require_data_dir, require_file, require_files_exist, require_split,
)
from li_seg.data.info import DatasetInfo
from li_seg.data.datasets.matlab import decode_mat_label
from li_seg.data.datasets.palettes import voc_colormap
from li_seg.data.spec import DatasetSpec, Examples

VOC_DIR = pathlib.Path("VOCdevkit", "VOC2012")
SBD_DIR = pathlib.Path("benchmark_RELEASE", "dataset")
VOC_ARCHIVE = "VOCtrainval_11-May-2012.tar (http://host.robots.ox.ac.uk/pascal/VOC/voc2012/)"
SBD_ARCHIVE = ("SBD's benchmark.tgz (https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/"
               "semantic_contours/benchmark.tgz)")
SBD_SIZES = {"train": 8498, "val": 2857}
UNKNOWN_COLOUR = 256  # what read_label gives a colour outside the VOC colormap: not a class id, not 255


INFO = DatasetInfo(
    name="voc",
    num_classes=21,
    class_names=(
        "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
        "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
    ),
    palette=voc_colormap(21),
    split_sizes={"train_aug": 10582, "train": 1464, "val": 1449},
)

_COLORMAP = voc_colormap()


def colours_to_indices(rgb: tf.Tensor) -> tf.Tensor:
    """uint8 (H, W, 3) VOC colours -> int32 (H, W, 1) colormap indices; a colour not in the colormap gives
    UNKNOWN_COLOUR (256), which the pipeline's label check reports with the file."""
    rgb = tf.cast(rgb, tf.int32)
    index = tf.zeros_like(rgb[:, :, 0])
    for bit in range(8):  # the inverse of `voc_colormap`
        index += (rgb[:, :, bit % 3] // 2 ** (7 - bit // 3)) % 2 * 2**bit
    exact = tf.reduce_all(tf.equal(tf.gather(tf.constant(_COLORMAP, tf.int32), index), rgb), axis=-1)
    return tf.where(exact, index, UNKNOWN_COLOUR)[:, :, None]


def decode_png_label(data: tf.Tensor) -> tf.Tensor:
    """PNG bytes -> int32 (H, W, 1) class ids: a palette or RGB(A) PNG through the inverse VOC colormap (a colour
    outside it -> UNKNOWN_COLOUR), a grey PNG (with or without alpha) as it is."""
    label = tf.io.decode_png(data, channels=0)
    label = tf.cond(
        tf.shape(label)[2] >= 3,
        lambda: colours_to_indices(label[:, :, :3]),
        lambda: tf.cast(label[:, :, :1], tf.int32),
    )
    label.set_shape([None, None, 1])
    return label


def read_label(path: tf.Tensor) -> tf.Tensor:
    """`DatasetSpec.read_label`: a VOC SegmentationClass .png (`decode_png_label`) or an SBD cls .mat
    (GTcls.Segmentation), chosen by the file extension -> int32 (H, W, 1) class ids, 255 = void."""
    data = tf.io.read_file(path)
    return tf.cond(
        tf.strings.regex_full_match(path, r".*\.mat"),
        lambda: decode_mat_label(data, "GTcls", "Segmentation"),
        lambda: decode_png_label(data),
    )


def _read_names(listing: pathlib.Path, what: str, fix: str) -> list[str]:
    require_file(listing, what, fix)
    return [line.strip() for line in listing.read_text().splitlines() if line.strip()]


def _voc_names(voc: pathlib.Path, split: str) -> list[str]:
    count = INFO.split_sizes[split]
    return _read_names(
        voc / "ImageSets" / "Segmentation" / f"{split}.txt", f"the VOC 2012 {split} list ({count:,} names)",
        f"extract {VOC_ARCHIVE} in data_dir, unchanged",
    )


def _sbd_names(sbd: pathlib.Path, split: str) -> list[str]:
    return _read_names(
        sbd / f"{split}.txt", f"the SBD {split} list ({SBD_SIZES[split]:,} names)",
        f"extract {SBD_ARCHIVE} in data_dir, unchanged",
    )


def _train_aug(root: pathlib.Path, voc: pathlib.Path) -> tuple[list[str], list[str], list[str], str]:
    """names, images, labels and the listing's description of train_aug."""
    sbd = root / SBD_DIR
    if not sbd.is_dir():
        raise DataError(
            f"the SBD folder {str(sbd)!r} is missing, and split 'train_aug' takes 9,118 of its 10,582 labels from "
            f"it. Fix: extract {SBD_ARCHIVE} in data_dir {str(root)!r}; it gives benchmark_RELEASE/dataset/ with "
            "img/ and cls/ (11,355 images and labels), train.txt (8,498 names) and val.txt (2,857)."
        )
    voc_train = set(_voc_names(voc, "train"))
    voc_val = set(_voc_names(voc, "val"))
    sbd_names = set(_sbd_names(sbd, "train")) | set(_sbd_names(sbd, "val"))
    names = sorted((voc_train | sbd_names) - voc_val)
    images, labels = [], []
    for name in names:
        voc_image = voc / "JPEGImages" / f"{name}.jpg"
        images.append(str(voc_image if voc_image.is_file() else sbd / "img" / f"{name}.jpg"))
        labels.append(str(
            voc / "SegmentationClass" / f"{name}.png" if name in voc_train else sbd / "cls" / f"{name}.mat"
        ))
    listing = (f"train_aug = {sbd}/train.txt + val.txt + {voc}/ImageSets/Segmentation/train.txt - val.txt (VOC "
               "labels for VOC's train images, SBD's for the rest)")
    return names, images, labels, listing


def load_split(data_config: DataConfig, split: str) -> Examples:
    """The split's images and labels, checked to exist and to number 10,582 / 1,464 / 1,449."""
    require_split(split, INFO.split_sizes, INFO.name)
    root = require_data_dir(
        data_config.data_dir, INFO.name,
        "VOCdevkit/ (from VOCtrainval_11-May-2012.tar) and, for train_aug, benchmark_RELEASE/ (SBD's benchmark.tgz)",
    )
    voc = root / VOC_DIR
    if not voc.is_dir():
        raise DataError(
            f"the VOC 2012 folder {str(voc)!r} is missing. Fix: extract {VOC_ARCHIVE} in data_dir {str(root)!r}; "
            "it gives VOCdevkit/VOC2012/ with JPEGImages/ (17,125 images), SegmentationClass/ (2,913 labels) and "
            "ImageSets/Segmentation/train.txt and val.txt."
        )
    if split == "train_aug":
        names, images, labels, listing = _train_aug(root, voc)
    else:
        names = _voc_names(voc, split)
        images = [str(voc / "JPEGImages" / f"{name}.jpg") for name in names]
        labels = [str(voc / "SegmentationClass" / f"{name}.png") for name in names]
        listing = str(voc / "ImageSets" / "Segmentation" / f"{split}.txt")
    require_files_exist(images + labels, listing)
    check_split_size(len(names), data_config, INFO.name, split, INFO.split_sizes[split], f"images in {listing}")
    return Examples(names=tuple(names), images=tuple(images), labels=tuple(labels), listing=listing)


SPEC = DatasetSpec(info=INFO, load_split=load_split, read_label=read_label)
