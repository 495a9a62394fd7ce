"""Hand-assembled WebAssembly binaries for the driver's tests.

The driver only reads a module's header, custom sections and export section, so the tests
build exactly those bytes (no code): enough to exercise every check of ``sparkwasm.load``
without a Rust toolchain.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from sparkwasm._wasm import ABI_VERSION

MAGIC = b"\0asm"
VERSION = b"\x01\x00\x00\x00"
KIND_FUNC = 0
KIND_MEMORY = 2
REQUIRED_FUNCS = ("sparkwasm_run_task", "sparkwasm_alloc", "sparkwasm_abi_version")

# (name, kind, input, output)
Function = Tuple[str, str, str, str]

WORDCOUNT_FUNCTIONS: List[Function] = [
    ("split_words", "flat_map", "String", "String"),
    ("with_one", "map", "String", "(String,i64)"),
    ("is_long", "filter", "String", "String"),
    ("add", "reduce", "i64", "i64"),
]

TYPED_FUNCTIONS: List[Function] = [
    ("triple_plus_one", "map", "i64", "i64"),
    ("is_multiple_of_four", "filter", "i64", "i64"),
    ("add_i64", "reduce", "i64", "i64"),
    ("range_to", "flat_map", "i64", "i64"),
    ("running_sum", "map_partitions", "i64", "i64"),
    ("half", "map", "f64", "f64"),
    ("upper", "map", "String", "String"),
    ("word_len", "map", "String", "(String,i64)"),
    ("swap", "map", "(String,i64)", "(i64,String)"),
    ("pair_sum", "map", "(i64,i64)", "i64"),
    ("negate", "map", "bool", "bool"),
    ("maybe_len", "map", "Option<String>", "Option<i64>"),
    ("small_double", "map", "u8", "u8"),
    ("explode", "map", "i64", "i64"),
    # ABI 2 additions, spelled as the SDK's macros spell them in tests/guests/typed.
    ("square", "map", "i64", "i64"),
    ("is_even", "filter", "i64", "i64"),
    ("add_f64", "reduce", "f64", "f64"),
    ("concat", "reduce", "String", "String"),
    ("mod_ten", "key", "i64", "i64"),
    ("first_char", "key", "String", "String"),
    ("len_key", "key", "String", "i64"),
    ("seq_add_len", "seq_op", "String", "i64"),
    ("seq_sum_count", "seq_op", "i64", "(i64,i64)"),
    ("add_pairs", "reduce", "(i64,i64)", "(i64,i64)"),
    ("singleton", "map", "i64", "Vec<i64>"),
    ("push", "seq_op", "i64", "Vec<i64>"),
    ("extend", "reduce", "Vec<i64>", "Vec<i64>"),
    ("by_mod_three", "partitioner", "i64", "u64"),
    ("index_tag", "map_partitions_with_index", "i64", "(u32,i64)"),
    ("count_into_acc", "foreach", "i64", "()"),
    ("partition_sum_into_acc", "foreach_partition", "i64", "()"),
    ("add_broadcast_offset", "map", "i64", "i64"),
    ("lookup_name", "map", "i64", "String"),
    ("context_tag", "map", "i64", "(i32,i32,i64)"),
    ("local_prop", "map", "i64", "Option<String>"),
    ("read_spark_file", "map", "String", "String"),
    ("read_etc_passwd", "map", "String", "String"),
    ("identity_bytes", "map", "Bytes", "Bytes"),
    ("dict_size", "map", "HashMap<String,i64>", "i64"),
    ("list_sum", "map", "Vec<i64>", "i64"),
    ("nested", "map", "(String,Vec<(i64,Option<f64>)>)", "(String,i64)"),
    ("lines_pair", "map", "(String,String)", "(String,i64)"),
]


def leb128(n: int) -> bytes:
    """Unsigned LEB128."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def name(text: str) -> bytes:
    raw = text.encode("utf-8")
    return leb128(len(raw)) + raw


def section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + leb128(len(payload)) + payload


def custom_section(section_name: str, payload: bytes) -> bytes:
    return section(0, name(section_name) + payload)


def export_section(exports: Sequence[Tuple[str, int]]) -> bytes:
    body = leb128(len(exports))
    for export_name, kind in exports:
        body += name(export_name) + bytes([kind]) + leb128(0)
    return section(7, body)


def descriptor(
    fn_name: str, kind: str, input: str, output: str, abi_version: int = ABI_VERSION, **extra: Any
) -> Dict[str, Any]:
    entry: Dict[str, Any] = {
        "abi_version": abi_version,
        "name": fn_name,
        "kind": kind,
        "input": input,
        "output": output,
    }
    entry.update(extra)
    return entry


