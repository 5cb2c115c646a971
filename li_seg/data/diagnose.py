"""`explain_error`: turns a TensorFlow error raised while iterating a split into a `DataError` that names the bad
file(s) and says how to fix them.

- An in-graph check failure (`decode.py`) carries `li_seg.data check [<kind>] example <index>`: that example is
  inspected again here to describe the problem.
- A decode failure carries no file name: every example of the split is inspected, eagerly, with the dataset's own
  `read_image` / `read_label`, and all bad files are reported (this takes a few seconds per thousand images).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from li_seg.config import DataConfig
from li_seg.data.decode import CHECK_PATTERN
from li_seg.data.errors import DataError
from li_seg.data.info import IGNORE_LABEL
from li_seg.data.label_map import apply_label_map
from li_seg.data.registry import get_spec
from li_seg.data.spec import DatasetSpec, Examples

MAX_REPORTED = 10
_UNEQUAL_BATCH = ("Cannot batch tensors with different shapes", "Cannot add tensor to the batch")


class Problem(NamedTuple):
    """kind: "unreadable", "label_channels", "size_mismatch" or "label_values"; file: the file to fix."""

    kind: str
    file: str
    detail: str


_FIXES = {
    "unreadable": "a corrupt, truncated or non-image file: restore it from the original dataset, or leave the example "
    "out of {listing} (its line in a listing file; the image and its label in a folder).",
    "label_channels": "labels must be single-channel PNGs of class ids, not colour or palette images: convert them "
    "to class-id maps.",
    "size_mismatch": "an image and its label must have the same height and width: check that {listing} pairs "
    "the right files and that neither was resized (labels only ever with nearest-neighbour).",
    "label_values": "labels must hold {dataset} class ids (0-{last}, 255 = ignore) after the dataset's label map: "
    "check that data_dir holds {dataset}'s class-id labels, not colour labels or another dataset's ids.",
}


def _read(reader, source, what: str, problems: list):
    """Reads eagerly; None (and an "unreadable" problem) if the file cannot be read or decoded."""
    try:
        return reader(tf.constant(source, tf.string)).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.UnknownError) as error:
        reason = re.sub(r"\{\{.*?\}\}|\[Op:.*", "", error.message).strip()  # TensorFlow's node prefixes
        problems.append(Problem("unreadable", what, f"cannot be read or decoded as an image ({reason})"))
        return None


def inspect_example(spec: DatasetSpec, examples: Examples, index: int) -> list[Problem]:
    """Every problem of example `index`, found by decoding it eagerly and re-checking in NumPy."""
    problems: list[Problem] = []
    image_file, label_file = examples.image_file(index), examples.label_file(index)
    image = _read(spec.read_image, examples.images[index], image_file, problems)
    raw = _read(spec.read_label, examples.labels[index], label_file, problems)
    if raw is None:
        return problems
    if raw.shape[2] != 1:
        problems.append(Problem("label_channels", label_file, f"has {raw.shape[2]} channels instead of 1"))
        return problems
    if image is not None and image.shape[:2] != raw.shape[:2]:
        problems.append(Problem(
            "size_mismatch", label_file,
            f"is {raw.shape[0]}x{raw.shape[1]} but its image {image_file} is {image.shape[0]}x{image.shape[1]}",
        ))
    label = apply_label_map(raw[:, :, 0], spec.label_map).numpy()
    bad = ((label < 0) | (label >= spec.info.num_classes)) & (label != IGNORE_LABEL)
    if bad.any():
        values = np.unique(label[bad]).tolist()
        problems.append(Problem(
            "label_values", label_file,
            f"has values {values} ({int(bad.sum())} pixels) that are neither class ids in "
            f"[0, {spec.info.num_classes}) nor the ignore label {IGNORE_LABEL}",
        ))
    return problems


def _report(problems: list[Problem], spec: DatasetSpec, examples: Examples, split: str) -> str:
    lines = [f"{spec.info.name} {split}: {len(problems)} problem(s) in the files listed in {examples.listing}:"]
    lines += [f"  {problem.file} {problem.detail}" for problem in problems[:MAX_REPORTED]]
    if len(problems) > MAX_REPORTED:
        lines.append(f"  ... and {len(problems) - MAX_REPORTED} more")
    for kind in dict.fromkeys(problem.kind for problem in problems):
        fix = _FIXES[kind].format(listing=examples.listing, dataset=spec.info.name, last=spec.info.num_classes - 1)
        lines.append(f"Fix ({kind}): {fix}")
    lines.append("Or leave the defective examples out: DataConfig.skip_bad_examples (--skip_bad_examples).")
    return "\n".join(lines)


def explain_error(exc: tf.errors.OpError, data_config: DataConfig, split: str) -> DataError:
    """A DataError naming the file(s) behind `exc`, raised while iterating `build_dataset(data_config, split)`.

    Usage: `except tf.errors.InvalidArgumentError as e: raise explain_error(e, cfg, split) from None`.
    """
    spec = get_spec(data_config)
    if data_config.data_format != "raw":
        return _explain_record_error(exc, data_config, split)
    try:
        examples = spec.load_split(data_config, split)
    except DataError as error:  # files went missing since the pipeline was built
        return error
    message = exc.message
    if any(text in message for text in _UNEQUAL_BATCH):
        return DataError(
            f"{spec.info.name} {split}: evaluation batches of more than one image need images of equal size, but "
            "this split's sizes differ. Fix: evaluate with batch_size=1 (images stay at their original resolution)."
        )
    match = CHECK_PATTERN.search(message)
    if match:
        problems = inspect_example(spec, examples, int(match.group(2)))
    else:
        problems = [problem for index in range(len(examples)) for problem in inspect_example(spec, examples, index)]
    if not problems:
        return DataError(
            f"reading {spec.info.name} {split} failed, yet every example listed in {examples.listing} decodes and "
            f"passes the checks, so the cause is not a data file. TensorFlow's error: {message}"
        )
    return DataError(_report(problems, spec, examples, split))


def _explain_record_error(exc: tf.errors.OpError, data_config: DataConfig, split: str) -> DataError:
    """Prepared records cannot be re-read one by one: the check's message (which names the record) or
    TensorFlow's error, and the fix."""
    match = CHECK_PATTERN.search(exc.message)
    what = exc.message[match.start():].splitlines()[0] if match else exc.message
    return DataError(
        f"reading {data_config.dataset} {split} from {data_config.data_dir} ({data_config.data_format}) failed: "
        f"{what}\nFix: the prepared records are damaged or were made from a defective copy: check the raw data with "
        "python -m scripts.validate_dataset, then convert or build it again."
    )
