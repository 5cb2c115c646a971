"""The data flags shared by experiments.train and the dataset scripts (convert_dataset, validate_dataset).

`define_data_flags()` defines them (each module that parses flags calls it once); `data_overrides()` turns the
ones the user gave into dotted DataConfig overrides ("data.data_dir": ...).
"""

from __future__ import annotations

from absl import flags

from li_seg.data import DATA_FORMATS

FLAGS = flags.FLAGS
_KEYS = ("dataset", "data_dir", "data_format", "check_split_sizes", "skip_bad_examples", "class_names",
         "ignore_value")


def define_data_flags() -> None:
    flags.DEFINE_string("dataset", None, "Dataset name (default: the embedded 'synthetic'); "
                        "see README 'Datasets' for each dataset's expected layout.")
    flags.DEFINE_string("data_dir", None, "The dataset's directory: the extracted downloads (raw), the "
                        "output of scripts.convert_dataset (tfrecord) or a TFDS data_dir (tfds).")
    flags.DEFINE_enum("data_format", None, DATA_FORMATS, "How data_dir is laid out: raw (default), tfrecord, tfds.")
    flags.DEFINE_boolean("check_split_sizes", None, "Refuse raw splits whose size differs from the papers' "
                         "(default true; --nocheck_split_sizes to use a subset on purpose).")
    flags.DEFINE_boolean("skip_bad_examples", None, "Scan the raw split first and leave out (and report) examples "
                         "with defects, instead of stopping at the first one.")
    flags.DEFINE_list("class_names", None, "--dataset=folder: class names, class id = position "
                      "(overrides data_dir/classes.json).")
    flags.DEFINE_integer("ignore_value", None, "--dataset=folder: the stored label value of ignored pixels "
                         "(overrides data_dir/classes.json; default 255).")


def data_overrides() -> dict:
    """Dotted DataConfig overrides from the data flags the user gave."""
    return {f"data.{key}": FLAGS[key].value for key in _KEYS if FLAGS[key].value is not None}
