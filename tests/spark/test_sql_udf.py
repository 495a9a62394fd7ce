"""Spark SQL UDFs and UDAFs in WASM (``sparkwasm.udf``/``udaf``), on real Spark.

Two groups:

* **Driver-only tests** (names contain ``definition``, ``descriptor`` or ``command``): the
  descriptor's ``sql`` signature, the format-3 command, and everything checked or built when a
  UDF is defined or applied: kinds, return types, argument counts, refused sessions, the JVM
  ``UserDefinedPythonFunction`` (eval type, ``pythonExec``, deterministic), the plan it
  gives, ``spark.udf.register``. They use a hand-assembled module declaring the SQL guest's
  signatures (``wasm_builder.SQL_GUEST_DESCRIPTORS``) and run no Spark job, so they need
  neither the worker nor a built guest.
* **End-to-end tests**: the fixture guest ``tests/guests/sql`` (``sql_guest.wasm``) in the
  sparkwasm worker. The oracle is differential: every result is compared with the same
  function written as a Python ``udf`` (pickled rows, ``useArrow=False``), and for some as a
  ``pandas_udf``, on stock PySpark in the same session. The Skip null policy means "null in,
  null out", so the Python references return ``None`` for any ``None`` argument unless the
  Rust function takes ``Option``\\ s.

This module is pickled by value (below), so the Python references can be module-level
functions: executors cannot import this test module.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import struct
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Sequence, Tuple

import pytest
from pyspark import SparkConf, SparkContext, cloudpickle
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, IntegerType, LongType, StringType

import sparkwasm
import wasm_builder as wb
from sparkwasm import WasmModule, WasmUDF
from sparkwasm._command import SqlManifest, encode_sql_command
from sparkwasm._sql import PYSPARK_PYTHON_CONF, eval_type_for, install_register_hook
from sparkwasm._wasm import ABI_VERSION

try:
    import pandas as pd
except ImportError:  # only the pandas_udf references need it (scripts/bootstrap.sh installs it)
    pd = None

cloudpickle.register_pickle_by_value(sys.modules[__name__])

CONF_WORKER = "spark.sparkwasm.worker"


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def spark(sc_local: SparkContext) -> SparkSession:
    """A session on the shared ``local[2]`` context."""
    return SparkSession.builder.getOrCreate()


@pytest.fixture
def fake(spark: SparkSession) -> WasmModule:
    """A module with the SQL guest's signatures and no code: for driver-only tests."""
    return sparkwasm.load(spark.sparkContext, wb.sql_module())


@pytest.fixture
def sqlm(spark: SparkSession, sql_guest_wasm: Path) -> WasmModule:
    """The real SQL fixture guest."""
    return sparkwasm.load(spark.sparkContext, sql_guest_wasm)


@contextlib.contextmanager
def session_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """``key=value`` in the session's conf for the duration of the block."""
    old = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if old is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, old)


def physical_plan(df: DataFrame) -> str:
    """The executed plan's text, without running it."""
    return str(df._jdf.queryExecution().executedPlan().toString())


def decode_command(command: bytes) -> Tuple[int, Dict[str, Any], bytes]:
    """The worker's view of a command: version, manifest, module bytes."""
    assert command[:6] == b"SPWASM"
    (length,) = struct.unpack(">I", command[7:11])
    return command[6], json.loads(command[11 : 11 + length].decode("utf-8")), command[11 + length :]


