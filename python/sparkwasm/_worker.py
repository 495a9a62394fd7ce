"""Where the executors find the sparkwasm worker binary.

Spark launches ``<pythonExec> -m pyspark.daemon ...`` for every Python function; sparkwasm
functions carry the worker binary's path as their ``pythonExec``. The path is looked up on
the driver and must be valid on every executor host.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark import SparkContext

__all__ = ["CONF_KEY", "ENV_VAR", "default_worker_path", "worker_path"]

CONF_KEY = "spark.sparkwasm.worker"
ENV_VAR = "SPARKWASM_WORKER"


def default_worker_path() -> Path:
    """``<repo>/target/release/sparkwasm-worker``, for a package used from its source tree."""
    # python/sparkwasm/_worker.py -> parents[0] = sparkwasm, [1] = python, [2] = the repo.
    return Path(__file__).resolve().parents[2] / "target" / "release" / "sparkwasm-worker"


def worker_path(sc: "SparkContext") -> str:
    """The worker binary executors launch: conf ``spark.sparkwasm.worker``, then env
    ``SPARKWASM_WORKER``, then the release build in this source tree.

    An explicit setting is returned as is, because executors may have files the driver does
    not. The default is checked, because when it is missing the user has simply not built it.
    """
    configured = sc.getConf().get(CONF_KEY)
    if configured:
        return configured
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return from_env
    default = default_worker_path()
    if not default.is_file():
        raise FileNotFoundError(
            f"the sparkwasm worker binary is not at {default}. Build it with "
            "`cargo build --release -p sparkwasm-host` in the sparkwasm repository, or point "
            f"to it with the Spark conf {CONF_KEY} or the environment variable {ENV_VAR}"
        )
    return str(default)
