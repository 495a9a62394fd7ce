"""Driver-only tests of how WasmRDD operations become worker passes (no worker needed).

They build the JVM RDDs on a real ``local[2]`` context but never run a job: each
``SimplePythonFunction`` the driver creates is recorded and its command decoded, and the
functions that would run jobs (collect, runJob, saveAsTextFile) are replaced by recorders
returning canned results. So the tests see exactly the manifests the worker would get, for
every method. Modules are hand-built stand-ins (``wasm_builder``) with the guests' signatures.
"""

from __future__ import annotations

import base64
import json
import pickle
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
from pyspark import RDD, SparkContext
from pyspark.serializers import CPickleSerializer, MarshalSerializer

import sparkwasm
import wasm_builder as wb
from sparkwasm import _rdd
from sparkwasm._partition import RangePartitionFunc, WasmPartitionFunc, canonical_hash

Manifest = Dict[str, Any]


@dataclass
class Job:
    """A job the driver would have run: which call, the manifest of the pass it reads, and
    the partitions or path."""

    call: str
    manifest: Optional[Manifest]
    detail: Any = None


@dataclass
class Driver:
    """What the driver built and ran. ``results`` are handed to the job calls in order."""

    passes: List[Manifest] = field(default_factory=list)
    functions: List[Any] = field(default_factory=list)
    jobs: List[Job] = field(default_factory=list)
    results: List[List[Any]] = field(default_factory=list)

    def _job(self, call: str, detail: Any = None) -> List[Any]:
        # A job reads the pass built last: every action builds its pass right before running.
        self.jobs.append(Job(call, self.passes[-1] if self.passes else None, detail))
        return self.results.pop(0) if self.results else []


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Driver]:
    recorded = Driver()
    original = _rdd._python_function

    def recording(ctx: SparkContext, command: bytes, broadcasts: Any = ()) -> Any:
        assert command[:7] == b"SPWASM\x02"
        (length,) = struct.unpack(">I", command[7:11])
        recorded.passes.append(json.loads(command[11 : 11 + length]))
        func = original(ctx, command, broadcasts)
        recorded.functions.append(func)
        return func

    monkeypatch.setattr(_rdd, "_python_function", recording)
    monkeypatch.setattr(_rdd, "_collect", lambda ctx, jrdd: recorded._job("collect"))
    monkeypatch.setattr(_rdd, "_run_job", lambda ctx, jrdd, parts: recorded._job("run_job", parts))
    monkeypatch.setattr(
        _rdd, "_save_text", lambda ctx, jrdd, path, codec: recorded._job("save_text", (path, codec))
    )
    yield recorded


@pytest.fixture
def wc(sc_local: SparkContext) -> sparkwasm.WasmModule:
    return sparkwasm.load(sc_local, wb.module(wb.WORDCOUNT_FUNCTIONS))


@pytest.fixture
def typed(sc_local: SparkContext) -> sparkwasm.WasmModule:
    return sparkwasm.load(sc_local, wb.module(wb.TYPED_FUNCTIONS))


@pytest.fixture
def ints(sc_local: SparkContext) -> sparkwasm.WasmRDD:
    """Python ints in 4 partitions, wrapped (no module yet)."""
    return sparkwasm.wrap(sc_local.parallelize(list(range(20)), 4))


@pytest.fixture
def pairs(sc_local: SparkContext, typed: sparkwasm.WasmModule) -> sparkwasm.WasmRDD:
    """Typed ``(String, i64)`` pairs: word_len over 3 partitions of words."""
    rdd = sparkwasm.wrap(sc_local.parallelize(["a", "bb", "a", "ccc"], 3)).map(typed.word_len)
    assert isinstance(rdd, sparkwasm.WasmRDD)
    return rdd


def steps(manifest: Manifest) -> List[str]:
    """Steps as ``kind fn1 fn2 [arg]`` strings."""
    out = []
    for s in manifest["steps"]:
        parts = [s["kind"], *s["functions"]]
        if s["arg"] is not None:
            parts.append(str(s["arg"]))
        out.append(" ".join(parts))
    return out


def args(manifest: Manifest) -> List[Any]:
    return [pickle.loads(base64.b64decode(a)) for a in manifest["args"]]


def source(manifest: Manifest) -> Optional[str]:
    s = manifest["source"]
    return None if s is None else f"{s['function']}.{s['side']}"


def worker_passes(rdd: RDD, base: RDD) -> int:
    """PythonRDDs in ``rdd``'s lineage that ``base`` does not have."""

    def count(r: RDD) -> int:
        return (r.toDebugString() or b"").decode().count("PythonRDD[")

    return count(rdd) - count(base)


HASH = {"kind": "hash"}


def shuffle(n: int, partitioner: Dict[str, Any] = HASH) -> Dict[str, Any]:
    return {"kind": "shuffle", "partitions": n, "partitioner": partitioner}


# --- narrow steps and passes -----------------------------------------------------------------


def test_word_count_is_two_passes_around_one_shuffle(
    sc_local: SparkContext, wc: sparkwasm.WasmModule, tmp_path: Any, driver: Driver
) -> None:
    path = tmp_path / "t.txt"
    path.write_text("a b\n")
    lines = sc_local.textFile(str(path), 3)
    n = lines.getNumPartitions()
    counts = sparkwasm.wrap(lines).flatMap(wc.split_words).map(wc.with_one).reduceByKey(wc.add)
    assert driver.passes == []  # nothing is built until Spark needs it
    assert counts.getNumPartitions() == n  # PySpark's default: the parent's partition count
    counts._jrdd
    map_side, reduce_side = driver.passes
    assert map_side["input"] == "utf8"
    assert source(map_side) == "split_words.input"
    assert steps(map_side) == ["flat_map split_words", "map with_one", "reduce_by_key add"]
    assert map_side["output"] == shuffle(n)
    assert map_side["function_names"] == {"split_words": "flat_map", "with_one": "map", "add": "reduce"}
    assert map_side["module_digest"] == wc.digest
    assert (map_side["args"], map_side["broadcasts"], map_side["accumulators"]) == ([], {}, {})
    assert map_side["spark_files"] is True
    assert reduce_side["input"] == "binary"
    assert source(reduce_side) == "with_one.output"
    assert steps(reduce_side) == ["reduce_by_key add"]
    assert reduce_side["output"] == {"kind": "pickle"}
    assert worker_passes(counts, lines) == 2
    assert counts.partitioner is not None and counts.partitioner.numPartitions == n
    # The driver's idea of where a key lives is the worker's canonical hash.
    assert counts.partitioner("spark") == canonical_hash("spark") % n


