"""Same-context A/B of guest builds: one benchmark job run with two or more builds of its
guest module in one SparkContext, alternating, so a guest-side change is measured without
the noise between invocations (BENCHMARKS.md, "What each change bought").

    scripts/bench.sh is not needed: build each variant, copy its .wasm aside, then
    .venv/bin/python benchmarks/ab.py --job wordcount before.wasm after.wasm

The jobs are ``benchmarks/run.py``'s sparkwasm sides: ``wordcount`` (the word-count guest's
functions) and ``narrow`` (the benchmark guest's). Every build must give the same answer.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sparkwasm  # noqa: E402
from run import new_context, wasm_narrow, wasm_wordcount, write_corpus  # noqa: E402


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", choices=("wordcount", "narrow"), required=True)
    parser.add_argument("--runs", type=int, default=4, help="measured runs per build (after a warm-up)")
    parser.add_argument("--ints", type=int, default=10_000_000)
    parser.add_argument("--text-mb", type=float, default=100.0)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("guests", nargs="+", type=Path, help="the builds of the job's guest")
    args = parser.parse_args(argv)

    sc = new_context(args.master)
    try:
        modules = {str(path): sparkwasm.load(sc, path) for path in args.guests}
        with tempfile.TemporaryDirectory() as tmp:
            if args.job == "wordcount":
                corpus = Path(tmp) / "corpus.txt"
                write_corpus(corpus, args.text_mb)
                job: Callable[[Any], Any] = lambda m: wasm_wordcount(sc, m, str(corpus))  # noqa: E731
            else:
                ints = sc.parallelize(range(args.ints), 8).cache()
                ints.count()
                job = lambda m: wasm_narrow(ints, m)  # noqa: E731
            times: Dict[str, List[float]] = {name: [] for name in modules}
            answer = None
            for round_ in range(args.runs + 1):  # round 0 is the warm-up
                for name, module in modules.items():
                    started = time.perf_counter()
                    result = job(module)
                    seconds = time.perf_counter() - started
                    if answer is None:
                        answer = result
                    elif result != answer:
                        raise SystemExit(f"{name} gives a different answer")
                    if round_:
                        times[name].append(seconds)
        for name, values in times.items():
            print(f"{statistics.median(values):.3f} s  {name}  ({', '.join(f'{v:.2f}' for v in values)})")
    finally:
        sc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
