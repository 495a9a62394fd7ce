//! The one definition of the sparkwasm guest/host ABI.
//!
//! Both the guest SDK (`sparkwasm`, compiled to `wasm32-wasip1`) and the host runtime
//! (`sparkwasm-runtime`) compile against this crate, so the export names, the import names,
//! the batch layout, the task spec and the function descriptor cannot drift apart. It depends
//! on `serde` only, so it builds for every target.
//!
//! # The contract in one page
//!
//! A sparkwasm module is a `wasm32-wasip1` core module that:
//!
//! * carries a custom section named [`DESCRIPTOR_SECTION`]: a concatenation of entries, each a
//!   little-endian `u32` length followed by that many bytes of JSON encoding one
//!   [`FunctionDescriptor`]. Hosts and drivers read it without running guest code.
//! * exports its linear memory as `memory`, and [`EXPORT_ALLOC`], [`EXPORT_RUN_TASK`],
//!   [`EXPORT_ABI_VERSION`] and, per function, `sparkwasm_fn_<name>` (see
//!   [`function_export_name`]) returning an opaque `u32` handle for that function.
//! * may export `_initialize` (WASI reactor); the host calls it once per instance first.
//! * imports only from WASI preview 1 and from the module [`IMPORT_MODULE`]:
//!   [`IMPORT_INPUT_NEXT`], [`IMPORT_OUTPUT_WRITE`], [`IMPORT_REPORT_ERROR`],
//!   [`IMPORT_BROADCAST_READ`] and [`IMPORT_ACCUMULATOR_UPDATE`].
//!
//! One task is one call of [`EXPORT_RUN_TASK`] with a postcard-encoded [`TaskSpec`]. The guest
//! pulls input a batch at a time with [`IMPORT_INPUT_NEXT`] and pushes output a batch at a time
//! with [`IMPORT_OUTPUT_WRITE`]; never one call per record.
//!
//! # Batch layout
//!
//! Input and output batches use Spark's own frame layout, so the host copies socket bytes to
//! and from guest memory without re-encoding: a batch is a sequence of records, each an `i32`
//! big-endian length followed by that many bytes. In input batches a length of
//! [`NULL_RECORD`] (−5) stands for a null element and has no payload. Output batches never
//! contain negative lengths; the host rejects a batch whose lengths do not add up.
//!
//! # Typed and dynamic elements
//!
//! Elements flow typed (the Rust types the functions declare) wherever the steps' types line
//! up. Operations that build types nobody declared (`group_by_key` → `(K, [V])`, joins →
//! `(K, (V, W))`, ...) carry [`Value`]s, Python's data model; a typed function after them
//! decodes its input from the `Value`. Keys are identified by their *identity*: the canonical
//! encoding of their `Value` (postcard of [`Value`]) with numbers folded as Python's `==`
//! folds them (a bool or an integral float is encoded as the int it equals), typed or not, so
//! `1`, `1.0` and `True` are one key, both paths partition alike and the driver can mirror
//! the partitioning. `Value`s order like Python objects (numbers by value across
//! int/float/bool, `str` by code point, `bytes` bytewise, tuples and lists lexicographically,
//! `None` before everything else): sorting and range partitioning use that order.
//!
//! # ABI version history
//!
//! * 1: map, flat_map, filter, map_partitions, reduce; pickle, UTF-8 and binary encodings;
//!   hash-partitioned shuffle output.
//! * 2: the whole RDD API: dynamic [`Value`] elements and their encoding; key, seq_op,
//!   partitioner, foreach, foreach_partition and map_partitions_with_index functions; keyed,
//!   join, sort and whole-partition aggregation steps; count, take, text and sample outputs;
//!   range and function partitioners; task context, broadcasts, accumulators; tagged binary
//!   batches; UTF-8 pair input (`wholeTextFiles`).
//! * 3: [`StepKind::KeyByKey`] (sortByKey with a key function); keys identified by their
//!   identity (numbers folded as Python's `==` does) rather than their canonical encoding.

use serde::{Deserialize, Serialize};

pub mod columnar;
mod value;

pub use value::Value;

/// The ABI version this crate defines. A module built against another version is refused.
pub const ABI_VERSION: u32 = 4;

/// Name of the custom section holding the function descriptors.
pub const DESCRIPTOR_SECTION: &str = "sparkwasm.functions";

