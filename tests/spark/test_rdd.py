"""End-to-end tests: WASM RDD functions on real Spark, compared with the same jobs in Python.

Every job runs on ``local[2]`` and on ``local-cluster[2,1,1024]`` (separate executor JVMs),
in daemon mode, plus a few in non-daemon mode. They need the built worker and guests (see
``conftest.py``).

The Python references follow the guests' documented behaviour: ``split_words`` lowercases and
splits at every character that is not a letter or digit (for ASCII text, ``WORD_RE`` below),
``is_long`` keeps words of more than three characters, ``word_len`` and ``maybe_len`` count
characters, ``explode`` is the identity except on 13. Python stages use inline lambdas only:
cloudpickle ships a module-level helper of this test module by reference, and executors
cannot import it.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any, Callable, List, Set

import pytest
from pyspark import RDD, SparkContext

import sparkwasm
from conftest import Artifacts
from sparkwasm import WasmModule

#: What split_words keeps, for ASCII text (after lowercasing).
WORD_RE = r"[a-z0-9]+"

TEXT = [
    "The quick brown fox jumps over the lazy dog.",
    "",
    "Spark runs WASM, and WASM runs Spark!",
    "  leading and trailing spaces  ",
    "tabs\tand\tspaces mixed -- the end; 42 is a number",
] * 40


@pytest.fixture
def wc(sc: SparkContext, artifacts: Artifacts) -> WasmModule:
    return sparkwasm.load(sc, artifacts.wordcount)


@pytest.fixture
def typed(sc: SparkContext, artifacts: Artifacts) -> WasmModule:
    return sparkwasm.load(sc, artifacts.typed)


@pytest.fixture
def text_path(tmp_path: Path) -> str:
    path = tmp_path / "words.txt"
    path.write_text("\n".join(TEXT) + "\n")
    return str(path)


def error_text(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """The whole failure as the user sees it: Py4J's message includes the JVM's cause chain."""
    return str(excinfo.value)


# --- word count ------------------------------------------------------------------------------


def test_word_count_matches_python(sc: SparkContext, wc: WasmModule, text_path: str) -> None:
    lines = sc.textFile(text_path, 3)
    counts = sparkwasm.wrap(lines).flatMap(wc.split_words).map(wc.with_one).reduceByKey(wc.add)
    pattern = WORD_RE
    expected = (
        lines.flatMap(lambda s: re.findall(pattern, s.lower()))
        .map(lambda w: (w, 1))
        .reduceByKey(lambda a, b: a + b)
    )
    result = counts.collect()
    assert sorted(result) == sorted(expected.collect())
    assert all(type(pair) is tuple for pair in result)
    assert counts.getNumPartitions() == lines.getNumPartitions()


def test_word_count_with_filter(sc: SparkContext, wc: WasmModule, text_path: str) -> None:
    lines = sc.textFile(text_path, 2)
    counts = (
        sparkwasm.wrap(lines)
        .flatMap(wc.split_words)
        .filter(wc.is_long)
        .map(wc.with_one)
        .reduceByKey(wc.add)
    )
    pattern = WORD_RE
    expected = lines.flatMap(lambda s: re.findall(pattern, s.lower())).filter(lambda w: len(w) > 3)
    assert dict(counts.collect()) == dict(expected.countByValue())


def test_word_count_with_explicit_partitions_and_lookup(
    sc: SparkContext, wc: WasmModule, text_path: str
) -> None:
    counts = (
        sparkwasm.wrap(sc.textFile(text_path, 2))
        .flatMap(wc.split_words)
        .map(wc.with_one)
        .reduceByKey(wc.add, numPartitions=5)
    )
    assert counts.getNumPartitions() == 5
    # The driver's idea of where each key lives must match where the worker put it: lookup()
    # and PySpark's co-partitioning decisions rely on it.
    for index, part in enumerate(counts.glom().collect()):
        for key, _ in part:
            assert counts.partitioner is not None and counts.partitioner(key) == index, key
    assert counts.lookup("spark") == [80]
    assert counts.lookup("absent") == []


# --- narrow steps, differential against Python -------------------------------------------------

INTS = list(range(-50, 250))
CASES = [
    # (id, data, slices, wasm pipeline, python pipeline)
    ("map_i64", INTS, 4, lambda r, t: r.map(t.triple_plus_one), lambda r: r.map(lambda x: x * 3 + 1)),
    ("filter_i64", INTS, 3, lambda r, t: r.filter(t.is_multiple_of_four), lambda r: r.filter(lambda x: x % 4 == 0)),
    ("flat_map_i64", list(range(12)), 3, lambda r, t: r.flatMap(t.range_to), lambda r: r.flatMap(lambda n: list(range(n)))),
    (
        "map_partitions_i64",
        INTS,
        5,
        lambda r, t: r.mapPartitions(t.running_sum),
        lambda r: r.mapPartitions(lambda it: itertools.accumulate(it)),
    ),
    (
        "pipeline_i64",
        INTS,
        4,
        lambda r, t: r.map(t.triple_plus_one).filter(t.is_multiple_of_four).flatMap(t.range_to),
        lambda r: r.map(lambda x: x * 3 + 1).filter(lambda x: x % 4 == 0).flatMap(lambda n: list(range(n))),
    ),
    ("many_batches_i64", list(range(20000)), 8, lambda r, t: r.map(t.triple_plus_one), lambda r: r.map(lambda x: x * 3 + 1)),
    ("map_f64", [0.0, -1.5, 3.25, 1e300, 7.0, -0.0], 2, lambda r, t: r.map(t.half), lambda r: r.map(lambda x: x / 2)),
    ("map_string", ["spark", "Wasm", "", "mIxEd case"], 2, lambda r, t: r.map(t.upper), lambda r: r.map(lambda s: s.upper())),
    ("string_to_pair", ["a", "bb", "", "dddd", "é"], 2, lambda r, t: r.map(t.word_len), lambda r: r.map(lambda s: (s, len(s)))),
    ("pair_to_pair", [("a", 1), ("b", -2), ("", 0)], 2, lambda r, t: r.map(t.swap), lambda r: r.map(lambda p: (p[1], p[0]))),
    ("pair_to_i64", [(1, 2), (-3, 3), (2**40, 1)], 2, lambda r, t: r.map(t.pair_sum), lambda r: r.map(lambda p: p[0] + p[1])),
    ("map_bool", [True, False, True], 2, lambda r, t: r.map(t.negate), lambda r: r.map(lambda b: not b)),
    ("map_option", ["abc", None, "", None, "z"], 2, lambda r, t: r.map(t.maybe_len), lambda r: r.map(lambda s: None if s is None else len(s))),
    ("map_u8_wrapping", [0, 1, 127, 128, 200, 255], 2, lambda r, t: r.map(t.small_double), lambda r: r.map(lambda x: (x * 2) % 256)),
]


@pytest.mark.parametrize("data, slices, wasm, python", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_narrow_steps_match_python(
    sc: SparkContext,
    typed: WasmModule,
    data: List[Any],
    slices: int,
    wasm: Callable[[Any, WasmModule], RDD],
    python: Callable[[RDD], RDD],
) -> None:
    rdd = sc.parallelize(data, slices)
    result = wasm(sparkwasm.wrap(rdd), typed)
    assert isinstance(result, sparkwasm.WasmRDD)
    # Same parent, same partitioning: the order must match too, not just the multiset.
    assert result.collect() == python(rdd).collect()


def test_actions_on_wasm_rdd(sc: SparkContext, typed: WasmModule) -> None:
    result = sparkwasm.wrap(sc.parallelize(range(100), 8)).map(typed.triple_plus_one)
    assert result.count() == 100
    assert result.first() == 1
    assert result.take(3) == [1, 4, 7]
    assert result.sum() == sum(x * 3 + 1 for x in range(100))
    assert sorted(result.distinct().collect()) == [x * 3 + 1 for x in range(100)]


def test_text_file_input(sc: SparkContext, typed: WasmModule, text_path: str) -> None:
    lines = sc.textFile(text_path, 2)
    assert sparkwasm.wrap(lines).map(typed.upper).collect() == [s.upper() for s in TEXT]


def test_unbatched_pickle_input(sc: SparkContext, typed: WasmModule) -> None:
    from pyspark.serializers import CPickleSerializer

    # One pickled object per frame instead of one list per frame.
    rdd = sc.parallelize(range(50), 3)._reserialize(CPickleSerializer())
    assert sparkwasm.wrap(rdd).map(typed.triple_plus_one).collect() == [x * 3 + 1 for x in range(50)]


# --- mixing with Python, other modules, caching ---------------------------------------------


def test_wasm_stage_after_python_stage(sc: SparkContext, typed: WasmModule) -> None:
    rdd = sc.parallelize(range(100), 4).map(lambda x: x - 7).filter(lambda x: x % 3 != 0)
    result = sparkwasm.wrap(rdd).map(typed.triple_plus_one).filter(typed.is_multiple_of_four)
    assert result.collect() == [y for y in (x * 3 + 1 for x in rdd.collect()) if y % 4 == 0]


def test_python_stage_after_wasm_stage(sc: SparkContext, typed: WasmModule) -> None:
    wasm = sparkwasm.wrap(sc.parallelize(range(100), 4)).map(typed.triple_plus_one)
    result = wasm.map(lambda x: -x).filter(lambda x: x % 2 == 0)
    assert not isinstance(result, sparkwasm.WasmRDD)
    assert result.collect() == [-(x * 3 + 1) for x in range(100) if (x * 3 + 1) % 2 == 0]
    grouped = dict(wasm.map(lambda x: (x % 3, x)).reduceByKey(lambda a, b: a + b).collect())
    assert grouped == {1: sum(x * 3 + 1 for x in range(100))}


def test_two_modules_chain_through_binary_batches(
    sc: SparkContext, wc: WasmModule, typed: WasmModule, text_path: str
) -> None:
    lines = sc.textFile(text_path, 3)
    counts = (
        sparkwasm.wrap(lines)
        .map(typed.upper)  # typed module: String -> String
        .flatMap(wc.split_words)  # word-count module: a second worker pass
        .map(wc.with_one)
        .reduceByKey(wc.add)
    )
    pattern = WORD_RE
    # split_words lowercases, so the upper-casing pass does not change the counts.
    expected = lines.flatMap(lambda s: re.findall(pattern, s.upper().lower())).countByValue()
    assert dict(counts.collect()) == dict(expected)


def test_reduce_then_same_module_steps(sc: SparkContext, typed: WasmModule) -> None:
    words = ["a", "bb", "a", "ccc", "bb", "a"] * 30
    rdd = sc.parallelize(words, 4)
    result = sparkwasm.wrap(rdd).map(typed.word_len).reduceByKey(typed.add_i64, 3).map(typed.swap)
    assert sorted(result.collect()) == sorted((len(w) * words.count(w), w) for w in set(words))


def test_cached_wasm_rdd_feeds_the_next_pass(sc: SparkContext, typed: WasmModule) -> None:
    cached = sparkwasm.wrap(sc.parallelize(range(200), 4)).map(typed.triple_plus_one).cache()
    try:
        assert cached.count() == 200
        result = cached.filter(typed.is_multiple_of_four).map(typed.triple_plus_one)
        assert result.collect() == [y * 3 + 1 for y in (x * 3 + 1 for x in range(200)) if y % 4 == 0]
    finally:
        cached.unpersist()


# --- daemon / non-daemon, reuse -------------------------------------------------------------


def test_non_daemon_mode(sc_nondaemon: SparkContext, artifacts: Artifacts, text_path: str) -> None:
    wc = sparkwasm.load(sc_nondaemon, artifacts.wordcount)
    typed = sparkwasm.load(sc_nondaemon, artifacts.typed)
    lines = sc_nondaemon.textFile(text_path, 3)
    counts = sparkwasm.wrap(lines).flatMap(wc.split_words).map(wc.with_one).reduceByKey(wc.add)
    pattern = WORD_RE
    expected = lines.flatMap(lambda s: re.findall(pattern, s.lower())).countByValue()
    assert dict(counts.collect()) == dict(expected)
    ints = sparkwasm.wrap(sc_nondaemon.parallelize(range(40), 4)).map(typed.triple_plus_one)
    assert ints.collect() == [x * 3 + 1 for x in range(40)]


def _idle_worker_connections(sc: SparkContext, worker: str) -> Set[str]:
    """The JVM's idle pool of connections to ``worker`` (local mode: executors share the
    driver's SparkEnv). Read through reflection: ``SparkEnv.pythonWorkers`` is private."""
    jvm = sc._jvm
    assert jvm is not None
    env = sc._jsc.sc().env()
    field = jvm.java.lang.Class.forName("org.apache.spark.SparkEnv").getDeclaredField("pythonWorkers")
    field.setAccessible(True)
    factories = field.get(env).iterator()
    idle: Set[str] = set()
    while factories.hasNext():
        entry = factories.next()
        if entry._1().pythonExec() == worker:
            queue = entry._2().idleWorkers()
            idle |= {queue.apply(i).toString() for i in range(queue.size())}
    return idle


