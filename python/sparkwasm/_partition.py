"""Where the worker puts shuffle keys, computed in Python: the canonical encoding of values.

The worker identifies a key by its **canonical encoding**: the postcard encoding of the key
as a ``sparkwasm_abi::Value``, the dynamic value model guest and driver share (``value.rs``
in the ABI crate). Hash partitioning sends a key to reduce partition
``fnv1a64(identity(key)) % partitions`` (``sparkwasm_abi::partition_of``), whether the key
was a typed Rust value or a dynamic one, so the driver can tell where a Python key lives
without running guest code (``RDD.lookup``, co-partitioning checks).

The encoding: the variant index as a varint, then the payload::

    None 0 | Bool 1 + byte | Int 2 + zigzag varint (i64) | BigUint 3 + varint (> i64::MAX)
    | Float 4 + f64 little-endian | Str 5 + varint length + UTF-8 | Bytes 6 + varint length + bytes
    | Tuple 7 / List 8 + varint count + items | Dict 9 + varint count + (key, value) items

This module also holds the two other partition functions a :class:`sparkwasm.WasmRDD` can
carry: a WASM ``partitioner`` function (which only the worker can evaluate) and the range
partitioning of ``sortByKey``, and the Python order of values that sorting uses.

A key's *identity* is its canonical encoding with numbers folded as Python's ``==`` folds
them: a ``bool`` or an integral ``float`` is encoded as the ``int`` it equals, so ``1``,
``1.0`` and ``True`` are one key to the worker, as they are to PySpark, and so are ``0.0``
and ``-0.0``. Keys are compared and hash-partitioned by identity.
"""

from __future__ import annotations

import bisect
import math
import struct
from typing import Any, List, Sequence, Tuple

__all__ = [
    "RangePartitionFunc",
    "WasmPartitionFunc",
    "canonical_bytes",
    "canonical_hash",
    "key_identity",
    "order_key",
    "stable_hash",
]

_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_U64_MAX = (1 << 64) - 1

# Variant indexes of sparkwasm_abi::Value, in declaration order (part of the ABI).
_NONE, _BOOL, _INT, _BIG_UINT, _FLOAT, _STR, _BYTES, _TUPLE, _LIST, _DICT = range(10)


def stable_hash(data: bytes) -> int:
    """FNV-1a 64 of ``data``: the hash behind the worker's shuffle partitioning."""
    h = 0xCBF2_9CE4_8422_2325
    for byte in data:
        h ^= byte
        h = (h * 0x0100_0000_01B3) & 0xFFFF_FFFF_FFFF_FFFF
    return h


def _varint(n: int, out: bytearray) -> None:
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _encode(value: Any, out: bytearray, depth: int, fold: bool = False) -> None:
    """Appends the canonical encoding of ``value``, or with ``fold`` its identity."""
    if depth > 200:
        raise ValueError("value is nested too deeply")
    if fold and (
        isinstance(value, bool)
        or (isinstance(value, float) and value.is_integer() and -(2**63) <= value < 2**64)
    ):
        value = int(value)
    # bool first: it is a subclass of int.
    if value is None:
        out.append(_NONE)
    elif isinstance(value, bool):
        out.append(_BOOL)
        out.append(1 if value else 0)
    elif isinstance(value, int):
        if _I64_MIN <= value <= _I64_MAX:
            out.append(_INT)
            _varint((value << 1) ^ (value >> 63), out)  # zigzag
        elif _I64_MAX < value <= _U64_MAX:
            out.append(_BIG_UINT)
            _varint(value, out)
        else:
            raise ValueError(f"int {value} is outside the range of sparkwasm values (i64, u64)")
    elif isinstance(value, float):
        out.append(_FLOAT)
        out += struct.pack("<d", value)
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out.append(_STR)
        _varint(len(raw), out)
        out += raw
    elif isinstance(value, (bytes, bytearray)):
        out.append(_BYTES)
        _varint(len(value), out)
        out += value
    elif isinstance(value, (tuple, list)):
        out.append(_TUPLE if isinstance(value, tuple) else _LIST)
        _varint(len(value), out)
        for item in value:
            _encode(item, out, depth + 1, fold)
    elif isinstance(value, dict):
        out.append(_DICT)
        _varint(len(value), out)
        for key, item in value.items():
            _encode(key, out, depth + 1, fold)
            _encode(item, out, depth + 1, fold)
    else:
        raise TypeError(
            f"{type(value).__name__} is not a sparkwasm value (None, bool, int, float, str, "
            "bytes, tuple, list or dict)"
        )


