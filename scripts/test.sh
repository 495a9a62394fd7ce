#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests, then the Spark end-to-end suite against
# real pyspark (local[2] and local-cluster[2,1,1024]).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"

printf '\033[1m==> cargo test\033[0m\n'
# --release shares the compiled wasmtime with the worker build above.
cargo test --release --locked --workspace

printf '\033[1m==> Spark end-to-end tests\033[0m\n'
export SPARK_HOME="$(.venv/bin/python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
.venv/bin/python -m pytest -q tests/spark "$@"
