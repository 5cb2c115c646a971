"""CamVid, 11 classes at 360x480, in the SegNet tutorial's layout (Brostow et al. 2008; Badrinarayanan et al.).

data_dir holds train.txt / val.txt (and test.txt if present) listing one pair per line,
`/SegNet/CamVid/train/x.png /SegNet/CamVid/trainannot/x.png`: the prefix is stripped and the rest is relative to
data_dir (folders train/, trainannot/, val/, valannot/, ...). Labels are single-channel PNGs of ids 0-10; id 11
(void) becomes the ignore label 255. The palette is the original CamVid colours of these classes.
"""

from __future__ import annotations

import pathlib

from li_seg.config import DataConfig
from li_seg.data.errors import DataError
from li_seg.data.files import (
    check_split_size, require_data_dir, require_file, require_files_exist, require_split,
)
from li_seg.data.info import IGNORE_LABEL, DatasetInfo
from li_seg.data.label_map import make_label_map
from li_seg.data.spec import DatasetSpec, Examples

LIST_PREFIX = "/SegNet/CamVid/"
VOID = 11

INFO = DatasetInfo(
    name="camvid",
    num_classes=11,
    class_names=(
        "sky", "building", "pole", "road", "pavement", "tree", "sign_symbol", "fence", "car", "pedestrian",
        "bicyclist",
    ),
    palette=(
        (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (0, 0, 192), (128, 128, 0),
        (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
    ),
    split_sizes={"train": 367, "val": 101, "test": 233},
    optional_splits=("test",),
)


def load_split(data_config: DataConfig, split: str) -> Examples:
    """The pairs listed in <data_dir>/<split>.txt, checked to exist and to be the split's 367 / 101 / 233."""
    require_split(split, INFO.split_sizes, INFO.name)
    root = require_data_dir(data_config.data_dir, INFO.name, "train.txt, val.txt and train/, trainannot/, ...")
    listing = root / f"{split}.txt"
    require_file(listing, f"the {split} list", f"data_dir must hold {split}.txt (SegNet CamVid layout)")
    images, labels = [], []
    for number, line in enumerate(listing.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise DataError(
                f"{listing}:{number}: expected '<image> <label>' (two paths), got {line!r}; fix that line"
            )
        image, label = (str(root / field.removeprefix(LIST_PREFIX)) for field in fields)
        images.append(image)
        labels.append(label)
    require_files_exist(images + labels, str(listing))
    check_split_size(len(images), data_config, INFO.name, split, INFO.split_sizes[split], f"pairs in {listing}")
    names = tuple(pathlib.Path(image).stem for image in images)
    return Examples(names=names, images=tuple(images), labels=tuple(labels), listing=str(listing))


SPEC = DatasetSpec(info=INFO, load_split=load_split, label_map=make_label_map({VOID: IGNORE_LABEL}))
