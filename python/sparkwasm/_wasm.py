"""Reading a sparkwasm module's metadata from the WebAssembly binary, without running it.

The driver never executes guest code: it only needs to know which functions a module offers
and to refuse files that the worker would refuse later, on an executor, after a job has been
scheduled. Both facts are in the binary:

* the custom section ``sparkwasm.functions``, written by the guest SDK's macros: a
  concatenation of entries, each a little-endian ``u32`` length followed by that many bytes
  of JSON ``{"abi_version", "name", "kind", "input", "output"}``, plus ``"sql"`` (the Spark
  SQL signature, :class:`SqlSignature`) exactly for the kinds ``udf`` and ``udaf``;
* the export section, which must hold ``memory``, ``sparkwasm_run_task``,
  ``sparkwasm_alloc``, ``sparkwasm_abi_version`` and one ``sparkwasm_fn_<name>`` per
  function.

The ABI these names come from is defined once, in the Rust crate ``sparkwasm-abi``
(``guest-sdk/abi/src/lib.rs``); the constants below mirror it.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

__all__ = [
    "ABI_VERSION",
    "DESCRIPTOR_SECTION",
    "FUNCTION_KINDS",
    "FunctionInfo",
    "NULL_POLICIES",
    "SQL_KINDS",
    "SqlSignature",
    "WasmModuleError",
    "parse_module",
]

#: The only guest ABI version this driver speaks (``sparkwasm_abi::ABI_VERSION``).
ABI_VERSION = 4
#: Name of the custom section holding the function descriptors.
DESCRIPTOR_SECTION = "sparkwasm.functions"
#: Function kinds a descriptor may declare, as spelled in descriptors
#: (``sparkwasm_abi::FunctionKind``).
FUNCTION_KINDS = (
    "map",
    "flat_map",
    "filter",
    "map_partitions",
    "reduce",
    "map_partitions_with_index",
    "key",
    "seq_op",
    "partitioner",
    "foreach",
    "foreach_partition",
    "udf",
    "udaf",
)
#: The kinds that are Spark SQL functions; their descriptors carry a ``sql`` signature.
SQL_KINDS = ("udf", "udaf")
#: What a ``udf``/``udaf`` does with a null in a non-``Option`` argument
#: (``sparkwasm_abi::NullPolicy``).
NULL_POLICIES = ("skip", "reject")
#: Prefix of the per-function handle export.
FUNCTION_EXPORT_PREFIX = "sparkwasm_fn_"
#: Exports every sparkwasm module has besides its per-function handles, with their kinds.
REQUIRED_EXPORTS: Mapping[str, str] = {
    "sparkwasm_run_task": "func",
    "sparkwasm_alloc": "func",
    "sparkwasm_abi_version": "func",
    "memory": "memory",
}

_MAGIC = b"\0asm"
_CORE_VERSION = b"\x01\x00\x00\x00"
# Component-model binaries share the magic but carry version 0x0d and layer 1.
_COMPONENT_VERSION = b"\x0d\x00\x01\x00"
_CUSTOM_SECTION_ID = 0
_EXPORT_SECTION_ID = 7
_EXPORT_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
_DESCRIPTOR_FIELDS = frozenset({"abi_version", "name", "kind", "input", "output"})
_SQL_FIELDS = frozenset({"args", "nullable_args", "returns", "returns_nullable", "nulls"})


class WasmModuleError(ValueError):
    """A file is not a sparkwasm module this driver can use; the message says why and what to do."""


@dataclass(frozen=True)
class SqlSignature:
    """The Spark SQL side of a ``udf`` or ``udaf`` (``sparkwasm_abi::SqlSignature``).

    Types are Spark simple strings as the SDK normalised them (``bigint``, ``decimal(10,2)``,
    ``array<int>``, ``struct<a:int,b:string>``). ``nullable_args[i]`` says whether argument
    ``i`` is an ``Option`` (takes nulls); ``nulls`` is what a null in any other argument does:
    ``"skip"`` (no call, null result; an aggregate skips the row) or ``"reject"`` (the task
    fails).
    """

    args: Tuple[str, ...]
    nullable_args: Tuple[bool, ...]
    returns: str
    returns_nullable: bool
    nulls: str

    def describe(self, name: str) -> str:
        """``name(bigint, string) -> int``, as shown in error messages."""
        return f"{name}({', '.join(self.args)}) -> {self.returns}"


@dataclass(frozen=True)
class FunctionInfo:
    """What a module declares about one function.

    ``input`` and ``output`` are the Rust element types as the author spelled them (the SDK
    removes whitespace): for ``flat_map`` and ``map_partitions(_with_index)`` the element types
    of the sequences; for ``filter``, ``foreach`` and ``foreach_partition`` the record type
    (output ``()``); for ``reduce`` both the value type ``V``; for ``key`` the record type and
    the key type; for ``seq_op`` (``fn(U, V) -> U``) input ``V`` and output ``U``; for
    ``partitioner`` the key type and ``u64``; for ``udf`` the Rust argument tuple (``(i64,&str)``,
    or the type alone for one argument) and the return type; for ``udaf`` the argument tuple
    of ``update`` and the type ``finish`` returns.

    ``sql`` is the Spark SQL signature of a ``udf`` or ``udaf``, ``None`` for every other kind.
    """

    name: str
    kind: str
    input: str
    output: str
    sql: Optional[SqlSignature] = None

    def signature(self) -> str:
        """``kind input -> output``, as shown in listings and error messages."""
        return f"{self.kind} {self.input} -> {self.output}"


@dataclass(frozen=True)
class ParsedModule:
    """The parts of a module binary the driver cares about."""

    functions: Dict[str, FunctionInfo]
    exports: Dict[str, str]


class _Reader:
    """A cursor over a byte range that raises :class:`WasmModuleError` instead of reading past it."""

    def __init__(self, data: bytes, start: int, end: int, what: str) -> None:
        self.data = data
        self.pos = start
        self.end = end
        self.what = what

    def at_end(self) -> bool:
        return self.pos >= self.end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise self._truncated()
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u32(self) -> int:
        """An unsigned LEB128 number of at most 32 bits (5 bytes), as the wasm spec allows."""
        result = 0
        for shift in range(0, 35, 7):
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if result > 0xFFFF_FFFF:
                    break
                return result
        raise WasmModuleError(f"malformed WebAssembly binary: bad LEB128 number in {self.what}")

    def take(self, n: int) -> bytes:
        if n > self.end - self.pos:
            raise self._truncated()
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def name(self) -> str:
        raw = self.take(self.u32())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise WasmModuleError(
                f"malformed WebAssembly binary: a name in {self.what} is not UTF-8"
            ) from None

    def _truncated(self) -> WasmModuleError:
        return WasmModuleError(
            f"malformed WebAssembly binary: {self.what} is truncated (the file may be incomplete)"
        )


def _sections(data: bytes) -> List[Tuple[int, int, int]]:
    """(id, start, end) of every section, after checking the header."""
    if data[:4] != _MAGIC:
        raise WasmModuleError(
            "not a WebAssembly module: the file does not start with the wasm magic bytes "
            f"\\0asm (it starts with {bytes(data[:4])!r}); pass the .wasm file cargo built "
            "for wasm32-wasip1"
        )
    version = bytes(data[4:8])
    if version == _COMPONENT_VERSION:
        raise WasmModuleError(
            "this is a WebAssembly component, not a core module: sparkwasm runs core modules "
            "built for the wasm32-wasip1 target"
        )
    if version != _CORE_VERSION:
        raise WasmModuleError(
            f"unsupported WebAssembly binary version {version.hex()} (expected 01000000)"
        )
    reader = _Reader(data, 8, len(data), "the section list")
    sections = []
    while not reader.at_end():
        section_id = reader.byte()
        size = reader.u32()
        start = reader.pos
        reader.take(size)
        sections.append((section_id, start, start + size))
    return sections


def _read_exports(data: bytes, start: int, end: int) -> Dict[str, str]:
    reader = _Reader(data, start, end, "the export section")
    exports: Dict[str, str] = {}
    for _ in range(reader.u32()):
        name = reader.name()
        kind = reader.byte()
        reader.u32()  # index into the function/memory/... space; not needed here
        exports[name] = _EXPORT_KINDS.get(kind, f"unknown kind {kind}")
    return exports


def _split_entries(section: bytes) -> List[bytes]:
    entries = []
    pos = 0
    while pos < len(section):
        if len(section) - pos < 4:
            raise WasmModuleError(
                f"corrupt '{DESCRIPTOR_SECTION}' section: a length prefix is cut short"
            )
        (length,) = struct.unpack_from("<I", section, pos)
        pos += 4
        if length > len(section) - pos:
            raise WasmModuleError(
                f"corrupt '{DESCRIPTOR_SECTION}' section: an entry claims {length} bytes but "
                f"only {len(section) - pos} remain"
            )
        entries.append(section[pos : pos + length])
        pos += length
    return entries


def _parse_descriptor(raw: bytes) -> FunctionInfo:
    try:
        entry: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WasmModuleError(
            f"corrupt '{DESCRIPTOR_SECTION}' section: an entry is not UTF-8 JSON ({e})"
        ) from None
    if not isinstance(entry, dict):
        raise WasmModuleError(f"corrupt '{DESCRIPTOR_SECTION}' section: an entry is not a JSON object")
    # The ABI version comes first: a descriptor from a newer SDK may also have new fields, and
    # "rebuild with a matching SDK" is the message that helps, not "unknown field".
    version = entry.get("abi_version")
    if version != ABI_VERSION:
        name = entry.get("name", "?")
        raise WasmModuleError(
            f"function {name!r} was built for sparkwasm guest ABI version {version!r}, but this "
            f"driver supports only version {ABI_VERSION}; rebuild the module with a sparkwasm "
            "SDK that matches this driver, or upgrade the driver"
        )
    # "sql" is optional here; whether a kind needs it is checked once the kind is known.
    fields = set(entry) - {"sql"}
    if fields != _DESCRIPTOR_FIELDS:
        extra = sorted(fields - _DESCRIPTOR_FIELDS)
        missing = sorted(_DESCRIPTOR_FIELDS - fields)
        raise WasmModuleError(
            f"corrupt '{DESCRIPTOR_SECTION}' entry {entry.get('name', '?')!r}: "
            f"unknown fields {extra}, missing fields {missing}"
        )
    for field in ("name", "kind", "input", "output"):
        if not isinstance(entry[field], str) or not entry[field]:
            raise WasmModuleError(
                f"corrupt '{DESCRIPTOR_SECTION}' entry {entry.get('name', '?')!r}: "
                f"{field!r} must be a non-empty string"
            )
    if entry["kind"] not in FUNCTION_KINDS:
        raise WasmModuleError(
            f"function {entry['name']!r} has unknown kind {entry['kind']!r} "
            f"(known: {', '.join(FUNCTION_KINDS)}); the module needs a newer driver"
        )
    sql = entry.get("sql")
    if (entry["kind"] in SQL_KINDS) != (sql is not None):
        raise WasmModuleError(
            f"corrupt '{DESCRIPTOR_SECTION}' entry {entry['name']!r}: a {entry['kind']} function "
            + ("needs a 'sql' signature" if sql is None else "must not have a 'sql' signature")
        )
    signature = _parse_sql(entry["name"], sql) if sql is not None else None
    return FunctionInfo(entry["name"], entry["kind"], entry["input"], entry["output"], signature)


def _parse_sql(name: str, sql: Any) -> SqlSignature:
    """The ``sql`` object of a ``udf``/``udaf`` descriptor, checked as strictly as the worker
    (``#[serde(deny_unknown_fields)]``) so a module the worker would refuse fails here."""

    def corrupt(problem: str) -> WasmModuleError:
        return WasmModuleError(f"corrupt '{DESCRIPTOR_SECTION}' entry {name!r}: 'sql' {problem}")

    if not isinstance(sql, dict):
        raise corrupt("must be a JSON object")
    fields = set(sql)
    if fields != _SQL_FIELDS:
        raise corrupt(
            f"has unknown fields {sorted(fields - _SQL_FIELDS)}, missing fields "
            f"{sorted(_SQL_FIELDS - fields)}"
        )
    args, nullable = sql["args"], sql["nullable_args"]
    if not isinstance(args, list) or not all(isinstance(a, str) and a for a in args):
        raise corrupt("'args' must be a list of non-empty type strings")
    if not isinstance(nullable, list) or not all(isinstance(n, bool) for n in nullable):
        raise corrupt("'nullable_args' must be a list of booleans")
    if len(nullable) != len(args):
        raise corrupt(f"has {len(args)} 'args' but {len(nullable)} 'nullable_args'")
    if not isinstance(sql["returns"], str) or not sql["returns"]:
        raise corrupt("'returns' must be a non-empty type string")
    if not isinstance(sql["returns_nullable"], bool):
        raise corrupt("'returns_nullable' must be a boolean")
    if sql["nulls"] not in NULL_POLICIES:
        raise corrupt(f"'nulls' must be one of {', '.join(NULL_POLICIES)}, got {sql['nulls']!r}")
    return SqlSignature(
        tuple(args), tuple(nullable), sql["returns"], sql["returns_nullable"], sql["nulls"]
    )


def parse_module(data: bytes) -> ParsedModule:
    """Checks that ``data`` is a usable sparkwasm module and returns its functions and exports.

    Raises :class:`WasmModuleError` when it is not a wasm core module, has no descriptor
    section, was built for another ABI version, or lacks an export the worker needs.
    """
    descriptor_payload = bytearray()
    found_descriptors = False
    exports: Dict[str, str] = {}
    for section_id, start, end in _sections(data):
        if section_id == _CUSTOM_SECTION_ID:
            reader = _Reader(data, start, end, "a custom section")
            if reader.name() == DESCRIPTOR_SECTION:
                # Linkers may keep one section per object file; entries simply concatenate.
                found_descriptors = True
                descriptor_payload += data[reader.pos : end]
        elif section_id == _EXPORT_SECTION_ID:
            exports.update(_read_exports(data, start, end))
    if not found_descriptors:
        raise WasmModuleError(
            f"no '{DESCRIPTOR_SECTION}' custom section: this module was not built with the "
            "sparkwasm guest SDK (depend on the `sparkwasm` crate and mark functions with "
            "#[sparkwasm::map] etc.), or a tool such as wasm-opt/wasm-strip removed its "
            "custom sections"
        )
    functions: Dict[str, FunctionInfo] = {}
    for raw in _split_entries(bytes(descriptor_payload)):
        info = _parse_descriptor(raw)
        if info.name in functions:
            raise WasmModuleError(f"function {info.name!r} is declared twice in the module")
        functions[info.name] = info
    if not functions:
        raise WasmModuleError(
            f"the '{DESCRIPTOR_SECTION}' section declares no functions; mark at least one "
            "function with a sparkwasm attribute (#[sparkwasm::map] etc.)"
        )
    for name, kind in REQUIRED_EXPORTS.items():
        if exports.get(name) != kind:
            raise WasmModuleError(
                f"the module does not export the {kind} {name!r} that every sparkwasm module "
                "has; build it as a cdylib for wasm32-wasip1 with the sparkwasm SDK and do not "
                "strip its exports"
            )
    for name in functions:
        export = FUNCTION_EXPORT_PREFIX + name
        if exports.get(export) != "func":
            raise WasmModuleError(
                f"function {name!r} is declared in '{DESCRIPTOR_SECTION}' but the module does "
                f"not export {export!r}; the module was linked without it (check that the "
                "crate is a cdylib and that nothing strips exports)"
            )
    return ParsedModule(functions=functions, exports=exports)