def error_text(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """The whole failure as the user sees it: Py4J's message includes the JVM's cause chain."""
    return str(excinfo.value)


def _normal(value: Any) -> Any:
    """A value comparable with ``==``: NaN equals NaN, binary is bytes."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


def rows(df: DataFrame, order: Sequence[str] = ("id",)) -> List[Tuple[Any, ...]]:
    """``df``'s rows as tuples of normalised values, ordered by ``order``."""
    return [tuple(_normal(v) for v in row) for row in df.orderBy(*order).collect()]


def sorted_rows(df: DataFrame) -> List[Tuple[Any, ...]]:
    """``df``'s rows as tuples of normalised values, sorted (nulls first) on the driver."""
    def key(row: Tuple[Any, ...]) -> Tuple[Any, ...]:
        return tuple((v is not None, repr(type(v)), v if v is not None else 0) for v in row)

    return sorted((tuple(_normal(v) for v in row) for row in df.collect()), key=key)


def close_rows(got: List[Tuple[Any, ...]], want: List[Tuple[Any, ...]]) -> None:
    """Equal, except that floats may differ in summation order (UDAFs)."""
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        assert len(g) == len(w), (g, w)
        for a, b in zip(g, w):
            if isinstance(a, float) and isinstance(b, float):
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (g, w)
            else:
                assert a == b, (g, w)


def skip_nulls(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The Skip null policy in Python: any null argument gives a null result."""
    return lambda *args: None if any(a is None for a in args) else fn(*args)


def py_udf(fn: Callable[..., Any], return_type: Any) -> Callable[..., Column]:
    """``fn`` as a stock PySpark row-at-a-time UDF (pickled rows, eval type 100)."""
    return F.udf(fn, return_type, useArrow=False)


def wrap(value: int, bits: int) -> int:
    """Two's-complement wrap-around, as Rust's ``wrapping_*``."""
    half = 1 << (bits - 1)
    return (value + half) % (1 << bits) - half


def need_pandas() -> Any:
    if pd is None:
        pytest.fail("the pandas_udf references need pandas and pyarrow: run scripts/bootstrap.sh")
    return pd


# --- the module's descriptors (no Spark) -----------------------------------------------------


def test_descriptor_sql_signature_is_exposed() -> None:
    module = WasmModule(wb.sql_module())
    ratio = module.functions["ratio"]
    assert ratio.kind == "udf" and ratio.sql is not None
    assert ratio.sql.args == ("double", "double")
    assert ratio.sql.nullable_args == (True, True)
    assert (ratio.sql.returns, ratio.sql.returns_nullable, ratio.sql.nulls) == ("double", True, "skip")
    assert module.functions["must"].sql.nulls == "reject"  # type: ignore[union-attr]
    assert module.functions["weighted_mean"].kind == "udaf"
    assert module.functions["triple"].sql is None
    assert ABI_VERSION == 4


def _sql_entry(**changes: Any) -> Dict[str, Any]:
    entry = wb.sql_descriptor("f", "udf", "i64", "i64", ["bigint"], "bigint")
    sql = dict(entry["sql"])
    for key, value in changes.items():
        if key.startswith("sql_"):
            if value is _DROP:
                del sql[key[4:]]
            else:
                sql[key[4:]] = value
        else:
            entry[key] = value
    entry["sql"] = sql
    return entry


_DROP = object()


@pytest.mark.parametrize(
    "entry, message",
    [
        ({**wb.descriptor("f", "udf", "i64", "i64")}, "needs a 'sql' signature"),
        ({**wb.descriptor("f", "udaf", "i64", "i64")}, "needs a 'sql' signature"),
        ({**wb.descriptor("f", "udf", "i64", "i64"), "sql": None}, "needs a 'sql' signature"),
        (_sql_entry(kind="map"), "must not have a 'sql' signature"),
        (_sql_entry(sql_extra=1), r"unknown fields \['extra'\]"),
        (_sql_entry(sql_nulls=_DROP), r"missing fields \['nulls'\]"),
        ({**_sql_entry(), "sql": ["bigint"]}, "must be a JSON object"),
        (_sql_entry(sql_args="bigint"), "'args' must be a list"),
        (_sql_entry(sql_args=[""]), "'args' must be a list"),
        (_sql_entry(sql_nullable_args=[1]), "'nullable_args' must be a list of booleans"),
        (_sql_entry(sql_nullable_args=[]), "1 'args' but 0 'nullable_args'"),
        (_sql_entry(sql_returns=""), "'returns' must be"),
        (_sql_entry(sql_returns_nullable="no"), "'returns_nullable' must be a boolean"),
        (_sql_entry(sql_nulls="ignore"), "'nulls' must be one of skip, reject"),
    ],
)
def test_descriptor_sql_signature_is_checked_strictly(entry: Dict[str, Any], message: str) -> None:
    with pytest.raises(sparkwasm.WasmModuleError, match=message):
        WasmModule(wb.sql_module([entry]))


def test_descriptor_abi_3_modules_are_refused() -> None:
    entry = wb.descriptor("f", "map", "i64", "i64", abi_version=3)
    with pytest.raises(sparkwasm.WasmModuleError, match="ABI version 3.*supports only version 4"):
        WasmModule(wb.sql_module([entry]))


# --- the command (no Spark) ------------------------------------------------------------------


def test_command_format_3_round_trips() -> None:
    module = b"\0asm-module-bytes"
    digest = hashlib.sha256(module).hexdigest()
    manifest = SqlManifest(
        digest, "concat_ws_dash", "udf", ("string", "string"), "string", {"memory_mb": 64}
    )
    version, decoded, rest = decode_command(encode_sql_command(manifest, module))
    assert version == 3 and rest == module
    assert decoded == {
        "module_digest": digest,
        "function": "concat_ws_dash",
        "kind": "udf",
        "args": ["string", "string"],
        "returns": "string",
        "policy": {"memory_mb": 64},
    }


@pytest.mark.parametrize(
    "change, message",
    [
        ({"module_digest": "ABC"}, "64 lowercase hex"),
        ({"module_digest": "A" * 64}, "64 lowercase hex"),
        ({"function": ""}, "non-empty name"),
        ({"kind": "map"}, "kind is one of"),
        ({"args": ("bigint", "")}, "non-empty strings"),
        ({"returns": ""}, "non-empty strings"),
    ],
)
def test_command_refuses_invalid_manifests(change: Dict[str, Any], message: str) -> None:
    fields: Dict[str, Any] = dict(
        module_digest="0" * 64, function="f", kind="udaf", args=("bigint",), returns="bigint"
    )
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        encode_sql_command(SqlManifest(**fields), b"")


@pytest.mark.parametrize(
    "kind, version, expected",
    [
        ("udf", "4.3.0", 250),
        ("udaf", "4.3.0", 252),
        ("udf", "4.1.0-SNAPSHOT", 250),
        ("udf", "4.0.1", 200),
        ("udaf", "4.0.0", 202),
        ("udf", "3.5.6", 200),
        ("udaf", "3.5.0", 202),
    ],
)
def test_definition_eval_type_per_spark_version(kind: str, version: str, expected: int) -> None:
    assert eval_type_for(kind, version) == expected


def test_definition_old_spark_is_refused() -> None:
    with pytest.raises(ValueError, match="need Spark 3.5 or newer.*3.4.1"):
        eval_type_for("udf", "3.4.1")


# --- definition-time checks (a session, no job) ----------------------------------------------


def test_definition_return_type_defaults_to_the_module_and_must_match_it(
    spark: SparkSession, fake: WasmModule
) -> None:
    assert sparkwasm.udf(fake.str_len).returnType == IntegerType()
    for declared in ("int", " INT ", "integer", IntegerType()):
        assert sparkwasm.udf(fake.str_len, declared).returnType == IntegerType()
    assert fake.udf("double_decimal", "decimal(12, 2)").returnType == DecimalType(12, 2)
    assert fake.udaf("weighted_mean", "double").evalType == 252
    with pytest.raises(TypeError, match=r"str_len returns Rust i32 = Spark int; declared 'bigint'"):
        sparkwasm.udf(fake.str_len, "bigint")
    with pytest.raises(TypeError, match=r"str_len returns Rust i32 = Spark int; declared 'string'"):
        fake.udf("str_len", StringType())
    with pytest.raises(TypeError, match=r"declared 'decimal\(10,2\)'"):
        sparkwasm.udf(fake.double_decimal, DecimalType(10, 2))
    with pytest.raises(TypeError, match="weighted_mean returns .* Spark double; declared 'bigint'"):
        sparkwasm.udaf(fake.weighted_mean, LongType())
    with pytest.raises(TypeError, match="is not a Spark type"):
        sparkwasm.udf(fake.str_len, "no such type")
    with pytest.raises(TypeError, match="returnType must be a DataType or a type string"):
        sparkwasm.udf(fake.str_len, 42)  # type: ignore[arg-type]


def test_definition_wrong_kind_is_refused(spark: SparkSession, fake: WasmModule) -> None:
    udaf_hint = r"weighted_mean is declared with #\[sparkwasm::udaf\].*sparkwasm.udaf"
    with pytest.raises(TypeError, match=udaf_hint):
        sparkwasm.udf(fake.weighted_mean)
    with pytest.raises(TypeError, match=r"weighted_mean is declared with #\[sparkwasm::udaf\]"):
        fake.udf("weighted_mean")
    with pytest.raises(TypeError, match=r"str_len is declared with #\[sparkwasm::udf\].*sparkwasm.udf"):
        sparkwasm.udaf(fake.str_len)
    with pytest.raises(TypeError, match=r"triple is an RDD function \(#\[sparkwasm::map\]"):
        fake.udf("triple")
    with pytest.raises(TypeError, match=r"needs a WASM function.*pyspark.sql.functions.udf"):
        sparkwasm.udf(lambda x: x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"cannot be bound with .using"):
        sparkwasm.udf(fake.str_len.using(spark_files=False))
    # The function itself cannot run in Python; the message says how to use it.
    with pytest.raises(TypeError, match=r"sparkwasm.udf\(module.str_len\)"):
        fake.str_len("x")


def test_definition_unknown_function(spark: SparkSession, fake: WasmModule) -> None:
    with pytest.raises(ValueError, match=r"no function 'nope'; available: .*str_len"):
        fake.udf("nope")
    with pytest.raises(ValueError, match=r"no function 'nope'"):
        fake.udaf("nope")
    with pytest.raises(AttributeError, match=r"no function 'nope'"):
        sparkwasm.udf(fake.nope)


def test_definition_wrong_argument_count_or_kind(spark: SparkSession, fake: WasmModule) -> None:
    add_ints = sparkwasm.udf(fake.add_ints)
    two = r"add_ints takes 2 arguments \(add_ints\(int, int\) -> int\), got 1"
    with pytest.raises(TypeError, match=two):
        add_ints("a")
    one = r"str_len takes 1 argument \(str_len\(string\) -> int\), got 2"
    with pytest.raises(TypeError, match=one):
        sparkwasm.udf(fake.str_len)("a", "b")
    with pytest.raises(TypeError, match=r"weighted_mean takes 2 arguments"):
        fake.udaf("weighted_mean")("x")
    with pytest.raises(TypeError, match="positional arguments only"):
        add_ints("a", b="b")
    with pytest.raises(TypeError, match=r"argument 1 must be a column name or a Column.*lit"):
        add_ints("a", 3)


def test_definition_pyspark_python_conf_is_refused(spark: SparkSession, fake: WasmModule) -> None:
    defined = sparkwasm.udf(fake.str_len)
    with session_conf(spark, PYSPARK_PYTHON_CONF, sys.executable):
        with pytest.raises(ValueError, match=rf"{PYSPARK_PYTHON_CONF}=.*sparkwasm worker"):
            sparkwasm.udf(fake.str_len)
        # Set after the UDF was defined: refused when it is applied.
        with pytest.raises(ValueError, match=PYSPARK_PYTHON_CONF):
            defined("name")
    assert isinstance(defined("name"), Column)


def test_definition_spark_connect_is_refused(
    spark: SparkSession, fake: WasmModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = fake.str_len
    # What pyspark.sql.utils.is_remote() looks at.
    monkeypatch.setenv("SPARK_CONNECT_MODE_ENABLED", "1")
    with pytest.raises(ValueError, match="Spark Connect"):
        sparkwasm.udf(function)


def test_definition_builds_the_jvm_udf(spark: SparkSession, fake: WasmModule) -> None:
    sc = spark.sparkContext
    concat = sparkwasm.udf(fake.concat_ws_dash)
    assert isinstance(concat, WasmUDF) and concat.func is not None
    judf = concat._judf
    assert judf.name() == "concat_ws_dash"
    assert judf.pythonEvalType() == 250
    assert judf.udfDeterministic()
    assert judf.dataType().simpleString() == "string"
    assert judf.func().pythonExec() == sc.getConf().get(CONF_WORKER)
    assert judf.func().envVars().get("SPARKWASM_SPARK_VERSION") == sc.version
    version, manifest, module = decode_command(concat._command(sc))
    assert version == 3 and module == wb.sql_module()
    assert manifest == {
        "module_digest": fake.digest,
        "function": "concat_ws_dash",
        "kind": "udf",
        "args": ["string", "string"],
        "returns": "string",
        "policy": {},
    }
    wmean = sparkwasm.udaf(fake.weighted_mean)
    assert wmean._judf.pythonEvalType() == 252
    assert decode_command(wmean._command(sc))[1]["kind"] == "udaf"
    # Nondeterminism reaches the JVM, both ways of asking for it.
    assert not sparkwasm.udf(fake.str_len).asNondeterministic()._judf.udfDeterministic()
    assert not fake.udf("str_len", deterministic=False)._judf.udfDeterministic()


def test_definition_sandbox_settings_travel_in_the_command(
    spark: SparkSession, fake: WasmModule
) -> None:
    # The context's conf is the job's policy, as for RDDs; a stand-in context holds one entry
    # (the shared context's conf is not ours to change).
    class Context:
        def getConf(self) -> SparkConf:
            return SparkConf(loadDefaults=False).set("spark.sparkwasm.memoryMb", "48")

    command = sparkwasm.udf(fake.affine)._command(Context())  # type: ignore[arg-type]
    manifest = decode_command(command)[1]
    assert manifest["policy"] == {"memory_mb": 48}


def test_definition_plan_runs_in_an_arrow_eval_node_with_cast_arguments(
    spark: SparkSession, fake: WasmModule
) -> None:
    df = spark.createDataFrame(
        [(1, "abc", 3, 2.0, 1.0)], "id bigint, name string, i int, x double, w double"
    )
    str_len, affine = fake.udf("str_len"), fake.udf("affine")
    # Arguments are cast to the declared types: an int column feeds a bigint argument.
    query = df.select(str_len("name"), affine("i"), affine(affine(F.col("id"))))
    assert [f.dataType for f in query.schema.fields] == [IntegerType(), LongType(), LongType()]
    plan = physical_plan(query)
    # One node of eval type 250; affine(affine(..)) is one chained UDF (Spark chains it).
    assert plan.count("ArrowEvalPython") == 1, plan
    assert re.search(r"ArrowEvalPython .*, 250$", plan, re.M), plan
    assert "cast(i#" in plan and "as bigint)" in plan, plan
    assert "affine(affine(id#" in plan, plan
    # where, withColumn, a groupBy key and a one-sided join condition all analyse and plan.
    physical_plan(df.where(str_len("name") > 1))
    physical_plan(df.withColumn("n", str_len("name")))
    physical_plan(df.groupBy(str_len("name").alias("k")).count())
    other = spark.createDataFrame([(3,)], "n int")
    physical_plan(df.join(other, str_len(df.name) == other.n))
    grouped = df.groupBy("id").agg(fake.udaf("weighted_mean")("x", "w"))
    plan = physical_plan(grouped)
    assert re.search(r"ArrowAggregatePython .*, 252$", plan, re.M), plan


def test_definition_spark_udf_register_keeps_the_worker(spark: SparkSession, fake: WasmModule) -> None:
    str_len = sparkwasm.udf(fake.str_len)
    registered = spark.udf.register("wasm_str_len", str_len)
    assert isinstance(registered, WasmUDF) and registered._name == "wasm_str_len"
    assert registered._judf.func().pythonExec() == spark.sparkContext.getConf().get(CONF_WORKER)
    spark.createDataFrame([("abc",)], "name string").createOrReplaceTempView("names")
    query = spark.sql("SELECT wasm_str_len(name) FROM names")
    assert query.columns == ["wasm_str_len(name)"]
    assert ", 250" in physical_plan(query)
    # A WASM function registers as well, its kind deciding udf or udaf.
    assert spark.udf.register("wasm_wmean", fake.weighted_mean).evalType == 252
    # PySpark's wrapper of a UDF (udf._wrapped()) too.
    assert isinstance(spark.udf.register("wasm_str_len2", str_len._wrapped()), WasmUDF)
    with pytest.raises(TypeError, match="returnType cannot be given"):
        spark.udf.register("wasm_str_len3", str_len, "int")
    # Anything else is PySpark's register.
    plain = spark.udf.register("py_len", lambda s: len(s), "int")
    assert not isinstance(plain, WasmUDF) and plain.evalType == 100
    # Importing sparkwasm again (or calling the hook) wraps once.
    from pyspark.sql.udf import UDFRegistration

    before = UDFRegistration.register
    install_register_hook()
    assert UDFRegistration.register is before


def test_definition_sparkwasm_register(spark: SparkSession, fake: WasmModule) -> None:
    registered = sparkwasm.register(spark, "wasm_affine", fake.affine)
    assert isinstance(registered, WasmUDF) and registered._name == "wasm_affine"
    assert sparkwasm.register(spark, "wasm_affine2", fake.udf("affine"))._name == "wasm_affine2"
    assert spark.sql("SELECT wasm_affine(7L)").schema.fields[0].dataType == LongType()
    with pytest.raises(TypeError, match="needs a sparkwasm UDF"):
        sparkwasm.register(spark, "py", lambda x: x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RDD function"):
        sparkwasm.register(spark, "triple", fake.triple)
    with pytest.raises(TypeError, match="needs a SparkSession"):
        sparkwasm.register(spark.sparkContext, "x", fake.affine)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="non-empty string"):
        sparkwasm.register(spark, "", fake.affine)


# --- end to end: every type ------------------------------------------------------------------

BOOLS = [True, False, None, True]
I8 = [0, 1, -1, 127, -128, 42, None]
I16 = [0, 1, -1, 32767, -32768, 1234, None]
I32 = [0, 1, -1, 2**31 - 1, -(2**31), 123456, None]
I64 = [0, 1, -1, 2**63 - 1, -(2**63), 13, None]
F32 = [0.0, -0.0, 1.5, -2.25, 3.0e38, float("inf"), float("-inf"), float("nan"), None]
F64 = [0.0, -0.0, 1.5, -2.25, 1e308, 5e-324, float("inf"), float("nan"), None]
STRS = ["", "a", "Hello, World", "straße", "ǆemo", "日本語", "emoji 🎉", None]
BINS = [b"", b"\x00\x01\xff", b"abc", bytes(range(256)), None]
DATES = [
    date(1970, 1, 1), date(2024, 2, 28), date(2024, 2, 29), date(1900, 3, 1), date(9999, 12, 30), None
]
TIMESTAMPS = [
    datetime(2024, 1, 1, 12, 30, 45, 123456),
    datetime(1970, 1, 1, 0, 0, 0),
    datetime(1969, 12, 31, 23, 59, 59, 999999),
    datetime(2000, 6, 15, 8, 0, 0, 1),
    None,
]
DECIMALS = [
    Decimal("0.00"), Decimal("-1.05"), Decimal("99999999.99"), Decimal("-99999999.99"),
    Decimal("12.30"), None,
]


def _same(x: Any) -> Any:
    return x


# (WASM function, Spark type of the argument, values, Python reference for non-null values)
TYPE_CASES: List[Tuple[str, str, List[Any], Callable[[Any], Any]]] = [
    ("id_bool", "boolean", BOOLS, _same),
    ("not_bool", "boolean", BOOLS, lambda x: not x),
    ("id_byte", "tinyint", I8, _same),
    ("neg_byte", "tinyint", I8, lambda x: wrap(-x, 8)),
    ("id_short", "smallint", I16, _same),
    ("neg_short", "smallint", I16, lambda x: wrap(-x, 16)),
    ("id_int", "int", I32, _same),
    ("neg_int", "int", I32, lambda x: wrap(-x, 32)),
    ("id_long", "bigint", I64, _same),
    ("neg_long", "bigint", I64, lambda x: wrap(-x, 64)),
    ("id_float", "float", F32, _same),
    ("half_float", "float", F32, lambda x: x / 2.0),
    ("id_double", "double", F64, _same),
    ("half_double", "double", F64, lambda x: x / 2.0),
    ("id_string", "string", STRS, _same),
    ("upper", "string", STRS, lambda x: x.upper()),
    ("id_binary", "binary", BINS, bytes),
    ("reverse_bytes", "binary", BINS, lambda x: bytes(x)[::-1]),
    ("id_date", "date", DATES, _same),
    ("next_day", "date", DATES, lambda x: x + timedelta(days=1)),
    ("id_timestamp", "timestamp", TIMESTAMPS, _same),
    ("plus_second", "timestamp", TIMESTAMPS, lambda x: x + timedelta(seconds=1)),
    ("id_timestamp_ntz", "timestamp_ntz", TIMESTAMPS, _same),
    ("id_decimal", "decimal(10,2)", DECIMALS, _same),
    ("double_decimal", "decimal(10,2)", DECIMALS, lambda x: x * 2),
]


@pytest.mark.parametrize(
    "name, spark_type, values, reference", TYPE_CASES, ids=[c[0] for c in TYPE_CASES]
)
def test_every_type_against_python(
    spark: SparkSession,
    sqlm: WasmModule,
    name: str,
    spark_type: str,
    values: List[Any],
    reference: Callable[[Any], Any],
) -> None:
    df = spark.createDataFrame(list(enumerate(values)), f"id bigint, v {spark_type}")
    wasm = sqlm.udf(name)
    python = py_udf(skip_nulls(reference), wasm.returnType)
    got = rows(df.select("id", wasm("v").alias("r")))
    want = rows(df.select("id", python("v").alias("r")))
    assert got == want
    # The null row's result is null (Skip), the others are not.
    assert [r[1] is None for r in got] == [v is None for v in values]


@pytest.mark.parametrize(
    "name, reference",
    [
        ("opt_id_long", lambda x: x),
        ("coalesce_zero", lambda x: 0 if x is None else x),
    ],
)
def test_option_arguments_see_nulls(
    spark: SparkSession, sqlm: WasmModule, name: str, reference: Callable[[Any], Any]
) -> None:
    df = spark.createDataFrame(list(enumerate(I64)), "id bigint, v bigint")
    wasm = sqlm.udf(name)
    python = py_udf(reference, "bigint")
    assert rows(df.select("id", wasm("v"))) == rows(df.select("id", python("v")))


def test_scalar_udfs_against_pandas_udfs(spark: SparkSession, sqlm: WasmModule) -> None:
    need_pandas()

    @F.pandas_udf("int")  # type: ignore[call-overload]
    def pd_str_len(s: pd.Series) -> pd.Series:
        return s.str.len()

    @F.pandas_udf("bigint")  # type: ignore[call-overload]
    def pd_affine(s: pd.Series) -> pd.Series:
        return s * 2 + 1

    df = spark.createDataFrame(
        [(i, s, i * 1000 - 7) for i, s in enumerate(STRS)], "id bigint, s string, x bigint"
    )
    got = rows(df.select("id", sqlm.udf("str_len")("s"), sqlm.udf("affine")("x")))
    want = rows(df.select("id", pd_str_len("s"), pd_affine("x")))
    assert got == want


# --- end to end: several arguments, casts ----------------------------------------------------


def py_ratio(x: Any, y: Any) -> Any:
    return None if x is None or y is None or y == 0.0 else x / y


def test_several_arguments(spark: SparkSession, sqlm: WasmModule) -> None:
    df = spark.createDataFrame(
        [
            (0, 1, 2, "a", "b", 1.0, 2.0),
            (1, None, 2, None, "b", None, 1.0),
            (2, 1, None, "a", None, 1.0, None),
            (3, None, None, None, None, None, None),
            (4, 2**31 - 1, 1, "", "", 1.0, 0.0),
            (5, -(2**31), -1, "ü", "日", -3.0, 4.0),
            (6, 7, 8, "x-y", "z", 0.0, -0.0),
        ],
        "id bigint, a int, b int, s string, t string, x double, y double",
    )
    got = rows(
        df.select(
            "id",
            sqlm.udf("add_ints")("a", "b"),
            sqlm.udf("concat_ws_dash")("s", "t"),
            sqlm.udf("ratio")("x", "y"),
        )
    )
    want = rows(
        df.select(
            "id",
            py_udf(skip_nulls(lambda a, b: wrap(a + b, 32)), "int")("a", "b"),
            py_udf(skip_nulls(lambda s, t: f"{s}-{t}"), "string")("s", "t"),
            py_udf(py_ratio, "double")("x", "y"),
        )
    )
    assert got == want


def test_arguments_are_cast_to_the_declared_types(spark: SparkSession, sqlm: WasmModule) -> None:
    # affine takes bigint and str_len string: an int and a bigint column are cast.
    df = spark.createDataFrame(
        [(0, 5, 12345), (1, None, None), (2, -3, -1)], "id bigint, i int, n bigint"
    )
    got = rows(df.select("id", sqlm.udf("affine")("i"), sqlm.udf("str_len")("n")))
    want = rows(
        df.select(
            "id",
            py_udf(skip_nulls(lambda x: x * 2 + 1), "bigint")(F.col("i").cast("bigint")),
            py_udf(skip_nulls(len), "int")(F.col("n").cast("string")),
        )
    )
    assert got == want


# --- end to end: where a UDF may appear ------------------------------------------------------


@pytest.fixture
def numbers(spark: SparkSession) -> DataFrame:
    """100 rows in 4 partitions: ``x`` with nulls, ``s`` a string of it."""
    x = F.when(F.col("id") % 10 == 0, F.lit(None)).otherwise(F.col("id") * 7 % 23 - 5)
    return spark.range(0, 100, 1, 4).select("id", x.alias("x"), x.cast("string").alias("s"))


def py_affine(x: int) -> int:
    return wrap(x * 2 + 1, 64)


def test_udf_in_filter(numbers: DataFrame, sqlm: WasmModule) -> None:
    wasm = numbers.where(sqlm.udf("is_even")("x"))
    python = numbers.where(py_udf(skip_nulls(lambda x: x % 2 == 0), "boolean")("x"))
    assert rows(wasm) == rows(python)
    assert rows(numbers.filter(~sqlm.udf("is_even")("x"))) == rows(
        numbers.filter(~py_udf(skip_nulls(lambda x: x % 2 == 0), "boolean")("x"))
    )


def test_udf_in_with_column_and_two_in_one_select(numbers: DataFrame, sqlm: WasmModule) -> None:
    wasm = numbers.withColumn("b", sqlm.udf("bucket")("x")).select(
        "id", "b", sqlm.udf("affine")("x"), sqlm.udf("str_len")("s")
    )
    python = numbers.withColumn("b", py_udf(skip_nulls(lambda x: x % 10), "bigint")("x")).select(
        "id", "b", py_udf(skip_nulls(py_affine), "bigint")("x"), py_udf(skip_nulls(len), "int")("s")
    )
    assert rows(wasm) == rows(python)


def test_udf_as_group_by_key(numbers: DataFrame, sqlm: WasmModule) -> None:
    wasm = numbers.groupBy(sqlm.udf("bucket")("x").alias("b")).agg(F.count("*"), F.sum("id"))
    python = numbers.groupBy(py_udf(skip_nulls(lambda x: x % 10), "bigint")("x").alias("b")).agg(
        F.count("*"), F.sum("id")
    )
    assert sorted_rows(wasm) == sorted_rows(python)


def test_udf_in_join_condition(spark: SparkSession, numbers: DataFrame, sqlm: WasmModule) -> None:
    buckets = spark.range(0, 10).select(F.col("id").alias("b"), (F.col("id") * 100).alias("v"))
    wasm = numbers.join(buckets, sqlm.udf("bucket")(numbers.x) == buckets.b).select("id", "v")
    py_bucket = py_udf(skip_nulls(lambda x: x % 10), "bigint")
    python = numbers.join(buckets, py_bucket(numbers.x) == buckets.b).select("id", "v")
    assert rows(wasm) == rows(python)


def test_chained_udfs(numbers: DataFrame, sqlm: WasmModule) -> None:
    affine = sqlm.udf("affine")
    wasm = numbers.select("id", affine(affine("x")), sqlm.udf("str_len")(sqlm.udf("upper")("s")))
    python = numbers.select(
        "id",
        py_udf(skip_nulls(lambda x: py_affine(py_affine(x))), "bigint")("x"),
        py_udf(skip_nulls(lambda s: len(s.upper())), "int")("s"),
    )
    assert rows(wasm) == rows(python)


def test_sql_registration(spark: SparkSession, numbers: DataFrame, sqlm: WasmModule) -> None:
    numbers.createOrReplaceTempView("numbers")
    spark.udf.register("str_len", sqlm.udf("str_len"))
    sparkwasm.register(spark, "wasm_affine", sqlm.affine)
    spark.udf.register("py_str_len", skip_nulls(len), "int")
    spark.udf.register("py_affine", skip_nulls(py_affine), "bigint")
    got = rows(spark.sql("SELECT id, str_len(s) AS a, wasm_affine(x) AS b FROM numbers"))
    want = rows(spark.sql("SELECT id, py_str_len(s) AS a, py_affine(x) AS b FROM numbers"))
    assert got == want


def test_sql_text_widens_narrower_numbers_and_names_other_mismatches(
    spark: SparkSession, sqlm: WasmModule
) -> None:
    """SQL text gets no casts (Spark adds none for Python UDFs): the worker widens a narrower
    number type without loss, as Spark's implicit casts do, and names anything else."""
    spark.createDataFrame(
        [(1, 2, 3.5, "x"), (None, -7, None, "yy"), (127, 40_000, -0.25, None)],
        "b tinyint, i int, f float, s string",
    ).createOrReplaceTempView("narrow_numbers")
    sparkwasm.register(spark, "wasm_affine", sqlm.affine)
    sparkwasm.register(spark, "wasm_half_double", sqlm.half_double)
    sparkwasm.register(spark, "wasm_str_len", sqlm.str_len)
    got = spark.sql(
        "SELECT wasm_affine(b), wasm_affine(i), wasm_half_double(f), wasm_half_double(i) "
        "FROM narrow_numbers ORDER BY i"
    ).collect()
    want = [
        (2 * b + 1 if b is not None else None, 2 * i + 1, f / 2 if f is not None else None, i / 2)
        for b, i, f in sorted([(1, 2, 3.5), (None, -7, None), (127, 40_000, -0.25)], key=lambda r: r[1])
    ]
    assert [tuple(row) for row in got] == want
    with pytest.raises(Exception) as excinfo:
        spark.sql("SELECT wasm_str_len(i) FROM narrow_numbers").collect()
    assert "argument 1 of `str_len` is an Arrow Int32 column, the function takes Spark string" in error_text(excinfo)


# --- end to end: failures --------------------------------------------------------------------


def test_reject_policy_fails_naming_the_function(spark: SparkSession, sqlm: WasmModule) -> None:
    must = sqlm.udf("must")
    df = spark.createDataFrame([(0, 1), (1, 2), (2, None), (3, 4)], "id bigint, x bigint").coalesce(1)
    assert rows(df.where(F.col("x").isNotNull()).select("id", must("x"))) == [(0, 1), (1, 2), (3, 4)]
    with pytest.raises(Exception) as excinfo:
        df.select(must("x")).collect()
    text = error_text(excinfo)
    assert "must" in text and "null" in text.lower() and "row" in text.lower(), text[-3000:]


def test_panic_names_function_module_and_partition(spark: SparkSession, sqlm: WasmModule) -> None:
    boom = sqlm.udf("boom")
    df = spark.range(0, 20, 1, 2)
    with pytest.raises(Exception) as excinfo:
        df.select(boom("id")).collect()
    text = error_text(excinfo)
    assert "boom at 13" in text, text[-3000:]
    assert "boom" in text and sqlm.digest[:12] in text and "partition" in text, text[-3000:]
    # The worker survives; the next query on the session works.
    survivors = df.where(F.col("id") != 13).select("id", boom("id"))
    assert rows(survivors) == [(i, i) for i in range(20) if i != 13]


# --- end to end: aggregates ------------------------------------------------------------------


def pandas_aggregates() -> Tuple[Callable[..., Column], Callable[..., Column], Callable[..., Column]]:
    """weighted_mean, sum_long and count_rows as Series -> scalar pandas_udfs."""
    need_pandas()

    @F.pandas_udf("double")  # type: ignore[call-overload]
    def pd_weighted_mean(x: pd.Series, w: pd.Series) -> float:
        both = x.notna() & w.notna()
        total = w[both].sum()
        if not both.any() or total == 0:
            return None  # type: ignore[return-value]
        return float((x[both] * w[both]).sum() / total)

    @F.pandas_udf("bigint")  # type: ignore[call-overload]
    def pd_sum_long(x: pd.Series) -> int:
        return int(x.dropna().astype("int64").sum())

    @F.pandas_udf("bigint")  # type: ignore[call-overload]
    def pd_count_rows(x: pd.Series) -> int:
        return len(x)

    return pd_weighted_mean, pd_sum_long, pd_count_rows


def _aggregates(wmean: Any, sum_long: Any, count_rows: Any) -> List[Column]:
    return [wmean("x", "w").alias("wm"), sum_long("n").alias("s"), count_rows("n").alias("c")]


def test_udafs_grouped_global_and_all_null_groups(spark: SparkSession, sqlm: WasmModule) -> None:
    pandas_side = pandas_aggregates()
    wasm_side = (sqlm.udaf("weighted_mean"), sqlm.udaf("sum_long"), sqlm.udaf("count_rows"))
    df = spark.createDataFrame(
        [
            ("a", 1.0, 2.0, 1),
            ("a", 3.0, 1.0, 2),
            ("a", None, 5.0, None),
            ("b", None, None, None),  # all-null group
            ("b", None, 1.0, None),
            ("c", 4.0, 0.0, 7),  # weights sum to zero
            ("d", -2.5, 4.0, -9),
        ],
        "k string, x double, w double, n bigint",
    )
    got = rows(df.groupBy("k").agg(*_aggregates(*wasm_side)), ["k"])
    want = rows(df.groupBy("k").agg(*_aggregates(*pandas_side)), ["k"])
    close_rows(got, want)
    assert got[1][1:] == (None, 0, 2)  # the all-null group: no mean, an empty sum, two rows
    close_rows(
        [tuple(_normal(v) for v in r) for r in df.agg(*_aggregates(*wasm_side)).collect()],
        [tuple(_normal(v) for v in r) for r in df.agg(*_aggregates(*pandas_side)).collect()],
    )


def test_udafs_on_empty_input(spark: SparkSession, sqlm: WasmModule) -> None:
    pandas_side = pandas_aggregates()
    wasm_side = (sqlm.udaf("weighted_mean"), sqlm.udaf("sum_long"), sqlm.udaf("count_rows"))
    df = spark.createDataFrame([], "k string, x double, w double, n bigint")
    for query in (
        lambda side: df.groupBy("k").agg(*_aggregates(*side)),
        lambda side: df.agg(*_aggregates(*side)),
    ):
        assert sorted_rows(query(wasm_side)) == sorted_rows(query(pandas_side))


def test_udaf_in_sql(spark: SparkSession, sqlm: WasmModule) -> None:
    pd_weighted_mean = pandas_aggregates()[0]
    spark.createDataFrame(
        [(i % 3, float(i), float(i % 4)) for i in range(30)], "k int, x double, w double"
    ).createOrReplaceTempView("weighted")
    spark.udf.register("wasm_wmean", sqlm.udaf("weighted_mean"))
    spark.udf.register("pd_wmean", pd_weighted_mean)
    got = rows(spark.sql("SELECT k, wasm_wmean(x, w) FROM weighted GROUP BY k"), ["k"])
    want = rows(spark.sql("SELECT k, pd_wmean(x, w) FROM weighted GROUP BY k"), ["k"])
    close_rows(got, want)


def test_udafs_on_skewed_groups_spanning_many_batches(spark: SparkSession, sqlm: WasmModule) -> None:
    """One group of 200 000 rows (200 Arrow batches of 1000) next to 3000 one-row groups."""
    pandas_side = pandas_aggregates()
    wasm_side = (sqlm.udaf("weighted_mean"), sqlm.udaf("sum_long"), sqlm.udaf("count_rows"))
    big, small = 200_000, 3_000
    ids = F.col("id")
    df = spark.range(0, big + small, 1, 4).select(
        F.when(ids < big, F.lit(-1)).otherwise(ids).alias("k"),
        F.when(ids % 11 == 0, F.lit(None)).otherwise((ids % 97) * 0.5).alias("x"),
        F.when(ids % 13 == 0, F.lit(None)).otherwise((ids % 7 + 1).cast("double")).alias("w"),
        F.when(ids % 17 == 0, F.lit(None)).otherwise(ids % 1000 - 500).alias("n"),
    )
    with session_conf(spark, "spark.sql.execution.arrow.maxRecordsPerBatch", "1000"):
        got = rows(df.groupBy("k").agg(*_aggregates(*wasm_side)), ["k"])
        want = rows(df.groupBy("k").agg(*_aggregates(*pandas_side)), ["k"])
    assert len(got) == small + 1
    assert got[0][0] == -1 and got[0][3] == big
    close_rows(got, want)


# --- end to end: arrays and structs ----------------------------------------------------------

INT_ARRAYS = [
    [1, 2, 3], [], None, [None], [1, None, -3], [2**31 - 1, -(2**31)], [0, 0, 0, 0, 0, 0, 0, 0, 9],
]
LONG_ARRAYS = [[1, 2, 3], [], None, [None], [5, None, -7], [2**63 - 1, 1], [-(2**63), -1]]
STR_ARRAYS = [
    ["a", "b"], [], None, [None], ["x", None, ""], ["straße", "日本語", "", "emoji 🎉"],
    ["ǆemo"],
]
NESTED_INT_ARRAYS = [
    [[1, 2], [], [None, 3]], [], None, [None], [[4], None], [[]], [[-1], [2**31 - 1]],
]
WORDS = ["", "one", "  two  words ", "tabs\tand\nnewlines", "ünïcödé wörds 日本", None]


def _strict(fn: Callable[[List[Any]], Any]) -> Callable[[Any], Any]:
    """A ``List<T>`` argument of non-``Option`` elements: a null array, or one holding a null,
    is a null argument (Skip: null result)."""
    return lambda xs: None if xs is None or any(x is None for x in xs) else fn(xs)


# (WASM function, Spark type of the argument, values, Python reference taking the raw value)
ARRAY_CASES: List[Tuple[str, str, List[Any], Callable[[Any], Any]]] = [
    ("array_sum", "array<bigint>", LONG_ARRAYS,
     skip_nulls(lambda xs: wrap(sum(x for x in xs if x is not None), 64))),
    ("array_total", "array<bigint>", LONG_ARRAYS, _strict(lambda xs: wrap(sum(xs), 64))),
    ("array_len_strings", "array<string>", STR_ARRAYS, _strict(len)),
    ("reverse_ints", "array<int>", INT_ARRAYS, skip_nulls(lambda xs: xs[::-1])),
    ("id_int_array", "array<int>", INT_ARRAYS, skip_nulls(list)),
    ("id_string_array", "array<string>", STR_ARRAYS, skip_nulls(list)),
    ("split_words", "string", WORDS, skip_nulls(str.split)),
    ("flatten_ints", "array<array<int>>", NESTED_INT_ARRAYS,
     _strict(lambda xss: [x for xs in xss for x in xs])),
]


@pytest.mark.parametrize(
    "name, spark_type, values, reference", ARRAY_CASES, ids=[c[0] for c in ARRAY_CASES]
)
def test_array_functions_against_python(
    spark: SparkSession,
    sqlm: WasmModule,
    name: str,
    spark_type: str,
    values: List[Any],
    reference: Callable[[Any], Any],
) -> None:
    """Null arrays, null elements, empty arrays, strings, nested arrays."""
    df = spark.createDataFrame(list(enumerate(values)), f"id bigint, v {spark_type}")
    wasm = sqlm.udf(name)
    python = py_udf(reference, wasm.returnType)
    got = rows(df.select("id", wasm("v").alias("r")))
    want = rows(df.select("id", python("v").alias("r")))
    assert got == want
    assert any(r[1] is None for r in got) and any(r[1] is not None for r in got)


POINTS = [(1, "a"), None, (2, None), (None, "x"), (None, None), (-3, "é"), (2**31 - 1, "")]


def _point_or_none(p: Any) -> Any:
    """A ``Point`` argument (non-``Option`` fields): a null struct, or one with a null field,
    is a null argument."""
    return None if p is None or p.a is None or p.b is None else p


def py_sort_points(ps: Any) -> Any:
    if ps is None:
        return None
    points = [_point_or_none(p) for p in ps]
    return sorted(points, key=lambda p: (p is not None, 0 if p is None else p.a))


# (WASM function, Spark type of the argument, values, Python reference)
STRUCT_CASES: List[Tuple[str, str, List[Any], Callable[[Any], Any]]] = [
    ("id_point", "struct<a:int,b:string>", POINTS, _point_or_none),
    ("point_label", "struct<a:int,b:string>", POINTS,
     lambda p: None if _point_or_none(p) is None else f"{p.b}:{p.a}"),
    ("id_maybe_point", "struct<a:int,b:string>", POINTS, lambda p: p),
    ("sort_points", "array<struct<a:int,b:string>>",
     [[(3, "c"), (1, "a"), None, (2, None), (-1, "z")], [], None, [None], [(5, "five")]],
     py_sort_points),
]


@pytest.mark.parametrize(
    "name, spark_type, values, reference", STRUCT_CASES, ids=[c[0] for c in STRUCT_CASES]
)
def test_struct_functions_against_python(
    spark: SparkSession,
    sqlm: WasmModule,
    name: str,
    spark_type: str,
    values: List[Any],
    reference: Callable[[Any], Any],
) -> None:
    """Null structs, null fields (skipped for ``Point``, passed for ``MaybePoint``), arrays of
    structs."""
    df = spark.createDataFrame(list(enumerate(values)), f"id bigint, v {spark_type}")
    wasm = sqlm.udf(name)
    python = py_udf(reference, wasm.returnType)
    got = rows(df.select("id", wasm("v").alias("r")))
    want = rows(df.select("id", python("v").alias("r")))
    assert got == want


def test_make_point_and_chains_through_nested_results(
    spark: SparkSession, sqlm: WasmModule
) -> None:
    df = spark.createDataFrame(
        [(0, 1, "a", [1, None]), (1, None, "b", [2]), (2, 3, None, None), (3, -4, "", []),
         (4, 2**31 - 1, "日本", [None, 7, 8])],
        "id bigint, a int, b string, xs array<int>",
    )
    make_point, point_label, reverse = (
        sqlm.udf("make_point"), sqlm.udf("point_label"), sqlm.udf("reverse_ints")
    )
    got = rows(
        df.select(
            "id",
            make_point("a", "b"),
            point_label(make_point("a", "b")),
            reverse(reverse("xs")),
            F.size(reverse("xs")),
        )
    )
    want = rows(
        df.select(
            "id",
            py_udf(skip_nulls(lambda a, b: (a, b)), "struct<a:int,b:string>")("a", "b"),
            py_udf(skip_nulls(lambda a, b: f"{b}:{a}"), "string")("a", "b"),
            py_udf(lambda xs: xs, "array<int>")("xs"),
            F.size(py_udf(skip_nulls(lambda xs: xs[::-1]), "array<int>")("xs")),
        )
    )
    assert got == want
    # The struct result's fields are named as in Rust.
    assert df.select(make_point("a", "b").alias("p")).schema["p"].dataType.simpleString() == (
        "struct<a:int,b:string>"
    )


def test_nested_signatures_of_the_fixture(sqlm: WasmModule) -> None:
    """The Spark types of derived structs reach the module's descriptors (built at compile
    time from the struct's constant)."""
    expected = {
        "array_sum": (("array<bigint>",), "bigint"),
        "split_words": (("string",), "array<string>"),
        "flatten_ints": (("array<array<int>>",), "array<int>"),
        "id_point": (("struct<a:int,b:string>",), "struct<a:int,b:string>"),
        "make_point": (("int", "string"), "struct<a:int,b:string>"),
        "sort_points": (("array<struct<a:int,b:string>>",), "array<struct<a:int,b:string>>"),
    }
    for name, (args, returns) in expected.items():
        sql = sqlm.functions[name].sql
        assert sql is not None and (sql.args, sql.returns) == (args, returns), name


def test_arrays_over_many_batches(spark: SparkSession, sqlm: WasmModule) -> None:
    """3000 rows of arrays and structs in Arrow batches of 100: offsets restart per batch."""
    ids = F.col("id")
    xs = F.when(ids % 7 == 0, F.lit(None)).otherwise(
        F.transform(
            F.sequence(F.lit(0), (ids % 5).cast("int")),
            lambda i: F.when((i + ids) % 4 == 0, F.lit(None)).otherwise((i * ids).cast("int")),
        )
    )
    p = F.when(ids % 11 == 0, F.lit(None)).otherwise(
        F.struct((ids % 100).cast("int").alias("a"), ids.cast("string").alias("b"))
    )
    df = spark.range(0, 3000, 1, 3).select("id", xs.alias("xs"), p.alias("p"))
    with session_conf(spark, "spark.sql.execution.arrow.maxRecordsPerBatch", "100"):
        got = rows(df.select("id", sqlm.udf("reverse_ints")("xs"), sqlm.udf("point_label")("p")))
        want = rows(
            df.select(
                "id",
                py_udf(skip_nulls(lambda v: v[::-1]), "array<int>")("xs"),
                py_udf(skip_nulls(lambda v: f"{v.b}:{v.a}"), "string")("p"),
            )
        )
    assert got == want
    assert len(got) == 3000
