"""The side-by-side benchmark: each job with stock PySpark Python lambdas and with sparkwasm,
in the same Spark application, on the same cached data, alternating the two sides.

For every job: one warm-up run of each side, then ``--runs`` measured runs of each,
alternating (Python, sparkwasm, Python, ...). The table gives the medians and the ratio
Python / sparkwasm (above 1: sparkwasm is faster). The two sides' results must agree, or the
benchmark fails. ``--json`` also writes the table as JSON.

Jobs (local[2] by default):

* ``narrow``: ``map(x*3+1) → filter(x%4==0) → count`` over ints parallelized from the driver
  and cached in the JVM;
* ``identity`` (the ceiling): the same cached data through the worker unchanged;
  ``jvm-only``: a count of the cached RDD that starts no worker at all; and
  ``exchange-floor``: the cached data sent to the sparkwasm worker, which drops it undecoded
  (the JVM's side of the exchange with a worker that costs nothing; no ratio for either);
* ``wordcount``: textFile (generated) → flatMap → map → reduceByKey → collect;
* ``tiny-tasks``: 200 one-element tasks over data parallelized from a list (no Python pass
  under either side), the per-task overhead;
* ``sql-*``: ``SELECT sum(f(id))`` over ``spark.range(--sql-rows)`` in 2 partitions, with
  ``f = x*2+1`` as a sparkwasm UDF against, row by row: a Python ``@udf`` (PySpark 4.3's
  default, Arrow-optimized), a ``pandas_udf``, and Spark's built-in expression;
  ``sql-exchange-floor`` is a sparkwasm identity UDF (``sum(id(x))``): the JVM's side of the
  Arrow exchange with a UDF that costs nothing.

Then, in fresh SparkContexts (one per run, alternating the sides; ``--fresh-runs``):

* ``cold-start``: the first job of a fresh SparkContext (one task: daemon start, worker
  start, and for sparkwasm loading the module, from the worker's on-disk module cache), and
  ``cold-start-empty-cache``: the same with an empty module cache (the module is compiled);
* ``worker-rss-mb``: the peak RSS of one worker process (``VmHWM``, the largest over the
  context's workers; each serves one task at a time) after the narrow and word-count jobs,
  at ``--rss-ints`` ints. Ratio = Python / sparkwasm (above 1: sparkwasm uses less).

Run it with ``scripts/bench.sh`` (which builds everything first); see BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pandas as pd  # module level: pandas_udf resolves the type hints in this module
from pyspark import SparkConf, SparkContext

import sparkwasm

ROOT = Path(__file__).resolve().parents[1]
GUESTS = ROOT / "target" / "wasm32-wasip1" / "release"

# (name, Python side, sparkwasm side); a row of one side only has None for the other.
Job = Tuple[str, Optional[Callable[[], Any]], Optional[Callable[[], Any]]]


def write_corpus(path: Path, megabytes: float, seed: int = 11) -> None:
    """About ``megabytes`` of lines of Zipf-distributed words."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(5000)] + ["spark", "wasm", "rust", "python", "jvm"]
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(vocabulary))))
    target = int(megabytes * 1e6)
    written = 0
    with path.open("w", encoding="utf-8") as out:
        while written < target:
            # 1000 lines of 12 words at a time (one `choices` call: cumulative weights once).
            words = rng.choices(vocabulary, cum_weights=cumulative, k=12 * 1000)
            lines = "".join(" ".join(words[i : i + 12]) + ".\n" for i in range(0, len(words), 12))
            out.write(lines)
            written += len(lines)


def measure(run: Callable[[], Any]) -> Tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def compare(name: str, python_result: Any, wasm_result: Any) -> None:
    if python_result != wasm_result:
        raise SystemExit(f"benchmark {name}: sparkwasm and Python results differ")


