"""CelebAMask-HQ face parsing, 19 classes (Lee et al., "MaskGAN", CVPR 2020), read from the released per-part masks.

Download CelebAMask-HQ.zip (Google Drive / Baidu links in github.com/switchablenorms/CelebAMask-HQ) and extract it
into data_dir:

    <data_dir>/CelebAMask-HQ/
      CelebA-HQ-img/0.jpg ... 29999.jpg               1024x1024 JPEG images
      CelebAMask-HQ-mask-anno/<k>/<iiiii>_<part>.png   512x512 binary mask of one part of image i: k = i // 2000
                                                       (folders 0 ... 14), i zero-padded to 5 digits, one file per
                                                       part present, e.g. 0/00000_skin.png, 14/29999_hair.png
      CelebA-HQ-to-CelebA-mapping.txt                  the header "idx orig_idx orig_file", then per image its index,
                                                       its 0-based CelebA index and its CelebA file name
      CelebAMask-HQ-attribute-anno.txt, CelebAMask-HQ-pose-anno.txt, README.txt   (not needed)

Splits, as the dataset's face_parsing/Data_preprocessing/g_partition.py makes them from the mapping file (header line
skipped; the thresholds apply to the 0-based orig_idx column): orig_idx < 162771 -> "train" (24,183 images),
162771 <= orig_idx < 182638 -> "val" (2,993), orig_idx >= 182638 -> "test" (2,824), each in mapping-file order.
Examples are named by their image index i (the idx column; g_partition.py counts rows, which is the same in the
released file).

Labels, as face_parsing/Data_preprocessing/g_mask.py builds them (no preprocessing step: read_label does it while
reading): start from 0 (background) and, for each part file that exists, in the order skin, nose, eye_g, l_eye,
r_eye, l_brow, r_brow, l_ear, r_ear, mouth, u_lip, l_lip, hair, hat, ear_r, neck_l, neck, cloth, set the pixels
where the mask's first channel in cv2.imread's BGR order (blue) is non-zero to the part's position + 1 (skin 1 ...
cloth 18); a later part overwrites an earlier one. The part files are found when the split is listed, by one scan
of each mask folder; an image with no part file at all is a DataError then. The palette is g_color.py's.

Images: read_image halves each side of the 1024x1024 image to the masks' 512x512 with antialiased bilinear
resampling (tf.image.resize(..., antialias=True), which matches PIL's bilinear resize, what the face_parsing code's
transforms.Resize uses, to within 1 grey level); an image of odd size fails, and one that is not twice its masks'
size fails the pipeline's size check. (LI-Convs' own preprocessing, resize_image.py, uses cv2.resize INTER_LINEAR,
which at exactly one half averages 2x2 blocks.)

Examples.labels holds one string per example naming its part files in that order, e.g.
"<data_dir>/CelebAMask-HQ/CelebAMask-HQ-mask-anno/0/00012_{skin,nose,hair}.png".
"""

from __future__ import annotations

import collections
import os
import pathlib
import re

import tensorflow as tf

from li_seg.config import DataConfig
from li_seg.data import readers
from li_seg.data.errors import DataError
from li_seg.data.files import (
    MAX_LISTED, check_split_size, require_data_dir, require_file, require_files_exist, require_split,
)
from li_seg.data.info import DatasetInfo
from li_seg.data.spec import DatasetSpec, Examples

