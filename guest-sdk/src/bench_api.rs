//! The SDK's batch codecs behind public functions, for the micro-benchmarks in
//! `benches/codec.rs` and nothing else: compiled only with the `bench-internals` feature,
//! hidden from the docs, and changed whenever the internals they wrap change.
//!
//! Each function runs the code a task runs for one record, minus the host calls, so a
//! benchmark of it measures the decoder or encoder the guest really uses:
//!
//! * pickle → typed elements: the typed `PickleBatch` source (`input::decode_pickle_list`);
//! * pickle → [`Value`]s: the dynamic `PickleBatch` source (`value::pickle::from_pickle_list`);
//! * typed elements / values → pickle records: the pickle output writer;
//! * typed elements / values → binary records: the binary output writer (the canonical
//!   encoding, postcard of the element's `Value`, `value::encode_append`);
//! * binary batch → typed elements / values: the `Binary` source's per-element readers
//!   (`value::decode_prefix`, postcard of `Value`).

use serde::de::DeserializeOwned;
use serde::Serialize;
use sparkwasm_abi::{BATCH_TYPED, BATCH_VALUES};

pub use sparkwasm_abi::Value;

use crate::output::bench;

/// Decodes one pickled batch (a Python list, as PySpark sends it) into typed elements,
/// appended to `out`.
pub fn pickle_batch_to_typed<T: Serialize + DeserializeOwned + 'static>(
    pickle: &[u8],
    out: &mut Vec<T>,
) -> Result<(), String> {
    crate::input::decode_pickle_list(pickle, out).map_err(|(_, message)| message)
}

/// Decodes one pickled batch into Python's data model.
pub fn pickle_batch_to_values(pickle: &[u8]) -> Result<Vec<Value>, String> {
    crate::value::pickle::from_pickle_list(pickle).map_err(|(_, message)| message)
}

/// Replaces `records` with the pickle output records of `rows`: each an `i32` big-endian
/// length and a pickled list of up to 1024 elements.
pub fn typed_to_pickle_records<T: Serialize>(
    rows: &[T],
    records: &mut Vec<u8>,
) -> Result<(), String> {
    bench::typed_pickle(rows, records).map_err(|e| e.to_string())
}

/// Replaces `records` with the pickle output records of `rows`, as a dynamic stream writes
/// them.
pub fn values_to_pickle_records(rows: &[Value], records: &mut Vec<u8>) -> Result<(), String> {
    bench::values_pickle(rows, records).map_err(|e| e.to_string())
}

/// Replaces `records` with the binary output records of `rows`: each an `i32` big-endian
/// length and a binary batch (`BATCH_VALUES`, `u32` LE count, canonical encodings).
pub fn typed_to_binary_records<T: Serialize>(
    rows: &[T],
    records: &mut Vec<u8>,
) -> Result<(), String> {
    bench::typed_binary(rows, records).map_err(|e| e.to_string())
}

/// Replaces `records` with the binary output records of `rows`, as a dynamic stream writes
/// them.
pub fn values_to_binary_records(rows: &[Value], records: &mut Vec<u8>) -> Result<(), String> {
    bench::values_binary(rows, records).map_err(|e| e.to_string())
}

/// Decodes one binary batch (a record's payload: tag, count, elements) into typed elements,
/// appended to `out`.
pub fn binary_batch_to_typed<T: DeserializeOwned>(
    batch: &[u8],
    out: &mut Vec<T>,
) -> Result<(), String> {
    let (tag, count, mut rest) = split_binary_batch(batch)?;
    out.reserve(count);
    for _ in 0..count {
        let (item, after) = match tag {
            BATCH_TYPED => postcard::take_from_bytes::<T>(rest).map_err(|e| e.to_string())?,
            _ => crate::value::decode_prefix::<T>(rest).map_err(String::from)?,
        };
        out.push(item);
        rest = after;
    }
    no_leftover(rest)
}

/// Decodes one `BATCH_VALUES` binary batch into values, appended to `out`.
pub fn binary_batch_to_values(batch: &[u8], out: &mut Vec<Value>) -> Result<(), String> {
    let (tag, count, mut rest) = split_binary_batch(batch)?;
    if tag != BATCH_VALUES {
        return Err("a typed binary batch has no values without its type".into());
    }
    out.reserve(count);
    for _ in 0..count {
        let (item, after) = postcard::take_from_bytes::<Value>(rest).map_err(|e| e.to_string())?;
        out.push(item);
        rest = after;
    }
    no_leftover(rest)
}

/// The tag, the element count and the encoded elements of a binary batch.
fn split_binary_batch(batch: &[u8]) -> Result<(u8, usize, &[u8]), String> {
    let Some((&tag, rest)) = batch.split_first() else {
        return Err("an empty binary batch".into());
    };
    let Some((count, rest)) = rest.split_first_chunk::<4>() else {
        return Err("a binary batch shorter than its element count".into());
    };
    let count = usize::try_from(u32::from_le_bytes(*count)).unwrap_or(usize::MAX);
    Ok((tag, count, rest))
}

fn no_leftover(rest: &[u8]) -> Result<(), String> {
    match rest.len() {
        0 => Ok(()),
        n => Err(format!("{n} bytes left over after the batch's elements")),
    }
}
