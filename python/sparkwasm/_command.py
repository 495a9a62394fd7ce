"""The command bytes a ``PythonRDD`` hands the sparkwasm worker for every task.

Spark treats a ``PythonFunction``'s command as opaque bytes and writes them, length-framed,
into each task it sends the worker. PySpark puts a cloudpickled closure there; sparkwasm puts
this instead::

    b"SPWASM" | version byte 0x01 | u32 big-endian manifest length | manifest JSON | module

The manifest (UTF-8 JSON; the worker rejects unknown fields) says how to decode the input
records, which functions to run in which order, and what to write::

    {"module_digest": "<sha256 hex of the module bytes>",
     "input": "pickle_batch" | "pickle_item" | "utf8" | "binary",
     "source": {"function": "<name>", "side": "input" | "output"},
     "steps": [{"kind": "map" | "flat_map" | "filter" | "map_partitions" | "reduce_by_key",
                "function": "<name>"}, ...],
     "output": {"kind": "pickle"} | {"kind": "binary"}
               | {"kind": "shuffle", "partitions": <int>},
     "function_names": {"<name>": "<descriptor kind>", ...}}

``source`` names the Rust type of the input elements by a function that consumes or produces
it, because the first step does not always consume the records directly (the reduce side of
a shuffle reads ``(K, V)`` pairs while its function takes ``V``). ``function_names`` repeats
the descriptor kind of every function the manifest mentions so the worker can check that the
module it was sent is the one the driver looked at. The module bytes always travel inside the
command: executors may not see the driver's files.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Sequence, Tuple

__all__ = [
    "COMMAND_MAGIC",
    "COMMAND_VERSION",
    "INPUT_ENCODINGS",
    "SIDES",
    "STEP_KINDS",
    "Manifest",
    "encode_command",
]

COMMAND_MAGIC = b"SPWASM"
COMMAND_VERSION = 1
INPUT_ENCODINGS = ("pickle_batch", "pickle_item", "utf8", "binary")
SIDES = ("input", "output")
#: Step kind -> the descriptor kind the step's function must have.
STEP_KINDS: Mapping[str, str] = {
    "map": "map",
    "flat_map": "flat_map",
    "filter": "filter",
    "map_partitions": "map_partitions",
    "reduce_by_key": "reduce",
}


@dataclass(frozen=True)
class Manifest:
    """One worker pass: where its elements come from, its steps, and what it writes.

    ``function_kinds`` maps every function name of the module to its descriptor kind; the
    manifest includes the entries of the functions it mentions.
    """

    module_digest: str
    input: str
    source: Tuple[str, str]
    steps: Sequence[Tuple[str, str]]
    output: Mapping[str, Any]
    function_kinds: Mapping[str, str]

    def to_json(self) -> Dict[str, Any]:
        """The manifest as the JSON object the worker parses; checks it on the way."""
        if self.input not in INPUT_ENCODINGS:
            raise ValueError(f"unknown input encoding {self.input!r}")
        source_fn, side = self.source
        if side not in SIDES:
            raise ValueError(f"unknown source side {side!r}")
        if not self.steps:
            raise ValueError("a worker pass needs at least one step")
        mentioned = [source_fn]
        for kind, name in self.steps:
            if kind not in STEP_KINDS:
                raise ValueError(f"unknown step kind {kind!r}")
            if self.function_kinds.get(name) != STEP_KINDS[kind]:
                raise ValueError(
                    f"step {kind} needs a {STEP_KINDS[kind]} function, "
                    f"{name!r} is {self.function_kinds.get(name)!r}"
                )
            mentioned.append(name)
        for name in mentioned:
            if name not in self.function_kinds:
                raise ValueError(f"function {name!r} is not in the module")
        output_kind = self.output.get("kind")
        if output_kind in ("pickle", "binary"):
            output: Dict[str, Any] = {"kind": output_kind}
        elif output_kind == "shuffle":
            partitions = self.output.get("partitions")
            if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
                raise ValueError(f"shuffle output needs partitions >= 1, got {partitions!r}")
            output = {"kind": "shuffle", "partitions": partitions}
        else:
            raise ValueError(f"unknown output {dict(self.output)!r}")
        return {
            "module_digest": self.module_digest,
            "input": self.input,
            "source": {"function": source_fn, "side": side},
            "steps": [{"kind": kind, "function": name} for kind, name in self.steps],
            "output": output,
            "function_names": {name: self.function_kinds[name] for name in mentioned},
        }


def encode_command(manifest: Manifest, module_bytes: bytes) -> bytes:
    """The command bytes for one worker pass: header, manifest JSON, then the module."""
    body = json.dumps(manifest.to_json(), separators=(",", ":")).encode("utf-8")
    return b"".join(
        (COMMAND_MAGIC, bytes([COMMAND_VERSION]), struct.pack(">I", len(body)), body, module_bytes)
    )
