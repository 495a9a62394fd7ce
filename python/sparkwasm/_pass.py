"""Worker passes: the steps one ``PythonRDD`` runs, their element types and their command.

A :class:`sparkwasm.WasmRDD` is a worker pass being built: where it reads (:class:`PassInput`),
the steps so far (:class:`Step`), and what the elements are after them. This module holds
those pieces and the rules that relate them:

* **Element types.** Between two steps the guest holds its elements either *typed* (Rust
  values of one type) or *dynamic* (``sparkwasm_abi::Value``, Python's data model). The
  driver mirrors the guest SDK's planner (``guest-sdk/src/plan.rs``) step by step in
  :func:`advance`: a function's output is typed; ``filter``, the by-key merges with a
  ``reduce`` function, ``first_by_key`` and ``sort_by_key`` keep a matching typed input;
  ``key_by``, ``keys`` and ``values`` of typed input stay typed, with a type no function
  names (:class:`Derived`); ``reduce_all``/``fold_all`` decode into their function's type;
  every other step (grouping, joins, tags, ``max_by``, ``top``, sums...) is dynamic. Where the
  type is known the driver also checks that each function accepts what it will be given.
* **Sources.** A pass must tell the worker how to decode its input records. A typed source
  is named by a function of the pass's module and a side of it (:class:`TypeRef`); it reads
  typed binary batches of exactly that type and converts dynamic ones. A dynamic source
  (``null``) reads dynamic batches only. So a pass whose binary output another pass reads
  must end typed-and-named (same module) or dynamic: a :class:`Derived` type, or a type of
  another module, is first turned into values by appending ``pair_with_none`` + ``keys``
  (the identity on values; see ``WasmRDD._dynamized``). Pickles and text are
  self-describing: a pass reading them decodes straight into the input type of its first
  function when that function takes whole records (:func:`choose_source`).
* **Bindings.** The broadcasts and accumulators of every function of a pass go into its
  manifest (:class:`Bindings`).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from ._command import Manifest, ManifestStep, encode_command
from ._module import WasmFunction, WasmModule, broadcast_id
from ._partition import RangePartitionFunc, WasmPartitionFunc, canonical_bytes, canonical_hash
from ._types import normalize, split_pair

if TYPE_CHECKING:
    from py4j.java_gateway import JavaObject  # type: ignore[import-untyped]
    from pyspark import Broadcast
    from pyspark.accumulators import Accumulator
    from pyspark.serializers import Serializer

__all__ = [
    "PARTITIONER_ID",
    "Bindings",
    "Output",
    "PartitionSpec",
    "PassInput",
    "Step",
    "Derived",
    "TypeRef",
    "advance",
    "build_command",
    "choose_source",
    "needs_values_for",
]

#: ``pyPartitionFunctionId`` of the JVM ``PythonPartitioner`` of sparkwasm's hash shuffles
#: ("SPWASM" then 0x0001). PySpark uses ``id(partitionFunc)``, which differs between driver
#: runs; ours is one stable number because every sparkwasm hash shuffle uses the same hash.
PARTITIONER_ID = 0x5350_5741_534D_0001

#: Pickle protocol of the ``args`` (zero values, range bounds): what PySpark writes for data.
PICKLE_PROTOCOL = 5

_NO_ZERO: Any = object()

#: Steps whose (first) function takes whole elements: its input type is the element type.
WHOLE_ELEMENT_STEPS = frozenset(
    {
        "map",
        "flat_map",
        "filter",
        "map_partitions",
        "map_partitions_with_index",
        "key_by",
        "foreach",
        "foreach_partition",
        "max_by",
        "top",
        "reduce_all",
        "fold_all",
        "aggregate_all",
    }
)
#: Steps that need ``(key, value)`` elements.
PAIR_STEPS = frozenset(
    {
        "reduce_by_key",
        "map_values",
        "flat_map_values",
        "fold_by_key",
        "aggregate_by_key",
        "combine_by_key",
        "group_by_key",
        "first_by_key",
        "keys",
        "values",
        "tag",
        "join",
        "count_by_key",
        "sort_by_key",
        "key_by_key",
    }
)
#: Pair steps whose functions take the value ``V`` of ``(K, V)`` elements.
_VALUE_FUNCTION_STEPS = frozenset(
    {
        "reduce_by_key",
        "map_values",
        "flat_map_values",
        "fold_by_key",
        "aggregate_by_key",
        "combine_by_key",
    }
)


@dataclass(frozen=True)
class TypeRef:
    """A typed element type, named by a function that consumes (``input``) or produces it."""

    function: WasmFunction
    side: str

    @property
    def spelled(self) -> str:
        return self.function.input if self.side == "input" else self.function.output

    @property
    def module(self) -> WasmModule:
        return self.function.module

    def describe(self) -> str:
        return f"{self.spelled} (the {self.side} type of {self.function.name})"


@dataclass(frozen=True)
class Derived:
    """A typed element type that no function side names: ``key_by``'s ``(K, T)`` or the key
    or value type of typed pairs. The worker keeps such elements typed, but a later pass
    could not name their type to decode them, so they become values before a hand-off."""

    spelled: str
    module: WasmModule

    def describe(self) -> str:
        return f"{self.spelled} (derived from the module's types)"


#: An element type: typed (named or derived), or ``None`` for dynamic values.
Element = Union[TypeRef, Derived, None]


@dataclass(frozen=True, eq=False)
class Step:
    """One pipeline step: a ``sparkwasm_abi::StepKind`` (snake_case), its functions, and its
    argument: a ``number`` or a ``zero`` value (pickled into the manifest's ``args``)."""

    kind: str
    functions: Tuple[WasmFunction, ...] = ()
    number: Optional[int] = None
    zero: Any = _NO_ZERO

    @property
    def has_zero(self) -> bool:
        return self.zero is not _NO_ZERO

    def describe(self) -> str:
        parts = [self.kind, *(f.name for f in self.functions)]
        if self.number is not None:
            parts.append(str(self.number))
        if self.has_zero:
            parts.append(f"zero={self.zero!r}")
        return " ".join(parts)


def zero_step(kind: str, f: WasmFunction, zero: Any, method: str) -> Step:
    """A step with a zero value, checked now: it must be plain data the guest can decode."""
    try:
        canonical_bytes(zero)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"{method}(): the zero value {zero!r} cannot be sent to the sparkwasm worker: {e}"
        ) from None
    return Step(kind, (f,), zero=zero)


