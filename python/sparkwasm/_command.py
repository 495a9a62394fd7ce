"""The command bytes a ``PythonRDD`` (or a Spark SQL UDF) hands the sparkwasm worker for every
task.

Spark treats a ``PythonFunction``'s command as opaque bytes and writes them, length-framed,
into each task it sends the worker. PySpark puts a cloudpickled closure there; sparkwasm puts
this instead::

    b"SPWASM" | version byte 0x02 | u32 big-endian manifest length | manifest JSON | module

The manifest (UTF-8 JSON; the worker rejects unknown fields) describes one worker pass::

    {"module_digest": "<sha256 hex of the module bytes>",
     "input": "pickle_batch" | "pickle_item" | "utf8" | "utf8_pairs" | "binary",
     "source": {"function": "<name>", "side": "input" | "output"} | null,
     "steps": [{"kind": "<step kind>", "functions": ["<name>", ...], "arg": <int> | null}, ...],
     "output": {"kind": "pickle"} | {"kind": "binary"} | {"kind": "count"} | {"kind": "text"}
               | {"kind": "take", "n": <int>}
               | {"kind": "sample_keys", "fraction": <float>, "seed": <int>}
               | {"kind": "shuffle", "partitions": <int>,
                  "partitioner": {"kind": "hash"}
                                 | {"kind": "function", "function": "<name>"}
                                 | {"kind": "range", "bounds_arg": <int>, "ascending": <bool>}},
     "args": ["<base64 of a pickled Python value>", ...],
     "broadcasts": {"<name>": <broadcast id>, ...},
     "accumulators": {"<name>": <accumulator id>, ...},
     "spark_files": true | false,
     "function_names": {"<name>": "<descriptor kind>", ...}}

* ``source`` names the Rust type of the input elements by a function that consumes or
  produces it (the reduce side of a shuffle reads ``(K, V)`` pairs while its function takes
  ``V``); ``null`` means the elements are dynamic: whatever Python values the records hold.
* Step kinds are the snake_case names of ``sparkwasm_abi::StepKind``; :data:`STEP_KINDS`
  lists the functions each takes and what its ``arg`` is: an index into ``args`` (a zero
  value) or a number (a tag, a join kind, a sort direction, ``n * 2 + d`` for ``top``).
* ``function_names`` repeats the descriptor kind of every function the manifest mentions so
  the worker can check that the module it was sent is the one the driver looked at. The module
  bytes always travel inside the command: executors may not see the driver's files.

A Spark SQL UDF (``sparkwasm.udf``, ``sparkwasm.udaf``) carries one command per function, in
the same frame with version byte ``0x03``; Spark sends one per chained function of each UDF
of an Arrow eval node, innermost first. Its manifest (unknown fields rejected) names one
function::

    {"module_digest": "<sha256 hex>", "function": "<name>", "kind": "udf" | "udaf",
     "args": ["bigint", "string"], "returns": "int", "policy": {...}}

``args`` and ``returns`` are the descriptor's ``sql.args``/``sql.returns``; the worker checks
them against the module it loads. ``policy`` is the RDD manifest's ``policy``.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ._wasm import FUNCTION_KINDS, SQL_KINDS

__all__ = [
    "COMMAND_MAGIC",
    "COMMAND_VERSION",
    "SQL_COMMAND_VERSION",
    "INPUT_ENCODINGS",
    "JOIN_KINDS",
    "SIDES",
    "STEP_KINDS",
    "Manifest",
    "ManifestStep",
    "SqlManifest",
    "StepSpec",
    "encode_command",
    "encode_sql_command",
]

COMMAND_MAGIC = b"SPWASM"
COMMAND_VERSION = 2
#: Version byte of a Spark SQL function's command (format 3).
SQL_COMMAND_VERSION = 3
INPUT_ENCODINGS = ("pickle_batch", "pickle_item", "utf8", "utf8_pairs", "binary")
SIDES = ("input", "output")
_U32_MAX = (1 << 32) - 1
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_U64_MAX = (1 << 64) - 1


@dataclass(frozen=True)
class StepSpec:
    """What a step kind takes: its functions' descriptor kinds (in order) and its ``arg``.

    ``arg`` is ``None`` (no argument), ``"zero"`` (an index into ``args``) or ``"number"``;
    ``numbers`` bounds a number argument (``None``: any u64). ``optional_functions``: the
    functions may all be left out (``max_by`` and ``top`` without a key function).
    """

    functions: Tuple[str, ...] = ()
    arg: Optional[str] = None
    numbers: Optional[range] = None
    optional_functions: bool = False


#: Step kind (snake_case of ``sparkwasm_abi::StepKind``) -> what it takes.
STEP_KINDS: Mapping[str, StepSpec] = {
    "map": StepSpec(("map",)),
    "flat_map": StepSpec(("flat_map",)),
    "filter": StepSpec(("filter",)),
    "map_partitions": StepSpec(("map_partitions",)),
    "map_partitions_with_index": StepSpec(("map_partitions_with_index",)),
    "reduce_by_key": StepSpec(("reduce",)),
    "map_values": StepSpec(("map",)),
    "flat_map_values": StepSpec(("flat_map",)),
    "key_by": StepSpec(("key",)),
    "fold_by_key": StepSpec(("reduce",), "zero"),
    "aggregate_by_key": StepSpec(("seq_op",), "zero"),
    "combine_by_key": StepSpec(("map", "seq_op")),
    "group_by_key": StepSpec(),
    "first_by_key": StepSpec(),
    "pair_with_none": StepSpec(),
    "keys": StepSpec(),
    "values": StepSpec(),
    "tag": StepSpec((), "number", range(2)),
    "join": StepSpec((), "number", range(6)),
    "count_by_key": StepSpec(),
    "sort_by_key": StepSpec((), "number", range(2)),
    "reduce_all": StepSpec(("reduce",)),
    "fold_all": StepSpec(("reduce",), "zero"),
    "aggregate_all": StepSpec(("seq_op",), "zero"),
    "max_by": StepSpec(("key",), "number", range(2), optional_functions=True),
    "top": StepSpec(("key",), "number", None, optional_functions=True),
    "sum": StepSpec(),
    "foreach": StepSpec(("foreach",)),
    "foreach_partition": StepSpec(("foreach_partition",)),
    "key_by_key": StepSpec(("key",)),
}

#: ``sparkwasm_abi::JoinKind`` numbers, the ``arg`` of a ``join`` step.
JOIN_KINDS: Mapping[str, int] = {
    "inner": 0,
    "left_outer": 1,
    "right_outer": 2,
    "full_outer": 3,
    "cogroup": 4,
    "subtract_by_key": 5,
}


@dataclass(frozen=True)
class ManifestStep:
    """One step of a pass: its kind, the names of its functions, its argument."""

    kind: str
    functions: Tuple[str, ...] = ()
    arg: Optional[int] = None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Manifest:
    """One worker pass: where its elements come from, its steps, and what it writes.

    ``function_kinds`` maps every function name of the module to its descriptor kind; the
    manifest includes the entries of the functions it mentions. ``args`` are pickles.
    """

    module_digest: str
    input: str
    source: Optional[Tuple[str, str]]
    steps: Sequence[ManifestStep]
    output: Mapping[str, Any]
    function_kinds: Mapping[str, str]
    args: Sequence[bytes] = ()
    broadcasts: Mapping[str, int] = field(default_factory=dict)
    accumulators: Mapping[str, int] = field(default_factory=dict)
    spark_files: bool = True
    #: The job's sandbox settings (``spark.sparkwasm.*``, see ``_policy.py``).
    policy: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        """The manifest as the JSON object the worker parses; checks it on the way."""
        if self.input not in INPUT_ENCODINGS:
            raise ValueError(f"unknown input encoding {self.input!r}")
        mentioned: List[str] = []
        source: Optional[Dict[str, str]] = None
        if self.source is not None:
            source_fn, side = self.source
            if side not in SIDES:
                raise ValueError(f"unknown source side {side!r}")
            mentioned.append(source_fn)
            source = {"function": source_fn, "side": side}
        steps = [self._step_json(step, mentioned) for step in self.steps]
        output = self._output_json(mentioned)
        for name in mentioned:
            if name not in self.function_kinds:
                raise ValueError(f"function {name!r} is not in the module")
        for what, ids in (("broadcast", self.broadcasts), ("accumulator", self.accumulators)):
            for name, ident in ids.items():
                if not isinstance(name, str) or not name or not _is_int(ident):
                    raise ValueError(f"invalid {what} binding {name!r}: {ident!r}")
        if not isinstance(self.spark_files, bool):
            raise ValueError(f"spark_files must be a bool, got {self.spark_files!r}")
        return {
            "module_digest": self.module_digest,
            "input": self.input,
            "source": source,
            "steps": steps,
            "output": output,
            "args": [base64.b64encode(arg).decode("ascii") for arg in self.args],
            "broadcasts": dict(sorted(self.broadcasts.items())),
            "accumulators": dict(sorted(self.accumulators.items())),
            "spark_files": self.spark_files,
            "function_names": {name: self.function_kinds[name] for name in mentioned},
            "policy": dict(sorted(self.policy.items())),
        }

    def _step_json(self, step: ManifestStep, mentioned: List[str]) -> Dict[str, Any]:
        spec = STEP_KINDS.get(step.kind)
        if spec is None:
            raise ValueError(f"unknown step kind {step.kind!r}")
        kinds = [self.function_kinds.get(name) for name in step.functions]
        wanted = list(spec.functions)
        if not (kinds == wanted or (spec.optional_functions and not kinds)):
            raise ValueError(
                f"step {step.kind} needs functions of kinds {wanted}, got "
                f"{list(step.functions)} of kinds {kinds}"
            )
        if spec.arg is None:
            if step.arg is not None:
                raise ValueError(f"step {step.kind} takes no arg, got {step.arg!r}")
        elif not _is_int(step.arg) or step.arg < 0:
            raise ValueError(f"step {step.kind} needs an arg, got {step.arg!r}")
        elif spec.arg == "zero" and step.arg >= len(self.args):
            raise ValueError(
                f"step {step.kind} names arg {step.arg}, but there are {len(self.args)}"
            )
        elif spec.arg == "number":
            allowed = spec.numbers
            if (allowed is not None and step.arg not in allowed) or step.arg > _U64_MAX:
                raise ValueError(f"step {step.kind} cannot take the number {step.arg}")
        for name in step.functions:
            if name not in mentioned:
                mentioned.append(name)
        return {"kind": step.kind, "functions": list(step.functions), "arg": step.arg}

    def _output_json(self, mentioned: List[str]) -> Dict[str, Any]:
        out = dict(self.output)
        kind = out.pop("kind", None)
        if kind in ("pickle", "binary", "count", "text"):
            expected: Tuple[str, ...] = ()
        elif kind == "take":
            expected = ("n",)
            if not _is_int(out.get("n")) or not 0 <= out["n"] <= _U64_MAX:
                raise ValueError(f"take output needs 0 <= n, got {out.get('n')!r}")
        elif kind == "sample_keys":
            expected = ("fraction", "seed")
            fraction = out.get("fraction")
            number = isinstance(fraction, (int, float)) and not isinstance(fraction, bool)
            if not number or not 0 <= fraction <= 1:
                raise ValueError(f"sample_keys needs a fraction in [0, 1], got {fraction!r}")
            if not _is_int(out.get("seed")) or not 0 <= out["seed"] <= _U64_MAX:
                raise ValueError(f"sample_keys needs a u64 seed, got {out.get('seed')!r}")
            out["fraction"] = float(fraction)
        elif kind == "shuffle":
            expected = ("partitions", "partitioner")
            partitions = out.get("partitions")
            if not _is_int(partitions) or not 1 <= partitions <= _U32_MAX:
                raise ValueError(f"shuffle output needs partitions >= 1, got {partitions!r}")
            out["partitioner"] = self._partitioner_json(out.get("partitioner"), mentioned)
        else:
            raise ValueError(f"unknown output {dict(self.output)!r}")
        if set(out) != set(expected):
            raise ValueError(f"{kind} output takes {list(expected)}, got {sorted(out)}")
        return {"kind": kind, **{key: out[key] for key in expected}}

    def _partitioner_json(self, partitioner: Any, mentioned: List[str]) -> Dict[str, Any]:
        if not isinstance(partitioner, Mapping):
            raise ValueError(f"shuffle output needs a partitioner, got {partitioner!r}")
        kind = partitioner.get("kind")
        if kind == "hash" and set(partitioner) == {"kind"}:
            return {"kind": "hash"}
        if kind == "function" and set(partitioner) == {"kind", "function"}:
            name = partitioner["function"]
            if self.function_kinds.get(name) != "partitioner":
                raise ValueError(
                    f"a function partitioner needs a partitioner function, {name!r} is "
                    f"{self.function_kinds.get(name)!r}"
                )
            if name not in mentioned:
                mentioned.append(name)
            return {"kind": "function", "function": name}
        if kind == "range" and set(partitioner) == {"kind", "bounds_arg", "ascending"}:
            index, ascending = partitioner["bounds_arg"], partitioner["ascending"]
            if not _is_int(index) or not 0 <= index < len(self.args):
                raise ValueError(
                    f"range partitioner names arg {index!r}, but there are {len(self.args)}"
                )
            if not isinstance(ascending, bool):
                raise ValueError(f"range partitioner needs a bool ascending, got {ascending!r}")
            return {"kind": "range", "bounds_arg": index, "ascending": ascending}
        raise ValueError(f"unknown partitioner {dict(partitioner)!r}")


def encode_command(manifest: Manifest, module_bytes: bytes) -> bytes:
    """The command bytes for one worker pass: header, manifest JSON, then the module."""
    return _frame(COMMAND_VERSION, manifest.to_json(), module_bytes)


@dataclass(frozen=True)
class SqlManifest:
    """One Spark SQL function (a ``udf`` or ``udaf`` of the module), as the worker needs it.

    ``args``/``returns`` are the descriptor's Spark SQL types; ``policy`` is the job's sandbox
    settings, the same object an RDD manifest carries.
    """

    module_digest: str
    function: str
    kind: str
    args: Sequence[str]
    returns: str
    policy: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        """The manifest as the JSON object the worker parses; checks it on the way."""
        digest = self.module_digest
        if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
            raise ValueError(f"module_digest must be 64 lowercase hex digits, got {digest!r}")
        if not isinstance(self.function, str) or not self.function:
            raise ValueError(f"function must be a non-empty name, got {self.function!r}")
        if self.kind not in SQL_KINDS:
            raise ValueError(f"a SQL function's kind is one of {SQL_KINDS}, got {self.kind!r}")
        types = [*self.args, self.returns]
        if not all(isinstance(t, str) and t for t in types):
            raise ValueError(f"SQL types must be non-empty strings, got {types!r}")
        return {
            "module_digest": self.module_digest,
            "function": self.function,
            "kind": self.kind,
            "args": list(self.args),
            "returns": self.returns,
            "policy": dict(sorted(self.policy.items())),
        }


def encode_sql_command(manifest: SqlManifest, module_bytes: bytes) -> bytes:
    """The command bytes of one SQL function: header (version 3), manifest JSON, the module."""
    return _frame(SQL_COMMAND_VERSION, manifest.to_json(), module_bytes)


def _frame(version: int, manifest: Mapping[str, Any], module_bytes: bytes) -> bytes:
    body = json.dumps(manifest, separators=(",", ":")).encode("utf-8")
    return b"".join(
        (COMMAND_MAGIC, bytes([version]), struct.pack(">I", len(body)), body, module_bytes)
    )


assert all(set(spec.functions) <= set(FUNCTION_KINDS) for spec in STEP_KINDS.values())