def test_narrow_steps_of_one_module_are_one_pass(
    sc_local: SparkContext, typed: sparkwasm.WasmModule, driver: Driver
) -> None:
    base = sc_local.parallelize(list(range(10)), 2)
    result = (
        sparkwasm.wrap(base)
        .map(typed.triple_plus_one)
        .filter(typed.is_multiple_of_four)
        .flatMap(typed.range_to)
        .mapPartitions(typed.running_sum)
        .mapPartitionsWithIndex(typed.index_tag)
        .mapValues(typed.square)
        .flatMapValues(typed.range_to)
        .keyBy(typed.first_char)
        .keys()
    )
    result._jrdd
    (only,) = driver.passes
    assert only["input"] == "pickle_batch"
    assert source(only) == "triple_plus_one.input"
    assert steps(only) == [
        "map triple_plus_one",
        "filter is_multiple_of_four",
        "flat_map range_to",
        "map_partitions running_sum",
        "map_partitions_with_index index_tag",
        "map_values square",
        "flat_map_values range_to",
        "key_by first_char",
        "keys",
    ]
    assert worker_passes(result, base) == 1


def test_filter_first_names_its_input_type(
    sc_local: SparkContext, typed: sparkwasm.WasmModule, driver: Driver
) -> None:
    sparkwasm.wrap(sc_local.parallelize(range(10))).filter(typed.is_multiple_of_four).map(typed.triple_plus_one)._jrdd
    assert source(driver.passes[0]) == "is_multiple_of_four.input"


def test_pair_steps_first_read_dynamic_values(
    sc_local: SparkContext, typed: sparkwasm.WasmModule, driver: Driver
) -> None:
    # The (K, V) type of Python pairs is named by no function: the worker reads values.
    sparkwasm.wrap(sc_local.parallelize([("a", 1)])).mapValues(typed.square)._jrdd
    assert source(driver.passes[0]) is None


def test_another_module_reads_values(
    sc_local: SparkContext,
    wc: sparkwasm.WasmModule,
    typed: sparkwasm.WasmModule,
    driver: Driver,
) -> None:
    base = sc_local.parallelize(["a b"], 1)
    rdd = sparkwasm.wrap(base).map(typed.upper).flatMap(wc.split_words)
    rdd._jrdd
    first, second = driver.passes
    # Typed batches of one module are never decoded by another: the first pass ends by
    # turning its elements into values, which the second reads as such.
    assert first["module_digest"] == typed.digest and first["output"] == {"kind": "binary"}
    assert steps(first) == ["map upper", "pair_with_none", "keys"]
    assert second["module_digest"] == wc.digest and second["input"] == "binary"
    assert source(second) is None
    assert steps(second) == ["flat_map split_words"]
    assert worker_passes(rdd, base) == 2


def test_dynamic_output_crosses_modules_as_is(
    sc_local: SparkContext, wc: sparkwasm.WasmModule, typed: sparkwasm.WasmModule, driver: Driver
) -> None:
    rdd = sparkwasm.wrap(sc_local.parallelize([("a", 1)])).mapValues(typed.square).reduceByKey(wc.add)
    rdd._jrdd
    first, map_side, _ = driver.passes
    assert steps(first) == ["map_values square"]  # already values: nothing to convert
    assert source(map_side) is None and steps(map_side) == ["reduce_by_key add"]


def test_element_types_follow_the_guest_planner(
    pairs: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver
) -> None:
    # A pass's binary output is read by a pass that must name its type: typed elements
    # named by a function pass as they are, derived ones (keys, values, key_by of typed
    # elements) become values first, dynamic ones stay values.
    driver.results = [[3]]
    assert pairs.values().reduce(typed.add_i64) == 3
    partial, final = driver.passes
    # reduce_all decodes into its function's type: typed partials, named by the function.
    assert steps(partial) == ["map word_len", "values", "reduce_all add_i64"]
    assert source(final) == "add_i64.input"
    driver.passes.clear()
    driver.results = [[("a", 1)]]
    assert pairs.max() == ("a", 1)
    partial, final = driver.passes
    assert steps(partial) == ["map word_len", "max_by 1"] and source(final) is None  # values
    driver.passes.clear()
    pairs.keys().map(typed.upper)._jrdd
    (only,) = driver.passes
    assert steps(only) == ["map word_len", "keys", "map upper"]  # no hand-off, no conversion
    driver.passes.clear()
    pairs.keys().keyBy(typed.first_char).groupByKey(2)._jrdd
    map_side, reduce_side = driver.passes
    assert steps(map_side) == ["map word_len", "keys", "key_by first_char", "pair_with_none", "keys"]
    assert source(reduce_side) is None
    driver.passes.clear()
    pairs.partitionBy(2)._jrdd
    map_side, reduce_side = driver.passes
    assert steps(map_side) == ["map word_len"] and source(reduce_side) == "word_len.output"


def test_cached_rdd_is_read_as_pickles(
    sc_local: SparkContext, typed: sparkwasm.WasmModule, driver: Driver
) -> None:
    cached = sparkwasm.wrap(sc_local.parallelize(range(10))).map(typed.triple_plus_one).cache()
    try:
        after = cached.filter(typed.is_multiple_of_four)
        after._jrdd
        first, second = driver.passes  # cache() built the first pass
        assert first["output"] == {"kind": "pickle"}
        assert second["input"] == "pickle_batch"
        assert source(second) == "triple_plus_one.output"
        assert steps(second) == ["filter is_multiple_of_four"]
        driver.results = [[10]]
        assert cached.count() == 10  # from the cache: a pass over the cached pickles
        assert driver.jobs[0].manifest is not None
        assert driver.jobs[0].manifest["input"] == "pickle_batch" and steps(driver.jobs[0].manifest) == []
    finally:
        cached.unpersist()


