//! Micro-benchmarks of the sandbox with real guest modules built from source: what a task
//! costs before its first record, and what each batch of records costs once it runs.
//!
//! * `instantiate/empty_task/<module>`: one task with no input on a module already compiled
//!   and cached (`Runtime::load` done once): a fresh store and instance from the pooling
//!   allocator, the WASI context, the guest planning the task and finding no input, and the
//!   teardown. This is the fixed cost every Spark task pays on a warm worker ("warm instance
//!   creation"; target: at most 100 µs). Three modules: `minimal_wat`, a hand-written
//!   module whose task returns at once (the host's share alone: no guest code runs), the
//!   typed fixture guest (about 1.8 MB, many functions) and the word-count example (about
//!   0.8 MB); the difference between the first and the others is the SDK's start-up.
//! * `map_batches/<n>`: one task over `n` pickled batches of 1024 i64 (byte for byte what
//!   CPython's `pickle.dumps(batch, protocol=5)` writes, as PySpark sends them) through
//!   `triple_plus_one`, pickle output: input copied into guest memory as many whole records
//!   per guest call as fit its buffer (as the worker does), decoded, mapped, encoded, checked
//!   and handed back. Throughput is in elements; the time per batch is the slope between the
//!   sizes, the one-batch time less the empty task's is the first batch's.
//!
//! The host side is an in-memory `TaskIo` that serves the framed records from one shared
//! buffer and counts the output instead of keeping it, so the numbers are the sandbox's and
//! the guest's, not the socket's (see `host/protocol/benches/frames.rs` for that).
//!
//! Run: `cargo bench -p sparkwasm-tests --bench guest` (docs/microbenchmarks.md).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use sparkwasm_abi::{
    InputEncoding, Side, StepKind, TaskInfo, ABI_VERSION, DESCRIPTOR_SECTION, STATUS_OK,
};
use sparkwasm_runtime::{
    InputBatch, LoadedModule, Policy, Runtime, TaskIo, TaskOutput, TaskReport, TaskRequest,
    TaskStep,
};
use sparkwasm_tests::{module_bytes, TYPED_GUEST, WORDCOUNT};

/// Elements per pickled batch: PySpark's default batch size.
const BATCH: usize = 1024;

/// Task input served from memory, output counted and dropped.
struct BenchIo {
    /// The data section's records, each `i32` big-endian length + payload (the batch layout
    /// the guest reads).
    input: Arc<[u8]>,
    /// Start of the next record to hand out.
    next: usize,
    output_bytes: u64,
}

impl BenchIo {
    fn new(input: &Arc<[u8]>) -> Self {
        BenchIo {
            input: Arc::clone(input),
            next: 0,
            output_bytes: 0,
        }
    }
}

impl TaskIo for BenchIo {
    fn next_input(&mut self, buf: &mut [u8]) -> std::io::Result<InputBatch> {
        let rest = &self.input[self.next..];
        // Whole records that fit, copied in one piece.
        let mut end = 0;
        while let Some(header) = rest.get(end..end + 4) {
            let len = i32::from_be_bytes(header.try_into().expect("four bytes"));
            let needed = 4 + usize::try_from(len).expect("no null records here");
            if end + needed > buf.len() {
                if end == 0 {
                    return Ok(InputBatch::NeedCapacity(needed));
                }
                break;
            }
            end += needed;
        }
        if end == 0 {
            return Ok(InputBatch::End);
        }
        buf[..end].copy_from_slice(&rest[..end]);
        self.next += end;
        Ok(InputBatch::Filled(end))
    }

    fn write_output(&mut self, records: &[u8]) -> std::io::Result<()> {
        self.output_bytes += records.len() as u64;
        Ok(())
    }
}

/// A module compiled once, and the one-step task run on it.
struct Fixture {
    runtime: Runtime<BenchIo>,
    module: Arc<LoadedModule<BenchIo>>,
    request: TaskRequest,
}

impl Fixture {
    fn new(path: &str, input: InputEncoding, kind: StepKind, function: &str) -> Self {
        Fixture::of_bytes(&module_bytes(path), input, kind, function)
    }

    fn of_bytes(bytes: &[u8], input: InputEncoding, kind: StepKind, function: &str) -> Self {
        let mut runtime = Runtime::new(Policy::default()).expect("the engine starts");
        let module = runtime
            .load(bytes, &sparkwasm_runtime::digest_hex(bytes))
            .expect("the fixture compiles");
        let request = TaskRequest {
            info: TaskInfo::default(),
            input,
            source: Some((function.into(), Side::Input)),
            steps: vec![TaskStep {
                kind,
                functions: vec![function.into()],
                arg: None,
            }],
            output: TaskOutput::Pickle,
            args: vec![],
            broadcasts: vec![],
            accumulators: vec![],
            spark_files_dir: None,
            sql: None,
        };
        Fixture {
            runtime,
            module,
            request,
        }
    }

    fn run(&self, input: &Arc<[u8]>) -> (BenchIo, TaskReport) {
        let (io, result) = self
            .runtime
            .run_task(&self.module, &self.request, BenchIo::new(input));
        (io, result.expect("the task succeeds"))
    }
}

