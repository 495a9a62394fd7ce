"""Fixtures for the end-to-end tests: built artifacts and real SparkContexts.

Artifacts (``artifacts`` fixture): the worker ``target/release/sparkwasm-worker`` and the
guests ``target/wasm32-wasip1/release/{wordcount,typed_guest}.wasm`` (under
``$CARGO_TARGET_DIR`` instead of ``<repo>/target`` when that is set); the SQL guest
``sql_guest.wasm`` beside them (``sql_guest_wasm`` fixture). Build them with::

    cargo build --release -p sparkwasm-host
    cargo build --release --target wasm32-wasip1 -p wordcount -p typed-guest -p sql_guest

``scripts/test.sh`` builds them first; a missing artifact fails the tests that need it.

Contexts: Spark start-up is slow, so contexts are shared and only ONE is alive at a time
(PySpark allows one per process anyway). ``sc`` is parametrized over the masters
``local[2]`` and ``local-cluster[2,1,1024]`` (daemon mode, worker reuse on); ``sc_local`` and
``sc_cluster`` are each of those alone; ``sc_nondaemon`` is ``local[2]`` with
``spark.python.use.daemon=false``; ``sc_nopython`` is ``local[2]`` whose executors cannot
start Python; ``sc_encrypted`` is ``local[2]`` with I/O encryption. Tests are sorted so that
each context is started once: Spark-free tests, then ``local[2]``, non-daemon, no-Python,
encrypted, ``local-cluster``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pyspark
import pytest

# local-cluster starts Spark Workers that launch executors with $SPARK_HOME/bin scripts; a pip
# installed PySpark carries those in its package directory.
os.environ["SPARK_HOME"] = os.path.dirname(pyspark.__file__)
# Python stages on executors must run this interpreter (it has PySpark); the default,
# "python3" on PATH, might not.
os.environ["PYSPARK_PYTHON"] = sys.executable

REPO = Path(__file__).resolve().parents[2]

MASTERS = ("local[2]", "local-cluster[2,1,1024]")
BUILD_HINT = (
    "build with `cargo build --release -p sparkwasm-host` and "
    "`cargo build --release --target wasm32-wasip1 -p wordcount -p typed-guest` "
    "(scripts/test.sh does both)"
)


@dataclass(frozen=True)
class Artifacts:
    """Paths of the worker binary and the guest modules the tests load."""

    worker: Path
    wordcount: Path
    typed: Path
    #: tests/guests/sql, the Spark SQL UDF fixture guest (checked by ``sql_guest_wasm``).
    sql: Path


def _expected_artifacts() -> Artifacts:
    # Cargo's own override of the target directory, so a build elsewhere is found too.
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    guests = target / "wasm32-wasip1" / "release"
    return Artifacts(
        worker=target / "release" / "sparkwasm-worker",
        wordcount=guests / "wordcount.wasm",
        typed=guests / "typed_guest.wasm",
        sql=guests / "sql_guest.wasm",
    )


@pytest.fixture(scope="session")
def artifacts() -> Artifacts:
    """The built worker and guests; fails when one is missing."""
    found = _expected_artifacts()
    missing = [str(p) for p in (found.worker, found.wordcount, found.typed) if not p.is_file()]
    if missing:
        pytest.fail(f"missing build artifacts: {', '.join(missing)}; {BUILD_HINT}")
    return found


@pytest.fixture(scope="session")
def sql_guest_wasm(artifacts: Artifacts) -> Path:
    """The built SQL fixture guest (tests/guests/sql); fails when it is missing."""
    if not artifacts.sql.is_file():
        pytest.fail(
            f"missing build artifact: {artifacts.sql}; build it with "
            "`cargo build --release --target wasm32-wasip1 -p sql_guest`"
        )
    return artifacts.sql


@dataclass(frozen=True)
class ContextSpec:
    """One kind of SparkContext the tests use: its master, extra Spark conf and environment
    variables (set while it runs, restored when it stops)."""

    name: str
    master: str
    daemon: bool = True
    conf: Tuple[Tuple[str, str], ...] = ()
    env: Tuple[Tuple[str, str], ...] = ()


#: A path where no Python interpreter is: contexts built with it fail any Python stage.
NO_PYTHON = "/nonexistent/sparkwasm-tests/no-python-here"

LOCAL = ContextSpec("local", "local[2]")
CLUSTER = ContextSpec("cluster", "local-cluster[2,1,1024]")
NONDAEMON = ContextSpec("nondaemon", "local[2]", daemon=False)
#: Executors cannot start Python: every stage must run in the sparkwasm worker.
NOPYTHON = ContextSpec(
    "nopython",
    "local[2]",
    conf=(("spark.pyspark.python", NO_PYTHON),),
    env=(("PYSPARK_PYTHON", NO_PYTHON),),
)
#: I/O encryption on: broadcasts reach workers through Spark's decryption server.
ENCRYPTED = ContextSpec("encrypted", "local[2]", conf=(("spark.io.encryption.enabled", "true"),))


class _Contexts:
    """Hands out SparkContexts, stopping the current one before starting a different one."""

    def __init__(self) -> None:
        self.spec: Optional[ContextSpec] = None
        self.sc: Optional[pyspark.SparkContext] = None
        self._saved_env: Dict[str, Optional[str]] = {}

    def get(self, spec: ContextSpec) -> pyspark.SparkContext:
        if self.spec == spec and self.sc is not None:
            return self.sc
        self.stop()
        conf = (
            pyspark.SparkConf()
            .setMaster(spec.master)
            .setAppName(f"sparkwasm-tests {spec.name}")
            # The worker path is set explicitly, as a deployment would, even when it is the
            # default: this exercises the conf lookup.
            .set("spark.sparkwasm.worker", str(_expected_artifacts().worker))
            .set("spark.python.use.daemon", "true" if spec.daemon else "false")
            .set("spark.python.worker.reuse", "true")
            # A failing task should fail its job at once, not after 4 attempts.
            .set("spark.task.maxFailures", "1")
            .set("spark.executor.memory", "512m")
            .set("spark.ui.enabled", "false")
            .set("spark.ui.showConsoleProgress", "false")
        )
        for key, value in spec.conf:
            conf.set(key, value)
        self._saved_env = {key: os.environ.get(key) for key, _ in spec.env}
        os.environ.update(dict(spec.env))
        try:
            self.sc = pyspark.SparkContext(conf=conf)
        except BaseException:
            self._restore_env()
            raise
        self.sc.setLogLevel("ERROR")
        self.spec = spec
        return self.sc

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}

    def stop(self) -> None:
        if self.sc is not None:
            self.sc.stop()
        self._restore_env()
        self.sc, self.spec = None, None


@pytest.fixture(scope="session")
def _contexts() -> Iterator[_Contexts]:
    contexts = _Contexts()
    yield contexts
    contexts.stop()


@pytest.fixture(scope="session", params=MASTERS)
def spark_master(request: pytest.FixtureRequest) -> str:
    """The master of the ``sc`` fixture; session-scoped so tests are grouped by it."""
    return str(request.param)


@pytest.fixture
def sc(spark_master: str, _contexts: _Contexts) -> pyspark.SparkContext:
    """A daemon-mode SparkContext on each of MASTERS (worker reuse on)."""
    return _contexts.get(LOCAL if spark_master == "local[2]" else CLUSTER)


@pytest.fixture
def sc_local(_contexts: _Contexts) -> pyspark.SparkContext:
    """The ``local[2]`` daemon-mode context, for tests that need no second master (and for
    the driver-only tests, which build JVM RDDs but run no job)."""
    return _contexts.get(LOCAL)


@pytest.fixture
def sc_cluster(_contexts: _Contexts) -> pyspark.SparkContext:
    """The ``local-cluster[2,1,1024]`` context: executors in their own JVMs."""
    return _contexts.get(CLUSTER)


@pytest.fixture
def sc_nondaemon(_contexts: _Contexts) -> pyspark.SparkContext:
    """``local[2]`` with ``spark.python.use.daemon=false``: one worker process per task."""
    return _contexts.get(NONDAEMON)


@pytest.fixture
def sc_nopython(_contexts: _Contexts) -> pyspark.SparkContext:
    """``local[2]`` whose executors cannot start Python (``spark.pyspark.python`` and
    ``PYSPARK_PYTHON`` point at nothing): a job with a Python stage fails."""
    return _contexts.get(NOPYTHON)


@pytest.fixture
def sc_encrypted(_contexts: _Contexts) -> pyspark.SparkContext:
    """``local[2]`` with ``spark.io.encryption.enabled=true``."""
    return _contexts.get(ENCRYPTED)


#: Start-up order of the contexts: one start each when tests are sorted by it.
_ORDER = {"sc_local": 1, "sc_nondaemon": 2, "sc_nopython": 3, "sc_encrypted": 4, "sc_cluster": 5}


def _context_order(item: pytest.Item) -> int:
    names = getattr(item, "fixturenames", ())
    if "sc" in names:
        master = item.callspec.params.get("spark_master") if hasattr(item, "callspec") else None
        return 1 if master == "local[2]" else 5
    return min((order for name, order in _ORDER.items() if name in names), default=0)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    # Stable sort after pytest's own fixture-based reordering: one start-up per context.
    items.sort(key=_context_order)
