//! The sparkwasm guest SDK: write Spark RDD functions in plain typed Rust and compile them to a
//! sparkwasm module (`wasm32-wasip1`) that runs in place of PySpark's Python worker.
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
//! #[sparkwasm::map_partitions]
//! fn running_total(rows: impl Iterator<Item = i64>) -> impl Iterator<Item = i64> {
//!     rows.scan(0, |sum, x| { *sum += x; Some(*sum) })
//! }
//! ```
//!
//! Build the crate as a `cdylib` for `wasm32-wasip1`. Element types are any serde types
//! (`Serialize + DeserializeOwned + 'static`): integers, floats, `bool`, `String`, [`Bytes`],
//! `Option`, tuples, `Vec`, `HashMap`/`BTreeMap` and your own `#[derive(Serialize,
//! Deserialize)]` types. Records coming from Python are decoded into these types with range
//! checks (a Python `300` is an error for `u8`, never a wrong number); records going back to
//! Python become the natural Python values (tuples stay tuples, `None` stays `None`).
//!
//! # How a task runs
//!
//! The host calls the module's `sparkwasm_run_task` export with a task spec naming the input
//! encoding, the element type of the input, the steps (functions) to apply in order and the
//! output encoding. The SDK pulls input a batch at a time, decodes it lazily into the first
//! step's type, runs the steps as a chain of iterators (a partition is streamed, never
//! materialized, except by `reduceByKey` which must see every key) and writes the output a
//! batch at a time. A panic in a function fails the task with the function's name, the panic
//! location and message.
//!
//! The guest/host contract itself lives in the `sparkwasm-abi` crate.

#![deny(unsafe_code)] // `ffi` alone opts out.

// Lets the macros' `::sparkwasm::codegen` paths resolve inside this crate's own tests.
extern crate self as sparkwasm;

mod element;
mod error;
mod ffi;
mod host;
mod input;
mod output;
mod steps;
mod task;

#[cfg(test)]
mod tests;

pub use serde_bytes::ByteBuf as Bytes;
pub use sparkwasm_macros::{filter, flat_map, map, map_partitions, reduce};

/// What the attribute macros expand to; not part of the public API and may change at any time.
#[doc(hidden)]
pub mod codegen {
    pub use crate::element::{
        handle_of, Apply, Element, ElementType, Function, NotPairProbe, PairOps, PairProbe, Probe,
        Rows, Stream,
    };
    pub use crate::error::Error;
    pub use crate::steps::{filter, flat_map, map, map_partitions};
    pub use sparkwasm_abi as abi;
}