fn instantiate(c: &mut Criterion, typed: &Fixture) {
    let mut group = c.benchmark_group("instantiate");
    let empty: Arc<[u8]> = Arc::from(Vec::new());
    let minimal = Fixture::of_bytes(
        &minimal_wat_guest(),
        InputEncoding::PickleBatch,
        StepKind::Map,
        "f",
    );
    let wordcount = Fixture::new(
        WORDCOUNT,
        InputEncoding::Utf8,
        StepKind::FlatMap,
        "split_words",
    );
    let fixtures = [
        ("minimal_wat", &minimal),
        ("typed_guest", typed),
        ("wordcount", &wordcount),
    ];
    for (name, fixture) in fixtures {
        let (_, report) = fixture.run(&empty);
        assert_eq!(report.output_records, 0);
        group.bench_function(BenchmarkId::new("empty_task", name), |b| {
            b.iter(|| black_box(fixture.run(&empty).1))
        });
    }
    group.finish();
}

/// `fixture` runs `triple_plus_one` over pickled batches.
fn map_batches(c: &mut Criterion, fixture: &Fixture) {
    let mut group = c.benchmark_group("map_batches");
    for batches in [1usize, 16, 64] {
        let values: Vec<i64> = (0..(batches * BATCH) as i64).map(|i| i * 9_973).collect();
        let mut input = Vec::new();
        for chunk in values.chunks(BATCH) {
            let pickle = cpython_pickle_ints(chunk);
            input.extend_from_slice(&i32::try_from(pickle.len()).unwrap().to_be_bytes());
            input.extend_from_slice(&pickle);
        }
        let input: Arc<[u8]> = Arc::from(input);

        let (io, report) = fixture.run(&input);
        assert!(report.input_batches > 0, "the guest read its input");
        assert_eq!(
            report.output_records, batches as u64,
            "one record per batch"
        );
        assert!(io.output_bytes > 0);

        group.throughput(Throughput::Elements(values.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batches), &input, |b, input| {
            b.iter(|| black_box(fixture.run(input).1))
        });
    }
    group.finish();
}

/// The smallest module the runtime accepts, with one map `f` and a `sparkwasm_run_task`
/// that returns at once: the host's share of a task (store, WASI context, instance from
/// the pool, task spec copied in, one call, teardown) without any guest code.
fn minimal_wat_guest() -> Vec<u8> {
    let descriptor = format!(
        r#"{{"abi_version":{ABI_VERSION},"name":"f","kind":"map","input":"i64","output":"i64"}}"#
    );
    let mut section = u32::try_from(descriptor.len())
        .unwrap()
        .to_le_bytes()
        .to_vec();
    section.extend_from_slice(descriptor.as_bytes());
    let escaped: String = section.iter().map(|b| format!("\\{b:02x}")).collect();
    wat::parse_str(format!(
        r#"(module
            (@custom "{DESCRIPTOR_SECTION}" "{escaped}")
            (memory (export "memory") 1)
            (func (export "sparkwasm_abi_version") (result i32) i32.const {ABI_VERSION})
            (func (export "sparkwasm_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "sparkwasm_fn_f") (result i32) i32.const 1)
            (func (export "sparkwasm_run_task") (param i32 i32) (result i32) i32.const {STATUS_OK}))"#
    ))
    .expect("valid WAT")
}

/// CPython's `pickle.dumps(values, protocol=5)` for a list of two or more ints that fits one
/// frame: `PROTO 5`, `FRAME`, `EMPTY_LIST MEMOIZE`, then per 1000 ints `MARK`, each int as
/// `BININT1`, `BININT2` or `BININT` (values beyond `i32` are not needed here) and `APPENDS`,
/// then `STOP`. The bytes are checked against CPython's in `main`.
fn cpython_pickle_ints(values: &[i64]) -> Vec<u8> {
    assert!(values.len() >= 2, "a list of one is pickled with APPEND");
    let mut body = vec![b']', 0x94];
    for chunk in values.chunks(1000) {
        body.push(b'(');
        for &x in chunk {
            match x {
                0..=0xff => body.extend_from_slice(&[b'K', x as u8]),
                0x100..=0xffff => {
                    body.push(b'M');
                    body.extend_from_slice(&(x as u16).to_le_bytes());
                }
                _ => {
                    let x = i32::try_from(x).expect("ints within i32");
                    body.push(b'J');
                    body.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        body.push(b'e');
    }
    body.push(b'.');
    assert!(
        body.len() < 64 << 10,
        "CPython would cut more than one frame"
    );
    let mut out = vec![0x80, 5, 0x95];
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Spelled out rather than `criterion_group!`, whose generated `pub fn` has no docs and trips
/// the workspace's `missing_docs` lint. Command-line flags override the short default runs.
fn main() {
    // pickle.dumps([1, 300, -2, 70000], protocol=5), from CPython 3.11.
    let captured: &[u8] = b"\x80\x05\x95\x14\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01M,\x01\
        J\xfe\xff\xff\xffJp\x11\x01\x00e.";
    assert_eq!(cpython_pickle_ints(&[1, 300, -2, 70000]), captured);
    // pickle.dumps(list(range(1001)), protocol=5)[-12:]: a MARK … APPENDS per 1000.
    let ints: Vec<i64> = (0..1001).collect();
    assert!(cpython_pickle_ints(&ints).ends_with(b"M\xe7\x03e(M\xe8\x03e."));

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args();
    // One compilation of the typed guest (seconds on a slow machine) serves both groups.
    let typed = Fixture::new(
        TYPED_GUEST,
        InputEncoding::PickleBatch,
        StepKind::Map,
        "triple_plus_one",
    );
    instantiate(&mut c, &typed);
    map_batches(&mut c, &typed);
    c.final_summary();
}
