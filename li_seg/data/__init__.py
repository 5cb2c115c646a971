"""Datasets and the tf.data input pipeline.

- `build_dataset(data_config, split, *, training, ...)`: deterministic, resumable training stream or evaluation
  pass at original resolution (`pipeline.py`), augmentation in `augment.py`.
- `get_dataset_info(data_config or name)` / `list_datasets()`: classes, palette and splits of the registered datasets
  ("synthetic" is embedded; "camvid" reads the SegNet layout).
- `DataError` / `explain_error(exc, data_config, split)`: data problems reported with the file and the fix.

A new dataset is one module in `datasets/` building a `spec.DatasetSpec`, registered in `registry.py`.
"""

from li_seg.data.diagnose import explain_error
from li_seg.data.errors import DataError
from li_seg.data.info import DatasetInfo
from li_seg.data.pipeline import build_dataset, num_examples
from li_seg.data.registry import DATA_FORMATS, get_dataset_info, list_datasets

__all__ = [
    "DATA_FORMATS",
    "DataError",
    "DatasetInfo",
    "build_dataset",
    "explain_error",
    "get_dataset_info",
    "list_datasets",
    "num_examples",
]
