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
//!   [`IMPORT_INPUT_NEXT`], [`IMPORT_OUTPUT_WRITE`] and [`IMPORT_REPORT_ERROR`].
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
//! # ABI version history
//!
//! * 1: first version (map, flat_map, filter, map_partitions, reduce; pickle, UTF-8 and binary
//!   encodings; hash-partitioned shuffle output).

use serde::{Deserialize, Serialize};

/// The ABI version this crate defines. A module built against another version is refused.
pub const ABI_VERSION: u32 = 1;

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
        }
    }
}

/// What a module says about one of its functions, read from [`DESCRIPTOR_SECTION`].
///
/// `input` and `output` are the Rust element types as the author spelled them, with
/// whitespace removed (`(String,i64)`). For `flat_map` and `map_partitions` they are the
/// element types of the input and output sequences; for `filter` both are the record type;
/// for `reduce` both are the value type `V`.
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
}

/// What the guest writes, and so who can read it next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputSpec {
    /// Each record is a pickled Python list of elements: what PySpark reads.
    Pickle,
    /// Each record is a sparkwasm binary batch: a little-endian `u32` element count followed
    /// by that many postcard-encoded elements. What a later WASM stage reads fastest.
    Binary,
    /// Map side of a shuffle: elements are `(key, value)` pairs; each goes to reduce partition
    /// `hash(postcard(key)) mod partitions` (FNV-1a 64, see [`partition_of`]). Records come in
    /// pairs, as `PairwiseRDD` expects: an 8-byte big-endian partition number, then a binary
    /// batch of that partition's pairs.
    Shuffle {
        /// Number of reduce partitions.
        partitions: u32,
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

/// What a step of the pipeline does with the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepKind {
    /// Apply a `map` function.
    Map,
    /// Apply a `flat_map` function.
    FlatMap,
    /// Apply a `filter` function.
    Filter,
    /// Apply a `map_partitions` function.
    MapPartitions,
    /// Merge the values of equal keys with a `reduce` function (records must be pairs).
    ReduceByKey,
}

/// One step of the pipeline: a kind and the handle of the function it applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What the step does.
    pub kind: StepKind,
    /// Handle of the function.
    pub function: u32,
}

/// One task, as the host hands it to [`EXPORT_RUN_TASK`] (postcard-encoded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// The ABI version the host speaks; the guest refuses another.
    pub abi_version: u32,
    /// Spark partition index of the task.
    pub partition: i32,
    /// How input records are encoded.
    pub input: InputEncoding,
    /// The element type of the input records.
    pub source: TypeRef,
    /// The steps, applied in order to the input elements.
    pub steps: Vec<Step>,
    /// What to write.
    pub output: OutputSpec,
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

/// The reduce partition of a key whose postcard encoding is `key_bytes`.
pub fn partition_of(key_bytes: &[u8], partitions: u32) -> u32 {
    // Lossless: the remainder is below `partitions`, a u32.
    (stable_hash(key_bytes) % u64::from(partitions.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

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
