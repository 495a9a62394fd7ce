"""Pure-Python tests of module loading, type strings and command encoding (no Spark, no Rust).

Modules are assembled by hand (``wasm_builder``): a header, a descriptor custom section and
an export section are all the driver reads.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any, Dict, Tuple

import pytest

import sparkwasm
import wasm_builder as wb
from sparkwasm._command import Manifest, encode_command
from sparkwasm._module import WasmModule
from sparkwasm._types import KeyPartitionFunc, normalize, split_pair, stable_hash

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


def test_unsupported_abi_version() -> None:
    entry = wb.descriptor("f", "map", "i64", "i64", abi_version=2, new_field=True)
    data = (
        wb.MAGIC
        + wb.VERSION
        + wb.descriptor_section([entry])
        + wb.export_section(wb.standard_exports(["f"]))
    )
    with pytest.raises(sparkwasm.WasmModuleError, match=r"ABI version 2.*supports only version 1"):
        WasmModule(data)


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


@pytest.mark.parametrize(
    "key_type, key, encoded",
    [
        ("String", "spark", b"\x05spark"),
        ("std::string::String", "é", b"\x02\xc3\xa9"),
        ("i64", 0, b"\x00"),
        ("i64", -1, b"\x01"),
        ("i64", 1, b"\x02"),
        ("i64", 64, b"\x80\x01"),
        ("u32", 300, b"\xac\x02"),
        ("u8", 255, b"\xff"),
        ("i8", -1, b"\xff"),
        ("bool", True, b"\x01"),
        ("Option<i32>", None, b"\x00"),
        ("Option<i32>", 3, b"\x01\x06"),
        ("(String, u16)", ("a", 2), b"\x01a\x02"),
        ("Vec<u8>", [1, 2], b"\x02\x01\x02"),
    ],
)
def test_postcard_key_encoding(key_type: str, key: Any, encoded: bytes) -> None:
    func = KeyPartitionFunc(key_type)
    assert func.encode(key) == encoded
    assert func(key) == stable_hash(encoded)


def test_key_partition_func_refuses_what_it_cannot_encode() -> None:
    with pytest.raises(TypeError, match="does not fit in u8"):
        KeyPartitionFunc("u8")(256)
    with pytest.raises(TypeError, match="unsupported key type f64"):
        KeyPartitionFunc("f64")(1.5)
    assert KeyPartitionFunc("(String, i64)") == KeyPartitionFunc("(String,i64)")


# --- commands --------------------------------------------------------------------------------


def test_encode_command_round_trips() -> None:
    data = good_module()
    module = WasmModule(data)
    manifest = Manifest(
        module_digest=module.digest,
        input="utf8",
        source=("split_words", "input"),
        steps=[("flat_map", "split_words"), ("map", "with_one"), ("reduce_by_key", "add")],
        output={"kind": "shuffle", "partitions": 4},
        function_kinds=module.function_kinds(),
    )
    version, parsed, module_bytes = decode_command(encode_command(manifest, data))
    assert version == 1
    assert module_bytes == data
    assert parsed == {
        "module_digest": hashlib.sha256(data).hexdigest(),
        "input": "utf8",
        "source": {"function": "split_words", "side": "input"},
        "steps": [
            {"kind": "flat_map", "function": "split_words"},
            {"kind": "map", "function": "with_one"},
            {"kind": "reduce_by_key", "function": "add"},
        ],
        "output": {"kind": "shuffle", "partitions": 4},
        "function_names": {"split_words": "flat_map", "with_one": "map", "add": "reduce"},
    }
    assert list(parsed) == [
        "module_digest",
        "input",
        "source",
        "steps",
        "output",
        "function_names",
    ]


def test_function_names_cover_only_mentioned_functions() -> None:
    module = WasmModule(good_module())
    manifest = Manifest(
        module_digest=module.digest,
        input="binary",
        source=("with_one", "output"),
        steps=[("reduce_by_key", "add")],
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
        ({"steps": []}, "at least one step"),
        ({"steps": [("map", "add")]}, "needs a map function"),
        ({"steps": [("fold", "add")]}, "unknown step kind"),
        ({"source": ("nope", "input")}, "not in the module"),
        ({"output": {"kind": "shuffle", "partitions": 0}}, "partitions >= 1"),
        ({"output": {"kind": "arrow"}}, "unknown output"),
    ],
)
def test_manifest_refuses_invalid_passes(change: Dict[str, Any], message: str) -> None:
    module = WasmModule(good_module())
    fields: Dict[str, Any] = dict(
        module_digest=module.digest,
        input="utf8",
        source=("with_one", "input"),
        steps=[("map", "with_one")],
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
