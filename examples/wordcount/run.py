"""Word count with WASM functions on an embedded local Spark.

Generates a text corpus, counts its words with the functions of
``examples/wordcount/guest`` (compiled to WebAssembly and run by ``sparkwasm-worker``), prints
the top words and the time taken, and checks the answer against the same job written with
Python lambdas.

    .venv/bin/python examples/wordcount/run.py [--lines N] [--master local[2]]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import tempfile
import time
from pathlib import Path

from pyspark import SparkConf, SparkContext

import sparkwasm

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "target" / "wasm32-wasip1" / "release" / "wordcount.wasm"

VOCABULARY = (
    "spark wasm sandbox worker executor driver partition shuffle reduce map filter "
    "record batch frame socket module digest tenant secure fast python rust jvm task "
    "stage job cluster memory deadline instance engine cranelift compile cache"
).split()


def write_corpus(path: Path, lines: int, seed: int = 7) -> None:
    """Writes `lines` lines of Zipf-distributed words (so the top words are clear)."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(len(VOCABULARY))]
    with path.open("w", encoding="utf-8") as out:
        for _ in range(lines):
            words = rng.choices(VOCABULARY, weights, k=rng.randint(3, 14))
            out.write(" ".join(w.capitalize() if rng.random() < 0.2 else w for w in words))
            out.write(".\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()

    sc = SparkContext(conf=SparkConf().setMaster(args.master).setAppName("sparkwasm-wordcount"))
    sc.setLogLevel("ERROR")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "corpus.txt"
            write_corpus(corpus, args.lines)
            size_mb = corpus.stat().st_size / 1e6

            wc = sparkwasm.load(sc, MODULE)
            print(f"loaded {wc!r}")

            started = time.perf_counter()
            counts = (
                sparkwasm.wrap(sc.textFile(str(corpus)))
                .flatMap(wc.split_words)
                .map(wc.with_one)
                .reduceByKey(wc.add)
                .collect()
            )
            wasm_seconds = time.perf_counter() - started

            started = time.perf_counter()
            expected = (
                sc.textFile(str(corpus))
                .flatMap(lambda line: [w for w in re.split(r"[^0-9a-z]+", line.lower()) if w])
                .map(lambda w: (w, 1))
                .reduceByKey(lambda a, b: a + b)
                .collect()
            )
            python_seconds = time.perf_counter() - started

        top = sorted(counts, key=lambda kv: (-kv[1], kv[0]))[:10]
        print(f"\nword count of {args.lines} lines ({size_mb:.1f} MB) on {args.master}")
        for word, count in top:
            print(f"  {word:<12} {count:>9}")
        print(f"\nsparkwasm: {wasm_seconds:.2f} s   python lambdas: {python_seconds:.2f} s "
              f"(first runs, including worker start-up)")
        if sorted(counts) != sorted(expected):
            raise SystemExit("MISMATCH: sparkwasm and Python word counts differ")
        print("results match the Python job")
    finally:
        sc.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYSPARK_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
    main()
