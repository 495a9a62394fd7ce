//! Guest functions of the side-by-side benchmark (`benchmarks/run.py`): the narrow job's
//! steps, the identity that measures the exchange itself, and the SQL UDF rows' functions.
//! Each is the WASM twin of a Python lambda in the benchmark, so both sides compute the same
//! answer.

/// `x * 3 + 1` (the narrow job's map; Python `lambda x: x * 3 + 1`).
#[sparkwasm::map]
fn triple_plus_one(x: i64) -> i64 {
    x * 3 + 1
}

/// Keeps multiples of four (the narrow job's filter; Python `lambda x: x % 4 == 0`).
#[sparkwasm::filter]
fn is_multiple_of_four(x: &i64) -> bool {
    x % 4 == 0
}

/// The element unchanged: a pass through the worker that does no work, the ceiling of the
/// exchange between the JVM and the worker.
#[sparkwasm::map]
fn identity(x: i64) -> i64 {
    x
}

/// Reads nothing and yields nothing: the worker still receives the whole partition and drops
/// it undecoded, so a job over it is the exchange alone (the `exchange-floor` row).
#[sparkwasm::map_partitions]
fn drop_partition(rows: impl Iterator<Item = i64>) -> impl Iterator<Item = i64> {
    drop(rows);
    std::iter::empty()
}

/// `x * 2 + 1` as a Spark SQL UDF (the `sql-*` rows' `f`; Python `lambda x: x * 2 + 1`).
#[sparkwasm::udf]
fn affine(x: i64) -> i64 {
    x.wrapping_mul(2).wrapping_add(1)
}

/// The value unchanged as a Spark SQL UDF: the `sql-exchange-floor` row.
#[sparkwasm::udf]
fn id_long(x: i64) -> i64 {
    x
}
