"""The sandbox policy end to end: a job's ``spark.sparkwasm.*`` settings reach the worker,
limits fail the task with a message a user can act on (the limit, its value, the setting,
the pipeline, the module digest and the partition), operator ceilings on the executor side
cannot be raised by a job, and unknown settings are errors on the driver and the worker.

Settings go on the live ``SparkConf`` (``sc._conf``) for one test and are removed after it.
The driver reads them when it builds an RDD's worker pass (the first action on it), and
PySpark takes ``sc.environment`` into each function when it is built, so every phase of a
test builds its RDD afresh. Ceilings go in ``sc.environment``, which PySpark passes to the
worker's environment (a new environment starts a new daemon).
"""

from __future__ import annotations

import contextlib
from typing import Dict, Iterator

import pytest
from pyspark import SparkContext

import sparkwasm
from conftest import Artifacts
from sparkwasm import WasmModule
from sparkwasm._policy import policy_from_conf


@pytest.fixture
def typed(sc_local: SparkContext, artifacts: Artifacts) -> WasmModule:
    return sparkwasm.load(sc_local, artifacts.typed)


@contextlib.contextmanager
def conf(sc: SparkContext, settings: Dict[str, str]) -> Iterator[None]:
    """``settings`` on ``sc``'s conf for the duration of the block."""
    for key, value in settings.items():
        sc._conf.set(key, value)
    try:
        yield
    finally:
        for key in settings:
            sc._conf._jconf.remove(key)  # type: ignore[union-attr]


@contextlib.contextmanager
def executor_env(sc: SparkContext, variables: Dict[str, str]) -> Iterator[None]:
    """``variables`` in the environment of the workers started during the block."""
    before = dict(sc.environment)
    sc.environment.update(variables)
    try:
        yield
    finally:
        sc.environment.clear()
        sc.environment.update(before)


def failure(action) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception) as info:
        action()
    return str(info.value)


def test_conf_keys_parse_into_the_manifest_policy() -> None:
    policy = policy_from_conf(
        {
            "spark.sparkwasm.memoryMb": "64",
            "spark.sparkwasm.fuel": "1000",
            "spark.sparkwasm.sparkFiles": "false",
            "spark.sparkwasm.random": "Deterministic",
            "spark.sparkwasm.worker": "/opt/sparkwasm-worker",
            "spark.executor.memory": "1g",
        }
    )
    assert policy == {"memory_mb": 64, "fuel": 1000, "spark_files": False, "random": "deterministic"}
    with pytest.raises(ValueError, match=r"unknown sparkwasm setting 'spark.sparkwasm.memory'.*spark.sparkwasm.memoryMb"):
        policy_from_conf({"spark.sparkwasm.memory": "64"})
    with pytest.raises(ValueError, match=r"spark.sparkwasm.memoryMb='lots'"):
        policy_from_conf({"spark.sparkwasm.memoryMb": "lots"})
    with pytest.raises(ValueError, match=r"spark.sparkwasm.clock='fast'.*real or deterministic"):
        policy_from_conf({"spark.sparkwasm.clock": "fast"})


def test_an_unknown_setting_fails_before_any_task_runs(sc_local: SparkContext, typed: WasmModule) -> None:
    rdd = sparkwasm.wrap(sc_local.parallelize([1, 2, 3], 2), module=typed).map(typed.square)
    with conf(sc_local, {"spark.sparkwasm.memroyMb": "64"}):
        with pytest.raises(ValueError, match="unknown sparkwasm setting 'spark.sparkwasm.memroyMb'"):
            rdd.collect()
    assert sparkwasm.wrap(sc_local.parallelize([1, 2, 3], 2), module=typed).map(typed.square).collect() == [1, 4, 9]


