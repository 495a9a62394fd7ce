"""``WasmRDD``: a PySpark RDD whose transformations run WASM functions in the sparkwasm worker.

How it maps onto PySpark's machinery:

* PySpark composes consecutive Python transformations into one ``PipelinedRDD`` and so one
  ``PythonRDD`` on the JVM: one worker pass per chain of narrow steps. A ``WasmRDD`` does the
  same with WASM steps of one module: it extends a list of steps, and only when Spark needs
  the data does it build ONE ``PythonRDD`` whose ``SimplePythonFunction`` carries the sparkwasm
  command (see :mod:`sparkwasm._command`) and the worker binary as ``pythonExec``.
* ``WasmRDD`` is deliberately not a ``PipelinedRDD``: PySpark would otherwise try to compose
  its Python closures with ours. A Python transformation after a WASM one therefore starts a
  new ``PipelinedRDD`` that reads the worker's pickled output, exactly as after a cached RDD.
* A new worker pass starts after a cache/checkpoint (it reads the cached pickles), at a
  function of another module, and after a shuffle. Between two passes that nobody else reads,
  the first writes sparkwasm's binary batches, which the next decodes without pickle.
* ``reduceByKey`` mirrors ``RDD.partitionBy``: the map-side pass combines values locally and
  writes ``(partition, batch)`` frame pairs for ``PairwiseRDD``; the reduce side is a new pass
  over the shuffled batches that merges them again.

Element types are tracked as a (function, side) reference into the module's descriptors, so
steps that cannot fit together fail when the pipeline is defined, not on an executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Tuple, overload

from pyspark import RDD

try:
    from pyspark.core.rdd import Partitioner, portable_hash
except ImportError:  # PySpark 3.5 keeps them in pyspark.rdd
    from pyspark.rdd import Partitioner, portable_hash  # type: ignore[no-redef, import-not-found]
from pyspark.serializers import (
    AutoBatchedSerializer,
    BatchedSerializer,
    CloudPickleSerializer,
    CPickleSerializer,
    PickleSerializer,
    Serializer,
    UTF8Deserializer,
)

from ._command import Manifest, encode_command
from ._module import WasmFunction, WasmModule
from ._types import KeyPartitionFunc, normalize, split_pair
from ._worker import worker_path

if TYPE_CHECKING:
    from py4j.java_gateway import JavaObject  # type: ignore[import-untyped]
    from pyspark import SparkContext

__all__ = ["WasmRDD", "wrap"]

#: ``pyPartitionFunctionId`` of the JVM ``PythonPartitioner`` of sparkwasm shuffles ("SPWASM"
#: then 0x0001). PySpark uses ``id(partitionFunc)``, which differs between driver runs; ours is
#: one stable number because every sparkwasm shuffle uses the same hash.
PARTITIONER_ID = 0x5350_5741_534D_0001

#: Spark version the worker is told through the function's environment.
SPARK_VERSION_ENV = "SPARKWASM_SPARK_VERSION"

# RDD method -> (manifest step kind, descriptor kind its function must have)
_METHODS = {
    "map": ("map", "map"),
    "flatMap": ("flat_map", "flat_map"),
    "filter": ("filter", "filter"),
    "mapPartitions": ("map_partitions", "map_partitions"),
    "reduceByKey": ("reduce_by_key", "reduce"),
}

_UNSET: Any = object()


@dataclass(frozen=True)
class _TypeRef:
    """An element type, named by a function that consumes (``input``) or produces it."""

    function: WasmFunction
    side: str

    @property
    def spelled(self) -> str:
        return self.function.input if self.side == "input" else self.function.output

    def describe(self) -> str:
        return f"{self.spelled} (the {self.side} type of {self.function.name})"


class _PassInput:
    """Where a worker pass reads its records: a JavaRDD built on first use, and its encoding.

    Building lazily keeps unused JVM RDDs from being created while a pipeline is still being
    extended; memoizing keeps one JVM RDD (and so one shuffle) however often it is read.
    """

    def __init__(
        self,
        build: Callable[[], "JavaObject"],
        encoding: str,
        partitioner: Optional[Partitioner],
    ) -> None:
        self._build = build
        self._jrdd: Optional["JavaObject"] = None
        self.encoding = encoding
        self.partitioner = partitioner

    def jrdd(self) -> "JavaObject":
        if self._jrdd is None:
            self._jrdd = self._build()
        return self._jrdd


def _input_encoding(deserializer: Serializer) -> str:
    """The manifest ``input`` for records written by ``deserializer``'s counterpart."""
    # CPickleSerializer is an alias of one of these two, depending on PySpark's configuration.
    pickles = (CloudPickleSerializer, PickleSerializer, CPickleSerializer)
    # Exact types: subclasses such as FlattenedValuesSerializer frame records differently.
    if type(deserializer) in (BatchedSerializer, AutoBatchedSerializer):
        if isinstance(deserializer.serializer, pickles):  # type: ignore[attr-defined]
            return "pickle_batch"
    elif isinstance(deserializer, pickles):
        return "pickle_item"
    elif type(deserializer) is UTF8Deserializer:
        return "utf8"
    raise TypeError(
        f"sparkwasm cannot read this RDD's records: they are serialized with {deserializer!r}, "
        "and the sparkwasm worker reads pickled records (PySpark's default), UTF-8 text "
        "(sc.textFile) and its own output. Re-serialize first, e.g. rdd.map(lambda x: x) on a "
        "SparkContext whose serializer is a pickle serializer"
    )


