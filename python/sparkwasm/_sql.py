"""Spark SQL UDFs and UDAFs whose functions run in the sparkwasm worker.

A :class:`WasmUDF` is a PySpark ``UserDefinedFunction`` with its own ``_create_judf``: the JVM
``UserDefinedPythonFunction`` it builds carries a ``SimplePythonFunction`` whose command is
sparkwasm's SQL command (:func:`sparkwasm._command.encode_sql_command`, one per UDF; Spark
chains ``f(g(x))`` itself) and whose ``pythonExec`` is the worker binary. Spark's Arrow
runners start ``pythonExec`` for an eval node, so the node runs in the worker (design note
``docs/design/arrow-udfs.md`` §1.5). Everything else (``__call__``, ``asNondeterministic``,
use in ``select``/``where``/``groupBy``/joins) is PySpark's.

Eval types: scalar UDFs use ``SQL_SCALAR_ARROW_UDF`` (250) on Spark >= 4.1 and
``SQL_SCALAR_PANDAS_UDF`` (200) on 3.5/4.0; UDAFs ``SQL_GROUPED_AGG_ARROW_UDF`` (252) and
``SQL_GROUPED_AGG_PANDAS_UDF`` (202). An Arrow eval node runs every UDF of its eval type in
the executable of its first UDF, so on >= 4.1 a user's ``pandas_udf`` (200) never shares a
node with ours.

What is checked when a UDF is defined, from the module's descriptors and without a job:

* the function is a ``udf`` (for :func:`udf`) or a ``udaf`` (for :func:`udaf`);
* ``returnType``, when given, is the descriptor's ``sql.returns`` (compared as Spark simple
  strings);
* the session is a classic one (Spark Connect has no JVM to build the UDF in), its Spark
  version is supported, and ``spark.sql.execution.pyspark.python`` is not set (it would
  send every UDF's command to Python).

The session checks need a running SparkContext; a UDF defined before one exists is checked
when it is first applied. Applying a UDF checks the number of arguments and casts each to
the declared Spark type, so the worker always receives exactly the types the module expects.

``import sparkwasm`` wraps ``UDFRegistration.register``: PySpark's own would rebuild the UDF
from ``f.func`` as a cloudpickled Python UDF and lose the worker (§1.5), so for a
:class:`WasmUDF` (or a WASM function) the wrapper registers our JVM UDF instead.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple, Union

from pyspark.sql.types import DataType
from pyspark.sql.udf import UserDefinedFunction

from ._command import SqlManifest, encode_sql_command
from ._module import WasmFunction
from ._policy import job_policy
from ._wasm import SQL_KINDS, SqlSignature

if TYPE_CHECKING:
    from py4j.java_gateway import JavaObject  # type: ignore[import-untyped]
    from pyspark import SparkContext
    from pyspark.sql import Column, SparkSession

__all__ = [
    "PYSPARK_PYTHON_CONF",
    "WasmUDF",
    "eval_type_for",
    "install_register_hook",
    "register",
    "udaf",
    "udf",
]

DataTypeOrString = Union[DataType, str]

#: Spark conf that makes every Arrow UDF run in one Python executable, ours included.
PYSPARK_PYTHON_CONF = "spark.sql.execution.pyspark.python"
#: The JVM class PySpark's ``_create_judf`` builds.
_JUDF_CLASS = "org.apache.spark.sql.execution.python.UserDefinedPythonFunction"

# PythonEvalType values (pyspark/util.py); literal so that older PySparks need not name them.
SQL_SCALAR_PANDAS_UDF = 200
SQL_GROUPED_AGG_PANDAS_UDF = 202
SQL_SCALAR_ARROW_UDF = 250
SQL_GROUPED_AGG_ARROW_UDF = 252

#: The oldest Spark whose Arrow UDF protocol the worker speaks.
_OLDEST_SPARK = (3, 5)
#: From this version on, the Arrow eval types (250/252) exist and are used.
_ARROW_EVAL_TYPES_SINCE = (4, 1)

#: Marks the ``UDFRegistration.register`` wrapper; holds the original.
_ORIGINAL_REGISTER = "_sparkwasm_original"


def _spark_version(text: str) -> Tuple[int, int]:
    match = re.match(r"\s*(\d+)\.(\d+)", text)
    if match is None:
        raise ValueError(f"cannot read the Spark version {text!r}")
    return int(match.group(1)), int(match.group(2))


def eval_type_for(kind: str, spark_version: str) -> int:
    """The ``PythonEvalType`` a ``udf``/``udaf`` uses on ``spark_version``; raises
    ``ValueError`` for a Spark older than 3.5."""
    version = _spark_version(spark_version)
    if version < _OLDEST_SPARK:
        raise ValueError(
            f"sparkwasm SQL UDFs need Spark 3.5 or newer; this session runs Spark {spark_version}"
        )
    arrow = version >= _ARROW_EVAL_TYPES_SINCE
    if kind == "udf":
        return SQL_SCALAR_ARROW_UDF if arrow else SQL_SCALAR_PANDAS_UDF
    if kind == "udaf":
        return SQL_GROUPED_AGG_ARROW_UDF if arrow else SQL_GROUPED_AGG_PANDAS_UDF
    raise ValueError(f"{kind!r} is not a SQL function kind ({', '.join(SQL_KINDS)})")


# --- sessions ------------------------------------------------------------------------------


def _is_connect(session: Any) -> bool:
    return type(session).__module__.startswith("pyspark.sql.connect")


def _refuse_connect(what: str) -> None:
    """Spark Connect clients have no JVM in which to build the UDF."""
    from pyspark.sql.utils import is_remote

    if is_remote():
        raise ValueError(
            f"{what}: sparkwasm UDFs need a classic SparkSession (py4j to the driver JVM); this "
            "is a Spark Connect session, which is not supported"
        )


def _current_session() -> Optional["SparkSession"]:
    """The session a UDF defined now would be used in, when a SparkContext runs; ``None``
    before (the checks then wait for the UDF's first use, as PySpark's own do)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is None:
        return None
    session = SparkSession.getActiveSession()
    if session is None:
        # A SparkContext without a session: PySpark's _create_judf makes one on it too.
        session = SparkSession._getActiveSessionOrCreate()
    return session


