//! The sandbox with real guest modules built from source: pipelines over each encoding,
//! typed errors for every kind of guest failure, and a good task after each failure on the
//! same runtime.

use std::time::{Duration, Instant};

use serde_pickle::{DeOptions, SerOptions};
use sparkwasm_abi::{InputEncoding, OutputSpec, Side, StepKind};
use sparkwasm_runtime::{ErrorKind, InputBatch, Limits, Runtime, TaskIo, TaskRequest, TaskStep};
use sparkwasm_tests::{module_bytes, TYPED_GUEST, WORDCOUNT};

/// Input records served from memory in batches of at most `max_records`, output collected.
#[derive(Default)]
struct MemoryIo {
    records: Vec<Option<Vec<u8>>>,
    next: usize,
    max_records: usize,
    output: Vec<u8>,
}

impl MemoryIo {
    fn new(records: Vec<Option<Vec<u8>>>) -> Self {
        MemoryIo {
            records,
            max_records: 3,
            ..Default::default()
        }
    }

    fn output_records(&self) -> Vec<Vec<u8>> {
        let mut rest = &self.output[..];
        let mut records = Vec::new();
        while !rest.is_empty() {
            let len = i32::from_be_bytes(rest[..4].try_into().unwrap());
            let len = usize::try_from(len).expect("the runtime never lets a negative length out");
            records.push(rest[4..4 + len].to_vec());
            rest = &rest[4 + len..];
        }
        records
    }
}

impl TaskIo for MemoryIo {
    fn next_input(&mut self, buf: &mut [u8]) -> std::io::Result<InputBatch> {
        let mut filled = 0;
        let mut taken = 0;
        while self.next < self.records.len() && taken < self.max_records {
            let record = &self.records[self.next];
            let needed = 4 + record.as_ref().map_or(0, Vec::len);
            if filled + needed > buf.len() {
                if filled == 0 {
                    return Ok(InputBatch::NeedCapacity(needed));
                }
                break;
            }
            match record {
                Some(bytes) => {
                    buf[filled..filled + 4]
                        .copy_from_slice(&i32::try_from(bytes.len()).unwrap().to_be_bytes());
                    buf[filled + 4..filled + needed].copy_from_slice(bytes);
                }
                None => buf[filled..filled + 4].copy_from_slice(&(-5i32).to_be_bytes()),
            }
            filled += needed;
            taken += 1;
            self.next += 1;
        }
        Ok(if filled == 0 {
            InputBatch::End
        } else {
            InputBatch::Filled(filled)
        })
    }

    fn write_output(&mut self, records: &[u8]) -> std::io::Result<()> {
        self.output.extend_from_slice(records);
        Ok(())
    }
}

fn pickle<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_pickle::to_vec(value, SerOptions::new()).unwrap()
}

fn unpickle_all<T: serde::de::DeserializeOwned>(records: &[Vec<u8>]) -> Vec<T> {
    records
        .iter()
        .flat_map(|r| serde_pickle::from_slice::<Vec<T>>(r, DeOptions::new()).unwrap())
        .collect()
}

fn step(kind: StepKind, function: &str) -> TaskStep {
    TaskStep {
        kind,
        function: function.into(),
    }
}

fn request(
    input: InputEncoding,
    source: &str,
    steps: Vec<TaskStep>,
    output: OutputSpec,
) -> TaskRequest {
    TaskRequest {
        partition: 0,
        input,
        source: (source.into(), Side::Input),
        steps,
        output,
    }
}

fn runtime(limits: Limits) -> Runtime<MemoryIo> {
    Runtime::new(limits).expect("engine starts")
}

fn run(
    runtime: &mut Runtime<MemoryIo>,
    path: &str,
    request: &TaskRequest,
    io: MemoryIo,
) -> (
    MemoryIo,
    Result<sparkwasm_runtime::TaskReport, sparkwasm_runtime::Error>,
) {
    let bytes = module_bytes(path);
    let digest = sparkwasm_runtime::digest_hex(&bytes);
    let module = runtime.load(&bytes, &digest).expect("fixture loads");
    runtime.run_task(&module, request, io)
}