def canonical_bytes(value: Any) -> bytes:
    """The canonical encoding of ``value``: postcard of its ``sparkwasm_abi::Value``.

    Raises ``TypeError`` for objects outside sparkwasm's value model and ``ValueError`` for
    ints outside the i64/u64 range.
    """
    out = bytearray()
    _encode(value, out, 0)
    return bytes(out)


def key_identity(key: Any) -> bytes:
    """The identity of ``key``: its canonical encoding with bools and integral floats
    encoded as the ints they equal. Keys with the same identity are one key to the worker."""
    out = bytearray()
    _encode(key, out, 0, fold=True)
    return bytes(out)


def canonical_hash(key: Any) -> int:
    """The worker's hash partitioning as a PySpark ``partitionFunc``:
    ``Partitioner(n, canonical_hash)(key)`` is the reduce partition the worker chose for ``key``
    (the hash of its :func:`key_identity`).
    """
    return stable_hash(key_identity(key))


def order_key(value: Any) -> Tuple[Any, ...]:
    """A sort key giving sparkwasm's order of values, which sorting and range partitioning use.

    Within a kind it is Python's order: numbers by value across ``int``, ``float`` and
    ``bool``, ``str`` by code point, ``bytes`` bytewise, sequences lexicographically. Unlike
    Python it is total: ``None`` sorts first, then numbers, strings, bytes, sequences (tuples
    and lists compare with each other) and dicts.
    """
    if value is None:
        return (0,)
    if isinstance(value, (bool, int, float)):
        # NaN compares false with everything in Python; put it after every number.
        if isinstance(value, float) and math.isnan(value):
            return (1, 1, 0)
        return (1, 0, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, (bytes, bytearray)):
        return (3, bytes(value))
    if isinstance(value, (tuple, list)):
        return (4, tuple(order_key(item) for item in value))
    if isinstance(value, dict):
        return (5, tuple((order_key(k), order_key(v)) for k, v in value.items()))
    raise TypeError(f"{type(value).__name__} is not a sparkwasm value")


class WasmPartitionFunc:
    """A WASM ``partitioner`` function as the ``partitionFunc`` of a PySpark ``Partitioner``.

    It only exists to make partitioners comparable (two RDDs partitioned by the same function
    into the same number of partitions are co-partitioned); the function itself runs in the
    worker, so calling this on the driver raises ``TypeError``.
    """

    def __init__(self, module_digest: str, name: str) -> None:
        self.module_digest = module_digest
        self.name = name

    @property
    def jvm_id(self) -> int:
        """The ``pyPartitionFunctionId`` of the JVM ``PythonPartitioner``: stable per function."""
        return stable_hash(f"{self.module_digest}:{self.name}".encode()) & 0x7FFF_FFFF_FFFF_FFFF

    def __call__(self, key: Any) -> int:
        raise TypeError(
            f"the partition of {key!r} is chosen by the WASM partitioner {self.name!r}, which "
            "runs in the sparkwasm worker, not on the driver"
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, WasmPartitionFunc)
            and other.module_digest == self.module_digest
            and other.name == self.name
        )

    def __hash__(self) -> int:
        return hash((WasmPartitionFunc, self.module_digest, self.name))

    def __repr__(self) -> str:
        return f"WasmPartitionFunc({self.name!r} in module {self.module_digest[:12]})"


class RangePartitionFunc:
    """``sortByKey``'s range partitioning, as the worker applies it: partition ``i`` holds the
    keys ``k`` with ``bisect_left(bounds, k) == i`` in :func:`order_key` order, reversed when
    descending. Equal only to itself, as PySpark's per-call ``rangePartitioner`` closure."""

    def __init__(self, bounds: Sequence[Any], ascending: bool, partitions: int) -> None:
        self.bounds: List[Any] = list(bounds)
        self.ascending = ascending
        self.partitions = partitions
        self._keys = [order_key(b) for b in self.bounds]

    def __call__(self, key: Any) -> int:
        p = bisect.bisect_left(self._keys, order_key(key))
        return p if self.ascending else self.partitions - 1 - p

    def __repr__(self) -> str:
        order = "ascending" if self.ascending else "descending"
        return f"RangePartitionFunc({len(self.bounds)} bounds, {order})"