/// Guest export `() -> u32`: the ABI version the module was built against.
pub const EXPORT_ABI_VERSION: &str = "sparkwasm_abi_version";
/// Guest export `(size: u32) -> u32`: allocate `size` bytes, return the address or 0.
pub const EXPORT_ALLOC: &str = "sparkwasm_alloc";
/// Guest export `(spec_ptr: u32, spec_len: u32) -> i32`: run one task described by a
/// postcard-encoded [`TaskSpec`]; returns [`STATUS_OK`] or [`STATUS_ERROR`] (after calling
/// [`IMPORT_REPORT_ERROR`]).
pub const EXPORT_RUN_TASK: &str = "sparkwasm_run_task";
/// Prefix of the per-function export `() -> u32` returning the function's handle.
pub const FUNCTION_EXPORT_PREFIX: &str = "sparkwasm_fn_";
/// Name of the linear memory export.
pub const EXPORT_MEMORY: &str = "memory";

/// Module name of the host imports.
pub const IMPORT_MODULE: &str = "sparkwasm";
/// Host import `(buf_ptr: u32, buf_cap: u32) -> i64`. The host copies the next batch of input
/// records (batch layout above) into `buf_ptr..buf_ptr+buf_cap` and returns the number of bytes
/// written (> 0); 0 means the input is exhausted; a negative value `-n` means the next record
/// alone needs `n` bytes of buffer: grow the buffer and call again.
pub const IMPORT_INPUT_NEXT: &str = "input_next";
/// Host import `(ptr: u32, len: u32) -> i32`: hand the host a batch of complete output records.
/// Returns 0 when accepted. Any other value means the host refused it (for example an output
/// limit was hit); the guest must stop and return [`STATUS_ERROR`].
pub const IMPORT_OUTPUT_WRITE: &str = "output_write";
/// Host import `(ptr: u32, len: u32)`: a UTF-8 error message for the current task. The guest's
/// panic hook calls it before aborting, and the guest calls it before returning
/// [`STATUS_ERROR`].
pub const IMPORT_REPORT_ERROR: &str = "report_error";

/// Host import `(broadcast_id: i64, buf_ptr: u32, buf_cap: u32) -> i64`: copies the bytes of
/// broadcast `broadcast_id` (a pickle, as the PySpark driver wrote it) into the buffer and
/// returns their length; a negative value `-n` means the buffer needs `n` bytes (nothing was
/// written); [`BROADCAST_UNKNOWN`] means the task has no such broadcast.
pub const IMPORT_BROADCAST_READ: &str = "broadcast_read";
/// [`IMPORT_BROADCAST_READ`] result for a broadcast the task does not carry.
pub const BROADCAST_UNKNOWN: i64 = i64::MIN;
/// Host import `(ptr: u32, len: u32) -> i32`: one accumulator update, the pickle of the Python
/// tuple `(accumulator_id, value)` that PySpark's accumulator server adds to the registry. The
/// guest sends each accumulator's task total once, after its last output and only when the
/// task succeeded, so the driver sees it exactly once per successful task. Returns 0, or
/// non-zero when the host refused it (too many or too large).
pub const IMPORT_ACCUMULATOR_UPDATE: &str = "accumulator_update";

/// Where the task's SparkFiles directory appears inside the guest (read-only, only when the
/// task grants it; see [`TaskInfo::spark_files`]).
pub const SPARK_FILES_GUEST_DIR: &str = "/sparkfiles";

/// [`EXPORT_RUN_TASK`] result: the task finished and all output was handed over.
pub const STATUS_OK: i32 = 0;
/// [`EXPORT_RUN_TASK`] result: the task failed; the message was sent with
/// [`IMPORT_REPORT_ERROR`].
pub const STATUS_ERROR: i32 = 1;

/// Record length standing for a null element in input batches (Spark's `NULL`).
pub const NULL_RECORD: i32 = -5;

/// Size in bytes of a record's length prefix.
pub const RECORD_HEADER_LEN: usize = 4;

/// The export name of a function's handle getter.
pub fn function_export_name(function: &str) -> String {
    format!("{FUNCTION_EXPORT_PREFIX}{function}")
}

