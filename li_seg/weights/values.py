"""The values a weights file may hold: real numbers (and booleans, integers such as BN counters), all finite.

A NaN or Inf weight comes from a diverged or corrupted run (or a hostile file) and silently poisons every output,
and a complex tensor would lose its imaginary part when cast to a float variable; both are refused, naming the
tensors. `allow_non_finite=True` (--allow_non_finite_weights, model.backbone.allow_non_finite_weights) loads
non-finite values anyway, with a warning; complex and non-numeric tensors are always refused.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from absl import logging

from li_seg.weights.errors import WeightsError, short

MAX_LISTED = 12
_ALLOW = ("if you know the file and want it anyway, pass --allow_non_finite_weights "
          "(model.backbone.allow_non_finite_weights=true)")


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return ", ".join(short(name) for name in names[:MAX_LISTED]) + more


def check_values(tensors: Iterable[tuple[str, np.ndarray]], path: str, allow_non_finite: bool = False) -> None:
    """Raises WeightsError naming every tensor of `tensors` ((name, array) pairs, read one at a time) that is not
    real-valued numeric, or (unless `allow_non_finite`) holds NaN or Inf."""
    wrong_type, non_finite = [], []
    for name, array in tensors:
        array = np.asarray(array)
        if array.dtype.kind not in "biuf":
            wrong_type.append(f"{name} ({array.dtype})")
        elif array.dtype.kind == "f" and not np.isfinite(array).all():
            non_finite.append(name)
    if wrong_type:
        raise WeightsError(f"{path} holds {len(wrong_type)} tensor(s) that are not real numbers: "
                           f"{_listed(wrong_type)}; weights are real (complex values would lose their imaginary "
                           "part)")
    if non_finite and not allow_non_finite:
        raise WeightsError(f"{path} holds NaN or Inf values in {len(non_finite)} tensor(s): {_listed(non_finite)} "
                           f"(a diverged or corrupted file); nothing was loaded. {_ALLOW}")
    if non_finite:
        logging.warning("%s: loading NaN or Inf values in %d tensor(s) as asked: %s", path, len(non_finite),
                        _listed(non_finite))