def test_tasks_reuse_worker_connections(sc: SparkContext, spark_master: str, artifacts: Artifacts) -> None:
    typed = sparkwasm.load(sc, artifacts.typed)
    rdd = sparkwasm.wrap(sc.parallelize(range(800), 8)).map(typed.triple_plus_one)
    expected = [x * 3 + 1 for x in range(800)]
    if spark_master != "local[2]":
        # The executors' worker pools live in other JVMs, out of the driver's reach: here we
        # check correctness with reuse on; host/tests/worker_process.rs checks several tasks
        # on one connection byte for byte, and the local[2] case below checks Spark's pool.
        assert rdd.collect() == expected
        assert rdd.collect() == expected
        return
    # Earlier tests on this context may have left connections in the pool (a task running
    # two WASM passes holds two), so compare snapshots rather than absolute sizes.
    worker = str(artifacts.worker)
    before = _idle_worker_connections(sc, worker)
    assert rdd.collect() == expected
    first = _idle_worker_connections(sc, worker)
    assert first, "no connection went back to the idle pool: the worker did not offer reuse"
    assert len(first - before) <= 2, "more new connections than cores: tasks did not reuse them"
    assert rdd.collect() == expected
    second = _idle_worker_connections(sc, worker)
    # The second job's 8 tasks took their connections from the pool and gave them back; a
    # new one can only appear if the first job happened to keep a single core busy.
    assert first <= second and len(second - first) <= 1, (first, second)


