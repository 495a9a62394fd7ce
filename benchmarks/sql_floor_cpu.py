"""Where the time of the SQL exchange floor goes: CPU seconds per run of the JVM and of the
sparkwasm workers, for ``SELECT sum(id(x))`` (a sparkwasm identity UDF) and for the built-in
``SELECT sum(id)``, over ``spark.range(--rows)`` in 2 partitions on local[2].

Reads ``utime + stime`` of every ``java`` and ``sparkwasm-worker`` process from ``/proc``
before and after ``--runs`` runs (after one warm-up), so run it on an otherwise idle
machine. BENCHMARKS.md quotes it. Run with the project venv after ``scripts/bootstrap.sh``::

    SPARK_HOME=$(.venv/bin/python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))') \\
        .venv/bin/python benchmarks/sql_floor_cpu.py
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import sparkwasm

GUEST = Path(__file__).resolve().parents[1] / "target" / "wasm32-wasip1" / "release" / "bench_guest.wasm"


def cpu_seconds(command: str) -> float:
    """CPU time so far of the live processes whose name starts with ``command``."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name.startswith(command):
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    conf = SparkConf().setMaster("local[2]").setAppName("sql-floor-cpu")
    sc = SparkContext(conf=conf.set("spark.ui.showConsoleProgress", "false"))
    sc.setLogLevel("ERROR")
    try:
        spark = SparkSession(sc)
        identity = sparkwasm.load(sc, GUEST).udf("id_long", "bigint")
        frame = spark.range(0, args.rows, 1, 2)
        queries: list[tuple[str, Any]] = [("sql-exchange-floor", identity(F.col("id"))), ("built-in", F.col("id"))]
        for name, column in queries:
            frame.select(F.sum(column)).collect()  # warm-up: workers started, module loaded
            worker, jvm, started = cpu_seconds("sparkwasm"), cpu_seconds("java"), time.perf_counter()
            for _ in range(args.runs):
                frame.select(F.sum(column)).collect()
            per_run = lambda before, now: (now - before) / args.runs  # noqa: E731
            print(
                f"{name}: {per_run(started, time.perf_counter()):.3f} s per run, "
                f"JVM {per_run(jvm, cpu_seconds('java')):.2f} CPU-s, "
                f"sparkwasm workers {per_run(worker, cpu_seconds('sparkwasm')):.2f} CPU-s"
            )
    finally:
        sc.stop()


if __name__ == "__main__":
    main()
