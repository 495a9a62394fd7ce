"""The side-by-side benchmark: each job with stock PySpark Python lambdas and with sparkwasm,
in the same Spark application, on the same cached data, alternating the two sides.

For every job: one warm-up run of each side, then ``--runs`` measured runs of each,
alternating (Python, sparkwasm, Python, ...). The table gives the medians and the ratio
Python / sparkwasm (above 1: sparkwasm is faster). The two sides' results must agree, or the
benchmark fails. ``--json`` also writes the table as JSON.

Jobs (local[2] by default):

* ``narrow``: ``map(x*3+1) → filter(x%4==0) → count`` over ints parallelized from the driver
  and cached in the JVM;
* ``identity`` (the ceiling): the same cached data through the worker unchanged, and
  ``jvm-only``: a count of the cached RDD that starts no worker at all (no ratio);
* ``wordcount``: textFile (generated) → flatMap → map → reduceByKey → collect;
* ``tiny-tasks``: 200 one-element tasks, the per-task overhead.

Run it with ``scripts/bench.sh`` (which builds everything first); see BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from pyspark import SparkConf, SparkContext

import sparkwasm

ROOT = Path(__file__).resolve().parents[1]
GUESTS = ROOT / "target" / "wasm32-wasip1" / "release"

Job = Tuple[str, Callable[[], Any], Optional[Callable[[], Any]]]


def write_corpus(path: Path, megabytes: float, seed: int = 11) -> None:
    """About ``megabytes`` of lines of Zipf-distributed words."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(5000)] + ["spark", "wasm", "rust", "python", "jvm"]
    weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]
    target = int(megabytes * 1e6)
    written = 0
    with path.open("w", encoding="utf-8") as out:
        while written < target:
            line = " ".join(rng.choices(vocabulary, weights, k=12)) + ".\n"
            out.write(line)
            written += len(line)


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
        python_times: List[float] = []
        wasm_times: List[float] = []
        for round_ in range(runs + 1):  # round 0 is the warm-up
            seconds, python_result = measure(python_job)
            if round_:
                python_times.append(seconds)
            if wasm_job is not None:
                seconds, wasm_result = measure(wasm_job)
                compare(name, python_result, wasm_result)
                if round_:
                    wasm_times.append(seconds)
        python_median = statistics.median(python_times)
        wasm_median = statistics.median(wasm_times) if wasm_times else None
        rows.append(
            {
                "job": name,
                "python_s": round(python_median, 4),
                "sparkwasm_s": None if wasm_median is None else round(wasm_median, 4),
                "ratio": None if not wasm_median else round(python_median / wasm_median, 2),
                "runs": runs,
            }
        )
        print_row(rows[-1])
    return rows


def print_row(row: Dict[str, Any]) -> None:
    wasm = "—" if row["sparkwasm_s"] is None else f"{row['sparkwasm_s']:.3f}"
    ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}×"
    print(f"| {row['job']:<12} | {row['python_s']:>9.3f} | {wasm:>12} | {ratio:>7} |", flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per side (after a warm-up)")
    parser.add_argument("--ints", type=int, default=10_000_000, help="elements of the narrow job")
    parser.add_argument("--text-mb", type=float, default=100.0, help="size of the word-count text")
    parser.add_argument("--tiny-tasks", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args(argv)

    conf = (
        SparkConf()
        .setMaster(args.master)
        .setAppName("sparkwasm-benchmark")
        .set("spark.ui.showConsoleProgress", "false")
    )
    sc = SparkContext(conf=conf)
    sc.setLogLevel("ERROR")
    try:
        bench_guest = sparkwasm.load(sc, GUESTS / "bench_guest.wasm")
        wc = sparkwasm.load(sc, GUESTS / "wordcount.wasm")
        with tempfile.TemporaryDirectory() as tmp:
            ints = sc.parallelize(range(args.ints), 8).cache()
            ints.count()  # materialize the cache before anything is measured
            corpus = Path(tmp) / "corpus.txt"
            write_corpus(corpus, args.text_mb)
            text = str(corpus)
            tiny = sc.parallelize(range(args.tiny_tasks), args.tiny_tasks)

            def wasm_ints() -> sparkwasm.WasmRDD:
                return sparkwasm.wrap(ints)

            jobs: List[Job] = [
                (
                    "narrow",
                    lambda: ints.map(lambda x: x * 3 + 1).filter(lambda x: x % 4 == 0).count(),
                    lambda: wasm_ints()
                    .map(bench_guest.triple_plus_one)
                    .filter(bench_guest.is_multiple_of_four)
                    .count(),
                ),
                (
                    "identity",
                    lambda: ints.map(lambda x: x).count(),
                    lambda: wasm_ints().map(bench_guest.identity).count(),
                ),
                ("jvm-only", lambda: ints._jrdd.count(), None),
                (
                    "wordcount",
                    lambda: sorted(
                        sc.textFile(text)
                        .flatMap(lambda line: [w for w in re.split(r"[^0-9a-z]+", line.lower()) if w])
                        .map(lambda w: (w, 1))
                        .reduceByKey(lambda a, b: a + b)
                        .collect()
                    ),
                    lambda: sorted(
                        sparkwasm.wrap(sc.textFile(text))
                        .flatMap(wc.split_words)
                        .map(wc.with_one)
                        .reduceByKey(wc.add)
                        .collect()
                    ),
                ),
                (
                    "tiny-tasks",
                    lambda: tiny.map(lambda x: x * 3 + 1).collect(),
                    lambda: sparkwasm.wrap(tiny).map(bench_guest.triple_plus_one).collect(),
                ),
            ]
            print(f"\n{args.master}, {args.runs} measured runs per side after a warm-up; medians in seconds\n")
            print("| job          |  python s |  sparkwasm s |   ratio |")
            print("|---|---|---|---|")
            rows = bench(jobs, args.runs)
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "master": args.master,
                        "ints": args.ints,
                        "text_mb": args.text_mb,
                        "tiny_tasks": args.tiny_tasks,
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
