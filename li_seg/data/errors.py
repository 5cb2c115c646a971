"""`DataError`: a data problem explained for the user (which file, what is wrong, how to fix it)."""


class DataError(Exception):
    """A dataset cannot be read as configured; the message names the file(s) and the fix."""
