"""Driver-only tests of how WasmRDD pipelines become worker passes (no worker needed).

They build the JVM RDDs on a real ``local[2]`` context but never run a job: each
``SimplePythonFunction`` the driver creates is recorded, and its command decoded, so the
tests see exactly the manifests the worker would get. Modules are hand-built stand-ins
(``wasm_builder``) with the guests' signatures.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Dict, Iterator, List

import pytest
from pyspark import RDD, SparkContext
from pyspark.serializers import CPickleSerializer, MarshalSerializer

import sparkwasm
import wasm_builder as wb
from sparkwasm import _rdd


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[Dict[str, Any]]]:
    """Manifests of the worker passes the driver builds, in build order."""
    seen: List[Dict[str, Any]] = []
    original = _rdd._python_function

    def recording(ctx: SparkContext, command: bytes) -> Any:
        (length,) = struct.unpack(">I", command[7:11])
        seen.append(json.loads(command[11 : 11 + length]))
        return original(ctx, command)

    monkeypatch.setattr(_rdd, "_python_function", recording)
    yield seen


@pytest.fixture
def wc(sc_local: SparkContext) -> sparkwasm.WasmModule:
    return sparkwasm.load(sc_local, wb.module(wb.WORDCOUNT_FUNCTIONS))


@pytest.fixture
def typed(sc_local: SparkContext) -> sparkwasm.WasmModule:
    return sparkwasm.load(sc_local, wb.module(wb.TYPED_FUNCTIONS))


def steps(manifest: Dict[str, Any]) -> List[str]:
    return [f"{s['kind']} {s['function']}" for s in manifest["steps"]]


def worker_passes(rdd: RDD, base: RDD) -> int:
    """PythonRDDs in ``rdd``'s lineage that ``base`` does not have (``sc.parallelize(range)``
    is itself a Python stage)."""

    def count(r: RDD) -> int:
        return (r.toDebugString() or b"").decode().count("PythonRDD[")

    return count(rdd) - count(base)


def test_word_count_is_two_passes_around_one_shuffle(
    sc_local: SparkContext, wc: sparkwasm.WasmModule, tmp_path: Any, commands: List[Dict[str, Any]]
) -> None:
    path = tmp_path / "t.txt"
    path.write_text("a b\n")
    lines = sc_local.textFile(str(path), 3)
    n = lines.getNumPartitions()
    counts = sparkwasm.wrap(lines).flatMap(wc.split_words).map(wc.with_one).reduceByKey(wc.add)
    assert commands == []  # nothing is built until Spark needs it
    assert counts.getNumPartitions() == n  # PySpark's default: the parent's partition count
    counts._jrdd
    map_side, reduce_side = commands
    assert map_side["input"] == "utf8"
    assert map_side["source"] == {"function": "split_words", "side": "input"}
    assert steps(map_side) == ["flat_map split_words", "map with_one", "reduce_by_key add"]
    assert map_side["output"] == {"kind": "shuffle", "partitions": n}
    assert map_side["function_names"] == {"split_words": "flat_map", "with_one": "map", "add": "reduce"}
    assert map_side["module_digest"] == wc.digest
    assert reduce_side["input"] == "binary"
    assert reduce_side["source"] == {"function": "with_one", "side": "output"}
    assert steps(reduce_side) == ["reduce_by_key add"]
    assert reduce_side["output"] == {"kind": "pickle"}
    assert reduce_side["function_names"] == {"with_one": "map", "add": "reduce"}
    assert worker_passes(counts, lines) == 2
    assert counts.partitioner is not None and counts.partitioner.numPartitions == n


def test_narrow_steps_of_one_module_are_one_pass(
    sc_local: SparkContext, typed: sparkwasm.WasmModule, commands: List[Dict[str, Any]]
) -> None:
    base = sc_local.parallelize(range(10), 2)
    rdd = sparkwasm.wrap(base)
    result = rdd.map(typed.triple_plus_one).filter(typed.is_multiple_of_four).flatMap(typed.range_to).mapPartitions(typed.running_sum)
    result._jrdd
    (only,) = commands
    assert only["input"] == "pickle_batch"
    assert only["source"] == {"function": "triple_plus_one", "side": "input"}
    assert steps(only) == [
        "map triple_plus_one",
        "filter is_multiple_of_four",
        "flat_map range_to",
        "map_partitions running_sum",
    ]
    assert worker_passes(result, base) == 1


def test_filter_first_names_its_input_type(
    sc_local: SparkContext, typed: sparkwasm.WasmModule, commands: List[Dict[str, Any]]
) -> None:
    sparkwasm.wrap(sc_local.parallelize(range(10))).filter(typed.is_multiple_of_four).map(typed.triple_plus_one)._jrdd
    assert commands[0]["source"] == {"function": "is_multiple_of_four", "side": "input"}


def test_another_module_starts_a_binary_pass(
    sc_local: SparkContext,
    wc: sparkwasm.WasmModule,
    typed: sparkwasm.WasmModule,
    commands: List[Dict[str, Any]],
) -> None:
    base = sc_local.parallelize(["a b"], 1)
    rdd = sparkwasm.wrap(base).map(typed.upper).flatMap(wc.split_words)
    rdd._jrdd
    first, second = commands
    assert first["module_digest"] == typed.digest and first["output"] == {"kind": "binary"}
    assert second["module_digest"] == wc.digest and second["input"] == "binary"
    assert second["source"] == {"function": "split_words", "side": "input"}
    assert worker_passes(rdd, base) == 2


def test_cached_rdd_is_read_as_pickles(
    sc_local: SparkContext, typed: sparkwasm.WasmModule, commands: List[Dict[str, Any]]
) -> None:
    cached = sparkwasm.wrap(sc_local.parallelize(range(10))).map(typed.triple_plus_one).cache()
    try:
        after = cached.filter(typed.is_multiple_of_four)
        after._jrdd
        first, second = commands  # cache() built the first pass
        assert first["output"] == {"kind": "pickle"}
        assert second["input"] == "pickle_batch"
        assert second["source"] == {"function": "triple_plus_one", "side": "output"}
        assert steps(second) == ["filter is_multiple_of_four"]
    finally:
        cached.unpersist()


def test_reduce_side_continues_with_same_module(
    sc_local: SparkContext, typed: sparkwasm.WasmModule, commands: List[Dict[str, Any]]
) -> None:
    reduced = sparkwasm.wrap(sc_local.parallelize(["a"], 2)).map(typed.word_len).reduceByKey(typed.add_i64, 4)
    swapped = reduced.map(typed.swap)
    assert swapped.partitioner is None
    assert reduced.partitioner is not None
    swapped._jrdd
    map_side, reduce_side = commands
    assert steps(map_side) == ["map word_len", "reduce_by_key add_i64"]
    assert map_side["output"] == {"kind": "shuffle", "partitions": 4}
    assert steps(reduce_side) == ["reduce_by_key add_i64", "map swap"]
    assert reduce_side["source"] == {"function": "word_len", "side": "output"}


def test_partitioner_survives_filters_only(sc_local: SparkContext, wc: sparkwasm.WasmModule) -> None:
    counts = sparkwasm.wrap(sc_local.parallelize(["a b"], 2)).flatMap(wc.split_words).map(wc.with_one).reduceByKey(wc.add, 3)
    assert counts.partitioner is not None
    assert counts.partitioner.numPartitions == 3
    # PySpark's own transformations see and keep (or drop) our partitioner as they do theirs.
    assert counts.filter(lambda kv: True).partitioner == counts.partitioner
    assert counts.map(lambda kv: kv).partitioner is None
    # Python's hash partitioning is a different layout: partitionBy must shuffle again.
    assert counts.partitionBy(3).partitioner != counts.partitioner


def test_python_callables_give_ordinary_rdds(sc_local: SparkContext, typed: sparkwasm.WasmModule) -> None:
    wasm = sparkwasm.wrap(sc_local.parallelize(range(4), 2))
    assert wasm.collect() == [0, 1, 2, 3]  # no WASM step: the parent's data as is
    for derived in (wasm.map(lambda x: x), wasm.filter(bool), wasm.flatMap(lambda x: [x]), wasm.mapPartitions(list)):
        assert not isinstance(derived, sparkwasm.WasmRDD)
    assert sorted(wasm.map(lambda x: (x % 2, x)).reduceByKey(lambda a, b: a + b).collect()) == [(0, 2), (1, 4)]
    assert sparkwasm.wrap(wasm) is wasm


def test_input_encoding_follows_the_serializer(
    sc_local: SparkContext, typed: sparkwasm.WasmModule, tmp_path: Any, commands: List[Dict[str, Any]]
) -> None:
    path = tmp_path / "t.txt"
    path.write_text("x\n")
    sources = {
        "pickle_batch": sc_local.parallelize(range(3)),
        "pickle_item": sc_local.parallelize(range(3))._reserialize(CPickleSerializer()),
        "utf8": sc_local.textFile(str(path)),
    }
    for expected, rdd in sources.items():
        commands.clear()
        sparkwasm.wrap(rdd).map(typed.triple_plus_one if expected != "utf8" else typed.upper)._jrdd
        assert commands[0]["input"] == expected
    marshalled = sc_local.parallelize(range(3))._reserialize(MarshalSerializer())
    with pytest.raises(TypeError, match="MarshalSerializer"):
        sparkwasm.wrap(marshalled)
    with pytest.raises(TypeError, match="needs a PySpark RDD"):
        sparkwasm.wrap([1, 2, 3])  # type: ignore[arg-type]


def test_python_function_carries_worker_and_spark_version(sc_local: SparkContext) -> None:
    func = _rdd._python_function(sc_local, b"SPWASM\x01command")
    env = func.envVars()
    assert env.get("SPARKWASM_SPARK_VERSION") == sc_local.version
    assert env.get("PYTHONHASHSEED") == sc_local.environment["PYTHONHASHSEED"]
    assert func.pythonExec() == sparkwasm.worker_path(sc_local)
    assert func.pythonVer() == sc_local.pythonVer
    assert func.command().length() == len(b"SPWASM\x01command")
