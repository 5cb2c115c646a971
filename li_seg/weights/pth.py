"""Reading PyTorch state dicts (`.pth` / `.pt` files written by `torch.save`) into numpy, without torch.

What is read: torch's zip serialization, the default of `torch.save` since torch 1.6: a zip archive whose one
top-level folder (named after the file, e.g. "resnet50/") holds `data.pkl` (the pickled object), `data/<key>`
(one raw storage per key, the bytes of `numel` elements), `byteorder` ("little" / "big"; absent in older files,
which are little-endian) and bookkeeping records (`version`, `.format_version`, `.storage_alignment`,
`.data/serialization_id`) that are not needed here. Tensors come back as C-contiguous, writable numpy arrays in
native byte order that own their memory; storage offset, size and stride are honoured, so views saved as such (a
transposed tensor, a slice sharing another entry's storage, an expanded tensor) read as the values they show.

What torch 2.x pickles for a state dict, and so all that `data.pkl` may reference (anything else is refused):
- `collections.OrderedDict` (the state dict and each tensor's empty `backward_hooks`);
- `torch._utils._rebuild_tensor_v2` (every ordinary tensor; older files `_rebuild_tensor`), its storage given as
  a persistent id `('storage', torch.<Name>Storage, key, location, numel)` with the storage classes
  Float / Double / Half / BFloat16 / Long / Int / Short / Char / Byte / Bool / ComplexFloat / ComplexDouble;
  its `metadata` may hold `conj` / `neg` bits (a lazily conjugated / negated view), applied here;
- `torch._utils._rebuild_tensor_v3` with `torch.storage.UntypedStorage` (numel in bytes) and a dtype global such
  as `torch.uint16`, for the dtypes that have no legacy storage class (uint16 / uint32 / uint64 are read; float8,
  float4 and bits types have no numpy equivalent and raise ValueError);
- `torch._utils._rebuild_parameter` / `_rebuild_parameter_with_state` (an `nn.Parameter`, read as its tensor);
- `torch._tensor._rebuild_from_type_v2` with `torch.Tensor` (a plain tensor carrying Python attributes, which are
  dropped);
- beside the state dict, plain data that torch's own `weights_only` unpickler accepts too: `_codecs.encode` (a
  bytes object under pickle protocol 2), `set`, `bytearray`, `complex`, `collections.Counter`, `torch.Size` (read
  as a tuple) and `torch.device` (read as its string). Each allowed global is handed out as an inert wrapper that
  only calls the function above on the pickle's data.

Conversions: bfloat16 has no numpy dtype and is returned as float32 (exact: its 16 bits are the high half of a
float32); everything else keeps its dtype (int64 stays int64, float16 stays float16, bool stays bool).

What is refused, with a ValueError that names the file and says what to do:
- any other pickled global (a whole `nn.Module`, an `argparse.Namespace`, numpy scalars, `os.system`, ...):
  unpickling arbitrary globals runs arbitrary code, so the unpickler here resolves only the names above to inert
  stand-ins and never imports or calls anything from the file. Load such a file once with torch, which you trust
  it to run, and save `model.state_dict()` (or the checkpoint's state dict) alone;
- the legacy (non-zip) format of torch < 1.6 or `torch.save(..., _use_new_zipfile_serialization=False)`: a bare
  pickle stream; convert it with torch >= 1.6 (see `_CONVERT`);
- TorchScript archives (`torch.jit.save`: a zip that also holds `constants.pkl` and `code/`);
- a corrupt or truncated file, a storage shorter than its tensors, a zip without `data.pkl`.
A missing file raises FileNotFoundError naming the path.

Checkpoints that wrap the state dict (mmsegmentation's {"meta", "state_dict", "optimizer"}, timm's and
PyTorch-Encoding's {"epoch", "state_dict", ...}, {"model": ...}) are unwrapped by `state_dict_of`, which also strips
DataParallel's "module." prefix when every key has it.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import os
import pickle
import zipfile
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["read_pth", "state_dict_of", "STATE_DICT_KEYS"]

# Keys under which checkpoints wrap their state dict, in the order they are looked for.
STATE_DICT_KEYS = ("state_dict", "model", "model_state", "net")

_CONVERT = (
    "convert it once with torch >= 1.6: python -c \"import torch; torch.save(torch.load('OLD', map_location='cpu', "
    "weights_only=False), 'NEW.pth')\" (weights_only=False only for a file you trust; for a whole pickled model "
    "save model.state_dict() instead)"
)

# torch's legacy serialization starts every file with this pickled magic number (protocol 2, LONG1 of 10 bytes).
_LEGACY_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[2:]

# Storage class -> numpy dtype of its elements (little-endian; bfloat16 read as its raw 16 bits).
_STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
    "ComplexFloatStorage": "<c8",
    "ComplexDoubleStorage": "<c16",
}
_BFLOAT16 = "bfloat16"
_STORAGE_TORCH_DTYPE = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16", "BFloat16Storage": _BFLOAT16,
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8",
    "ByteStorage": "uint8", "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}

# torch dtype name (a `torch.<name>` global, as `_rebuild_tensor_v3` pickles it) -> numpy dtype, None: no numpy
# equivalent (refused when a tensor of it is rebuilt).
_TORCH_DTYPES: dict[str, str | None] = {
    "float32": "<f4", "float": "<f4", "float64": "<f8", "double": "<f8", "float16": "<f2", "half": "<f2",
    _BFLOAT16: "<u2", "int64": "<i8", "long": "<i8", "int32": "<i4", "int": "<i4", "int16": "<i2", "short": "<i2",
    "int8": "i1", "uint8": "u1", "bool": "?", "complex64": "<c8", "cfloat": "<c8", "complex128": "<c16",
    "cdouble": "<c16", "uint16": "<u2", "uint32": "<u4", "uint64": "<u8",
}
_TORCH_DTYPES.update({name: None for name in (
    "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2",
    "complex32", "chalf", "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
    "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7", "int1", "int2", "int3", "int4", "int5", "int6",
    "int7", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
)})


class _Inert:
    """Base of the stand-ins the unpickler hands out: no __dict__, attributes frozen after construction, so a
    pickle's BUILD opcode cannot alter them."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def _init(self, **fields: Any) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)