@dataclass(frozen=True, eq=False)
class PartitionSpec:
    """How a shuffle assigns keys to reduce partitions: ``hash`` (canonical hash),
    ``function`` (a WASM ``partitioner``) or ``range`` (``sortByKey``)."""

    kind: str
    function: Optional[WasmFunction] = None
    range_func: Optional[RangePartitionFunc] = None

    def partition_func(self) -> Callable[[Any], int]:
        """The ``partitionFunc`` of the PySpark ``Partitioner`` describing the result."""
        if self.kind == "function":
            assert self.function is not None
            return WasmPartitionFunc(self.function.module.digest, self.function.name)
        if self.kind == "range":
            assert self.range_func is not None
            return self.range_func
        return canonical_hash

    def jvm_id(self) -> int:
        """The JVM ``PythonPartitioner``'s id: equal ids are co-partitioned for Spark."""
        if self.kind == "function":
            assert self.function is not None
            return WasmPartitionFunc(self.function.module.digest, self.function.name).jvm_id
        if self.kind == "range":
            return id(self.range_func)  # as PySpark: one per sortByKey call
        return PARTITIONER_ID


HASH = PartitionSpec("hash")


@dataclass(frozen=True, eq=False)
class Output:
    """What a pass writes: the manifest's ``output`` (its ``kind``, scalar ``params`` and, for
    shuffles, the partitioner)."""

    kind: str
    params: Tuple[Tuple[str, Any], ...] = ()
    partitioner: Optional[PartitionSpec] = None


PICKLE = Output("pickle")
BINARY = Output("binary")
COUNT = Output("count")
TEXT = Output("text")


