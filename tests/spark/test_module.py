"""Pure-Python tests of module loading, type strings, the canonical value encoding and command
encoding (no Spark, no Rust).

Modules are assembled by hand (``wasm_builder``): a header, a descriptor custom section and
an export section are all the driver reads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
import struct
from typing import Any, Dict, List, Tuple

import pytest

import sparkwasm
import wasm_builder as wb
from sparkwasm._command import STEP_KINDS, Manifest, ManifestStep, encode_command
from sparkwasm._module import WasmModule
from sparkwasm._wasm import ABI_VERSION
from sparkwasm._partition import (
    RangePartitionFunc,
    WasmPartitionFunc,
    canonical_bytes,
    canonical_hash,
    key_identity,
    order_key,
    stable_hash,
)
from sparkwasm._types import normalize, split_pair

GOOD_FUNCTIONS = [
    ("split_words", "flat_map", "String", "String"),
    ("with_one", "map", "String", "(String, i64)"),
    ("add", "reduce", "i64", "i64"),
]


def good_module() -> bytes:
    return wb.module(GOOD_FUNCTIONS)


def decode_command(command: bytes) -> Tuple[int, Dict[str, Any], bytes]:
    """The worker's view of a command: version, manifest, module bytes."""
    assert command[:6] == b"SPWASM"
    version = command[6]
    (length,) = struct.unpack(">I", command[7:11])
    manifest = json.loads(command[11 : 11 + length].decode("utf-8"))
    return version, manifest, command[11 + length :]


# --- loading -------------------------------------------------------------------------------


def test_good_module_lists_functions_and_digest() -> None:
    data = good_module()
    module = WasmModule(data)
    assert module.digest == hashlib.sha256(data).hexdigest()
    assert set(module.functions) == {"split_words", "with_one", "add"}
    info = module.functions["with_one"]
    assert (info.name, info.kind, info.input, info.output) == (
        "with_one",
        "map",
        "String",
        "(String, i64)",
    )
    fn = module.with_one
    assert isinstance(fn, sparkwasm.WasmFunction)
    assert fn.module is module and fn.kind == "map"
    assert module["add"] == module.add
    text = repr(module)
    assert module.digest[:12] in text and "split_words" in text and "reduce" in text


def test_load_reads_paths_and_bytes(tmp_path: Any) -> None:
    data = good_module()
    path = tmp_path / "good.wasm"
    path.write_bytes(data)
    # load() only needs a SparkContext to exist; a stand-in with the right type is enough.
    from pyspark import SparkContext

    fake_sc = SparkContext.__new__(SparkContext)
    assert sparkwasm.load(fake_sc, str(path)).digest == hashlib.sha256(data).hexdigest()
    assert sparkwasm.load(fake_sc, path).digest == sparkwasm.load(fake_sc, data).digest
    with pytest.raises(TypeError, match="SparkContext"):
        sparkwasm.load(object(), data)  # type: ignore[arg-type]


def test_unknown_function_lists_available_ones() -> None:
    module = WasmModule(good_module())
    with pytest.raises(AttributeError, match=r"no function 'nope'.*add, split_words, with_one"):
        module.nope
    with pytest.raises(KeyError):
        module["nope"]


def test_bad_magic() -> None:
    with pytest.raises(sparkwasm.WasmModuleError, match="not a WebAssembly module"):
        WasmModule(b"\x7fELF\x02\x01\x01\x00" + b"\0" * 64)
    with pytest.raises(sparkwasm.WasmModuleError, match="not a WebAssembly module"):
        WasmModule(b"")


def test_component_is_refused_with_a_hint() -> None:
    with pytest.raises(sparkwasm.WasmModuleError, match="component"):
        WasmModule(b"\0asm\x0d\x00\x01\x00")


def test_truncated_section() -> None:
    data = good_module()
    with pytest.raises(sparkwasm.WasmModuleError, match="truncated"):
        WasmModule(data[:-3])


