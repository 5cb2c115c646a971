"""When a run's files cannot be written (a full disk, a read-only model dir, missing permissions): a message that
names the place, the reason and the fix, and no partial checkpoint left behind."""

from __future__ import annotations

import errno
import os
import pathlib
import shutil
from typing import Optional

import tensorflow as tf

_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT)
# How TensorFlow's file system layer words the same problems in its errors.
_MESSAGES = ("No space left on device", "Read-only file system", "Permission denied", "Operation not permitted",
             "Disk quota exceeded")


class StorageError(RuntimeError):
    """A run's files could not be written; the message says where, why and what to do."""


def storage_problem(error: BaseException) -> Optional[str]:
    """The storage reason behind an OSError or a TensorFlow error (full, read-only, no permission), else None."""
    if isinstance(error, OSError) and error.errno in _ERRNOS:
        return os.strerror(error.errno)
    if isinstance(error, tf.errors.OpError):
        return next((message for message in _MESSAGES if message in error.message), None)
    return None


def _free_space(path: pathlib.Path) -> str:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return f"{shutil.disk_usage(candidate).free / 1e6:,.0f} MB free on its disk"
    return "free space unknown"


def storage_error(path, reason: str, latest: Optional[str] = None) -> StorageError:
    """The StorageError for `path` (a directory or file of the run) that could not be written because `reason`."""
    path = pathlib.Path(path)
    kept = f" The newest complete checkpoint is {latest}." if latest else ""
    return StorageError(
        f"cannot write {path}: {reason} ({_free_space(path)}).{kept} Free some space or give a --model_dir on a "
        "writable disk with room (re-running the same command resumes from the newest checkpoint)."
    )


def remove_partial_checkpoints(directory) -> list[str]:
    """Removes what an interrupted tf.train.Checkpoint write leaves (the "<prefix>_temp" shard directories);
    returns what it removed."""
    directory = pathlib.Path(directory)
    removed = []
    for partial in sorted(directory.glob("*_temp*")) if directory.is_dir() else []:
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)
        removed.append(str(partial))
    return removed
