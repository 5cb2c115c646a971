"""ADE20K, the MIT Scene Parsing benchmark (SceneParsing 2016, Zhou et al. 2017): "ade20k" (150 classes) and
"ade20k_151" (150 classes + "other").

Download ADEChallengeData2016.zip from http://sceneparsing.csail.mit.edu/ (the development kit is
github.com/CSAILVision/sceneparsing) and extract it into data_dir:

    <data_dir>/ADEChallengeData2016/
      images/training/ADE_train_00000001.jpg ... ADE_train_00020210.jpg      20,210 images
      images/validation/ADE_val_00000001.jpg ... ADE_val_00002000.jpg        2,000 images
      annotations/training/ADE_train_00000001.png ...                        8-bit grey, values 0-150
      annotations/validation/ADE_val_00000001.png ...
      objectInfo150.txt, sceneCategories.txt                                 (not needed)

Splits: "train" (images/training) 20,210 and "val" (images/validation) 2,000 pairs, sorted by image path; an image
without its annotation (same name, .png), or an annotation without its image, is a DataError naming both files.

Labels: a stored value v in 1-150 is the v-th class of objectInfo150.txt (wall, building, sky, floor, tree, ...);
0 is "other objects", which the benchmark does not evaluate (the kit's README: "we ignore pixels labeled with 0").
Values above 150 fail the pipeline's label check. Two conventions, two registered datasets:
- "ade20k": 150 classes, v -> v - 1, 0 -> 255 (ignore). The benchmark's own convention and the usual one
  (mmsegmentation's reduce_zero_label); CycleNet's ADE20K results (150 classes, 46.14 mIoU) use it.
- "ade20k_151": 151 classes, stored values kept, class 0 = "other" is trained and evaluated like any class. This is
  the LI-Convs paper's text ("150 classes (+ background = 151)"). The authors' code (research/deeplab's
  datasets/data_generator.py, copied into LI-Convs' data_generator_extend.py) declares ADE20K with num_classes=151
  but ignore_label=0: the model has 151 logits, yet stored 0 is left out of the loss and of the mIoU (weights 0), so
  the "other" logit is never a target and its class is absent from the mean. That is "ade20k"'s labelling with one
  unused extra logit, i.e. 150 evaluated classes; "ade20k_151" follows the paper's wording instead.
Class names are the first name of each objectInfo150.txt entry (as mmsegmentation's ADE20KDataset); the palette is
mmsegmentation's ADE20K palette, with "other" black in "ade20k_151".
"""

from __future__ import annotations

import functools
import pathlib

from li_seg.config import DataConfig
from li_seg.data.errors import DataError
from li_seg.data.files import check_split_size, pair_files, require_data_dir, require_split
from li_seg.data.info import IGNORE_LABEL, DatasetInfo
from li_seg.data.label_map import make_label_map
from li_seg.data.spec import DatasetSpec, Examples

ROOT = "ADEChallengeData2016"
FOLDERS = {"train": "training", "val": "validation"}
SPLIT_SIZES = {"train": 20210, "val": 2000}

CLASS_NAMES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk", "rock",
    "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard", "chest of drawers",
    "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs", "runway",
    "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase", "blind", "coffee table",
    "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm", "kitchen island", "computer",
    "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier",
    "awning", "streetlight", "booth", "television receiver", "airplane", "dirt track", "apparel", "pole", "land",
    "bannister", "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship", "fountain",
    "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket", "waterfall",
    "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name", "microwave", "pot",
    "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase",
    "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower",
    "radiator", "glass", "clock", "flag",
)

