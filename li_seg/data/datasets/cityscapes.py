"""Cityscapes, fine annotations, 19 classes (Cordts et al. 2016), in the layout of the official zip files.

Download leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from https://www.cityscapes-dataset.com/downloads/
(registration needed) and extract both into data_dir:

    <data_dir>/
      leftImg8bit/
        train/<city>/<city>_<seq>_<frame>_leftImg8bit.png     2,975 images, 18 cities (aachen ... zurich)
        val/<city>/<city>_<seq>_<frame>_leftImg8bit.png       500 images: frankfurt, lindau, munster
        test/...                                              (not used: its labels are not public)
      gtFine/
        train/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png   the labels read here (8-bit grey, label ids 0-33)
        train/<city>/<city>_<seq>_<frame>_gtFine_{color,instanceIds}.png, ..._polygons.json   (in the zip, not read)
        val/...

Splits: "train" 2,975 and "val" 500 image/label pairs, in the order of the image paths (sorted). An image without
its _gtFine_labelIds.png, or a label without its image, is a DataError naming both files.

Labels: the 34 label ids of cityscapesscripts/helpers/labels.py (github.com/mcordts/cityscapesScripts) are mapped to
its 19 trainIds: road 7 -> 0, sidewalk 8 -> 1, building 11 -> 2, wall 12 -> 3, fence 13 -> 4, pole 17 -> 5,
traffic light 19 -> 6, traffic sign 20 -> 7, vegetation 21 -> 8, terrain 22 -> 9, sky 23 -> 10, person 24 -> 11,
rider 25 -> 12, car 26 -> 13, truck 27 -> 14, bus 28 -> 15, train 31 -> 16, motorcycle 32 -> 17, bicycle 33 -> 18;
every other id in 0-33 (unlabeled, ego vehicle, rectification border, out of roi, static, dynamic, ground,
parking, rail track, guard rail, bridge, tunnel, polegroup, caravan, trailer) has trainId 255 = ignore. Values above
33 are not Cityscapes ids and fail the pipeline's label check. The palette is labels.py's colour of each class.
"""

from __future__ import annotations

import pathlib

from li_seg.config import DataConfig
from li_seg.data.errors import DataError
from li_seg.data.files import check_split_size, pair_files, require_data_dir, require_split
from li_seg.data.info import IGNORE_LABEL, DatasetInfo
from li_seg.data.label_map import make_label_map
from li_seg.data.spec import DatasetSpec, Examples

IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"
NUM_LABEL_IDS = 34  # label ids 0-33 of labels.py (license plate, id -1, is never drawn into labelIds images)

# (label id, trainId) of the 19 evaluated classes, from cityscapesscripts/helpers/labels.py.
TRAIN_IDS = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14,
    28: 15, 31: 16, 32: 17, 33: 18,
}

INFO = DatasetInfo(
    name="cityscapes",
    num_classes=19,
    class_names=(
        "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
        "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
    ),
    palette=(
        (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
        (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0),
        (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
    ),
    split_sizes={"train": 2975, "val": 500},
)

EXPECTED = "leftImg8bit/ and gtFine/ (leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip extracted)"


def _folder(root: pathlib.Path, name: str, split: str) -> pathlib.Path:
    folder = root / name / split
    if not folder.is_dir():
        raise DataError(
            f"{INFO.name} {split}: folder {str(folder)!r} is missing: extract leftImg8bit_trainvaltest.zip and "
            f"gtFine_trainvaltest.zip (cityscapes-dataset.com) into data_dir, so that it holds {name}/{split}/<city>/"
        )
    return folder


def load_split(data_config: DataConfig, split: str) -> Examples:
    """The split's leftImg8bit / gtFine_labelIds pairs (2,975 train, 500 val), sorted by image path."""
    require_split(split, INFO.split_sizes, INFO.name)
    root = require_data_dir(data_config.data_dir, INFO.name, EXPECTED)
    image_dir, label_dir = _folder(root, "leftImg8bit", split), _folder(root, "gtFine", split)
    pairs = pair_files(
        image_dir, IMAGE_SUFFIX, label_dir, LABEL_SUFFIX, "*/*", f"{INFO.name} {split}",
        f"every leftImg8bit/{split}/<city>/<name>{IMAGE_SUFFIX} needs gtFine/{split}/<city>/<name>{LABEL_SUFFIX} "
        "and vice versa: re-extract both zip files completely into data_dir.",
    )
    listing = f"{image_dir} and {label_dir}"
    check_split_size(len(pairs), data_config, INFO.name, split, INFO.split_sizes[split], f"pairs in {listing}")
    names = tuple(pathlib.Path(image).name[: -len(IMAGE_SUFFIX)] for image, _ in pairs)
    return Examples(
        names=names, images=tuple(image for image, _ in pairs), labels=tuple(label for _, label in pairs),
        listing=listing,
    )


SPEC = DatasetSpec(
    info=INFO,
    load_split=load_split,
    label_map=make_label_map({**dict.fromkeys(range(NUM_LABEL_IDS), IGNORE_LABEL), **TRAIN_IDS}),
)
