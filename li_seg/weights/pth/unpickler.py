"""A pure-Python unpickler for torch.save's `data.pkl`, built on the standard library's opcode parser
(`pickletools.genops`), that only builds plain data and the stand-ins of `allowed`.

The C unpickler trusts a pickle's structure: a memo write at index 2^26 allocates a gigabyte-sized memo, a tuple
nested a million deep used as a dict key crashes the process when hashed, a tuple built from a hundred shared levels
hashes forever, `bytearray(2**30)` allocates a gigabyte. Here every opcode is executed by code that checks it first:

- globals resolve only through `allowed.resolve` (anything else is refused by name, nothing is imported);
- opcodes that build arbitrary objects (INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT*, text persistent ids, out-of-band
  buffers) are refused;
- memo indices are at most the number of opcodes read so far (pickle numbers them consecutively);
- tuples and frozensets may nest at most `MAX_DEPTH` deep; an object that is hashed (a dict key, a set member) may
  be made of at most `MAX_KEY_PARTS` parts counted with repetition (shared sub-tuples count each time they are
  reached, as hashing reaches them), and the integers in it must fit in 64 bits (a longer one costs its length to
  hash, and integers beyond 64 bits can be chosen to share one hash: a dict of them fills in quadratic time);
  dict items are set one by one, as pickle's SETITEMS does, so only keys are hashed (a Counter's update would
  hash the pairs);
- the work the pickle asks for (opcodes, container sizes, hashing, arguments of the allowed calls) is charged to a
  budget of `WORK_PER_BYTE` units per byte of the pickle, so memory and time stay proportional to its size.
Messages show data read from the file only through a bounded repr (`errors.short`).
"""

from __future__ import annotations

import pickletools
from typing import Any, Callable

from li_seg.weights.errors import WeightsError, short
from li_seg.weights.pth.allowed import Allowed, resolve

MAX_DEPTH = 100
MAX_KEY_PARTS = 10_000
WORK_PER_BYTE = 4
WORK_MINIMUM = 1 << 16

