"""TFDS builders of li_seg's file datasets: `li_seg_<name>` for every registered dataset read from files.

Each is a `tfds.core.GeneratorBasedBuilder` with a manual download: the raw dataset, laid out as README
"Datasets" says, is the manual_dir. The examples are exactly what the raw pipeline reads (same listing, same
split sizes, labels already mapped to class ids with 255 = ignore, the same checks), in the listing's order
(`disable_shuffling`), as {"image": uint8 (H, W, 3), "label": uint8 (H, W, 1), "name": text}; class names, palette
and ignore label are in `info.metadata`.

    tfds build li_seg_voc --imports=li_seg.data.tfds_builders --manual_dir=RAW_DIR --data_dir=TFDS_DIR
    tfds.load("li_seg_voc", data_dir=TFDS_DIR)            # after `import li_seg.data.tfds_builders`
    python -m experiments.train ... --dataset=voc --data_format=tfds --data_dir=TFDS_DIR

Two builder configs: "papers" (the default) refuses splits whose size differs from the papers'; "unchecked"
(`li_seg_voc/unchecked`) builds a subset or modified copy as it is, like DataConfig.check_split_sizes=False, which
is also how the pipeline picks the config to read.
"""

from __future__ import annotations

import dataclasses
import io

import tensorflow as tf
import tensorflow_datasets as tfds

from li_seg.config import DataConfig
from li_seg.data.encode import encoded_examples
from li_seg.data.errors import DataError
from li_seg.data.examples import available_splits
from li_seg.data.registry import get_spec, list_datasets
from li_seg.data.record_source import RecordSource

PREFIX = "li_seg_"
_NOT_FILE_BASED = ("synthetic", "folder")  # generated in memory / described by the user's configuration


def builder_name(dataset: str) -> str:
    return PREFIX + dataset


@dataclasses.dataclass
class SplitCheckConfig(tfds.core.BuilderConfig):
    """check_split_sizes: DataConfig.check_split_sizes of the build."""

    check_split_sizes: bool = True


def config_name(check_split_sizes: bool) -> str:
    return "papers" if check_split_sizes else "unchecked"


class _Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """The shared builder; `DATASET` names the li_seg dataset."""

    DATASET = ""
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release: the papers' splits and label mapping."}
    BUILDER_CONFIGS = [
        SplitCheckConfig(name=config_name(True), description="The papers' split sizes, checked."),
        SplitCheckConfig(name=config_name(False), check_split_sizes=False,
                         description="Any split size (a subset or modified copy)."),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        info = get_spec(self.DATASET).info
        return self.dataset_info_from_configs(
            description=f"li_seg's {self.DATASET}: {info.num_classes} classes, ignore label {info.ignore_label}.",
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.Image(shape=(None, None, 1), encoding_format="png"),
                "name": tfds.features.Text(),
            }),
            supervised_keys=("image", "label"),
            disable_shuffling=True,
            metadata=tfds.core.MetadataDict(
                class_names=list(info.class_names), palette=[list(c) for c in info.palette],
                ignore_label=info.ignore_label,
            ),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        data_config = DataConfig(dataset=self.DATASET, data_dir=str(dl_manager.manual_dir),
                                 check_split_sizes=self.builder_config.check_split_sizes)
        return {split: self._generate_examples(data_config, split) for split in available_splits(data_config)}

    def _generate_examples(self, data_config: DataConfig, split: str):
        for image, label, name, _, _ in encoded_examples(data_config, split):
            yield name.decode(), {"image": io.BytesIO(image), "label": io.BytesIO(label), "name": name.decode()}


def _make_builder(dataset: str) -> type:
    name = "".join(part.capitalize() for part in builder_name(dataset).split("_"))
    return type(name, (_Builder,), {
        "DATASET": dataset,
        "MANUAL_DOWNLOAD_INSTRUCTIONS": f"Extract the {dataset} download(s) into manual_dir as README 'Datasets' "
                                        f"describes for --dataset={dataset}.",
        "__module__": __name__,
    })


BUILDERS = {dataset: _make_builder(dataset) for dataset in list_datasets() if dataset not in _NOT_FILE_BASED}


def record_source(data_config: DataConfig, split: str) -> RecordSource:
    """The prepared TFDS split of data_config.dataset in data_config.data_dir, as a record stream source."""
    if data_config.dataset not in BUILDERS:
        raise DataError(f"dataset {data_config.dataset!r} has no TFDS builder; TFDS builders: "
                        f"{', '.join(builder_name(d) for d in BUILDERS)}")
    config = config_name(data_config.check_split_sizes)
    builder = BUILDERS[data_config.dataset](data_dir=data_config.data_dir, config=config)
    if not builder.is_prepared():
        raise DataError(
            f"{builder_name(data_config.dataset)}/{config} is not prepared in {data_config.data_dir}. Fix: tfds build "
            f"{builder_name(data_config.dataset)}/{config} --imports={__name__} --manual_dir=RAW_DIR "
            f"--data_dir={data_config.data_dir}"
        )
    if split not in builder.info.splits:
        raise DataError(f"{builder_name(data_config.dataset)} in {data_config.data_dir} has no split {split!r}; "
                        f"it has {', '.join(builder.info.splits)}")
    features = builder.info.features

    def parse(serialized):
        example = features.deserialize_example(serialized)
        return example["image"], tf.cast(example["label"], tf.int32), example["name"]

    split_info = builder.info.splits[split]
    return RecordSource(tuple(str(path) for path in split_info.filepaths), split_info.num_examples, parse,
                        f"{builder.data_dir} ({split})")
