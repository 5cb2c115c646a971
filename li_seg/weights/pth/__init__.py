"""Reading PyTorch state dicts (`.pth` / `.pt` files written by `torch.save`) into numpy, without torch and without
trusting the file (docs/weights_security.md).

What is read: torch's zip serialization, the default of `torch.save` since torch 1.6 (`archive`): a zip archive
whose one top-level folder holds `data.pkl` (the pickled object), `data/<key>` (one raw storage per key),
`byteorder` ("little" / "big"; absent in older files, which are little-endian) and bookkeeping records. `data.pkl`
is executed by a pure-Python unpickler (`unpickler`) that resolves only the globals a state dict needs (`allowed`)
to inert stand-ins; tensors (`tensors`) are checked against their storages before any byte is read. Tensors come
back as C-contiguous, writable numpy arrays in native byte order that own their memory; storage offset, size and
stride are honoured, so views saved as such (a transposed tensor, a slice sharing another entry's storage, an
expanded tensor) read as the values they show. bfloat16 is returned as float32 (exact: its 16 bits are the high
half of a float32); everything else keeps its dtype.

What is refused, with a `WeightsError` (a ValueError) that names the file and says what to do:
- any global other than those `allowed` lists (a whole `nn.Module`, an `argparse.Namespace`, numpy scalars,
  `os.system`, ...): load such a file once with torch, which you trust it to run, and save `model.state_dict()`;
- the legacy (non-zip) format of torch < 1.6: a bare pickle stream (see `archive.CONVERT`), TorchScript archives;
- archives torch.save does not write: compressed or encrypted members, sizes that disagree with the bytes stored,
  members that overlap; a storage shorter than its elements, a tensor outside its storage or expanding it by more
  than `EXPANSION_LIMIT`, a state dict whose arrays would exceed twice the file's size by more than that;
- pickles that are bombs rather than data (`unpickler`: memo abuse, deep or shared keys, work beyond the pickle's
  size), and any corrupt or truncated file.
A path that does not exist raises `WeightsNotFoundError` (a WeightsError).

Checkpoints that wrap the state dict (mmsegmentation's {"meta", "state_dict", "optimizer"}, timm's and
PyTorch-Encoding's {"epoch", "state_dict", ...}, {"model": ...}) are unwrapped by `state_dict_of`, which also strips
DataParallel's "module." prefix when every key has it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from li_seg.weights.errors import WeightsError, WeightsNotFoundError, reading, short
from li_seg.weights.pth.allowed import RefusedGlobal, persistent_storage
from li_seg.weights.pth.archive import Archive
from li_seg.weights.pth.tensors import EXPANSION_LIMIT, Tensor, check_total
from li_seg.weights.pth.unpickler import unpickle

__all__ = ["EXPANSION_LIMIT", "STATE_DICT_KEYS", "read_pth", "state_dict_of"]

# Keys under which checkpoints wrap their state dict, in the order they are looked for.
STATE_DICT_KEYS = ("state_dict", "model", "model_state", "net")


def _is_tensor(value: Any) -> bool:
    return isinstance(value, (np.ndarray, Tensor))


def _describe(value: Any) -> str:
    scalar = isinstance(value, (int, float, str, bytes, type(None)))
    return f"{type(value).__name__} ({short(value)})" if scalar else type(value).__name__


def state_dict_of(obj: Any) -> dict[str, Any]:
    """The state dict (name -> tensor) in what `torch.save` saved: `obj` itself when it is a dict of tensors (numpy
    arrays), else the first of `STATE_DICT_KEYS` ("state_dict", "model", "model_state", "net") it holds as a dict.

    The other entries of such a wrapper ("meta", "optimizer", "epoch", ...) are ignored; inside the state dict every
    entry must be a tensor (WeightsError naming the first that is not). When every key starts with "module." (a
    model saved from `nn.DataParallel` / `DistributedDataParallel`), that prefix is stripped from all of them.
    Returns a new plain dict in the saved order.
    """
    if not isinstance(obj, dict):
        raise WeightsError(f"the saved object is a {type(obj).__name__}, not a dict of tensors (a state dict)")
    if all(_is_tensor(v) for v in obj.values()):
        state, where = obj, "the state dict"
    else:
        key = next((k for k in STATE_DICT_KEYS if isinstance(obj.get(k), dict)), None)
        if key is None:
            others = [k for k, v in obj.items() if not _is_tensor(v)][:5]
            raise WeightsError(
                f"the saved dict is neither a state dict (entries {short(others)} are not tensors) nor a checkpoint "
                f"that holds one under {list(STATE_DICT_KEYS)}; its keys: {short(list(obj)[:20])}")
        state, where = obj[key], f"the state dict under {key!r}"
    for name, value in state.items():
        if not isinstance(name, str):
            raise WeightsError(f"{where} has a key {short(name)} that is not a string")
        if not _is_tensor(value):
            raise WeightsError(f"{where} has entry {short(name)} of type {_describe(value)}, not a tensor")
    if state and all(name.startswith("module.") for name in state):
        return {name[len("module."):]: value for name, value in state.items()}
    return dict(state)


def _load(path: str) -> dict[str, np.ndarray]:
    with Archive(path) as archive:
        data = archive.read(f"{archive.prefix}data.pkl")
        try:
            chosen = state_dict_of(unpickle(data, lambda pid: persistent_storage(pid, archive)))
        except RefusedGlobal as refused:
            raise WeightsError(
                f"{path} is not a plain state dict: it pickles {refused.qualified_name}, which is not read without "
                "torch (unpickling it could run arbitrary code). Load it with torch (torch.load(path, "
                "weights_only=False), only for a file you trust) and save model.state_dict() (or the checkpoint's "
                "state dict of tensors) with torch.save"
            ) from None
        except WeightsError as error:  # the pickle's and the tensors' own messages do not know the file
            raise WeightsError(f"{path}: {error}") from None
        check_total(chosen, archive.size, path)
        # Read the chosen tensors while the archive is open (the archive's messages name it); the rest (optimizer
        # state, ...) is never read.
        return {key: tensor.array() for key, tensor in chosen.items()}


def read_pth(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The state dict in the `torch.save` file at `path` (`.pth` / `.pt`), as {name: numpy array}, without torch.

    Wrapped checkpoints are unwrapped and DataParallel's "module." prefix stripped (`state_dict_of`); only the
    state dict's tensors are read. Arrays keep the tensor's dtype, shape and values (views resolved through their
    storage offset and strides), native byte order, C-contiguous and writable; bfloat16 is returned as float32.

    Raises WeightsNotFoundError when `path` does not exist, and WeightsError naming the file for anything else that
    keeps it from being read as a plain state dict (module docstring).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise WeightsNotFoundError(f"PyTorch weights file not found: {path!r}")
    if os.path.isdir(path):
        raise WeightsError(f"{path} is a directory, not a torch.save file: give the .pth file's path")
    with reading(path, "a torch.save file"):
        return _load(path)