class PassInput:
    """Where a worker pass reads its records: a JavaRDD built on first use, its encoding, the
    PySpark partitioner of its elements, their element type and, for RDDs that are not
    sparkwasm output, the deserializer PySpark reads them with.

    Building lazily keeps unused JVM RDDs from being created while a pipeline is still being
    extended; memoizing keeps one JVM RDD (and so one shuffle) however often it is read.
    """

    def __init__(
        self,
        build: Callable[[], "JavaObject"],
        encoding: str,
        partitioner: Any,
        element: Element = None,
        deserializer: Optional["Serializer"] = None,
    ) -> None:
        self._build = build
        self._jrdd: Optional["JavaObject"] = None
        self.encoding = encoding
        self.partitioner = partitioner
        self.element = element
        self.deserializer = deserializer

    def jrdd(self) -> "JavaObject":
        if self._jrdd is None:
            self._jrdd = self._build()
        return self._jrdd

    def coalesced(self, partitions: int) -> "PassInput":
        """The same records in ``partitions`` partitions (JVM ``coalesce``, no shuffle)."""
        return PassInput(
            lambda: self.jrdd().coalesce(partitions, False),
            self.encoding,
            None,
            self.element,
            self.deserializer,
        )


@dataclass(frozen=True)
class Bindings:
    """The broadcasts and accumulators a pass's functions use, and its SparkFiles grant."""

    broadcasts: Mapping[str, "Broadcast[Any]"] = field(default_factory=dict)
    accumulators: Mapping[str, "Accumulator[Any]"] = field(default_factory=dict)
    spark_files: bool = True

    def with_function(self, f: WasmFunction, method: str) -> "Bindings":
        """These bindings and ``f``'s; names bound to different variables raise ``ValueError``."""
        if not f.broadcasts and not f.accumulators and f.spark_files:
            return self
        broadcasts: Dict[str, Any] = dict(self.broadcasts)
        for name, bc in f.broadcasts.items():
            if name in broadcasts and broadcast_id(broadcasts[name]) != broadcast_id(bc):
                raise ValueError(_conflict(method, f, "broadcast", name))
            broadcasts[name] = bc
        accumulators: Dict[str, Any] = dict(self.accumulators)
        for name, acc in f.accumulators.items():
            if name in accumulators and accumulators[name].aid != acc.aid:
                raise ValueError(_conflict(method, f, "accumulator", name))
            accumulators[name] = acc
        return Bindings(broadcasts, accumulators, self.spark_files and f.spark_files)

    def with_step(self, step: Step, method: str) -> "Bindings":
        bindings = self
        for f in step.functions:
            bindings = bindings.with_function(f, method)
        return bindings


def _conflict(method: str, f: WasmFunction, what: str, name: str) -> str:
    return (
        f"{method}({f.name}): {f.name} binds the {what} name {name!r} to another variable than "
        "a function before it in the same worker pass; one pass gives each name one variable. "
        "Use different names in the guests, or the same variable"
    )


def _kind_mismatch(method: str, f: WasmFunction, want: str, spelled_element: str) -> TypeError:
    return TypeError(
        f"{method}({f.name}) expects {want} records, but this RDD holds {spelled_element}"
    )


def advance(element: Element, step: Step, method: str) -> Element:
    """The element type after ``step`` (the guest planner's rule), checking that its
    functions accept ``element`` when its type is known."""
    pair: Optional[Tuple[str, str]] = None
    if element is not None:
        spelled = normalize(element.spelled)
        pair = split_pair(spelled)
        if step.kind in WHOLE_ELEMENT_STEPS and step.functions:
            f = step.functions[0]
            if normalize(f.input) != spelled:
                raise _kind_mismatch(method, f, f.input, element.describe())
        elif step.kind in PAIR_STEPS:
            if pair is None:
                named = f"({', '.join(f.name for f in step.functions)})" if step.functions else "()"
                raise TypeError(
                    f"{method}{named} needs (K, V) records, but this RDD holds "
                    f"{element.describe()}"
                )
            if step.kind in _VALUE_FUNCTION_STEPS:
                for f in step.functions:
                    if normalize(f.input) != normalize(pair[1]):
                        raise _kind_mismatch(method, f, f"(K, {f.input})", element.describe())
            elif step.kind == "key_by_key":
                f = step.functions[0]
                if normalize(f.input) != normalize(pair[0]):
                    raise _kind_mismatch(method, f, f"({f.input}, V)", element.describe())
    kind, functions = step.kind, step.functions
    if kind in ("map", "flat_map", "map_partitions", "map_partitions_with_index", "aggregate_all"):
        return TypeRef(functions[0], "output")
    if kind in ("reduce_all", "fold_all"):
        return TypeRef(functions[0], "input")  # decoded into the function's type
    if element is None:
        return None
    # Typed input from here on (and, by the checks above, of the functions' types).
    if kind == "filter":
        return TypeRef(functions[0], "input")
    if kind in ("reduce_by_key", "fold_by_key", "first_by_key", "sort_by_key"):
        return element
    if kind == "key_by":
        f = functions[0]
        return Derived(f"({normalize(f.output)},{normalize(f.input)})", f.module)
    if kind in ("keys", "values"):
        assert pair is not None
        return Derived(pair[0] if kind == "keys" else pair[1], element.module)
    return None


