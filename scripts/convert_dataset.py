"""Converts a raw dataset to li_seg's sharded TFRecords (li_seg/data/records.py), resumably, and verifies them.

    python -m scripts.convert_dataset --dataset=voc --data_dir=RAW_DIR --output_dir=OUT [--splits=train_aug,val]
        [--examples_per_shard=256] [--skip_bad_examples] [--noverify]

Re-running the same command skips the shards already written completely (an interrupted run resumes). Every
example is read and checked as training reads it: a defective one stops the conversion naming its file, unless
--skip_bad_examples leaves it out (each one is reported). Afterwards each split is read back and verified
(checksums, record counts, every record decoded and checked, names in the listing's order). Train from the result
with --data_format=tfrecord --data_dir=OUT. Exit status 0 on success, 2 on a data or argument error.
"""

from __future__ import annotations

import sys

from experiments.quiet import quiet_tensorflow  # noqa: E402  (first: before TensorFlow)

quiet_tensorflow()

from absl import app, flags, logging  # noqa: E402

from experiments.data_flags import define_data_flags  # noqa: E402
from li_seg import data  # noqa: E402
from li_seg.data import convert  # noqa: E402
from scripts.validate_dataset import data_config_from_flags, splits_to_scan  # noqa: E402

FLAGS = flags.FLAGS


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.INFO)
    try:
        data_config = data_config_from_flags()
        if data_config.data_format != "raw":
            raise data.DataError("convert_dataset reads the raw layout: drop --data_format")
        for split in splits_to_scan(data_config, FLAGS.splits):
            manifest = convert.convert_split(data_config, split, FLAGS.output_dir, FLAGS.examples_per_shard,
                                             progress=True)
            print(f"{manifest.dataset} {split}: {manifest.num_examples:,} examples in {len(manifest.shards)} shards "
                  f"in {FLAGS.output_dir}")
            if FLAGS.verify:
                count = convert.verify_split(data_config, split, FLAGS.output_dir)
                print(f"{manifest.dataset} {split}: verified {count:,} examples (checksums, counts, decoding, "
                      "labels, order)")
    except (ValueError, data.DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def define_flags() -> None:
    define_data_flags()
    flags.DEFINE_string("output_dir", None, "Where the shards and manifests go.", required=True)
    flags.DEFINE_list("splits", None, "Splits to convert (default: all of the dataset's).")
    flags.DEFINE_integer("examples_per_shard", 256, "Examples per shard (about 100-200 MB shards suit most "
                         "file systems: 256 VOC images are ~30 MB, 256 Cityscapes images ~600 MB).")
    flags.DEFINE_boolean("verify", True, "Read every converted split back and check it.")


if __name__ == "__main__":
    define_flags()
    app.run(lambda argv: sys.exit(main(argv)))
