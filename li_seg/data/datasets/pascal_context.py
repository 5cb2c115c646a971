"""PASCAL-Context (Mottaghi et al., CVPR 2014): whole-scene labels of the PASCAL VOC 2010 train + val images, with
the 59 most frequent of its 459 classes, as the segmentation papers use it.

Download and extract both archives into data_dir, unchanged:
- VOCtrainval_03-May-2010.tar: http://host.robots.ox.ac.uk/pascal/VOC/voc2010/VOCtrainval_03-May-2010.tar
- trainval.tar.gz from https://cs.stanford.edu/~roozbeh/pascal-context/ (and labels.txt, the 459 class names)

    <data_dir>/
      VOCdevkit/VOC2010/
        JPEGImages/<name>.jpg              the VOC 2010 images, e.g. 2008_000002.jpg
        ImageSets/Main/train.txt           4,998 names, one per line: split "train"
        ImageSets/Main/val.txt             5,105 names: split "val"
        (Annotations/, SegmentationClass/, ImageSets/Segmentation/, ... are not read)
      trainval/<name>.mat                  10,103 labels: variable LabelMap, uint16 (H, W) of ids 1-459, 0 = unlabeled
      labels.txt                           optional: "id: name" per line ("2: aeroplane"); when present, the 59
                                           classes' names are checked at their ids

Two label conventions over the same files (the split lists and sizes are the same):
- "pascal_context" (default): 60 classes, 0 = background, i.e. every pixel outside the 59 classes, unlabeled (0)
  included; 1-59 the 59 classes (59 classes + background, as in DeepLab and EncNet; mmsegmentation's
  PascalContextDataset, reduce_zero_label=False).
- "pascal_context_59": the 59 classes as ids 0-58 and background ignored (255) in training and scoring;
  mmsegmentation's PascalContextDataset59 (reduce_zero_label=True).
DifNet (Table 2, DifNet-101 46.0 mIoU) reports Pascal Context without saying which convention it scores.
Palette: the VOC colormap (`palettes.voc_colormap`), background black; for display only.

The 59 classes, in mmsegmentation's (alphabetical) order, and their ids in labels.txt's 459-class space are the
`_mapping` of mmsegmentation's tools/convert_datasets/pascal_context.py (sorted; read at commit 159db2f; the class
names of its mmseg/datasets/pascal_context.py at a5acc11 are these). Checked against NVlabs/ODISE's
odise/data/datasets/openseg_labels/pascal_context_459.txt (the 459 names as "id:name", 1:accordion, 2:aeroplane,
..., 397:table, ..., 459:wool): each of the 59 names sits at its id there. ODISE's
datasets/prepare_pascal_ctx_full_sem_seg.py reads the same files (variable LabelMap, uint16, 0 = unlabeled). Ids
above 459 are left as they are, so the pipeline's label check reports the file.
"""

from __future__ import annotations

import functools
import pathlib

import tensorflow as tf

from li_seg.config import DataConfig
from li_seg.data.errors import DataError
from li_seg.data.files import (
    check_split_size, require_data_dir, require_file, require_files_exist, require_split,
)
from li_seg.data.info import IGNORE_LABEL, DatasetInfo
from li_seg.data.label_map import make_label_map
from li_seg.data.datasets.matlab import decode_mat_label
from li_seg.data.datasets.palettes import voc_colormap
from li_seg.data.spec import DatasetSpec, Examples

VOC_DIR = pathlib.Path("VOCdevkit", "VOC2010")
VOC_ARCHIVE = "VOCtrainval_03-May-2010.tar (http://host.robots.ox.ac.uk/pascal/VOC/voc2010/)"
CONTEXT_ARCHIVE = "trainval.tar.gz (https://cs.stanford.edu/~roozbeh/pascal-context/)"
NUM_LABEL_IDS = 460  # 0 (unlabeled) and the 459 classes of labels.txt

# (id in labels.txt, name) of the 59 classes, in class order.
CLASSES_59 = (
    (2, "aeroplane"), (9, "bag"), (18, "bed"), (19, "bedclothes"), (22, "bench"), (23, "bicycle"), (25, "bird"),
    (31, "boat"), (33, "book"), (34, "bottle"), (44, "building"), (45, "bus"), (46, "cabinet"), (59, "car"),
    (65, "cat"), (68, "ceiling"), (72, "chair"), (80, "cloth"), (85, "computer"), (98, "cow"), (104, "cup"),
    (105, "curtain"), (113, "dog"), (115, "door"), (144, "fence"), (158, "floor"), (159, "flower"), (162, "food"),
    (187, "grass"), (189, "ground"), (207, "horse"), (220, "keyboard"), (232, "light"), (258, "motorbike"),
    (259, "mountain"), (260, "mouse"), (284, "person"), (295, "plate"), (296, "platform"), (308, "pottedplant"),
    (324, "road"), (326, "rock"), (347, "sheep"), (349, "shelves"), (354, "sidewalk"), (355, "sign"), (360, "sky"),
    (366, "snow"), (368, "sofa"), (397, "table"), (415, "track"), (416, "train"), (420, "tree"), (424, "truck"),
    (427, "tvmonitor"), (440, "wall"), (445, "water"), (454, "window"), (458, "wood"),
)
_NAMES_59 = tuple(name for _, name in CLASSES_59)
_SPLIT_SIZES = {"train": 4998, "val": 5105}