def bench(jobs: List[Job], runs: int) -> List[Dict[str, Any]]:
    rows = []
    for name, python_job, wasm_job in jobs:
        times: Dict[str, List[float]] = {"python": [], "wasm": []}
        for round_ in range(runs + 1):  # round 0 is the warm-up
            results = {}
            for side, job in (("python", python_job), ("wasm", wasm_job)):
                if job is not None:
                    seconds, results[side] = measure(job)
                    if round_:
                        times[side].append(seconds)
            if len(results) == 2:
                compare(name, results["python"], results["wasm"])
        python_median, wasm_median = (
            statistics.median(times[side]) if times[side] else None for side in ("python", "wasm")
        )
        rows.append(
            {
                "job": name,
                "python_s": None if python_median is None else round(python_median, 4),
                "sparkwasm_s": None if wasm_median is None else round(wasm_median, 4),
                "ratio": round(python_median / wasm_median, 2) if python_median and wasm_median else None,
                "runs": runs,
            }
        )
        print_row(rows[-1])
    return rows


def print_row(row: Dict[str, Any]) -> None:
    python = "—" if row["python_s"] is None else f"{row['python_s']:.3f}"
    wasm = "—" if row["sparkwasm_s"] is None else f"{row['sparkwasm_s']:.3f}"
    ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}×"
    print(f"| {row['job']:<14} | {python:>9} | {wasm:>12} | {ratio:>7} |", flush=True)


def python_narrow(ints: Any) -> int:
    return ints.map(lambda x: x * 3 + 1).filter(lambda x: x % 4 == 0).count()


def wasm_narrow(ints: Any, guest: Any) -> int:
    return sparkwasm.wrap(ints).map(guest.triple_plus_one).filter(guest.is_multiple_of_four).count()


def python_wordcount(sc: SparkContext, text: str) -> List[Tuple[str, int]]:
    return sorted(
        sc.textFile(text)
        .flatMap(lambda line: [w for w in re.split(r"[^0-9a-z]+", line.lower()) if w])
        .map(lambda w: (w, 1))
        .reduceByKey(lambda a, b: a + b)
        .collect()
    )


def wasm_wordcount(sc: SparkContext, wc: Any, text: str) -> List[Tuple[str, int]]:
    return sorted(
        sparkwasm.wrap(sc.textFile(text))
        .flatMap(wc.split_words)
        .map(wc.with_one)
        .reduceByKey(wc.add)
        .collect()
    )