def _check_session(session: "SparkSession", what: str) -> None:
    """Refuses sessions in which a sparkwasm UDF cannot run in the worker."""
    if _is_connect(session) or getattr(session, "_jsparkSession", None) is None:
        raise ValueError(
            f"{what}: sparkwasm UDFs need a classic SparkSession (py4j to the driver JVM); "
            f"got a {type(session).__module__}.{type(session).__name__}, which is not supported"
        )
    eval_type_for("udf", session.version)  # refuses an old Spark
    executable = session.conf.get(PYSPARK_PYTHON_CONF, None)
    if executable:
        raise ValueError(
            f"{what}: the Spark conf {PYSPARK_PYTHON_CONF}={executable!r} makes Spark run every "
            "Arrow UDF in that Python executable, so sparkwasm UDFs would be sent to Python "
            f"instead of the sparkwasm worker; unset it (spark.conf.unset({PYSPARK_PYTHON_CONF!r}))"
        )


# --- the UDF -------------------------------------------------------------------------------


def _sql(function: WasmFunction) -> SqlSignature:
    sql = function.info.sql
    assert sql is not None, "udf/udaf descriptors always carry a sql signature"
    return sql


def _need_sql_function(api: str, function: Any, kind: str) -> WasmFunction:
    """``function`` if it is a WASM function of descriptor kind ``kind``; ``TypeError`` if not."""
    if not isinstance(function, WasmFunction):
        hint = ""
        if callable(function):
            factory = "udf" if kind == "udf" else "pandas_udf"
            hint = f"; for a Python function use pyspark.sql.functions.{factory}"
        raise TypeError(
            f"{api} needs a WASM function declared with #[sparkwasm::{kind}] (module.<name> of a "
            f"module from sparkwasm.load), got {type(function).__name__}{hint}"
        )
    if function.kind != kind:
        if function.kind in SQL_KINDS:
            other = function.kind
            raise TypeError(
                f"{function.name} is declared with #[sparkwasm::{other}] "
                f"({_sql(function).describe(function.name)}); use sparkwasm.{other}(module."
                f"{function.name}) or module.{other}({function.name!r}), not {api}"
            )
        raise TypeError(
            f"{function.name} is an RDD function (#[sparkwasm::{function.kind}]: "
            f"{function.info.signature()}); {api} needs a function declared with "
            f"#[sparkwasm::{kind}]. Use RDD functions through sparkwasm.wrap(rdd)"
        )
    if function.broadcasts or function.accumulators or not function.spark_files:
        raise TypeError(
            f"{function.name}: SQL UDFs cannot be bound with .using(...) (broadcasts, "
            "accumulators, spark_files); pass the function itself"
        )
    return function