fn ints_batches(values: &[i64], per_batch: usize) -> Vec<Option<Vec<u8>>> {
    values
        .chunks(per_batch)
        .map(|c| Some(pickle(&c.to_vec())))
        .collect()
}

#[test]
fn map_then_filter_over_pickled_ints_matches_rust() {
    let values: Vec<i64> = (-500..2500).collect();
    let mut rt = runtime(Limits::default());
    let req = request(
        InputEncoding::PickleBatch,
        "triple_plus_one",
        vec![
            step(StepKind::Map, "triple_plus_one"),
            step(StepKind::Filter, "is_multiple_of_four"),
        ],
        OutputSpec::Pickle,
    );
    let (io, result) = run(
        &mut rt,
        TYPED_GUEST,
        &req,
        MemoryIo::new(ints_batches(&values, 97)),
    );
    let report = result.unwrap();
    let got: Vec<i64> = unpickle_all(&io.output_records());
    let expected: Vec<i64> = values
        .iter()
        .map(|x| x * 3 + 1)
        .filter(|x| x % 4 == 0)
        .collect();
    assert_eq!(got, expected);
    assert!(report.input_batches > 1, "input arrived in several batches");
}

#[test]
fn word_count_pipeline_with_shuffle_output_partitions_and_combines() {
    let lines = [
        "the quick brown fox",
        "",
        "The lazy dog. the END",
        "fox fox",
    ];
    let records = lines.iter().map(|l| Some(l.as_bytes().to_vec())).collect();
    let mut rt = runtime(Limits::default());
    let req = request(
        InputEncoding::Utf8,
        "split_words",
        vec![
            step(StepKind::FlatMap, "split_words"),
            step(StepKind::Map, "with_one"),
            step(StepKind::ReduceByKey, "add"),
        ],
        OutputSpec::Shuffle { partitions: 3 },
    );
    let (io, result) = run(&mut rt, WORDCOUNT, &req, MemoryIo::new(records));
    result.unwrap();
    let records = io.output_records();
    assert_eq!(
        records.len() % 2,
        0,
        "shuffle output comes in (partition, batch) pairs"
    );
    let mut counts = std::collections::BTreeMap::new();
    for pair in records.chunks(2) {
        let partition = i64::from_be_bytes(pair[0].clone().try_into().unwrap());
        assert!((0..3).contains(&partition));
        let batch = &pair[1];
        let count = u32::from_le_bytes(batch[..4].try_into().unwrap());
        let mut rest = &batch[4..];
        for _ in 0..count {
            let ((word, n), tail): ((String, i64), _) = postcard::take_from_bytes(rest).unwrap();
            rest = tail;
            let key = postcard::to_allocvec(&word).unwrap();
            assert_eq!(
                sparkwasm_abi::partition_of(&key, 3),
                partition as u32,
                "{word} in its partition"
            );
            assert!(
                counts.insert(word, n).is_none(),
                "map-side combine leaves one pair per word"
            );
        }
        assert!(rest.is_empty());
    }
    let expected: std::collections::BTreeMap<String, i64> = [
        ("brown", 1),
        ("dog", 1),
        ("end", 1),
        ("fox", 3),
        ("lazy", 1),
        ("quick", 1),
        ("the", 3),
    ]
    .into_iter()
    .map(|(w, n)| (w.to_string(), n))
    .collect();
    assert_eq!(counts, expected);
}

