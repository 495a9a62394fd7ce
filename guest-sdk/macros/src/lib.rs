//! Attribute macros of the sparkwasm guest SDK: `#[map]`, `#[flat_map]`, `#[filter]`,
//! `#[reduce]`, `#[map_partitions]`, `#[map_partitions_with_index]`, `#[key]`, `#[seq_op]`,
//! `#[partitioner]`, `#[foreach]` and `#[foreach_partition]` for RDDs; `#[udf]` and `#[udaf]`
//! for Spark SQL (see `sql`), with `#[derive(SqlStruct)]` for Spark structs (see
//! `sql_struct`).
//!
//! Authors reach these through the `sparkwasm` crate (`#[sparkwasm::map]`); this crate is an
//! implementation detail. Each macro keeps the author's function unchanged and adds, beside it:
//!
//! * a descriptor of the function (ABI version, name, kind, element types) in the
//!   `sparkwasm.functions` custom section, computed here at expansion time so hosts can read
//!   it without running guest code;
//! * a `'static` type-erased registration of the function (`sparkwasm::codegen::Function`)
//!   whose monomorphized helpers decode, apply and encode the author's concrete types;
//! * the export `sparkwasm_fn_<name>() -> u32` returning the function's handle.
//!
//! A signature that does not fit the kind becomes a `compile_error!` stating the expected
//! signature, pointing at the offending tokens.

mod expand;
mod signature;
mod sql;
mod sql_struct;
mod sql_types;

use proc_macro::TokenStream;
use sparkwasm_abi::FunctionKind;

/// Registers `fn(T) -> U` as a sparkwasm `map` function: one output record per input record.
///
/// ```ignore
/// #[sparkwasm::map]
/// fn with_one(word: String) -> (String, i64) { (word, 1) }
/// ```
#[proc_macro_attribute]
pub fn map(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(FunctionKind::Map, attr.into(), item.into()).into()
}

/// Registers `fn(T) -> Vec<U>` (or `Option<U>`, `impl IntoIterator<Item = U>`,
/// `impl Iterator<Item = U>`) as a sparkwasm `flat_map` function: zero or more output records
/// per input record.
///
/// ```ignore
/// #[sparkwasm::flat_map]
/// fn split_words(line: String) -> Vec<String> { line.split(' ').map(String::from).collect() }
/// ```
#[proc_macro_attribute]
pub fn flat_map(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(FunctionKind::FlatMap, attr.into(), item.into()).into()
}

/// Registers `fn(&T) -> bool` as a sparkwasm `filter` function: keeps the records for which
/// it returns `true`.
///
/// ```ignore
/// #[sparkwasm::filter]
/// fn is_long(word: &String) -> bool { word.len() > 3 }
/// ```
#[proc_macro_attribute]
pub fn filter(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(FunctionKind::Filter, attr.into(), item.into()).into()
}

/// Registers `fn(V, V) -> V` as a sparkwasm `reduce` function: an associative and commutative
/// merge of two values, used by `reduceByKey` on `(K, V)` records.
///
/// ```ignore
/// #[sparkwasm::reduce]
/// fn add(a: i64, b: i64) -> i64 { a + b }
/// ```
#[proc_macro_attribute]
pub fn reduce(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(FunctionKind::Reduce, attr.into(), item.into()).into()
}

/// Registers `fn(impl Iterator<Item = T>) -> impl Iterator<Item = U>` (or `-> Vec<U>`) as a
/// sparkwasm `map_partitions` function: it sees a whole partition at once.
///
/// ```ignore
/// #[sparkwasm::map_partitions]
/// fn running_total(rows: impl Iterator<Item = i64>) -> impl Iterator<Item = i64> {
///     rows.scan(0, |sum, x| { *sum += x; Some(*sum) })
/// }
/// ```
#[proc_macro_attribute]
pub fn map_partitions(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(FunctionKind::MapPartitions, attr.into(), item.into()).into()
}

/// Registers `fn(index: u32, rows: impl Iterator<Item = T>) -> impl Iterator<Item = U>` (or
/// `-> Vec<U>`) as a sparkwasm `map_partitions_with_index` function: it sees a whole
/// partition at once, with the partition's index.
///
/// ```ignore
/// #[sparkwasm::map_partitions_with_index]
/// fn tag(index: u32, rows: impl Iterator<Item = i64>) -> impl Iterator<Item = (u32, i64)> {
///     rows.map(move |x| (index, x))
/// }
/// ```
#[proc_macro_attribute]
pub fn map_partitions_with_index(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(
        FunctionKind::MapPartitionsWithIndex,
        attr.into(),
        item.into(),
    )
    .into()
}

/// Registers `fn(x: &T) -> K` as a sparkwasm `key` function: the key of a record (`keyBy`,
/// `groupBy`, `sortBy`, and the key of `max`, `min`, `top`, `takeOrdered`).
///
/// ```ignore
/// #[sparkwasm::key]
/// fn first_char(word: &String) -> String { word.chars().take(1).collect() }
/// ```
#[proc_macro_attribute]
pub fn key(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(FunctionKind::Key, attr.into(), item.into()).into()
}

/// Registers `fn(acc: U, v: V) -> U` as a sparkwasm `seq_op` function: folds a value into an
/// accumulator (`aggregate`'s and `aggregateByKey`'s seqOp, `combineByKey`'s mergeValue).
///
/// ```ignore
/// #[sparkwasm::seq_op]
/// fn add_len(total: i64, word: String) -> i64 { total + word.len() as i64 }
/// ```
#[proc_macro_attribute]
pub fn seq_op(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(FunctionKind::SeqOp, attr.into(), item.into()).into()
}

