"""Opening HDF5 weights files (keras.applications' .h5, Keras 3 .weights.h5, our converted files) without letting
the file reach outside itself or claim more than it holds.

HDF5 can make a dataset's bytes come from another file on the reader's machine (external storage, virtual datasets)
or link to objects in other files (external links), and a dataset that was never written reads as its fill value,
however large. Every file is walked before anything reads it (`open_checked`), through its links without following
them, and refused unless:
- every link is a hard link inside the file (no soft or external links), each object reached once;
- every dataset is stored in the file itself (no external storage, not virtual), unfiltered (no compression: a
  decompression bomb), of a real numeric or boolean dtype, fully written (its stored bytes hold all its elements:
  no fill-value datasets), and all datasets together hold no more bytes than the file;
- every attribute declares no more bytes than the file, and no dataset carries a variable-length attribute.
Variable-length attributes (Keras 3's legacy saver writes its layer and weight names so) are read in a child
process whose address space is capped (`attribute`): libhdf5 allocates what their length fields claim before it
checks them against the file. Keras' own loader reads only a dataset's "dtype" attribute, hence the rule on
datasets. A dataset is read at most once per file (`read_once`), whatever names reach it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
from typing import Callable, Iterator

import h5py
import numpy as np

from li_seg.weights.errors import WeightsError, short

_NUMERIC_KINDS = "biuf"


def _refuse(path: str, where: str, problem: str) -> WeightsError:
    return WeightsError(f"{path}: {short(where)[1:-1]} {problem}; refused (an HDF5 weights file keeps all its data "
                        "in itself, uncompressed: docs/weights_security.md)")


def _nbytes(shape, dtype: np.dtype) -> int:
    """Bytes of `shape` x `dtype` in Python integers (no overflow); a null dataspace (shape None) holds none."""
    return 0 if shape is None else int(np.prod(shape, dtype=object)) * dtype.itemsize


def _object_key(obj) -> tuple[int, int]:
    """Which object of which file `obj` is, whatever link reached it."""
    info = h5py.h5o.get_info(obj.id)
    return info.fileno, info.addr


def _is_variable_length(dtype: np.dtype) -> bool:
    return h5py.check_vlen_dtype(dtype) is not None or dtype.kind == "O"


def _check_attributes(obj, path: str, where: str, size: int) -> None:
    for name in obj.attrs:
        attribute = h5py.h5a.open(obj.id, name.encode() if isinstance(name, str) else name)
        nbytes = _nbytes(attribute.shape, attribute.dtype)
        if nbytes > size:
            raise _refuse(path, f"{where} attribute {name}", f"declares {nbytes} bytes in a file of {size}")
        if isinstance(obj, h5py.Dataset) and _is_variable_length(attribute.dtype):
            raise _refuse(path, f"{where} attribute {name}", "is a variable-length attribute of a dataset")


CHILD_MEMORY = 256 * 2**20  # address space the child may add to read variable-length attributes

# Run as `python -c`: prints {"<object path>\t<attribute>": [str, ...]} of every variable-length string attribute
# of the file argv[1] (checked by `check_structure` first: hard links only), its address space capped at what it
# holds after importing h5py plus argv[2] bytes.
_CHILD = r"""
import json, resource, sys
import h5py, numpy as np
with open("/proc/self/status") as status:
    vm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (vm + int(sys.argv[2]), resource.getrlimit(resource.RLIMIT_AS)[1]))
found = {}
def visit(name, obj):
    for attr in obj.attrs:
        dtype = obj.attrs.get_id(attr).dtype
        if h5py.check_vlen_dtype(dtype) is not None or dtype.kind == "O":
            values = np.atleast_1d(obj.attrs[attr]).ravel()
            found[obj.name + "\t" + attr] = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                                           for v in values]
with h5py.File(sys.argv[1], "r", locking=False) as f:
    visit("/", f)
    f.visititems(visit)
