//! The output side of a task: encoding elements into records and handing the host whole
//! batches of records.
//!
//! Records are written straight into one output buffer (a length placeholder, the payload,
//! then the length patched in), and the buffer goes to the host with one `output_write` when
//! it passes [`FLUSH_AT`] and once at the end, always between complete records (for shuffle
//! output, between complete partition/batch pairs).
//!
//! Binary batches (binary and shuffle output) are always written as `BATCH_VALUES`: typed
//! elements are encoded straight into the canonical encoding of their `Value` (no `Value` is
//! built), which costs a tag byte per item over a typed encoding but lets every reader — a
//! typed or dynamic source, or the driver — decode them without knowing the Rust type.

use std::any::Any;

use serde::Serialize;
use sparkwasm_abi::{partition_of, BATCH_VALUES, RECORD_HEADER_LEN};

use crate::element::Element;
use crate::error::{pickle_message, Error};
use crate::host;
use crate::stream::Stream;
use crate::value::order::bisect_left;
use crate::value::pickle::PickledOwned;
use crate::value::text::py_str;
use crate::value::{canonical_append, encode_append, into_pair, to_value, KeyBytes, Value};

/// Output is handed to the host once this many bytes of complete records are buffered.
pub(crate) const FLUSH_AT: usize = 256 * 1024;
/// A record (pickle list or binary batch) is closed once its payload reaches this size.
pub(crate) const RECORD_TARGET_BYTES: usize = 64 * 1024;
/// A pickle record holds at most this many elements, like PySpark's batches, so Python never
/// unpickles a huge list at once.
pub(crate) const PICKLE_BATCH_ELEMENTS: u32 = 1024;
/// Shuffle output buffers at most about this many bytes over all partitions before it writes
/// every partition out, bounding memory when there are many partitions.
pub(crate) const SHUFFLE_BUFFER_BYTES: usize = 4 * 1024 * 1024;
/// Largest number of shuffle partitions accepted (one bucket each is kept in memory).
pub(crate) const MAX_SHUFFLE_PARTITIONS: u32 = 1 << 20;

/// `PROTO 3`, `EMPTY_LIST`, `MARK`: the start of a pickled list; elements follow.
const PICKLE_LIST_START: &[u8] = b"\x80\x03](";
/// `APPENDS`, `STOP`: the end of a pickled list.
const PICKLE_LIST_END: &[u8] = b"e.";
/// The canonical encoding of a pair starts with `Tuple` of 2.
const PAIR_PREFIX: [u8; 2] = [7, 2];

/// The output buffer of a task.
pub(crate) struct Output {
    buf: Vec<u8>,
}

impl Output {
    pub(crate) fn new() -> Self {
        Output {
            buf: Vec::with_capacity(FLUSH_AT + RECORD_TARGET_BYTES),
        }
    }

    /// Starts a record; returns its start for [`Output::end_record`].
    fn begin_record(&mut self) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; RECORD_HEADER_LEN]);
        start
    }

    /// Payload bytes written so far to the record starting at `start`.
    fn record_len(&self, start: usize) -> usize {
        self.buf.len() - start - RECORD_HEADER_LEN
    }

    /// Closes the record starting at `start` by patching its length header.
    fn end_record(&mut self, start: usize) -> Result<(), Error> {
        let len = i32::try_from(self.record_len(start))
            .map_err(|_| Error::internal("an output record exceeds 2 GiB"))?;
        match self.buf.get_mut(start..start + RECORD_HEADER_LEN) {
            Some(header) => header.copy_from_slice(&len.to_be_bytes()),
            None => return Err(Error::internal("output record start out of range")),
        }
        Ok(())
    }

    /// Writes one whole record.
    fn record(&mut self, payload: &[u8]) -> Result<(), Error> {
        let start = self.begin_record();
        self.buf.extend_from_slice(payload);
        self.end_record(start)?;
        self.flush_if_full()
    }

    /// Hands the buffered records to the host once enough are buffered.
    fn flush_if_full(&mut self) -> Result<(), Error> {
        if self.buf.len() >= FLUSH_AT {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Hands all buffered records to the host.
    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        if self.buf.is_empty() {
            return Ok(());
        }
        match host::output_write(&self.buf) {
            0 => {
                self.buf.clear();
                Ok(())
            }
            code => Err(Error::OutputRefused(code)),
        }
    }
}