/// What a function does, which fixes how it may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionKind {
    /// `fn(T) -> U`, one output per input.
    Map,
    /// `fn(T) -> impl IntoIterator<Item = U>`, zero or more outputs per input.
    FlatMap,
    /// `fn(&T) -> bool`, keeps the records for which it returns true.
    Filter,
    /// `fn(impl Iterator<Item = T>) -> impl Iterator<Item = U>`, a whole partition at once.
    MapPartitions,
    /// `fn(V, V) -> V`, an associative and commutative merge of two values.
    Reduce,
    /// `fn(u32, impl Iterator<Item = T>) -> impl Iterator<Item = U>`: a whole partition with
    /// its index.
    MapPartitionsWithIndex,
    /// `fn(&T) -> K`: the key of a record (keyBy, groupBy, sortBy, max/min/top by key).
    Key,
    /// `fn(U, V) -> U`: fold a value into an accumulator (aggregate's seqOp, combineByKey's
    /// mergeValue).
    SeqOp,
    /// `fn(&K) -> u64`: the partition of a key before `mod numPartitions` (partitionBy).
    Partitioner,
    /// `fn(T)`: a side effect per record (foreach).
    Foreach,
    /// `fn(impl Iterator<Item = T>)`: a side effect per partition (foreachPartition).
    ForeachPartition,
    /// A Spark SQL scalar UDF: `fn(A, B, ...) -> R` per row, called a column batch at a time
    /// (see [`SqlSignature`]).
    Udf,
    /// A Spark SQL aggregate UDF: an accumulator made per group, updated with column batches
    /// of the group's rows and finished into one value (see [`SqlSignature`]).
    Udaf,
}

impl FunctionKind {
    /// The name used in descriptors and error messages (`flat_map`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionKind::Map => "map",
            FunctionKind::FlatMap => "flat_map",
            FunctionKind::Filter => "filter",
            FunctionKind::MapPartitions => "map_partitions",
            FunctionKind::Reduce => "reduce",
            FunctionKind::MapPartitionsWithIndex => "map_partitions_with_index",
            FunctionKind::Key => "key",
            FunctionKind::SeqOp => "seq_op",
            FunctionKind::Partitioner => "partitioner",
            FunctionKind::Foreach => "foreach",
            FunctionKind::ForeachPartition => "foreach_partition",
            FunctionKind::Udf => "udf",
            FunctionKind::Udaf => "udaf",
        }
    }
}

/// What a module says about one of its functions, read from [`DESCRIPTOR_SECTION`].
///
/// `input` and `output` are the Rust element types as the author spelled them, with
/// whitespace removed (`(String,i64)`). For `flat_map` and `map_partitions(_with_index)` they
/// are the element types of the input and output sequences; for `filter`, `foreach` and
/// `foreach_partition` the record type (output: `()`); for `reduce` both are `V`; for `key`
/// the record type and the key type; for `seq_op` (`fn(U, V) -> U`) input is `V` and output
/// is `U`; for `partitioner` input is the key type and output `u64`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionDescriptor {
    /// ABI version the function was compiled against.
    pub abi_version: u32,
    /// The function's name, also the suffix of its handle export.
    pub name: String,
    /// What the function does.
    pub kind: FunctionKind,
    /// Element type consumed.
    pub input: String,
    /// Element type produced.
    pub output: String,
    /// The Spark SQL signature of a `udf` or `udaf`; absent for every other kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<SqlSignature>,
}

/// The Spark SQL side of a `udf` or `udaf`: its argument and result types as Spark's simple
/// strings (parsed by [`columnar::SqlType::parse`]) and how it treats nulls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlSignature {
    /// The argument types, in order (`["bigint", "string"]`).
    pub args: Vec<String>,
    /// Per argument, whether the function takes nulls (an `Option<T>` argument).
    pub nullable_args: Vec<bool>,
    /// The result type.
    pub returns: String,
    /// Whether the result may be null (an `Option<T>` result).
    pub returns_nullable: bool,
    /// What a null in a non-`Option` argument does.
    pub nulls: NullPolicy,
}

/// What a `udf` does with a row whose non-`Option` argument is null.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NullPolicy {
    /// The function is not called and the row's result is null (Spark's convention for
    /// built-in functions). An aggregate skips the row.
    Skip,
    /// The task fails with a message naming the function, the argument and the row.
    Reject,
}

impl NullPolicy {
    /// The name used in descriptors and `#[udf(nulls = "...")]`.
    pub fn as_str(self) -> &'static str {
        match self {
            NullPolicy::Skip => "skip",
            NullPolicy::Reject => "reject",
        }
    }
}