def _declared_type(function: WasmFunction, returnType: Any) -> Optional[DataTypeOrString]:
    if returnType is None or isinstance(returnType, DataType):
        return returnType
    if isinstance(returnType, str) and returnType.strip():
        return returnType
    raise TypeError(
        f"{function.name}: returnType must be a DataType or a type string such as "
        f"{_sql(function).returns!r}, got {returnType!r}"
    )


def _simple_string(datatype: DataTypeOrString) -> str:
    """``datatype`` as Spark's normalised simple string (a string is parsed by the JVM)."""
    if isinstance(datatype, DataType):
        return datatype.simpleString()
    from pyspark.sql.types import _parse_datatype_string

    return _parse_datatype_string(datatype).simpleString()


def _check_return_type(function: WasmFunction, declared: Optional[DataTypeOrString]) -> None:
    """``TypeError`` unless ``declared`` is the descriptor's result type."""
    if declared is None:
        return
    sql = _sql(function)
    if isinstance(declared, str) and declared.strip() == sql.returns:
        return  # the common case, without a round trip to the JVM
    try:
        spelled = _simple_string(declared)
    except Exception as e:  # a ParseException from the JVM, whatever its class
        raise TypeError(
            f"{function.name}: returnType {declared!r} is not a Spark type ({e}); the function "
            f"returns Rust {function.output} = Spark {sql.returns}"
        ) from None
    if spelled != sql.returns:
        raise TypeError(
            f"{function.name} returns Rust {function.output} = Spark {sql.returns}; declared "
            f"{spelled!r}. Leave returnType out or pass {sql.returns!r}"
        )


