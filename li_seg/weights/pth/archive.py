"""The zip archive of a torch.save file, read as torch writes it and nothing more.

torch.save (since torch 1.6) writes a zip whose one top-level folder holds `data.pkl`, `data/<key>` (one raw
storage per key), `byteorder` and bookkeeping records, every member STORED (uncompressed). Before any member is
read, the whole directory is checked: every member stored uncompressed and unencrypted, its stored size equal to its
size and no larger than the archive (a compressed member can expand without bound: a zip bomb). Reading then checks
that the bytes really read are the bytes declared, and that all members read together fit in the archive (members
overlapping one another repeat its bytes); a storage is accepted only when the bytes read hold its elements.
"""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np

from li_seg.weights.errors import WeightsError, short
from li_seg.weights.pth.tensors import STORAGE_DTYPES, STORAGE_TORCH_DTYPE, Storage

CONVERT = (
    "convert it once with torch >= 1.6: python -c \"import torch; torch.save(torch.load('OLD', map_location='cpu', "
    "weights_only=False), 'NEW.pth')\" (weights_only=False only for a file you trust; for a whole pickled model "
    "save model.state_dict() instead)"
)

# torch's legacy serialization starts every file with this pickled magic number (protocol 2, LONG1 of 10 bytes).
_LEGACY_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[2:]
_BYTEORDER_LIMIT = 16  # bytes of the byteorder record ("little" / "big")


class Archive:
    """An open torch.save archive: `prefix` (its folder), `big_endian`, members read by `read`, storages described
    by `storage` and read once by `storage_array`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.size = os.path.getsize(path)
        self._zip = _open_zip(path)
        self._read_total = 0
        self._storages: dict[tuple[str, str, int], Storage] = {}
        self._bytes: dict[str, np.ndarray] = {}
        self._members = {info.filename: info for info in self._zip.infolist()}
        for info in self._members.values():
            self._check_member(info)
        self.prefix = _prefix(path, list(self._members))
        order = (self.read(f"{self.prefix}byteorder", _BYTEORDER_LIMIT).strip()
                 if f"{self.prefix}byteorder" in self._members else b"little")
        if order not in (b"little", b"big"):
            raise WeightsError(f"{path}: byteorder record is {short(order)}, not 'little' or 'big'")
        self.big_endian = order == b"big"

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc) -> None:
        self._zip.close()

    def _check_member(self, info: zipfile.ZipInfo) -> None:
        name = short(info.filename)
        if info.flag_bits & 0x1:
            raise WeightsError(f"{self.path}: member {name} is encrypted; torch.save writes no encrypted members")
        if info.compress_type != zipfile.ZIP_STORED:
            raise WeightsError(
                f"{self.path}: member {name} is compressed (zip method {info.compress_type}); torch.save stores "
                "every member uncompressed, and a compressed member may expand without bound (a zip bomb), so it "
                "is not read. Re-save the state dict with torch.save")
        if info.file_size != info.compress_size or info.file_size > self.size:
            raise WeightsError(f"{self.path}: member {name} declares {info.file_size} bytes, stored as "
                               f"{info.compress_size}, in an archive of {self.size}: the archive is corrupt")

    def read(self, name: str, limit: int | None = None) -> bytes:
        """The bytes of member `name`, checked against its declared size (at most `limit` bytes, and all members
        read together at most the archive's size)."""
        info = self._members[name]
        if limit is not None and info.file_size > limit:
            raise WeightsError(f"{self.path}: member {short(name)} holds {info.file_size} bytes, more than the "
                               f"{limit} it may")
        if self._read_total + info.file_size > self.size:
            raise WeightsError(f"{self.path}: its members together hold more bytes than the archive itself (members "
                               "overlap): the archive is corrupt or hostile")
        self._read_total += info.file_size
        try:
            data = self._zip.read(info)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
            raise WeightsError(f"{self.path} is corrupt: cannot read {short(name)} ({error})") from None
        if len(data) != info.file_size:
            raise WeightsError(f"{self.path} is corrupt: member {short(name)} declares {info.file_size} bytes but "
                               f"holds {len(data)}")
        return data

    def storage(self, key: str, storage_type: str, numel: int) -> Storage:
        """The storage record `data/<key>` (`numel` elements of `storage_type`, in bytes for "UntypedStorage"),
        refused when the member declares fewer bytes than the elements need."""
        if (key, storage_type, numel) in self._storages:
            return self._storages[key, storage_type, numel]
        name = f"{self.prefix}data/{key}"
        if name not in self._members:
            raise WeightsError(f"storage {short(key)} is missing from the archive (no {short(name)})")
        if storage_type == "UntypedStorage":
            dtype, torch_dtype = "u1", None
        else:
            dtype, torch_dtype = STORAGE_DTYPES[storage_type], STORAGE_TORCH_DTYPE[storage_type]
        storage = Storage(self, key, dtype, numel, torch_dtype)
        declared = self._members[name].file_size
        if numel < 0 or declared < storage.nbytes:
            raise WeightsError(f"storage {short(key)} holds {declared} bytes, fewer than its {short(numel)} elements "
                               "need")
        self._storages[key, storage_type, numel] = storage
        return storage

    def storage_array(self, storage: Storage, dtype: np.dtype) -> np.ndarray:
        """The storage's bytes (read once) as a read-only flat array of `dtype`, exactly its elements; refused
        when the bytes read are fewer than its elements need."""
        if storage.key not in self._bytes:
            raw = np.frombuffer(self.read(f"{self.prefix}data/{storage.key}"), np.uint8)
            raw.flags.writeable = False
            self._bytes[storage.key] = raw
        raw = self._bytes[storage.key]
        if raw.size < storage.nbytes:
            raise WeightsError(f"{self.path}: storage {short(storage.key)} holds {raw.size} bytes, fewer than its "
                               f"{short(storage.numel)} elements need")
        return raw[: storage.nbytes].view(dtype)


def _open_zip(path: str) -> zipfile.ZipFile:
    with open(path, "rb") as f:
        head = f.read(64)
    if not zipfile.is_zipfile(path):
        if head.startswith(b"PK"):
            raise WeightsError(f"{path} is a corrupt or truncated zip archive (not readable as torch.save's format)")
        if head[:2] == b"\x80\x02" and head[2:2 + len(_LEGACY_MAGIC)] == _LEGACY_MAGIC:
            raise WeightsError(f"{path} is in torch's legacy (pre-1.6, non-zip) serialization format, which is not "
                               f"read without torch (reading it means unpickling it); {CONVERT}")
        kind = "a bare pickle" if head[:1] == b"\x80" else "neither a zip archive nor a pickle"
        raise WeightsError(f"{path} is not a torch.save zip archive ({kind}); if it is an old torch checkpoint, "
                           f"{CONVERT}")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise WeightsError(f"{path} is a corrupt zip archive ({error})") from None


def _prefix(path: str, names: list[str]) -> str:
    pickles = sorted(n for n in names if n.endswith("/data.pkl") and n.count("/") == 1)
    if not pickles:
        raise WeightsError(f"{path} is a zip archive but not one written by torch.save: it has no "
                           "<archive>/data.pkl")
    prefix = pickles[0][: -len("data.pkl")]
    if f"{prefix}constants.pkl" in names or any(n.startswith(f"{prefix}code/") for n in names):
        raise WeightsError(f"{path} is a TorchScript archive (torch.jit.save), not a state dict; load it with torch "
                           "(m = torch.jit.load(path)) and torch.save(m.state_dict(), 'weights.pth')")
    return prefix
