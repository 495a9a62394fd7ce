"""sparkwasm: run Apache Spark RDD functions and SQL UDFs compiled to WebAssembly, from PySpark.

Write RDD functions in Rust with the ``sparkwasm`` guest SDK, build them for
``wasm32-wasip1``, and use them from a PySpark driver::

    import sparkwasm

    wc = sparkwasm.load(sc, "target/wasm32-wasip1/release/wordcount.wasm")
    counts = (sparkwasm.wrap(sc.textFile(path))
              .flatMap(wc.split_words).map(wc.with_one).reduceByKey(wc.add))
    counts.collect()        # [('spark', 42), ...]

* :func:`load` reads a module on the driver and checks it: a wasm core module carrying the
  SDK's function descriptors, built for guest ABI version 4, exporting what the worker calls.
  ``module.functions`` lists its functions; ``module.<name>`` is a :class:`WasmFunction`.
* :func:`wrap` turns any PySpark RDD whose records are pickled (the default), UTF-8 text
  (``sc.textFile``), UTF-8 pairs (``sc.wholeTextFiles``) or sparkwasm output into a
  :class:`WasmRDD`. Its methods (the RDD API: ``map`` ... ``mapPartitionsWithIndex``,
  ``mapValues``, ``keyBy``, ``groupBy``, ``reduceByKey``, ``foldByKey``, ``aggregateByKey``,
  ``combineByKey``, ``groupByKey``, ``partitionBy``, ``sortBy``, ``sortByKey``, ``distinct``,
  the joins, ``cogroup``, ``subtractByKey``, and the actions ``reduce``, ``fold``,
  ``aggregate``, ``treeReduce``, ``treeAggregate``, ``max``, ``min``, ``top``,
  ``takeOrdered``, ``foreach``, ``foreachPartition``, ``count``, ``sum``, ``take``, ``first``,
  ``collect``, ``countByKey``, ``countByValue``, ``saveAsTextFile``) take WASM functions of
  the kind each argument needs and behave as PySpark's; given Python callables they are
  PySpark's. Once an RDD is WASM output, everything including the actions runs in the
  worker: no Python on the executors. Kinds and element types are checked when the pipeline
  is defined. Consecutive steps of one module run in one worker pass, like PySpark's
  pipelined Python functions. Python transformations and actions chain after it.
* :func:`udf` and :func:`udaf` (or ``module.udf(name)``/``module.udaf(name)``) make Spark
  SQL UDFs and aggregate functions (:class:`WasmUDF`) of ``#[sparkwasm::udf]`` and
  ``#[sparkwasm::udaf]`` functions, for DataFrames::

      str_len = sparkwasm.udf(m.str_len)
      df.select(str_len("name")).groupBy("k").agg(sparkwasm.udaf(m.weighted_mean)("x", "w"))

  :func:`register` (and ``spark.udf.register``, which importing sparkwasm teaches to keep
  them in the worker) makes them SQL functions. Return types are checked against the module
  when a UDF is defined; arguments are cast to the declared Spark types.
* :meth:`WasmFunction.using` binds a function to broadcast variables and accumulators by the
  names the guest asks for.
* :func:`canonical_hash` is the worker's hash partitioning in Python (a PySpark
  ``partitionFunc``), over :func:`key_identity`, a key's canonical encoding
  (:func:`canonical_bytes`) with numbers folded as Python's ``==`` does; :func:`order_key`
  is the order sorting uses.

The worker
----------
Spark's executors run WASM functions in ``sparkwasm-worker``, a Rust binary launched where
PySpark would launch ``python -m pyspark.daemon``. Its path, as seen from the executors, is
(first match wins; see :func:`worker_path`):

1. the Spark conf ``spark.sparkwasm.worker``;
2. the environment variable ``SPARKWASM_WORKER`` on the driver;
3. ``<repository>/target/release/sparkwasm-worker`` when this package is used from its
   source tree (``pip install -e python/``). Build it with
   ``cargo build --release -p sparkwasm-host``.

The worker gets the module bytes with every task (never a driver-local path), and refuses
bytes whose SHA-256 differs from the digest the driver computed.
"""

from ._module import WasmFunction, WasmModule, load
from ._partition import canonical_bytes, canonical_hash, key_identity, order_key
from ._rdd import WasmRDD, wrap
from ._sql import WasmUDF, install_register_hook, register, udaf, udf
from ._wasm import WasmModuleError
from ._worker import worker_path

# spark.udf.register would otherwise turn a WasmUDF back into a Python UDF (see _sql).
install_register_hook()

__all__ = [
    "WasmFunction",
    "WasmModule",
    "WasmModuleError",
    "WasmRDD",
    "WasmUDF",
    "canonical_bytes",
    "canonical_hash",
    "key_identity",
    "load",
    "order_key",
    "register",
    "udaf",
    "udf",
    "worker_path",
    "wrap",
]

__version__ = "0.1.0"