/// Parses the content of a [`DESCRIPTOR_SECTION`] into its entries (raw JSON, one per
/// function). Returns `None` when the length prefixes do not add up.
pub fn split_descriptor_section(mut section: &[u8]) -> Option<Vec<&[u8]>> {
    let mut entries = Vec::new();
    while !section.is_empty() {
        let (len, rest) = section.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        if rest.len() < len {
            return None;
        }
        let (entry, rest) = rest.split_at(len);
        entries.push(entry);
        section = rest;
    }
    Some(entries)
}

/// How the records of an input batch are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputEncoding {
    /// Each record is a pickled Python list of elements (PySpark's batched serializers).
    PickleBatch,
    /// Each record is one pickled Python object (PySpark's unbatched pickle serializer).
    PickleItem,
    /// Each record is one UTF-8 string (`sc.textFile`); null records become `None`.
    Utf8,
    /// Each record is a sparkwasm binary batch (see [`OutputSpec::Binary`]).
    Binary,
    /// Two UTF-8 records per element, making a `(String, String)` pair (`wholeTextFiles`).
    Utf8Pairs,
    /// Each input batch is one [`columnar`] batch (SQL tasks, [`TaskSpec::sql`]), with no
    /// record framing: the host fills the buffer with exactly one batch per call.
    Columnar,
}

/// What the guest writes, and so who can read it next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputSpec {
    /// Each record is a pickled Python list of elements: what PySpark reads.
    Pickle,
    /// Each record is a sparkwasm binary batch: a tag byte ([`BATCH_TYPED`] or
    /// [`BATCH_VALUES`]), a little-endian `u32` element count, then that many postcard-encoded
    /// elements (the typed elements, or [`Value`]s). What a later WASM pass reads fastest.
    Binary,
    /// Map side of a shuffle: elements are `(key, value)` pairs; each goes to the partition
    /// the [`Partitioner`] names. Records come in pairs, as `PairwiseRDD` expects: an 8-byte
    /// big-endian partition number, then a binary batch of that partition's pairs.
    Shuffle {
        /// Number of reduce partitions.
        partitions: u32,
        /// How keys map to partitions.
        partitioner: Partitioner,
    },
    /// One record: a pickled one-element list holding the partition's element count
    /// (`count()` without Python on the executors).
    Count,
    /// One record: a pickled list of the partition's first `n` elements (`take`).
    Take {
        /// How many elements at most.
        n: u64,
    },
    /// One record per element, as PySpark's `saveAsTextFile` writes it: a `bytes` element as
    /// is, anything else as the UTF-8 of Python's `str()` of it (the JVM turns the records
    /// into lines).
    Text,
    /// Pickled lists of the keys of a Bernoulli sample of the partition's pairs (the driver
    /// sorts them to choose range bounds for `sortByKey`).
    SampleKeys {
        /// Probability of keeping each element.
        fraction: f64,
        /// Seed; the partition index is mixed in.
        seed: u64,
    },
    /// Each output batch is one [`columnar`] batch with one column per UDF of
    /// [`TaskSpec::sql`], no record framing (SQL tasks).
    Columnar,
}

/// Tag of a binary batch whose elements are the typed elements, postcard-encoded.
pub const BATCH_TYPED: u8 = 0;
/// Tag of a binary batch whose elements are [`Value`]s, postcard-encoded.
pub const BATCH_VALUES: u8 = 1;

/// How shuffle keys map to reduce partitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Partitioner {
    /// `stable_hash(identity(key)) mod partitions` (see [`partition_of`]).
    Hash,
    /// A `partitioner` function: `f(&key) mod partitions`.
    Function {
        /// Handle of the function.
        function: u32,
    },
    /// Range partitioning for sorting: partition `i` holds the keys between `bounds[i-1]` and
    /// `bounds[i]` (Python order; `bisect_left` as PySpark's `sortByKey`), reversed when
    /// descending.
    Range {
        /// Index into [`TaskSpec::args`] of the pickled list of bounds (`partitions - 1` keys).
        bounds_arg: u32,
        /// Ascending order.
        ascending: bool,
    },
}

/// The side of a function whose element type is meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// The function's input element type.
    Input,
    /// The function's output element type.
    Output,
}

/// A Rust element type, named by a function that consumes or produces it. Used to tell the
/// guest how to decode input records when the first step does not consume them directly
/// (for example the reduce side of a shuffle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeRef {
    /// Handle of the function (from its `sparkwasm_fn_<name>` export).
    pub function: u32,
    /// Which of its element types.
    pub side: Side,
}

