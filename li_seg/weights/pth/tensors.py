"""What a torch.save pickle may hold besides plain data: inert stand-ins for torch's storages, dtypes and tensors,
each tensor checked against the storage it views before anything is read.

A tensor is (storage, offset, size, stride): it is accepted only when every element it addresses lies inside its
storage, and when it holds at most `EXPANSION_LIMIT` bytes more than that storage (a stride-0 expanded or
overlapping view repeats its storage's bytes; torch.save keeps the view, so a 642-byte file can otherwise declare a
gigabyte). Sizes are computed with Python integers, so no declared size overflows.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
from numpy.lib.stride_tricks import as_strided

from li_seg.weights.errors import WeightsError, short

# The most bytes a tensor may hold beyond those of its storage (a stride-0 expansion), and the most the arrays read
# from one file may hold beyond twice the file's size (views sharing storages). Real state dicts need neither.
EXPANSION_LIMIT = 64 * 2**20
_EXPANSION = (f"at most {EXPANSION_LIMIT // 2**20} MiB (li_seg.weights.pth.EXPANSION_LIMIT); if the file is "
              "yours, re-save it with torch with each tensor cloned ({k: v.clone() for k, v in state.items()})")

# Storage class -> numpy dtype of its elements (little-endian; bfloat16 read as its raw 16 bits).
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "<u2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?", "ComplexFloatStorage": "<c8", "ComplexDoubleStorage": "<c16",
}
BFLOAT16 = "bfloat16"
STORAGE_TORCH_DTYPE = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16", "BFloat16Storage": BFLOAT16,
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8",
    "ByteStorage": "uint8", "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}

# torch dtype name (a `torch.<name>` global, as `_rebuild_tensor_v3` pickles it) -> numpy dtype, None: no numpy
# equivalent (refused when a tensor of it is rebuilt).
TORCH_DTYPES: dict[str, Optional[str]] = {
    "float32": "<f4", "float": "<f4", "float64": "<f8", "double": "<f8", "float16": "<f2", "half": "<f2",
    BFLOAT16: "<u2", "int64": "<i8", "long": "<i8", "int32": "<i4", "int": "<i4", "int16": "<i2", "short": "<i2",
    "int8": "i1", "uint8": "u1", "bool": "?", "complex64": "<c8", "cfloat": "<c8", "complex128": "<c16",
    "cdouble": "<c16", "uint16": "<u2", "uint32": "<u4", "uint64": "<u8",
}
TORCH_DTYPES.update({name: None for name in (
    "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2",
    "complex32", "chalf", "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
    "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7", "int1", "int2", "int3", "int4", "int5", "int6",
    "int7", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
)})


class Inert:
    """Base of the stand-ins handed out for torch's globals: no __dict__, attributes frozen after construction."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def _init(self, **fields: Any) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)


class Global(Inert):
    """A torch global that is data, not code: a storage class, a dtype, or the class `torch.Tensor`."""

    __slots__ = ("kind", "name")

    def __init__(self, kind: str, name: str) -> None:
        self._init(kind=kind, name=name)

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class Storage(Inert):
    """One `data/<key>` record: `numel` elements of `dtype` (numpy dtype string; "u1" with numel in bytes for an
    UntypedStorage), its bytes read from `source` (`archive.Archive`) on first use."""

    __slots__ = ("source", "key", "dtype", "numel", "torch_dtype")

    def __init__(self, source: Any, key: str, dtype: str, numel: int, torch_dtype: Optional[str]) -> None:
        self._init(source=source, key=key, dtype=dtype, numel=numel, torch_dtype=torch_dtype)

    @property
    def nbytes(self) -> int:
        return self.numel * np.dtype(self.dtype).itemsize

    def __repr__(self) -> str:
        return f"<storage {short(self.key)} of {self.numel} {self.dtype}>"


