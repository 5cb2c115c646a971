"""Atomic file writes: a reader, a run resumed after a kill, or a machine restarted after a power cut sees the old
file or the new one, never half of one."""

import os
import pathlib


def write_text(path, text: str) -> None:
    """Writes `text` to PATH.tmp, flushes it to the disk, and renames it to `path` (then flushes the directory);
    on failure the temporary file is removed and `path` is as it was."""
    path = pathlib.Path(path)
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())  # the data on disk before the rename that publishes it
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