def test_missing_descriptor_section() -> None:
    data = wb.MAGIC + wb.VERSION + wb.export_section(wb.standard_exports([]))
    with pytest.raises(sparkwasm.WasmModuleError, match="not built with the sparkwasm"):
        WasmModule(data)


@pytest.mark.parametrize("version", [1, ABI_VERSION - 1, ABI_VERSION + 1])
def test_unsupported_abi_version(version: int) -> None:
    # A newer descriptor may also carry new fields: the version is what the message is about.
    entry = wb.descriptor("f", "map", "i64", "i64", abi_version=version, new_field=True)
    data = (
        wb.MAGIC
        + wb.VERSION
        + wb.descriptor_section([entry])
        + wb.export_section(wb.standard_exports(["f"]))
    )
    with pytest.raises(sparkwasm.WasmModuleError, match=rf"ABI version {version}.*supports only version {ABI_VERSION}"):
        WasmModule(data)


def test_every_function_kind_loads() -> None:
    module = WasmModule(wb.module(wb.TYPED_FUNCTIONS))
    kinds = {info.kind for info in module.functions.values()}
    sql = WasmModule(wb.sql_module())
    kinds |= {info.kind for info in sql.functions.values()}
    assert kinds == set(sparkwasm._wasm.FUNCTION_KINDS)
    # RDD kinds carry no SQL signature; udf/udaf always do (test_sql_udf.py checks them).
    assert all(info.sql is None for info in module.functions.values())


def test_missing_function_export() -> None:
    exports = wb.standard_exports(["split_words", "with_one"])  # no sparkwasm_fn_add
    with pytest.raises(sparkwasm.WasmModuleError, match="'add'.*sparkwasm_fn_add"):
        WasmModule(wb.module(GOOD_FUNCTIONS, exports=exports))


def test_missing_required_export() -> None:
    exports = [e for e in wb.standard_exports(["split_words", "with_one", "add"]) if e[0] != "memory"]
    with pytest.raises(sparkwasm.WasmModuleError, match="'memory'"):
        WasmModule(wb.module(GOOD_FUNCTIONS, exports=exports))


@pytest.mark.parametrize(
    "entry, message",
    [
        (b"not json", "not UTF-8 JSON"),
        (b"[1]", "not a JSON object"),
        (json.dumps(wb.descriptor("f", "map", "i64", "i64", extra=1)).encode(), "unknown fields"),
        (json.dumps(wb.descriptor("f", "fold", "i64", "i64")).encode(), "unknown kind 'fold'"),
        (json.dumps(wb.descriptor("f", "map", "", "i64")).encode(), "non-empty string"),
    ],
)
def test_corrupt_descriptors(entry: bytes, message: str) -> None:
    data = (
        wb.MAGIC
        + wb.VERSION
        + wb.descriptor_section([entry])
        + wb.export_section(wb.standard_exports(["f"]))
    )
    with pytest.raises(sparkwasm.WasmModuleError, match=message):
        WasmModule(data)


def test_descriptor_length_prefix_overruns() -> None:
    payload = struct.pack("<I", 100) + b"{}"
    data = wb.MAGIC + wb.VERSION + wb.custom_section("sparkwasm.functions", payload)
    with pytest.raises(sparkwasm.WasmModuleError, match="claims 100 bytes"):
        WasmModule(data)


def test_duplicate_function() -> None:
    entries = [wb.descriptor("f", "map", "i64", "i64")] * 2
    data = (
        wb.MAGIC
        + wb.VERSION
        + wb.descriptor_section(entries)
        + wb.export_section(wb.standard_exports(["f"]))
    )
    with pytest.raises(sparkwasm.WasmModuleError, match="declared twice"):
        WasmModule(data)


def test_descriptor_split_over_two_sections() -> None:
    data = (
        wb.MAGIC
        + wb.VERSION
        + wb.descriptor_section([wb.descriptor("f", "map", "i64", "i64")])
        + wb.descriptor_section([wb.descriptor("g", "filter", "i64", "i64")])
        + wb.export_section(wb.standard_exports(["f", "g"]))
    )
    assert set(WasmModule(data).functions) == {"f", "g"}


