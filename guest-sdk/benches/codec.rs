//! Micro-benchmarks of the guest's batch codecs: decoding PySpark's pickled batches,
//! encoding pickle output, and the binary batches (postcard of each element's `Value`) that
//! carry elements between WASM stages and through the shuffle.
//!
//! The side-by-side benchmark (BENCHMARKS.md) found that a narrow job's time goes to the
//! exchange, decoding and encoding records, not to the guest's functions: these are the
//! loops to watch. Each benchmark runs the SDK's own code for one record through
//! `sparkwasm::__bench` (feature `bench-internals`), natively; inside wasmtime the same code
//! runs somewhat slower, so compare these numbers with each other, not with a task's.
//!
//! Each batch holds 1024 elements, PySpark's batch size and the SDK's pickle output batch,
//! of three shapes: `ints` (i64, mostly 3-byte to 4-byte pickles), `strs` (short distinct
//! strings) and `str_int_pairs` (`(str, int)` tuples, the shape of key-value RDDs). Input
//! pickles are byte for byte what CPython's `pickle.dumps(batch, protocol=5)` writes, as
//! PySpark sends them (checked at start-up against bytes captured from CPython 3.11).
//! Throughput is in elements.
//!
//! * `pickle_decode/{typed,values}`: pickled batch → `Vec<T>` / `Vec<Value>`.
//! * `pickle_encode/{typed,values}`: elements → pickle output record.
//! * `binary_encode/{typed,values}`: elements → binary output record.
//! * `binary_decode/{typed,values}`: binary batch → elements.
//!
//! Run: `cargo bench -p sparkwasm --features bench-internals --bench codec`
//! (docs/microbenchmarks.md).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sparkwasm::__bench::{self as codec, Value};

/// Elements per batch: PySpark's default batch size, and the SDK's pickle output batch.
const BATCH: usize = 1024;

/// One batch of one element type, in every encoding the benchmarks start from.
struct Batch<T> {
    name: &'static str,
    rows: Vec<T>,
    /// CPython's pickle of the batch, as PySpark sends it.
    pickle: Vec<u8>,
    /// The batch as Python's data model.
    values: Vec<Value>,
    /// The payload of the batch's one binary output record.
    binary: Vec<u8>,
}

impl<T: Serialize + DeserializeOwned + 'static> Batch<T> {
    fn new(name: &'static str, rows: Vec<T>, pickle: Vec<u8>) -> Self {
        let values = codec::pickle_batch_to_values(&pickle).expect("a valid pickle");
        assert_eq!(values.len(), rows.len());
        let mut records = Vec::new();
        codec::typed_to_binary_records(&rows, &mut records).expect("encodable");
        let (header, payload) = records.split_at(4);
        let len = i32::from_be_bytes(header.try_into().expect("a length header"));
        assert_eq!(
            len as usize,
            payload.len(),
            "the batch is one binary record"
        );
        Batch {
            name,
            rows,
            pickle,
            values,
            binary: payload.to_vec(),
        }
    }
}

fn ints() -> Batch<i64> {
    // 0 to about 10 million: mostly 4-byte `BININT`s, some 2-byte, as `range()` data.
    let rows: Vec<i64> = (0..BATCH as i64).map(|i| i * 9_973).collect();
    let pickle = cpython::list(&rows, |&x, out| cpython::int(x, out));
    Batch::new("ints", rows, pickle)
}

/// Short words, each a distinct Python object (no memo sharing), as lines or split words.
fn words() -> Vec<String> {
    const WORDS: [&str; 8] = [
        "spark", "wasm", "the", "quick", "brown", "fox", "jumps", "over",
    ];
    (0..BATCH)
        .map(|i| format!("{}{}", WORDS[i % WORDS.len()], i % 100))
        .collect()
}

fn strs() -> Batch<String> {
    let rows = words();
    let pickle = cpython::list(&rows, |s, out| cpython::str(s, out));
    Batch::new("strs", rows, pickle)
}

fn str_int_pairs() -> Batch<(String, i64)> {
    let rows: Vec<(String, i64)> = words().into_iter().zip(0..).collect();
    let pickle = cpython::list(&rows, |(s, i), out| {
        cpython::str(s, out);
        cpython::int(*i, out);
        out.extend_from_slice(&[cpython::TUPLE2, cpython::MEMOIZE]);
    });
    Batch::new("str_int_pairs", rows, pickle)
}

