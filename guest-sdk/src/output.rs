//! The output side of a task: encoding elements into records and handing the host whole
//! batches of records.
//!
//! Records are written straight into one output buffer (a length placeholder, the payload,
//! then the length patched in), and the buffer goes to the host with one `output_write` when
//! it passes [`FLUSH_AT`] and once at the end, always between complete records (for shuffle
//! output, between complete partition/batch pairs).

use serde::Serialize;
use sparkwasm_abi::{partition_of, OutputSpec, RECORD_HEADER_LEN};

use crate::element::{Element, Stream};
use crate::error::{pickle_message, Error};
use crate::host;

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

/// Writes a stream of `T` as pickle or binary output.
pub(crate) fn sink<T: Element>(
    stream: Stream,
    spec: OutputSpec,
    type_name: &'static str,
    out: &mut Output,
) -> Result<(), Error> {
    let rows = stream.into_rows::<T>("output")?;
    match spec {
        OutputSpec::Pickle => write_pickle(rows, type_name, out),
        OutputSpec::Binary => write_binary(rows, type_name, out),
        OutputSpec::Shuffle { .. } => Err(Error::internal("shuffle output without pair types")),
    }
}

/// Pickle: each record a pickled list of up to [`PICKLE_BATCH_ELEMENTS`] elements.
fn write_pickle<T: Serialize>(
    rows: impl Iterator<Item = T>,
    type_name: &'static str,
    out: &mut Output,
) -> Result<(), Error> {
    let options = serde_pickle::SerOptions::new();
    // The open record: its start and element count.
    let mut open: Option<(usize, u32)> = None;
    for (element, row) in (0u64..).zip(rows) {
        let (start, count) = match open.take() {
            Some(open) => open,
            None => {
                let start = out.begin_record();
                out.buf.extend_from_slice(PICKLE_LIST_START);
                (start, 0)
            }
        };
        let mut serializer = serde_pickle::Serializer::new(&mut out.buf, options.clone());
        row.serialize(&mut serializer)
            .map_err(|err| Error::Encode {
                element,
                type_name,
                message: pickle_message(err),
            })?;
        let count = count + 1;
        if count >= PICKLE_BATCH_ELEMENTS || out.record_len(start) >= RECORD_TARGET_BYTES {
            close_pickle(out, start)?;
        } else {
            open = Some((start, count));
        }
    }
    match open {
        Some((start, _)) => close_pickle(out, start),
        None => Ok(()),
    }
}

fn close_pickle(out: &mut Output, start: usize) -> Result<(), Error> {
    out.buf.extend_from_slice(PICKLE_LIST_END);
    out.end_record(start)?;
    out.flush_if_full()
}

