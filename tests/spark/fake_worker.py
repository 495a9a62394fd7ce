"""A stand-in for ``sparkwasm-worker``, for testing the driver before (or without) the Rust build.

Selected by ``SPARKWASM_FAKE_WORKER=1`` (see ``conftest.py``). Spark launches it exactly as it
would launch the real worker (``-m pyspark.daemon pyspark.worker`` or ``-m pyspark.worker``);
it runs PySpark's own daemon and worker, but intercepts sparkwasm commands:

* it checks the command the way the Rust worker is specified to: magic, version, manifest
  fields (unknown ones refused), module digest, ``function_names`` against the functions it
  knows, ``SPARKWASM_SPARK_VERSION`` in its environment;
* it runs Python emulations of the word-count and typed test guests' functions, including
  their strictness about Rust types (``small_double`` refuses 300) and a panic (``explode``);
* its "binary" batches are deliberately not pickle (``FAKEBIN`` + pickle), so a driver that
  labels an encoding wrongly fails here as it would with the real worker; shuffle output is
  (8-byte partition, batch) frame pairs partitioned by FNV-1a 64 of the key's postcard bytes,
  implemented independently of the ``sparkwasm`` package.

It proves the driver's side of the contract; it says nothing about the real worker.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import pickle
import re
import struct
import sys
from typing import Any, Callable, Dict, Iterable, Iterator, List, Tuple

import pyspark.worker as pyspark_worker
from pyspark.serializers import (
    BatchedSerializer,
    CPickleSerializer,
    FramedSerializer,
    NoOpSerializer,
    UTF8Deserializer,
    pack_long,
)

MANIFEST_FIELDS = {"module_digest", "input", "source", "steps", "output", "function_names"}
BINARY_TAG = b"FAKEBIN"


def _running_sum(items: Iterable[int]) -> Iterator[int]:
    return itertools.accumulate(items)


def _explode(x: int) -> int:
    if x == 13:
        raise RuntimeError("boom at 13")
    return x


# name -> (kind, input type, output type, implementation)
FUNCTIONS: Dict[str, Tuple[str, str, str, Callable[..., Any]]] = {
    # Lowercase runs of letters and digits, like the word-count guest.
    "split_words": ("flat_map", "String", "String", lambda s: [w for w in re.split(r"[\W_]+", s.lower()) if w]),
    "is_long": ("filter", "String", "String", lambda w: len(w) > 3),
    "with_one": ("map", "String", "(String,i64)", lambda s: (s, 1)),
    "add": ("reduce", "i64", "i64", lambda a, b: a + b),
    "triple_plus_one": ("map", "i64", "i64", lambda x: x * 3 + 1),
    "is_multiple_of_four": ("filter", "i64", "i64", lambda x: x % 4 == 0),
    "add_i64": ("reduce", "i64", "i64", lambda a, b: a + b),
    "range_to": ("flat_map", "i64", "i64", lambda n: range(n)),
    "running_sum": ("map_partitions", "i64", "i64", _running_sum),
    "half": ("map", "f64", "f64", lambda x: x / 2),
    "upper": ("map", "String", "String", lambda s: s.upper()),
    "word_len": ("map", "String", "(String,i64)", lambda s: (s, len(s))),
    "swap": ("map", "(String,i64)", "(i64,String)", lambda p: (p[1], p[0])),
    "pair_sum": ("map", "(i64,i64)", "i64", lambda p: p[0] + p[1]),
    "negate": ("map", "bool", "bool", lambda b: not b),
    "maybe_len": ("map", "Option<String>", "Option<i64>", lambda s: None if s is None else len(s)),
    "small_double": ("map", "u8", "u8", lambda x: (x * 2) & 0xFF),
    "explode": ("map", "i64", "i64", _explode),
}
STEP_KIND = {"map": "map", "flat_map": "flat_map", "filter": "filter",
             "map_partitions": "map_partitions", "reduce_by_key": "reduce"}


class FakeBinarySerializer(FramedSerializer):
    """Stand-in for sparkwasm's binary batches: tagged so nobody mistakes them for pickle."""

    def dumps(self, obj: Any) -> bytes:
        return BINARY_TAG + pickle.dumps(obj)

    def loads(self, obj: bytes) -> Any:
        if not obj.startswith(BINARY_TAG):
            raise ValueError("sparkwasm (fake): input labelled binary is not a binary batch")
        return pickle.loads(obj[len(BINARY_TAG):])


