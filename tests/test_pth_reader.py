"""li_seg.weights.pth: reading torch.save state dicts without torch.

The main fixture (tests/fixtures/tiny_state_dict.pth, .npz: written by tests/fixtures/make_pth_fixture.py with
torch 2.14.1) is a real torch.save file; the other archives are assembled here from pickle opcodes in torch's layout
so that each refusal and each format detail (byte order, prefixes, bad records) is tested without torch. The last
test compares with torch.load on random views and runs only where torch is installed.
"""

import collections
import os
import pathlib
import pickle
import pickletools
import struct
import zipfile

import numpy as np
import pytest

from li_seg.weights import WeightsNotFoundError
from li_seg.weights.pth import read_pth, state_dict_of

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
TINY = FIXTURES / "tiny_state_dict.pth"


# --- a torch-layout archive assembled by hand -------------------------------------------------------------------

def _str(s: str) -> bytes:
    data = s.encode()
    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def _int(i: int) -> bytes:
    return b"\x8a\x08" + struct.pack("<q", i)  # LONG1, 8 bytes


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _ints(values) -> bytes:
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def _tensor(key: str, numel: int, size, stride, offset: int = 0, storage: str = "FloatStorage") -> bytes:
    """The opcodes torch writes for one tensor: _rebuild_tensor_v2(<persistent storage>, offset, size, stride,
    requires_grad=False, OrderedDict())."""
    persistent_id = b"(" + _str("storage") + _global("torch", storage) + _str(key) + _str("cpu") + _int(numel) + b"t"
    args = (persistent_id + b"Q" + _int(offset) + _ints(size) + _ints(stride) + b"\x89"
            + _global("collections", "OrderedDict") + b")R")
    return _global("torch._utils", "_rebuild_tensor_v2") + b"(" + args + b"tR"


def _dict(entries: dict) -> bytes:
    return b"}(" + b"".join(_str(k) + v for k, v in entries.items()) + b"u"


def _pickle(entries: dict) -> bytes:
    return b"\x80\x02" + _dict(entries) + b"."


def _write_archive(path, data_pkl: bytes, storages: dict, byteorder=b"little", extra: dict | None = None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data_pkl)
        if byteorder is not None:
            z.writestr("archive/byteorder", byteorder)
        for key, data in storages.items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", b"3\n")
        for name, data in (extra or {}).items():
            z.writestr(f"archive/{name}", data)
    return path


# --- the real torch.save fixture ------------------------------------------------------------------------------

def test_every_array_equals_torchs_values_dtype_and_shape():
    expected = np.load(FIXTURES / "tiny_state_dict.npz")
    state = read_pth(TINY)
    assert list(state) == list(expected.files)  # the wrapper's "meta" is dropped, the saved order kept
    for name in expected.files:
        got, want = state[name], expected[name]
        assert got.dtype == want.dtype, name
        assert got.shape == want.shape, name
        np.testing.assert_array_equal(got, want, err_msg=name)
        assert got.flags.c_contiguous and got.flags.writeable and got.flags.owndata, name


def test_the_fixture_covers_what_it_is_meant_to():
    state = read_pth(str(TINY))  # a str path works too
    assert state["conv.weight"].shape == (4, 3, 3, 3) and state["conv.weight"].dtype == np.float32
    assert state["bn.num_batches_tracked"].shape == () and state["bn.num_batches_tracked"].dtype == np.int64
    assert int(state["bn.num_batches_tracked"]) == 2
    assert state["half"].dtype == np.float16
    assert state["bf16"].dtype == np.float32  # bfloat16 comes back as float32
    bf16_bits = state["bf16"].view(np.uint32)
    assert np.all(bf16_bits & 0xFFFF == 0) and np.any(state["bf16"] != 0)  # exactly bfloat16 values
    base = state["shared.base"]
    np.testing.assert_array_equal(state["shared.transposed"], base.T)
    np.testing.assert_array_equal(state["shared.slice"], base[1:, 2:])
    np.testing.assert_array_equal(state["shared.expanded"], np.broadcast_to(base[0], (2, 5)))
    state["shared.slice"][0, 0] = 1e6  # each array owns its memory: views do not alias after reading
    assert base[1, 2] != 1e6
    np.testing.assert_array_equal(state["uint16"], np.array([0, 1, 65535], np.uint16))
    assert state["mask"].dtype == np.bool_ and state["int8"].dtype == np.int8


