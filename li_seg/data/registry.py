"""The dataset registry: name -> `DatasetSpec`. Adding a dataset = one module with a SPEC, plus one line here."""

from __future__ import annotations

from li_seg.data import camvid, synthetic
from li_seg.data.info import DatasetInfo
from li_seg.data.spec import DatasetSpec

_SPECS: dict[str, DatasetSpec] = {spec.info.name: spec for spec in (synthetic.SPEC, camvid.SPEC)}


def list_datasets() -> list[str]:
    """The registered dataset names, sorted."""
    return sorted(_SPECS)


def get_spec(name: str) -> DatasetSpec:
    """The pipeline's view of dataset `name`; ValueError listing the valid names if unknown."""
    if name not in _SPECS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(list_datasets())}")
    return _SPECS[name]


def get_dataset_info(name: str) -> DatasetInfo:
    """Classes, palette and split sizes of dataset `name`; ValueError listing the valid names if unknown."""
    return get_spec(name).info