class WasmUDF(UserDefinedFunction):
    """A Spark SQL UDF (or UDAF) running a WASM function in the sparkwasm worker.

    Make one with :func:`sparkwasm.udf`/:func:`sparkwasm.udaf` or
    :meth:`WasmModule.udf`/:meth:`WasmModule.udaf`; apply it to columns (names or
    ``Column``\\ s) like any PySpark UDF::

        str_len = sparkwasm.udf(m.str_len)
        df.select(str_len("name")).where(str_len(F.col("name")) > 3)
        df.groupBy("k").agg(sparkwasm.udaf(m.weighted_mean)("x", "w"))

    ``function`` is the :class:`WasmFunction`; ``sql`` its Spark SQL signature. ``func`` (as
    PySpark names it) is the same function, which cannot run in Python.
    """

    def __init__(
        self,
        function: WasmFunction,
        returnType: Optional[DataTypeOrString] = None,
        *,
        deterministic: bool = True,
        name: Optional[str] = None,
    ) -> None:
        if not isinstance(function, WasmFunction) or function.kind not in SQL_KINDS:
            raise TypeError("WasmUDF needs a udf or udaf WASM function; use sparkwasm.udf/udaf")
        if not isinstance(deterministic, bool):
            raise TypeError(f"deterministic must be a bool, got {deterministic!r}")
        declared = _declared_type(function, returnType)
        _refuse_connect(f"sparkwasm {function.kind} {name or function.name}")
        from pyspark import SparkContext

        # The JVM's version decides the eval type; set again from it when the JVM UDF is built.
        context = SparkContext._active_spark_context
        import pyspark

        version = context.version if context is not None else pyspark.__version__
        super().__init__(
            function,
            returnType=_sql(function).returns if declared is None else declared,
            name=name or function.name,
            evalType=eval_type_for(function.kind, version),
            deterministic=deterministic,
        )
        self.function = function
        self._declared = declared
        self._checked = False
        session = _current_session()
        if session is not None:
            self._check_definition(session)

    @property
    def sql(self) -> SqlSignature:
        """The function's Spark SQL signature (argument and result types, null policy)."""
        return _sql(self.function)

    @property
    def returnType(self) -> DataType:  # type: ignore[override]
        # PySpark's property also checks that pyarrow can convert the type (it would import
        # pyarrow on the driver); the worker, not pyarrow, produces our results, and the type
        # was checked against the module's declaration instead.
        if self._returnType_placeholder is None:
            if isinstance(self._returnType, DataType):
                self._returnType_placeholder = self._returnType
            else:
                from pyspark.sql.types import _parse_datatype_string

                self._returnType_placeholder = _parse_datatype_string(self._returnType)
        return self._returnType_placeholder

    def _what(self) -> str:
        return f"sparkwasm {self.function.kind} {self._name}"

    def _check_definition(self, session: "SparkSession") -> None:
        """The checks that need a session: the session itself, then the result type."""
        _check_session(session, self._what())
        if not self._checked:
            _check_return_type(self.function, self._declared)
            self._checked = True

    def _renamed(self, name: str) -> "WasmUDF":
        """This UDF under another SQL name (``spark.udf.register``)."""
        renamed = WasmUDF(
            self.function, self._declared, deterministic=self.deterministic, name=name
        )
        renamed._returnType_placeholder = self._returnType_placeholder
        return renamed

    def _command(self, sc: "SparkContext") -> bytes:
        """The SQL command (format 3) the worker gets for this function, with ``sc``'s
        sandbox settings (read when the JVM UDF is built, as an RDD pass reads them)."""
        sql = self.sql
        manifest = SqlManifest(
            module_digest=self.function.module.digest,
            function=self.function.name,
            kind=self.function.kind,
            args=sql.args,
            returns=sql.returns,
            policy=job_policy(sc),
        )
        return encode_sql_command(manifest, self.function.module._bytes)

    def _create_judf(self, func: Any = None, include_transpiled: bool = True) -> "JavaObject":
        """The JVM ``UserDefinedPythonFunction``: our command, the worker as ``pythonExec``."""
        from pyspark.sql import SparkSession

        from ._rdd import _python_function

        _refuse_connect(self._what())
        spark = SparkSession._getActiveSessionOrCreate()
        self._check_definition(spark)
        sc = spark.sparkContext
        self.evalType = eval_type_for(self.function.kind, sc.version)
        wrapped = _python_function(sc, self._command(sc))
        jdt = spark._jsparkSession.parseDataType(self.returnType.json())
        return _new_judf(sc, self._name, wrapped, jdt, self.evalType, self.deterministic)

    def __call__(self, *args: Any, **kwargs: Any) -> "Column":
        sql = self.sql
        signature = sql.describe(self.function.name)
        if kwargs:
            raise TypeError(
                f"{self._name}: WASM UDFs take positional arguments only ({signature}), got "
                f"keyword arguments {sorted(kwargs)}"
            )
        if len(args) != len(sql.args):
            raise TypeError(
                f"{self._name} takes {len(sql.args)} argument{'s' if len(sql.args) != 1 else ''} "
                f"({signature}), got {len(args)}"
            )
        _refuse_connect(self._what())
        from pyspark.sql import Column, SparkSession
        from pyspark.sql import functions as F

        session = SparkSession.getActiveSession()
        if session is not None:
            # Cheap (one conf read) and catches a conf set after the UDF was defined.
            self._check_definition(session)
        columns = []
        for index, (arg, spark_type) in enumerate(zip(args, sql.args)):
            if isinstance(arg, str):
                column = F.col(arg)
            elif isinstance(arg, Column):
                column = arg
            else:
                raise TypeError(
                    f"{self._name}: argument {index} must be a column name or a Column, got "
                    f"{type(arg).__name__} (wrap literals in pyspark.sql.functions.lit)"
                )
            # The worker needs the exact types of the signature; Spark casts as for built-in
            # functions (ANSI mode turns a bad cast into an error).
            columns.append(column.cast(spark_type))
        return super().__call__(*columns)

    def __repr__(self) -> str:
        return (
            f"<WasmUDF {self._name}: {self.function.kind} {self.sql.describe(self.function.name)}"
            f" in module {self.function.module.digest[:12]}>"
        )