def test_fixture_is_real_torch_save_output():
    with zipfile.ZipFile(TINY) as z:
        names = z.namelist()
        pickled = z.read("tiny_state_dict/data.pkl")
    assert "tiny_state_dict/byteorder" in names and "tiny_state_dict/.data/serialization_id" in names
    globals_ = {arg for op, arg, _ in pickletools.genops(pickled) if op.name == "GLOBAL"}
    assert {"torch._utils _rebuild_tensor_v2", "torch._utils _rebuild_tensor_v3", "torch BFloat16Storage",
            "torch.storage UntypedStorage", "torch uint16", "torch._tensor _rebuild_from_type_v2",
            "torch._utils _rebuild_parameter"} <= globals_
    assert TINY.stat().st_size < 20_000


def test_legacy_format_is_refused_with_the_conversion():
    with pytest.raises(ValueError) as error:
        read_pth(FIXTURES / "tiny_legacy.pth")
    message = str(error.value)
    assert "tiny_legacy.pth" in message and "legacy" in message
    assert "torch.save(torch.load('OLD', map_location='cpu'" in message and "torch >= 1.6" in message


# --- hand-built archives --------------------------------------------------------------------------------------

@pytest.mark.parametrize("order", ["little", "big"])
def test_byte_order_record_is_honoured(tmp_path, order):
    values = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    code = "<" if order == "little" else ">"
    path = _write_archive(tmp_path / "w.pth", _pickle({"w": _tensor("0", 6, (2, 3), (3, 1))}),
                          {"0": values.astype(code + "f4").tobytes()}, byteorder=order.encode())
    got = read_pth(path)["w"]
    assert got.dtype == np.float32 and got.dtype.isnative
    np.testing.assert_array_equal(got, values)


def test_missing_byteorder_record_means_little_endian(tmp_path):
    path = _write_archive(tmp_path / "w.pth", _pickle({"w": _tensor("0", 3, (3,), (1,), storage="LongStorage")}),
                          {"0": np.array([1, -2, 3], "<i8").tobytes()}, byteorder=None)
    np.testing.assert_array_equal(read_pth(path)["w"], [1, -2, 3])


def test_data_parallel_prefix_and_wrapper_end_to_end(tmp_path):
    state = _dict({"module.a": _tensor("0", 2, (2,), (1,)), "module.b": _tensor("0", 2, (1,), (1,), offset=1)})
    data_pkl = b"\x80\x02" + _dict({"epoch": _int(7), "model": state, "optimizer": _dict({})}) + b"."
    path = _write_archive(tmp_path / "dp.pth", data_pkl, {"0": np.array([4.0, 5.0], "<f4").tobytes()})
    got = read_pth(path)
    assert list(got) == ["a", "b"]
    np.testing.assert_array_equal(got["a"], [4.0, 5.0])
    np.testing.assert_array_equal(got["b"], [5.0])


def test_a_pickled_os_system_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    payload = pickle.dumps({"w": Payload()}, protocol=2)
    assert any(op.name == "REDUCE" for op, _, _ in pickletools.genops(payload))  # the payload would call system
    path = _write_archive(tmp_path / "evil.pth", payload, {})
    with pytest.raises(ValueError) as error:
        read_pth(path)
    message = str(error.value)
    assert "evil.pth" in message and "is not a plain state dict" in message and "system" in message
    assert "state_dict()" in message
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [
    ("builtins", "eval"), ("torch.nn.modules.conv", "Conv2d"), ("argparse", "Namespace"), ("numpy", "dtype"),
    ("torch", "load"), ("collections", "defaultdict"),
])
def test_any_other_global_is_refused_by_name(tmp_path, module, name):
    data_pkl = b"\x80\x02" + _dict({"w": _global(module, name) + b")R"}) + b"."
    with pytest.raises(ValueError, match=f"it pickles {module}.{name}"):
        read_pth(_write_archive(tmp_path / "x.pth", data_pkl, {}))


def test_python2_names_of_protocol_2_are_mapped_before_the_check(tmp_path):
    data_pkl = b"\x80\x02" + _dict({"w": _global("__builtin__", "eval") + b"(" + _str("1") + b"tR"}) + b"."
    with pytest.raises(ValueError, match="it pickles builtins.eval"):
        read_pth(_write_archive(tmp_path / "x.pth", data_pkl, {}))


