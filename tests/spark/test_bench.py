"""A smoke run of the side-by-side benchmark (benchmarks/run.py) at tiny sizes: every job
runs on both sides, their results agree (the benchmark exits non-zero otherwise), and the
JSON table has a row per job. Timings are not checked: they belong to the benchmark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_runs_every_job_and_the_sides_agree(tmp_path: Path) -> None:
    table = tmp_path / "bench.json"
    # Its own process: the benchmark makes its own SparkContext.
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--runs", "1", "--ints", "20000",
         "--text-mb", "0.2", "--tiny-tasks", "4", "--sql-rows", "5000", "--fresh-runs", "1", "--rss-ints", "20000",
         "--json", str(table)],
        capture_output=True, text=True, timeout=600, env=dict(os.environ),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {row["job"]: row for row in json.loads(table.read_text())["rows"]}
    sql = {"sql-python-udf", "sql-pandas-udf", "sql-builtin", "sql-exchange-floor"}
    timed = {"narrow", "identity", "jvm-only", "exchange-floor", "wordcount", "tiny-tasks",
             "cold-start", "cold-start-empty-cache"} | sql
    assert set(rows) == timed | {"worker-rss-mb"}
    for name in timed:
        row = rows[name]
        # One side only: jvm-only starts no worker, exchange-floor is the sparkwasm worker's.
        floors = ("exchange-floor", "sql-exchange-floor")
        assert (row["python_s"] is None) == (name in floors), row
        assert (row["sparkwasm_s"] is None) == (name == "jvm-only"), row
        assert all(row[side] is None or row[side] > 0 for side in ("python_s", "sparkwasm_s"))
        assert (row["ratio"] is None) == (name in ("jvm-only", *floors)), row
    memory = rows["worker-rss-mb"]
    # Both sides' workers were found and measured (a worker is more than a megabyte).
    assert memory["python_mb"] > 1 and memory["sparkwasm_mb"] > 1, memory
    assert "| narrow" in done.stdout


def test_the_guest_a_b_runs_each_build_and_checks_their_answers(tmp_path: Path) -> None:
    guest = ROOT / "target" / "wasm32-wasip1" / "release" / "wordcount.wasm"
    copy = tmp_path / "copy.wasm"
    copy.write_bytes(guest.read_bytes())
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ab.py"), "--job", "wordcount", "--runs", "1",
         "--text-mb", "0.1", str(guest), str(copy)],
        capture_output=True, text=True, timeout=600, env=dict(os.environ),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.endswith(")")]
    assert [line.split()[2] for line in lines] == [str(guest), str(copy)], done.stdout