def test_wasm_function_cannot_run_in_python() -> None:
    fn = WasmModule(good_module()).with_one
    with pytest.raises(TypeError, match=r"sparkwasm.wrap\(rdd\).map\(module.with_one\)"):
        fn("x")
    import pickle

    with pytest.raises(TypeError, match="cannot run inside Python workers"):
        pickle.dumps(fn)


# --- type strings and the shuffle hash -----------------------------------------------------


def test_type_strings() -> None:
    assert normalize(" ( String , i64 ) ") == "(String,i64)"
    assert split_pair("(String, i64)") == ("String", "i64")
    assert split_pair("(Vec<(u8,u8)>,Option<(i64,String)>)") == ("Vec<(u8,u8)>", "Option<(i64,String)>")
    assert split_pair("(i64,i64,i64)") is None
    assert split_pair("(i64)(i64)") is None
    assert split_pair("i64") is None


def test_stable_hash_matches_the_abi() -> None:
    # Values from sparkwasm_abi's tests: FNV-1a 64 offset basis and the published vector.
    assert stable_hash(b"") == 0xCBF2_9CE4_8422_2325
    assert stable_hash(b"a") == 0xAF63_DC4C_8601_EC8C


def test_canonical_encoding_matches_the_pinned_abi_bytes() -> None:
    # sparkwasm_abi::tests::canonical_value_encoding_is_pinned, byte for byte.
    assert canonical_bytes(("a", -1, None)) == bytes([7, 3, 5, 1, ord("a"), 2, 1, 0])
    misc = [True, 1.5, b"\x09\x08", 2**64 - 1, {300: None}]
    assert canonical_bytes(misc) == bytes(
        [8, 5]  # list of 5
        + [1, 1]  # Bool(true)
        + [4, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F]  # Float(1.5), little-endian f64
        + [6, 2, 9, 8]  # Bytes
        + [3] + [0xFF] * 9 + [0x01]  # BigUint(u64::MAX) varint
        + [9, 1, 2, 0xD8, 0x04, 0]  # Dict of 1: Int(300) zigzag = 600, None
    )


@pytest.mark.parametrize(
    "value, encoded",
    [
        (None, [0]),
        (False, [1, 0]),
        (0, [2, 0]),
        (-1, [2, 1]),
        (1, [2, 2]),
        (64, [2, 0x80, 0x01]),
        (-(2**63), [2] + [0xFF] * 9 + [0x01]),
        (2**63 - 1, [2] + [0xFE] + [0xFF] * 8 + [0x01]),
        (2**63, [3] + [0x80] * 9 + [0x01]),
        (-0.0, [4, 0, 0, 0, 0, 0, 0, 0, 0x80]),
        ("", [5, 0]),
        ("é", [5, 2, 0xC3, 0xA9]),
        ("x" * 200, [5, 0xC8, 0x01] + [ord("x")] * 200),
        (b"", [6, 0]),
        (bytearray(b"\x00"), [6, 1, 0]),
        ((), [7, 0]),
        ([], [8, 0]),
        ({}, [9, 0]),
        ({"k": [1, (2,)]}, [9, 1, 5, 1, ord("k"), 8, 2, 2, 2, 7, 1, 2, 4]),
    ],
)
def test_canonical_encoding(value: Any, encoded: List[int]) -> None:
    assert canonical_bytes(value) == bytes(encoded)
    assert canonical_hash(value) == stable_hash(key_identity(value))


def test_canonical_encoding_keeps_python_distinctions() -> None:
    # The encoding round-trips types: 1.0 must come back a float.
    encodings = {canonical_bytes(v) for v in (1, 1.0, True, "1", b"1", (1,), [1])}
    assert len(encodings) == 7
    assert canonical_bytes(0.0) != canonical_bytes(-0.0)
    assert canonical_bytes({"a": 1, "b": 2}) != canonical_bytes({"b": 2, "a": 1})


