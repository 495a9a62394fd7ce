//! The sparkwasm guest SDK: write Spark RDD functions and Spark SQL UDFs in plain typed Rust
//! and compile them to a sparkwasm module (`wasm32-wasip1`) that runs in place of PySpark's
//! Python worker.
//!
//! ```ignore
//! #[sparkwasm::flat_map]
//! fn split_words(line: String) -> Vec<String> {
//!     line.split_whitespace().map(str::to_lowercase).collect()
//! }
//!
//! #[sparkwasm::map]
//! fn with_one(word: String) -> (String, i64) { (word, 1) }
//!
//! #[sparkwasm::filter]
//! fn is_long(word: &String) -> bool { word.len() > 3 }
//!
//! #[sparkwasm::reduce]
//! fn add(a: i64, b: i64) -> i64 { a + b }
//!
//! #[sparkwasm::key]
//! fn first_letter(word: &String) -> String { word.chars().take(1).collect() }
//!
//! #[sparkwasm::seq_op]
//! fn add_len(total: i64, word: String) -> i64 { total + word.len() as i64 }
//!
//! #[sparkwasm::foreach]
//! fn count(word: String) {
//!     sparkwasm::accumulator::<i64>("words").expect("bound by the driver").add(1);
//! }
//! ```
//!
//! The RDD function kinds are `map`, `flat_map`, `filter`, `map_partitions`,
//! `map_partitions_with_index`, `reduce`, `key`, `seq_op`, `partitioner`, `foreach` and
//! `foreach_partition` (see each macro for its signature); Spark SQL has `udf` and `udaf`
//! (below). Build the crate as a `cdylib` for
//! `wasm32-wasip1`. Element types are any serde types (`Serialize + DeserializeOwned +
//! 'static`): integers, floats, `bool`, `String`, [`Bytes`], `Option`, tuples, `Vec`,
//! `HashMap`/`BTreeMap` and your own `#[derive(Serialize, Deserialize)]` types. Records coming
//! from Python are decoded into these types with range checks (a Python `300` is an error for
//! `u8`, never a wrong number); records going back to Python become the natural Python values
//! (tuples stay tuples, `None` stays `None`).
//!
//! # Spark SQL functions
//!
//! `#[sparkwasm::udf]` registers a per-row scalar function over Spark SQL types and
//! `#[sparkwasm::udaf]` an aggregate (see [`Udaf`]); the SDK runs them a column batch at a
//! time, viewing fixed-width columns in place and writing results into columns reused across
//! batches:
//!
//! ```ignore
//! #[sparkwasm::udf]
//! fn str_len(s: &str) -> i32 { s.chars().count() as i32 }
//!
//! #[sparkwasm::udf]
//! fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> { Some(a? / b?) }
//!
//! #[sparkwasm::udf(nulls = "reject")]
//! fn must(x: i64) -> i64 { x }
//!
//! #[sparkwasm::udaf]
//! fn sum_long() -> impl sparkwasm::Udaf<i64, Output = i64> { Sum::default() }
//! ```
//!
//! Arguments are `bool`, `i8`…`i64`, `f32`, `f64`, `&str`, `&[u8]`, [`Date`], [`Timestamp`],
//! [`TimestampNtz`], [`Decimal<P, S>`](Decimal), [`List<T>`](List) for an `array<T>` (a view
//! of the batch) and structs with [`#[derive(SqlStruct)]`](SqlStruct), or `Option` of those
//! to receive nulls; results the same with `String`, `Vec<u8>` and `Vec<T>` for strings,
//! binaries and arrays. Array elements and struct fields may be `Option`s too. A null in a
//! non-`Option` argument (or inside one: an element of a `List<i64>`, a non-`Option` field)
//! makes the result null without calling the function (an aggregate skips the row), or with
//! `nulls = "reject"` fails the task naming the row.
//!
//! Besides its records a function can read its task's context ([`task_context`]), broadcast
//! variables ([`broadcast`], [`broadcast_shared`]), add to accumulators ([`accumulator`]) and
//! open SparkFiles ([`spark_file`]) when the worker grants them.
//!
//! # How a task runs
//!
//! The host calls the module's `sparkwasm_run_task` export with a task spec naming the input
//! encoding, the element type of the input, the steps to apply in order and the output. The
//! SDK plans the task first (every handle resolved, every step's kind checked), pulls input a
//! batch at a time, decodes it lazily, runs the steps as a chain of iterators and writes the
//! output a batch at a time. When the output reads the whole partition, `map`, `filter` and
//! `flat_map` take a batch of elements per call instead of one (no function sees an element
//! PySpark would not have given it). Elements stay in the functions' own types wherever adjacent
//! steps agree; steps that build types nobody declared (`groupByKey`, joins, ...) carry
//! Python's data model instead, and a typed function after them decodes its input from it. A
//! partition is streamed, except by the steps that must see all of it (grouping, sorting,
//! aggregating by key). A panic in a function fails the task with the function's name, the
//! panic location and message.
//!
//! The guest/host contract itself lives in the `sparkwasm-abi` crate.

#![deny(unsafe_code)] // `ffi` and `sql::bytes` alone opt out.

// Lets the macros' `::sparkwasm::codegen` paths resolve inside this crate's own tests.
extern crate self as sparkwasm;

mod context;
mod element;
mod error;
mod ffi;
mod host;
mod input;
mod keyed;
mod output;
mod plan;
mod sql;
mod steps;
mod stream;
mod task;
mod value;
mod whole;

#[cfg(test)]
mod tests;

pub use context::{
    accumulator, broadcast, broadcast_shared, spark_file, task_context, Accumulator,
    AccumulatorValue, TaskContext,
};
pub use error::Error;
pub use serde_bytes::ByteBuf as Bytes;
pub use sparkwasm_macros::{
    filter, flat_map, foreach, foreach_partition, key, map, map_partitions,
    map_partitions_with_index, partitioner, reduce, seq_op, udaf, udf, SqlStruct,
};
pub use sql::{Date, Decimal, List, ListIter, SqlStruct, Timestamp, TimestampNtz, Udaf};

/// The SDK's batch codecs for the micro-benchmarks (`benches/codec.rs`); not part of the API.
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
#[path = "bench_api.rs"]
pub mod __bench;

/// What the attribute macros expand to; not part of the public API and may change at any time.
#[doc(hidden)]
pub mod codegen {
    pub use crate::element::{
        handle_of, Element, ElementType, FilterFn, FlatMapFn, ForeachFn, ForeachPartitionFn,
        Function, KeyFn, MapFn, MapPartitionsFn, MapPartitionsWithIndexFn, NotPairProbe, PairOps,
        PairProbe, PartitionerFn, Probe, ReduceFn, Rows, SeqOpFn,
    };
    pub use sparkwasm_abi as abi;

    /// What `#[udf]` and `#[udaf]` expand to.
    pub mod sql {
        pub use crate::sql::{
            boxed_state, builder, concat_bytes, concat_len, field_error, new_result, state_mut,
            state_take, struct_parts, utf8, AggregateFinish, AggregateInit, AggregateUpdate,
            ArgType, BinaryColumn, BytesBuilder, Call, CallError, Column, Fixed, FixedBuilder,
            FixedColumn, ListBuilder, ListColumn, Nullable, OwnedColumn, ResultColumn, ResultType,
            ScalarCall, Scratch, SqlEntry, SqlFunction, SqlStruct, StrColumn, StructRows, Validity,
        };
    }
}
