"""``WasmRDD``: a PySpark RDD whose operations run WASM functions in the sparkwasm worker.

How it maps onto PySpark's machinery:

* PySpark composes consecutive Python transformations into one ``PipelinedRDD`` and so one
  ``PythonRDD`` on the JVM: one worker pass per chain of narrow steps. A ``WasmRDD`` does the
  same with WASM steps of one module: it extends a tuple of steps, and only when Spark needs
  the data does it build ONE ``PythonRDD`` whose ``SimplePythonFunction`` carries the sparkwasm
  command (see :mod:`sparkwasm._command`), the worker binary as ``pythonExec`` and the
  broadcasts its functions use.
* ``WasmRDD`` is deliberately not a ``PipelinedRDD``: PySpark would otherwise try to compose
  its Python closures with ours. A Python transformation after a WASM one therefore starts a
  new ``PipelinedRDD`` that reads the worker's pickled output, exactly as after a cached RDD.
* A new worker pass starts after a cache/checkpoint (it reads the cached pickles), at a
  function of another module, and after a shuffle or a coalesce. Between two passes that
  nobody else reads, the first writes sparkwasm's binary batches, which the next decodes
  without pickle.
* Shuffles mirror ``RDD.partitionBy``: the map-side pass (after combining values locally
  where the operation allows) writes ``(partition, batch)`` frame pairs for ``PairwiseRDD``;
  the reduce side is a new pass over the shuffled batches. Joins tag each side's values in
  its own pass and shuffle the JVM union of both.
* Actions never run Python on the executors when the RDD is WASM output: ``count``, ``take``,
  ``saveAsTextFile``, ``sum``, ``countByKey``... ask the worker for their own output (a count,
  the first ``n`` elements, text lines, ...); ``reduce``, ``fold``, ``aggregate``, ``max``,
  ``top``... run a partial pass per partition, coalesce the partials into one partition and
  finish there with a second pass; only the few results travel to the driver as pickles.

Element types are tracked as in :mod:`sparkwasm._pass`, so steps that cannot fit together
fail when the pipeline is defined, not on an executor.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from functools import reduce as _reduce
from math import ceil
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Optional,
    Sequence,
    Tuple,
    overload,
)

from pyspark import RDD

try:
    from pyspark.core.rdd import Partitioner, portable_hash
except ImportError:  # PySpark 3.5 keeps them in pyspark.rdd
    from pyspark.rdd import Partitioner, portable_hash  # type: ignore[no-redef, import-not-found]
try:
    from pyspark.util import _load_from_socket
except ImportError:  # PySpark 3.5
    from pyspark.rdd import _load_from_socket  # type: ignore[no-redef, attr-defined]
from pyspark.serializers import (
    AutoBatchedSerializer,
    BatchedSerializer,
    CloudPickleSerializer,
    CPickleSerializer,
    PairDeserializer,
    PickleSerializer,
    Serializer,
    UTF8Deserializer,
)
from pyspark.traceback_utils import SCCallSiteSync

from ._command import JOIN_KINDS
from ._module import WasmFunction, WasmModule
from ._partition import RangePartitionFunc, canonical_hash, order_key
from ._policy import job_policy
from ._pass import (
    BINARY,
    COUNT,
    HASH,
    PICKLE,
    TEXT,
    Bindings,
    Element,
    Output,
    PartitionSpec,
    PassInput,
    Step,
    advance,
    build_command,
    TypeRef,
    choose_source,
    needs_values_for,
    zero_step,
)
from ._types import normalize, split_pair
from ._worker import worker_path

if TYPE_CHECKING:
    from py4j.java_gateway import JavaObject  # type: ignore[import-untyped]
    from pyspark import SparkContext

__all__ = ["WasmRDD", "wrap"]

#: Spark version the worker is told through the function's environment.
SPARK_VERSION_ENV = "SPARKWASM_SPARK_VERSION"

_UNSET: Any = object()


# --- the JVM side: every call that builds or runs something goes through these -------------


def _python_function(
    ctx: "SparkContext", command: bytes, broadcasts: Sequence["JavaObject"] = ()
) -> "JavaObject":
    """A ``SimplePythonFunction`` making the executor run the sparkwasm worker on ``command``."""
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
        # The JVM ships these broadcasts' data to the worker with every task.
        ListConverter().convert(list(broadcasts), client),
        ctx._javaAccumulator,
    )


#: How the driver reads what the worker wrote for it: pickled lists, as PySpark's batches.
_RESULTS = BatchedSerializer(CPickleSerializer())


def _collect(ctx: "SparkContext", jrdd: "JavaObject") -> List[Any]:
    """Runs a job over every partition of ``jrdd`` (pickle records) and returns the elements."""
    assert ctx._jvm is not None
    with SCCallSiteSync(ctx):
        sock_info = ctx._jvm.PythonRDD.collectAndServe(jrdd.rdd())
    with _load_from_socket(sock_info, _RESULTS) as stream:
        return list(stream)


def _run_job(ctx: "SparkContext", jrdd: "JavaObject", partitions: List[int]) -> List[Any]:
    """Runs a job over some partitions of ``jrdd`` (pickle records), as ``SparkContext.runJob``."""
    assert ctx._jvm is not None
    jsc = ctx._jsc.sc()  # type: ignore[union-attr]
    sock_info = ctx._jvm.PythonRDD.runJob(jsc, jrdd, partitions)
    with _load_from_socket(sock_info, _RESULTS) as stream:
        return list(stream)


def _save_text(ctx: "SparkContext", jrdd: "JavaObject", path: str, codec: Optional[str]) -> None:
    """Saves UTF-8 records as text lines, exactly as ``RDD.saveAsTextFile`` does."""
    assert ctx._jvm is not None
    lines = jrdd.map(ctx._jvm.BytesToString())
    if codec:
        lines.saveAsTextFile(path, getattr(ctx._jvm, "java.lang.Class").forName(codec))
    else:
        lines.saveAsTextFile(path)


def _shuffle(
    ctx: "SparkContext", map_sides: List["JavaObject"], partitions: int, jvm_id: int
) -> "JavaObject":
    """The shuffled records of map-side passes writing ``(partition, batch)`` pairs: what
    ``RDD.partitionBy`` does with its ``add_shuffle_key`` output."""
    assert ctx._jvm is not None
    jvm = ctx._jvm
    records = map_sides[0]
    for other in map_sides[1:]:
        records = records.union(other)
    with SCCallSiteSync(ctx):
        pairs = jvm.PairwiseRDD(records.rdd()).asJavaPairRDD()
        partitioner = jvm.PythonPartitioner(partitions, jvm_id)
    return jvm.PythonRDD.valueOfPair(pairs.partitionBy(partitioner))


# --- reading PySpark's RDDs ------------------------------------------------------------------


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
    elif type(deserializer) is PairDeserializer:
        key, value = deserializer.key_ser, deserializer.val_ser  # type: ignore[attr-defined]
        if type(key) is UTF8Deserializer and type(value) is UTF8Deserializer:
            return "utf8_pairs"
    raise TypeError(
        f"sparkwasm cannot read this RDD's records: they are serialized with {deserializer!r}, "
        "and the sparkwasm worker reads pickled records (PySpark's default), UTF-8 text "
        "(sc.textFile, sc.wholeTextFiles) and its own output. Re-serialize first, e.g. "
        "rdd.map(lambda x: x) on a SparkContext whose serializer is a pickle serializer"
    )


# --- argument checks -------------------------------------------------------------------------


def _need(method: str, f: Any, kind: str, what: str = "a function") -> WasmFunction:
    """``f`` if it is a WASM function of descriptor kind ``kind``; raises ``TypeError`` if not."""
    if not isinstance(f, WasmFunction):
        raise TypeError(
            f"{method}() needs {what} declared with #[sparkwasm::{kind}] here, got "
            f"{type(f).__name__}; WASM functions and Python callables cannot be mixed in one call"
        )
    if f.kind != kind:
        raise TypeError(
            f"{method}() needs {what} declared with #[sparkwasm::{kind}], but {f.name!r} is a "
            f"{f.kind} function (#[sparkwasm::{f.kind}]: {f.info.signature()})"
        )
    return f


def _any_wasm(method: str, *functions: Any) -> bool:
    """True when the given functions are WASM functions, False when they are Python callables
    (``None``s are ignored); a mix raises ``TypeError``."""
    given = [f for f in functions if f is not None and f is not _UNSET]
    wasm = [isinstance(f, WasmFunction) for f in given]
    if wasm and all(wasm):
        return True
    if not any(wasm):
        return False
    raise TypeError(
        f"{method}() got both WASM functions and Python callables; pass only WASM functions "
        "(run by the sparkwasm worker) or only Python callables (run by PySpark)"
    )


def _by_key_wasm(method: str, partitionFunc: Any, *functions: Any) -> bool:
    """As :func:`_any_wasm` for the functions of a by-key operation; a WASM ``partitionFunc``
    needs WASM functions (a Python ``partitionFunc`` with WASM ones is refused later)."""
    wasm = _any_wasm(method, *functions)
    if not wasm and isinstance(partitionFunc, WasmFunction):
        raise TypeError(
            f"{method}(): partitionFunc {partitionFunc.name} is a WASM function, so the other "
            "functions must be WASM functions too: Python functions run in PySpark's workers, "
            "which cannot call it"
        )
    return wasm


def _same_type(method: str, a: WasmFunction, a_side: str, b: WasmFunction, b_side: str) -> None:
    spelled_a = a.output if a_side == "output" else a.input
    spelled_b = b.output if b_side == "output" else b.input
    if normalize(spelled_a) != normalize(spelled_b):
        raise TypeError(
            f"{method}(): the {a_side} type of {a.name} ({spelled_a}) must be the {b_side} type "
            f"of {b.name} ({spelled_b})"
        )


def _one_module(method: str, *functions: WasmFunction) -> None:
    """Functions one call combines run in the same worker passes, so in the same module."""
    modules = {f.module for f in functions}
    if len(modules) > 1:
        names = ", ".join(f"{f.name} ({f.module.digest[:12]})" for f in functions)
        raise TypeError(f"{method}(): the functions must come from one module, got {names}")


def _positive(method: str, numPartitions: Any) -> int:
    if isinstance(numPartitions, int) and not isinstance(numPartitions, bool):
        if numPartitions >= 1:
            return numPartitions
    raise ValueError(f"{method}(): numPartitions must be a positive int, got {numPartitions!r}")


def _wasm_partitioner(method: str, partitionFunc: Any) -> Optional[PartitionSpec]:
    """The partitioning a ``partitionFunc`` argument asks for: sparkwasm's hash when left out,
    a WASM ``partitioner`` function, or ``None`` for a Python callable."""
    if partitionFunc is _UNSET or partitionFunc is canonical_hash:
        return HASH
    if isinstance(partitionFunc, WasmFunction):
        function = _need(method, partitionFunc, "partitioner", "partitionFunc")
        return PartitionSpec("function", function)
    return None


def _python_partitioner(partitionFunc: Any) -> Any:
    return portable_hash if partitionFunc is _UNSET else partitionFunc


class WasmRDD(RDD[Any]):
    """An RDD whose operations accept :class:`sparkwasm.WasmFunction` handles and run in the
    sparkwasm worker; create one with :func:`sparkwasm.wrap`.

    Each method follows PySpark's semantics (partitioning, ``preservesPartitioning``,
    ``numPartitions`` defaults, result order) and takes WASM functions of the kind its
    arguments need (``map`` takes a ``#[sparkwasm::map]`` function, ``aggregateByKey`` a
    ``seq_op`` and a ``reduce``, ``keyBy``/``sortBy``/``max(key=)`` a ``key`` function,
    ``partitionBy`` a ``partitioner``, ...). Given Python callables instead, a method is
    PySpark's own (and returns an ordinary RDD). Operations without functions (``groupByKey``,
    ``join``, ``distinct``, ``count``, ``collect``, ``take``, ``saveAsTextFile``, ...) run in
    the worker when the RDD has a module: when it is the output of WASM functions, or was
    wrapped with ``module=``. Otherwise they are PySpark's.

    Differences from PySpark, all from the worker's value model:

    * ``groupByKey``, ``groupBy`` and ``cogroup`` give lists, not ``ResultIterable``\\ s.
    * Keys are equal when their identities are (:func:`sparkwasm.key_identity`): Python's
      ``==`` for the value model (``1``, ``1.0`` and ``True`` are one key; so are ``0.0`` and
      ``-0.0``), except that a ``NaN`` key equals another ``NaN`` with the same bits.
    * Elements must be ``None``, ``bool``, ``int`` (i64 or u64 range), ``float``, ``str``,
      ``bytes``, ``tuple``, ``list`` or ``dict``; ``sortByKey`` orders mixed kinds by
      :func:`sparkwasm.order_key` where Python would raise.
    * Dicts that pass through the worker may come back with their keys in another order
      (equal as Python compares dicts), so the driver cannot tell where a key holding a dict
      was hash-partitioned.
    """

    def __init__(
        self,
        ctx: "SparkContext",
        *,
        input: PassInput,
        module: Optional[WasmModule] = None,
        source: Optional[TypeRef] = None,
        steps: Tuple[Step, ...] = (),
        element: Element = None,
        bindings: Bindings = Bindings(),
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
        passthrough = not steps and input.encoding != "binary"
        if passthrough and input.deserializer is not None:
            self._jrdd_deserializer = input.deserializer
        else:
            # The worker writes each output frame as one pickled list: PySpark's batched format.
            self._jrdd_deserializer = BatchedSerializer(CPickleSerializer())
        self.partitioner = partitioner
        self.preservesPartitioning = preserves_partitioning
        self._input = input
        self._module = module
        self._source = source
        self._steps = steps
        self._element = element
        self._bindings = bindings
        self._jrdd_val: Optional["JavaObject"] = None
        self._binary_jrdd_val: Optional["JavaObject"] = None
        self._dynamized_val: Optional["WasmRDD"] = None

    # --- what Spark and PySpark read ----------------------------------------------------------

    @property
    def _jrdd(self) -> "JavaObject":
        if self._jrdd_val is None:
            if not self._steps and self._input.encoding != "binary":
                self._jrdd_val = self._input.jrdd()
            else:
                self._jrdd_val = self._build(PICKLE)
        return self._jrdd_val

    def _binary_jrdd(self) -> "JavaObject":
        if self._binary_jrdd_val is None:
            self._binary_jrdd_val = self._build(BINARY)
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

    @property
    def module(self) -> Optional[WasmModule]:
        """The module this RDD's worker passes run, or ``None`` before any WASM step."""
        return self._module

    def __repr__(self) -> str:
        if self._module is None:
            return f"WasmRDD(no module yet, input={self._input.encoding})"
        steps = ", ".join(s.describe() for s in self._steps)
        return (
            f"WasmRDD(module={self._module.digest[:12]}, input={self._input.encoding}, "
            f"steps=[{steps}])"
        )

    # --- narrow transformations ----------------------------------------------------------------
    #
    # The overloads tell type checkers that WASM steps keep a WasmRDD (so chains type-check)
    # while Python callables give PySpark's RDD.

    @overload
    def map(self, f: WasmFunction, preservesPartitioning: bool = False) -> "WasmRDD": ...

    @overload
    def map(self, f: Callable[[Any], Any], preservesPartitioning: bool = False) -> RDD[Any]: ...

    def map(self, f: Any, preservesPartitioning: bool = False) -> RDD[Any]:
        """``map`` with a ``#[sparkwasm::map]`` function, or PySpark's ``map`` with a callable."""
        if _any_wasm("map", f):
            step = Step("map", (_need("map", f, "map"),))
            return self._narrow("map", step, preservesPartitioning)
        return super().map(f, preservesPartitioning)

    @overload
    def flatMap(self, f: WasmFunction, preservesPartitioning: bool = False) -> "WasmRDD": ...

    @overload
    def flatMap(
        self, f: Callable[[Any], Iterable[Any]], preservesPartitioning: bool = False
    ) -> RDD[Any]: ...

    def flatMap(self, f: Any, preservesPartitioning: bool = False) -> RDD[Any]:
        """``flatMap`` with a ``#[sparkwasm::flat_map]`` function, or PySpark's with a callable."""
        if _any_wasm("flatMap", f):
            step = Step("flat_map", (_need("flatMap", f, "flat_map"),))
            return self._narrow("flatMap", step, preservesPartitioning)
        return super().flatMap(f, preservesPartitioning)

    @overload
    def filter(self, f: WasmFunction) -> "WasmRDD": ...

    @overload
    def filter(self, f: Callable[[Any], bool]) -> RDD[Any]: ...

    def filter(self, f: Any) -> RDD[Any]:
        """``filter`` with a ``#[sparkwasm::filter]`` function, or PySpark's with a callable."""
        if _any_wasm("filter", f):
            return self._narrow("filter", Step("filter", (_need("filter", f, "filter"),)), True)
        return super().filter(f)

    @overload
    def mapPartitions(self, f: WasmFunction, preservesPartitioning: bool = False) -> "WasmRDD": ...

    @overload
    def mapPartitions(
        self, f: Callable[[Iterable[Any]], Iterable[Any]], preservesPartitioning: bool = False
    ) -> RDD[Any]: ...

    def mapPartitions(self, f: Any, preservesPartitioning: bool = False) -> RDD[Any]:
        """``mapPartitions`` with a ``#[sparkwasm::map_partitions]`` function, or PySpark's."""
        if _any_wasm("mapPartitions", f):
            step = Step("map_partitions", (_need("mapPartitions", f, "map_partitions"),))
            return self._narrow("mapPartitions", step, preservesPartitioning)
        return super().mapPartitions(f, preservesPartitioning)

    def mapPartitionsWithIndex(self, f: Any, preservesPartitioning: bool = False) -> RDD[Any]:
        """``mapPartitionsWithIndex`` with a ``#[sparkwasm::map_partitions_with_index]``
        function (called with the partition index and the partition), or PySpark's."""
        if _any_wasm("mapPartitionsWithIndex", f):
            need = _need("mapPartitionsWithIndex", f, "map_partitions_with_index")
            step = Step("map_partitions_with_index", (need,))
            return self._narrow("mapPartitionsWithIndex", step, preservesPartitioning)
        return super().mapPartitionsWithIndex(f, preservesPartitioning)

    def mapValues(self, f: Any) -> RDD[Any]:
        """``(k, v) -> (k, f(v))`` with a ``#[sparkwasm::map]`` function; keeps the partitioner."""
        if _any_wasm("mapValues", f):
            step = Step("map_values", (_need("mapValues", f, "map"),))
            return self._narrow("mapValues", step, True)
        return super().mapValues(f)

    def flatMapValues(self, f: Any) -> RDD[Any]:
        """``(k, v) -> (k, w)`` for each ``w`` in ``f(v)``, with a ``#[sparkwasm::flat_map]``
        function; keeps the partitioner."""
        if _any_wasm("flatMapValues", f):
            step = Step("flat_map_values", (_need("flatMapValues", f, "flat_map"),))
            return self._narrow("flatMapValues", step, True)
        return super().flatMapValues(f)

    def keyBy(self, f: Any) -> RDD[Any]:
        """``x -> (f(x), x)`` with a ``#[sparkwasm::key]`` function."""
        if _any_wasm("keyBy", f):
            return self._narrow("keyBy", Step("key_by", (_need("keyBy", f, "key"),)), False)
        return super().keyBy(f)

    def keys(self) -> RDD[Any]:
        """The keys of ``(k, v)`` elements."""
        if self._module is None:
            return super().keys()
        return self._extend((Step("keys"),), self._module, False, "keys")

    def values(self) -> RDD[Any]:
        """The values of ``(k, v)`` elements."""
        if self._module is None:
            return super().values()
        return self._extend((Step("values"),), self._module, False, "values")

    # --- by-key operations (shuffles) -------------------------------------------------------

    def reduceByKey(
        self, func: Any, numPartitions: Optional[int] = None, partitionFunc: Any = _UNSET
    ) -> RDD[Any]:
        """Merges the values of each key with a ``#[sparkwasm::reduce]`` function.

        Values are combined on the map side first, as PySpark does. The result has
        ``numPartitions`` partitions (default: PySpark's ``_defaultReducePartitions()``) and is
        partitioned by sparkwasm's hash of the keys (:func:`sparkwasm.canonical_hash`), or by
        ``partitionFunc``, a ``#[sparkwasm::partitioner]`` function. Given a Python callable,
        this is PySpark's ``reduceByKey``.
        """
        if not _by_key_wasm("reduceByKey", partitionFunc, func):
            return super().reduceByKey(func, numPartitions, _python_partitioner(partitionFunc))
        f = _need("reduceByKey", func, "reduce")
        step = Step("reduce_by_key", (f,))
        steps = (step,)
        return self._by_key(
            "reduceByKey", steps, steps, steps, numPartitions, partitionFunc, f.module
        )

    def foldByKey(
        self,
        zeroValue: Any,
        func: Any,
        numPartitions: Optional[int] = None,
        partitionFunc: Any = _UNSET,
    ) -> RDD[Any]:
        """Folds the values of each key with a ``#[sparkwasm::reduce]`` function, starting each
        map-side partition from ``zeroValue`` (plain data, decoded by the guest as ``V``)."""
        if not _by_key_wasm("foldByKey", partitionFunc, func):
            return super().foldByKey(
                zeroValue, func, numPartitions, _python_partitioner(partitionFunc)
            )
        f = _need("foldByKey", func, "reduce")
        fold = zero_step("fold_by_key", f, zeroValue, "foldByKey")
        merge = Step("reduce_by_key", (f,))
        return self._by_key(
            "foldByKey", (fold,), (merge,), (fold,), numPartitions, partitionFunc, f.module
        )

    def aggregateByKey(
        self,
        zeroValue: Any,
        seqFunc: Any,
        combFunc: Any,
        numPartitions: Optional[int] = None,
        partitionFunc: Any = _UNSET,
    ) -> RDD[Any]:
        """Aggregates the values of each key: ``seqFunc`` (``#[sparkwasm::seq_op]``,
        ``fn(U, V) -> U``) folds values into ``zeroValue`` on the map side, ``combFunc``
        (``#[sparkwasm::reduce]`` over ``U``) merges the partial results."""
        if not _by_key_wasm("aggregateByKey", partitionFunc, seqFunc, combFunc):
            return super().aggregateByKey(
                zeroValue, seqFunc, combFunc, numPartitions, _python_partitioner(partitionFunc)
            )
        seq = _need("aggregateByKey", seqFunc, "seq_op", "seqFunc")
        comb = _need("aggregateByKey", combFunc, "reduce", "combFunc")
        _same_type("aggregateByKey", seq, "output", comb, "input")
        _one_module("aggregateByKey", seq, comb)
        local = zero_step("aggregate_by_key", seq, zeroValue, "aggregateByKey")
        merge = Step("reduce_by_key", (comb,))
        return self._by_key(
            "aggregateByKey", (local,), (merge,), (local,), numPartitions, partitionFunc, seq.module
        )

    def combineByKey(
        self,
        createCombiner: Any,
        mergeValue: Any,
        mergeCombiners: Any,
        numPartitions: Optional[int] = None,
        partitionFunc: Any = _UNSET,
    ) -> RDD[Any]:
        """Combines the values of each key: ``createCombiner`` (``#[sparkwasm::map]``, ``V ->
        C``), ``mergeValue`` (``#[sparkwasm::seq_op]``, ``fn(C, V) -> C``) and
        ``mergeCombiners`` (``#[sparkwasm::reduce]`` over ``C``)."""
        method = "combineByKey"
        if not _by_key_wasm(method, partitionFunc, createCombiner, mergeValue, mergeCombiners):
            return super().combineByKey(
                createCombiner,
                mergeValue,
                mergeCombiners,
                numPartitions,
                _python_partitioner(partitionFunc),
            )
        create = _need(method, createCombiner, "map", "createCombiner")
        merge_value = _need(method, mergeValue, "seq_op", "mergeValue")
        merge_combiners = _need(method, mergeCombiners, "reduce", "mergeCombiners")
        _same_type(method, create, "input", merge_value, "input")
        _same_type(method, create, "output", merge_value, "output")
        _same_type(method, create, "output", merge_combiners, "input")
        _one_module(method, create, merge_value, merge_combiners)
        local = Step("combine_by_key", (create, merge_value))
        merge = Step("reduce_by_key", (merge_combiners,))
        return self._by_key(
            method, (local,), (merge,), (local,), numPartitions, partitionFunc, create.module
        )

    def groupByKey(
        self, numPartitions: Optional[int] = None, partitionFunc: Any = _UNSET
    ) -> RDD[Any]:
        """Groups the values of each key into a **list** (PySpark gives a ``ResultIterable``),
        values in arrival order. Runs in the worker when this RDD has a module and
        ``partitionFunc`` is not a Python callable."""
        spec = _wasm_partitioner("groupByKey", partitionFunc)
        if spec is None or (self._module is None and spec.function is None):
            return super().groupByKey(numPartitions, _python_partitioner(partitionFunc))
        group = Step("group_by_key")
        return self._by_key(
            "groupByKey", (), (group,), (group,), numPartitions, partitionFunc, None
        )

    def groupBy(
        self, f: Any, numPartitions: Optional[int] = None, partitionFunc: Any = _UNSET
    ) -> RDD[Any]:
        """Groups elements by the key a ``#[sparkwasm::key]`` function gives them: ``(key,
        [elements])``."""
        if not _by_key_wasm("groupBy", partitionFunc, f):
            return super().groupBy(f, numPartitions, _python_partitioner(partitionFunc))
        keyed = self.keyBy(_need("groupBy", f, "key"))
        assert isinstance(keyed, WasmRDD)
        return keyed.groupByKey(numPartitions, partitionFunc)

    def partitionBy(self, numPartitions: Optional[int], partitionFunc: Any = _UNSET) -> RDD[Any]:
        """Repartitions ``(k, v)`` elements by sparkwasm's hash of ``k`` or by a
        ``#[sparkwasm::partitioner]`` function (``f(&k) mod numPartitions``). Runs in the
        worker when this RDD has a module or the partitioner is a WASM function."""
        spec = _wasm_partitioner("partitionBy", partitionFunc)
        if spec is None or (self._module is None and spec.function is None):
            return super().partitionBy(numPartitions, _python_partitioner(partitionFunc))
        return self._by_key("partitionBy", (), (), None, numPartitions, partitionFunc, None)

    def distinct(self, numPartitions: Optional[int] = None) -> RDD[Any]:
        """The distinct elements (equal when their canonical encodings are)."""
        if self._module is None:
            return super().distinct(numPartitions)
        n = self._reduce_partitions("distinct", numPartitions)
        method = "distinct"
        first = Step("first_by_key")
        map_side = self._extend((Step("pair_with_none"), first), self._module, True, method)
        shuffled = map_side._shuffle_to(self._module, n, HASH, (first,), method)
        return shuffled._extend((Step("keys"),), self._module, False, method)

    def sortByKey(
        self,
        ascending: Optional[bool] = True,
        numPartitions: Optional[int] = None,
        keyfunc: Any = None,
    ) -> RDD[Any]:
        """Sorts ``(k, v)`` elements by key, as PySpark: it counts the elements, samples keys to
        choose range bounds, range-partitions and sorts each partition (Python order of keys,
        see :func:`sparkwasm.order_key`). A ``#[sparkwasm::key]`` ``keyfunc`` of the key type
        sorts by ``keyfunc(k)`` in the worker, the pairs unchanged, as PySpark's ``keyfunc``
        means to (PySpark picks its range bounds among the raw keys and compares them with
        ``keyfunc(k)``, which raises when the two types do not compare; here bounds and
        comparisons are all ``keyfunc(k)``)."""
        method = "sortByKey"
        if isinstance(keyfunc, WasmFunction):
            by_key = Step("key_by_key", (_need(method, keyfunc, "key", "keyfunc"),))
            keyed = self._narrow(method, by_key, False)
            return keyed.sortByKey(ascending, numPartitions).values()
        if keyfunc is not None or self._module is None:
            if keyfunc is None:
                return super().sortByKey(ascending, numPartitions)
            return super().sortByKey(ascending, numPartitions, keyfunc)
        module = self._module
        n = self._reduce_partitions(method, numPartitions)
        sort = Step("sort_by_key", number=1 if ascending else 0)
        advance(self._element, sort, method)  # fail now, before the jobs below
        if n == 1:
            if self.getNumPartitions() > 1:
                merged = self._as_input(module).coalesced(1)
                return WasmRDD._start(self.ctx, merged, module, (sort,), True, None, method)
            return self._extend((sort,), module, True, method)
        size = self.count()
        if not size:
            return self  # empty RDD, as PySpark
        fraction = min(n * 20.0 / max(size, 1), 1.0)  # 20: Spark's RangePartitioner constant
        samples = sorted(self._sample_keys(fraction, 1), key=order_key)
        # n - 1 bounds, as PySpark picks them; no samples (bad luck) puts every key in one part.
        bounds = [samples[int(len(samples) * (i + 1) / n)] for i in range(n - 1)] if samples else []
        spec = PartitionSpec("range", range_func=RangePartitionFunc(bounds, bool(ascending), n))
        return self._pending(method)._shuffle_to(module, n, spec, (sort,), method)

    def sortBy(
        self, keyfunc: Any, ascending: bool = True, numPartitions: Optional[int] = None
    ) -> RDD[Any]:
        """Sorts elements by the key a ``#[sparkwasm::key]`` function gives them."""
        if not _any_wasm("sortBy", keyfunc):
            return super().sortBy(keyfunc, ascending, numPartitions)
        keyed = self.keyBy(_need("sortBy", keyfunc, "key", "keyfunc"))
        assert isinstance(keyed, WasmRDD)
        return keyed.sortByKey(ascending, numPartitions).values()

    # --- joins -----------------------------------------------------------------------------

    def join(self, other: RDD[Any], numPartitions: Optional[int] = None) -> RDD[Any]:
        """``(k, (v, w))`` for every pair of values of a key on both sides (PySpark's
        ``python_join``). ``other`` may be any RDD sparkwasm can read."""
        joined = self._join(other, numPartitions, "inner", "join")
        return joined if joined is not None else super().join(other, numPartitions)

    def leftOuterJoin(self, other: RDD[Any], numPartitions: Optional[int] = None) -> RDD[Any]:
        """As :meth:`join`, plus ``(k, (v, None))`` for left values without right ones."""
        joined = self._join(other, numPartitions, "left_outer", "leftOuterJoin")
        return joined if joined is not None else super().leftOuterJoin(other, numPartitions)

    def rightOuterJoin(self, other: RDD[Any], numPartitions: Optional[int] = None) -> RDD[Any]:
        """As :meth:`join`, plus ``(k, (None, w))`` for right values without left ones."""
        joined = self._join(other, numPartitions, "right_outer", "rightOuterJoin")
        return joined if joined is not None else super().rightOuterJoin(other, numPartitions)

    def fullOuterJoin(self, other: RDD[Any], numPartitions: Optional[int] = None) -> RDD[Any]:
        """Left and right outer join together."""
        joined = self._join(other, numPartitions, "full_outer", "fullOuterJoin")
        return joined if joined is not None else super().fullOuterJoin(other, numPartitions)

    def cogroup(self, other: RDD[Any], numPartitions: Optional[int] = None) -> RDD[Any]:
        """``(k, ([v...], [w...]))`` for every key of either side (lists, where PySpark gives
        ``ResultIterable``\\ s)."""
        joined = self._join(other, numPartitions, "cogroup", "cogroup")
        return joined if joined is not None else super().cogroup(other, numPartitions)

    def subtractByKey(self, other: RDD[Any], numPartitions: Optional[int] = None) -> RDD[Any]:
        """The ``(k, v)`` elements whose key ``other`` does not have."""
        joined = self._join(other, numPartitions, "subtract_by_key", "subtractByKey")
        return joined if joined is not None else super().subtractByKey(other, numPartitions)

    # --- actions ----------------------------------------------------------------------------

    def count(self) -> int:
        """The number of elements; each partition's count is computed by the worker."""
        if self._module is None:
            return super().count()
        return sum(_collect(self.ctx, self._pending("count")._build(COUNT)))

    def sum(self) -> Any:
        """The sum of the elements (Python's ``sum`` per partition, then on the driver)."""
        if self._module is None:
            return super().sum()
        partial = self._extend((Step("sum"),), self._module, False, "sum")
        return _reduce(operator.add, _collect(self.ctx, partial._jrdd), 0)

    def take(self, num: int) -> List[Any]:
        """The first ``num`` elements, scanning partitions as PySpark does; the worker writes
        each scanned partition's first elements only."""
        if self._module is None:
            return super().take(num)
        pending = self._pending("take")
        items: List[Any] = []
        total = self.getNumPartitions()
        scanned = 0
        while len(items) < num and scanned < total:
            # PySpark's estimate of how many partitions to scan next.
            tries = 1
            if scanned > 0:
                if not items:
                    tries = scanned * 4
                else:
                    tries = int(1.5 * num * scanned / len(items)) - scanned
                    tries = min(max(tries, 1), scanned * 4)
            left = num - len(items)
            partitions = list(range(scanned, min(scanned + tries, total)))
            jrdd = pending._build(Output("take", (("n", left),)))
            items += _run_job(self.ctx, jrdd, partitions)
            scanned += tries
        return items[:num]

    def saveAsTextFile(self, path: str, compressionCodecClass: Optional[str] = None) -> None:
        """Saves one line per element: ``str(element)``, written by the worker as UTF-8."""
        if self._module is None:
            return super().saveAsTextFile(path, compressionCodecClass)
        lines = self._pending("saveAsTextFile")._build(TEXT)
        _save_text(self.ctx, lines, path, compressionCodecClass)

    def foreach(self, f: Any) -> None:
        """Calls a ``#[sparkwasm::foreach]`` function on every element (for its accumulator
        updates or other side effects)."""
        if not _any_wasm("foreach", f):
            return super().foreach(f)
        step = Step("foreach", (_need("foreach", f, "foreach"),))
        done = self._extend((step,), step.functions[0].module, False, "foreach")
        _collect(self.ctx, done._build(COUNT))

    def foreachPartition(self, f: Any) -> None:
        """Calls a ``#[sparkwasm::foreach_partition]`` function on every partition."""
        if not _any_wasm("foreachPartition", f):
            return super().foreachPartition(f)
        step = Step("foreach_partition", (_need("foreachPartition", f, "foreach_partition"),))
        done = self._extend((step,), step.functions[0].module, False, "foreachPartition")
        _collect(self.ctx, done._build(COUNT))

    def reduce(self, f: Any) -> Any:
        """Reduces the elements with a ``#[sparkwasm::reduce]`` function: per partition, then
        the partial results in one partition, in partition order as PySpark."""
        if not _any_wasm("reduce", f):
            return super().reduce(f)
        step = Step("reduce_all", (_need("reduce", f, "reduce"),))
        values = self._two_pass("reduce", step, step)
        if values:
            return values[0]
        raise ValueError("Can not reduce() empty RDD")

    def treeReduce(self, f: Any, depth: int = 2) -> Any:
        """As :meth:`reduce`, merging partial results in a tree of ``depth`` levels."""
        if not _any_wasm("treeReduce", f):
            return super().treeReduce(f, depth)
        if depth < 1:
            raise ValueError("Depth cannot be smaller than 1 but got %d." % depth)
        step = Step("reduce_all", (_need("treeReduce", f, "reduce"),))
        values = self._two_pass("treeReduce", step, step, step, depth)
        if values:
            return values[0]
        raise ValueError("Cannot reduce empty RDD.")

    def fold(self, zeroValue: Any, op: Any) -> Any:
        """Folds each partition from ``zeroValue`` with a ``#[sparkwasm::reduce]`` function,
        then the partial results (again from ``zeroValue``), as PySpark."""
        if not _any_wasm("fold", op):
            return super().fold(zeroValue, op)
        step = zero_step("fold_all", _need("fold", op, "reduce"), zeroValue, "fold")
        values = self._two_pass("fold", step, step)
        return values[0] if values else zeroValue

    def aggregate(self, zeroValue: Any, seqOp: Any, combOp: Any) -> Any:
        """Folds each partition from ``zeroValue`` with ``seqOp`` (``#[sparkwasm::seq_op]``),
        then the partial results from ``zeroValue`` with ``combOp`` (``#[sparkwasm::reduce]``)."""
        if not _any_wasm("aggregate", seqOp, combOp):
            return super().aggregate(zeroValue, seqOp, combOp)
        seq = _need("aggregate", seqOp, "seq_op", "seqOp")
        comb = _need("aggregate", combOp, "reduce", "combOp")
        _same_type("aggregate", seq, "output", comb, "input")
        _one_module("aggregate", seq, comb)
        partial = zero_step("aggregate_all", seq, zeroValue, "aggregate")
        final = zero_step("fold_all", comb, zeroValue, "aggregate")
        values = self._two_pass("aggregate", partial, final)
        return values[0] if values else zeroValue

    def treeAggregate(self, zeroValue: Any, seqOp: Any, combOp: Any, depth: int = 2) -> Any:
        """As :meth:`aggregate`, merging partial results in a tree of ``depth`` levels."""
        if not _any_wasm("treeAggregate", seqOp, combOp):
            return super().treeAggregate(zeroValue, seqOp, combOp, depth)
        if depth < 1:
            raise ValueError("Depth cannot be smaller than 1 but got %d." % depth)
        seq = _need("treeAggregate", seqOp, "seq_op", "seqOp")
        comb = _need("treeAggregate", combOp, "reduce", "combOp")
        _same_type("treeAggregate", seq, "output", comb, "input")
        _one_module("treeAggregate", seq, comb)
        if self.getNumPartitions() == 0:
            return zeroValue
        partial = zero_step("aggregate_all", seq, zeroValue, "treeAggregate")
        merge = Step("reduce_all", (comb,))
        values = self._two_pass("treeAggregate", partial, merge, merge, depth)
        return values[0] if values else zeroValue

    def max(self, key: Any = None) -> Any:
        """The largest element, by a ``#[sparkwasm::key]`` function or in Python order."""
        return self._extreme("max", key, 1)

    def min(self, key: Any = None) -> Any:
        """The smallest element, by a ``#[sparkwasm::key]`` function or in Python order."""
        return self._extreme("min", key, 0)

    def top(self, num: int, key: Any = None) -> List[Any]:
        """The ``num`` largest elements, largest first."""
        if not _any_wasm("top", key) and (key is not None or self._module is None):
            return super().top(num, key)
        if self.getNumPartitions() == 0:
            raise ValueError("Can not reduce() empty RDD")
        if num <= 0:
            return []
        step = self._top_step("top", num, key, 1)
        return self._two_pass("top", step, step)

    def takeOrdered(self, num: int, key: Any = None) -> List[Any]:
        """The ``num`` smallest elements, smallest first."""
        if not _any_wasm("takeOrdered", key) and (key is not None or self._module is None):
            return super().takeOrdered(num, key)
        if num < 0:
            raise ValueError("top N cannot be negative.")
        if num == 0 or self.getNumPartitions() == 0:
            return []
        step = self._top_step("takeOrdered", num, key, 0)
        return self._two_pass("takeOrdered", step, step)

    def countByKey(self) -> Dict[Any, int]:
        """Key -> number of elements with it; each partition counts in the worker."""
        if self._module is None:
            return super().countByKey()
        counted = self._extend((Step("count_by_key"),), self._module, False, "countByKey")
        return self._merge_counts(counted)

    def countByValue(self) -> Dict[Any, int]:
        """Element -> number of occurrences; each partition counts in the worker."""
        if self._module is None:
            return super().countByValue()
        steps = (Step("pair_with_none"), Step("count_by_key"))
        return self._merge_counts(self._extend(steps, self._module, False, "countByValue"))

    # --- internals: passes --------------------------------------------------------------------

    def _narrow(self, method: str, step: Step, preserves: bool) -> "WasmRDD":
        return self._extend((step,), step.functions[0].module, preserves, method)

    def _extend(
        self, steps: Tuple[Step, ...], module: WasmModule, preserves: bool, method: str
    ) -> "WasmRDD":
        """This RDD followed by ``steps`` of ``module``: in the same worker pass when possible."""
        for step in steps:
            for f in step.functions:
                if f.module != module:
                    raise TypeError(
                        f"{method}(): {f.name} is from module {f.module.digest[:12]}, but the "
                        f"functions of one call must come from one module ({module.digest[:12]})"
                    )
        if self._steps and self._module == module and self._is_pipelinable():
            element, bindings = self._element, self._bindings
            for step in steps:
                element = advance(element, step, method)
                bindings = bindings.with_step(step, method)
            keep = self.preservesPartitioning and preserves
            return WasmRDD(
                self.ctx,
                input=self._input,
                module=module,
                source=self._source,
                steps=self._steps + steps,
                element=element,
                bindings=bindings,
                preserves_partitioning=keep,
                partitioner=self.partitioner if keep else None,
            )
        upstream = self._as_input(module)
        partitioner = upstream.partitioner if preserves else None
        return WasmRDD._start(self.ctx, upstream, module, steps, preserves, partitioner, method)

    @staticmethod
    def _start(
        ctx: "SparkContext",
        upstream: PassInput,
        module: WasmModule,
        steps: Tuple[Step, ...],
        preserves: bool,
        partitioner: Optional[Partitioner],
        method: str,
    ) -> "WasmRDD":
        """A new worker pass of ``module`` over ``upstream``."""
        for step in steps:
            _one_module(method, *step.functions)
            if step.functions and step.functions[0].module != module:
                name = step.functions[0].name
                raise TypeError(f"{method}(): {name} is not from the pass's module")
        source = choose_source(upstream, module, steps[0] if steps else None, method)
        element, bindings = source, Bindings()
        for step in steps:
            element = advance(element, step, method)
            bindings = bindings.with_step(step, method)
        return WasmRDD(
            ctx,
            input=upstream,
            module=module,
            source=source,
            steps=steps,
            element=element,
            bindings=bindings,
            preserves_partitioning=preserves,
            partitioner=partitioner,
        )

    def _pending(self, method: str) -> "WasmRDD":
        """A WasmRDD whose pending pass computes this RDD's elements (to give it an output)."""
        if self._steps and self._is_pipelinable():
            return self
        assert self._module is not None
        return self._extend((), self._module, True, method)

    def _as_input(self, consumer: WasmModule) -> PassInput:
        """This RDD as the input of a new worker pass of module ``consumer``."""
        if not self._steps and self._input.encoding != "binary":
            return self._input
        if not self._is_pipelinable():
            # Cached or checkpointed: read what Spark stored, the pickled output.
            return PassInput(
                lambda: self._jrdd,
                "pickle_batch",
                self.partitioner,
                self._element,
                BatchedSerializer(CPickleSerializer()),
            )
        if needs_values_for(self._element, consumer):
            return self._dynamized()._as_input(consumer)
        if not self._steps:
            return self._input
        return PassInput(self._binary_jrdd, "binary", self.partitioner, self._element)

    def _dynamized(self) -> "WasmRDD":
        """This RDD with its elements turned into dynamic values (``pair_with_none`` then
        ``keys`` is the identity on values), so that a pass that cannot name their type
        (another module's, or a derived one) can read its batches."""
        if self._dynamized_val is None:
            assert self._module is not None
            steps = (Step("pair_with_none"), Step("keys"))
            self._dynamized_val = self._extend(steps, self._module, True, "(module change)")
        return self._dynamized_val

    def _build(self, output: Output) -> "JavaObject":
        """The JavaRDD of this pass writing ``output``: one ``PythonRDD`` over the input."""
        assert self._module is not None
        command, broadcasts = build_command(
            self._module,
            self._input.encoding,
            self._source,
            self._steps,
            output,
            self._bindings,
            policy=job_policy(self.ctx),
        )
        parent = self._input.jrdd()  # upstream passes first, as Spark's lineage goes
        func = _python_function(self.ctx, command, broadcasts)
        assert self.ctx._jvm is not None
        python_rdd = self.ctx._jvm.PythonRDD(parent.rdd(), func, self.preservesPartitioning, False)
        return python_rdd.asJavaRDD()

    def _reduce_partitions(self, method: str, numPartitions: Optional[int]) -> int:
        if numPartitions is None:
            # PySpark's default; an RDD without partitions still shuffles into one.
            return max(1, self._defaultReducePartitions())
        return _positive(method, numPartitions)

    def _by_key(
        self,
        method: str,
        map_steps: Tuple[Step, ...],
        reduce_steps: Tuple[Step, ...],
        local_steps: Optional[Tuple[Step, ...]],
        numPartitions: Optional[int],
        partitionFunc: Any,
        module: Optional[WasmModule],
    ) -> "WasmRDD":
        """A shuffle by key: ``map_steps`` before it, ``reduce_steps`` after it, or only
        ``local_steps`` when this RDD is already partitioned that way (PySpark's
        ``partitionBy`` returns its RDD then; ``None``: return this RDD)."""
        spec = _wasm_partitioner(method, partitionFunc)
        if spec is None:
            raise TypeError(
                f"{method}() with WASM functions needs partitionFunc to be left out (sparkwasm's "
                "hash of the key) or a #[sparkwasm::partitioner] function, got a Python "
                "callable; repartition the result with .partitionBy(n, partitionFunc) instead"
            )
        if spec.function is not None:
            if module is not None and spec.function.module != module:
                raise TypeError(
                    f"{method}(): partitionFunc {spec.function.name} must come from the same "
                    "module as the other functions"
                )
            module = spec.function.module
        module = module or self._module
        assert module is not None
        n = self._reduce_partitions(method, numPartitions)
        partitioner = Partitioner(n, spec.partition_func())
        if self.partitioner == partitioner:
            if local_steps is None:
                return self
            return self._extend(local_steps, module, True, method)
        map_side = self._extend(map_steps, module, True, method)
        if spec.function is not None:
            map_side._bindings.with_function(spec.function, method)  # conflicts fail now
            if map_side._element is not None:
                pair = split_pair(map_side._element.spelled)
                if pair is None or normalize(pair[0]) != normalize(spec.function.input):
                    raise TypeError(
                        f"{method}(): partitionFunc {spec.function.name} takes "
                        f"{spec.function.input} keys, but this RDD holds "
                        f"{map_side._element.describe()}"
                    )
        elif map_side._element is not None and split_pair(map_side._element.spelled) is None:
            raise TypeError(
                f"{method}() needs (K, V) records, but this RDD holds "
                f"{map_side._element.describe()}"
            )
        return map_side._shuffle_to(module, n, spec, reduce_steps, method)

    def _shuffle_to(
        self,
        module: WasmModule,
        n: int,
        spec: PartitionSpec,
        reduce_steps: Tuple[Step, ...],
        method: str,
        others: Tuple["WasmRDD", ...] = (),
    ) -> "WasmRDD":
        """A shuffle of this pass's elements (and ``others``'s, for joins) into ``n``
        partitions, then a pass of ``module`` running ``reduce_steps``."""
        sides = [self, *others]
        # The reduce side reads every side's batches: typed ones must be named in its module.
        sides = [s._dynamized() if needs_values_for(s._element, module) else s for s in sides]
        element = sides[0]._element if len(sides) == 1 else None
        output = Output("shuffle", (("partitions", n),), spec)
        ctx = self.ctx

        def shuffled() -> "JavaObject":
            return _shuffle(ctx, [side._build(output) for side in sides], n, spec.jvm_id())

        partitioner = Partitioner(n, spec.partition_func())
        upstream = PassInput(shuffled, "binary", partitioner, element)
        return WasmRDD._start(ctx, upstream, module, reduce_steps, True, partitioner, method)

    def _join(
        self, other: RDD[Any], numPartitions: Optional[int], kind: str, method: str
    ) -> Optional["WasmRDD"]:
        """PySpark's ``python_join`` family in the worker: each side tags its values (0 left,
        1 right) in its own pass, both are hash-shuffled together, the reduce side joins.
        ``None`` when neither side has a module (PySpark's join then)."""
        if not isinstance(other, RDD):
            raise TypeError(f"{method}() needs an RDD, got {type(other).__name__}")
        right = _readable(other)
        module = self._module or right._module
        if module is None:
            return None
        if numPartitions is not None:
            n = _positive(method, numPartitions)
        elif self.ctx._conf.contains("spark.default.parallelism"):
            n = self.ctx.defaultParallelism
        elif self.partitioner is not None and self.partitioner == other.partitioner:
            # The JVM unions co-partitioned RDDs partition by partition.
            n = self.getNumPartitions()
        else:
            n = self.getNumPartitions() + other.getNumPartitions()
        n = max(n, 1)
        left = self._extend((Step("tag", number=0),), self._module or module, True, method)
        tagged = right._extend((Step("tag", number=1),), right._module or module, True, method)
        join = Step("join", number=JOIN_KINDS[kind])
        return left._shuffle_to(module, n, HASH, (join,), method, (tagged,))

    def _two_pass(
        self, method: str, partial: Step, final: Step, level: Optional[Step] = None, depth: int = 0
    ) -> List[Any]:
        """``partial`` on every partition, then (for tree reductions) ``level`` on groups of
        partial results, then ``final`` on all of them in one partition; returns the final
        pass's elements. Partial results stay binary batches on the executors."""
        module = partial.functions[0].module if partial.functions else self._module
        assert module is not None
        rdd = self._extend((partial,), module, False, method)
        if level is not None:
            partitions = rdd.getNumPartitions()
            scale = max(int(ceil(pow(partitions, 1.0 / depth))), 2) if partitions else 2
            current: float = partitions
            # PySpark's treeAggregate levels: stop when another level would not save time.
            while current > scale + current / scale:
                current /= scale
                merged = rdd._as_input(module).coalesced(int(current))
                rdd = WasmRDD._start(self.ctx, merged, module, (level,), False, None, method)
        merged = rdd._as_input(module).coalesced(1)
        done = WasmRDD._start(self.ctx, merged, module, (final,), False, None, method)
        return _collect(self.ctx, done._jrdd)

    def _extreme(self, method: str, key: Any, largest: int) -> Any:
        if not _any_wasm(method, key) and (key is not None or self._module is None):
            return super().max(key) if largest else super().min(key)
        functions = (_need(method, key, "key", "key"),) if key is not None else ()
        step = Step("max_by", functions, number=largest)
        values = self._two_pass(method, step, step)
        if values:
            return values[0]
        raise ValueError("Can not reduce() empty RDD")

    @staticmethod
    def _top_step(method: str, num: int, key: Any, largest: int) -> Step:
        if not isinstance(num, int) or isinstance(num, bool) or num >= 1 << 62:
            raise ValueError(f"{method}(): num must be an int below 2**62, got {num!r}")
        functions = (_need(method, key, "key", "key"),) if key is not None else ()
        return Step("top", functions, number=num * 2 + largest)

    def _merge_counts(self, counted: "WasmRDD") -> Dict[Any, int]:
        counts: Dict[Any, int] = defaultdict(int)
        for key, n in _collect(self.ctx, counted._jrdd):
            counts[key] += n
        return counts

    def _sample_keys(self, fraction: float, seed: int) -> List[Any]:
        """The keys of a Bernoulli sample of the elements (``sortByKey``'s bounds)."""
        output = Output("sample_keys", (("fraction", fraction), ("seed", seed)))
        return _collect(self.ctx, self._pending("sortByKey")._build(output))