/// A postcard flavor appending to a `Vec<u8>`, so elements encode straight into the record.
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Appends the postcard encoding of `value` to `buf`.
pub(crate) fn postcard_append<T: Serialize + ?Sized>(
    value: &T,
    buf: &mut Vec<u8>,
) -> Result<(), postcard::Error> {
    postcard::serialize_with_flavor(value, Append(buf))
}

/// The outputs a typed stream writes itself (the others go through `Value`s).
#[derive(Clone, Copy, Debug)]
pub(crate) enum TypedSink {
    Pickle,
    Binary,
    Count,
    Take(u64),
}

/// Writes a stream of `T`.
pub(crate) fn sink<T: Element>(
    stream: Stream,
    spec: TypedSink,
    type_name: &'static str,
    out: &mut Output,
) -> Result<(), Error> {
    match stream.into_batches::<T>("output")? {
        Ok(batches) if matches!(spec, TypedSink::Count) => {
            write_count(batches.map(|batch| batch.len()).sum(), out)
        }
        // A concrete `Flatten`: one dynamic call per batch, not per element.
        Ok(batches) => write_typed(batches.flatten(), spec, type_name, out),
        Err(rows) => write_typed(rows.into_rows::<T>("output")?, spec, type_name, out),
    }
}

fn write_typed<T: Element>(
    rows: impl Iterator<Item = T>,
    spec: TypedSink,
    type_name: &'static str,
    out: &mut Output,
) -> Result<(), Error> {
    match spec {
        TypedSink::Pickle => write_pickle(rows, type_name, out, Batching::Batches),
        TypedSink::Binary => write_binary(rows, type_name, out, |row, buf| {
            encode_append(row, buf).map_err(String::from)
        }),
        TypedSink::Count => write_count(rows.count(), out),
        TypedSink::Take(n) => write_take(rows, n, type_name, out),
    }
}

/// The outputs of a dynamic stream.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ValueSink {
    Pickle,
    Binary,
    Count,
    Take(u64),
    Text,
    SampleKeys { fraction: f64, seed: u64 },
}

/// Writes a stream of `Value`s.
pub(crate) fn sink_values(stream: Stream, spec: ValueSink, out: &mut Output) -> Result<(), Error> {
    let rows = stream.into_values("output")?;
    let type_name = "a Python value";
    match spec {
        ValueSink::Pickle => {
            write_pickle(rows.map(PickledOwned), type_name, out, Batching::Batches)
        }
        ValueSink::Binary => write_binary(rows, type_name, out, |row, buf| {
            canonical_append(row, buf).map_err(String::from)
        }),
        ValueSink::Count => write_count(rows.count(), out),
        ValueSink::Take(n) => write_take(rows.map(PickledOwned), n, type_name, out),
        ValueSink::Text => {
            let mut line = String::new();
            for row in rows {
                // As PySpark's saveAsTextFile: a bytes element is written as is, anything
                // else as the UTF-8 of its str().
                if let Value::Bytes(bytes) = &row {
                    out.record(bytes)?;
                    continue;
                }
                line.clear();
                py_str(&row, &mut line);
                out.record(line.as_bytes())?;
            }
            Ok(())
        }
        ValueSink::SampleKeys { fraction, seed } => {
            let mut random = SplitMix64(seed);
            let mut failure = None;
            let keys =
                rows.filter(|_| random.next_f64() < fraction)
                    .map_while(|row| match into_pair(row) {
                        Ok((key, _)) => Some(PickledOwned(key)),
                        Err(message) => {
                            failure = Some(message);
                            None
                        }
                    });
            write_pickle(keys, type_name, out, Batching::Batches)?;
            match failure {
                Some(message) => Err(Error::Step {
                    at: "the sample_keys output".into(),
                    element: None,
                    message,
                }),
                None => Ok(()),
            }
        }
    }
}