class _Global(_Inert):
    """A torch global that is data, not code: a storage class, a dtype, or the class `torch.Tensor`."""

    __slots__ = ("kind", "name")

    def __init__(self, kind: str, name: str) -> None:
        self._init(kind=kind, name=name)

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class _Storage(_Inert):
    """One `data/<key>` record: `numel` elements of `dtype` (numpy dtype string; "u1" with numel in bytes for an
    UntypedStorage), read on first use."""

    __slots__ = ("reader", "key", "dtype", "numel", "torch_dtype")

    def __init__(self, reader: _ArchiveReader, key: str, dtype: str, numel: int, torch_dtype: str | None) -> None:
        self._init(reader=reader, key=key, dtype=dtype, numel=numel, torch_dtype=torch_dtype)


class _Tensor(_Inert):
    """A tensor as pickled: validated against its storage when rebuilt, its bytes read by `array()` only for the
    tensors that end up in the returned state dict."""

    __slots__ = ("storage", "dtype", "torch_dtype", "offset", "size", "stride", "conj", "neg")

    def __init__(self, storage: _Storage, dtype: str, torch_dtype: str, offset: int, size: tuple, stride: tuple,
                 conj: bool = False, neg: bool = False) -> None:
        self._init(storage=storage, dtype=dtype, torch_dtype=torch_dtype, offset=offset, size=size, stride=stride,
                   conj=conj, neg=neg)

    def array(self) -> np.ndarray:
        if 0 in self.size:
            values = np.zeros(self.size, self._read_dtype())
        else:
            flat = self.storage.reader.storage_array(self.storage, self._read_dtype())
            values = np.array(as_strided(flat[self.offset:], shape=self.size,
                                         strides=[s * flat.itemsize for s in self.stride], writeable=False))
        if self.torch_dtype == _BFLOAT16:
            values = (values.astype(np.uint32) << 16).view(np.float32)
        else:
            values = values.astype(values.dtype.newbyteorder("="), copy=False)
        if self.conj:
            values = np.conj(values)
        if self.neg:
            values = np.negative(values)
        if not (values.flags.c_contiguous and values.flags.owndata):  # (np.ascontiguousarray makes 0-d 1-d)
            values = values.copy(order="C")
        return values

    def _read_dtype(self) -> np.dtype:
        dtype = np.dtype(self.dtype)
        return dtype.newbyteorder(">") if self.storage.reader.big_endian else dtype


class _Callable(_Inert):
    """An allowed function or constructor, called by the pickle's REDUCE opcode on plain data. (Handing out the
    wrapper, never the class itself, keeps a BUILD opcode from setting attributes on a class.)"""

    __slots__ = ("name", "function")

    def __init__(self, name: str, function: Any) -> None:
        self._init(name=name, function=function)

    def __call__(self, *args: Any) -> Any:
        return self.function(*args)


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} is {value!r}, not an integer")
    return value


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)):
        raise ValueError(f"{what} is {value!r}, not a tuple of integers")
    return tuple(_as_int(v, what) for v in value)


