"""Loaded sparkwasm modules and the functions they offer.

:func:`load` reads a module on the driver, checks it (see :mod:`sparkwasm._wasm`) and
returns a :class:`WasmModule`; attribute access on it gives :class:`WasmFunction` handles
that :class:`sparkwasm.WasmRDD` methods accept in place of Python callables, and
:meth:`WasmFunction.using` binds them to broadcast variables and accumulators.
:meth:`WasmModule.udf` and :meth:`WasmModule.udaf` make Spark SQL UDFs of its ``udf`` and
``udaf`` functions (see :mod:`sparkwasm._sql`).
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, NoReturn, Optional, Tuple, Union

from ._wasm import FunctionInfo, WasmModuleError, parse_module

if TYPE_CHECKING:
    from pyspark import SparkContext
    from pyspark.sql.types import DataType

    from ._sql import WasmUDF
    from pyspark.accumulators import Accumulator
    from pyspark import Broadcast

__all__ = ["WasmFunction", "WasmModule", "load"]

ModuleSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]


class WasmModule:
    """A checked sparkwasm module: its bytes, their SHA-256 digest and its functions.

    Get one with :func:`sparkwasm.load`. ``module.<name>`` (or ``module["<name>"]``) is the
    :class:`WasmFunction` of that name; ``module.functions`` lists what the module declares.
    """

    def __init__(self, data: bytes, *, origin: str = "<bytes>") -> None:
        parsed = parse_module(data)
        self._bytes = data
        self._origin = origin
        self._digest = hashlib.sha256(data).hexdigest()
        self._functions = parsed.functions

    @property
    def digest(self) -> str:
        """SHA-256 of the module bytes, lowercase hex; the worker refuses bytes that differ."""
        return self._digest

    @property
    def functions(self) -> Dict[str, FunctionInfo]:
        """Name -> :class:`FunctionInfo` (name, kind, input, output) of every function."""
        return dict(self._functions)

    @property
    def origin(self) -> str:
        """Where the module was loaded from (a path, or ``<bytes>``)."""
        return self._origin

    @property
    def size(self) -> int:
        """Size of the module in bytes (it travels with every task)."""
        return len(self._bytes)

    def function_kinds(self) -> Mapping[str, str]:
        """Name -> descriptor kind, for the command manifest."""
        return {name: info.kind for name, info in self._functions.items()}

    def udf(
        self,
        name: str,
        returnType: Optional[Union["DataType", str]] = None,
        *,
        deterministic: bool = True,
    ) -> "WasmUDF":
        """The Spark SQL UDF of this module's ``#[sparkwasm::udf]`` function ``name``: the same
        as ``sparkwasm.udf(module[name], returnType, deterministic=deterministic)``. Raises
        ``ValueError`` for an unknown name, ``TypeError`` for a function of another kind or a
        ``returnType`` other than the declared one."""
        from ._sql import udf

        return udf(self._sql_function(name), returnType, deterministic=deterministic)

    def udaf(self, name: str, returnType: Optional[Union["DataType", str]] = None) -> "WasmUDF":
        """The Spark SQL aggregate function of this module's ``#[sparkwasm::udaf]`` function
        ``name``: the same as ``sparkwasm.udaf(module[name], returnType)``."""
        from ._sql import udaf

        return udaf(self._sql_function(name), returnType)

    def _sql_function(self, name: Any) -> "WasmFunction":
        if not isinstance(name, str):
            raise TypeError(f"a function name must be a string, got {type(name).__name__}")
        info = self._functions.get(name)
        if info is None:
            raise ValueError(self._unknown(name))
        return WasmFunction(self, info)

    def __getitem__(self, name: str) -> "WasmFunction":
        info = self._functions.get(name)
        if info is None:
            raise KeyError(self._unknown(name))
        return WasmFunction(self, info)

    def __getattr__(self, name: str) -> "WasmFunction":
        # Only called for names that are not regular attributes. Private and dunder lookups
        # (copy, pickle) must keep failing normally; such functions are reachable as module[name].
        if name.startswith("_"):
            raise AttributeError(name)
        info = self._functions.get(name)
        if info is None:
            raise AttributeError(self._unknown(name))
        return WasmFunction(self, info)

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(self._functions))

    def _unknown(self, name: str) -> str:
        available = ", ".join(sorted(self._functions)) or "none"
        return f"module {self._digest[:12]} ({self._origin}) has no function {name!r}; available: {available}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WasmModule) and other._digest == self._digest

    def __hash__(self) -> int:
        return hash(self._digest)

    def __repr__(self) -> str:
        listing = ", ".join(f"{i.name}: {i.signature()}" for i in self._functions.values())
        return f"<WasmModule {self._digest[:12]} {self._origin!r} functions=[{listing}]>"


class WasmFunction:
    """One function of a :class:`WasmModule`, to pass to :class:`sparkwasm.WasmRDD` methods.

    It cannot be called on the driver: the function runs inside the sparkwasm worker on the
    executors. :meth:`using` gives a copy bound to broadcast variables and accumulators.
    """

    __slots__ = ("module", "info", "_broadcasts", "_accumulators", "_spark_files")

    def __init__(
        self,
        module: WasmModule,
        info: FunctionInfo,
        *,
        broadcasts: Optional[Mapping[str, "Broadcast[Any]"]] = None,
        accumulators: Optional[Mapping[str, "Accumulator[Any]"]] = None,
        spark_files: bool = True,
    ) -> None:
        self.module = module
        self.info = info
        self._broadcasts: Dict[str, "Broadcast[Any]"] = dict(broadcasts or {})
        self._accumulators: Dict[str, "Accumulator[Any]"] = dict(accumulators or {})
        self._spark_files = spark_files

    @property
    def name(self) -> str:
        """The function's name in its module."""
        return self.info.name

    @property
    def kind(self) -> str:
        """Its descriptor kind: ``map``, ``flat_map``, ``filter``, ``map_partitions``,
        ``map_partitions_with_index``, ``reduce``, ``key``, ``seq_op``, ``partitioner``,
        ``foreach``, ``foreach_partition``, or ``udf``/``udaf`` (Spark SQL functions)."""
        return self.info.kind

    @property
    def input(self) -> str:
        """The Rust element type it consumes, as spelled in its descriptor."""
        return self.info.input

    @property
    def output(self) -> str:
        """The Rust element type it produces, as spelled in its descriptor."""
        return self.info.output

    @property
    def broadcasts(self) -> Dict[str, "Broadcast[Any]"]:
        """Name -> broadcast variable the guest reads as ``sparkwasm::broadcast(name)``."""
        return dict(self._broadcasts)

    @property
    def accumulators(self) -> Dict[str, "Accumulator[Any]"]:
        """Name -> accumulator the guest adds to by that name."""
        return dict(self._accumulators)

    @property
    def spark_files(self) -> bool:
        """Whether the guest sees the task's SparkFiles (read-only, at ``/sparkfiles``)."""
        return self._spark_files

    def using(
        self,
        *,
        broadcasts: Optional[Mapping[str, "Broadcast[Any]"]] = None,
        accumulators: Optional[Mapping[str, "Accumulator[Any]"]] = None,
        spark_files: Optional[bool] = None,
    ) -> "WasmFunction":
        """A copy of this function bound to broadcast variables and accumulators, by the names
        the guest asks for::

            names = sc.broadcast({1: "one"})
            seen = sc.accumulator(0)
            rdd.map(m.lookup_name.using(broadcasts={"names": names}))
            rdd.foreach(m.count_into_acc.using(accumulators={"seen": seen, "total": total}))

        New names are added to the ones already bound (a name given again is rebound).
        ``spark_files=False`` hides SparkFiles from the guest in every worker pass that runs
        this function (granted by default). A worker pass carries the bindings of all its
        functions; two functions binding one name to different variables cannot share a pass,
        and the method that would combine them raises ``ValueError``.
        """
        from pyspark.accumulators import Accumulator
        from pyspark import Broadcast

        new_broadcasts = dict(self._broadcasts)
        for name, bc in (broadcasts or {}).items():
            _check_binding_name(name, "broadcast")
            if not isinstance(bc, Broadcast) or getattr(bc, "_jbroadcast", None) is None:
                raise TypeError(
                    f"broadcast {name!r} must be a broadcast variable made on the driver with "
                    f"sc.broadcast(value), got {type(bc).__name__}"
                )
            new_broadcasts[name] = bc
        new_accumulators = dict(self._accumulators)
        for name, acc in (accumulators or {}).items():
            _check_binding_name(name, "accumulator")
            if not isinstance(acc, Accumulator):
                raise TypeError(
                    f"accumulator {name!r} must be made with sc.accumulator(value), got "
                    f"{type(acc).__name__}"
                )
            new_accumulators[name] = acc
        if spark_files is not None and not isinstance(spark_files, bool):
            raise TypeError(f"spark_files must be a bool, got {spark_files!r}")
        return WasmFunction(
            self.module,
            self.info,
            broadcasts=new_broadcasts,
            accumulators=new_accumulators,
            spark_files=self._spark_files if spark_files is None else spark_files,
        )

    def _binding_ids(self) -> Tuple[Tuple[Tuple[str, int], ...], Tuple[Tuple[str, int], ...], bool]:
        return (
            tuple(sorted((n, broadcast_id(b)) for n, b in self._broadcasts.items())),
            tuple(sorted((n, a.aid) for n, a in self._accumulators.items())),
            self._spark_files,
        )

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        # Reached when a WasmFunction is handed to a plain PySpark RDD (and so runs inside a
        # Python worker) or called directly: neither can run WASM.
        if self.kind in ("udf", "udaf"):
            raise TypeError(
                f"{self.name} is a WASM Spark SQL function; it runs in the sparkwasm worker, "
                f"not in Python. Make a UDF of it with sparkwasm.{self.kind}(module.{self.name})"
                " and apply that to columns"
            )
        raise TypeError(
            f"{self.name} is a WASM function; it runs in the sparkwasm worker, not in Python. "
            f"Apply it to an RDD wrapped with sparkwasm.wrap(rdd), e.g. "
            f"sparkwasm.wrap(rdd).{METHOD_BY_KIND[self.kind]}(module.{self.name})"
        )

    def __reduce__(self) -> NoReturn:
        # Pickling happens when PySpark ships a closure that captured this handle: that job
        # would only fail later on an executor, so fail now with the fix.
        if self.kind in ("udf", "udaf"):
            raise TypeError(
                f"WASM function {self.name} is being pickled for a Python worker; make a Spark "
                f"SQL UDF of it with sparkwasm.{self.kind}(module.{self.name}) (and register it "
                "after `import sparkwasm`, which makes spark.udf.register keep it in the "
                "sparkwasm worker)"
            )
        raise TypeError(
            f"WASM function {self.name} was captured by a Python function that PySpark is "
            "pickling; WASM functions cannot run inside Python workers. Pass it directly to a "
            "method of sparkwasm.wrap(rdd) instead"
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, WasmFunction)
            and other.module == self.module
            and other.info == self.info
            and other._binding_ids() == self._binding_ids()
        )

    def __hash__(self) -> int:
        return hash((self.module.digest, self.info.name))

    def __repr__(self) -> str:
        bound = ""
        if self._broadcasts or self._accumulators or not self._spark_files:
            names = sorted(self._broadcasts) + sorted(self._accumulators)
            bound = f" using {', '.join(names) or 'no variables'}"
            if not self._spark_files:
                bound += " without SparkFiles"
        return (
            f"<WasmFunction {self.name}: {self.info.signature()} in module "
            f"{self.module.digest[:12]}{bound}>"
        )


