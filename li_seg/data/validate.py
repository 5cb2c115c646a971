"""Scanning a raw split for defects without training: `scan` (used by `scripts.validate_dataset`) and
`without_bad_examples` (used by the pipeline when DataConfig.skip_bad_examples is on).

A scan reads every example once, in parallel, with the dataset's own readers and label map, and reports:
unreadable or truncated files, labels that are not single-channel, image/label size mismatches, label values that
are neither class ids nor the ignore label, the per-class pixel counts, and the split size against the papers'.
Each defective example is then inspected again (`diagnose.inspect_example`) to describe it with its file.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Optional

import numpy as np
import tensorflow as tf
from absl import logging

from li_seg.config import DataConfig
from li_seg.data.diagnose import Problem, inspect_example
from li_seg.data.errors import DataError
from li_seg.data.info import IGNORE_LABEL
from li_seg.data.label_map import apply_label_map
from li_seg.data.registry import get_spec
from li_seg.data.spec import DatasetSpec, Examples


@dataclasses.dataclass
class SplitReport:
    """What a scan of one split found.

    num_examples / expected_examples: the examples listed, and the papers' split size (None if not known).
    problems: every defect, with its file; bad_indices: the examples they belong to (sorted).
    class_pixels: pixels per class id over the readable examples; ignore_pixels: pixels of the ignore label.
    """

    dataset: str
    split: str
    num_examples: int
    expected_examples: Optional[int]
    problems: list[Problem]
    bad_indices: list[int]
    class_pixels: np.ndarray
    ignore_pixels: int

    @property
    def size_matches(self) -> bool:
        return self.expected_examples is None or self.expected_examples == self.num_examples


def _statistics(spec: DatasetSpec, examples: Examples):
    """A graph function index -> (index, per-class pixels, ignore pixels, other pixels, sizes agree, 1 channel)."""
    images = tf.constant(examples.images, tf.string)
    labels = tf.constant(examples.labels, tf.string)
    num_classes = spec.info.num_classes

    def statistics(index):
        image, raw = spec.read_image(tf.gather(images, index)), spec.read_label(tf.gather(labels, index))
        label = tf.reshape(apply_label_map(raw[:, :, 0], spec.label_map), [-1])
        is_class = (label >= 0) & (label < num_classes)
        counts = tf.math.bincount(
            tf.where(is_class, label, num_classes), minlength=num_classes + 1, maxlength=num_classes + 1,
            dtype=tf.int64,
        )[:num_classes]
        ignored = tf.reduce_sum(tf.cast(label == IGNORE_LABEL, tf.int64))
        other = tf.size(label, out_type=tf.int64) - tf.reduce_sum(counts) - ignored
        same_size = tf.reduce_all(tf.equal(tf.shape(image)[:2], tf.shape(raw)[:2]))
        return index, counts, ignored, other, same_size, tf.equal(tf.shape(raw)[2], 1)

    return statistics


def scan(data_config: DataConfig, split: str, examples: Optional[Examples] = None, progress: bool = False
         ) -> SplitReport:
    """Scans `split` of a raw dataset (its listed `examples`, listed here if None, ignoring the split-size check
    so that the size can be reported). progress: a progress bar on stderr."""
    spec = get_spec(data_config)
    if examples is None:
        examples = spec.load_split(dataclasses.replace(data_config, check_split_sizes=False), split)
    count = len(examples)
    dataset = tf.data.Dataset.range(count).map(
        _statistics(spec, examples), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    ).ignore_errors()
    class_pixels = np.zeros(spec.info.num_classes, np.int64)
    ignore_pixels, readable, flagged = 0, set(), []
    bar = _progress_bar(count, f"scanning {spec.info.name} {split}") if progress else None
    for index, counts, ignored, other, same_size, one_channel in dataset.as_numpy_iterator():
        readable.add(int(index))
        class_pixels += counts
        ignore_pixels += int(ignored)
        if other or not same_size or not one_channel:
            flagged.append(int(index))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    bad = sorted(set(flagged) | (set(range(count)) - readable))
    problems = [problem for index in bad for problem in inspect_example(spec, examples, index)]
    return SplitReport(
        dataset=spec.info.name, split=split, num_examples=count,
        expected_examples=spec.info.split_sizes.get(split), problems=problems, bad_indices=bad,
        class_pixels=class_pixels, ignore_pixels=ignore_pixels,
    )


def _progress_bar(total: int, description: str):
    import tqdm  # a dependency of tensorflow-datasets

    return tqdm.tqdm(total=total, desc=description, unit="img", dynamic_ncols=True)


@functools.lru_cache(maxsize=None)
def _good_indices(data_config: DataConfig, split: str, examples: Examples) -> tuple[int, ...]:
    """The indices of the examples without defects; scans once per process and logs each example left out."""
    report = scan(data_config, split, examples)
    if len(report.bad_indices) == len(examples):
        raise DataError(f"{report.dataset} {split}: every one of the {len(examples)} examples is defective, e.g. "
                        f"{report.problems[0].file} {report.problems[0].detail}")
    if report.bad_indices:
        logging.warning(
            "skip_bad_examples: leaving out %d of the %d examples of %s %s:\n  %s", len(report.bad_indices),
            len(examples), report.dataset, split,
            "\n  ".join(f"{problem.file} {problem.detail}" for problem in report.problems),
        )
    bad = set(report.bad_indices)
    return tuple(index for index in range(len(examples)) if index not in bad)


def without_bad_examples(data_config: DataConfig, split: str, examples: Examples) -> Examples:
    """`examples` without the defective ones (see `_good_indices`); DataError if none is left."""
    good = _good_indices(data_config, split, examples)
    return examples if len(good) == len(examples) else examples.select(good)