def _tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, metadata: Any = None,
            torch_dtype: str | None = None) -> _Tensor:
    if not isinstance(storage, _Storage):
        raise ValueError(f"a tensor's storage is {storage!r}, not a storage record")
    offset = _as_int(storage_offset, "a tensor's storage offset")
    size, stride = _ints(size, "a tensor's size"), _ints(stride, "a tensor's stride")
    if len(size) != len(stride) or any(n < 0 for n in size) or any(s < 0 for s in stride) or offset < 0:
        raise ValueError(f"a tensor has inconsistent size {size}, stride {stride}, storage offset {offset}")
    metadata = dict(metadata or {})
    unknown = set(metadata) - {"conj", "neg"}
    if unknown:
        raise ValueError(f"a tensor carries metadata {sorted(unknown)} that is not read without torch")
    if torch_dtype is None:  # a typed storage (rebuild v1 / v2)
        dtype, torch_dtype = storage.dtype, storage.torch_dtype
    else:  # an untyped storage (rebuild v3): numel counts bytes
        dtype = _TORCH_DTYPES[torch_dtype]
        if dtype is None:
            raise ValueError(f"a tensor has dtype torch.{torch_dtype}, which numpy cannot represent; convert it with "
                             "torch first (e.g. tensor.float())")
    numel = storage.numel * np.dtype(storage.dtype).itemsize // np.dtype(dtype).itemsize  # in this dtype
    if 0 not in size and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= numel:
        raise ValueError(f"a tensor of size {size}, stride {stride}, storage offset {offset} reads past the end of "
                         f"its storage {storage.key!r} of {numel} elements")
    return _Tensor(storage, dtype, torch_dtype, offset, size, stride, bool(metadata.get("conj")),
                   bool(metadata.get("neg")))


def _check_hooks(backward_hooks: Any) -> None:
    if backward_hooks:
        raise ValueError("a tensor has backward hooks, which are code and are not read")


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    _check_hooks(backward_hooks)
    return _tensor(storage, storage_offset, size, stride, metadata)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None):
    _check_hooks(backward_hooks)
    if not (isinstance(dtype, _Global) and dtype.kind == "dtype"):
        raise ValueError(f"a tensor's dtype is {dtype!r}, not a torch dtype")
    return _tensor(storage, storage_offset, size, stride, metadata, torch_dtype=dtype.name)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    _check_hooks(backward_hooks)
    if not isinstance(data, _Tensor):
        raise ValueError(f"a Parameter's data is {type(data).__name__}, not a tensor")
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _rebuild_from_type_v2(func, new_type, args, state):
    """A tensor with Python attributes (`state`, dropped here); only the plain `torch.Tensor` type is accepted."""
    rebuilds = (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter,
                _rebuild_parameter_with_state)
    if not (isinstance(new_type, _Global) and new_type.kind == "type" and isinstance(func, _Callable)
            and func.function in rebuilds and isinstance(args, tuple)):
        raise ValueError(f"a tensor subclass {new_type!r} is not read without torch")
    return func(*args)


def _encode(text, encoding="latin1"):
    """`_codecs.encode`: how pickle protocol 2 writes a bytes object (its latin-1 text)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise ValueError(f"_codecs.encode is called on {type(text).__name__}, {encoding!r}, not text")
    return text.encode(encoding)


def _device(*args):
    """`torch.device(type, index)`, read as its string ("cpu", "cuda:0")."""
    if not args or not all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in args):
        raise ValueError(f"torch.device is called on {args!r}")
    return ":".join(str(a) for a in args)


# Plain data that torch's own weights_only unpickler also accepts and that may appear beside a state dict (a
# checkpoint's "meta" saved with pickle protocol 2): bytes, sets, complex numbers, sizes, devices.
_DATA = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "Counter"): collections.Counter,
    ("_codecs", "encode"): _encode,
    ("builtins", "set"): set,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("torch", "Size"): tuple,
    ("torch", "device"): _device,
}

_FUNCTIONS = {
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
}


class _RefusedGlobal(ValueError):
    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualified_name = f"{module}.{name}"


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals a state dict needs, to inert stand-ins (module docstring); refuses the rest."""

    def __init__(self, file: Any, reader: _ArchiveReader) -> None:
        super().__init__(file)
        self._reader = reader

    def find_class(self, module: str, name: str) -> Any:
        # Protocol 2 writes Python 2 names (__builtin__.set, ...); the stock find_class maps them back, so does this.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[module, name]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if (module, name) in _DATA:
            return _Callable(name, _DATA[(module, name)])
        if (module, name) in _FUNCTIONS:
            return _Callable(name, _FUNCTIONS[(module, name)])
        if module in ("torch", "torch.cuda") and name in _STORAGE_DTYPES:  # torch.cuda.*: old files saved on GPU
            return _Global("storage", name)
        if (module, name) == ("torch.storage", "UntypedStorage") or (module, name) == ("torch", "UntypedStorage"):
            return _Global("storage", "UntypedStorage")
        if module == "torch" and name in _TORCH_DTYPES:
            return _Global("dtype", name)
        if (module, name) == ("torch", "Tensor"):
            return _Global("type", "Tensor")
        raise _RefusedGlobal(module, name)

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise ValueError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        if not (isinstance(storage_type, _Global) and storage_type.kind == "storage") or not isinstance(key, str):
            raise ValueError(f"unexpected storage record {pid!r}")
        return self._reader.storage(key, storage_type.name, _as_int(numel, f"storage {key!r}'s numel"))