/// Registers `fn(key: &K) -> u64` as a sparkwasm `partitioner` function: the partition of a
/// key before `% numPartitions` (`partitionBy`).
///
/// ```ignore
/// #[sparkwasm::partitioner]
/// fn by_mod_three(key: &i64) -> u64 { key.rem_euclid(3) as u64 }
/// ```
#[proc_macro_attribute]
pub fn partitioner(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(FunctionKind::Partitioner, attr.into(), item.into()).into()
}

/// Registers `fn(x: T)` as a sparkwasm `foreach` function: a side effect per record
/// (typically adding to an accumulator).
///
/// ```ignore
/// #[sparkwasm::foreach]
/// fn count(x: i64) { sparkwasm::accumulator::<i64>("seen").unwrap().add(1); }
/// ```
#[proc_macro_attribute]
pub fn foreach(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(FunctionKind::Foreach, attr.into(), item.into()).into()
}

/// Registers `fn(rows: impl Iterator<Item = T>)` as a sparkwasm `foreach_partition`
/// function: a side effect per partition.
///
/// ```ignore
/// #[sparkwasm::foreach_partition]
/// fn total(rows: impl Iterator<Item = i64>) {
///     sparkwasm::accumulator::<i64>("total").unwrap().add(rows.sum());
/// }
/// ```
#[proc_macro_attribute]
pub fn foreach_partition(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(FunctionKind::ForeachPartition, attr.into(), item.into()).into()
}

/// Registers `fn(a: A, b: B, ...) -> R` as a Spark SQL scalar function (`udf`), called per
/// row over column batches.
///
/// Argument types: `bool`, `i8`, `i16`, `i32`, `i64`, `f32`, `f64`, `&str`, `&[u8]`,
/// `sparkwasm::{Date, Timestamp, TimestampNtz, Decimal<P, S>}`, `sparkwasm::List<T>` (an
/// `array<T>`, viewed in the batch), structs with `#[derive(sparkwasm::SqlStruct)]`, or
/// `Option<T>` of one of them to receive nulls. Result types: the same with `String` and
/// `Vec<u8>` for strings and binaries and `Vec<T>` for arrays, or `Option<T>` to return nulls.
/// Array elements and struct fields may be `Option<T>` too. A null in a non-`Option` argument
/// (or inside it: a null element of a `List<i64>`, a null non-`Option` field) makes the
/// result null without calling the function (`nulls = "skip"`, the default) or fails the task
/// naming the argument and the row (`#[sparkwasm::udf(nulls = "reject")]`).
///
/// ```ignore
/// #[sparkwasm::udf]
/// fn str_len(s: &str) -> i32 { s.chars().count() as i32 }
///
/// #[sparkwasm::udf(nulls = "reject")]
/// fn must(x: i64) -> i64 { x }
/// ```
#[proc_macro_attribute]
pub fn udf(attr: TokenStream, item: TokenStream) -> TokenStream {
    sql::expand(FunctionKind::Udf, attr.into(), item.into()).into()
}

/// Registers `fn() -> impl sparkwasm::Udaf<Args, Output = R>` as a Spark SQL aggregate
/// function (`udaf`): the function makes a group's accumulator, `Udaf::update` folds each of
/// the group's rows into it and `Udaf::finish` gives the group's result.
///
/// The argument and result types are read from the `Udaf<Args, Output = R>` bound (write it
/// out; a named accumulator type hides them from the macro). `Args` is the one argument type
/// or a tuple of them, from the same table as `#[udf]`'s; a borrowed argument needs
/// `impl for<'a> Udaf<&'a str, Output = R>`. Rows with a null in a non-`Option` argument
/// are skipped (`nulls = "skip"`, the default) or fail the task (`nulls = "reject"`).
///
/// ```ignore
/// #[sparkwasm::udaf]
/// fn sum_long() -> impl sparkwasm::Udaf<i64, Output = i64> { Sum::default() }
/// ```
#[proc_macro_attribute]
pub fn udaf(attr: TokenStream, item: TokenStream) -> TokenStream {
    sql::expand(FunctionKind::Udaf, attr.into(), item.into()).into()
}

/// Makes a struct with named fields a Spark SQL `struct<...>` type, for `#[udf]` and `#[udaf]`
/// arguments and results: `struct<field:type,...>` with the Rust field names, in order.
///
/// Field types are those of SQL functions, owned or borrowed: `i32`, `String` or `&'a str`,
/// `Vec<u8>` or `&'a [u8]`, `Vec<T>` or `sparkwasm::List<'a, T>`, other derived structs,
/// `Option<T>` for a nullable field. A struct without a lifetime is both an argument (owned
/// fields copied per row) and a result; a struct with one lifetime borrows from the batch
/// and is an argument only.
///
/// ```ignore
/// #[derive(sparkwasm::SqlStruct)]
/// struct Point { a: i32, b: String }          // struct<a:int,b:string>
///
/// #[sparkwasm::udf]
/// fn point_label(p: Point) -> String { format!("{}:{}", p.b, p.a) }
/// ```
#[proc_macro_derive(SqlStruct)]
pub fn sql_struct(input: TokenStream) -> TokenStream {
    sql_struct::derive(input.into()).into()
}
