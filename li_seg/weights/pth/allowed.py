"""The only globals a torch.save pickle may name: what torch 2.x pickles for a state dict, and the plain data that
torch's own `weights_only` unpickler accepts beside it. Each resolves to an inert stand-in; nothing is imported
from the file and nothing of it is called but the functions here, on the pickle's data.

- `collections.OrderedDict` (a state dict; called without arguments, as pickle writes it, items set after);
- `torch._utils._rebuild_tensor` / `_rebuild_tensor_v2` (every ordinary tensor; its storage a persistent id
  `('storage', torch.<Name>Storage, key, location, numel)`, `metadata` may hold `conj` / `neg` bits);
  `_rebuild_tensor_v3` with `torch.storage.UntypedStorage` (numel in bytes) and a dtype global such as
  `torch.uint16`; `_rebuild_parameter` / `_rebuild_parameter_with_state` (an `nn.Parameter`, read as its tensor);
  `torch._tensor._rebuild_from_type_v2` with `torch.Tensor` (Python attributes dropped);
- data: `_codecs.encode` (bytes under protocol 2, from latin-1 / UTF-8 text), `set`, `frozenset`, `bytearray` (of
  bytes or latin-1 / UTF-8 text, never of a size), `complex`, `collections.Counter` (of a dict), `torch.Size` (a
  tuple), `torch.device` (its string). Sizes, strides, offsets and storage sizes must fit in 64 bits.
"""

from __future__ import annotations

import _compat_pickle
import collections
from typing import Any, Callable, Iterable, Optional

from li_seg.weights.errors import WeightsError, short
from li_seg.weights.pth.tensors import (
    STORAGE_DTYPES, TORCH_DTYPES, Global, Inert, Tensor, as_int, make_tensor,
)


class Allowed(Inert):
    """An allowed function, called by the pickle's REDUCE opcode on plain data. `hashed(args)`: the objects the
    call will hash (set members, ...), which the unpickler checks first."""

    __slots__ = ("name", "function", "hashed")

    def __init__(self, name: str, function: Callable, hashed: Optional[Callable[[tuple], Iterable]] = None) -> None:
        self._init(name=name, function=function, hashed=hashed)

    def __call__(self, *args: Any) -> Any:
        return self.function(*args)

    def __repr__(self) -> str:
        return self.name


def _check_hooks(backward_hooks: Any) -> None:
    if backward_hooks:
        raise WeightsError("a tensor has backward hooks, which are code and are not read")


def _rebuild_tensor(storage, storage_offset, size, stride):
    return make_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    _check_hooks(backward_hooks)
    return make_tensor(storage, storage_offset, size, stride, metadata)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None):
    _check_hooks(backward_hooks)
    if not (isinstance(dtype, Global) and dtype.kind == "dtype"):
        raise WeightsError(f"a tensor's dtype is {short(dtype)}, not a torch dtype")
    return make_tensor(storage, storage_offset, size, stride, metadata, torch_dtype=dtype.name)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    _check_hooks(backward_hooks)
    if not isinstance(data, Tensor):
        raise WeightsError(f"a Parameter's data is {type(data).__name__}, not a tensor")
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _rebuild_parameter(data, requires_grad, backward_hooks)


_REBUILDS = (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter,
             _rebuild_parameter_with_state)


def _rebuild_from_type_v2(func, new_type, args, state):
    """A tensor with Python attributes (`state`, dropped here); only the plain `torch.Tensor` type is accepted."""
    if not (isinstance(new_type, Global) and new_type.kind == "type" and isinstance(func, Allowed)
            and func.function in _REBUILDS and isinstance(args, tuple)):
        raise WeightsError(f"a tensor subclass {short(new_type)} is not read without torch")
    return func(*args)


def _ordered_dict(*args):
    if args:
        raise WeightsError(f"OrderedDict is called with {short(args)}; pickle calls it without arguments")
    return collections.OrderedDict()


def _counter(*args):
    if len(args) > 1 or (args and not isinstance(args[0], dict)):
        raise WeightsError(f"Counter is called with {short(args)}, not with a dict")
    return collections.Counter(*args)


_TEXT_ENCODINGS = ("latin1", "latin-1", "utf-8", "utf8")  # what pickle writes bytes as (the others may be slow)


def _encode(text, encoding="latin1"):
    """`_codecs.encode`: how pickle protocol 2 writes a bytes object (its latin-1 text)."""
    if not isinstance(text, str) or encoding not in _TEXT_ENCODINGS:
        raise WeightsError(f"_codecs.encode is called on {type(text).__name__}, {short(encoding)}, not text")
    return text.encode(encoding)