PALETTE = (
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3), (120, 120, 80), (140, 140, 140),
    (204, 5, 255), (230, 230, 230), (4, 250, 7), (224, 5, 255), (235, 255, 7), (150, 5, 61), (120, 120, 70),
    (8, 255, 51), (255, 6, 82), (143, 255, 140), (204, 255, 4), (255, 51, 7), (204, 70, 3), (0, 102, 200),
    (61, 230, 250), (255, 6, 51), (11, 102, 255), (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220),
    (255, 9, 92), (112, 9, 255), (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10),
    (7, 255, 255), (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7), (255, 122, 8), (0, 255, 20),
    (255, 8, 41), (255, 5, 153), (6, 51, 255), (235, 12, 255), (160, 150, 20), (0, 163, 255), (140, 140, 140),
    (250, 10, 15), (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0), (153, 255, 0), (0, 0, 255), (255, 71, 0),
    (0, 235, 255), (0, 173, 255), (31, 0, 255), (11, 200, 200), (255, 82, 0), (0, 255, 245), (0, 61, 255),
    (0, 255, 112), (0, 255, 133), (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0), (0, 143, 255),
    (51, 255, 0), (0, 82, 255), (0, 255, 41), (0, 255, 173), (10, 0, 255), (173, 255, 0), (0, 255, 153),
    (255, 92, 0), (255, 0, 255), (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20), (255, 184, 184),
    (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204), (0, 255, 194), (0, 255, 82), (0, 10, 255),
    (0, 112, 255), (51, 0, 255), (0, 194, 255), (0, 122, 255), (0, 255, 163), (255, 153, 0), (0, 255, 10),
    (255, 112, 0), (143, 255, 0), (82, 0, 255), (163, 255, 0), (255, 235, 0), (8, 184, 170), (133, 0, 255),
    (0, 255, 92), (184, 0, 255), (255, 0, 31), (0, 184, 255), (0, 214, 255), (255, 0, 112), (92, 255, 0),
    (0, 224, 255), (112, 224, 255), (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0), (255, 0, 163),
    (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0), (255, 0, 235), (245, 0, 255), (255, 0, 122),
    (255, 245, 0), (10, 190, 212), (214, 255, 0), (0, 204, 255), (20, 0, 255), (255, 255, 0), (0, 153, 255),
    (0, 41, 255), (0, 255, 204), (41, 0, 255), (41, 255, 0), (173, 0, 255), (0, 245, 255), (71, 0, 255),
    (122, 0, 255), (0, 255, 184), (0, 92, 255), (184, 255, 0), (0, 133, 255), (255, 214, 0), (25, 194, 194),
    (102, 255, 0), (92, 0, 255),
)

INFO = DatasetInfo(
    name="ade20k", num_classes=150, class_names=CLASS_NAMES, palette=PALETTE, split_sizes=SPLIT_SIZES,
)
INFO_151 = DatasetInfo(
    name="ade20k_151", num_classes=151, class_names=("other",) + CLASS_NAMES, palette=((0, 0, 0),) + PALETTE,
    split_sizes=SPLIT_SIZES,
)


def load_split(info: DatasetInfo, data_config: DataConfig, split: str) -> Examples:
    """The split's image/annotation pairs (20,210 train, 2,000 val), sorted by image path; `info` names the
    dataset in messages."""
    require_split(split, info.split_sizes, info.name)
    root = require_data_dir(data_config.data_dir, info.name, f"{ROOT}/ (ADEChallengeData2016.zip extracted)") / ROOT
    image_dir, label_dir = root / "images" / FOLDERS[split], root / "annotations" / FOLDERS[split]
    for folder in (image_dir, label_dir):
        if not folder.is_dir():
            raise DataError(
                f"{info.name} {split}: folder {str(folder)!r} is missing: extract ADEChallengeData2016.zip "
                "(sceneparsing.csail.mit.edu) into data_dir, so that it holds ADEChallengeData2016/images/ and "
                "ADEChallengeData2016/annotations/"
            )
    pairs = pair_files(
        image_dir, ".jpg", label_dir, ".png", "*", f"{info.name} {split}",
        f"every images/{FOLDERS[split]}/<name>.jpg needs annotations/{FOLDERS[split]}/<name>.png and vice versa: "
        "re-extract ADEChallengeData2016.zip completely into data_dir.",
    )
    listing = f"{image_dir} and {label_dir}"
    check_split_size(len(pairs), data_config, info.name, split, info.split_sizes[split], f"pairs in {listing}")
    return Examples(
        names=tuple(pathlib.Path(image).stem for image, _ in pairs),
        images=tuple(image for image, _ in pairs), labels=tuple(label for _, label in pairs), listing=listing,
    )


SPEC = DatasetSpec(
    info=INFO,
    load_split=functools.partial(load_split, INFO),
    label_map=make_label_map({0: IGNORE_LABEL, **{value: value - 1 for value in range(1, 151)}}),
)
SPEC_151 = DatasetSpec(info=INFO_151, load_split=functools.partial(load_split, INFO_151))