class Tensor(Inert):
    """A tensor as pickled, validated against its storage (`make_tensor`); its bytes are read by `array()` only for
    the tensors that end up in the returned state dict."""

    __slots__ = ("storage", "dtype", "torch_dtype", "offset", "size", "stride", "conj", "neg")

    def __init__(self, storage: Storage, dtype: str, torch_dtype: str, offset: int, size: tuple, stride: tuple,
                 conj: bool = False, neg: bool = False) -> None:
        self._init(storage=storage, dtype=dtype, torch_dtype=torch_dtype, offset=offset, size=size, stride=stride,
                   conj=conj, neg=neg)

    @property
    def nbytes(self) -> int:
        return math.prod(self.size) * np.dtype(self.dtype).itemsize

    def __repr__(self) -> str:
        return f"<tensor {self.torch_dtype}{list(self.size)}>"

    def array(self) -> np.ndarray:
        """The values, C-contiguous, writable, native byte order, owning their memory (bfloat16 as float32)."""
        dtype = np.dtype(self.dtype)
        dtype = dtype.newbyteorder(">") if self.storage.source.big_endian else dtype
        if 0 in self.size:
            values = np.zeros(self.size, dtype)
        else:
            flat = self.storage.source.storage_array(self.storage, dtype)  # exactly its elements, checked as read
            values = np.array(as_strided(flat[self.offset:], shape=self.size,
                                         strides=[s * flat.itemsize for s in self.stride], writeable=False))
        if self.torch_dtype == BFLOAT16:
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


def as_int(value: Any, what: str) -> int:
    """`value` when it is an integer of at most 64 bits (torch writes sizes, strides and offsets as int64)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise WeightsError(f"{what} is {short(value)}, not an integer")
    if value.bit_length() > 63:
        raise WeightsError(f"{what} is an integer of {value.bit_length()} bits; torch writes 64-bit ones")
    return value


def ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)):
        raise WeightsError(f"{what} is {short(value)}, not a tuple of integers")
    return tuple(as_int(v, what) for v in value)


def make_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, metadata: Any = None,
                torch_dtype: Optional[str] = None) -> Tensor:
    """A `Tensor` of `storage` after checking that it lies inside it and expands it by at most EXPANSION_LIMIT
    bytes; `torch_dtype` given for an untyped storage (rebuild v3, numel in bytes)."""
    if not isinstance(storage, Storage):
        raise WeightsError(f"a tensor's storage is {short(storage)}, not a storage record")
    offset = as_int(storage_offset, "a tensor's storage offset")
    size, stride = ints(size, "a tensor's size"), ints(stride, "a tensor's stride")
    if len(size) != len(stride) or any(n < 0 for n in size) or any(s < 0 for s in stride) or offset < 0:
        raise WeightsError(f"a tensor has inconsistent size {short(size)}, stride {short(stride)}, storage offset "
                           f"{short(offset)}")
    if metadata is not None and not isinstance(metadata, dict):
        raise WeightsError(f"a tensor's metadata is a {type(metadata).__name__}, not a dict")
    metadata = metadata or {}
    unknown = [key for key in metadata if key not in ("conj", "neg")]
    if unknown:
        raise WeightsError(f"a tensor carries metadata {short(unknown)} that is not read without torch")
    if torch_dtype is None:  # a typed storage (rebuild v1 / v2)
        dtype, torch_dtype = storage.dtype, storage.torch_dtype
    else:  # an untyped storage (rebuild v3): numel counts bytes
        dtype = TORCH_DTYPES[torch_dtype]
        if dtype is None:
            raise WeightsError(f"a tensor has dtype torch.{torch_dtype}, which numpy cannot represent; convert it "
                               "with torch first (e.g. tensor.float())")
    numel = storage.nbytes // np.dtype(dtype).itemsize  # in this dtype
    if 0 not in size and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= numel:
        raise WeightsError(f"a tensor of size {short(size)}, stride {short(stride)}, storage offset {short(offset)} "
                           f"reads past the end of its storage {short(storage.key)} of {short(numel)} elements")
    tensor = Tensor(storage, dtype, torch_dtype, offset, size, stride, bool(metadata.get("conj")),
                    bool(metadata.get("neg")))
    if 0 not in size and tensor.nbytes > storage.nbytes + EXPANSION_LIMIT:
        raise WeightsError(
            f"a tensor of size {short(size)} (stride {short(stride)}) holds {short(tensor.nbytes)} bytes read from "
            f"a storage of {short(storage.nbytes)}: a stride-0 expanded or overlapping view may exceed its storage by "
            f"{_EXPANSION}")
    return tensor


def check_total(tensors: dict[str, Tensor], file_size: int, path: str) -> None:
    """Refuses a state dict whose arrays would together hold more than twice the file's size plus
    EXPANSION_LIMIT bytes (many entries viewing one storage)."""
    total = sum(tensor.nbytes for tensor in tensors.values())
    if total > 2 * file_size + EXPANSION_LIMIT:
        raise WeightsError(
            f"{path}: the state dict's {len(tensors)} tensors would hold {total} bytes, more than twice the file's "
            f"{file_size} (entries viewing the same storage): its views may add {_EXPANSION}")