/// What a step of the pipeline does with the records. `f`, `g`, `h` are the step's
/// [`Step::functions`] in order; `zero` is the pickled Python value [`Step::arg`] names, decoded
/// into the type the functions need. Steps marked *pairs* need `(key, value)` elements.
///
/// Serde names are snake_case (`flat_map_values`): the driver's JSON manifest spells steps
/// that way, while postcard (the [`TaskSpec`]) encodes the variant index, so new kinds go at
/// the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// `f: map`, `x → f(x)`.
    Map,
    /// `f: flat_map`, `x → f(x)...`.
    FlatMap,
    /// `f: filter`, keeps `x` when `f(&x)`.
    Filter,
    /// `f: map_partitions`, the partition → `f(partition)`.
    MapPartitions,
    /// `f: map_partitions_with_index`, the partition → `f(index, partition)`.
    MapPartitionsWithIndex,
    /// *pairs*, `f: reduce`: one `(k, v)` per key, values merged with `f` in arrival order.
    ReduceByKey,
    /// *pairs*, `f: map` on values: `(k, v) → (k, f(v))`.
    MapValues,
    /// *pairs*, `f: flat_map` on values: `(k, v) → (k, w)` for each `w` in `f(v)`.
    FlatMapValues,
    /// `f: key`: `x → (f(&x), x)`.
    KeyBy,
    /// *pairs*, `f: reduce`, `zero`: per key, `f(f(zero, v1), v2)...` (foldByKey's map side).
    FoldByKey,
    /// *pairs*, `f: seq_op`, `zero`: per key, `f(f(zero, v1), v2)...` (aggregateByKey's map
    /// side; the reduce side is [`StepKind::ReduceByKey`] with combOp).
    AggregateByKey,
    /// *pairs*, `f: map` (createCombiner), `g: seq_op` (mergeValue): per key,
    /// `g(g(f(v1), v2), v3)...` (combineByKey's map side; the reduce side is
    /// [`StepKind::ReduceByKey`] with mergeCombiners).
    CombineByKey,
    /// *pairs*: `(k, [v...])` per key, values in arrival order (dynamic elements).
    GroupByKey,
    /// *pairs*: the first `(k, v)` per key.
    FirstByKey,
    /// `x → (x, None)` (dynamic elements; distinct, countByValue).
    PairWithNone,
    /// *pairs*: `(k, v) → k`.
    Keys,
    /// *pairs*: `(k, v) → v`.
    Values,
    /// *pairs*: `(k, v) → (k, (tag, v))` with `tag` = [`Step::arg`] read as a number (0 or 1)
    /// rather than an argument index (dynamic elements; the map side of joins).
    Tag,
    /// *pairs* of tagged values (see [`StepKind::Tag`]): per key, the join given by
    /// [`Step::arg`] read as a [`JoinKind`] number (dynamic elements).
    Join,
    /// *pairs*: per key, the number of elements, `(k, n)` (countByKey, countByValue).
    CountByKey,
    /// *pairs*: all elements sorted by key, Python order; [`Step::arg`] is 1 for ascending,
    /// 0 for descending (sortByKey's reduce side).
    SortByKey,
    /// `f: reduce` over the whole partition: zero or one element (reduce, treeReduce).
    ReduceAll,
    /// `f: reduce`, `zero`: exactly one element, `f(...f(zero, x1)..., xn)` (fold).
    FoldAll,
    /// `f: seq_op`, `zero`: exactly one element, the fold of the partition with `f`
    /// (aggregate's seqOp pass; the final pass is [`StepKind::FoldAll`] with combOp).
    AggregateAll,
    /// Optional `f: key`: the largest element (by `f`, else by Python order); zero or one
    /// element. [`Step::arg`] is 1 for max, 0 for min.
    MaxBy,
    /// Optional `f: key`: the first `n` elements in order (by `f`, else by Python order),
    /// with [`Step::arg`] `= n * 2 + d`, `d` = 1 for largest first (top) and 0 for smallest
    /// first (takeOrdered).
    Top,
    /// The sum of the partition's numbers (Python's `sum`): one element.
    Sum,
    /// `f: foreach`, called for every element; nothing flows on.
    Foreach,
    /// `f: foreach_partition`, called with the partition; nothing flows on.
    ForeachPartition,
    /// *pairs*, `f: key` on keys: `(k, v) → (f(&k), (k, v))` (sortByKey with a keyfunc:
    /// the pairs are sorted by `f(k)` and then stripped of it).
    KeyByKey,
}

