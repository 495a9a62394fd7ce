#!/usr/bin/env bash
# Builds everything, then runs the side-by-side benchmark (benchmarks/run.py; see
# BENCHMARKS.md). Arguments go to run.py, e.g. --runs 5 --json bench.json.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
export SPARK_HOME="$(.venv/bin/python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
exec .venv/bin/python benchmarks/run.py "$@"