#[test]
fn a_guest_panic_is_a_typed_error_with_its_message_and_the_runtime_serves_on() {
    let mut rt = runtime(Limits::default());
    let req = request(
        InputEncoding::PickleBatch,
        "explode",
        vec![step(StepKind::Map, "explode")],
        OutputSpec::Pickle,
    );
    let (_, result) = run(
        &mut rt,
        TYPED_GUEST,
        &req,
        MemoryIo::new(ints_batches(&[1, 2, 13, 4], 2)),
    );
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GuestPanic, "{err}");
    assert!(err.message().contains("boom at 13"), "{err}");
    assert!(err.message().contains("explode"), "{err}");

    let (io, result) = run(
        &mut rt,
        TYPED_GUEST,
        &req,
        MemoryIo::new(ints_batches(&[1, 2, 3], 2)),
    );
    result.unwrap();
    assert_eq!(unpickle_all::<i64>(&io.output_records()), vec![1, 2, 3]);
}

#[test]
fn a_python_int_that_does_not_fit_is_an_error_naming_its_position() {
    let mut rt = runtime(Limits::default());
    let req = request(
        InputEncoding::PickleBatch,
        "small_double",
        vec![step(StepKind::Map, "small_double")],
        OutputSpec::Pickle,
    );
    let (_, result) = run(
        &mut rt,
        TYPED_GUEST,
        &req,
        MemoryIo::new(vec![Some(pickle(&vec![1i64, 2, 300]))]),
    );
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GuestError, "{err}");
    assert!(err.message().contains("300"), "{err}");
    assert!(
        err.message().contains("element 2"),
        "names the position: {err}"
    );
}

#[test]
fn null_text_records_become_none_for_option_inputs() {
    let mut rt = runtime(Limits::default());
    let req = request(
        InputEncoding::Utf8,
        "maybe_len",
        vec![step(StepKind::Map, "maybe_len")],
        OutputSpec::Pickle,
    );
    let records = vec![
        Some(b"four".to_vec()),
        None,
        Some("héllo".as_bytes().to_vec()),
    ];
    let (io, result) = run(&mut rt, TYPED_GUEST, &req, MemoryIo::new(records));
    result.unwrap();
    assert_eq!(
        unpickle_all::<Option<i64>>(&io.output_records()),
        vec![Some(4), None, Some(5)]
    );
}

#[test]
fn a_record_larger_than_the_guest_buffer_is_delivered_whole() {
    let big = "x".repeat(3 << 20);
    let mut rt = runtime(Limits::default());
    let req = request(
        InputEncoding::Utf8,
        "upper",
        vec![step(StepKind::Map, "upper")],
        OutputSpec::Pickle,
    );
    let (io, result) = run(
        &mut rt,
        TYPED_GUEST,
        &req,
        MemoryIo::new(vec![Some(big.clone().into_bytes())]),
    );
    result.unwrap();
    assert_eq!(
        unpickle_all::<String>(&io.output_records()),
        vec![big.to_uppercase()]
    );
}

#[test]
fn digest_mismatch_is_refused() {
    let mut rt = runtime(Limits::default());
    let bytes = module_bytes(TYPED_GUEST);
    let wrong = "0".repeat(64);
    let err = rt.load(&bytes, &wrong).err().expect("refused");
    assert_eq!(err.kind(), ErrorKind::DigestMismatch);
}

#[test]
fn the_memory_cap_is_a_typed_error() {
    // flat_map n -> 0..n materialises a Vec<i64> of n elements: 8 * 40M bytes > 64 MiB.
    let mut rt = runtime(Limits::default().with_memory_bytes(64 << 20));
    let req = request(
        InputEncoding::PickleBatch,
        "range_to",
        vec![step(StepKind::FlatMap, "range_to")],
        OutputSpec::Pickle,
    );
    let (_, result) = run(
        &mut rt,
        TYPED_GUEST,
        &req,
        MemoryIo::new(vec![Some(pickle(&vec![40_000_000i64]))]),
    );
    assert_eq!(result.unwrap_err().kind(), ErrorKind::MemoryLimit);
}