def test_reduce_side_continues_with_same_module(
    pairs: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver
) -> None:
    reduced = pairs.reduceByKey(typed.add_i64, 4)
    swapped = reduced.map(typed.swap)
    assert swapped.partitioner is None
    assert reduced.partitioner is not None
    swapped._jrdd
    map_side, reduce_side = driver.passes
    assert steps(map_side) == ["map word_len", "reduce_by_key add_i64"]
    assert map_side["output"] == shuffle(4)
    assert steps(reduce_side) == ["reduce_by_key add_i64", "map swap"]
    assert source(reduce_side) == "word_len.output"


def test_partitioner_survives_filters_only(sc_local: SparkContext, wc: sparkwasm.WasmModule) -> None:
    counts = sparkwasm.wrap(sc_local.parallelize(["a b"], 2)).flatMap(wc.split_words).map(wc.with_one).reduceByKey(wc.add, 3)
    assert counts.partitioner is not None
    assert counts.partitioner.numPartitions == 3
    # PySpark's own transformations see and keep (or drop) our partitioner as they do theirs.
    assert counts.filter(lambda kv: True).partitioner == counts.partitioner
    assert counts.map(lambda kv: kv).partitioner is None
    # Python's hash partitioning is a different layout: partitionBy must shuffle again.
    assert counts.partitionBy(3, lambda k: hash(k)).partitioner != counts.partitioner


def test_python_callables_give_ordinary_rdds(sc_local: SparkContext, typed: sparkwasm.WasmModule) -> None:
    wasm = sparkwasm.wrap(sc_local.parallelize(range(4), 2))
    assert wasm.collect() == [0, 1, 2, 3]  # no WASM step: the parent's data as is
    derived = [
        wasm.map(lambda x: x),
        wasm.filter(bool),
        wasm.flatMap(lambda x: [x]),
        wasm.mapPartitions(list),
        wasm.mapPartitionsWithIndex(lambda i, it: it),
        wasm.keyBy(lambda x: x),
        wasm.groupBy(lambda x: x % 2),
        # Without a module, operations without functions are PySpark's too.
        wasm.distinct(),
        wasm.map(lambda x: (x, x)).keys(),
    ]
    for rdd in derived:
        assert not isinstance(rdd, sparkwasm.WasmRDD)
    assert sorted(wasm.map(lambda x: (x % 2, x)).reduceByKey(lambda a, b: a + b).collect()) == [(0, 2), (1, 4)]
    assert sparkwasm.wrap(wasm) is wasm