def _bytearray(*args):
    """bytearray of bytes, or of text in latin-1 / UTF-8 (as pickle writes it); never of a size."""
    if not args:
        return bytearray()
    if isinstance(args[0], bytes) and len(args) == 1:
        return bytearray(args[0])
    if isinstance(args[0], str) and len(args) == 2 and args[1] in _TEXT_ENCODINGS:
        return bytearray(args[0], args[1])
    raise WeightsError(f"bytearray is called with {short(args)}, not with its bytes or latin-1 text")


def _complex(*args):
    if len(args) > 2 or not all(isinstance(a, (int, float)) for a in args):
        raise WeightsError(f"complex is called with {short(args)}, not with numbers")
    return complex(*args)


def _container(kind: type) -> Callable:
    def build(*args):
        if len(args) > 1 or (args and not isinstance(args[0], (list, tuple, set, frozenset))):
            raise WeightsError(f"{kind.__name__} is called with {short(args)}, not with a list")
        return kind(*args)
    return build


def _device(*args):
    """`torch.device(type, index)`, read as its string ("cpu", "cuda:0")."""
    if not args or len(args) > 2 or not all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in args):
        raise WeightsError(f"torch.device is called on {short(args)}")
    return ":".join(str(a) for a in args)


def _first(args: tuple) -> Iterable:
    return args[0] if args else ()


_ALLOWED = {
    ("collections", "OrderedDict"): Allowed("OrderedDict", _ordered_dict),
    ("collections", "Counter"): Allowed("Counter", _counter, _first),
    ("_codecs", "encode"): Allowed("encode", _encode),
    ("builtins", "set"): Allowed("set", _container(set), _first),
    ("builtins", "frozenset"): Allowed("frozenset", _container(frozenset), _first),
    ("builtins", "bytearray"): Allowed("bytearray", _bytearray),
    ("builtins", "complex"): Allowed("complex", _complex),
    ("torch", "Size"): Allowed("Size", _container(tuple)),
    ("torch", "device"): Allowed("device", _device),
    ("torch._utils", "_rebuild_tensor"): Allowed("_rebuild_tensor", _rebuild_tensor),
    ("torch._utils", "_rebuild_tensor_v2"): Allowed("_rebuild_tensor_v2", _rebuild_tensor_v2),
    ("torch._utils", "_rebuild_tensor_v3"): Allowed("_rebuild_tensor_v3", _rebuild_tensor_v3),
    ("torch._utils", "_rebuild_parameter"): Allowed("_rebuild_parameter", _rebuild_parameter),
    ("torch._utils", "_rebuild_parameter_with_state"): Allowed("_rebuild_parameter_with_state",
                                                               _rebuild_parameter_with_state),
    ("torch._tensor", "_rebuild_from_type_v2"): Allowed("_rebuild_from_type_v2", _rebuild_from_type_v2),
}


class RefusedGlobal(WeightsError):
    def __init__(self, module: str, name: str) -> None:
        self.qualified_name = f"{short(module)[1:-1]}.{short(name)[1:-1]}"
        super().__init__(self.qualified_name)


def resolve(module: Any, name: Any) -> Any:
    """The stand-in for global `module.name` (Python 2 names of protocol 2 mapped first); RefusedGlobal for any
    global not listed in the module docstring."""
    if not (isinstance(module, str) and isinstance(name, str)):
        raise WeightsError(f"a global is named by {short(module)}, {short(name)}, not by two strings")
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[module, name]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    if (module, name) in _ALLOWED:
        return _ALLOWED[module, name]
    if module in ("torch", "torch.cuda") and name in STORAGE_DTYPES:  # torch.cuda.*: old files saved on GPU
        return Global("storage", name)
    if (module, name) in (("torch.storage", "UntypedStorage"), ("torch", "UntypedStorage")):
        return Global("storage", "UntypedStorage")
    if module == "torch" and name in TORCH_DTYPES:
        return Global("dtype", name)
    if (module, name) == ("torch", "Tensor"):
        return Global("type", "Tensor")
    raise RefusedGlobal(module, name)


def persistent_storage(pid: Any, archive: Any) -> Any:
    """The storage a persistent id `('storage', <storage global>, key, location, numel)` names."""
    if not (isinstance(pid, tuple) and len(pid) == 5 and isinstance(pid[0], str) and pid[0] == "storage"):
        raise WeightsError(f"unexpected persistent id {short(pid)}")
    _, storage_type, key, _location, numel = pid
    if not (isinstance(storage_type, Global) and storage_type.kind == "storage") or not isinstance(key, str):
        raise WeightsError(f"unexpected storage record {short(pid)}")
    return archive.storage(key, storage_type.name, as_int(numel, f"storage {short(key)}'s numel"))
