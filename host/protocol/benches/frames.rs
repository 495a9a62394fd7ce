//! Micro-benchmarks of the data section's framing: `i32` big-endian length + payload per
//! record, as Spark's JVM sends a task's input and reads its output (§4.6, §5.1).
//!
//! Every record of every task crosses these loops, so their cost per byte is the floor under
//! the worker's throughput, independent of WebAssembly. Two shapes bracket what Spark sends:
//! 10 000 records of 8 bytes (per-record overhead dominates: one-word `textFile` lines,
//! small pickled items) and 1 000 records of 4 KiB (copying dominates: PySpark's pickled
//! batches). The input is in memory, read through a 64 KiB `BufReader` as the worker reads
//! its socket, so the numbers exclude the kernel; throughput is over the framed bytes,
//! headers included.
//!
//! * `read_records/alloc_per_record`: [`read_record_header`] + [`read_payload`], one `Vec`
//!   per record (the crate's general reader).
//! * `read_records/copy_into_batch`: [`read_record_header`] + `read_exact` into one reused
//!   buffer in the guest's batch layout, the way `host/src/socket_io.rs` fills guest memory.
//! * `write_records/write_frame`: [`write_frame`] per record + the end-of-data marker into a
//!   reused buffer, as a worker answers the JVM.
//!
//! Run: `cargo bench -p sparkwasm-protocol --bench frames` (docs/microbenchmarks.md).

use std::hint::black_box;
use std::io::{BufReader, Read};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use sparkwasm_protocol::{
    read_payload, read_record_header, special, write_frame, write_i32, RecordHeader,
};

/// The worker's socket buffer size (`host/src/socket_io.rs`, Spark's `spark.buffer.size`).
const SOCKET_BUFFER: usize = 64 << 10;

/// A data section's shape: how many records of how many bytes.
struct Shape {
    name: &'static str,
    records: usize,
    record_bytes: usize,
}

const SHAPES: [Shape; 2] = [
    Shape {
        name: "10k_x_8B",
        records: 10_000,
        record_bytes: 8,
    },
    Shape {
        name: "1k_x_4KiB",
        records: 1_000,
        record_bytes: 4 << 10,
    },
];

impl Shape {
    /// The payloads, with varying bytes so nothing is trivially compressible or constant.
    fn payloads(&self) -> Vec<Vec<u8>> {
        (0..self.records)
            .map(|r| {
                (0..self.record_bytes)
                    .map(|i| (r.wrapping_mul(31) ^ i) as u8)
                    .collect()
            })
            .collect()
    }

    /// The data section the JVM would send: the framed records and `END_OF_DATA_SECTION`.
    fn data_section(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.records * (4 + self.record_bytes) + 4);
        write_section(&self.payloads(), &mut out);
        out
    }
}

fn write_section(payloads: &[Vec<u8>], out: &mut Vec<u8>) {
    for payload in payloads {
        write_frame(out, payload).expect("writing to a Vec cannot fail");
    }
    write_i32(out, special::END_OF_DATA_SECTION).expect("writing to a Vec cannot fail");
}

/// Reads the section with one allocation per record; returns the payload bytes read.
fn read_allocating(section: &[u8]) -> usize {
    let mut reader = BufReader::with_capacity(SOCKET_BUFFER, section);
    let mut total = 0;
    loop {
        match read_record_header(&mut reader).expect("well-formed section") {
            RecordHeader::Data(len) => {
                let payload =
                    read_payload(&mut reader, len, usize::MAX, "record").expect("whole record");
                total += black_box(payload).len();
            }
            RecordHeader::Null => {}
            RecordHeader::EndOfData => return total,
        }
    }
}

/// Reads the section into `batch` (length header + payload per record, the guest's batch
/// layout), starting over at the front whenever the next record does not fit, as the host
/// hands the guest one batch at a time; returns the bytes copied.
fn read_into_batch(section: &[u8], batch: &mut [u8]) -> usize {
    let mut reader = BufReader::with_capacity(SOCKET_BUFFER, section);
    let mut filled = 0;
    let mut total = 0;
    loop {
        let len = match read_record_header(&mut reader).expect("well-formed section") {
            RecordHeader::Data(len) => len as usize,
            RecordHeader::Null => 0,
            RecordHeader::EndOfData => return total + filled,
        };
        if filled + 4 + len > batch.len() {
            black_box(&batch[..filled]);
            total += filled;
            filled = 0;
        }
        batch[filled..filled + 4].copy_from_slice(&(len as i32).to_be_bytes());
        filled += 4;
        reader
            .read_exact(&mut batch[filled..filled + len])
            .expect("whole record");
        filled += len;
    }
}

fn read_records(c: &mut Criterion) {
    let mut group = c.benchmark_group("read_records");
    // The guest's initial input buffer (guest-sdk `INITIAL_INPUT_BUFFER`).
    let mut batch = vec![0u8; 256 << 10];
    for shape in &SHAPES {
        let section = shape.data_section();
        group.throughput(Throughput::Bytes(section.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("alloc_per_record", shape.name),
            &section,
            |b, section| b.iter(|| read_allocating(section)),
        );
        group.bench_with_input(
            BenchmarkId::new("copy_into_batch", shape.name),
            &section,
            |b, section| b.iter(|| read_into_batch(section, &mut batch)),
        );
    }
    group.finish();
}

fn write_records(c: &mut Criterion) {
    let mut group = c.benchmark_group("write_records");
    for shape in &SHAPES {
        let payloads = shape.payloads();
        let mut out = shape.data_section();
        group.throughput(Throughput::Bytes(out.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("write_frame", shape.name),
            &payloads,
            |b, payloads| {
                b.iter(|| {
                    out.clear();
                    write_section(payloads, &mut out);
                    black_box(out.len())
                })
            },
        );
    }
    group.finish();
}

/// Spelled out rather than `criterion_group!`, whose generated `pub fn` has no docs and trips
/// the workspace's `missing_docs` lint. Command-line flags override the short default runs.
fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    read_records(&mut c);
    write_records(&mut c);
    c.final_summary();
}