def test_input_encoding_follows_the_serializer(
    sc_local: SparkContext, typed: sparkwasm.WasmModule, tmp_path: Any, driver: Driver
) -> None:
    path = tmp_path / "t.txt"
    path.write_text("x\n")
    sources = {
        "pickle_batch": (sc_local.parallelize(range(3)), typed.triple_plus_one),
        "pickle_item": (sc_local.parallelize(range(3))._reserialize(CPickleSerializer()), typed.triple_plus_one),
        "utf8": (sc_local.textFile(str(path)), typed.upper),
        "utf8_pairs": (sc_local.wholeTextFiles(str(tmp_path)), typed.lines_pair),
    }
    for expected, (rdd, f) in sources.items():
        driver.passes.clear()
        sparkwasm.wrap(rdd).map(f)._jrdd
        assert driver.passes[0]["input"] == expected
        assert source(driver.passes[0]) == f"{f.name}.input"
    marshalled = sc_local.parallelize(range(3))._reserialize(MarshalSerializer())
    with pytest.raises(TypeError, match="MarshalSerializer"):
        sparkwasm.wrap(marshalled)
    with pytest.raises(TypeError, match="needs a PySpark RDD"):
        sparkwasm.wrap([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="WasmModule"):
        sparkwasm.wrap(sc_local.parallelize([1]), module="typed")  # type: ignore[arg-type]


def test_python_function_carries_worker_version_and_broadcasts(sc_local: SparkContext) -> None:
    bc = sc_local.broadcast([1, 2])
    try:
        func = _rdd._python_function(sc_local, b"SPWASM\x02command", [bc._jbroadcast])
        env = func.envVars()
        assert env.get("SPARKWASM_SPARK_VERSION") == sc_local.version
        assert env.get("PYTHONHASHSEED") == sc_local.environment["PYTHONHASHSEED"]
        assert func.pythonExec() == sparkwasm.worker_path(sc_local)
        assert func.pythonVer() == sc_local.pythonVer
        assert func.command().length() == len(b"SPWASM\x02command")
        assert [b.id() for b in func.broadcastVars()] == [bc._jbroadcast.id()]
    finally:
        bc.unpersist()


# --- shuffles ----------------------------------------------------------------------------------


def test_by_key_operations(pairs: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver) -> None:
    cases: List[Any] = [
        (lambda r: r.reduceByKey(typed.add_i64, 2), ["reduce_by_key add_i64"], ["reduce_by_key add_i64"], []),
        (lambda r: r.foldByKey(0, typed.add_i64, 2), ["fold_by_key add_i64 0"], ["reduce_by_key add_i64"], [0]),
        (
            lambda r: r.aggregateByKey((0, 0), typed.seq_sum_count, typed.add_pairs, 2),
            ["aggregate_by_key seq_sum_count 0"],
            ["reduce_by_key add_pairs"],
            [(0, 0)],
        ),
        (
            lambda r: r.combineByKey(typed.singleton, typed.push, typed.extend, 2),
            ["combine_by_key singleton push"],
            ["reduce_by_key extend"],
            [],
        ),
        (lambda r: r.groupByKey(2), [], ["group_by_key"], []),
        (lambda r: r.partitionBy(2), [], [], []),
    ]
    for build, map_steps, reduce_steps, zero in cases:
        driver.passes.clear()
        result = build(pairs)
        assert isinstance(result, sparkwasm.WasmRDD)
        assert result.partitioner is not None
        assert result.partitioner.numPartitions == 2 and result.partitioner.partitionFunc is canonical_hash
        result._jrdd
        map_side, reduce_side = driver.passes
        assert steps(map_side) == ["map word_len", *map_steps]
        assert map_side["output"] == shuffle(2)
        assert args(map_side) == zero
        assert steps(reduce_side) == reduce_steps
        assert reduce_side["input"] == "binary"
        # aggregate and combine build (K, U) pairs nobody declared: dynamic values.
        typed_after = map_steps[0].split()[0] in ("reduce_by_key", "fold_by_key") if map_steps else True
        assert source(reduce_side) == ("word_len.output" if typed_after else None)


def test_function_partitioner(pairs: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver) -> None:
    keyed = sparkwasm.wrap(pairs.ctx.parallelize([(1, 2), (4, 5)], 2)).mapValues(typed.square)
    result = keyed.reduceByKey(typed.add_i64, 3, typed.by_mod_three)
    assert result.partitioner is not None
    assert result.partitioner.partitionFunc == WasmPartitionFunc(typed.digest, "by_mod_three")
    result._jrdd
    map_side = driver.passes[0]
    assert map_side["output"] == shuffle(3, {"kind": "function", "function": "by_mod_three"})
    assert map_side["function_names"]["by_mod_three"] == "partitioner"
    with pytest.raises(TypeError, match="runs in the sparkwasm worker"):
        result.partitioner(4)
    # Same function, same count: already partitioned, no second shuffle.
    driver.passes.clear()
    again = result.reduceByKey(typed.add_i64, 3, typed.by_mod_three)
    assert again.partitioner == result.partitioner
    again._jrdd
    assert [steps(p) for p in driver.passes] == [["reduce_by_key add_i64", "reduce_by_key add_i64"]]
    driver.passes.clear()
    moved = keyed.partitionBy(3, typed.by_mod_three)
    assert moved.partitionBy(3, typed.by_mod_three) is moved
    moved._jrdd
    assert driver.passes[0]["output"]["partitioner"]["kind"] == "function"
    # The key type is checked against the partitioner's input type.
    with pytest.raises(TypeError, match="by_mod_three takes i64 keys.*String"):
        pairs.partitionBy(2, typed.by_mod_three)


def test_already_partitioned_rdd_is_not_shuffled_again(
    pairs: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver
) -> None:
    reduced = pairs.reduceByKey(typed.add_i64, 3)
    assert reduced.partitionBy(3) is reduced
    grouped = reduced.groupByKey(3)
    assert grouped.partitioner == reduced.partitioner
    grouped._jrdd
    assert [steps(p) for p in driver.passes] == [
        ["map word_len", "reduce_by_key add_i64"],
        ["reduce_by_key add_i64", "group_by_key"],
    ]
    # Another partition count is another layout.
    assert reduced.partitionBy(4) is not reduced


def test_group_by_and_module_only_operations(
    sc_local: SparkContext, ints: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver
) -> None:
    grouped = ints.groupBy(typed.mod_ten, 3)
    grouped._jrdd
    map_side, reduce_side = driver.passes
    # key_by keeps typed elements typed, as (K, T): a type no function names, so they become
    # values before the shuffle hands them to the next pass.
    assert steps(map_side) == ["key_by mod_ten", "pair_with_none", "keys"]
    assert source(map_side) == "mod_ten.input"
    assert steps(reduce_side) == ["group_by_key"] and source(reduce_side) is None
    # A module given to wrap() lets operations without functions run in the worker.
    driver.passes.clear()
    with_module = sparkwasm.wrap(sc_local.parallelize([("a", 1)], 2), module=typed)
    assert with_module.module is typed
    assert with_module.collect() == [("a", 1)]  # no steps: read as is
    with_module.groupByKey()._jrdd
    map_side, reduce_side = driver.passes
    assert steps(map_side) == [] and map_side["input"] == "pickle_batch" and map_side["output"] == shuffle(2)
    assert steps(reduce_side) == ["group_by_key"]
    assert not isinstance(ints.groupByKey(), sparkwasm.WasmRDD)  # no module: PySpark's
    # A Python partitionFunc is PySpark's job, even with a module.
    assert not isinstance(with_module.groupByKey(2, lambda k: 0), sparkwasm.WasmRDD)


def test_distinct(ints: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver) -> None:
    result = ints.map(typed.square).distinct(2)
    assert result.partitioner is None
    result._jrdd
    map_side, reduce_side = driver.passes
    assert steps(map_side) == ["map square", "pair_with_none", "first_by_key"]
    assert map_side["output"] == shuffle(2)
    assert steps(reduce_side) == ["first_by_key", "keys"]


def test_sort_by_key_samples_then_range_partitions(
    sc_local: SparkContext, typed: sparkwasm.WasmModule, driver: Driver
) -> None:
    rdd = sparkwasm.wrap(sc_local.parallelize([("b", 1)], 4)).mapValues(typed.square)
    driver.results = [[10, 20, 0, 30], ["q", "c", "x", "a", "m", None]]  # counts, then sampled keys
    result = rdd.sortByKey(ascending=False, numPartitions=3)
    count_job, sample_job = driver.jobs
    assert count_job.manifest is not None and count_job.manifest["output"] == {"kind": "count"}
    assert sample_job.manifest is not None
    assert sample_job.manifest["output"] == {"kind": "sample_keys", "fraction": 1.0, "seed": 1}
    assert steps(sample_job.manifest) == ["map_values square"]
    assert result.partitioner is not None and isinstance(result.partitioner.partitionFunc, RangePartitionFunc)
    # PySpark's choice of bounds from the sorted sample [None, a, c, m, q, x].
    assert result.partitioner.partitionFunc.bounds == ["c", "q"]
    assert [result.partitioner(k) for k in ("a", "d", "z")] == [2, 1, 0]  # descending
    driver.passes.clear()
    result._jrdd
    map_side, reduce_side = driver.passes
    assert map_side["output"] == shuffle(3, {"kind": "range", "bounds_arg": 0, "ascending": False})
    assert args(map_side) == [["c", "q"]]
    assert steps(reduce_side) == ["sort_by_key 0"]


def test_sort_by_key_edge_cases(sc_local: SparkContext, typed: sparkwasm.WasmModule, driver: Driver) -> None:
    one = sparkwasm.wrap(sc_local.parallelize([("b", 1)], 1)).mapValues(typed.square)
    sorted_one = one.sortByKey()
    sorted_one._jrdd
    assert [steps(p) for p in driver.passes] == [["map_values square", "sort_by_key 1"]]
    driver.passes.clear()
    many = sparkwasm.wrap(sc_local.parallelize([("b", 1)], 3)).mapValues(typed.square)
    merged = many.sortByKey(True, 1)  # numPartitions=1: coalesce, then sort, no shuffle
    assert merged.getNumPartitions() == 1
    merged._jrdd
    assert [steps(p) for p in driver.passes] == [["map_values square"], ["sort_by_key 1"]]
    assert driver.passes[0]["output"] == {"kind": "binary"}
    assert driver.jobs == []
    driver.results = [[0, 0, 0]]
    assert many.sortByKey(True, 2) is many  # empty: PySpark returns the RDD itself


def test_sort_by(ints: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver) -> None:
    driver.results = [[5, 5, 5, 5], [3, 1, 2]]
    result = ints.sortBy(typed.mod_ten, ascending=True, numPartitions=2)
    assert result.partitioner is None
    result._jrdd
    assert steps(driver.jobs[1].manifest or {}) == ["key_by mod_ten"]
    map_side, reduce_side = driver.passes[-2:]
    assert steps(map_side) == ["key_by mod_ten", "pair_with_none", "keys"]
    assert map_side["output"]["partitioner"]["kind"] == "range" and args(map_side) == [[2]]
    assert steps(reduce_side) == ["sort_by_key 1", "values"]


@pytest.mark.parametrize(
    "method, number",
    [("join", 0), ("leftOuterJoin", 1), ("rightOuterJoin", 2), ("fullOuterJoin", 3), ("cogroup", 4), ("subtractByKey", 5)],
)
def test_joins(
    sc_local: SparkContext, pairs: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver, method: str, number: int
) -> None:
    other = sc_local.parallelize([("a", "x")], 2)  # a plain PySpark RDD
    joined = getattr(pairs, method)(other)
    assert isinstance(joined, sparkwasm.WasmRDD)
    assert joined.getNumPartitions() == 3 + 2  # PySpark's default: both sides' partitions
    assert joined.partitioner is not None and joined.partitioner.partitionFunc is canonical_hash
    joined._jrdd
    left, right, reduce_side = driver.passes
    assert steps(left) == ["map word_len", "tag 0"] and left["output"] == shuffle(5)
    assert steps(right) == ["tag 1"] and right["input"] == "pickle_batch" and right["output"] == shuffle(5)
    assert source(right) is None
    assert steps(reduce_side) == [f"join {number}"] and source(reduce_side) is None
    assert worker_passes(joined, other) == 3


def test_join_with_other_module_and_explicit_partitions(
    sc_local: SparkContext, pairs: sparkwasm.WasmRDD, wc: sparkwasm.WasmModule, typed: sparkwasm.WasmModule, driver: Driver
) -> None:
    words = sparkwasm.wrap(sc_local.parallelize(["a b"], 2)).flatMap(wc.split_words).map(wc.with_one)
    joined = pairs.join(words, 7)
    assert joined.getNumPartitions() == 7
    joined._jrdd
    left, right, reduce_side = driver.passes
    assert left["module_digest"] == typed.digest and right["module_digest"] == wc.digest
    assert steps(right) == ["flat_map split_words", "map with_one", "tag 1"]
    assert reduce_side["module_digest"] == typed.digest
    # Neither side has a module: PySpark's join.
    plain = sparkwasm.wrap(sc_local.parallelize([("a", 1)]))
    assert not isinstance(plain.join(sc_local.parallelize([("a", 2)])), sparkwasm.WasmRDD)


# --- actions -----------------------------------------------------------------------------------


def test_count_sum_take_first_save(
    ints: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver, tmp_path: Any
) -> None:
    squares = ints.map(typed.square)
    driver.results = [[3, 0, 4, 1]]
    assert squares.count() == 8
    assert driver.jobs[-1].call == "collect"
    assert driver.jobs[-1].manifest is not None and driver.jobs[-1].manifest["output"] == {"kind": "count"}
    driver.results = [[1, 2.5, 0]]
    assert squares.sum() == 3.5
    assert steps(driver.jobs[-1].manifest or {}) == ["map square", "sum"]
    driver.jobs.clear()
    driver.results = [[7, 8, 9]]
    assert squares.take(3) == [7, 8, 9]
    assert [(j.call, j.detail, (j.manifest or {})["output"]) for j in driver.jobs] == [
        ("run_job", [0], {"kind": "take", "n": 3})
    ]
    driver.results = [[42]]
    assert squares.first() == 42
    driver.results = [[], []]  # partition 0, then the 3 others
    with pytest.raises(ValueError, match="RDD is empty"):
        squares.first()
    squares.saveAsTextFile(str(tmp_path / "out"))
    job = driver.jobs[-1]
    assert job.call == "save_text" and job.detail == (str(tmp_path / "out"), None)
    assert job.manifest is not None and job.manifest["output"] == {"kind": "text"}
    assert steps(job.manifest) == ["map square"]


def test_take_scans_like_pyspark(ints: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver) -> None:
    squares = ints.map(typed.square)
    # Nothing in partition 0: quadruple (1 -> 4 partitions, capped at the 4 there are).
    driver.results = [[], [5, 6, 7, 8, 9]]
    assert squares.take(2) == [5, 6]
    assert [(j.detail, (j.manifest or {})["output"]["n"]) for j in driver.jobs] == [([0], 2), ([1, 2, 3], 2)]
    driver.jobs.clear()
    # One element from partition 0: interpolate (1.5 * 3 * 1 / 1 - 1 = 3 more partitions).
    driver.results = [[1], [2, 3]]
    assert squares.take(3) == [1, 2, 3]
    assert [(j.detail, (j.manifest or {})["output"]["n"]) for j in driver.jobs] == [([0], 3), ([1, 2, 3], 2)]
    driver.jobs.clear()
    assert squares.take(0) == [] and driver.jobs == []


def test_module_only_actions(sc_local: SparkContext, typed: sparkwasm.WasmModule, driver: Driver) -> None:
    rdd = sparkwasm.wrap(sc_local.parallelize([1, 2], 2), module=typed)
    driver.results = [[1, 1]]
    assert rdd.count() == 2
    manifest = driver.jobs[-1].manifest or {}
    assert steps(manifest) == [] and manifest["input"] == "pickle_batch" and manifest["source"] is None


def test_two_pass_reductions(ints: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver) -> None:
    squares = ints.map(typed.square)
    cases: List[Any] = [
        (lambda: squares.reduce(typed.add_i64), ["map square", "reduce_all add_i64"], ["reduce_all add_i64"], "add_i64.input", [], 7),
        (lambda: squares.fold(0, typed.add_i64), ["map square", "fold_all add_i64 0"], ["fold_all add_i64 0"], "add_i64.input", [0], 7),
        (
            lambda: squares.aggregate((0, 0), typed.seq_sum_count, typed.add_pairs),
            ["map square", "aggregate_all seq_sum_count 0"],
            ["fold_all add_pairs 0"],
            "seq_sum_count.output",
            [(0, 0)],
            7,
        ),
        # max_by and top hand on values.
        (lambda: squares.max(), ["map square", "max_by 1"], ["max_by 1"], None, [], 7),
        (lambda: squares.min(typed.mod_ten), ["map square", "max_by mod_ten 0"], ["max_by mod_ten 0"], None, [], 7),
    ]
    for run, partial, final, final_source, zero, result in cases:
        driver.passes.clear()
        driver.results = [[result]]
        assert run() == result
        partial_pass, final_pass = driver.passes
        assert steps(partial_pass) == partial and partial_pass["output"] == {"kind": "binary"}
        assert steps(final_pass) == final and final_pass["output"] == {"kind": "pickle"}
        assert final_pass["input"] == "binary" and source(final_pass) == final_source
        assert args(final_pass) == zero
    # Empty results, as PySpark reports them.
    with pytest.raises(ValueError, match=r"Can not reduce\(\) empty RDD"):
        squares.reduce(typed.add_i64)
    with pytest.raises(ValueError, match=r"Can not reduce\(\) empty RDD"):
        squares.max()
    assert squares.fold(5, typed.add_i64) == 5
    assert squares.aggregate((0, 0), typed.seq_sum_count, typed.add_pairs) == (0, 0)


def test_top_and_take_ordered(ints: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver) -> None:
    squares = ints.map(typed.square)
    driver.results = [[9, 4, 1]]
    assert squares.top(3) == [9, 4, 1]
    assert steps(driver.passes[-1]) == ["top 7"]  # n * 2 + 1: largest first
    driver.results = [[1, 4]]
    assert squares.takeOrdered(2, key=typed.mod_ten) == [1, 4]
    assert steps(driver.passes[-1]) == ["top mod_ten 4"]  # n * 2 + 0: smallest first
    assert squares.takeOrdered(0) == [] and squares.top(0) == []
    with pytest.raises(ValueError, match="top N cannot be negative"):
        squares.takeOrdered(-1)


def test_tree_reductions_coalesce_level_by_level(
    sc_local: SparkContext, typed: sparkwasm.WasmModule, driver: Driver
) -> None:
    squares = sparkwasm.wrap(sc_local.parallelize(list(range(32)), 16)).map(typed.square)
    driver.results = [[3]]
    assert squares.treeReduce(typed.add_i64) == 3
    # 16 partitions, depth 2: scale 4, one level of 4 partitions, then the final one.
    assert [steps(p) for p in driver.passes] == [
        ["map square", "reduce_all add_i64"],
        ["reduce_all add_i64"],
        ["reduce_all add_i64"],
    ]
    driver.passes.clear()
    driver.results = [[(1, 2)]]
    assert squares.treeAggregate((0, 0), typed.seq_sum_count, typed.add_pairs, depth=4) == (1, 2)
    # depth 4: scale 2, levels of 8 and 4 partitions, then the final one.
    assert [steps(p) for p in driver.passes] == [
        ["map square", "aggregate_all seq_sum_count 0"],
        ["reduce_all add_pairs"],
        ["reduce_all add_pairs"],
        ["reduce_all add_pairs"],
    ]
    with pytest.raises(ValueError, match="Cannot reduce empty RDD"):
        squares.treeReduce(typed.add_i64)
    with pytest.raises(ValueError, match="Depth cannot be smaller than 1"):
        squares.treeReduce(typed.add_i64, 0)
    empty = sparkwasm.wrap(sc_local.emptyRDD()).map(typed.square)
    assert empty.treeAggregate(7, typed.seq_add_len, typed.add_i64) == 7


def test_counts_by_key_and_value(pairs: sparkwasm.WasmRDD, ints: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver) -> None:
    driver.results = [[("a", 2), ("bb", 1), ("a", 1)]]
    assert pairs.countByKey() == {"a": 3, "bb": 1}
    assert steps(driver.passes[-1]) == ["map word_len", "count_by_key"]
    driver.results = [[(1, 2), (4, 1)]]
    assert ints.map(typed.square).countByValue() == {1: 2, 4: 1}
    assert steps(driver.passes[-1]) == ["map square", "pair_with_none", "count_by_key"]


def test_foreach_and_bindings(
    sc_local: SparkContext, ints: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver
) -> None:
    seen, total = sc_local.accumulator(0), sc_local.accumulator(0)
    offset, names = sc_local.broadcast(10), sc_local.broadcast({1: "one"})
    try:
        counting = typed.count_into_acc.using(accumulators={"seen": seen, "total": total})
        assert counting.accumulators == {"seen": seen, "total": total}
        assert typed.count_into_acc.accumulators == {}  # using() returns a copy
        ints.map(typed.add_broadcast_offset.using(broadcasts={"offset": offset})).foreach(counting)
        manifest = driver.jobs[-1].manifest or {}
        assert steps(manifest) == ["map add_broadcast_offset", "foreach count_into_acc"]
        assert manifest["output"] == {"kind": "count"}
        assert manifest["accumulators"] == {"seen": seen.aid, "total": total.aid}
        assert manifest["broadcasts"] == {"offset": offset._jbroadcast.id()}
        # The JVM ships the pass's broadcasts to the worker.
        assert [b.id() for b in driver.functions[-1].broadcastVars()] == [offset._jbroadcast.id()]
        ints.foreachPartition(typed.partition_sum_into_acc.using(accumulators={"total": total}))
        assert steps(driver.jobs[-1].manifest or {}) == ["foreach_partition partition_sum_into_acc"]
        # Two functions of one pass: their bindings merge; the same name twice must agree.
        both = ints.map(typed.add_broadcast_offset.using(broadcasts={"offset": offset})).map(
            typed.lookup_name.using(broadcasts={"names": names, "offset": offset})
        )
        both._jrdd
        assert driver.passes[-1]["broadcasts"] == {"names": names._jbroadcast.id(), "offset": offset._jbroadcast.id()}
        other = sc_local.broadcast(11)
        try:
            clash = ints.map(typed.add_broadcast_offset.using(broadcasts={"offset": offset}))
            with pytest.raises(ValueError, match="binds the broadcast name 'offset'"):
                clash.map(typed.add_broadcast_offset.using(broadcasts={"offset": other}))
        finally:
            other.unpersist()
        no_files = ints.map(typed.read_spark_file.using(spark_files=False))
        no_files._jrdd
        assert driver.passes[-1]["spark_files"] is False
        with pytest.raises(TypeError, match="sc.broadcast"):
            typed.lookup_name.using(broadcasts={"names": {1: "one"}})
        with pytest.raises(TypeError, match="sc.accumulator"):
            typed.count_into_acc.using(accumulators={"seen": 0})
        with pytest.raises(TypeError, match="non-empty strings"):
            typed.count_into_acc.using(accumulators={"": seen})
        assert "using offset" in repr(typed.add_broadcast_offset.using(broadcasts={"offset": offset}))
    finally:
        offset.unpersist()
        names.unpersist()


def test_zero_values_are_checked_when_defined(pairs: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule) -> None:
    with pytest.raises(TypeError, match=r"foldByKey\(\): the zero value .* cannot be sent"):
        pairs.foldByKey(object(), typed.add_i64)
    with pytest.raises(TypeError, match=r"fold\(\): the zero value"):
        pairs.values().fold({1, 2}, typed.add_i64)
    with pytest.raises(TypeError, match=r"aggregateByKey\(\): the zero value"):
        pairs.aggregateByKey(2**70, typed.seq_sum_count, typed.add_pairs)


# --- definition-time errors: kinds, types, mixing ----------------------------------------------

Build = Callable[[sparkwasm.WasmRDD, sparkwasm.WasmRDD, sparkwasm.WasmModule], Any]

KIND_ERRORS: List[Any] = [
    # (id, call on (ints as i64, pairs as (String, i64), module), message)
    ("map", lambda i, p, t: i.map(t.add_i64), r"map\(\) needs a function declared with #\[sparkwasm::map\].*'add_i64' is a reduce"),
    ("flatMap", lambda i, p, t: i.flatMap(t.square), r"flatMap\(\) needs .*#\[sparkwasm::flat_map\]"),
    ("filter", lambda i, p, t: i.filter(t.square), r"filter\(\) needs .*#\[sparkwasm::filter\]"),
    ("mapPartitions", lambda i, p, t: i.mapPartitions(t.square), r"#\[sparkwasm::map_partitions\]"),
    ("mapPartitionsWithIndex", lambda i, p, t: i.mapPartitionsWithIndex(t.running_sum), r"#\[sparkwasm::map_partitions_with_index\]"),
    ("mapValues", lambda i, p, t: p.mapValues(t.range_to), r"mapValues\(\) needs .*#\[sparkwasm::map\]"),
    ("flatMapValues", lambda i, p, t: p.flatMapValues(t.square), r"#\[sparkwasm::flat_map\]"),
    ("keyBy", lambda i, p, t: i.keyBy(t.square), r"keyBy\(\) needs .*#\[sparkwasm::key\]"),
    ("groupBy", lambda i, p, t: i.groupBy(t.square), r"groupBy\(\) needs .*#\[sparkwasm::key\]"),
    ("reduceByKey", lambda i, p, t: p.reduceByKey(t.square), r"reduceByKey\(\) needs .*#\[sparkwasm::reduce\]"),
    ("foldByKey", lambda i, p, t: p.foldByKey(0, t.square), r"#\[sparkwasm::reduce\]"),
    ("aggregateByKey seq", lambda i, p, t: p.aggregateByKey(0, t.add_i64, t.add_i64), r"needs seqFunc declared with #\[sparkwasm::seq_op\]"),
    ("aggregateByKey comb", lambda i, p, t: p.aggregateByKey(0, t.seq_add_len, t.square), r"needs combFunc declared with #\[sparkwasm::reduce\]"),
    ("combineByKey create", lambda i, p, t: p.combineByKey(t.push, t.push, t.extend), r"needs createCombiner declared with #\[sparkwasm::map\]"),
    ("combineByKey merge", lambda i, p, t: p.combineByKey(t.singleton, t.extend, t.extend), r"needs mergeValue declared with #\[sparkwasm::seq_op\]"),
    ("combineByKey combiners", lambda i, p, t: p.combineByKey(t.singleton, t.push, t.push), r"needs mergeCombiners declared with #\[sparkwasm::reduce\]"),
    ("partitionBy", lambda i, p, t: p.partitionBy(2, t.mod_ten), r"needs partitionFunc declared with #\[sparkwasm::partitioner\]"),
    ("reduceByKey partitionFunc", lambda i, p, t: p.reduceByKey(t.add_i64, 2, t.mod_ten), r"#\[sparkwasm::partitioner\]"),
    ("sortBy", lambda i, p, t: i.sortBy(t.square), r"sortBy\(\) needs keyfunc declared with #\[sparkwasm::key\]"),
    ("sortByKey keyfunc", lambda i, p, t: p.sortByKey(keyfunc=t.add_i64), r"sortByKey\(\) needs keyfunc declared with #\[sparkwasm::key\]"),
    ("reduce", lambda i, p, t: i.reduce(t.square), r"reduce\(\) needs .*#\[sparkwasm::reduce\]"),
    ("treeReduce", lambda i, p, t: i.treeReduce(t.square), r"#\[sparkwasm::reduce\]"),
    ("fold", lambda i, p, t: i.fold(0, t.square), r"fold\(\) needs .*#\[sparkwasm::reduce\]"),
    ("aggregate", lambda i, p, t: i.aggregate(0, t.add_i64, t.add_i64), r"aggregate\(\) needs seqOp declared with #\[sparkwasm::seq_op\]"),
    ("treeAggregate", lambda i, p, t: i.treeAggregate(0, t.seq_add_len, t.square), r"needs combOp declared with #\[sparkwasm::reduce\]"),
    ("foreach", lambda i, p, t: i.foreach(t.partition_sum_into_acc), r"foreach\(\) needs .*#\[sparkwasm::foreach\]"),
    ("foreachPartition", lambda i, p, t: i.foreachPartition(t.count_into_acc), r"#\[sparkwasm::foreach_partition\]"),
    ("max", lambda i, p, t: i.max(t.square), r"max\(\) needs key declared with #\[sparkwasm::key\]"),
    ("min", lambda i, p, t: i.min(t.square), r"min\(\) needs key declared"),
    ("top", lambda i, p, t: i.top(2, t.square), r"top\(\) needs key declared"),
    ("takeOrdered", lambda i, p, t: i.takeOrdered(2, t.square), r"takeOrdered\(\) needs key declared"),
]


@pytest.mark.parametrize("build, message", [c[1:] for c in KIND_ERRORS], ids=[c[0] for c in KIND_ERRORS])
def test_kind_mismatches_fail_when_defined(
    ints: sparkwasm.WasmRDD, pairs: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver, build: Build, message: str
) -> None:
    typed_ints = ints.map(typed.square)
    assert isinstance(typed_ints, sparkwasm.WasmRDD)
    with pytest.raises(TypeError, match=message):
        build(typed_ints, pairs, typed)
    assert driver.jobs == []  # nothing ran


TYPE_ERRORS: List[Any] = [
    ("map", lambda i, p, t: i.map(t.upper), r"map\(upper\) expects String records.*i64 \(the output type of square\)"),
    ("filter", lambda i, p, t: p.filter(t.is_even), r"filter\(is_even\) expects i64 records.*\(String,i64\)"),
    ("keyBy", lambda i, p, t: i.keyBy(t.first_char), r"keyBy\(first_char\) expects String"),
    ("mapValues", lambda i, p, t: p.mapValues(t.upper), r"mapValues\(upper\) expects \(K, String\) records"),
    ("reduceByKey", lambda i, p, t: p.reduceByKey(t.add_f64), r"reduceByKey\(add_f64\) expects \(K, f64\)"),
    ("reduceByKey not pairs", lambda i, p, t: i.reduceByKey(t.add_i64), r"reduceByKey\(add_i64\) needs \(K, V\) records, but this RDD holds i64"),
    ("groupByKey not pairs", lambda i, p, t: i.groupByKey(), r"groupByKey\(\) needs \(K, V\) records"),
    ("partitionBy not pairs", lambda i, p, t: i.partitionBy(2), r"partitionBy\(\) needs \(K, V\) records"),
    ("keys not pairs", lambda i, p, t: i.keys(), r"keys\(\) needs \(K, V\) records"),
    ("join not pairs", lambda i, p, t: i.join(p), r"join\(\) needs \(K, V\) records"),
    ("countByKey not pairs", lambda i, p, t: i.countByKey(), r"countByKey\(\) needs \(K, V\)"),
    ("sortByKey not pairs", lambda i, p, t: i.sortByKey(), r"sortByKey\(\) needs \(K, V\)"),
    ("sortByKey keyfunc type", lambda i, p, t: p.sortByKey(keyfunc=t.mod_ten), r"sortByKey\(mod_ten\) expects \(i64, V\) records"),
    ("aggregateByKey types", lambda i, p, t: p.aggregateByKey(0, t.seq_add_len, t.add_pairs), r"output type of seq_add_len \(i64\) must be the input type of add_pairs"),
    ("aggregateByKey values", lambda i, p, t: p.aggregateByKey(0, t.seq_add_len, t.add_i64), r"aggregateByKey\(seq_add_len\) expects \(K, String\)"),
    ("combineByKey types", lambda i, p, t: p.combineByKey(t.singleton, t.push, t.add_i64), r"output type of singleton \(Vec<i64>\) must be the input type of add_i64"),
    ("aggregate types", lambda i, p, t: i.aggregate(0, t.seq_sum_count, t.add_i64), r"output type of seq_sum_count"),
    ("reduce", lambda i, p, t: p.reduce(t.add_i64), r"reduce\(add_i64\) expects i64 records"),
    ("foreach", lambda i, p, t: p.foreach(t.count_into_acc), r"foreach\(count_into_acc\) expects i64"),
    ("max key", lambda i, p, t: i.max(t.len_key), r"max\(len_key\) expects String"),
    ("python partitionFunc", lambda i, p, t: p.reduceByKey(t.add_i64, 2, lambda k: 0), r"partitionFunc to be left out .* or a #\[sparkwasm::partitioner\]"),
    ("wasm partitionFunc", lambda i, p, t: p.reduceByKey(lambda a, b: a, 2, t.by_mod_three), r"partitionFunc by_mod_three is a WASM function"),
    ("mixed aggregate", lambda i, p, t: p.aggregateByKey(0, t.seq_sum_count, lambda a, b: a), r"both WASM functions and Python callables"),
    ("numPartitions", lambda i, p, t: p.reduceByKey(t.add_i64, 0), r"numPartitions must be a positive int"),
]


@pytest.mark.parametrize("build, message", [c[1:] for c in TYPE_ERRORS], ids=[c[0] for c in TYPE_ERRORS])
def test_type_mismatches_fail_when_defined(
    ints: sparkwasm.WasmRDD, pairs: sparkwasm.WasmRDD, typed: sparkwasm.WasmModule, driver: Driver, build: Build, message: str
) -> None:
    typed_ints = ints.map(typed.square)
    assert isinstance(typed_ints, sparkwasm.WasmRDD)
    with pytest.raises((TypeError, ValueError), match=message):
        build(typed_ints, pairs, typed)
    assert driver.jobs == []


def test_functions_of_one_call_come_from_one_module(
    pairs: sparkwasm.WasmRDD, wc: sparkwasm.WasmModule, typed: sparkwasm.WasmModule
) -> None:
    with pytest.raises(TypeError, match="must come from one module"):
        pairs.aggregateByKey(0, typed.seq_add_len, wc.add)
    with pytest.raises(TypeError, match="partitionFunc by_mod_three must come from the same module"):
        pairs.reduceByKey(wc.add, 2, typed.by_mod_three)


def test_wasm_function_in_a_plain_rdd_fails_on_the_driver(sc_local: SparkContext, typed: sparkwasm.WasmModule) -> None:
    with pytest.raises(Exception, match="cannot run inside Python workers"):
        sc_local.parallelize([1, 2]).map(typed.triple_plus_one).collect()
