"""The job's sandbox settings: ``spark.sparkwasm.*`` Spark conf keys, read on the driver and
sent to the worker in every command's manifest (``policy``).

Each setting asks for a limit within the operator's ceilings (set on the executors, see
docs/configuration.md); the worker fails a task that asks for more, naming both. The names
mirror ``sparkwasm_runtime::setting`` (the worker's list); an unknown ``spark.sparkwasm.*``
key is an error here, so a misspelt limit never silently does nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Tuple

if TYPE_CHECKING:
    from pyspark import SparkContext

__all__ = ["POLICY_SETTINGS", "job_policy"]

PREFIX = "spark.sparkwasm."

#: Keys of this package that are not sandbox settings.
_OTHER_KEYS = frozenset({"spark.sparkwasm.worker"})


def _whole(text: str) -> int:
    value = int(text.strip())
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError("must be true or false")
    return lowered == "true"


def _determinism(text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in ("real", "deterministic"):
        raise ValueError("must be real or deterministic")
    return lowered


#: conf key -> (manifest field, parser, what a value is).
POLICY_SETTINGS: Mapping[str, Tuple[str, Callable[[str], Any], str]] = {
    "spark.sparkwasm.memoryMb": ("memory_mb", _whole, "MiB of guest memory"),
    "spark.sparkwasm.taskDeadlineSecs": ("task_deadline_secs", _whole, "seconds per task"),
    "spark.sparkwasm.callDeadlineSecs": (
        "call_deadline_secs",
        _whole,
        "seconds the guest may run without calling the host",
    ),
    "spark.sparkwasm.outputRecordMb": ("output_record_mb", _whole, "MiB per output record"),
    "spark.sparkwasm.outputBatchMb": ("output_batch_mb", _whole, "MiB per output batch"),
    "spark.sparkwasm.outputTaskMb": ("output_task_mb", _whole, "MiB of output per task"),
    "spark.sparkwasm.fuel": ("fuel", _whole, "fuel units per task"),
    "spark.sparkwasm.captureKb": ("capture_kb", _whole, "KiB of captured stdout/stderr"),
    "spark.sparkwasm.sparkFiles": ("spark_files", _flag, "true or false"),
    "spark.sparkwasm.clock": ("clock", _determinism, "real or deterministic"),
    "spark.sparkwasm.random": ("random", _determinism, "real or deterministic"),
}


def policy_from_conf(conf: Mapping[str, str]) -> Dict[str, Any]:
    """The manifest's ``policy`` from Spark conf entries; raises ``ValueError`` for unknown
    ``spark.sparkwasm.*`` keys and values that do not parse."""
    policy: Dict[str, Any] = {}
    for key, text in sorted(conf.items()):
        if not key.startswith(PREFIX) or key in _OTHER_KEYS:
            continue
        setting = POLICY_SETTINGS.get(key)
        if setting is None:
            known = ", ".join(sorted(set(POLICY_SETTINGS) | _OTHER_KEYS))
            raise ValueError(f"unknown sparkwasm setting {key!r}; known settings: {known}")
        field, parse, what = setting
        try:
            policy[field] = parse(text)
        except ValueError as e:
            raise ValueError(f"{key}={text!r}: {e} ({what})") from None
    return policy


def job_policy(sc: "SparkContext") -> Dict[str, Any]:
    """The job's sandbox settings from ``sc``'s conf (see :func:`policy_from_conf`)."""
    return policy_from_conf(dict(sc.getConf().getAll()))