/// Binary: each record a `u32` LE element count and the postcard elements.
fn write_binary<T: Serialize>(
    rows: impl Iterator<Item = T>,
    type_name: &'static str,
    out: &mut Output,
) -> Result<(), Error> {
    let mut open: Option<(usize, u32)> = None;
    for (element, row) in (0u64..).zip(rows) {
        let (start, count) = match open.take() {
            Some(open) => open,
            None => {
                let start = out.begin_record();
                out.buf.extend_from_slice(&0u32.to_le_bytes());
                (start, 0)
            }
        };
        postcard_append(&row, &mut out.buf).map_err(|err| Error::Encode {
            element,
            type_name,
            message: err.to_string(),
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
    let at = start + RECORD_HEADER_LEN;
    match out.buf.get_mut(at..at + 4) {
        Some(slot) => slot.copy_from_slice(&count.to_le_bytes()),
        None => return Err(Error::internal("binary record start out of range")),
    }
    out.end_record(start)?;
    out.flush_if_full()
}

/// One reduce partition's pending pairs, postcard-encoded back to back.
#[derive(Default)]
struct Bucket {
    count: u32,
    bytes: Vec<u8>,
}

/// Shuffle: `(K, V)` pairs bucketed by `partition_of(postcard(key))`, written as a partition
/// number record (8 bytes, big-endian) followed by a binary batch of that partition's pairs.
pub(crate) fn shuffle<K: Element, V: Element>(
    stream: Stream,
    partitions: u32,
    out: &mut Output,
) -> Result<(), Error> {
    let rows = stream.into_rows::<(K, V)>("shuffle output")?;
    if partitions == 0 || partitions > MAX_SHUFFLE_PARTITIONS {
        return Err(Error::Plan(format!(
            "shuffle output needs between 1 and {MAX_SHUFFLE_PARTITIONS} partitions, not \
             {partitions}"
        )));
    }
    let mut buckets: Vec<Bucket> = Vec::new();
    buckets.resize_with(usize::try_from(partitions).unwrap_or(0), Bucket::default);
    let mut key = Vec::new();
    let mut buffered = 0;
    for (record, (k, v)) in (0u64..).zip(rows) {
        key.clear();
        postcard_append(&k, &mut key).map_err(|err| Error::Key {
            record,
            message: err.to_string(),
        })?;
        let partition = partition_of(&key, partitions);
        let Some(bucket) = usize::try_from(partition)
            .ok()
            .and_then(|p| buckets.get_mut(p))
        else {
            return Err(Error::internal("partition out of range"));
        };
        let before = bucket.bytes.len();
        bucket.bytes.extend_from_slice(&key);
        // A pair's postcard encoding is the key's followed by the value's.
        postcard_append(&v, &mut bucket.bytes).map_err(|err| Error::Encode {
            element: record,
            type_name: std::any::type_name::<V>(),
            message: err.to_string(),
        })?;
        bucket.count += 1;
        buffered += bucket.bytes.len() - before;
        if bucket.bytes.len() >= RECORD_TARGET_BYTES || bucket.count == u32::MAX {
            buffered -= bucket.bytes.len();
            emit_bucket(out, partition, bucket)?;
            bucket.bytes.clear();
        } else if buffered >= SHUFFLE_BUFFER_BYTES {
            emit_all(out, &mut buckets)?;
            buffered = 0;
        }
    }
    emit_all(out, &mut buckets)
}

/// Writes every non-empty bucket, in partition order, releasing their memory.
fn emit_all(out: &mut Output, buckets: &mut [Bucket]) -> Result<(), Error> {
    for (partition, bucket) in (0u32..).zip(buckets.iter_mut()) {
        emit_bucket(out, partition, bucket)?;
        *bucket = Bucket::default();
    }
    Ok(())
}

/// Writes one bucket as a partition record and a binary batch record.
fn emit_bucket(out: &mut Output, partition: u32, bucket: &mut Bucket) -> Result<(), Error> {
    if bucket.count == 0 {
        return Ok(());
    }
    let start = out.begin_record();
    out.buf
        .extend_from_slice(&u64::from(partition).to_be_bytes());
    out.end_record(start)?;
    let start = out.begin_record();
    out.buf.extend_from_slice(&bucket.count.to_le_bytes());
    out.buf.extend_from_slice(&bucket.bytes);
    out.end_record(start)?;
    bucket.count = 0;
    out.flush_if_full()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::host::native;

    /// Splits a batch into its records' payloads.
    pub(crate) fn records(batch: &[u8]) -> Vec<Vec<u8>> {
        let mut records = Vec::new();
        let mut rest = batch;
        while let Some((len, tail)) = rest.split_first_chunk::<4>() {
            let len = usize::try_from(i32::from_be_bytes(*len)).expect("no negative lengths");
            records.push(tail[..len].to_vec());
            rest = &tail[len..];
        }
        assert!(rest.is_empty(), "batch has {} stray bytes", rest.len());
        records
    }

    /// Runs a sink on `rows` against the native test host; returns the output records.
    fn run_sink<T: Element>(rows: Vec<T>, spec: OutputSpec) -> Vec<Vec<u8>> {
        native::with(|host| *host = Default::default());
        let mut out = Output::new();
        let stream = Stream::new(rows.into_iter());
        match spec {
            OutputSpec::Shuffle { .. } => unreachable!("use shuffle directly"),
            spec => sink::<T>(stream, spec, "T", &mut out).unwrap(),
        }
        out.flush().unwrap();
        records(&native::with(|host| host.output.concat()))
    }

    #[test]
    fn pickle_output_is_a_list_python_reads_with_tuples_and_none() {
        let rows = vec![(1i64, Some("a".to_owned())), (2, None)];
        let records = run_sink(rows, OutputSpec::Pickle);
        assert_eq!(records.len(), 1);
        let value = serde_pickle::value_from_slice(&records[0], Default::default()).unwrap();
        use serde_pickle::Value as P;
        assert_eq!(
            value,
            P::List(vec![
                P::Tuple(vec![P::I64(1), P::String("a".into())]),
                P::Tuple(vec![P::I64(2), P::None]),
            ])
        );
        assert!(records[0].starts_with(b"\x80\x03]("), "protocol 3 list");
    }

    #[test]
    fn pickle_output_bytes_vec_and_maps() {
        let mut map = std::collections::BTreeMap::new();
        map.insert("k".to_owned(), vec![1u8, 2]);
        let rows = vec![(crate::Bytes::from(vec![0u8, 255]), map)];
        let records = run_sink(rows, OutputSpec::Pickle);
        let value = serde_pickle::value_from_slice(&records[0], Default::default()).unwrap();
        use serde_pickle::{HashableValue as H, Value as P};
        let dict = [(H::String("k".into()), P::List(vec![P::I64(1), P::I64(2)]))];
        assert_eq!(
            value,
            P::List(vec![P::Tuple(vec![
                P::Bytes(vec![0, 255]),
                P::Dict(dict.into())
            ])])
        );
    }

    #[test]
    fn pickle_output_is_cut_into_batches_of_1024() {
        let records = run_sink((0..2500i64).collect(), OutputSpec::Pickle);
        let lens: Vec<usize> = records
            .iter()
            .map(|r| {
                let v: Vec<i64> = serde_pickle::from_slice(r, Default::default()).unwrap();
                v.len()
            })
            .collect();
        assert_eq!(lens, vec![1024, 1024, 452]);
        let all: Vec<i64> = records
            .iter()
            .flat_map(|r| serde_pickle::from_slice::<Vec<i64>>(r, Default::default()).unwrap())
            .collect();
        assert_eq!(all, (0..2500).collect::<Vec<_>>());
    }

    #[test]
    fn big_outputs_go_out_in_several_batches_of_whole_records() {
        native::with(|host| *host = Default::default());
        let mut out = Output::new();
        let rows: Vec<String> = (0..2000).map(|i| format!("{i:0>500}")).collect();
        write_pickle(rows.clone().into_iter(), "String", &mut out).unwrap();
        out.flush().unwrap();
        let batches = native::with(|host| std::mem::take(&mut host.output));
        assert!(batches.len() > 1, "expected several output_write calls");
        let mut decoded = Vec::new();
        for batch in &batches {
            assert!(batch.len() < FLUSH_AT + RECORD_TARGET_BYTES + 1024);
            for record in records(batch) {
                assert!(record.len() < RECORD_TARGET_BYTES + 1024);
                decoded.extend(
                    serde_pickle::from_slice::<Vec<String>>(&record, Default::default()).unwrap(),
                );
            }
        }
        assert_eq!(decoded, rows);
    }

    #[test]
    fn binary_output_round_trips_through_postcard() {
        let rows = vec![("x".to_owned(), 1.5f64), ("y".to_owned(), -0.0)];
        let records = run_sink(rows.clone(), OutputSpec::Binary);
        assert_eq!(records.len(), 1);
        let (count, mut rest) = records[0].split_first_chunk::<4>().unwrap();
        assert_eq!(u32::from_le_bytes(*count), 2);
        let mut decoded = Vec::new();
        while !rest.is_empty() {
            let (item, tail) = postcard::take_from_bytes::<(String, f64)>(rest).unwrap();
            decoded.push(item);
            rest = tail;
        }
        assert_eq!(decoded, rows);
    }

    #[test]
    fn refused_output_is_an_error() {
        native::with(|host| {
            *host = Default::default();
            host.refuse_output = Some(3);
        });
        let mut out = Output::new();
        write_binary([1i64].into_iter(), "i64", &mut out).unwrap();
        assert!(matches!(out.flush(), Err(Error::OutputRefused(3))));
    }

    #[test]
    fn shuffle_buckets_pairs_by_key_hash() {
        native::with(|host| *host = Default::default());
        let rows: Vec<(String, i64)> = (0..100).map(|i| (format!("k{}", i % 10), i)).collect();
        let mut out = Output::new();
        shuffle::<String, i64>(Stream::new(rows.clone().into_iter()), 4, &mut out).unwrap();
        out.flush().unwrap();
        let records = records(&native::with(|host| host.output.concat()));
        assert_eq!(records.len() % 2, 0);
        let mut seen = Vec::new();
        let mut last_partition = None;
        for pair in records.chunks(2) {
            let partition = u64::from_be_bytes(pair[0].as_slice().try_into().unwrap());
            assert!(partition < 4);
            assert!(
                last_partition < Some(partition),
                "one batch per partition, in order"
            );
            last_partition = Some(partition);
            let (count, mut rest) = pair[1].split_first_chunk::<4>().unwrap();
            for _ in 0..u32::from_le_bytes(*count) {
                let (item, tail) = postcard::take_from_bytes::<(String, i64)>(rest).unwrap();
                let key = postcard::to_allocvec(&item.0).unwrap();
                assert_eq!(u64::from(partition_of(&key, 4)), partition);
                seen.push(item);
                rest = tail;
            }
            assert!(rest.is_empty());
        }
        seen.sort();
        let mut expected = rows;
        expected.sort();
        assert_eq!(seen, expected);
    }

    #[test]
    fn shuffle_refuses_zero_partitions() {
        let mut out = Output::new();
        let err =
            shuffle::<i64, i64>(Stream::new([(1i64, 1i64)].into_iter()), 0, &mut out).unwrap_err();
        assert!(err.to_string().contains("partitions"), "{err}");
    }
}