def _fits(value: Any, ty: str) -> bool:
    """Whether a Python value decodes as the Rust type ``ty`` (the types the guests use)."""
    if ty == "i64":
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if ty == "u8":
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255
    if ty == "f64":
        return isinstance(value, (float, int)) and not isinstance(value, bool)
    if ty == "String":
        return isinstance(value, str)
    if ty == "bool":
        return isinstance(value, bool)
    if ty.startswith("Option<"):
        return value is None or _fits(value, ty[len("Option<"):-1])
    if ty.startswith("(") and ty.endswith(")"):
        parts = ty[1:-1].split(",")
        return isinstance(value, (tuple, list)) and len(value) == len(parts) and all(
            _fits(v, t) for v, t in zip(value, parts))
    raise AssertionError(f"fake worker does not know type {ty}")


def _postcard_key(key: Any, ty: str) -> bytes:
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)
    if ty == "String":
        raw = key.encode()
        return varint(len(raw)) + raw
    if ty == "i64":
        return varint((key << 1) ^ (key >> 63))
    raise AssertionError(f"fake worker cannot shuffle keys of type {ty}")


def _fnv1a64(data: bytes) -> int:
    h = 0xCBF2_9CE4_8422_2325
    for b in data:
        h = ((h ^ b) * 0x0100_0000_01B3) & 0xFFFF_FFFF_FFFF_FFFF
    return h


def _reduce_by_key(items: Iterable[Tuple[Any, Any]], merge: Callable[[Any, Any], Any]) -> Iterator[Tuple[Any, Any]]:
    merged: Dict[Any, Any] = {}
    for k, v in items:
        merged[k] = merge(merged[k], v) if k in merged else v
    return iter(merged.items())


def parse_command(data: bytes) -> Tuple[Dict[str, Any], bytes]:
    if data[:6] != b"SPWASM" or data[6] != 1:
        raise ValueError(f"sparkwasm (fake): bad command header {data[:7]!r}")
    (length,) = struct.unpack(">I", data[7:11])
    manifest = json.loads(data[11:11 + length])
    module = data[11 + length:]
    if set(manifest) != MANIFEST_FIELDS:
        raise ValueError(f"sparkwasm (fake): manifest fields {sorted(manifest)}")
    if manifest["module_digest"] != hashlib.sha256(module).hexdigest():
        raise ValueError("sparkwasm (fake): module digest mismatch")
    if manifest["input"] not in ("pickle_batch", "pickle_item", "utf8", "binary"):
        raise ValueError(f"sparkwasm (fake): input {manifest['input']!r}")
    if set(manifest["source"]) != {"function", "side"} or manifest["source"]["side"] not in ("input", "output"):
        raise ValueError(f"sparkwasm (fake): source {manifest['source']!r}")
    mentioned = [manifest["source"]["function"]] + [s["function"] for s in manifest["steps"]]
    if set(manifest["function_names"]) != set(mentioned):
        raise ValueError(f"sparkwasm (fake): function_names {manifest['function_names']} vs {mentioned}")
    for name, kind in manifest["function_names"].items():
        if FUNCTIONS[name][0] != kind:
            raise ValueError(f"sparkwasm (fake): {name} is not a {kind}")
    for step in manifest["steps"]:
        if set(step) != {"kind", "function"} or FUNCTIONS[step["function"]][0] != STEP_KIND[step["kind"]]:
            raise ValueError(f"sparkwasm (fake): step {step}")
    if "SPARKWASM_SPARK_VERSION" not in os.environ:
        raise ValueError("sparkwasm (fake): SPARKWASM_SPARK_VERSION missing from the environment")
    return manifest, module


