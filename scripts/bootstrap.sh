#!/usr/bin/env bash
# Installs and builds everything sparkwasm needs on a fresh machine that has Rust, Python 3.10+
# and Java 17+: the wasm32-wasip1 target, the project venv (.venv/, pinned pyspark, pyarrow and
# pandas, and the sparkwasm driver package), the worker binary and the guest modules.
# Idempotent; sourced by run-example.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYSPARK_VERSION="4.3.0"
# The SQL UDF tests compare with pandas_udfs (PySpark 4.3 needs pyarrow >= 18 and pandas >= 2.2;
# it warns that pandas 3 is not yet fully supported).
PYARROW_VERSION="26.0.1"
PANDAS_VERSION="2.3.3"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
command -v java >/dev/null || { echo "java not found: install Java 17+ first" >&2; exit 1; }
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' \
  || { echo "Python 3.10+ is required" >&2; exit 1; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  say "adding the wasm32-wasip1 Rust target"
  rustup target add wasm32-wasip1
fi

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$PYSPARK_VERSION')" 2>/dev/null \
   || ! .venv/bin/python -c "import pyarrow, sys; sys.exit(pyarrow.__version__ != '$PYARROW_VERSION')" 2>/dev/null \
   || ! .venv/bin/python -c "import pandas, sys; sys.exit(pandas.__version__ != '$PANDAS_VERSION')" 2>/dev/null \
   || ! .venv/bin/python -c "import pytest, sparkwasm" 2>/dev/null; then
  say "installing pyspark==$PYSPARK_VERSION, pyarrow==$PYARROW_VERSION, pandas==$PANDAS_VERSION, pytest and the sparkwasm package into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "pyspark==$PYSPARK_VERSION" \
    "pyarrow==$PYARROW_VERSION" "pandas==$PANDAS_VERSION" "pytest>=7"
  .venv/bin/pip install --quiet --disable-pip-version-check -e python/
fi

say "building sparkwasm-worker (release)"
cargo build --release --locked -p sparkwasm-host
say "building guest modules (wasm32-wasip1)"
cargo build --release --locked --target wasm32-wasip1 -p wordcount -p typed-guest -p sql_guest \
  -p bench-guest