INFO = DatasetInfo(
    name="pascal_context",
    num_classes=60,
    class_names=("background",) + _NAMES_59,
    palette=voc_colormap(60),
    split_sizes=_SPLIT_SIZES,
)
INFO_59 = DatasetInfo(
    name="pascal_context_59",
    num_classes=59,
    class_names=_NAMES_59,
    palette=voc_colormap(60)[1:],
    split_sizes=_SPLIT_SIZES,
)


def label_map_60() -> tuple[int, ...]:
    """Label ids 0-459 -> 0 (background), except the 59 classes' ids -> 1-59."""
    classes = {label_id: index + 1 for index, (label_id, _) in enumerate(CLASSES_59)}
    return make_label_map({label_id: classes.get(label_id, 0) for label_id in range(NUM_LABEL_IDS)}, NUM_LABEL_IDS)


def label_map_59() -> tuple[int, ...]:
    """Label ids 0-459 -> 255 (ignored), except the 59 classes' ids -> 0-58."""
    classes = {label_id: index for index, (label_id, _) in enumerate(CLASSES_59)}
    return make_label_map(
        {label_id: classes.get(label_id, IGNORE_LABEL) for label_id in range(NUM_LABEL_IDS)}, NUM_LABEL_IDS
    )


def read_label(path: tf.Tensor) -> tf.Tensor:
    """`DatasetSpec.read_label`: trainval/<name>.mat -> int32 (H, W, 1) LabelMap ids (0-459)."""
    return decode_mat_label(tf.io.read_file(path), "LabelMap")


def check_label_names(path: pathlib.Path) -> None:
    """DataError unless labels.txt at `path` (if present) names the 59 classes at the ids mapped here."""
    if not path.is_file():
        return
    fix = f"restore labels.txt from {CONTEXT_ARCHIVE}, or delete it (it is only used for this check)"
    names = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        label_id, colon, name = line.partition(":")
        if not colon or not label_id.strip().isdigit():
            raise DataError(f"{path}:{number}: expected 'id: name', got {line!r}. Fix: {fix}.")
        names[int(label_id)] = name.strip()
    wrong = [f"{label_id}: {names.get(label_id)!r} instead of {name!r}" for label_id, name in CLASSES_59
             if names.get(label_id) != name]
    if wrong:
        raise DataError(
            f"{path} does not name the 59 Pascal Context classes at the ids li_seg maps ({len(wrong)} of 59 differ: "
            f"{'; '.join(wrong[:5])}{'; ...' if len(wrong) > 5 else ''}), so the labels are not in the 459-class "
            f"space of PASCAL-Context's trainval.tar.gz. Fix: {fix}."
        )


def load_split(info: DatasetInfo, data_config: DataConfig, split: str) -> Examples:
    """The split's images and labels, checked to exist and to number 4,998 / 5,105 (`info` names the dataset)."""
    require_split(split, info.split_sizes, info.name)
    root = require_data_dir(
        data_config.data_dir, info.name,
        "VOCdevkit/VOC2010/ (VOCtrainval_03-May-2010.tar) and trainval/ (PASCAL-Context's trainval.tar.gz)",
    )
    listing = root / VOC_DIR / "ImageSets" / "Main" / f"{split}.txt"
    require_file(
        listing, f"the VOC 2010 {split} list ({info.split_sizes[split]:,} names)",
        f"extract {VOC_ARCHIVE} in data_dir, unchanged",
    )
    labels_dir = root / "trainval"
    if not labels_dir.is_dir():
        elsewhere = root / VOC_DIR / "trainval"
        moved = f" (it is in {str(elsewhere)!r}: move it up to data_dir)" if elsewhere.is_dir() else ""
        raise DataError(
            f"the Pascal Context label folder {str(labels_dir)!r} is missing (10,103 .mat files, train + val). "
            f"Fix: extract {CONTEXT_ARCHIVE} in data_dir {str(root)!r}{moved}."
        )
    check_label_names(root / "labels.txt")
    names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    images = [str(root / VOC_DIR / "JPEGImages" / f"{name}.jpg") for name in names]
    labels = [str(labels_dir / f"{name}.mat") for name in names]
    require_files_exist(images + labels, str(listing))
    check_split_size(len(names), data_config, info.name, split, info.split_sizes[split], f"images in {listing}")
    return Examples(names=tuple(names), images=tuple(images), labels=tuple(labels), listing=str(listing))


SPEC = DatasetSpec(
    info=INFO, load_split=functools.partial(load_split, INFO), label_map=label_map_60(), read_label=read_label
)
SPEC_59 = DatasetSpec(
    info=INFO_59, load_split=functools.partial(load_split, INFO_59), label_map=label_map_59(), read_label=read_label
)