print(json.dumps(found))
"""


@functools.lru_cache(maxsize=4)
def _variable_length_attributes(path: str, modified: float) -> dict[str, list[str]]:
    run = subprocess.run([sys.executable, "-c", _CHILD, path, str(CHILD_MEMORY)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no message"])[-1][:300]
        raise WeightsError(f"{path}: its variable-length attributes cannot be read within {CHILD_MEMORY // 2**20} "
                           f"MiB ({last}); refused (docs/weights_security.md)")
    return json.loads(run.stdout)


def attribute(obj, name: str, path: str, default=None):
    """Attribute `name` of `obj` (`default` when absent); a variable-length string attribute is read in a capped
    child process (module docstring) and comes back as a list of str."""
    if name not in obj.attrs:
        return default
    if _is_variable_length(obj.attrs.get_id(name).dtype):
        return _variable_length_attributes(path, os.path.getmtime(path))[f"{obj.name}\t{name}"]
    return obj.attrs[name]


def read_once(path: str) -> Callable[[h5py.Dataset], np.ndarray]:
    """A reader of datasets' values that refuses a dataset reached a second time (by another name)."""
    seen = set()

    def read(dataset: h5py.Dataset) -> np.ndarray:
        if _object_key(dataset) in seen:
            raise _refuse(path, dataset.name, "is read a second time under another name")
        seen.add(_object_key(dataset))
        return np.asarray(dataset)

    return read


def _check_dataset(dataset: h5py.Dataset, path: str, where: str, size: int) -> int:
    """The dataset's bytes, after checking it (module docstring)."""
    plist = dataset.id.get_create_plist()
    if dataset.is_virtual:
        raise _refuse(path, where, "is a virtual dataset (its data lives in other files)")
    if plist.get_external_count():
        raise _refuse(path, where, "stores its data in external files on the reader's machine")
    if plist.get_nfilters():
        raise _refuse(path, where, "is filtered (compressed)")
    if dataset.dtype.kind not in _NUMERIC_KINDS:
        raise _refuse(path, where, f"has dtype {dataset.dtype} (weights are real numbers)")
    nbytes = _nbytes(dataset.shape, dataset.dtype)
    if nbytes > size:
        raise _refuse(path, where, f"declares {nbytes} bytes in a file of {size}")
    if dataset.id.get_storage_size() < nbytes:
        raise _refuse(path, where, f"declares {nbytes} bytes but stores {dataset.id.get_storage_size()} (the rest "
                      "would read as its fill value)")
    return nbytes


def check_structure(file: h5py.File, path: str) -> None:
    """Walks every link of `file` without following any that leaves it; raises WeightsError (module docstring)."""
    size = os.path.getsize(path)
    total, seen, groups = 0, set(), [(file, "")]
    _check_attributes(file, path, "/", size)
    while groups:
        group, prefix = groups.pop()
        for name in group:
            where = f"{prefix}/{name}"
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise _refuse(path, where, f"is a link of type {type(link).__name__} (only hard links inside the file "
                              "are read)")
            obj = group[name]
            if _object_key(obj) in seen:
                raise _refuse(path, where, "links to an object reached already (its data would be read twice)")
            seen.add(_object_key(obj))
            _check_attributes(obj, path, where, size)
            if isinstance(obj, h5py.Group):
                groups.append((obj, where))
            elif isinstance(obj, h5py.Dataset):
                total += _check_dataset(obj, path, where, size)
                if total > size:
                    raise _refuse(path, where, f"brings the datasets' bytes to {total}, more than the file's "
                                  f"{size}")


@contextlib.contextmanager
def open_checked(path: str) -> Iterator[h5py.File]:
    """The HDF5 file at `path`, open for reading after `check_structure`."""
    if os.path.isdir(path):
        raise WeightsError(f"{path} is a directory, not an HDF5 weights file")
    try:
        file = h5py.File(path, "r", locking=False)
    except OSError as error:
        raise WeightsError(f"{path} is not a readable HDF5 file (truncated or not HDF5: {error})") from None
    with file:
        check_structure(file, path)
        yield file


def datasets(path: str) -> Iterator[tuple[str, np.ndarray]]:
    """(name, values) of every dataset of the checked file at `path`, one at a time."""
    with open_checked(path) as file:
        found: list[str] = []
        file.visit(lambda name: found.append(name) if isinstance(file[name], h5py.Dataset) else None)
        for name in found:
            yield name, np.asarray(file[name])