def build(data: bytes) -> Tuple[Any, Any, Any, Any]:
    """The (func, profiler, deserializer, serializer) PySpark's worker runs for a command."""
    manifest, module = parse_command(data)
    digest = manifest["module_digest"][:12]
    source = manifest["source"]
    _, src_in, src_out, _ = FUNCTIONS[source["function"]]
    source_type = src_in if source["side"] == "input" else src_out
    encoding = manifest["input"]
    steps = [(s["kind"], s["function"]) for s in manifest["steps"]]
    output = manifest["output"]

    def func(split: int, iterator: Iterable[Any]) -> Iterable[Any]:
        def guard(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
            def call(*args: Any) -> Any:
                try:
                    return fn(*args)
                except Exception as e:  # the real worker reports a trap the same way
                    raise RuntimeError(
                        f"sparkwasm: function '{name}' (module {digest}) panicked in partition "
                        f"{split}: {e}") from None
            return call

        def decoded(items: Iterable[Any]) -> Iterator[Any]:
            for position, item in enumerate(items):
                if encoding != "binary" and not _fits(item, source_type):
                    raise ValueError(
                        f"sparkwasm: cannot decode record {position} of partition {split} as "
                        f"{source_type} for function '{steps[0][1]}': {item!r}")
                yield tuple(item) if isinstance(item, list) else item

        it: Iterable[Any] = decoded(iterator)
        for kind, name in steps:
            fn = guard(name, FUNCTIONS[name][3])
            if kind == "map":
                it = map(fn, it)
            elif kind == "flat_map":
                it = itertools.chain.from_iterable(map(fn, it))
            elif kind == "filter":
                it = filter(fn, it)
            elif kind == "map_partitions":
                it = fn(it)
            else:
                it = _reduce_by_key(it, fn)
        if output["kind"] != "shuffle":
            return it
        n = output["partitions"]
        # The key type is the first element of the pair type that reaches the shuffle.
        pair_type = source_type
        for kind, name in steps:
            if kind in ("map", "flat_map", "map_partitions"):
                pair_type = FUNCTIONS[name][2]
        key_type = pair_type[1:-1].split(",")[0]
        buckets: Dict[int, List[Any]] = {}
        for k, v in it:
            buckets.setdefault(_fnv1a64(_postcard_key(k, key_type)) % n, []).append((k, v))
        frames: List[bytes] = []
        for p, pairs in buckets.items():
            frames += [pack_long(p), FakeBinarySerializer().dumps(pairs)]
        return frames

    deserializer = {
        "pickle_batch": BatchedSerializer(CPickleSerializer()),
        "pickle_item": CPickleSerializer(),
        "utf8": UTF8Deserializer(),
        "binary": BatchedSerializer(FakeBinarySerializer()),
    }[encoding]
    serializer = {
        "pickle": BatchedSerializer(CPickleSerializer(), 64),
        "binary": BatchedSerializer(FakeBinarySerializer(), 64),
        "shuffle": NoOpSerializer(),
    }[output["kind"]]
    return func, None, deserializer, serializer


_original_read_command = pyspark_worker.read_command


def read_command(serializer: Any, file: Any) -> Any:
    if isinstance(file, (bytes, memoryview)) and bytes(file[:6]) == b"SPWASM":
        return build(bytes(file))
    return _original_read_command(serializer, file)


def main() -> None:
    pyspark_worker.read_command = read_command
    args = sys.argv[1:]
    if args[:2] == ["-m", "pyspark.daemon"]:
        from pyspark import daemon

        # daemon.py imports the worker module named in argv[1]: our patched pyspark.worker.
        sys.argv = [sys.argv[0], "pyspark.worker"]
        daemon.manager()
    elif args[:2] == ["-m", "pyspark.worker"]:
        from pyspark.worker_util import get_sock_file_to_executor

        with get_sock_file_to_executor() as sock_file:
            pyspark_worker.main(sock_file, sock_file)
    else:
        sys.exit(f"fake sparkwasm worker: unexpected arguments {args}")


if __name__ == "__main__":
    main()