/// The functions a [`StepKind`] takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepFunctions {
    /// Exactly these kinds, in order.
    Exactly(&'static [FunctionKind]),
    /// None, or one [`FunctionKind::Key`] (max_by, top).
    OptionalKey,
}

/// What a [`StepKind`]'s [`Step::arg`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepArg {
    /// The step takes none.
    None,
    /// An index into [`TaskSpec::args`] (a pickled zero value).
    Index,
    /// A number in `0..=max`; `what` says what it means, for error messages.
    Number {
        /// The largest valid number.
        max: u64,
        /// Its meaning.
        what: &'static str,
    },
    /// Any number (`top`'s `n * 2 + d`).
    AnyNumber,
}

impl StepKind {
    /// Every step kind, in variant order.
    pub const ALL: [StepKind; 30] = {
        use StepKind as S;
        [
            S::Map,
            S::FlatMap,
            S::Filter,
            S::MapPartitions,
            S::MapPartitionsWithIndex,
            S::ReduceByKey,
            S::MapValues,
            S::FlatMapValues,
            S::KeyBy,
            S::FoldByKey,
            S::AggregateByKey,
            S::CombineByKey,
            S::GroupByKey,
            S::FirstByKey,
            S::PairWithNone,
            S::Keys,
            S::Values,
            S::Tag,
            S::Join,
            S::CountByKey,
            S::SortByKey,
            S::ReduceAll,
            S::FoldAll,
            S::AggregateAll,
            S::MaxBy,
            S::Top,
            S::Sum,
            S::Foreach,
            S::ForeachPartition,
            S::KeyByKey,
        ]
    };

    /// The snake_case name (the manifest's spelling, used in error messages).
    pub fn as_str(self) -> &'static str {
        use StepKind as S;
        match self {
            S::Map => "map",
            S::FlatMap => "flat_map",
            S::Filter => "filter",
            S::MapPartitions => "map_partitions",
            S::MapPartitionsWithIndex => "map_partitions_with_index",
            S::ReduceByKey => "reduce_by_key",
            S::MapValues => "map_values",
            S::FlatMapValues => "flat_map_values",
            S::KeyBy => "key_by",
            S::FoldByKey => "fold_by_key",
            S::AggregateByKey => "aggregate_by_key",
            S::CombineByKey => "combine_by_key",
            S::GroupByKey => "group_by_key",
            S::FirstByKey => "first_by_key",
            S::PairWithNone => "pair_with_none",
            S::Keys => "keys",
            S::Values => "values",
            S::Tag => "tag",
            S::Join => "join",
            S::CountByKey => "count_by_key",
            S::SortByKey => "sort_by_key",
            S::ReduceAll => "reduce_all",
            S::FoldAll => "fold_all",
            S::AggregateAll => "aggregate_all",
            S::MaxBy => "max_by",
            S::Top => "top",
            S::Sum => "sum",
            S::Foreach => "foreach",
            S::ForeachPartition => "foreach_partition",
            S::KeyByKey => "key_by_key",
        }
    }

    /// The functions the step takes, as the variant docs give them.
    pub fn functions(self) -> StepFunctions {
        use FunctionKind as F;
        use StepFunctions::Exactly;
        use StepKind as S;
        match self {
            S::Map | S::MapValues => Exactly(&[F::Map]),
            S::FlatMap | S::FlatMapValues => Exactly(&[F::FlatMap]),
            S::Filter => Exactly(&[F::Filter]),
            S::MapPartitions => Exactly(&[F::MapPartitions]),
            S::MapPartitionsWithIndex => Exactly(&[F::MapPartitionsWithIndex]),
            S::ReduceByKey | S::FoldByKey | S::ReduceAll | S::FoldAll => Exactly(&[F::Reduce]),
            S::KeyBy | S::KeyByKey => Exactly(&[F::Key]),
            S::AggregateByKey | S::AggregateAll => Exactly(&[F::SeqOp]),
            S::CombineByKey => Exactly(&[F::Map, F::SeqOp]),
            S::MaxBy | S::Top => StepFunctions::OptionalKey,
            S::Foreach => Exactly(&[F::Foreach]),
            S::ForeachPartition => Exactly(&[F::ForeachPartition]),
            S::GroupByKey
            | S::FirstByKey
            | S::PairWithNone
            | S::Keys
            | S::Values
            | S::Tag
            | S::Join
            | S::CountByKey
            | S::SortByKey
            | S::Sum => Exactly(&[]),
        }
    }

    /// What the step's [`Step::arg`] is, as the variant docs give it.
    pub fn arg(self) -> StepArg {
        use StepKind as S;
        let flag = |what| StepArg::Number { max: 1, what };
        match self {
            S::FoldByKey | S::AggregateByKey | S::FoldAll | S::AggregateAll => StepArg::Index,
            S::Tag => flag("the side tag (0 or 1)"),
            S::Join => StepArg::Number {
                max: JoinKind::SubtractByKey as u64,
                what: "the join kind (0 inner ... 5 subtract_by_key)",
            },
            S::SortByKey => flag("the order (1 ascending, 0 descending)"),
            S::MaxBy => flag("1 for max, 0 for min"),
            S::Top => StepArg::AnyNumber,
            S::Map
            | S::FlatMap
            | S::Filter
            | S::MapPartitions
            | S::MapPartitionsWithIndex
            | S::ReduceByKey
            | S::MapValues
            | S::FlatMapValues
            | S::KeyBy
            | S::CombineByKey
            | S::GroupByKey
            | S::FirstByKey
            | S::PairWithNone
            | S::Keys
            | S::Values
            | S::CountByKey
            | S::ReduceAll
            | S::Sum
            | S::Foreach
            | S::ForeachPartition
            | S::KeyByKey => StepArg::None,
        }
    }
}