def test_plain_data_beside_the_state_dict_is_read_and_ignored(tmp_path):
    meta = {"bytes": b"\x00\xffab", "set": {1, 2}, "complex": 1 + 2j, "bytearray": bytearray(b"z"),
            "counter": collections.Counter("aab"), "tuple": (1, "x"), "none": None, "float": 0.5}
    pickled_meta = pickle.dumps(meta, protocol=2)
    globals_ = {arg for op, arg, _ in pickletools.genops(pickled_meta) if op.name == "GLOBAL"}
    assert {"_codecs encode", "__builtin__ set", "__builtin__ complex", "collections Counter"} <= globals_
    data_pkl = b"\x80\x02" + _dict({"meta": pickled_meta[2:-1], "state_dict": _dict({"w": _tensor("0", 1, (), ())})})
    got = read_pth(_write_archive(tmp_path / "m.pth", data_pkl + b".", {"0": np.float32(1.5).tobytes()}))
    assert list(got) == ["w"] and got["w"].shape == () and got["w"] == 1.5


def test_torchscript_archive_is_refused(tmp_path):
    path = _write_archive(tmp_path / "ts.pt", _pickle({}), {}, extra={"constants.pkl": pickle.dumps(()),
                                                                     "code/__torch__/m.py": b""})
    with pytest.raises(ValueError, match="TorchScript.*torch.jit.load"):
        read_pth(path)


def test_storage_shorter_than_its_elements_is_refused(tmp_path):
    path = _write_archive(tmp_path / "s.pth", _pickle({"w": _tensor("0", 6, (6,), (1,))}), {"0": b"\0" * 20})
    with pytest.raises(ValueError, match="s.pth.*storage '0' holds 20 bytes"):
        read_pth(path)


def test_tensor_reaching_past_its_storage_is_refused(tmp_path):
    path = _write_archive(tmp_path / "s.pth", _pickle({"w": _tensor("0", 6, (3, 3), (3, 1))}), {"0": b"\0" * 24})
    with pytest.raises(ValueError, match="reads past the end"):
        read_pth(path)


def test_missing_storage_record_is_refused(tmp_path):
    path = _write_archive(tmp_path / "s.pth", _pickle({"w": _tensor("7", 1, (1,), (1,))}), {})
    with pytest.raises(ValueError, match="storage '7' is missing"):
        read_pth(path)


def test_truncated_file_is_refused(tmp_path):
    data = TINY.read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        path = tmp_path / f"cut{cut}.pth"
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=f"cut{cut}.pth is a corrupt or truncated zip"):
            read_pth(path)


def test_corrupt_storage_bytes_fail_the_crc(tmp_path):
    data = bytearray(TINY.read_bytes())
    with zipfile.ZipFile(TINY) as z:
        info = z.getinfo("tiny_state_dict/data/0")
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    data[start] ^= 0xFF
    path = tmp_path / "flipped.pth"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="flipped.pth is corrupt"):
        read_pth(path)


def test_garbage_data_pkl_is_refused(tmp_path):
    with pytest.raises(ValueError, match="g.pth: data.pkl is corrupt"):
        read_pth(_write_archive(tmp_path / "g.pth", b"\x80\x02}(X\xff\xff", {}))


def test_other_files_are_refused(tmp_path):
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"w": [1.0]}, protocol=2))
    with pytest.raises(ValueError, match="plain.pkl is not a torch.save zip archive .a bare pickle"):
        read_pth(tmp_path / "plain.pkl")
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(ValueError, match="neither a zip archive nor a pickle"):
        read_pth(tmp_path / "text.pth")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(ValueError, match="no <archive>/data.pkl"):
        read_pth(tmp_path / "other.zip")


def test_missing_file_raises_weights_not_found(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="nowhere.pth"):
        read_pth(tmp_path / "nowhere.pth")


# --- state_dict_of ------------------------------------------------------------------------------------------

def _arrays(*names):
    return {name: np.full((2,), i, np.float32) for i, name in enumerate(names)}


def test_state_dict_of_a_plain_state_dict_is_itself():
    state = _arrays("a.weight", "b.bias")
    got = state_dict_of(state)
    assert list(got) == ["a.weight", "b.bias"] and got["b.bias"] is state["b.bias"]
    assert state_dict_of({}) == {}