def _kind_error(method: str, f: WasmFunction) -> TypeError:
    want = _METHODS[method][1]
    return TypeError(
        f"{method}() needs a function declared with #[sparkwasm::{want}], but {f.name!r} is a "
        f"{f.kind} function (#[sparkwasm::{f.kind}]: {f.info.signature()})"
    )


def _python_function(ctx: "SparkContext", command: bytes) -> "JavaObject":
    """A ``SimplePythonFunction`` that makes the executor run the sparkwasm worker on ``command``."""
    from py4j.java_collections import ListConverter, MapConverter  # type: ignore[import-untyped]

    client = ctx._gateway._gateway_client  # type: ignore[union-attr]
    env = dict(ctx.environment)
    # The worker speaks several Spark versions' protocols; tell it which one it is talking to.
    env[SPARK_VERSION_ENV] = ctx.version
    assert ctx._jvm is not None
    return ctx._jvm.SimplePythonFunction(
        bytearray(command),
        MapConverter().convert(env, client),
        ListConverter().convert([], client),  # Python includes: nothing to import in WASM
        worker_path(ctx),
        ctx.pythonVer,
        ListConverter().convert([], client),  # broadcast variables: none yet
        ctx._javaAccumulator,
    )


class WasmRDD(RDD[Any]):
    """An RDD whose ``map``, ``flatMap``, ``filter``, ``mapPartitions`` and ``reduceByKey`` accept
    :class:`sparkwasm.WasmFunction` handles; create one with :func:`sparkwasm.wrap`.

    Given a Python callable instead, those methods behave exactly like PySpark's (and return an
    ordinary RDD). Actions (``collect``, ``count``, ``take`` ...) and every other RDD method
    work as usual: the worker hands PySpark pickled batches of Python objects.
    """

    def __init__(
        self,
        ctx: "SparkContext",
        *,
        input: _PassInput,
        deserializer: Optional[Serializer] = None,
        module: Optional[WasmModule] = None,
        source: Optional[_TypeRef] = None,
        steps: Tuple[Tuple[str, WasmFunction], ...] = (),
        element_type: Optional[_TypeRef] = None,
        preserves_partitioning: bool = False,
        partitioner: Optional[Partitioner] = None,
    ) -> None:
        # RDD.__init__ wants a finished JavaRDD; like PipelinedRDD, set its attributes by hand
        # and build the JavaRDD on first use (the `_jrdd` property).
        self.ctx = ctx
        self.is_cached = False
        self.is_checkpointed = False
        self.has_resource_profile = False
        self.is_barrier = False
        self._id: Optional[int] = None
        # The worker writes each output frame as one pickled list: PySpark's batched format.
        self._jrdd_deserializer = deserializer or BatchedSerializer(CPickleSerializer())
        self.partitioner = partitioner
        self.preservesPartitioning = preserves_partitioning
        self._input = input
        self._module = module
        self._source = source
        self._steps = steps
        self._element_type = element_type
        self._jrdd_val: Optional["JavaObject"] = None
        self._binary_jrdd_val: Optional["JavaObject"] = None

    # --- what Spark and PySpark read ----------------------------------------------------------

    @property
    def _jrdd(self) -> "JavaObject":
        if self._jrdd_val is None:
            if not self._steps:
                self._jrdd_val = self._input.jrdd()
            else:
                self._jrdd_val = self._build({"kind": "pickle"})
        return self._jrdd_val

    def _binary_jrdd(self) -> "JavaObject":
        if self._binary_jrdd_val is None:
            self._binary_jrdd_val = self._build({"kind": "binary"})
        return self._binary_jrdd_val

    def id(self) -> int:
        if self._id is None:
            self._id = self._jrdd.id()
        return self._id

    def getNumPartitions(self) -> int:
        # A PythonRDD has its parent's partitions; asking the parent avoids building ours.
        return self._input.jrdd().partitions().size()

    def localCheckpoint(self) -> None:
        super().localCheckpoint()
        # PySpark does not flag this, but a later WASM pass must read the checkpointed data.
        self.is_checkpointed = True

    def _is_pipelinable(self) -> bool:
        return not (self.is_cached or self.is_checkpointed or self.has_resource_profile)

    def __repr__(self) -> str:
        if not self._steps:
            return f"WasmRDD(no WASM steps yet, input={self._input.encoding})"
        assert self._module is not None
        steps = ", ".join(f"{kind} {f.name}" for kind, f in self._steps)
        return f"WasmRDD(module={self._module.digest[:12]}, input={self._input.encoding}, steps=[{steps}])"

    # --- transformations -----------------------------------------------------------------------

    # The overloads tell type checkers that WASM steps keep a WasmRDD (so chains type-check)
    # while Python callables give PySpark's RDD.

    @overload
    def map(self, f: WasmFunction, preservesPartitioning: bool = False) -> "WasmRDD": ...

    @overload
    def map(self, f: Callable[[Any], Any], preservesPartitioning: bool = False) -> RDD[Any]: ...

    def map(self, f: Any, preservesPartitioning: bool = False) -> RDD[Any]:
        """``map`` with a ``#[sparkwasm::map]`` function, or PySpark's ``map`` with a callable."""
        if isinstance(f, WasmFunction):
            return self._then("map", f, preservesPartitioning)
        return super().map(f, preservesPartitioning)

    @overload
    def flatMap(self, f: WasmFunction, preservesPartitioning: bool = False) -> "WasmRDD": ...

    @overload
    def flatMap(
        self, f: Callable[[Any], Iterable[Any]], preservesPartitioning: bool = False
    ) -> RDD[Any]: ...

    def flatMap(self, f: Any, preservesPartitioning: bool = False) -> RDD[Any]:
        """``flatMap`` with a ``#[sparkwasm::flat_map]`` function, or PySpark's with a callable."""
        if isinstance(f, WasmFunction):
            return self._then("flatMap", f, preservesPartitioning)
        return super().flatMap(f, preservesPartitioning)

    @overload
    def filter(self, f: WasmFunction) -> "WasmRDD": ...

    @overload
    def filter(self, f: Callable[[Any], bool]) -> RDD[Any]: ...

    def filter(self, f: Any) -> RDD[Any]:
        """``filter`` with a ``#[sparkwasm::filter]`` function, or PySpark's with a callable."""
        if isinstance(f, WasmFunction):
            return self._then("filter", f, True)
        return super().filter(f)

    @overload
    def mapPartitions(self, f: WasmFunction, preservesPartitioning: bool = False) -> "WasmRDD": ...

    @overload
    def mapPartitions(
        self, f: Callable[[Iterable[Any]], Iterable[Any]], preservesPartitioning: bool = False
    ) -> RDD[Any]: ...

    def mapPartitions(self, f: Any, preservesPartitioning: bool = False) -> RDD[Any]:
        """``mapPartitions`` with a ``#[sparkwasm::map_partitions]`` function, or PySpark's."""
        if isinstance(f, WasmFunction):
            return self._then("mapPartitions", f, preservesPartitioning)
        return super().mapPartitions(f, preservesPartitioning)

    @overload
    def reduceByKey(self, func: WasmFunction, numPartitions: Optional[int] = None) -> "WasmRDD": ...

    @overload
    def reduceByKey(
        self,
        func: Callable[[Any, Any], Any],
        numPartitions: Optional[int] = None,
        partitionFunc: Callable[[Any], int] = ...,
    ) -> RDD[Any]: ...

    def reduceByKey(
        self,
        func: Any,
        numPartitions: Optional[int] = None,
        partitionFunc: Any = _UNSET,
    ) -> RDD[Any]:
        """Merges the values of each key with a ``#[sparkwasm::reduce]`` function.

        Values are combined on the map side first, as PySpark does. The result has
        ``numPartitions`` partitions (default: PySpark's ``_defaultReducePartitions()``),
        assigned by a stable hash of each key's binary encoding computed in the worker, so
        ``partitionFunc`` cannot be chosen. Given a Python callable, this is PySpark's
        ``reduceByKey``.
        """
        if not isinstance(func, WasmFunction):
            if partitionFunc is _UNSET:
                partitionFunc = portable_hash
            return super().reduceByKey(func, numPartitions, partitionFunc)
        if partitionFunc is not _UNSET:
            raise TypeError(
                f"reduceByKey({func.name}) does not take partitionFunc: the sparkwasm worker "
                "partitions keys by a stable hash of their binary encoding. Repartition the "
                "result with .partitionBy(n, partitionFunc) if you need another layout"
            )
        if numPartitions is None:
            n = self._defaultReducePartitions()
        elif isinstance(numPartitions, int) and not isinstance(numPartitions, bool) and numPartitions >= 1:
            n = numPartitions
        else:
            raise ValueError(f"numPartitions must be a positive int, got {numPartitions!r}")

        combined = self._then("reduceByKey", func, True)
        pair_type = combined._element_type
        assert pair_type is not None
        key_type = split_pair(pair_type.spelled)
        assert key_type is not None  # _then checked that it is a pair
        partitioner = Partitioner(n, KeyPartitionFunc(key_type[0]))
        ctx = self.ctx

        def shuffle() -> "JavaObject":
            # Exactly PySpark's RDD.partitionBy, with the worker doing the bucketing.
            assert ctx._jvm is not None
            map_side = combined._build({"kind": "shuffle", "partitions": n})
            pair_rdd = ctx._jvm.PairwiseRDD(map_side.rdd()).asJavaPairRDD()
            jpartitioner = ctx._jvm.PythonPartitioner(n, PARTITIONER_ID)
            return ctx._jvm.PythonRDD.valueOfPair(pair_rdd.partitionBy(jpartitioner))

        return WasmRDD(
            ctx,
            input=_PassInput(shuffle, "binary", partitioner),
            module=func.module,
            source=pair_type,
            steps=(("reduce_by_key", func),),
            element_type=pair_type,
            preserves_partitioning=True,
            partitioner=partitioner,
        )

    # --- internals -----------------------------------------------------------------------------

    def _then(self, method: str, f: WasmFunction, preserves: bool) -> "WasmRDD":
        """This RDD followed by one WASM step: in the same worker pass when possible."""
        step_kind, want = _METHODS[method]
        if f.kind != want:
            raise _kind_error(method, f)
        element_type = self._next_element_type(method, step_kind, f)
        step = (step_kind, f)
        if self._steps and self._module == f.module and self._is_pipelinable():
            keep = self.preservesPartitioning and preserves
            return WasmRDD(
                self.ctx,
                input=self._input,
                module=self._module,
                source=self._source,
                steps=self._steps + (step,),
                element_type=element_type,
                preserves_partitioning=keep,
                partitioner=self.partitioner if keep else None,
            )
        upstream = self._as_input()
        return WasmRDD(
            self.ctx,
            input=upstream,
            module=f.module,
            source=self._new_source(method, step_kind, f),
            steps=(step,),
            element_type=element_type,
            preserves_partitioning=preserves,
            partitioner=upstream.partitioner if preserves else None,
        )

    def _next_element_type(self, method: str, step_kind: str, f: WasmFunction) -> _TypeRef:
        """Checks that ``f`` accepts this RDD's elements; returns the element type after it."""
        current = self._element_type
        if step_kind == "reduce_by_key":
            if current is None:
                raise TypeError(
                    f"reduceByKey({f.name}) cannot be the first WASM step after "
                    f"sparkwasm.wrap(): the worker must know the Rust type of the (K, {f.input}) "
                    "records, and only a WASM function names it. Apply a #[sparkwasm::map] "
                    f"function of the same module that produces (K, {f.input}) pairs first"
                )
            pair = split_pair(current.spelled)
            if pair is None or normalize(pair[1]) != normalize(f.input):
                raise TypeError(
                    f"reduceByKey({f.name}) merges {f.input} values and needs (K, {f.input}) "
                    f"records, but this RDD holds {current.describe()}"
                )
            return current
        if current is not None and normalize(current.spelled) != normalize(f.input):
            raise TypeError(
                f"{method}({f.name}) expects {f.input} records, but this RDD holds "
                f"{current.describe()}"
            )
        if step_kind == "filter":
            return current if current is not None else _TypeRef(f, "input")
        return _TypeRef(f, "output")

    def _new_source(self, method: str, step_kind: str, f: WasmFunction) -> _TypeRef:
        """The ``source`` of a new pass whose first step is ``f``: it must name a function of
        ``f``'s module, since the worker only has that module."""
        current = self._element_type
        if current is not None and current.function.module == f.module:
            return current
        if step_kind == "reduce_by_key":
            assert current is not None  # _next_element_type refused the other case
            raise TypeError(
                f"reduceByKey({f.name}) is from module {f.module.digest[:12]}, but the records "
                f"were produced by module {current.function.module.digest[:12]}; the worker can "
                "only name their (K, V) type with a function of the reducing module. Apply a "
                f"#[sparkwasm::map] function of {f.name}'s module first"
            )
        return _TypeRef(f, "input")

    def _as_input(self) -> _PassInput:
        """This RDD as the input of a new worker pass."""
        if not self._steps:
            return self._input
        if not self._is_pipelinable():
            # Cached or checkpointed: read what Spark stored, the pickled output.
            return _PassInput(lambda: self._jrdd, "pickle_batch", self.partitioner)
        return _PassInput(self._binary_jrdd, "binary", self.partitioner)

    def _build(self, output: dict) -> "JavaObject":
        """The JavaRDD of this pass writing ``output``: one ``PythonRDD`` over the input."""
        assert self._module is not None and self._source is not None and self._steps
        manifest = Manifest(
            module_digest=self._module.digest,
            input=self._input.encoding,
            source=(self._source.function.name, self._source.side),
            steps=[(kind, f.name) for kind, f in self._steps],
            output=output,
            function_kinds=self._module.function_kinds(),
        )
        command = encode_command(manifest, self._module._bytes)
        parent = self._input.jrdd()  # upstream passes first, as Spark's lineage goes
        func = _python_function(self.ctx, command)
        assert self.ctx._jvm is not None
        python_rdd = self.ctx._jvm.PythonRDD(parent.rdd(), func, self.preservesPartitioning, False)
        return python_rdd.asJavaRDD()


def wrap(rdd: RDD[Any]) -> WasmRDD:
    """``rdd`` as a :class:`WasmRDD`, whose transformations accept WASM functions.

    The RDD's records must be pickled (PySpark's default), UTF-8 text (``sc.textFile``) or a
    sparkwasm RDD's output; anything else raises ``TypeError`` naming its serializer.
    """
    if isinstance(rdd, WasmRDD):
        return rdd
    if not isinstance(rdd, RDD):
        hint = " (for a DataFrame, use df.rdd)" if hasattr(rdd, "rdd") else ""
        raise TypeError(f"sparkwasm.wrap needs a PySpark RDD, got {type(rdd).__name__}{hint}")
    encoding = _input_encoding(rdd._jrdd_deserializer)
    return WasmRDD(
        rdd.ctx,
        input=_PassInput(lambda: rdd._jrdd, encoding, rdd.partitioner),
        deserializer=rdd._jrdd_deserializer,
        preserves_partitioning=True,
        partitioner=rdd.partitioner,
    )