/// The kinds of [`StepKind::Join`], by number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinKind {
    /// `(k, (v, w))` for every pair of a left and a right value.
    Inner = 0,
    /// As inner, plus `(k, (v, None))` for left values without right ones.
    LeftOuter = 1,
    /// As inner, plus `(k, (None, w))` for right values without left ones.
    RightOuter = 2,
    /// Left and right outer together.
    FullOuter = 3,
    /// `(k, ([v...], [w...]))` for every key on either side.
    Cogroup = 4,
    /// `(k, v)` for left values whose key has no right value.
    SubtractByKey = 5,
}

/// One step of the pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What the step does.
    pub kind: StepKind,
    /// Handles of the functions it applies, in the order [`StepKind`] gives.
    pub functions: Vec<u32>,
    /// The step's argument: an index into [`TaskSpec::args`] for zero values, or a number
    /// whose meaning [`StepKind`] gives.
    pub arg: Option<u64>,
}

/// The element type of the input records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// The type a function consumes or produces.
    Typed(TypeRef),
    /// Whatever the records hold, as [`Value`]s.
    Dynamic,
}

/// The task's context, as `pyspark.TaskContext` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Partition index.
    pub partition_id: i32,
    /// Stage id.
    pub stage_id: i32,
    /// Attempt number (0 for the first attempt).
    pub attempt_number: i32,
    /// Task attempt id, unique within the application.
    pub task_attempt_id: i64,
    /// Local properties (`sc.setLocalProperty`), sorted by key.
    pub local_properties: Vec<(String, String)>,
    /// Whether [`SPARK_FILES_GUEST_DIR`] is mounted (read-only SparkFiles).
    pub spark_files: bool,
}

/// A name the guest uses for a broadcast or an accumulator, and its Spark id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The name the guest asks for (`sparkwasm::broadcast::<T>("lookup")`).
    pub name: String,
    /// The broadcast id or accumulator id.
    pub id: i64,
}

/// One task, as the host hands it to [`EXPORT_RUN_TASK`] (postcard-encoded).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// The ABI version the host speaks; the guest refuses another.
    pub abi_version: u32,
    /// The task's context.
    pub info: TaskInfo,
    /// How input records are encoded.
    pub input: InputEncoding,
    /// The element type of the input records.
    pub source: Source,
    /// The steps, applied in order to the input elements.
    pub steps: Vec<Step>,
    /// What to write.
    pub output: OutputSpec,
    /// Pickled Python values the steps and the output refer to (zero values, range bounds).
    pub args: Vec<Vec<u8>>,
    /// Broadcasts the guest may read, by name.
    pub broadcasts: Vec<Binding>,
    /// Accumulators the guest may add to, by name.
    pub accumulators: Vec<Binding>,
    /// A Spark SQL task: the UDFs to evaluate over [`InputEncoding::Columnar`] input into
    /// [`OutputSpec::Columnar`] output (`source` is then [`Source::Dynamic`] and `steps`
    /// empty); `None` for RDD tasks.
    pub sql: Option<SqlTask>,
}

