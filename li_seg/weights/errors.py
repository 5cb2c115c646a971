"""The one error every weights problem becomes, and the guard that turns whatever a hostile or broken file makes a
reader raise into it.

Pretrained files come from the internet, so a reader must expect anything (docs/weights_security.md): whatever a
file makes NumPy, h5py, zipfile, TensorFlow or our own readers raise while it is read (a truncated archive, a
garbage checkpoint index, an impossible shape, a size that does not fit in memory) reaches the caller as one
`WeightsError` that names the file and the problem, which the command lines print before exiting with status 2.
"""

from __future__ import annotations

import contextlib
import pickle
import reprlib
import struct
import zipfile
from typing import Any, Iterator

import tensorflow as tf


class WeightsError(ValueError):
    """A weights file that cannot load: missing, unreadable, refused as unsafe, or of another format or network (the
    message says which and what to do)."""


class MappingError(WeightsError):
    """A file does not hold the weights of the target: every unmatched, missing or mis-shaped variable named."""


class WeightsNotFoundError(WeightsError):
    """The weights path names no file (or a directory, or a checkpoint prefix without its .index)."""


# What reading a file can raise besides our own errors: I/O and format errors, and what an impossible declared size
# makes NumPy / Python raise (MemoryError, OverflowError), what a malformed structure makes them raise (KeyError,
# TypeError, IndexError, ...). Bugs elsewhere (AttributeError, NameError) are not caught.
READ_ERRORS = (
    OSError, EOFError, ValueError, LookupError, TypeError, MemoryError, OverflowError, RuntimeError, struct.error,
    zipfile.BadZipFile, pickle.UnpicklingError, tf.errors.OpError,
)  # LookupError: KeyError, IndexError, an unknown codec; RuntimeError: NotImplementedError, RecursionError

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 160
_SHORT.maxlevel = 3
MESSAGE_LIMIT = 2000  # characters of a foreign exception's message kept in a WeightsError


def short(value: Any) -> str:
    """A bounded repr of data read from a file, safe to put in a message (reprlib: limited depth, items and
    length; an integer too long to print is described by its size)."""
    try:
        return _SHORT.repr(value)
    except (ValueError, RecursionError):  # an int beyond sys.get_int_max_str_digits (alone or inside); too deep
        if isinstance(value, int):
            return f"<an int of {value.bit_length()} bits>"
        return f"<a {type(value).__name__} that cannot be shown briefly>"


def _describe(error: BaseException) -> str:
    if isinstance(error, MemoryError):
        return "it asks for more memory than this machine has (MemoryError): the file is corrupt or hostile"
    if isinstance(error, tf.errors.OpError):
        text = error.message
    else:
        try:
            text = str(error)
        except (ValueError, RecursionError):
            text = ""
    if len(text) > MESSAGE_LIMIT:
        text = text[:MESSAGE_LIMIT] + " ..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@contextlib.contextmanager
def reading(path: str, what: str = "") -> Iterator[None]:
    """Turns any read error inside the block (`READ_ERRORS`) into a WeightsError "cannot read PATH[ as WHAT]: ..."
    (WeightsErrors pass unchanged)."""
    try:
        yield
    except WeightsError:
        raise
    except READ_ERRORS as error:
        where = f"{path} as {what}" if what else f"{path}"
        raise WeightsError(f"cannot read {where}: {_describe(error)}") from error