def _readable(rdd: RDD[Any]) -> WasmRDD:
    """``rdd`` as a WasmRDD; re-pickled by PySpark first when sparkwasm cannot read it."""
    try:
        return wrap(rdd)
    except TypeError:
        return wrap(rdd._reserialize(AutoBatchedSerializer(CPickleSerializer())))


def wrap(rdd: RDD[Any], module: Optional[WasmModule] = None) -> WasmRDD:
    """``rdd`` as a :class:`WasmRDD`, whose operations accept WASM functions.

    The RDD's records must be pickled (PySpark's default), UTF-8 text (``sc.textFile``),
    UTF-8 pairs (``sc.wholeTextFiles``) or a sparkwasm RDD's output; anything else raises
    ``TypeError`` naming its serializer. ``module`` lets operations without functions
    (``groupByKey``, ``join``, ``count``, ``take``, ``saveAsTextFile``...) run in the worker
    before any WASM function was applied; an RDD that already has a module keeps it.
    """
    if module is not None and not isinstance(module, WasmModule):
        raise TypeError(
            "sparkwasm.wrap: module must be a WasmModule (sparkwasm.load), got "
            f"{type(module).__name__}"
        )
    if isinstance(rdd, WasmRDD):
        if module is None or rdd._module is not None:
            return rdd
        return WasmRDD(
            rdd.ctx,
            input=rdd._input,
            module=module,
            preserves_partitioning=rdd.preservesPartitioning,
            partitioner=rdd.partitioner,
        )
    if not isinstance(rdd, RDD):
        hint = " (for a DataFrame, use df.rdd)" if hasattr(rdd, "rdd") else ""
        raise TypeError(f"sparkwasm.wrap needs a PySpark RDD, got {type(rdd).__name__}{hint}")
    try:
        encoding = _input_encoding(rdd._jrdd_deserializer)
    except TypeError:
        if rdd.getNumPartitions() != 0:
            raise
        encoding = "pickle_batch"  # sc.emptyRDD(): no records to decode
    return WasmRDD(
        rdd.ctx,
        input=PassInput(lambda: rdd._jrdd, encoding, rdd.partitioner, None, rdd._jrdd_deserializer),
        module=module,
        preserves_partitioning=True,
        partitioner=rdd.partitioner,
    )