/// SplitMix64: the deterministic generator behind `SampleKeys` (the same seed samples the
/// same elements on every executor and every attempt).
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`: the top 53 bits as a fraction.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// How pickled elements are cut into records.
#[derive(Clone, Copy, PartialEq)]
enum Batching {
    /// Records of up to [`PICKLE_BATCH_ELEMENTS`] elements (or [`RECORD_TARGET_BYTES`]); none
    /// when there are no elements.
    Batches,
    /// Exactly one record holding every element, even none.
    One,
}

/// Pickle: each record a pickled list of elements.
fn write_pickle<T: Serialize>(
    rows: impl Iterator<Item = T>,
    type_name: &'static str,
    out: &mut Output,
    batching: Batching,
) -> Result<(), Error> {
    let options = serde_pickle::SerOptions::new();
    // The open record: its start and element count.
    let mut open: Option<(usize, u32)> = None;
    for (element, row) in (0u64..).zip(rows) {
        let (start, count) = match open.take() {
            Some(open) => open,
            None => open_pickle(out),
        };
        let mut serializer = serde_pickle::Serializer::new(&mut out.buf, options.clone());
        row.serialize(&mut serializer)
            .map_err(|err| Error::Encode {
                element,
                type_name,
                message: pickle_message(err),
            })?;
        let count = count.saturating_add(1);
        let full = count >= PICKLE_BATCH_ELEMENTS || out.record_len(start) >= RECORD_TARGET_BYTES;
        if batching == Batching::Batches && full {
            close_pickle(out, start)?;
        } else {
            open = Some((start, count));
        }
    }
    match open {
        Some((start, _)) => close_pickle(out, start),
        None if batching == Batching::One => {
            let (start, _) = open_pickle(out);
            close_pickle(out, start)
        }
        None => Ok(()),
    }
}

fn open_pickle(out: &mut Output) -> (usize, u32) {
    let start = out.begin_record();
    out.buf.extend_from_slice(PICKLE_LIST_START);
    (start, 0)
}

fn close_pickle(out: &mut Output, start: usize) -> Result<(), Error> {
    out.buf.extend_from_slice(PICKLE_LIST_END);
    out.end_record(start)?;
    out.flush_if_full()
}

/// `Count`: one record, a pickled one-element list holding `count`.
fn write_count(count: usize, out: &mut Output) -> Result<(), Error> {
    let count = u64::try_from(count).unwrap_or(u64::MAX);
    write_pickle(std::iter::once(count), "int", out, Batching::One)
}

/// `Take`: one record, a pickled list of the first `n` elements; no input is pulled once `n`
/// elements are out.
fn write_take<T: Serialize>(
    rows: impl Iterator<Item = T>,
    n: u64,
    type_name: &'static str,
    out: &mut Output,
) -> Result<(), Error> {
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    write_pickle(rows.take(n), type_name, out, Batching::One)
}

/// Binary: each record a binary batch, `BATCH_VALUES` + `u32` LE count + the elements'
/// canonical encodings (`encode`).
fn write_binary<T>(
    rows: impl Iterator<Item = T>,
    type_name: &'static str,
    out: &mut Output,
    mut encode: impl FnMut(&T, &mut Vec<u8>) -> Result<(), String>,
) -> Result<(), Error> {
    let mut open: Option<(usize, u32)> = None;
    for (element, row) in (0u64..).zip(rows) {
        let (start, count) = match open.take() {
            Some(open) => open,
            None => {
                let start = out.begin_record();
                out.buf.push(BATCH_VALUES);
                out.buf.extend_from_slice(&0u32.to_le_bytes());
                (start, 0)
            }
        };
        encode(&row, &mut out.buf).map_err(|message| Error::Encode {
            element,
            type_name,
            message,
        })?;
        let count = count + 1;
        if count == u32::MAX || out.record_len(start) >= RECORD_TARGET_BYTES {
            close_binary(out, start, count)?;
        } else {
            open = Some((start, count));
        }
    }
    match open {
        Some((start, count)) => close_binary(out, start, count),
        None => Ok(()),
    }
}

fn close_binary(out: &mut Output, start: usize, count: u32) -> Result<(), Error> {
    let at = start + RECORD_HEADER_LEN + 1;
    match out.buf.get_mut(at..at + 4) {
        Some(slot) => slot.copy_from_slice(&count.to_le_bytes()),
        None => return Err(Error::internal("binary record start out of range")),
    }
    out.end_record(start)?;
    out.flush_if_full()
}

/// The pickle and binary writers above, writing into a caller's buffer instead of the
/// task's: the way in for the micro-benchmarks (`crate::__bench`, feature
/// `bench-internals`). Each call replaces the buffer's contents with the records `rows` make.
/// A call whose records reach [`FLUSH_AT`] would hand them to the host (the native test host
/// off wasm), leaving only the rest in the buffer: keep benchmark batches below it.
#[cfg(feature = "bench-internals")]
pub(crate) mod bench {
    use serde::Serialize;

    use super::{write_binary, write_pickle, Batching, Output};
    use crate::error::Error;
    use crate::value::pickle::Pickled;
    use crate::value::{canonical_append, encode_append, Value};

    /// Runs `write` on an [`Output`] that borrows `records`' allocation.
    fn into_buffer(
        records: &mut Vec<u8>,
        write: impl FnOnce(&mut Output) -> Result<(), Error>,
    ) -> Result<(), Error> {
        records.clear();
        let mut out = Output {
            buf: std::mem::take(records),
        };
        let result = write(&mut out);
        *records = out.buf;
        result
    }

    /// Typed elements as pickle output records (a typed stream's `TypedSink::Pickle`).
    pub(crate) fn typed_pickle<T: Serialize>(
        rows: &[T],
        records: &mut Vec<u8>,
    ) -> Result<(), Error> {
        into_buffer(records, |out| {
            write_pickle(rows.iter(), "a benchmark element", out, Batching::Batches)
        })
    }

    /// Values as pickle output records (a dynamic stream's `ValueSink::Pickle`).
    pub(crate) fn values_pickle(rows: &[Value], records: &mut Vec<u8>) -> Result<(), Error> {
        into_buffer(records, |out| {
            write_pickle(
                rows.iter().map(Pickled),
                "a Python value",
                out,
                Batching::Batches,
            )
        })
    }

    /// Typed elements as binary output records (a typed stream's `TypedSink::Binary`).
    pub(crate) fn typed_binary<T: Serialize>(
        rows: &[T],
        records: &mut Vec<u8>,
    ) -> Result<(), Error> {
        into_buffer(records, |out| {
            write_binary(rows.iter(), "a benchmark element", out, |row, buf| {
                encode_append(*row, buf).map_err(String::from)
            })
        })
    }

    /// Values as binary output records (a dynamic stream's `ValueSink::Binary`).
    pub(crate) fn values_binary(rows: &[Value], records: &mut Vec<u8>) -> Result<(), Error> {
        into_buffer(records, |out| {
            write_binary(rows.iter(), "a Python value", out, |row, buf| {
                canonical_append(row, buf).map_err(String::from)
            })
        })
    }
}

/// How shuffle keys map to reduce partitions, resolved by the planner.
pub(crate) enum KeyPartitioner {
    /// `partition_of(canonical(key))`.
    Hash,
    /// A partitioner function over exactly the pairs' key type: a boxed `fn(&K) -> u64`.
    Typed { f: Box<dyn Any>, name: &'static str },
    /// A partitioner function over a decoded copy of the key.
    Dynamic {
        f: fn(&Value) -> Result<u64, String>,
    },
    /// PySpark's range partitioner: `bisect_left(bounds, key)`, reversed when descending.
    Range { bounds: Vec<Value>, ascending: bool },
}

impl KeyPartitioner {
    /// The partition of a key given as a value (every partitioner but `Typed`).
    fn of_value(&self, key: &Value, key_identity: &[u8], partitions: u32) -> Result<u32, String> {
        let n = u64::from(partitions);
        let partition = match self {
            KeyPartitioner::Hash => return Ok(partition_of(key_identity, partitions)),
            KeyPartitioner::Typed { .. } => {
                return Err("a typed partitioner met a dynamic key".into())
            }
            KeyPartitioner::Dynamic { f } => f(key)? % n,
            KeyPartitioner::Range { bounds, ascending } => {
                let p = i64::try_from(bisect_left(bounds, key)).unwrap_or(i64::MAX);
                let p = if *ascending {
                    p
                } else {
                    i64::from(partitions) - 1 - p
                };
                // Python's `%`: PySpark reduces the partitioner's result modulo the count.
                p.rem_euclid(i64::from(partitions)).unsigned_abs()
            }
        };
        // Lossless: below `partitions`, a u32.
        Ok(partition as u32)
    }

    /// Whether the key must be converted to a value to find its partition.
    fn needs_value(&self) -> bool {
        matches!(
            self,
            KeyPartitioner::Dynamic { .. } | KeyPartitioner::Range { .. }
        )
    }
}

/// One reduce partition's pending pairs, canonically encoded back to back.
#[derive(Default)]
struct Bucket {
    count: u32,
    bytes: Vec<u8>,
}

/// The buckets of a shuffle, flushed per partition when large and all together when the
/// total is.
struct Buckets {
    buckets: Vec<Bucket>,
    buffered: usize,
}

impl Buckets {
    fn new(partitions: u32) -> Result<Self, Error> {
        if partitions == 0 || partitions > MAX_SHUFFLE_PARTITIONS {
            return Err(Error::Plan(format!(
                "shuffle output needs between 1 and {MAX_SHUFFLE_PARTITIONS} partitions, not \
                 {partitions}"
            )));
        }
        let mut buckets = Vec::new();
        buckets.resize_with(usize::try_from(partitions).unwrap_or(0), Bucket::default);
        Ok(Buckets {
            buckets,
            buffered: 0,
        })
    }

    /// Appends one pair (`key_bytes` then what `value` writes) to `partition`'s bucket.
    fn push(
        &mut self,
        out: &mut Output,
        partition: u32,
        key_bytes: &[u8],
        value: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let Some(bucket) = usize::try_from(partition)
            .ok()
            .and_then(|p| self.buckets.get_mut(p))
        else {
            return Err(Error::internal("partition out of range"));
        };
        let before = bucket.bytes.len();
        bucket.bytes.extend_from_slice(&PAIR_PREFIX);
        bucket.bytes.extend_from_slice(key_bytes);
        value(&mut bucket.bytes)?;
        bucket.count += 1;
        self.buffered += bucket.bytes.len() - before;
        if bucket.bytes.len() >= RECORD_TARGET_BYTES || bucket.count == u32::MAX {
            self.buffered -= bucket.bytes.len();
            emit_bucket(out, partition, bucket)?;
            bucket.bytes.clear();
        } else if self.buffered >= SHUFFLE_BUFFER_BYTES {
            self.finish(out)?;
        }
        Ok(())
    }

    /// Writes every non-empty bucket, in partition order, releasing their memory.
    fn finish(&mut self, out: &mut Output) -> Result<(), Error> {
        for (partition, bucket) in (0u32..).zip(self.buckets.iter_mut()) {
            emit_bucket(out, partition, bucket)?;
            *bucket = Bucket::default();
        }
        self.buffered = 0;
        Ok(())
    }
}

/// Writes one bucket as a partition record and a binary batch record.
fn emit_bucket(out: &mut Output, partition: u32, bucket: &mut Bucket) -> Result<(), Error> {
    if bucket.count == 0 {
        return Ok(());
    }
    out.record(&u64::from(partition).to_be_bytes())?;
    let start = out.begin_record();
    out.buf.push(BATCH_VALUES);
    out.buf.extend_from_slice(&bucket.count.to_le_bytes());
    out.buf.extend_from_slice(&bucket.bytes);
    out.end_record(start)?;
    bucket.count = 0;
    out.flush_if_full()
}

fn shuffle_key_error(element: u64, message: impl std::fmt::Display) -> Error {
    Error::Step {
        at: "the shuffle output".into(),
        element: Some(element),
        message: format!("its key: {message}"),
    }
}

/// Shuffle of typed `(K, V)` pairs: each goes to its key's partition, written as a partition
/// number record (8 bytes, big-endian) followed by a binary batch of that partition's pairs.
pub(crate) fn shuffle<K: Element, V: Element>(
    stream: Stream,
    partitions: u32,
    partitioner: &KeyPartitioner,
    out: &mut Output,
) -> Result<(), Error> {
    let rows = stream.into_rows::<(K, V)>("shuffle output")?;
    let mut buckets = Buckets::new(partitions)?;
    let typed = match partitioner {
        KeyPartitioner::Typed { f, name } => match f.downcast_ref::<fn(&K) -> u64>() {
            Some(f) => Some((*f, *name)),
            None => {
                return Err(Error::internal(format!(
                    "`{name}` is not a fn(&K) -> u64 of the pairs' K"
                )))
            }
        },
        _ => None,
    };
    let mut key_bytes = KeyBytes::default();
    for (element, (key, value)) in (0u64..).zip(rows) {
        key_bytes
            .set_typed(&key)
            .map_err(|err| shuffle_key_error(element, err))?;
        let partition = match typed {
            Some((f, name)) => {
                let p = crate::stream::call_named(name, || f(&key)) % u64::from(partitions);
                // Lossless: below `partitions`, a u32.
                p as u32
            }
            None if partitioner.needs_value() => {
                let key = to_value(&key).map_err(|err| shuffle_key_error(element, err))?;
                partitioner
                    .of_value(&key, key_bytes.identity(), partitions)
                    .map_err(|err| shuffle_key_error(element, err))?
            }
            None => partition_of(key_bytes.identity(), partitions),
        };
        buckets.push(out, partition, key_bytes.encoded(), |buf| {
            encode_append(&value, buf).map_err(|err| Error::Encode {
                element,
                type_name: std::any::type_name::<V>(),
                message: err.to_string(),
            })
        })?;
    }
    buckets.finish(out)
}

/// Shuffle of dynamic pairs (any element that is a tuple or list of two).
pub(crate) fn shuffle_values(
    stream: Stream,
    partitions: u32,
    partitioner: &KeyPartitioner,
    out: &mut Output,
) -> Result<(), Error> {
    let rows = stream.into_values("shuffle output")?;
    let mut buckets = Buckets::new(partitions)?;
    let mut key_bytes = KeyBytes::default();
    for (element, row) in (0u64..).zip(rows) {
        let (key, value) = into_pair(row).map_err(|message| Error::Step {
            at: "the shuffle output".into(),
            element: Some(element),
            message,
        })?;
        key_bytes
            .set_value(&key)
            .map_err(|err| shuffle_key_error(element, err))?;
        let partition = partitioner
            .of_value(&key, key_bytes.identity(), partitions)
            .map_err(|err| shuffle_key_error(element, err))?;
        buckets.push(out, partition, key_bytes.encoded(), |buf| {
            canonical_append(&value, buf).map_err(|err| Error::Encode {
                element,
                type_name: "a Python value",
                message: err.to_string(),
            })
        })?;
    }
    buckets.finish(out)
}
