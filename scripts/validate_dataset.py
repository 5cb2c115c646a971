"""Scans a dataset for defects without training, and prints per-class pixel counts and split sizes.

    python -m scripts.validate_dataset --dataset=voc --data_dir=DIR [--splits=train_aug,val] [--report=FILE.json]

Reports, per split: the number of examples against the papers' split size, every unreadable or truncated file,
label that is not single-channel, image/label size mismatch and label value outside the class range (with its
file), and the pixels of each class and of the ignore label. Exit status: 0 when every split is complete and
clean, 1 when something was found, 2 when the arguments are wrong or a split cannot be listed at all.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from experiments.quiet import quiet_tensorflow  # noqa: E402  (first: before TensorFlow)

quiet_tensorflow()

from absl import app, flags  # noqa: E402

from experiments import config as config_lib  # noqa: E402
from experiments.data_flags import data_overrides, define_data_flags  # noqa: E402
from li_seg import data  # noqa: E402
from li_seg.config import DataConfig  # noqa: E402
from li_seg.data import validate  # noqa: E402
from li_seg.data.examples import available_splits  # noqa: E402
from li_seg.data.registry import get_spec  # noqa: E402

FLAGS = flags.FLAGS
MAX_PRINTED = 20


def data_config_from_flags() -> DataConfig:
    """The DataConfig the data flags describe (ConfigError, a ValueError, for a value of the wrong type)."""
    return config_lib.override(config_lib.ExperimentConfig(), data_overrides()).data


def splits_to_scan(data_config: DataConfig, requested) -> list[str]:
    """--splits, or every split of the dataset (optional ones only when present)."""
    info = get_spec(data_config).info
    if requested:
        unknown = [split for split in requested if split not in info.split_sizes]
        if unknown:
            raise data.DataError(f"{info.name} has no split(s) {unknown}; its splits: {', '.join(info.split_sizes)}")
        return list(requested)
    return available_splits(dataclasses.replace(data_config, check_split_sizes=False))


def format_report(report: validate.SplitReport, class_names) -> str:
    """The human-readable report of one split."""
    expected = "unknown" if report.expected_examples is None else f"{report.expected_examples:,}"
    status = "OK" if report.size_matches else "MISMATCH"
    lines = [f"{report.dataset} {report.split}: {report.num_examples:,} examples (papers' split: {expected}) "
             f"{status}"]
    if report.problems:
        lines.append(f"  {len(report.problems)} problem(s) in {len(report.bad_indices)} example(s):")
        lines += [f"    [{p.kind}] {p.file} {p.detail}" for p in report.problems[:MAX_PRINTED]]
        if len(report.problems) > MAX_PRINTED:
            lines.append(f"    ... and {len(report.problems) - MAX_PRINTED} more (all in --report)")
    else:
        lines.append("  no defects found")
    total = int(report.class_pixels.sum()) + report.ignore_pixels
    lines.append(f"  {'id':>3}  {'class':<24} {'pixels':>15} {'share':>7}")
    rows = [(str(i), name, int(count)) for i, (name, count) in enumerate(zip(class_names, report.class_pixels))]
    rows.append(("255", "(ignore)", report.ignore_pixels))
    for key, name, count in rows:
        share = 100.0 * count / total if total else 0.0
        lines.append(f"  {key:>3}  {name:<24} {count:>15,} {share:>6.2f}%")
    return "\n".join(lines)


def report_dict(report: validate.SplitReport, class_names) -> dict:
    return {
        "dataset": report.dataset, "split": report.split, "num_examples": report.num_examples,
        "expected_examples": report.expected_examples,
        "problems": [problem._asdict() for problem in report.problems],
        "class_pixels": dict(zip(class_names, map(int, report.class_pixels))),
        "ignore_pixels": report.ignore_pixels,
    }


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        data_config = data_config_from_flags()
        class_names = get_spec(data_config).info.class_names
        splits = splits_to_scan(data_config, FLAGS.splits)
    except (ValueError, data.DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    clean, results = True, []
    for split in splits:
        try:
            report = validate.scan(data_config, split, progress=True)
        except data.DataError as error:
            print(f"{data_config.dataset} {split}: cannot be listed: {error}\n")
            clean = False
            results.append({"split": split, "error": str(error)})
            continue
        print(format_report(report, class_names) + "\n")
        clean = clean and report.size_matches and not report.problems
        results.append(report_dict(report, class_names))
    if FLAGS.report:
        with open(FLAGS.report, "w") as stream:
            json.dump(results, stream, indent=1)
        print(f"report written to {FLAGS.report}")
    print("dataset is complete and clean" if clean else "dataset has defects (see above)")
    return 0 if clean else 1


def define_flags() -> None:
    define_data_flags()
    flags.DEFINE_list("splits", None, "Splits to scan (default: all of the dataset's).")
    flags.DEFINE_string("report", None, "Also write the full report (every problem) as JSON to this file.")


if __name__ == "__main__":
    define_flags()
    app.run(lambda argv: sys.exit(main(argv)))