def test_key_identity_is_pythons_equality() -> None:
    # Keys are one key when Python's == (and hash) says so: numbers fold to ints.
    assert len({key_identity(v) for v in (1, 1.0, True)}) == 1
    assert key_identity(0.0) == key_identity(-0.0) == key_identity(False) == key_identity(0)
    assert key_identity((True, 2.0)) == key_identity((1, 2)) == canonical_bytes((1, 2))
    assert key_identity(2.0**63) == key_identity(2**63)
    assert key_identity(-(2.0**63)) == key_identity(-(2**63))
    for kept in (1.5, float("inf"), 1e300, "1", b"\x01", (1,), [1], None):
        assert key_identity(kept) == canonical_bytes(kept)
    assert len({key_identity(v) for v in (1, "1", b"1", (1,), [1], 1.5)}) == 6


@pytest.mark.parametrize(
    "value, error",
    [(2**64, ValueError), (-(2**63) - 1, ValueError), (object(), TypeError), ({1, 2}, TypeError), ([1, [2, {3j}]], TypeError)],
)
def test_canonical_encoding_refuses_what_the_worker_cannot_hold(value: Any, error: type) -> None:
    with pytest.raises(error):
        canonical_bytes(value)


def test_order_key_is_pythons_order_made_total() -> None:
    assert sorted([3, None, 1.5, True, -2, 0.0], key=order_key) == [None, -2, 0.0, True, 1.5, 3]
    assert sorted(["b", "a", "B", "é"], key=order_key) == sorted(["b", "a", "B", "é"])
    assert sorted([(1, "b"), (1, "a"), (0, "z")], key=order_key) == [(0, "z"), (1, "a"), (1, "b")]
    # Across kinds, where Python raises: None, numbers, str, bytes, sequences, dicts.
    mixed = [{"a": 1}, [1], b"a", "a", 1, None]
    assert sorted(mixed, key=order_key) == list(reversed(mixed))
    assert order_key((1, 2)) == order_key([1, 2])


def test_range_partition_func_bisects_like_pyspark() -> None:
    ascending = RangePartitionFunc([10, 20], True, 3)
    assert [ascending(k) for k in (5, 10, 11, 20, 25)] == [0, 0, 1, 1, 2]
    descending = RangePartitionFunc([10, 20], False, 3)
    assert [descending(k) for k in (5, 10, 11, 20, 25)] == [2, 2, 1, 1, 0]
    assert RangePartitionFunc([None, "m"], True, 3)("a") == 1  # None sorts first
    assert ascending != RangePartitionFunc([10, 20], True, 3)  # one per sortByKey, as PySpark


def test_wasm_partition_func_compares_by_function_and_cannot_run_here() -> None:
    f = WasmPartitionFunc("ab" * 32, "by_mod_three")
    assert f == WasmPartitionFunc("ab" * 32, "by_mod_three")
    assert f != WasmPartitionFunc("cd" * 32, "by_mod_three")
    assert 0 < f.jvm_id < 2**63
    with pytest.raises(TypeError, match="by_mod_three.*runs in the sparkwasm worker"):
        f(3)


# --- commands --------------------------------------------------------------------------------


def test_encode_command_round_trips() -> None:
    data = good_module()
    module = WasmModule(data)
    manifest = Manifest(
        module_digest=module.digest,
        input="utf8",
        source=("split_words", "input"),
        steps=[
            ManifestStep("flat_map", ("split_words",)),
            ManifestStep("map", ("with_one",)),
            ManifestStep("reduce_by_key", ("add",)),
        ],
        output={"kind": "shuffle", "partitions": 4, "partitioner": {"kind": "hash"}},
        function_kinds=module.function_kinds(),
    )
    version, parsed, module_bytes = decode_command(encode_command(manifest, data))
    assert version == 2
    assert module_bytes == data
    assert parsed == {
        "module_digest": hashlib.sha256(data).hexdigest(),
        "input": "utf8",
        "source": {"function": "split_words", "side": "input"},
        "steps": [
            {"kind": "flat_map", "functions": ["split_words"], "arg": None},
            {"kind": "map", "functions": ["with_one"], "arg": None},
            {"kind": "reduce_by_key", "functions": ["add"], "arg": None},
        ],
        "output": {"kind": "shuffle", "partitions": 4, "partitioner": {"kind": "hash"}},
        "args": [],
        "broadcasts": {},
        "accumulators": {},
        "spark_files": True,
        "function_names": {"split_words": "flat_map", "with_one": "map", "add": "reduce"},
        "policy": {},
    }
    assert list(parsed) == [
        "module_digest",
        "input",
        "source",
        "steps",
        "output",
        "args",
        "broadcasts",
        "accumulators",
        "spark_files",
        "function_names",
        "policy",
    ]