/// The UDFs of one Spark SQL task (one Arrow eval node).
///
/// Each input batch holds, per UDF in order, the argument columns of its first function;
/// columns shared by several UDFs are repeated. Each output batch holds one column per UDF.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlTask {
    /// Per UDF, the handles of its chained functions, innermost first: `f(g(x))` is
    /// `[g, f]`, each later one taking the previous result as its only argument.
    pub udfs: Vec<Vec<u32>>,
    /// Whether the functions are `udaf`s (input ops [`columnar::Op::GroupRows`] and
    /// [`columnar::Op::GroupEnd`], one output row per group) rather than `udf`s.
    pub aggregate: bool,
}

/// FNV-1a 64 of `bytes`: the stable hash behind shuffle partitioning (same on every executor).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The reduce partition (hash partitioning) of a key whose identity (the canonical encoding of
/// its [`Value`], bools and integral floats written as the ints they equal) is `key_bytes`.
pub fn partition_of(key_bytes: &[u8], partitions: u32) -> u32 {
    // Lossless: the remainder is below `partitions`, a u32.
    (stable_hash(key_bytes) % u64::from(partitions.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_kinds_are_listed_once_in_variant_order_with_their_serde_names() {
        for (index, kind) in StepKind::ALL.iter().enumerate() {
            // postcard encodes a unit variant as its index (one byte below 128).
            assert_eq!(
                postcard::to_allocvec(kind).unwrap(),
                vec![index as u8],
                "{kind:?}"
            );
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        // One past the last listed index is not a kind: ALL misses none.
        let past = [StepKind::ALL.len() as u8];
        assert!(postcard::from_bytes::<StepKind>(&past).is_err());
    }

    #[test]
    fn descriptor_section_round_trips() {
        let mut section = Vec::new();
        for entry in [&b"{\"a\":1}"[..], b"{}"] {
            section.extend_from_slice(&u32::try_from(entry.len()).unwrap().to_le_bytes());
            section.extend_from_slice(entry);
        }
        let entries = split_descriptor_section(&section).unwrap();
        assert_eq!(entries, vec![&b"{\"a\":1}"[..], b"{}"]);
        assert!(split_descriptor_section(&section[..section.len() - 1]).is_none());
    }

    #[test]
    fn descriptor_json_uses_snake_case_kinds_and_rejects_unknown_fields() {
        let d = FunctionDescriptor {
            abi_version: ABI_VERSION,
            name: "with_one".into(),
            kind: FunctionKind::FlatMap,
            input: "String".into(),
            output: "(String,i64)".into(),
            sql: None,
        };
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains("\"kind\":\"flat_map\""), "{json}");
        assert_eq!(
            serde_json::from_str::<FunctionDescriptor>(&json).unwrap(),
            d
        );
        let extra = json.replacen('{', "{\"surprise\":1,", 1);
        assert!(serde_json::from_str::<FunctionDescriptor>(&extra).is_err());
    }

    #[test]
    fn canonical_value_encoding_is_pinned() {
        // The driver computes these bytes in Python to mirror hash partitioning.
        let key = Value::Tuple(vec![Value::Str("a".into()), Value::Int(-1), Value::None]);
        assert_eq!(
            postcard::to_allocvec(&key).unwrap(),
            [7, 3, 5, 1, b'a', 2, 1, 0]
        );
        let misc = Value::List(vec![
            Value::Bool(true),
            Value::Float(1.5),
            Value::Bytes(vec![9, 8]),
            Value::BigUint(u64::MAX),
            Value::Dict(vec![(Value::Int(300), Value::None)]),
        ]);
        let bytes = postcard::to_allocvec(&misc).unwrap();
        assert_eq!(
            bytes,
            [
                8, 5, // list of 5
                1, 1, // Bool(true)
                4, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // Float(1.5), little-endian f64
                6, 2, 9, 8, // Bytes, one length-prefixed string
                3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                0x01, // BigUint varint
                9, 1, 2, 0xd8, 0x04, 0, // Dict of 1: Int(300) zigzag = 600, None
            ]
        );
        assert_eq!(postcard::from_bytes::<Value>(&bytes).unwrap(), misc);
    }

    #[test]
    fn partition_is_in_range_and_stable() {
        for n in 1..50u32 {
            let p = partition_of(b"spark", n);
            assert!(p < n);
            assert_eq!(p, partition_of(b"spark", n));
        }
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        // Published FNV-1a 64 test vector.
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