ROOT = "CelebAMask-HQ"
MAPPING = "CelebA-HQ-to-CelebA-mapping.txt"
MAPPING_HEADER = ["idx", "orig_idx", "orig_file"]
VAL_START, TEST_START = 162771, 182638  # g_partition.py's thresholds on orig_idx
IMAGES_PER_MASK_FOLDER = 2000
PARTS = (
    "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth", "u_lip", "l_lip",
    "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)  # g_mask.py's label_list ("list2"): class id = position + 1, later parts overwrite earlier ones
PART_FILE = re.compile(r"(\d{5})_(\w+)\.png")
BLUE = 2  # cv2.imread's first channel (BGR order) in TensorFlow's RGB order

INFO = DatasetInfo(
    name="celebamask_hq",
    num_classes=19,
    class_names=("background",) + PARTS,
    palette=(
        (0, 0, 0), (204, 0, 0), (76, 153, 0), (204, 204, 0), (51, 51, 255), (204, 0, 204), (0, 255, 255),
        (255, 204, 204), (102, 51, 0), (255, 0, 0), (102, 204, 0), (255, 255, 0), (0, 0, 153), (0, 0, 204),
        (255, 51, 153), (0, 204, 204), (0, 51, 0), (255, 153, 51), (0, 204, 0),
    ),
    split_sizes={"train": 24183, "val": 2993, "test": 2824},
)

EXTRACT = (
    f"extract CelebAMask-HQ.zip (github.com/switchablenorms/CelebAMask-HQ) into data_dir, so that it holds {ROOT}/"
)


def _split_of(orig_idx: int) -> str:
    return "train" if orig_idx < VAL_START else "val" if orig_idx < TEST_START else "test"


def _split_indices(mapping: pathlib.Path, split: str) -> list[int]:
    """The image indices of `split`, in mapping-file order."""
    lines = mapping.read_text().splitlines()
    if not lines or lines[0].split() != MAPPING_HEADER:
        raise DataError(
            f"{mapping}:1: expected the header line {' '.join(MAPPING_HEADER)!r}, got {lines[0] if lines else ''!r}: "
            f"restore the file from CelebAMask-HQ.zip"
        )
    indices = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or not (fields[0].isdigit() and fields[1].isdigit()):
            raise DataError(
                f"{mapping}:{number}: expected '<idx> <orig_idx> <orig_file>', got {line!r}: restore the file from "
                "CelebAMask-HQ.zip"
            )
        if _split_of(int(fields[1])) == split:
            indices.append(int(fields[0]))
    return indices


def _parts_by_image(mask_root: pathlib.Path, indices: list[int], where: str) -> dict[int, set[str]]:
    """Image index -> the parts with a mask file, from one scan of each mask folder the indices need."""
    parts = collections.defaultdict(set)
    for folder in sorted({index // IMAGES_PER_MASK_FOLDER for index in indices}):
        directory = mask_root / str(folder)
        if not directory.is_dir():
            raise DataError(f"{where}: the mask folder {str(directory)!r} is missing: {EXTRACT}")
        for entry in os.scandir(directory):
            match = PART_FILE.fullmatch(entry.name)
            if match and match.group(2) in PARTS and int(match.group(1)) // IMAGES_PER_MASK_FOLDER == folder:
                parts[int(match.group(1))].add(match.group(2))
    return parts


def load_split(data_config: DataConfig, split: str) -> Examples:
    """The split's images and part masks (24,183 train, 2,993 val, 2,824 test), in mapping-file order."""
    require_split(split, INFO.split_sizes, INFO.name)
    root = require_data_dir(data_config.data_dir, INFO.name, f"{ROOT}/ (CelebAMask-HQ.zip extracted)") / ROOT
    mapping = root / MAPPING
    require_file(mapping, "the CelebA-HQ to CelebA mapping", EXTRACT)
    indices = _split_indices(mapping, split)
    check_split_size(len(indices), data_config, INFO.name, split, INFO.split_sizes[split], f"images in {mapping}")
    images = [str(root / "CelebA-HQ-img" / f"{index}.jpg") for index in indices]
    require_files_exist(images, str(mapping))
    mask_root = root / "CelebAMask-HQ-mask-anno"
    found = _parts_by_image(mask_root, indices, f"{INFO.name} {split}")
    unlabelled = [image for index, image in zip(indices, images) if not found[index]]
    if unlabelled:
        shown = "\n  ".join(unlabelled[:MAX_LISTED]) + ("\n  ..." if len(unlabelled) > MAX_LISTED else "")
        raise DataError(
            f"{INFO.name} {split}: {len(unlabelled)} of the {len(images)} images have no part mask in {mask_root} "
            f"(image i needs <i // {IMAGES_PER_MASK_FOLDER}>/<i as 5 digits>_<part>.png, e.g. 0/00012_skin.png), "
            f"e.g.:\n  {shown}\nFix: {EXTRACT} completely."
        )
    labels = tuple(
        f"{mask_root / str(index // IMAGES_PER_MASK_FOLDER) / f'{index:05d}'}_"
        f"{{{','.join(part for part in PARTS if part in found[index])}}}.png"
        for index in indices
    )
    return Examples(
        names=tuple(str(index) for index in indices), images=tuple(images), labels=labels, listing=str(mapping)
    )


def read_image(path: tf.Tensor) -> tf.Tensor:
    """A CelebA-HQ image, each side halved (antialiased bilinear) to its masks' size -> uint8 (H/2, W/2, 3)."""
    image = readers.read_image(path)
    size = tf.shape(image)[:2]
    even = tf.debugging.Assert(
        tf.reduce_all(size % 2 == 0),
        [tf.strings.join(["CelebA-HQ image ", path, " has an odd side: it must be twice its masks' size (1024x1024)"])],
    )
    with tf.control_dependencies([even]):
        half = tf.image.resize(image, size // 2, method="bilinear", antialias=True)
    return tf.cast(tf.round(half), tf.uint8)


def _part_mask(path: tf.Tensor) -> tf.Tensor:
    """bool (H, W): where the part mask's first channel in cv2's BGR order is non-zero (as g_mask.py)."""
    return tf.io.decode_png(tf.io.read_file(path), channels=3)[:, :, BLUE] != 0


def read_label(parts: tf.Tensor) -> tf.Tensor:
    """An Examples.labels entry ".../00012_{skin,nose,hair}.png" -> int32 (H, W, 1) class ids, assembled as g_mask.py:
    each part, in the official order, overwrites the pixels of its mask with its class id."""
    prefix = tf.strings.regex_replace(parts, r"\{[^{}]*\}\.png$", "")
    names = tf.strings.split(tf.strings.regex_replace(parts, r"^.*\{([^{}]*)\}\.png$", r"\1"), ",")
    paths = prefix + names + ".png"
    matches = tf.cast(tf.equal(names[:, None], tf.constant(PARTS)[None, :]), tf.int32)
    class_ids = tf.argmax(matches, axis=1, output_type=tf.int32) + 1

    def overwrite(label, index):
        mask = _part_mask(paths[index])
        same_size = tf.debugging.Assert(
            tf.reduce_all(tf.equal(tf.shape(mask), tf.shape(label))),
            [tf.strings.join(["part mask ", paths[index], " differs in size from ", paths[0]])],
        )
        with tf.control_dependencies([same_size]):
            return tf.where(mask, class_ids[index], label)

    first = tf.where(_part_mask(paths[0]), class_ids[0], 0)
    return tf.foldl(overwrite, tf.range(1, tf.size(paths)), initializer=first)[:, :, None]


SPEC = DatasetSpec(info=INFO, load_split=load_split, read_image=read_image, read_label=read_label)