def test_dynamic_source_args_bindings_and_range_output() -> None:
    module = WasmModule(wb.module(wb.TYPED_FUNCTIONS))
    bounds = pickle.dumps([1, 2], protocol=5)
    manifest = Manifest(
        module_digest=module.digest,
        input="binary",
        source=None,
        steps=[
            ManifestStep("tag", (), 1),
            ManifestStep("fold_by_key", ("add_i64",), 0),
            ManifestStep("top", (), 7),
            ManifestStep("max_by", ("mod_ten",), 1),
        ],
        output={"kind": "shuffle", "partitions": 3, "partitioner": {"kind": "range", "bounds_arg": 1, "ascending": False}},
        function_kinds=module.function_kinds(),
        args=[pickle.dumps(0, protocol=5), bounds],
        broadcasts={"offset": 4},
        accumulators={"total": 2, "seen": 1},
        spark_files=False,
    )
    parsed = decode_command(encode_command(manifest, b""))[1]
    assert parsed["source"] is None
    assert parsed["steps"][0] == {"kind": "tag", "functions": [], "arg": 1}
    assert parsed["output"]["partitioner"] == {"kind": "range", "bounds_arg": 1, "ascending": False}
    assert [pickle.loads(base64.b64decode(a)) for a in parsed["args"]] == [0, [1, 2]]
    assert parsed["broadcasts"] == {"offset": 4}
    assert list(parsed["accumulators"]) == ["seen", "total"]  # sorted by name
    assert parsed["spark_files"] is False
    assert parsed["function_names"] == {"add_i64": "reduce", "mod_ten": "key"}


@pytest.mark.parametrize(
    "output",
    [
        {"kind": "pickle"},
        {"kind": "binary"},
        {"kind": "count"},
        {"kind": "text"},
        {"kind": "take", "n": 5},
        {"kind": "sample_keys", "fraction": 0.25, "seed": 1},
        {"kind": "shuffle", "partitions": 2, "partitioner": {"kind": "function", "function": "by_mod_three"}},
    ],
)
def test_every_output_kind(output: Dict[str, Any]) -> None:
    module = WasmModule(wb.module(wb.TYPED_FUNCTIONS))
    manifest = Manifest(module.digest, "pickle_batch", None, [], output, module.function_kinds())
    parsed = decode_command(encode_command(manifest, b""))[1]
    assert parsed["output"] == output
    assert parsed["steps"] == []  # a pass may only re-encode its input
    if output.get("partitioner", {}).get("kind") == "function":
        assert parsed["function_names"] == {"by_mod_three": "partitioner"}


def test_step_kinds_are_the_abi_step_kinds() -> None:
    # snake_case of every sparkwasm_abi::StepKind variant, in declaration order.
    import re
    from pathlib import Path

    abi = (Path(__file__).resolve().parents[2] / "guest-sdk" / "abi" / "src" / "lib.rs").read_text()
    start = abi.index("pub enum StepKind {")
    body = abi[start : abi.index("\n}\n", start)]
    variants = re.findall(r"^    ([A-Z][A-Za-z]*),$", body, re.M)
    snake = [re.sub(r"(?<!^)([A-Z])", r"_\1", v).lower() for v in variants]
    assert snake == list(STEP_KINDS)