def _new_judf(
    sc: "SparkContext",
    name: str,
    wrapped: "JavaObject",
    jdt: "JavaObject",
    eval_type: int,
    deterministic: bool,
) -> "JavaObject":
    """``new UserDefinedPythonFunction(...)`` with the parameters this Spark's class takes:
    7 in 4.3 (name, func, dataType, evalType, deterministic, transpiled, transpiledInputTypes),
    5 before (no transpilation)."""
    from py4j.java_collections import ListConverter  # type: ignore[import-untyped]

    assert sc._jvm is not None
    jvm = sc._jvm
    cls = jvm.java.lang.Class.forName(_JUDF_CLASS)
    arities = sorted({len(c.getParameterTypes()) for c in cls.getConstructors()})
    constructor = getattr(jvm, _JUDF_CLASS)
    if 7 in arities:
        client = sc._gateway._gateway_client  # type: ignore[union-attr]
        empty = ListConverter().convert([], client)
        # Transpilation (Python to Catalyst) is for eval type 100 only: nothing to transpile.
        return constructor(name, wrapped, jdt, eval_type, deterministic, empty, empty)
    if 5 in arities:
        return constructor(name, wrapped, jdt, eval_type, deterministic)
    raise ValueError(
        f"sparkwasm cannot build a UDF on Spark {sc.version}: its {_JUDF_CLASS} takes "
        f"{' or '.join(map(str, arities))} parameters, and sparkwasm knows the 5-parameter "
        "(Spark 3.5-4.2) and 7-parameter (4.3) forms"
    )


# --- the public functions ------------------------------------------------------------------


def udf(
    f: WasmFunction, returnType: Optional[DataTypeOrString] = None, *, deterministic: bool = True
) -> WasmUDF:
    """A Spark SQL UDF running ``f``, a function declared with ``#[sparkwasm::udf]``::

        m = sparkwasm.load(spark.sparkContext, "sql_guest.wasm")
        str_len = sparkwasm.udf(m.str_len)
        df.select(str_len("name"))

    ``returnType`` (a ``DataType`` or a type string) defaults to the type the module declares
    and must equal it when given. ``deterministic=False`` is ``asNondeterministic()``.
    Raises ``TypeError`` for a function of another kind, a wrong ``returnType`` or a function
    bound with ``.using``; ``ValueError`` for a session in which the UDF cannot run (Spark
    Connect, Spark before 3.5, ``spark.sql.execution.pyspark.python`` set).
    """
    function = _need_sql_function("sparkwasm.udf", f, "udf")
    return WasmUDF(function, returnType, deterministic=deterministic)


def udaf(f: WasmFunction, returnType: Optional[DataTypeOrString] = None) -> WasmUDF:
    """A Spark SQL aggregate function running ``f``, declared with ``#[sparkwasm::udaf]``::

        wmean = sparkwasm.udaf(m.weighted_mean)
        df.groupBy("k").agg(wmean("x", "w"))

    It works where a grouped-aggregate ``pandas_udf`` does (``groupBy().agg``, a global
    ``agg``, SQL ``GROUP BY``), and every row of a group reaches the worker. Raises as
    :func:`udf` does.
    """
    function = _need_sql_function("sparkwasm.udaf", f, "udaf")
    return WasmUDF(function, returnType)