# --- failures --------------------------------------------------------------------------------


def test_guest_panic_fails_the_job_then_the_context_still_works(sc: SparkContext, typed: WasmModule) -> None:
    rdd = sparkwasm.wrap(sc.parallelize([1, 5, 13, 20], 2)).map(typed.explode)
    with pytest.raises(Exception) as excinfo:
        rdd.collect()
    text = error_text(excinfo)
    assert "boom at 13" in text
    assert "explode" in text
    assert "partition" in text
    # The worker survives a trap; the next job on the same context succeeds.
    ok = sparkwasm.wrap(sc.parallelize([1, 5, 20], 2)).map(typed.explode)
    assert len(ok.collect()) == 3
    assert sparkwasm.wrap(sc.parallelize(range(10), 2)).map(typed.triple_plus_one).sum() == sum(
        x * 3 + 1 for x in range(10)
    )


def test_value_out_of_range_names_its_position(sc: SparkContext, typed: WasmModule) -> None:
    # One partition, one batch: 300 is element 7 of both.
    rdd = sparkwasm.wrap(sc.parallelize([1, 2, 3, 4, 5, 6, 7, 300], 1)).map(typed.small_double)
    with pytest.raises(Exception) as excinfo:
        rdd.collect()
    text = error_text(excinfo)
    assert "300" in text, text[-2000:]
    # The position: the worker's wording is its own; accept the usual nouns before the index.
    assert re.search(r"(?i)(position|index|element|record|item)\D{0,20}\b7\b", text), text[-2000:]


