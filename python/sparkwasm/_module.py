"""Loaded sparkwasm modules and the functions they offer.

:func:`load` reads a module on the driver, checks it (see :mod:`sparkwasm._wasm`) and
returns a :class:`WasmModule`; attribute access on it gives :class:`WasmFunction` handles
that :class:`sparkwasm.WasmRDD` methods accept in place of Python callables.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, NoReturn, Union

from ._wasm import FunctionInfo, WasmModuleError, parse_module

if TYPE_CHECKING:
    from pyspark import SparkContext

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
    executors.
    """

    __slots__ = ("module", "info")

    def __init__(self, module: WasmModule, info: FunctionInfo) -> None:
        self.module = module
        self.info = info

    @property
    def name(self) -> str:
        """The function's name in its module."""
        return self.info.name

    @property
    def kind(self) -> str:
        """``map``, ``flat_map``, ``filter``, ``map_partitions`` or ``reduce``."""
        return self.info.kind

    @property
    def input(self) -> str:
        """The Rust element type it consumes, as spelled in its descriptor."""
        return self.info.input

    @property
    def output(self) -> str:
        """The Rust element type it produces, as spelled in its descriptor."""
        return self.info.output

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        # Reached when a WasmFunction is handed to a plain PySpark RDD (and so runs inside a
        # Python worker) or called directly: neither can run WASM.
        raise TypeError(
            f"{self.name} is a WASM function; it runs in the sparkwasm worker, not in Python. "
            f"Apply it to an RDD wrapped with sparkwasm.wrap(rdd), e.g. "
            f"sparkwasm.wrap(rdd).{_METHOD_BY_KIND[self.kind]}(module.{self.name})"
        )

    def __reduce__(self) -> NoReturn:
        # Pickling happens when PySpark ships a closure that captured this handle: that job
        # would only fail later on an executor, so fail now with the fix.
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
        )

    def __hash__(self) -> int:
        return hash((self.module.digest, self.info.name))

    def __repr__(self) -> str:
        return f"<WasmFunction {self.name}: {self.info.signature()} in module {self.module.digest[:12]}>"


_METHOD_BY_KIND = {
    "map": "map",
    "flat_map": "flatMap",
    "filter": "filter",
    "map_partitions": "mapPartitions",
    "reduce": "reduceByKey",
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
