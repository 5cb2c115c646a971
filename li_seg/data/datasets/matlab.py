"""Label maps stored in MATLAB .mat files (SBD's cls/*.mat, Pascal Context's trainval/*.mat), read in the graph.

`scipy.io.loadmat` runs inside `tf.numpy_function`; a file that is not a readable .mat, or lacks the variable,
raises ValueError, which TensorFlow reports as InvalidArgumentError naming the cause (so `diagnose` can report
the file like any other unreadable label).
"""

from __future__ import annotations

import io
from typing import Optional

import numpy as np
import scipy.io
import tensorflow as tf


def load_mat_label(data: bytes, variable: str, field: Optional[str] = None) -> np.ndarray:
    """The 2-D integer array `variable` (or `variable.field` of a MATLAB struct) of .mat bytes, as int32."""
    if isinstance(data, np.ndarray):  # tf.numpy_function passes bytes in a graph but a 0-d array when eager
        data = data.item()
    try:
        contents = scipy.io.loadmat(io.BytesIO(data), squeeze_me=True, struct_as_record=False)
    except Exception as error:  # scipy raises ValueError, TypeError, MatReadError, ... on corrupt files
        raise ValueError(f"not a readable MATLAB .mat file ({error})") from None
    if variable not in contents:
        found = sorted(key for key in contents if not key.startswith("__"))
        raise ValueError(f"the .mat file has no variable {variable!r} (it has {found})")
    value = contents[variable]
    if field is not None:
        if not hasattr(value, field):
            raise ValueError(f"the .mat variable {variable!r} has no field {field!r}")
        value = getattr(value, field)
    value = np.asarray(value)
    if value.ndim != 2 or not np.issubdtype(value.dtype, np.number):
        raise ValueError(f"the .mat label {variable}{'.' + field if field else ''} is {value.dtype} of shape "
                         f"{value.shape}, not a 2-D label map")
    return value.astype(np.int32)


def decode_mat_label(data: tf.Tensor, variable: str, field: Optional[str] = None) -> tf.Tensor:
    """.mat bytes -> int32 (H, W, 1) label map from `variable` (or its struct `field`)."""
    label = tf.numpy_function(
        lambda raw: load_mat_label(raw, variable, field), [data], tf.int32, stateful=False
    )
    label.set_shape([None, None])
    return label[:, :, None]
