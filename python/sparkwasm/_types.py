"""Rust element type strings, and the shuffle partitioning the worker uses.

Descriptors name element types as the author spelled them (``(String,i64)``). The driver
compares them as strings, after removing whitespace, to reject a pipeline whose steps cannot
fit together before Spark runs anything. It does not try to understand Rust's type system:
``&str`` and ``String`` are different spellings and so different types here.

The worker sends each ``(key, value)`` record of a shuffle to reduce partition
``fnv1a64(postcard(key)) % partitions`` (``sparkwasm_abi::partition_of``). PySpark code that
asks an RDD's ``partitioner`` where a key lives (``RDD.lookup``) needs the same answer in
Python, so :class:`KeyPartitionFunc` re-implements postcard's encoding for the key types that
make sense as keys: integers, ``bool``, ``char``, ``String``, ``Option``, ``Vec`` and tuples.
"""

from __future__ import annotations

import re
from typing import Any, List, Optional, Tuple

__all__ = ["KeyPartitionFunc", "normalize", "split_pair", "stable_hash"]

_WHITESPACE = re.compile(r"\s+")


def normalize(spelled: str) -> str:
    """The comparable form of a type string: whitespace removed."""
    return _WHITESPACE.sub("", spelled)


def _split_top_level(inner: str) -> List[str]:
    """Splits ``A,B<C,D>,(E,F)`` at commas that are not nested in brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch in "<([":
            depth += 1
        elif ch in ">)]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    if parts and parts[-1] == "":
        parts.pop()  # `(T,)` is a one-tuple in Rust
    return parts


def _tuple_elements(spelled: str) -> Optional[List[str]]:
    t = normalize(spelled)
    if not (t.startswith("(") and t.endswith(")")):
        return None
    # `(A)(B)` is not one tuple: the opening paren must close at the very end.
    depth = 0
    for i, ch in enumerate(t):
        if ch in "<([":
            depth += 1
        elif ch in ">)]":
            depth -= 1
            if depth == 0 and i != len(t) - 1:
                return None
    return _split_top_level(t[1:-1])


def split_pair(spelled: str) -> Optional[Tuple[str, str]]:
    """``(K, V)`` of a 2-tuple type string, or ``None`` when it is not a 2-tuple."""
    parts = _tuple_elements(spelled)
    if parts is None or len(parts) != 2:
        return None
    return parts[0], parts[1]


def stable_hash(data: bytes) -> int:
    """FNV-1a 64 of ``data``: the hash behind the worker's shuffle partitioning."""
    h = 0xCBF2_9CE4_8422_2325
    for byte in data:
        h ^= byte
        h = (h * 0x0100_0000_01B3) & 0xFFFF_FFFF_FFFF_FFFF
    return h


# --- postcard encoding of keys -------------------------------------------------------------

_UNSIGNED_BITS = {"u16": 16, "u32": 32, "u64": 64, "u128": 128, "usize": 32}
_SIGNED_BITS = {"i16": 16, "i32": 32, "i64": 64, "i128": 128, "isize": 32}
_STRING_TYPES = {"String", "str", "&str"}

# A parsed type: ("prim", name) | ("option", t) | ("seq", t) | ("tuple", [t, ...])
_Type = Tuple[str, Any]


def _parse_type(spelled: str) -> _Type:
    t = normalize(spelled)
    elements = _tuple_elements(t)
    if elements is not None:
        return ("tuple", [_parse_type(e) for e in elements])
    if t.startswith("&[") and t.endswith("]"):
        return ("seq", _parse_type(t[2:-1]))
    lt = t.find("<")
    # Paths (`std::string::String`, `std::vec::Vec<u8>`) name the same types as their last
    # segment.
    if lt == -1:
        return ("prim", t.rsplit("::", 1)[-1])
    head, inner = t[:lt].rsplit("::", 1)[-1], t[lt + 1 : -1]
    if t.endswith(">"):
        if head == "Option":
            return ("option", _parse_type(inner))
        if head == "Vec":
            return ("seq", _parse_type(inner))
        if head == "Box" and inner == "str":
            return ("prim", "String")
    return ("prim", t)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _encode(value: Any, ty: _Type, out: bytearray) -> None:
    kind, arg = ty
    if kind == "tuple":
        if not isinstance(value, (tuple, list)) or len(value) != len(arg):
            raise TypeError(f"expected a tuple of {len(arg)} elements, got {value!r}")
        for item, item_ty in zip(value, arg):
            _encode(item, item_ty, out)
    elif kind == "option":
        if value is None:
            out.append(0)
        else:
            out.append(1)
            _encode(value, arg, out)
    elif kind == "seq":
        items = list(value)
        out += _varint(len(items))
        for item in items:
            _encode(item, arg, out)
    elif arg == "bool":
        out.append(1 if value else 0)
    elif arg in ("u8", "i8"):
        n = int(value)
        low, high = (0, 255) if arg == "u8" else (-128, 127)
        if not low <= n <= high:
            raise TypeError(f"{value!r} does not fit in {arg}")
        out.append(n & 0xFF)  # postcard writes 8-bit integers as one raw byte
    elif arg in _UNSIGNED_BITS:
        n = int(value)
        if not 0 <= n < 1 << _UNSIGNED_BITS[arg]:
            raise TypeError(f"{value!r} does not fit in {arg}")
        out += _varint(n)
    elif arg in _SIGNED_BITS:
        n, bits = int(value), _SIGNED_BITS[arg]
        if not -(1 << (bits - 1)) <= n < 1 << (bits - 1):
            raise TypeError(f"{value!r} does not fit in {arg}")
        out += _varint((n << 1) ^ (n >> (bits - 1)) if n < 0 else n << 1)  # zigzag
    elif arg in _STRING_TYPES or arg == "char":
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        raw = str(value).encode("utf-8")
        out += _varint(len(raw))
        out += raw
    else:
        raise TypeError(f"unsupported key type {arg}")


class KeyPartitionFunc:
    """The worker's shuffle partitioning as a PySpark ``partitionFunc``.

    ``Partitioner(n, KeyPartitionFunc(key_type))(key)`` is the reduce partition the worker
    chose for ``key``. Two instances are equal when their key types are spelled the same, so
    PySpark's ``partitioner ==`` comparisons see sparkwasm-partitioned RDDs as co-partitioned
    only with each other.
    """

    def __init__(self, key_type: str) -> None:
        self.key_type = normalize(key_type)

    def encode(self, key: Any) -> bytes:
        """The postcard bytes of ``key`` read as a ``key_type``."""
        out = bytearray()
        try:
            _encode(key, _parse_type(self.key_type), out)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"sparkwasm cannot compute, in Python, the shuffle partition of key {key!r} of "
                f"Rust type {self.key_type}: {e}"
            ) from None
        return bytes(out)

    def __call__(self, key: Any) -> int:
        return stable_hash(self.encode(key))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyPartitionFunc) and other.key_type == self.key_type

    def __hash__(self) -> int:
        return hash((KeyPartitionFunc, self.key_type))

    def __repr__(self) -> str:
        return f"KeyPartitionFunc({self.key_type!r})"

