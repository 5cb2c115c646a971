"""Atomic file writes: a reader (or a run resumed after a kill) never sees half a file."""

import pathlib


def write_text(path, text: str) -> None:
    """Writes `text` to `path` through PATH.tmp renamed once whole; returns after the rename."""
    path = pathlib.Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)