def needs_values_for(element: Element, reader: WasmModule) -> bool:
    """Whether binary batches of ``element`` must become values before a pass of ``reader``
    reads them: their type is typed but not nameable there."""
    if element is None:
        return False
    return isinstance(element, Derived) or element.module != reader


def choose_source(
    upstream: PassInput, module: WasmModule, first: Optional[Step], method: str
) -> Optional[TypeRef]:
    """How a new pass of ``module`` reading ``upstream`` names the type of its input records
    (``None``: dynamic values)."""
    element = upstream.element
    if isinstance(element, TypeRef) and element.module == module:
        return element
    if upstream.encoding == "binary":
        # Batches the reader could not name are turned into values before they get here.
        assert element is None, "typed binary batches must be named by the reading pass"
        return None
    if first is not None and first.kind in WHOLE_ELEMENT_STEPS and first.functions:
        f = first.functions[0]
        if element is not None and normalize(element.spelled) != normalize(f.input):
            raise _kind_mismatch(method, f, f.input, element.describe())
        return TypeRef(f, "input")
    return None


def pickled(value: Any) -> bytes:
    """A Python value as the manifest's ``args`` carry it."""
    return pickle.dumps(value, protocol=PICKLE_PROTOCOL)


def build_command(
    module: WasmModule,
    encoding: str,
    source: Optional[TypeRef],
    steps: Tuple[Step, ...],
    output: Output,
    bindings: Bindings,
    method: str = "",
    policy: Optional[Mapping[str, Any]] = None,
) -> Tuple[bytes, List["JavaObject"]]:
    """The command of one pass, and the JVM broadcasts its ``SimplePythonFunction`` must carry."""
    args: List[bytes] = []
    manifest_steps = []
    for step in steps:
        arg = step.number
        if step.has_zero:
            arg = len(args)
            args.append(pickled(step.zero))
        manifest_steps.append(ManifestStep(step.kind, tuple(f.name for f in step.functions), arg))
    out: Dict[str, Any] = {"kind": output.kind, **dict(output.params)}
    spec = output.partitioner
    if spec is not None:
        if spec.kind == "function":
            assert spec.function is not None
            out["partitioner"] = {"kind": "function", "function": spec.function.name}
            bindings = bindings.with_function(spec.function, method)
        elif spec.kind == "range":
            assert spec.range_func is not None
            out["partitioner"] = {
                "kind": "range",
                "bounds_arg": len(args),
                "ascending": spec.range_func.ascending,
            }
            args.append(pickled(spec.range_func.bounds))
        else:
            out["partitioner"] = {"kind": "hash"}
    manifest = Manifest(
        module_digest=module.digest,
        input=encoding,
        source=None if source is None else (source.function.name, source.side),
        steps=manifest_steps,
        output=out,
        function_kinds=module.function_kinds(),
        args=args,
        broadcasts={name: broadcast_id(bc) for name, bc in bindings.broadcasts.items()},
        accumulators={name: acc.aid for name, acc in bindings.accumulators.items()},
        spark_files=bindings.spark_files,
        policy=policy or {},
    )
    jbroadcasts = [bc._jbroadcast for bc in bindings.broadcasts.values()]
    return encode_command(manifest, module._bytes), jbroadcasts