fn pickle_decode<T>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    batch: &Batch<T>,
) where
    T: Serialize + DeserializeOwned + 'static,
{
    let mut typed = Vec::with_capacity(BATCH);
    group.bench_with_input(
        BenchmarkId::new("typed", batch.name),
        &batch.pickle,
        |b, pickle| {
            b.iter(|| {
                typed.clear();
                codec::pickle_batch_to_typed::<T>(pickle, &mut typed).expect("decodes");
                black_box(typed.len())
            })
        },
    );
    group.bench_with_input(
        BenchmarkId::new("values", batch.name),
        &batch.pickle,
        |b, pickle| b.iter(|| codec::pickle_batch_to_values(pickle).expect("decodes")),
    );
}

fn pickle_encode<T: Serialize>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    batch: &Batch<T>,
) {
    encode(
        group,
        batch,
        codec::typed_to_pickle_records::<T>,
        codec::values_to_pickle_records,
    );
}

fn binary_encode<T: Serialize>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    batch: &Batch<T>,
) {
    encode(
        group,
        batch,
        codec::typed_to_binary_records::<T>,
        codec::values_to_binary_records,
    );
}

/// An output writer over a caller's record buffer.
type Writer<E> = fn(&[E], &mut Vec<u8>) -> Result<(), String>;

/// `typed` over the batch's rows and `values` over its values, into one reused buffer.
fn encode<T>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    batch: &Batch<T>,
    typed: Writer<T>,
    values: Writer<Value>,
) {
    let mut records = Vec::new();
    group.bench_with_input(
        BenchmarkId::new("typed", batch.name),
        &batch.rows,
        |b, rows| {
            b.iter(|| {
                typed(rows, &mut records).expect("encodes");
                black_box(records.len())
            })
        },
    );
    group.bench_with_input(
        BenchmarkId::new("values", batch.name),
        &batch.values,
        |b, rows| {
            b.iter(|| {
                values(rows, &mut records).expect("encodes");
                black_box(records.len())
            })
        },
    );
}

fn binary_decode<T: DeserializeOwned>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    batch: &Batch<T>,
) {
    let mut typed: Vec<T> = Vec::with_capacity(BATCH);
    group.bench_with_input(
        BenchmarkId::new("typed", batch.name),
        &batch.binary,
        |b, binary| {
            b.iter(|| {
                typed.clear();
                codec::binary_batch_to_typed(binary, &mut typed).expect("decodes");
                black_box(typed.len())
            })
        },
    );
    let mut values = Vec::with_capacity(BATCH);
    group.bench_with_input(
        BenchmarkId::new("values", batch.name),
        &batch.binary,
        |b, binary| {
            b.iter(|| {
                values.clear();
                codec::binary_batch_to_values(binary, &mut values).expect("decodes");
                black_box(values.len())
            })
        },
    );
}

/// Runs `bench` over the three batch shapes in a group named `name`.
macro_rules! over_batches {
    ($c:expr, $name:literal, $bench:ident, $batches:expr) => {{
        let mut group = $c.benchmark_group($name);
        group.throughput(Throughput::Elements(BATCH as u64));
        let (ints, strs, pairs) = $batches;
        $bench(&mut group, ints);
        $bench(&mut group, strs);
        $bench(&mut group, pairs);
        group.finish();
    }};
}

/// Spelled out rather than `criterion_group!`, whose generated `pub fn` has no docs and trips
/// the workspace's `missing_docs` lint. Command-line flags override the short default runs.
fn main() {
    cpython::check_against_captured_bytes();
    let batches = (&ints(), &strs(), &str_int_pairs());
    // 24 benchmarks: short runs and 50 samples keep the file well under a minute.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(50)
        .configure_from_args();
    over_batches!(c, "pickle_decode", pickle_decode, batches);
    over_batches!(c, "pickle_encode", pickle_encode, batches);
    over_batches!(c, "binary_encode", binary_encode, batches);
    over_batches!(c, "binary_decode", binary_decode, batches);
    c.final_summary();
}

/// A pickler writing exactly CPython's bytes (`pickle.dumps(list, protocol=5)`) for lists of
/// ints, strs and 2-tuples of them, up to one 64 KiB frame: what PySpark sends for a batch.
mod cpython {
    pub(crate) const MEMOIZE: u8 = 0x94;
    pub(crate) const TUPLE2: u8 = 0x86;

