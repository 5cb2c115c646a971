"""The dataset registry: name -> `DatasetSpec`.

Adding a dataset = one module in `li_seg/data/datasets/` with a SPEC, plus one line here. A dataset whose
description depends on the configuration (the user's "folder" dataset: its classes come from data_dir/classes.json
or the flags) registers a function DataConfig -> DatasetSpec instead.
"""

from __future__ import annotations

from typing import Callable, Union

from li_seg.config import DataConfig
from li_seg.data.datasets import ade20k, camvid, celebamask_hq, cityscapes, folder, pascal_context, synthetic, voc
from li_seg.data.info import DatasetInfo
from li_seg.data.spec import DatasetSpec

DATA_FORMATS = ("raw", "tfrecord", "tfds")

_STATIC = (synthetic.SPEC, camvid.SPEC, cityscapes.SPEC, ade20k.SPEC, ade20k.SPEC_151, celebamask_hq.SPEC,
           voc.SPEC, pascal_context.SPEC, pascal_context.SPEC_59)
_SPECS: dict[str, Callable[[DataConfig], DatasetSpec]] = {
    spec.info.name: (lambda data_config, spec=spec: spec) for spec in _STATIC
}
_SPECS[folder.NAME] = folder.make_spec


def list_datasets() -> list[str]:
    """The registered dataset names, sorted."""
    return sorted(_SPECS)


def _config(data: Union[DataConfig, str]) -> DataConfig:
    data_config = DataConfig(dataset=data) if isinstance(data, str) else data
    if data_config.dataset not in _SPECS:
        raise ValueError(f"unknown dataset {data_config.dataset!r}; valid datasets: {', '.join(list_datasets())}")
    return data_config


def get_spec(data: Union[DataConfig, str]) -> DatasetSpec:
    """The pipeline's view of a dataset, given its DataConfig (or, for datasets that need no configuration, its
    name); ValueError listing the valid names if unknown."""
    data_config = _config(data)
    return _SPECS[data_config.dataset](data_config)


def get_dataset_info(data: Union[DataConfig, str]) -> DatasetInfo:
    """Classes, palette and split sizes of a dataset, given its DataConfig or name (see `get_spec`)."""
    return get_spec(data).info