def _as_wasm_udf(f: Any, returnType: Any, api: str) -> Optional[WasmUDF]:
    """``f`` as a :class:`WasmUDF` when it is one (or the wrapper PySpark's ``_wrapped()``
    makes of one, or a SQL WASM function); ``None`` for anything else."""
    unwrapped = getattr(f, "_unwrapped", None)
    if isinstance(unwrapped, WasmUDF):
        f = unwrapped
    if isinstance(f, WasmUDF):
        if returnType is not None:
            raise TypeError(
                f"{api}: returnType cannot be given for a UDF ({f._name} returns "
                f"{f.sql.returns}); register the UDF alone"
            )
        return f
    if isinstance(f, WasmFunction):
        if f.kind == "udaf":
            return udaf(_need_sql_function(api, f, "udaf"), returnType)
        return udf(_need_sql_function(api, f, "udf"), returnType)
    return None


def _register(session: "SparkSession", name: Any, f: WasmUDF) -> WasmUDF:
    if not isinstance(name, str) or not name:
        raise TypeError(f"the SQL name of a UDF must be a non-empty string, got {name!r}")
    _refuse_connect(f"registering {name}")
    renamed = f._renamed(name)
    renamed._check_definition(session)
    # As PySpark's UDFRegistration.register does, with our JVM UDF.
    session._jsparkSession.udf().registerPython(name, renamed._judf)
    return renamed


def register(spark: "SparkSession", name: str, f: Union[WasmUDF, WasmFunction]) -> WasmUDF:
    """Registers ``f`` as the SQL function ``name`` of ``spark``'s session and returns the UDF
    under that name::

        sparkwasm.register(spark, "str_len", m.str_len)     # or sparkwasm.udf(m.str_len)
        spark.sql("SELECT str_len(name) FROM t")

    ``f`` is a :class:`WasmUDF` or a ``udf``/``udaf`` WASM function. ``spark.udf.register``
    does the same for these once ``sparkwasm`` is imported. In SQL the arguments are not cast
    (SQL calls do not go through Python): they must already have the declared types.
    """
    from pyspark.sql import SparkSession

    if not isinstance(spark, SparkSession) and not _is_connect(spark):
        raise TypeError(f"sparkwasm.register needs a SparkSession, got {type(spark).__name__}")
    if _is_connect(spark):
        raise ValueError(
            f"registering {name}: sparkwasm UDFs need a classic SparkSession; Spark Connect "
            "is not supported"
        )
    udf_ = _as_wasm_udf(f, None, "sparkwasm.register")
    if udf_ is None:
        raise TypeError(
            "sparkwasm.register needs a sparkwasm UDF (sparkwasm.udf/udaf) or a udf/udaf WASM "
            f"function, got {type(f).__name__}; register Python functions with spark.udf.register"
        )
    return _register(spark, name, udf_)


def install_register_hook() -> None:
    """Wraps ``pyspark.sql.udf.UDFRegistration.register`` so that ``spark.udf.register(name,
    f)`` registers a sparkwasm UDF as itself (PySpark's would rebuild it as a Python UDF);
    anything else goes to PySpark's. Idempotent."""
    from pyspark.sql.udf import UDFRegistration

    current = UDFRegistration.register
    if getattr(current, _ORIGINAL_REGISTER, None) is not None:
        return
    original: Callable[..., Any] = current

    @functools.wraps(original)
    def register_(
        self: UDFRegistration, name: str, f: Any, returnType: Optional[DataTypeOrString] = None
    ) -> Any:
        wasm = _as_wasm_udf(f, returnType, "spark.udf.register")
        if wasm is None:
            return original(self, name, f, returnType)
        return _register(self.sparkSession, name, wasm)

    setattr(register_, _ORIGINAL_REGISTER, original)
    UDFRegistration.register = register_  # type: ignore[method-assign]
