"""End-to-end tests of what a task gives WASM functions besides records, and of pipelines
that must not run Python on the executors at all.

* No Python: a context whose executors cannot start Python (``spark.pyspark.python`` and
  ``PYSPARK_PYTHON`` point at nothing) runs WASM-only pipelines through every action.
* Broadcasts (also with I/O encryption), accumulators (each successful task's update counted
  exactly once), ``TaskContext`` fields, local properties, SparkFiles and the sandbox's refusal
  of other host files.

They need the built worker and typed guest (see ``conftest.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List

import pytest
from pyspark import SparkContext

import sparkwasm
from conftest import NO_PYTHON, Artifacts
from sparkwasm import WasmModule


@pytest.fixture
def typed(artifacts: Artifacts) -> WasmModule:
    from pyspark import SparkContext as _SC

    return sparkwasm.load(_SC.__new__(_SC), artifacts.typed)


# --- no Python on the executors ----------------------------------------------------------------


def test_context_really_has_no_python(sc_nopython: SparkContext) -> None:
    assert sc_nopython.pythonExec == NO_PYTHON
    with pytest.raises(Exception):
        sc_nopython.parallelize([1, 2], 2).map(lambda x: x).collect()


def test_wasm_pipelines_run_without_python(sc_nopython: SparkContext, typed: WasmModule, tmp_path: Path) -> None:
    sc = sc_nopython
    data = list(range(1000))  # a list: sc.parallelize(range(...)) would be a Python stage
    nums = sparkwasm.wrap(sc.parallelize(data, 4)).map(typed.square)
    squares = [x * x for x in data]
    assert nums.count() == 1000
    assert nums.sum() == sum(squares)
    assert nums.collect() == squares
    assert nums.take(5) == squares[:5]
    assert nums.first() == 0
    assert nums.reduce(typed.add_i64) == sum(squares)
    assert nums.fold(0, typed.add_i64) == sum(squares)
    assert nums.aggregate((0, 0), typed.seq_sum_count, typed.add_pairs) == (sum(squares), 1000)
    assert nums.treeReduce(typed.add_i64, 3) == sum(squares)
    assert nums.max() == 999 * 999 and nums.min() == 0
    assert nums.top(2) == [999 * 999, 998 * 998] and nums.takeOrdered(2) == [0, 1]
    assert nums.isEmpty() is False

    nums.saveAsTextFile(str(tmp_path / "out"))
    written = "".join(p.read_text() for p in sorted((tmp_path / "out").glob("part-*")))
    assert written == "".join(f"{x}\n" for x in squares)

    keyed = nums.keyBy(typed.mod_ten)
    expected_sums = {d: sum(x for x in squares if x % 10 == d) for d in {x % 10 for x in squares}}
    assert dict(keyed.reduceByKey(typed.add_i64).collect()) == expected_sums
    assert dict(keyed.countByKey()) == {d: sum(1 for x in squares if x % 10 == d) for d in expected_sums}
    grouped = {k: sorted(v) for k, v in keyed.groupByKey(3).collect()}
    assert grouped == {d: sorted(x for x in squares if x % 10 == d) for d in expected_sums}
    assert sorted(keyed.keys().distinct().collect()) == sorted({x % 10 for x in squares})

    names = sc.parallelize([(d, f"digit {d}") for d in range(0, 10, 3)], 2)  # a plain RDD
    joined = keyed.join(names).collect()
    assert sorted(joined) == sorted((x % 10, (x, f"digit {x % 10}")) for x in squares if x % 10 in (0, 3, 6, 9))
    assert sorted(keyed.subtractByKey(names).keys().distinct().collect()) == [1, 4, 5]

    pairs = sparkwasm.wrap(sc.parallelize([(x % 97, x) for x in data], 4), module=typed)
    ordered = pairs.sortByKey(False, 3).collect()
    assert [k for k, _ in ordered] == sorted((x % 97 for x in data), reverse=True)
    assert nums.sortBy(typed.mod_ten, True, 2).map(typed.square).count() == 1000

    seen, total = sc.accumulator(0), sc.accumulator(0)
    nums.foreach(typed.count_into_acc.using(accumulators={"seen": seen, "total": total}))
    assert (seen.value, total.value) == (1000, sum(squares))


# --- broadcasts --------------------------------------------------------------------------------


def _check_broadcasts(sc: SparkContext, typed: WasmModule) -> None:
    offset = sc.broadcast(1000)
    names = sc.broadcast({i: f"name {i}" for i in range(20000)})
    try:
        rdd = sparkwasm.wrap(sc.parallelize(list(range(-5, 30)), 3))
        shifted = rdd.map(typed.add_broadcast_offset.using(broadcasts={"offset": offset}))
        assert shifted.collect() == [x + 1000 for x in range(-5, 30)]
        looked_up = rdd.map(typed.lookup_name.using(broadcasts={"names": names})).collect()
        assert looked_up == ["?" if x < 0 else f"name {x}" for x in range(-5, 30)]
        # Both in one pass, and through a shuffle.
        both = (
            rdd.map(typed.add_broadcast_offset.using(broadcasts={"offset": offset}))
            .map(typed.lookup_name.using(broadcasts={"names": names}))
            .map(typed.word_len)
            .reduceByKey(typed.add_i64)
        )
        assert sorted(both.collect()) == sorted((f"name {x + 1000}", len(f"name {x + 1000}")) for x in range(-5, 30))
    finally:
        offset.unpersist()
        names.unpersist()


def test_broadcasts(sc: SparkContext, typed: WasmModule) -> None:
    _check_broadcasts(sc, typed)


def test_broadcasts_with_io_encryption(sc_encrypted: SparkContext, typed: WasmModule) -> None:
    assert sc_encrypted._encryption_enabled
    _check_broadcasts(sc_encrypted, typed)


# --- accumulators --------------------------------------------------------------------------------


def test_accumulators_count_each_task_once(sc: SparkContext, typed: WasmModule) -> None:
    data = list(range(1000))
    rdd = sparkwasm.wrap(sc.parallelize(data, 7))
    seen, total = sc.accumulator(0), sc.accumulator(0)
    rdd.foreach(typed.count_into_acc.using(accumulators={"seen": seen, "total": total}))
    assert (seen.value, total.value) == (1000, sum(data))
    rdd.foreach(typed.count_into_acc.using(accumulators={"seen": seen, "total": total}))
    assert (seen.value, total.value) == (2000, 2 * sum(data))
    partition_total = sc.accumulator(0)
    rdd.foreachPartition(typed.partition_sum_into_acc.using(accumulators={"total": partition_total}))
    assert partition_total.value == sum(data)
    # Updates from a float accumulator add as floats.
    float_total = sc.accumulator(0.5)
    rdd.foreachPartition(typed.partition_sum_into_acc.using(accumulators={"total": float_total}))
    assert float_total.value == 0.5 + sum(data)


def test_accumulators_of_a_failed_job_are_not_counted(sc: SparkContext, typed: WasmModule) -> None:
    seen, total = sc.accumulator(0), sc.accumulator(0)
    rdd = sparkwasm.wrap(sc.parallelize([1, 2, 13, 4], 1)).map(typed.explode)
    with pytest.raises(Exception, match="boom at 13"):
        rdd.foreach(typed.count_into_acc.using(accumulators={"seen": seen, "total": total}))
    assert (seen.value, total.value) == (0, 0)


# --- task context, local properties -------------------------------------------------------------


def test_task_context(sc: SparkContext, typed: WasmModule) -> None:
    rdd = sc.parallelize(list(range(40)), 4)
    tagged = sparkwasm.wrap(rdd).map(typed.context_tag).collect()
    expected = [(i, 0, x) for i, part in enumerate(rdd.glom().collect()) for x in part]
    assert tagged == expected
    # After a shuffle the partition ids are the reduce side's.
    shuffled = sparkwasm.wrap(rdd).keyBy(typed.mod_ten).partitionBy(3).values().map(typed.context_tag)
    for index, part in enumerate(shuffled.glom().collect()):
        assert all(pid == index for pid, _, _ in part)


def test_local_properties(sc: SparkContext, typed: WasmModule) -> None:
    rdd = sparkwasm.wrap(sc.parallelize([1, 2, 3], 2))
    assert rdd.map(typed.local_prop).collect() == [None, None, None]
    sc.setLocalProperty("sparkwasm.test", "héllo")
    try:
        assert rdd.map(typed.local_prop).collect() == ["héllo"] * 3
    finally:
        sc.setLocalProperty("sparkwasm.test", None)  # type: ignore[arg-type]
    assert rdd.map(typed.local_prop).collect() == [None, None, None]


# --- files -------------------------------------------------------------------------------------


def test_spark_files_are_readable(sc: SparkContext, typed: WasmModule, tmp_path: Path, spark_master: str) -> None:
    name = f"sparkwasm-files-{spark_master.split('[')[0]}-{os.getpid()}.txt"
    path = tmp_path / name
    path.write_text("  shared with every task ✓\n", encoding="utf-8")
    sc.addFile(str(path))
    rdd = sparkwasm.wrap(sc.parallelize([name] * 4, 2))
    assert rdd.map(typed.read_spark_file).collect() == ["shared with every task ✓"] * 4


def test_other_host_files_are_refused(sc: SparkContext, typed: WasmModule) -> None:
    probes: List[Any] = ["/etc/passwd", "../../../../etc/passwd", "/sparkfiles/../etc/passwd"]
    answers = sparkwasm.wrap(sc.parallelize(probes, 1)).map(typed.read_etc_passwd).collect()
    assert len(answers) == len(probes)
    for probe, answer in zip(probes, answers):
        assert answer.startswith("denied"), (probe, answer[:200])
        assert "root:" not in answer
