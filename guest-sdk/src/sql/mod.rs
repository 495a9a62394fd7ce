//! Spark SQL functions (ABI 4): `#[sparkwasm::udf]` scalar functions and
//! `#[sparkwasm::udaf]` aggregates, evaluated a columnar batch at a time.
//!
//! ```ignore
//! #[sparkwasm::udf]
//! fn str_len(s: &str) -> i32 { s.chars().count() as i32 }
//!
//! #[sparkwasm::udf]
//! fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> { Some(a? / b?) }
//! ```
//!
//! Authors write per-row functions over plain Rust types; the macros generate the batch loop
//! over column views (`column`) and result columns (`builder`), and the SQL loop (`run`)
//! drives them over the task's input. The type mapping (Rust ↔ Spark):
//!
//! | Spark | argument | result |
//! |---|---|---|
//! | `boolean` | `bool` | `bool` |
//! | `tinyint` / `smallint` / `int` / `bigint` | `i8` / `i16` / `i32` / `i64` | same |
//! | `float` / `double` | `f32` / `f64` | same |
//! | `string` | `&str` | `String` |
//! | `binary` | `&[u8]` | `Vec<u8>` |
//! | `date` | [`Date`] | [`Date`] |
//! | `timestamp` / `timestamp_ntz` | [`Timestamp`] / [`TimestampNtz`] | same |
//! | `decimal(P,S)` | [`Decimal<P, S>`](Decimal) | same |
//! | `array<T>` | [`List<T>`](List) (a view of the batch) | `Vec<T>` |
//! | `struct<a:A,...>` | a struct with [`#[derive(SqlStruct)]`](SqlStruct) | the same struct |
//! | nullable | `Option<T>` | `Option<T>` |
//!
//! Array elements and struct fields may be `Option<T>` to see (or make) nulls. A null inside
//! a non-`Option` element or field counts as a null argument: `List<i64>` never meets a null
//! element; the row is skipped (or rejected) instead.

mod builder;
mod bytes;
mod column;
mod function;
mod list;
mod run;
mod structs;
mod types;

#[cfg(test)]
mod tests;

pub use builder::{BytesBuilder, FixedBuilder, ResultColumn, ResultType};
pub use column::{
    ArgType, BinaryColumn, Column, Fixed, FixedColumn, Nullable, OwnedColumn, Scratch, StrColumn,
    Validity,
};
pub use function::{
    boxed_state, builder, new_result, state_mut, state_take, AggregateFinish, AggregateInit,
    AggregateUpdate, Call, CallError, ScalarCall, SqlEntry, SqlFunction, Udaf,
};
pub use list::{List, ListBuilder, ListColumn, ListIter};
pub(crate) use run::run;
pub use structs::{
    concat_bytes, concat_len, field_error, struct_parts, utf8, SqlStruct, StructRows,
};
pub use types::{Date, Decimal, Timestamp, TimestampNtz};