def test_function_names_cover_only_mentioned_functions() -> None:
    module = WasmModule(good_module())
    manifest = Manifest(
        module_digest=module.digest,
        input="binary",
        source=("with_one", "output"),
        steps=[ManifestStep("reduce_by_key", ("add",))],
        output={"kind": "pickle"},
        function_kinds=module.function_kinds(),
    )
    parsed = decode_command(encode_command(manifest, b""))[1]
    assert parsed["function_names"] == {"with_one": "map", "add": "reduce"}
    assert parsed["output"] == {"kind": "pickle"}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"input": "arrow"}, "unknown input encoding"),
        ({"source": ("with_one", "middle")}, "unknown source side"),
        ({"steps": [ManifestStep("map", ("add",))]}, "needs functions of kinds"),
        ({"steps": [ManifestStep("map", ())]}, "needs functions of kinds"),
        ({"steps": [ManifestStep("combine_by_key", ("with_one",))]}, "needs functions of kinds"),
        ({"steps": [ManifestStep("fold", ("add",))]}, "unknown step kind"),
        ({"steps": [ManifestStep("fold_by_key", ("add",))]}, "needs an arg"),
        ({"steps": [ManifestStep("fold_by_key", ("add",), 0)]}, "there are 0"),
        ({"steps": [ManifestStep("map", ("with_one",), 1)]}, "takes no arg"),
        ({"steps": [ManifestStep("tag", (), 2)]}, "cannot take the number 2"),
        ({"steps": [ManifestStep("join", (), 6)]}, "cannot take the number 6"),
        ({"source": ("nope", "input")}, "not in the module"),
        ({"output": {"kind": "shuffle", "partitions": 0, "partitioner": {"kind": "hash"}}}, "partitions >= 1"),
        ({"output": {"kind": "shuffle", "partitions": 2}}, "needs a partitioner"),
        ({"output": {"kind": "shuffle", "partitions": 2, "partitioner": {"kind": "function", "function": "add"}}}, "partitioner function"),
        ({"output": {"kind": "shuffle", "partitions": 2, "partitioner": {"kind": "range", "bounds_arg": 0, "ascending": True}}}, "there are 0"),
        ({"output": {"kind": "take"}}, "take output"),
        ({"output": {"kind": "sample_keys", "fraction": 2.0, "seed": 1}}, "fraction"),
        ({"output": {"kind": "pickle", "n": 1}}, "takes"),
        ({"output": {"kind": "arrow"}}, "unknown output"),
        ({"broadcasts": {"x": "1"}}, "invalid broadcast"),
    ],
)
def test_manifest_refuses_invalid_passes(change: Dict[str, Any], message: str) -> None:
    module = WasmModule(good_module())
    fields: Dict[str, Any] = dict(
        module_digest=module.digest,
        input="utf8",
        source=("with_one", "input"),
        steps=[ManifestStep("map", ("with_one",))],
        output={"kind": "pickle"},
        function_kinds=module.function_kinds(),
    )
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        Manifest(**fields).to_json()


def test_worker_path_lookup_order(monkeypatch: Any) -> None:
    class Conf:
        def __init__(self, value: Any) -> None:
            self.value = value

        def get(self, key: str) -> Any:
            assert key == "spark.sparkwasm.worker"
            return self.value

    class FakeContext:
        def __init__(self, value: Any) -> None:
            self.conf = Conf(value)

        def getConf(self) -> Conf:
            return self.conf

    monkeypatch.setenv("SPARKWASM_WORKER", "/from/env")
    assert sparkwasm.worker_path(FakeContext("/from/conf")) == "/from/conf"  # type: ignore[arg-type]
    assert sparkwasm.worker_path(FakeContext(None)) == "/from/env"  # type: ignore[arg-type]
    monkeypatch.delenv("SPARKWASM_WORKER")
    from sparkwasm import _worker

    monkeypatch.setattr(_worker, "default_worker_path", lambda: _worker.Path("/nonexistent/w"))
    with pytest.raises(FileNotFoundError, match="cargo build --release -p sparkwasm-host"):
        sparkwasm.worker_path(FakeContext(None))  # type: ignore[arg-type]