    /// `PROTO 5`, a `FRAME` (when the rest is 4 bytes or more), `EMPTY_LIST MEMOIZE`, then
    /// `MARK items APPENDS` per 1000 elements (`item APPEND` for a list of one), `STOP`.
    pub(crate) fn list<T>(items: &[T], mut save: impl FnMut(&T, &mut Vec<u8>)) -> Vec<u8> {
        let mut body = vec![b']', MEMOIZE];
        if let [item] = items {
            save(item, &mut body);
            body.push(b'a');
        } else {
            for chunk in items.chunks(1000) {
                body.push(b'(');
                for item in chunk {
                    save(item, &mut body);
                }
                body.push(b'e');
            }
        }
        body.push(b'.');
        assert!(
            body.len() < 64 << 10,
            "CPython would cut more than one frame"
        );
        let mut out = vec![0x80, 5];
        if body.len() >= 4 {
            out.push(0x95);
            out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        }
        out.extend_from_slice(&body);
        out
    }

    /// `BININT1`, `BININT2`, `BININT` or `LONG1`, the smallest that holds `x`.
    pub(crate) fn int(x: i64, out: &mut Vec<u8>) {
        match x {
            0..=0xff => out.extend_from_slice(&[b'K', x as u8]),
            0x100..=0xffff => {
                out.push(b'M');
                out.extend_from_slice(&(x as u16).to_le_bytes());
            }
            _ if i32::try_from(x).is_ok() => {
                out.push(b'J');
                out.extend_from_slice(&(x as i32).to_le_bytes());
            }
            _ => {
                // Python's `encode_long`: the shortest little-endian two's complement.
                let bytes = x.to_le_bytes();
                let mut n = 8;
                while n > 1 {
                    let (last, prev) = (bytes[n - 1], bytes[n - 2]);
                    let redundant =
                        (last == 0 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0);
                    if !redundant {
                        break;
                    }
                    n -= 1;
                }
                out.extend_from_slice(&[0x8a, n as u8]);
                out.extend_from_slice(&bytes[..n]);
            }
        }
    }

    /// `SHORT_BINUNICODE MEMOIZE` (or `BINUNICODE` from 256 bytes): each string a new object.
    pub(crate) fn str(s: &str, out: &mut Vec<u8>) {
        match u8::try_from(s.len()) {
            Ok(len) => out.extend_from_slice(&[0x8c, len]),
            Err(_) => {
                out.push(b'X');
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            }
        }
        out.extend_from_slice(s.as_bytes());
        out.push(MEMOIZE);
    }

    /// Panics unless the pickler reproduces bytes captured from CPython 3.11.
    pub(crate) fn check_against_captured_bytes() {
        // pickle.dumps([1, 300, -2, 70000, 2**40, -2**31-1], protocol=5)
        let ints: &[u8] = b"\x80\x05\x95#\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01M,\x01\
            J\xfe\xff\xff\xffJp\x11\x01\x00\x8a\x06\x00\x00\x00\x00\x00\x01\
            \x8a\x05\xff\xff\xff\x7f\xffe.";
        let got = list(&[1, 300, -2, 70000, 1 << 40, -(1 << 31) - 1], |&x, out| {
            int(x, out)
        });
        assert_eq!(got, ints, "ints");
        // pickle.dumps([('a', 1), ('bc', 300)], protocol=5)
        let pairs: &[u8] = b"\x80\x05\x95\x17\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x01a\x94K\x01\
            \x86\x94\x8c\x02bc\x94M,\x01\x86\x94e.";
        let got = list(&[("a", 1), ("bc", 300)], |(s, i), out| {
            str(s, out);
            int(*i, out);
            out.extend_from_slice(&[TUPLE2, MEMOIZE]);
        });
        assert_eq!(got, pairs, "pairs");
        // pickle.dumps(list(range(1001)), protocol=5)[-12:]: every batch is MARK … APPENDS.
        let got = list(&(0..1001).collect::<Vec<i64>>(), |&x, out| int(x, out));
        assert!(got.ends_with(b"M\xe7\x03e(M\xe8\x03e."), "range(1001)");
        // pickle.dumps([5], protocol=5) and pickle.dumps([], protocol=5)
        let one: &[u8] = b"\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94K\x05a.";
        assert_eq!(list(&[5], |&x, out| int(x, out)), one, "[5]");
        assert_eq!(
            list::<i64>(&[], |&x, out| int(x, out)),
            b"\x80\x05]\x94.",
            "[]"
        );
    }
}
