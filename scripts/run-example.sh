#!/usr/bin/env bash
# Builds everything and runs the word-count example on an embedded local Spark.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
exec .venv/bin/python examples/wordcount/run.py "$@"