def test_the_memory_setting_caps_the_guest_and_the_error_says_so(sc_local: SparkContext, typed: WasmModule) -> None:
    # range_to(n) collects n i64s: 80 MB for n = 10**7, past a 16 MiB cap.
    rdd = sparkwasm.wrap(sc_local.parallelize([10**7], 1), module=typed).flatMap(typed.range_to)
    with conf(sc_local, {"spark.sparkwasm.memoryMb": "16"}):
        message = failure(rdd.count)
    assert "memory limit exceeded" in message
    assert "16 MiB memory cap (spark.sparkwasm.memoryMb; operator ceiling SPARKWASM_MAX_MEMORY_MB)" in message
    assert "range_to" in message and f"module sha256:{typed.digest[:12]}" in message
    assert "partition 0" in message
    # Without the setting the default (1 GiB) holds it, on the same daemon.
    assert sparkwasm.wrap(sc_local.parallelize([10**7], 1), module=typed).flatMap(typed.range_to).count() == 10**7


def test_the_call_deadline_stops_a_spinning_guest(sc_local: SparkContext, typed: WasmModule) -> None:
    rdd = sparkwasm.wrap(sc_local.parallelize([1], 1), module=typed).map(typed.spin_forever)
    with conf(sc_local, {"spark.sparkwasm.callDeadlineSecs": "1"}):
        message = failure(rdd.collect)
    assert "deadline exceeded" in message
    assert "past its call deadline of 1 s (spark.sparkwasm.callDeadlineSecs" in message
    assert "spin_forever" in message


def test_a_fuel_budget_bounds_the_work_of_a_task(sc_local: SparkContext, typed: WasmModule) -> None:
    def squares():  # type: ignore[no-untyped-def]
        return sparkwasm.wrap(sc_local.parallelize(list(range(10_000)), 1), module=typed).map(typed.square)

    with conf(sc_local, {"spark.sparkwasm.fuel": "1000"}):
        message = failure(squares().collect)
    assert "fuel exhausted" in message and "fuel budget of 1000 (spark.sparkwasm.fuel" in message
    with conf(sc_local, {"spark.sparkwasm.fuel": "100000000000"}):
        assert squares().collect() == [x * x for x in range(10_000)]


def test_a_job_cannot_raise_an_operator_ceiling(sc_local: SparkContext, typed: WasmModule) -> None:
    def squares():  # type: ignore[no-untyped-def]
        return sparkwasm.wrap(sc_local.parallelize([1, 2], 2), module=typed).map(typed.square)

    with executor_env(sc_local, {"SPARKWASM_MAX_MEMORY_MB": "128"}):
        with conf(sc_local, {"spark.sparkwasm.memoryMb": "512"}):
            message = failure(squares().collect)
        assert "spark.sparkwasm.memoryMb = 512 MiB is above the operator's ceiling of 128 MiB (SPARKWASM_MAX_MEMORY_MB)" in message
        with conf(sc_local, {"spark.sparkwasm.memoryMb": "64"}):
            assert squares().collect() == [1, 4]


def test_the_operator_can_pin_module_digests(sc_local: SparkContext, typed: WasmModule) -> None:
    def squares():  # type: ignore[no-untyped-def]
        return sparkwasm.wrap(sc_local.parallelize([3], 1), module=typed).map(typed.square)

    with executor_env(sc_local, {"SPARKWASM_ALLOWED_DIGESTS": "0" * 64}):
        message = failure(squares().collect)
        assert f"module sha256:{typed.digest} is not on this cluster's allow-list" in message
    with executor_env(sc_local, {"SPARKWASM_ALLOWED_DIGESTS": f"{'0' * 64},{typed.digest}"}):
        assert squares().collect() == [9]


def test_an_unknown_executor_variable_fails_the_task(sc_local: SparkContext, typed: WasmModule) -> None:
    def squares():  # type: ignore[no-untyped-def]
        return sparkwasm.wrap(sc_local.parallelize([3], 1), module=typed).map(typed.square)

    with executor_env(sc_local, {"SPARKWASM_MAX_MEMORY": "64"}):
        message = failure(squares().collect)
    assert "unknown sparkwasm setting(s) in the executor's environment: SPARKWASM_MAX_MEMORY;" in message
    assert squares().collect() == [9]