class _ArchiveReader:
    """The open zip of one torch.save file: its records under `prefix`, storages read and cached by key."""

    def __init__(self, path: str, archive: zipfile.ZipFile, prefix: str) -> None:
        self.path, self.archive, self.prefix = path, archive, prefix
        self._storages: dict[tuple[str, str, int], _Storage] = {}
        self._bytes: dict[str, np.ndarray] = {}
        order = self.read(f"{prefix}byteorder").strip() if f"{prefix}byteorder" in self.names() else b"little"
        if order not in (b"little", b"big"):
            raise ValueError(f"{path}: byteorder record is {order!r}, not 'little' or 'big'")
        self.big_endian = order == b"big"

    def names(self) -> set[str]:
        return set(self.archive.namelist())

    def read(self, name: str) -> bytes:
        try:
            return self.archive.read(name)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:  # CRC mismatch, truncated member
            raise ValueError(f"{self.path} is corrupt: cannot read {name!r} ({error})") from None

    def storage(self, key: str, storage_type: str, numel: int) -> _Storage:
        if (key, storage_type, numel) in self._storages:
            return self._storages[key, storage_type, numel]
        name = f"{self.prefix}data/{key}"
        try:
            nbytes = self.archive.getinfo(name).file_size
        except KeyError:
            raise ValueError(f"storage {key!r} is missing from the archive (no {name!r})") from None
        if storage_type == "UntypedStorage":
            dtype, torch_dtype, needed = "u1", None, numel
        else:
            dtype, torch_dtype = _STORAGE_DTYPES[storage_type], _STORAGE_TORCH_DTYPE[storage_type]
            needed = numel * np.dtype(dtype).itemsize
        if numel < 0 or nbytes < needed:
            raise ValueError(f"storage {key!r} holds {nbytes} bytes, fewer than its {numel} elements need")
        self._storages[key, storage_type, numel] = _Storage(self, key, dtype, numel, torch_dtype)
        return self._storages[key, storage_type, numel]

    def storage_array(self, storage: _Storage, dtype: np.dtype) -> np.ndarray:
        """The storage's bytes (read once) as a read-only flat array of `dtype`."""
        if storage.key not in self._bytes:
            self._bytes[storage.key] = np.frombuffer(self.read(f"{self.prefix}data/{storage.key}"), np.uint8)
        raw = self._bytes[storage.key]
        return raw[: len(raw) // dtype.itemsize * dtype.itemsize].view(dtype)


def _open_archive(path: str) -> zipfile.ZipFile:
    with open(path, "rb") as f:
        head = f.read(64)
    if not zipfile.is_zipfile(path):
        if head.startswith(b"PK"):
            raise ValueError(f"{path} is a corrupt or truncated zip archive (not readable as torch.save's format)")
        if head[:2] == b"\x80\x02" and head[2:2 + len(_LEGACY_MAGIC)] == _LEGACY_MAGIC:
            raise ValueError(f"{path} is in torch's legacy (pre-1.6, non-zip) serialization format, which is not "
                             f"read without torch (reading it means unpickling it); {_CONVERT}")
        kind = "a bare pickle" if head[:1] == b"\x80" else "neither a zip archive nor a pickle"
        raise ValueError(f"{path} is not a torch.save zip archive ({kind}); if it is an old torch checkpoint, "
                         f"{_CONVERT}")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ValueError(f"{path} is a corrupt zip archive ({error})") from None


def _archive_prefix(path: str, names: list[str]) -> str:
    pickles = sorted(n for n in names if n.endswith("/data.pkl") and n.count("/") == 1)
    if not pickles:
        raise ValueError(f"{path} is a zip archive but not one written by torch.save: it has no <archive>/data.pkl")
    prefix = pickles[0][: -len("data.pkl")]
    if f"{prefix}constants.pkl" in names or any(n.startswith(f"{prefix}code/") for n in names):
        raise ValueError(f"{path} is a TorchScript archive (torch.jit.save), not a state dict; load it with torch "
                         "(m = torch.jit.load(path)) and torch.save(m.state_dict(), 'weights.pth')")
    return prefix


def _load(path: str) -> Any:
    """The unpickled object of a torch.save archive, its tensors as `_Tensor` stand-ins (not yet read)."""
    with _open_archive(path) as archive:
        names = archive.namelist()
        reader = _ArchiveReader(path, archive, _archive_prefix(path, names))
        data = reader.read(f"{reader.prefix}data.pkl")
        try:
            obj = _RestrictedUnpickler(io.BytesIO(data), reader).load()
        except _RefusedGlobal as refused:
            raise ValueError(
                f"{path} is not a plain state dict: it pickles {refused.qualified_name}, which is not read without "
                "torch (unpickling it could run arbitrary code). Load it with torch (torch.load(path, "
                "weights_only=False), only for a file you trust) and save model.state_dict() (or the checkpoint's "
                "state dict of tensors) with torch.save"
            ) from None
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        except Exception as error:  # a malformed pickle: UnpicklingError, EOFError, TypeError, IndexError, ...
            raise ValueError(f"{path}: data.pkl is corrupt ({type(error).__name__}: {error})") from None
        # Read the chosen tensors while the archive is open; the rest (optimizer state, ...) is never read.
        try:
            chosen = state_dict_of(obj)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        return {key: tensor.array() for key, tensor in chosen.items()}


def _is_tensor(value: Any) -> bool:
    return isinstance(value, (np.ndarray, _Tensor))


def _describe(value: Any) -> str:
    scalar = isinstance(value, (int, float, str, bytes, type(None)))
    return f"{type(value).__name__} ({value!r})" if scalar else type(value).__name__


def state_dict_of(obj: Any) -> dict[str, Any]:
    """The state dict (name -> tensor) in what `torch.save` saved: `obj` itself when it is a dict of tensors (numpy
    arrays), else the first of `STATE_DICT_KEYS` ("state_dict", "model", "model_state", "net") it holds as a dict.

    The other entries of such a wrapper ("meta", "optimizer", "epoch", ...) are ignored; inside the state dict every
    entry must be a tensor (ValueError naming the first that is not). When every key starts with "module." (a model
    saved from `nn.DataParallel` / `DistributedDataParallel`), that prefix is stripped from all of them. Returns a
    new plain dict in the saved order.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"the saved object is a {type(obj).__name__}, not a dict of tensors (a state dict)")
    if all(_is_tensor(v) for v in obj.values()):
        state, where = obj, "the state dict"
    else:
        key = next((k for k in STATE_DICT_KEYS if isinstance(obj.get(k), dict)), None)
        if key is None:
            others = [k for k, v in obj.items() if not _is_tensor(v)][:5]
            raise ValueError(
                f"the saved dict is neither a state dict (entries {others} are not tensors) nor a checkpoint that "
                f"holds one under {list(STATE_DICT_KEYS)}; its keys: {list(obj)[:20]}")
        state, where = obj[key], f"the state dict under {key!r}"
    for name, value in state.items():
        if not isinstance(name, str):
            raise ValueError(f"{where} has a key {name!r} that is not a string")
        if not _is_tensor(value):
            raise ValueError(f"{where} has entry {name!r} of type {_describe(value)}, not a tensor")
    if state and all(name.startswith("module.") for name in state):
        return {name[len("module."):]: value for name, value in state.items()}
    return dict(state)


def read_pth(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The state dict in the `torch.save` file at `path` (`.pth` / `.pt`), as {name: numpy array}, without torch.

    Wrapped checkpoints are unwrapped and DataParallel's "module." prefix stripped (`state_dict_of`); only the
    state dict's tensors are read. Arrays keep the tensor's dtype, shape and values (views resolved through their
    storage offset and strides), native byte order, C-contiguous and writable; bfloat16 is returned as float32.

    Raises FileNotFoundError when `path` does not exist, and ValueError naming the file when it is not a plain
    state dict in torch's zip format: the legacy format, TorchScript, pickled globals other than tensors (a whole
    model, arbitrary code), a corrupt or truncated file (module docstring).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"PyTorch weights file not found: {path!r}")
    return _load(path)