/// A minimal sparkwasm module in WAT with one function `f`, the `output_write` import as
/// `$output`, and `body` as the body of `sparkwasm_run_task`.
fn wat_module(body: &str) -> Vec<u8> {
    let descriptor = r#"{"abi_version":1,"name":"f","kind":"map","input":"i64","output":"i64"}"#;
    let mut section = u32::try_from(descriptor.len())
        .unwrap()
        .to_le_bytes()
        .to_vec();
    section.extend_from_slice(descriptor.as_bytes());
    let escaped: String = section.iter().map(|b| format!("\\{b:02x}")).collect();
    wat::parse_str(format!(
        r#"(module
            (import "sparkwasm" "output_write" (func $output (param i32 i32) (result i32)))
            (@custom "sparkwasm.functions" "{escaped}")
            (memory (export "memory") 1)
            (func (export "sparkwasm_abi_version") (result i32) i32.const 1)
            (func (export "sparkwasm_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "sparkwasm_fn_f") (result i32) i32.const 8)
            (func $recurse (param i32) (result i32) local.get 0 call $recurse)
            (func (export "sparkwasm_run_task") (param i32 i32) (result i32) {body}))"#
    ))
    .expect("valid wat")
}

/// Runs `body` as a task and returns the host's output and the task's error.
fn run_wat(rt: &mut Runtime<MemoryIo>, body: &str) -> (MemoryIo, sparkwasm_runtime::Error) {
    let bytes = wat_module(body);
    let digest = sparkwasm_runtime::digest_hex(&bytes);
    let module = rt.load(&bytes, &digest).expect("wat module loads");
    let req = request(
        InputEncoding::PickleBatch,
        "f",
        vec![step(StepKind::Map, "f")],
        OutputSpec::Pickle,
    );
    let (io, result) = rt.run_task(&module, &req, MemoryIo::new(vec![]));
    (io, result.expect_err("the task fails"))
}

#[test]
fn an_infinite_loop_hits_the_deadline_quickly() {
    let mut rt = runtime(Limits::default().with_task_deadline(Duration::from_millis(200)));
    let started = Instant::now();
    let (_, err) = run_wat(&mut rt, "(loop (br 0)) i32.const 0");
    assert_eq!(err.kind(), ErrorKind::Deadline, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn runaway_recursion_is_a_stack_overflow() {
    let mut rt = runtime(Limits::default());
    let (_, err) = run_wat(&mut rt, "i32.const 0 call $recurse");
    assert_eq!(err.kind(), ErrorKind::StackOverflow, "{err}");
}

#[test]
fn growing_memory_past_the_cap_is_a_memory_limit() {
    let mut rt = runtime(Limits::default().with_memory_bytes(8 << 20));
    let (_, err) = run_wat(
        &mut rt,
        "(loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable",
    );
    assert_eq!(err.kind(), ErrorKind::MemoryLimit, "{err}");
}

#[test]
fn output_that_lies_about_its_length_never_leaves_the_sandbox() {
    let mut rt = runtime(Limits::default());
    // A record header claiming 1000 bytes (big-endian 0x3e8) with 4 bytes behind it.
    let (io, err) = run_wat(
        &mut rt,
        r#"(i32.store (i32.const 64) (i32.const 0xe8030000))
           (i32.store (i32.const 68) (i32.const 0x64636261))
           (drop (call $output (i32.const 64) (i32.const 8)))
           i32.const 0"#,
    );
    assert_eq!(err.kind(), ErrorKind::GuestFault, "{err}");
    assert!(
        io.output.is_empty(),
        "nothing malformed reached the host's output"
    );
}

#[test]
fn a_buffer_outside_guest_memory_is_a_fault_not_a_host_crash() {
    let mut rt = runtime(Limits::default());
    let (_, err) = run_wat(
        &mut rt,
        "(drop (call $output (i32.const 65000) (i32.const 100000))) i32.const 0",
    );
    assert_eq!(err.kind(), ErrorKind::GuestFault, "{err}");
}