def descriptor_section(entries: Iterable[Any]) -> bytes:
    """The ``sparkwasm.functions`` section; entries are dicts (JSON-encoded) or raw bytes."""
    payload = b""
    for entry in entries:
        raw = entry if isinstance(entry, bytes) else json.dumps(entry).encode("utf-8")
        payload += struct.pack("<I", len(raw)) + raw
    return custom_section("sparkwasm.functions", payload)


def standard_exports(function_names: Iterable[str]) -> List[Tuple[str, int]]:
    exports = [(n, KIND_FUNC) for n in REQUIRED_FUNCS] + [("memory", KIND_MEMORY)]
    exports += [(f"sparkwasm_fn_{n}", KIND_FUNC) for n in function_names]
    return exports


def module(
    functions: Sequence[Function],
    *,
    exports: Optional[Sequence[Tuple[str, int]]] = None,
    extra_sections: Sequence[bytes] = (),
) -> bytes:
    """A module declaring ``functions`` with all the exports a sparkwasm module has."""
    descriptors = [descriptor(*f) for f in functions]
    if exports is None:
        exports = standard_exports(f[0] for f in functions)
    return (
        MAGIC
        + VERSION
        # A producers-style custom section first: the parser must skip unrelated sections.
        + custom_section("producers", b"\x00")
        + descriptor_section(descriptors)
        + export_section(exports)
        + b"".join(extra_sections)
    )


# --- Spark SQL functions (ABI 4) ---------------------------------------------------------------


def sql_descriptor(
    fn_name: str,
    kind: str,
    input: str,
    output: str,
    args: Sequence[str],
    returns: str,
    nullable_args: Optional[Sequence[bool]] = None,
    returns_nullable: bool = False,
    nulls: str = "skip",
) -> Dict[str, Any]:
    """A ``udf``/``udaf`` descriptor with its ``sql`` signature."""
    return descriptor(
        fn_name,
        kind,
        input,
        output,
        sql={
            "args": list(args),
            "nullable_args": list(nullable_args or [False] * len(args)),
            "returns": returns,
            "returns_nullable": returns_nullable,
            "nulls": nulls,
        },
    )


#: The functions of tests/guests/sql (sql_guest.wasm) as its descriptors declare them, for
#: the driver-only tests (the Rust spellings of ``input``/``output`` may differ in the real
#: guest; the driver does not read them).
SQL_GUEST_DESCRIPTORS: List[Dict[str, Any]] = [
    sql_descriptor("str_len", "udf", "&str", "i32", ["string"], "int"),
    sql_descriptor("affine", "udf", "i64", "i64", ["bigint"], "bigint"),
    sql_descriptor("add_ints", "udf", "(i32,i32)", "i32", ["int", "int"], "int"),
    sql_descriptor("concat_ws_dash", "udf", "(&str,&str)", "String", ["string", "string"], "string"),
    sql_descriptor("is_even", "udf", "i64", "bool", ["bigint"], "boolean"),
    sql_descriptor("bucket", "udf", "i64", "i64", ["bigint"], "bigint"),
    sql_descriptor(
        "ratio", "udf", "(Option<f64>,Option<f64>)", "Option<f64>", ["double", "double"],
        "double", [True, True], True,
    ),
    sql_descriptor("coalesce_zero", "udf", "Option<i64>", "i64", ["bigint"], "bigint", [True]),
    sql_descriptor("must", "udf", "i64", "i64", ["bigint"], "bigint", nulls="reject"),
    sql_descriptor("boom", "udf", "i64", "i64", ["bigint"], "bigint"),
    sql_descriptor(
        "id_decimal", "udf", "Decimal<10,2>", "Decimal<10,2>", ["decimal(10,2)"], "decimal(10,2)"
    ),
    sql_descriptor(
        "double_decimal", "udf", "Decimal<10,2>", "Decimal<12,2>", ["decimal(10,2)"], "decimal(12,2)"
    ),
    sql_descriptor(
        "id_timestamp_ntz", "udf", "TimestampNtz", "TimestampNtz", ["timestamp_ntz"], "timestamp_ntz"
    ),
    sql_descriptor(
        "weighted_mean", "udaf", "(Option<f64>,Option<f64>)", "Option<f64>", ["double", "double"],
        "double", [True, True], True,
    ),
    sql_descriptor("sum_long", "udaf", "i64", "i64", ["bigint"], "bigint"),
    sql_descriptor("count_rows", "udaf", "Option<i64>", "i64", ["bigint"], "bigint", [True]),
    # An RDD function next to them, as a module may mix both.
    descriptor("triple", "map", "i64", "i64"),
]


def sql_module(entries: Sequence[Dict[str, Any]] = SQL_GUEST_DESCRIPTORS) -> bytes:
    """A module declaring ``entries`` (descriptor dicts) with all the exports it needs."""
    return (
        MAGIC
        + VERSION
        + descriptor_section(entries)
        + export_section(standard_exports(e["name"] for e in entries))
    )