def test_bad_module_fails_at_load(sc: SparkContext, artifacts: Artifacts, tmp_path: Path) -> None:
    with pytest.raises(sparkwasm.WasmModuleError, match="not a WebAssembly module"):
        sparkwasm.load(sc, artifacts.worker)  # an executable, not wasm
    truncated = tmp_path / "truncated.wasm"
    truncated.write_bytes(artifacts.wordcount.read_bytes()[:100])
    with pytest.raises(sparkwasm.WasmModuleError):
        sparkwasm.load(sc, truncated)


def test_definition_time_errors(sc: SparkContext, wc: WasmModule, typed: WasmModule) -> None:
    # With the real guests' descriptors (test_pipeline.py checks every method with stand-ins).
    rdd = sparkwasm.wrap(sc.parallelize([1, 2, 3], 2))
    with pytest.raises(TypeError, match=r"map\(\) needs .*#\[sparkwasm::map\].*'add' is a reduce"):
        rdd.map(wc.add)
    with pytest.raises(TypeError, match=r"mapPartitions\(\) needs .*#\[sparkwasm::map_partitions\]"):
        rdd.mapPartitions(typed.triple_plus_one)
    ints = rdd.map(typed.triple_plus_one)
    with pytest.raises(TypeError, match=r"map\(upper\) expects String records.*i64"):
        ints.map(typed.upper)
    with pytest.raises(TypeError, match=r"reduceByKey\(add_i64\) needs \(K, V\) records.*i64"):
        ints.reduceByKey(typed.add_i64)
    pairs = sparkwasm.wrap(sc.parallelize(["a"])).map(typed.word_len)
    with pytest.raises(TypeError, match="partitionFunc"):
        pairs.reduceByKey(typed.add_i64, 2, hash)
    with pytest.raises(TypeError, match=r"reduceByKey\(\) needs a function declared with #\[sparkwasm::reduce\].*'upper' is a map"):
        pairs.reduceByKey(typed.upper)


def test_reduce_by_key_of_python_pairs_and_across_modules(sc: SparkContext, wc: WasmModule, typed: WasmModule) -> None:
    # ABI 2: a by-key step can read Python pairs directly (dynamic values), and a module can
    # reduce what another produced.
    direct = sparkwasm.wrap(sc.parallelize([("a", 1), ("b", 2), ("a", 3)], 2)).reduceByKey(typed.add_i64)
    assert sorted(direct.collect()) == [("a", 4), ("b", 2)]
    words = ["a", "bb", "a"]
    crossed = sparkwasm.wrap(sc.parallelize(words, 2)).map(typed.word_len).reduceByKey(wc.add)
    assert sorted(crossed.collect()) == [("a", 2), ("bb", 2)]


def test_wasm_function_in_a_plain_rdd_fails_on_the_driver(sc: SparkContext, typed: WasmModule) -> None:
    with pytest.raises(Exception, match="cannot run inside Python workers"):
        sc.parallelize([1, 2]).map(typed.triple_plus_one).collect()