def sql_jobs(sc: SparkContext, guest: Any, rows: int) -> List[Job]:
    """The SQL UDF rows: ``sum(f(id))`` with f = x*2+1, sparkwasm against each other way."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = SparkSession(sc)
    frame = spark.range(0, rows, 1, 2)
    affine = guest.udf("affine", "bigint")
    identity = guest.udf("id_long", "bigint")
    python_affine = F.udf(lambda x: x * 2 + 1, "bigint")

    @F.pandas_udf("bigint")  # type: ignore[call-overload]
    def pandas_affine(x: pd.Series) -> pd.Series:
        return x * 2 + 1

    def total(column: Any) -> Callable[[], Any]:
        return lambda: frame.select(F.sum(column).alias("s")).collect()[0]["s"]

    wasm = total(affine(F.col("id")))
    return [
        ("sql-python-udf", total(python_affine(F.col("id"))), wasm),
        ("sql-pandas-udf", total(pandas_affine(F.col("id"))), wasm),
        ("sql-builtin", total(F.col("id") * 2 + 1), wasm),
        ("sql-exchange-floor", None, total(identity(F.col("id")))),
    ]


def new_context(master: str, environment: Optional[Dict[str, str]] = None) -> SparkContext:
    # Python workers run the driver's interpreter (the project venv) unless told otherwise:
    # the pandas and Arrow UDF rows need its pyarrow and pandas. PySpark reads this when the
    # context starts and gives it to every Python function.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = (
        SparkConf()
        .setMaster(master)
        .setAppName("sparkwasm-benchmark")
        .set("spark.ui.showConsoleProgress", "false")
    )
    for name, value in (environment or {}).items():
        conf.set(f"spark.executorEnv.{name}", value)
    sc = SparkContext(conf=conf)
    sc.setLogLevel("ERROR")
    return sc


def worker_peak_rss_mb(marker: bytes) -> float:
    """The largest peak RSS (VmHWM) among worker processes: processes whose command line
    holds ``marker`` and whose parent's does too (the daemon's forks, not the daemon)."""
    commands: Dict[int, Tuple[int, bytes]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        commands[int(entry.name)] = (parent, command)
    peaks = []
    for pid, (parent, command) in commands.items():
        if marker in command and marker in commands.get(parent, (0, b""))[1]:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
    if not peaks:
        raise SystemExit(f"benchmark: no worker process found for {marker!r}")
    return max(peaks)


def fresh_context_rows(args: argparse.Namespace, corpus: Path) -> List[Dict[str, Any]]:
    """Cold start and worker memory, each measured in fresh SparkContexts (see the module
    docstring), alternating Python and sparkwasm."""
    samples: Dict[str, List[float]] = {
        "python-cold": [],
        "wasm-cold": [],
        "wasm-cold-empty": [],
        "python-rss": [],
        "wasm-rss": [],
    }
    results: Dict[str, Any] = {}
    text = str(corpus)
    for round_ in range(args.fresh_runs + 1):  # round 0 warms the OS caches and the disk cache
        for side in ("python", "wasm", "wasm-empty"):
            with tempfile.TemporaryDirectory() as empty_cache:
                environment = {"SPARKWASM_MODULE_CACHE": empty_cache} if side == "wasm-empty" else None
                sc = new_context(args.master, environment)
                try:
                    started = time.perf_counter()
                    if side == "python":
                        first = sc.parallelize([1, 2, 3], 1).map(lambda x: x * 3 + 1).collect()
                    else:
                        guest = sparkwasm.load(sc, GUESTS / "bench_guest.wasm")
                        first = sparkwasm.wrap(sc.parallelize([1, 2, 3], 1)).map(guest.triple_plus_one).collect()
                    seconds = time.perf_counter() - started
                    compare("cold-start", [4, 7, 10], first)
                    if round_:
                        samples[{"python": "python-cold", "wasm": "wasm-cold"}.get(side, "wasm-cold-empty")].append(seconds)
                    if side == "wasm-empty":
                        continue
                    ints = sc.parallelize(range(args.rss_ints), 8)
                    if side == "python":
                        narrow = python_narrow(ints)
                        counts = python_wordcount(sc, text)
                        rss = worker_peak_rss_mb(b"pyspark.daemon")
                    else:
                        wc = sparkwasm.load(sc, GUESTS / "wordcount.wasm")
                        narrow = wasm_narrow(ints, guest)
                        counts = wasm_wordcount(sc, wc, text)
                        rss = worker_peak_rss_mb(b"sparkwasm-worker")
                    results.setdefault(side, (narrow, counts))
                    if round_:
                        samples[f"{side}-rss"].append(rss)
                finally:
                    sc.stop()
        compare("worker-rss", results["python"], results["wasm"])
    median = {name: statistics.median(values) for name, values in samples.items()}
    rows = [
        ("cold-start", median["python-cold"], median["wasm-cold"]),
        ("cold-start-empty-cache", median["python-cold"], median["wasm-cold-empty"]),
        ("worker-rss-mb", median["python-rss"], median["wasm-rss"]),
    ]
    out = []
    for job, python_value, wasm_value in rows:
        row = {
            "job": job,
            "python_s" if job != "worker-rss-mb" else "python_mb": round(python_value, 4),
            "sparkwasm_s" if job != "worker-rss-mb" else "sparkwasm_mb": round(wasm_value, 4),
            "ratio": round(python_value / wasm_value, 2),
            "runs": args.fresh_runs,
        }
        out.append(row)
        print(f"| {job:<14} | {python_value:>9.3f} | {wasm_value:>12.3f} | {row['ratio']:>6.2f}× |", flush=True)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per side (after a warm-up)")
    parser.add_argument("--ints", type=int, default=10_000_000, help="elements of the narrow job")
    parser.add_argument("--text-mb", type=float, default=100.0, help="size of the word-count text")
    parser.add_argument("--tiny-tasks", type=int, default=200)
    parser.add_argument("--sql-rows", type=int, default=20_000_000, help="rows of the SQL jobs")
    parser.add_argument("--json", type=Path, help="also write the table here")
    parser.add_argument(
        "--jobs", help="comma-separated subset of the jobs to run (default: all of them)"
    )
    parser.add_argument(
        "--fresh-runs", type=int, default=3, help="fresh-context runs per side (0: skip them)"
    )
    parser.add_argument("--rss-ints", type=int, default=2_000_000, help="ints of the memory job")
    args = parser.parse_args(argv)

    sc = new_context(args.master)
    try:
        bench_guest = sparkwasm.load(sc, GUESTS / "bench_guest.wasm")
        wc = sparkwasm.load(sc, GUESTS / "wordcount.wasm")
        with tempfile.TemporaryDirectory() as tmp:
            ints = sc.parallelize(range(args.ints), 8).cache()
            ints.count()  # materialize the cache before anything is measured
            selected = set(args.jobs.split(",")) if args.jobs else None
            corpus = Path(tmp) / "corpus.txt"
            write_corpus(corpus, args.text_mb)
            text = str(corpus)
            # A list, not a range: PySpark makes a range into a Python pass of its own
            # (`parallelize` → `mapPartitionsWithIndex`), so the sparkwasm side would pay
            # for a Python worker under every task as well as its own.
            tiny = sc.parallelize(list(range(args.tiny_tasks)), args.tiny_tasks)

            jobs: List[Job] = [
                ("narrow", lambda: python_narrow(ints), lambda: wasm_narrow(ints, bench_guest)),
                (
                    "identity",
                    lambda: ints.map(lambda x: x).count(),
                    lambda: sparkwasm.wrap(ints).map(bench_guest.identity).count(),
                ),
                ("jvm-only", lambda: ints._jrdd.count(), None),
                (
                    "exchange-floor",
                    None,
                    lambda: sparkwasm.wrap(ints).mapPartitions(bench_guest.drop_partition).count(),
                ),
                (
                    "wordcount",
                    lambda: python_wordcount(sc, text),
                    lambda: wasm_wordcount(sc, wc, text),
                ),
                (
                    "tiny-tasks",
                    lambda: tiny.map(lambda x: x * 3 + 1).collect(),
                    lambda: sparkwasm.wrap(tiny).map(bench_guest.triple_plus_one).collect(),
                ),
            ]
            jobs += sql_jobs(sc, bench_guest, args.sql_rows)
            if selected is not None:
                unknown = selected - {name for name, _, _ in jobs}
                if unknown:
                    raise SystemExit(f"unknown job(s): {', '.join(sorted(unknown))}")
                jobs = [job for job in jobs if job[0] in selected]
            print(f"\n{args.master}, {args.runs} measured runs per side after a warm-up; medians in seconds\n")
            print("| job            |  python s |  sparkwasm s |   ratio |")
            print("|---|---|---|---|")
            rows = bench(jobs, args.runs)
            sc.stop()
            if args.fresh_runs > 0:
                print(f"\nfresh SparkContexts, {args.fresh_runs} runs per side after a warm-up; medians")
                print("(seconds; worker-rss-mb in MiB)\n")
                print("| job            |  python   |  sparkwasm   |   ratio |")
                print("|---|---|---|---|")
                rows += fresh_context_rows(args, corpus)
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "master": args.master,
                        "ints": args.ints,
                        "text_mb": args.text_mb,
                        "tiny_tasks": args.tiny_tasks,
                        "sql_rows": args.sql_rows,
                        "rss_ints": args.rss_ints,
                        "rows": rows,
                    },
                    indent=2,
                )
                + "\n"
            )
    finally:
        sc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
