"""Spark SQL UDFs and UDAFs on the other deployments: ``local-cluster[2,1,1024]`` (executors
in their own JVMs, the worker found through ``spark.sparkwasm.worker`` on each of them) and
non-daemon mode (one worker process per task). Each query is compared with the same
function written as a Python UDF on stock PySpark, in the same session.

The full type and placement matrix runs on ``local[2]`` in ``test_sql_udf.py``; this file
checks that nothing in it depends on the executor sharing the driver's JVM or on the
daemon.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest
from pyspark import SparkContext
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import sparkwasm

DEPLOYMENTS = ("sc_cluster", "sc_nondaemon")


def _python_weighted_mean(xs: Any, ws: Any) -> Optional[float]:
    total = weight = 0.0
    for x, w in zip(xs, ws):
        if x is not None and w is not None:
            total += x * w
            weight += w
    return None if weight == 0.0 else total / weight


@pytest.fixture(params=DEPLOYMENTS)
def deployed(request: pytest.FixtureRequest, sql_guest_wasm: Path) -> Tuple[SparkSession, Any]:
    sc: SparkContext = request.getfixturevalue(request.param)
    spark = SparkSession.builder.getOrCreate()
    assert spark.sparkContext is sc
    return spark, sparkwasm.load(sc, sql_guest_wasm)


def test_scalar_udfs_match_python_udfs(deployed: Tuple[SparkSession, Any]) -> None:
    spark, m = deployed
    df = spark.createDataFrame(
        [(i, None if i % 7 == 0 else f"name-{i}" * (i % 3)) for i in range(2_000)],
        "id bigint, name string",
    ).repartition(4)
    affine, str_len = m.udf("affine"), m.udf("str_len")
    python_affine = F.udf(lambda x: None if x is None else x * 2 + 1, "bigint")
    python_len = F.udf(lambda s: None if s is None else len(s), "int")
    got = df.select("id", affine("id").alias("a"), str_len("name").alias("n"))
    want = df.select("id", python_affine("id").alias("a"), python_len("name").alias("n"))
    assert sorted(got.collect()) == sorted(want.collect())


def test_sql_registration_and_a_filter(deployed: Tuple[SparkSession, Any]) -> None:
    spark, m = deployed
    spark.udf.register("wasm_is_even", m.udf("is_even"))
    spark.range(0, 1_000, 1, 3).createOrReplaceTempView("numbers")
    got = spark.sql("SELECT id FROM numbers WHERE wasm_is_even(id)").collect()
    assert sorted(row.id for row in got) == list(range(0, 1_000, 2))


def test_a_udaf_matches_python(deployed: Tuple[SparkSession, Any]) -> None:
    spark, m = deployed
    data: List[Tuple[str, Optional[float], Optional[float]]] = [
        (f"k{i % 5}", None if i % 11 == 0 else float(i), float(i % 4)) for i in range(500)
    ]
    df = spark.createDataFrame(data, "k string, x double, w double")
    got = {row.k: row.m for row in df.groupBy("k").agg(m.udaf("weighted_mean")("x", "w").alias("m")).collect()}
    want = {
        key: _python_weighted_mean([x for k, x, _ in data if k == key], [w for k, _, w in data if k == key])
        for key in {k for k, _, _ in data}
    }
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key


def test_a_guest_panic_names_the_udf_digest_and_partition(deployed: Tuple[SparkSession, Any]) -> None:
    spark, m = deployed
    boom = m.udf("boom")
    with pytest.raises(Exception) as excinfo:
        spark.range(0, 20, 1, 2).select(boom("id")).collect()
    message = str(excinfo.value)
    assert "boom at 13" in message
    assert f"sha256:{m.digest[:12]}" in message
    assert "partition" in message
    # The executors serve on.
    assert spark.range(0, 20, 1, 2).select(F.sum(m.udf("affine")("id"))).collect()[0][0] == sum(
        2 * i + 1 for i in range(20)
    )
