"""li_seg.weights.pth.unpickler: the pure-Python unpickler of torch.save's data.pkl.

Plain data reads exactly as the standard library's `pickle.loads` reads it, in every protocol (0-5), shared
references included; each limit (tuple depth, hashed parts, memo indices, work budget) holds at its boundary and
refuses one step past it; opcodes that build arbitrary objects are refused by name.
"""

import collections
import pickle
import struct

import pytest

from li_seg.weights import WeightsError
from li_seg.weights.pth import unpickler
from li_seg.weights.pth.unpickler import MAX_DEPTH, MAX_KEY_PARTS, unpickle

PLAIN = {
    "tuple": (1, 2), "set": {1, 2}, "frozenset": frozenset({3}), "bytes": b"x\x00\xff", "bytearray": bytearray(b"y"),
    "none": None, "big": 2**100, "negative": -5, "bool": True, "float": 1.5, "complex": 1 + 2j, "text": "\u00e9",
    "nested": [[1], {"k": "v", 3: (4,)}], "ordered": collections.OrderedDict(a=1),
    "counter": collections.Counter("aab"), "empty": ((), [], {}),
}


def _no_storages(pid):
    raise AssertionError(f"unexpected persistent id {pid!r}")


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_reads_as_pickle_reads_it(protocol):
    data = pickle.dumps(PLAIN, protocol=protocol)
    got = unpickle(data, _no_storages)
    assert got == pickle.loads(data) == PLAIN
    assert type(got["ordered"]) is collections.OrderedDict and type(got["counter"]) is collections.Counter


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_shared_references_stay_shared(protocol):
    inner = [1]
    got = unpickle(pickle.dumps([inner, inner, (inner,)], protocol=protocol), _no_storages)
    assert got[0] is got[1] is got[2][0]


def _nested_tuple(depth: int) -> bytes:
    return b")" + b"\x85" * (depth - 1)  # EMPTY_TUPLE, then TUPLE1 depth - 1 times


def test_tuples_may_nest_max_depth_deep_and_no_deeper():
    assert isinstance(unpickle(b"\x80\x02" + _nested_tuple(MAX_DEPTH) + b".", _no_storages), tuple)
    with pytest.raises(WeightsError, match=f"more than {MAX_DEPTH} deep"):
        unpickle(b"\x80\x02" + _nested_tuple(MAX_DEPTH + 1) + b".", _no_storages)


def _key_of_parts(parts: int) -> bytes:
    """A dict whose key is a flat tuple of `parts` - 1 small ints (parts counted with the tuple itself)."""
    return b"\x80\x02}(" + b"K\x01" * (parts - 1) + b"t" + b"K\x00s."


def test_a_key_may_have_max_key_parts_and_no_more():
    assert len(next(iter(unpickle(_key_of_parts(MAX_KEY_PARTS), _no_storages)))) == MAX_KEY_PARTS - 1
    with pytest.raises(WeightsError, match=f"more than {MAX_KEY_PARTS} parts"):
        unpickle(_key_of_parts(MAX_KEY_PARTS + 1), _no_storages)


def test_shared_sub_tuples_count_each_time_hashing_reaches_them():
    ops = b")"  # t_0 = (); t_i = (t_{i-1}, t_{i-1}): 2^(i+1) - 1 parts
    for _ in range(14):
        ops += b"q\x00" + b"0h\x00h\x00\x86"  # BINPUT 0, POP, BINGET 0 twice, TUPLE2
    key = unpickle(b"\x80\x02" + ops + b".", _no_storages)  # made, not hashed: fine
    assert isinstance(key, tuple)
    with pytest.raises(WeightsError, match="more than 10000 parts"):  # 2^15 - 1 parts as a key
        unpickle(b"\x80\x02}" + ops + b"K\x00s.", _no_storages)


def test_memo_indices_may_not_run_ahead_of_the_opcodes():
    assert unpickle(b"\x80\x02}r\x03\x00\x00\x00.", _no_storages) == {}  # index 3 by the 3rd opcode
    with pytest.raises(WeightsError, match="writes memo entry 4 after 3 opcodes"):
        unpickle(b"\x80\x02}r" + struct.pack("<I", 4) + b".", _no_storages)


def test_work_beyond_the_budget_is_refused(monkeypatch):
    many = b"\x80\x02(" + b"K\x01" * 100 + b"lq\x00" + b"0h\x00" * 50 + b"."  # a list of 100, re-read 50 times
    assert unpickle(many, _no_storages) == [1] * 100
    rebuilt = b"\x80\x02(" + b"K\x01" * 100 + b"lq\x00" + b"0c__builtin__\nset\nh\x00\x85R" * 50 + b"."
    assert unpickle(rebuilt, _no_storages) == {1}
    monkeypatch.setattr(unpickler, "WORK_MINIMUM", 0)  # the pickle's own 4 units per byte, no allowance
    with pytest.raises(WeightsError, match="asks for more work than 4 units per byte"):
        unpickle(rebuilt, _no_storages)  # 50 sets of 100 hashed items: ~10,000 units from ~1,300 bytes


@pytest.mark.parametrize("opcode, data", [
    ("INST", b"(ios\nsystem\n."), ("OBJ", b"(c__builtin__\nset\no."),
    ("NEWOBJ", b"\x80\x02ccollections\nOrderedDict\n)\x81."), ("EXT1", b"\x80\x02\x82\x01."),
    ("PERSID", b"P0\n."), ("NEXT_BUFFER", b"\x80\x05\x97."),
])
def test_opcodes_that_build_objects_are_refused_by_name(opcode, data):
    with pytest.raises(WeightsError, match=f"opcode {opcode} "):
        unpickle(data, _no_storages)


def test_globals_outside_the_allowed_list_are_refused_before_anything_is_called():
    with pytest.raises(WeightsError, match="posix.system"):
        unpickle(b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R.", _no_storages)
    with pytest.raises(WeightsError, match="builtins.getattr"):  # protocol 4's STACK_GLOBAL
        unpickle(b"\x80\x04\x8c\x08builtins\x8c\x07getattr\x93.", _no_storages)


@pytest.mark.parametrize("call, message", [
    (b"c__builtin__\nbytearray\nJ\x00\x00\x00\x40\x85R", "bytearray is called with"),  # bytearray(2**30)
    (b"ccollections\nOrderedDict\n]\x85R", "OrderedDict is called with"),
    (b"c__builtin__\ncomplex\nX\x01\x00\x00\x00a\x85R", "complex is called with"),
])
def test_allowed_constructors_take_only_what_pickle_gives_them(call, message):
    with pytest.raises(WeightsError, match=message):
        unpickle(b"\x80\x02" + call + b".", _no_storages)


def test_corrupt_pickles_say_so():
    for data in (b"\x80\x02}", b"\x80\x02\xff", b"\x80\x02s.", b"\x80\x02e.", b"\x80\x02}]K\x01s."):
        with pytest.raises(WeightsError, match="corrupt|never opened|takes more items"):
            unpickle(data, _no_storages)
