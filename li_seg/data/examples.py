"""A raw split's examples as its dataset lists them (`load_examples`), and which splits a copy holds."""

from __future__ import annotations

from typing import Optional

from li_seg.config import DataConfig
from li_seg.data import validate
from li_seg.data.errors import DataError
from li_seg.data.registry import get_spec
from li_seg.data.spec import Examples


def load_examples(data_config: DataConfig, split: str, max_examples: Optional[int] = None) -> Examples:
    """The raw split's examples as listed by its dataset, without the defective ones if
    data_config.skip_bad_examples (first `max_examples` only, if given)."""
    examples = get_spec(data_config).load_split(data_config, split)
    if data_config.skip_bad_examples:
        examples = validate.without_bad_examples(data_config, split, examples)
    return examples if max_examples is None else examples.take(max_examples)


def available_splits(data_config: DataConfig) -> list[str]:
    """The dataset's splits present in data_config's copy: every split except the optional ones (e.g. CamVid's
    held-out test) that cannot be listed there."""
    spec = get_spec(data_config)

    def lists(split: str) -> bool:
        try:
            spec.load_split(data_config, split)
            return True
        except DataError:
            return False

    info = spec.info
    return [split for split in info.split_sizes if split not in info.optional_splits or lists(split)]