def _check_binding_name(name: object, what: str) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{what} names must be non-empty strings, got {name!r}")


def broadcast_id(bc: "Broadcast[Any]") -> int:
    """The Spark id of a driver-side broadcast variable (what the worker looks it up by)."""
    return int(bc._jbroadcast.id())  # type: ignore[union-attr]


#: Descriptor kind -> the WasmRDD method that takes such functions (for hints in errors).
METHOD_BY_KIND = {
    "map": "map",
    "flat_map": "flatMap",
    "filter": "filter",
    "map_partitions": "mapPartitions",
    "map_partitions_with_index": "mapPartitionsWithIndex",
    "reduce": "reduceByKey",
    "key": "keyBy",
    "seq_op": "aggregateByKey",
    "partitioner": "partitionBy",
    "foreach": "foreach",
    "foreach_partition": "foreachPartition",
}


def load(sc: "SparkContext", module: ModuleSource) -> WasmModule:
    """Reads and checks a sparkwasm module on the driver.

    ``module`` is a path to a ``.wasm`` file or its bytes. Raises
    :class:`sparkwasm.WasmModuleError` when it is not a sparkwasm module this driver can use.
    """
    from pyspark import SparkContext

    if not isinstance(sc, SparkContext):
        # A SparkSession is an easy mistake: accept it for what it holds.
        context = getattr(sc, "sparkContext", None)
        if not isinstance(context, SparkContext):
            raise TypeError(
                f"sparkwasm.load needs a SparkContext as first argument, got {type(sc).__name__}"
            )
    if isinstance(module, (bytes, bytearray, memoryview)):
        data, origin = bytes(module), "<bytes>"
    elif isinstance(module, (str, os.PathLike)):
        path = os.fspath(module)
        with open(path, "rb") as f:
            data = f.read()
        origin = path
    else:
        raise TypeError(
            f"sparkwasm.load needs a path or the module's bytes, got {type(module).__name__}"
        )
    try:
        return WasmModule(data, origin=origin)
    except WasmModuleError as e:
        raise WasmModuleError(f"{origin}: {e}") from None