_REFUSED = {
    "INST": "builds an instance of a named class", "OBJ": "builds an instance of a class",
    "NEWOBJ": "builds an instance of a class", "NEWOBJ_EX": "builds an instance of a class",
    "EXT1": "names a global through the extension registry", "EXT2": "names a global through the extension "
    "registry", "EXT4": "names a global through the extension registry",
    "PERSID": "is a text persistent id (torch writes binary ones)", "NEXT_BUFFER": "reads an out-of-band buffer",
    "READONLY_BUFFER": "marks an out-of-band buffer",
}
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_TUPLE_SIZES = {"EMPTY_TUPLE": 0, "TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}


class Unpickler:
    """Executes `data` (a pickle) opcode by opcode; `persistent_load(pid)` resolves BINPERSID records."""

    def __init__(self, data: bytes, persistent_load: Callable[[Any], Any]) -> None:
        self._data = data
        self._persistent_load = persistent_load
        self._budget = WORK_PER_BYTE * len(data) + WORK_MINIMUM
        self._stack: list = []
        self._metastack: list[list] = []
        self._memo: dict[int, Any] = {}
        self._shapes: dict[int, tuple[Any, int, int, bool]] = {}  # id -> (tuple / frozenset, depth, parts, wide)

    def load(self) -> Any:
        try:
            for count, (opcode, arg, position) in enumerate(pickletools.genops(self._data), 1):
                self._spend(1)
                if opcode.name == "STOP":
                    return self._pop()
                self._execute(opcode.name, arg, count, position)
        except IndexError:  # popping an empty stack
            raise WeightsError("data.pkl is corrupt: an opcode takes more items than the stack holds") from None
        except WeightsError:
            raise
        except (ValueError, TypeError) as error:  # genops' parse errors; an unhashable key, a call's bad arguments
            raise WeightsError(f"data.pkl is corrupt ({type(error).__name__}: {short(str(error))})") from None
        raise WeightsError("data.pkl is corrupt: it ends without a STOP opcode")

    # --- bookkeeping -----------------------------------------------------------------------------------------

    def _spend(self, units: int) -> None:
        self._budget -= units
        if self._budget < 0:
            raise WeightsError(
                f"data.pkl asks for more work than {WORK_PER_BYTE} units per byte of its {len(self._data)} bytes "
                "(containers rebuilt or hashed over and over through the memo): a memory or time bomb, refused")

    def _pop(self) -> Any:
        return self._stack.pop()

    def _pop_mark(self) -> list:
        if not self._metastack:
            raise WeightsError("data.pkl is corrupt: an opcode closes a MARK that was never opened")
        items, self._stack = self._stack, self._metastack.pop()
        return items

    def _push(self, value: Any) -> None:
        if isinstance(value, (tuple, frozenset)):
            self._shape(value)
        self._stack.append(value)

    def _shape(self, value: Any) -> tuple[int, int, bool]:
        """(depth, parts, holds an integer wider than 64 bits) of a value; a tuple's or frozenset's is recorded when
        it is made (they are immutable: exact)."""
        if not isinstance(value, (tuple, frozenset)):
            return 0, 1, isinstance(value, int) and value.bit_length() > 63
        if id(value) not in self._shapes:
            children = [self._shape(item) for item in value]  # each recorded already: one level
            depth = 1 + max((d for d, _, _ in children), default=0)
            parts = min(1 + sum(p for _, p, _ in children), MAX_KEY_PARTS + 1)
            if depth > MAX_DEPTH:
                raise WeightsError(f"data.pkl nests tuples more than {MAX_DEPTH} deep; a state dict nests a few")
            wide = any(w for _, _, w in children)
            self._shapes[id(value)] = (value, depth, parts, wide)  # the value kept alive: its id stays its own
        return self._shapes[id(value)][1:]

    def _hashable(self, values: Any) -> None:
        """Checks what is about to be hashed: at most MAX_KEY_PARTS parts each (charged to the budget), no integer
        wider than 64 bits."""
        for value in values:
            depth, parts, wide = self._shape(value)
            if parts > MAX_KEY_PARTS:
                raise WeightsError(f"data.pkl uses as a dict key or set member an object of more than "
                                   f"{MAX_KEY_PARTS} parts (nested {depth} deep, shared parts counted each time "
                                   "hashing reaches them): refused")
            if wide:
                raise WeightsError("data.pkl uses as a dict key or set member an integer wider than 64 bits (slow to "
                                   "hash, and such integers can be chosen to collide): refused")
            self._spend(parts)

    # --- opcodes ---------------------------------------------------------------------------------------------

    def _execute(self, name: str, arg: Any, count: int, position: int) -> None:
        if name in _REFUSED:
            raise WeightsError(f"data.pkl has opcode {name} at byte {position}, which {_REFUSED[name]}; torch.save "
                               "writes no such opcode for a state dict")
        if name in _CONSTANTS:
            self._push(_CONSTANTS[name])
        elif name in _TUPLE_SIZES:
            size = _TUPLE_SIZES[name]
            items = self._stack[len(self._stack) - size:] if size else []
            if len(items) != size:
                raise IndexError
            del self._stack[len(self._stack) - size:]
            self._push(tuple(items))
        elif name in ("PROTO", "FRAME"):
            pass
        elif name in ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
                      "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE",
                      "BINUNICODE8", "SHORT_BINBYTES", "BINBYTES", "BINBYTES8"):
            self._push(arg)  # parsed by genops, bounded by the pickle's bytes
        elif name == "BYTEARRAY8":
            self._push(bytearray(arg))
        elif name == "MARK":
            self._metastack.append(self._stack)
            self._stack = []
        elif name == "POP":
            if self._stack:
                self._pop()
            else:
                self._pop_mark()
        elif name == "POP_MARK":
            self._pop_mark()
        elif name == "DUP":
            self._push(self._stack[-1])
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in self._memo:
                raise WeightsError(f"data.pkl is corrupt: it reads memo entry {short(arg)}, never written")
            self._push(self._memo[arg])
        elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            index = len(self._memo) if name == "MEMOIZE" else arg
            if not isinstance(index, int) or not 0 <= index <= count:
                raise WeightsError(f"data.pkl writes memo entry {short(index)} after {count} opcodes; pickle numbers "
                                   "them consecutively: refused")
            self._memo[index] = self._stack[-1]
        else:
            self._build(name, arg, position)

    def _build(self, name: str, arg: Any, position: int) -> None:
        """The opcodes that make or fill containers, name globals, call them and resolve storages."""
        if name == "TUPLE":
            items = self._pop_mark()
            self._spend(len(items))
            self._push(tuple(items))
        elif name in ("EMPTY_LIST", "LIST"):
            items = self._pop_mark() if name == "LIST" else []
            self._spend(len(items))
            self._push(items)
        elif name in ("APPEND", "APPENDS"):
            items = self._pop_mark() if name == "APPENDS" else [self._pop()]
            self._spend(len(items))
            self._target(list, name).extend(items)
        elif name in ("EMPTY_DICT", "DICT"):
            items = self._pop_mark() if name == "DICT" else []
            self._push(self._set_items({}, items))
        elif name in ("SETITEM", "SETITEMS"):
            items = self._pop_mark() if name == "SETITEMS" else self._pop_pair()
            self._set_items(self._target(dict, name), items)
        elif name in ("EMPTY_SET", "ADDITEMS"):
            if name == "EMPTY_SET":
                self._push(set())
            else:
                items = self._pop_mark()
                self._hashable(items)
                self._target(set, name).update(items)
        elif name == "FROZENSET":
            items = self._pop_mark()
            self._hashable(items)
            self._push(frozenset(items))
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            if name == "GLOBAL":
                module, _, global_name = arg.partition(" ")
            else:
                global_name, module = self._pop(), self._pop()
            self._push(resolve(module, global_name))
        elif name == "REDUCE":
            args, function = self._pop(), self._pop()
            if not isinstance(function, Allowed) or not isinstance(args, tuple):
                raise WeightsError(f"data.pkl calls {short(function)}, which is not a function a state dict needs")
            if function.hashed is not None:
                self._hashable(function.hashed(args))
            self._spend(sum(len(a) for a in args if isinstance(a, (str, bytes, bytearray, list, tuple, dict,
                                                                    set, frozenset))))
            self._push(function(*args))
        elif name == "BUILD":
            self._pop()  # the state: only dicts take one here (an OrderedDict's _metadata), and it is dropped
            self._target(dict, name)
        elif name == "BINPERSID":
            self._push(self._persistent_load(self._pop()))
        else:
            raise WeightsError(f"data.pkl has opcode {name} at byte {position}, which is not read")

    def _pop_pair(self) -> list:
        value, key = self._pop(), self._pop()
        return [key, value]

    def _target(self, kind: type, opcode: str) -> Any:
        target = self._stack[-1]
        if not isinstance(target, kind):
            raise WeightsError(f"data.pkl applies {opcode} to a {type(target).__name__}, not a {kind.__name__}")
        return target

    def _set_items(self, target: dict, items: list) -> dict:
        if len(items) % 2:
            raise WeightsError("data.pkl is corrupt: a dict's items are not key / value pairs")
        keys = items[::2]
        self._hashable(keys)
        self._spend(len(items))
        for key, value in zip(keys, items[1::2]):  # as pickle does: a Counter's update() would count the pairs
            target[key] = value
        return target


def unpickle(data: bytes, persistent_load: Callable[[Any], Any]) -> Any:
    """The object pickled in `data`, built by `Unpickler` (module docstring)."""
    return Unpickler(data, persistent_load).load()