@pytest.mark.parametrize("key", ["state_dict", "model", "model_state", "net"])
def test_state_dict_of_unwraps_checkpoints(key):
    state = _arrays("conv.weight")
    wrapped = {"meta": {"epoch": 3, "CLASSES": ("a", "b")}, "optimizer": {"state": {}}, "epoch": 3, key: state}
    assert list(state_dict_of(wrapped)) == ["conv.weight"]


def test_state_dict_of_looks_for_keys_in_order():
    got = state_dict_of({"model": _arrays("m"), "state_dict": _arrays("s"), "meta": {}})
    assert list(got) == ["s"]


def test_state_dict_of_strips_module_only_when_every_key_has_it():
    assert list(state_dict_of(_arrays("module.a", "module.b.c"))) == ["a", "b.c"]
    assert list(state_dict_of({"state_dict": _arrays("module.a", "module.module.b")})) == ["a", "module.b"]
    assert list(state_dict_of(_arrays("module.a", "b"))) == ["module.a", "b"]


def test_state_dict_of_refuses_non_tensors_inside_the_state_dict():
    with pytest.raises(ValueError, match=r"under 'state_dict' has entry 'epoch' of type int \(3\), not a tensor"):
        state_dict_of({"state_dict": {**_arrays("a"), "epoch": 3}, "meta": {}})


def test_state_dict_of_refuses_what_holds_no_state_dict():
    with pytest.raises(ValueError, match=r"neither a state dict.*'epoch'.*keys: \['epoch', 'weights'\]"):
        state_dict_of({"epoch": 3, "weights": _arrays("a")})
    with pytest.raises(ValueError, match="is a list"):
        state_dict_of([np.zeros(2)])
    with pytest.raises(ValueError, match="not a string"):
        state_dict_of({0: np.zeros(2)})


# --- against torch.load (needs torch) ----------------------------------------------------------------------------

def test_matches_torch_load_on_random_views(tmp_path):
    torch = pytest.importorskip("torch")
    generator = torch.Generator().manual_seed(0)
    state = {}
    for i in range(40):
        dtype = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
                 torch.uint8, torch.bool, torch.complex64][i % 9]
        base = (torch.randn(4, 5, 6, generator=generator) * 50).to(dtype)
        view = [base, base.permute(2, 0, 1), base[1:, ::2, 3:], base[:, 2], base.transpose(0, 2)[1:3],
                base[2, 3, 4], base[:0], base[1:2].expand(3, 5, 6)][i % 8]
        state[f"t{i}"] = view
        state[f"t{i}.base"] = base
    path = tmp_path / "random.pth"
    torch.save({"state_dict": state, "meta": {"seed": 0}}, path)
    loaded = torch.load(path, weights_only=True)["state_dict"]
    got = read_pth(path)
    assert list(got) == list(loaded)
    for name, tensor in loaded.items():
        want = (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).contiguous().numpy()
        assert got[name].dtype == want.dtype and got[name].shape == want.shape, name
        np.testing.assert_array_equal(got[name], want, err_msg=name)


# --- second lines of defence (each reached here through a stub: the first line stops real files before) ---------

def _four_floats(tmp_path):
    return _write_archive(tmp_path / "w.pth", _pickle({"w": _tensor("0", 4, (4,), (1,))}),
                          {"0": np.arange(4, dtype="<f4").tobytes()})


def test_a_storage_is_checked_against_the_bytes_actually_read(tmp_path, monkeypatch):
    from li_seg.weights.pth.archive import Archive

    real = Archive.read
    monkeypatch.setattr(Archive, "read", lambda self, name, limit=None: real(self, name, limit)[:8]
                        if name.endswith("data/0") else real(self, name, limit))
    with pytest.raises(ValueError, match="storage '0' holds 8 bytes, fewer than its 4 elements need"):
        read_pth(_four_floats(tmp_path))


def test_members_read_together_may_not_exceed_the_archive(tmp_path, monkeypatch):
    from li_seg.weights.pth import archive

    path = _four_floats(tmp_path)
    with zipfile.ZipFile(path) as z:
        sizes = {info.filename: info.file_size for info in z.infolist()}
    pretended = sizes["archive/data.pkl"] + 10  # each member fits, data.pkl + byteorder + the storage do not
    monkeypatch.setattr(archive.os.path, "getsize", lambda _: pretended)
    with pytest.raises(ValueError, match="members together hold more bytes than the archive itself"):
        read_pth(path)
