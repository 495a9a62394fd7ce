//! The sandbox with real guest modules built from source: pipelines over each encoding,
//! typed errors for every kind of guest failure, a good task after each failure on the same
//! runtime, and broadcasts and accumulators through the SDK. (Hand-written WAT guests that
//! need no SDK are tested in `runtime/tests/wat_guests.rs`.)

use std::collections::HashMap;

use serde_pickle::{DeOptions, SerOptions};
use sparkwasm_abi::{
    Binding, InputEncoding, Side, StepKind, TaskInfo, Value, BATCH_TYPED, BATCH_VALUES,
};
use sparkwasm_runtime::{
    BroadcastRead, ErrorKind, InputBatch, Policy, Runtime, TaskIo, TaskOutput, TaskPartitioner,
    TaskRequest, TaskStep,
};
use sparkwasm_tests::{module_bytes, TYPED_GUEST, WORDCOUNT};

/// Input records served from memory in batches of at most `max_records`, output collected,
/// broadcasts served from a map.
#[derive(Default)]
struct MemoryIo {
    records: Vec<Option<Vec<u8>>>,
    next: usize,
    max_records: usize,
    output: Vec<u8>,
    broadcasts: HashMap<i64, Vec<u8>>,
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

    fn read_broadcast(&mut self, id: i64, buf: &mut [u8]) -> std::io::Result<BroadcastRead> {
        let Some(value) = self.broadcasts.get(&id) else {
            return Ok(BroadcastRead::Unknown);
        };
        if value.len() > buf.len() {
            return Ok(BroadcastRead::NeedCapacity(value.len() as u64));
        }
        buf[..value.len()].copy_from_slice(value);
        Ok(BroadcastRead::Copied(value.len()))
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
        functions: vec![function.into()],
        arg: None,
    }
}

fn request(
    input: InputEncoding,
    source: &str,
    steps: Vec<TaskStep>,
    output: TaskOutput,
) -> TaskRequest {
    TaskRequest {
        info: TaskInfo::default(),
        input,
        source: Some((source.into(), Side::Input)),
        steps,
        output,
        args: vec![],
        broadcasts: vec![],
        accumulators: vec![],
        spark_files_dir: None,
        sql: None,
    }
}

fn runtime(policy: Policy) -> Runtime<MemoryIo> {
    Runtime::new(policy).expect("engine starts")
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
    let mut rt = runtime(Policy::default());
    let req = request(
        InputEncoding::PickleBatch,
        "triple_plus_one",
        vec![
            step(StepKind::Map, "triple_plus_one"),
            step(StepKind::Filter, "is_multiple_of_four"),
        ],
        TaskOutput::Pickle,
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
    let mut rt = runtime(Policy::default());
    let req = request(
        InputEncoding::Utf8,
        "split_words",
        vec![
            step(StepKind::FlatMap, "split_words"),
            step(StepKind::Map, "with_one"),
            step(StepKind::ReduceByKey, "add"),
        ],
        TaskOutput::Shuffle {
            partitions: 3,
            partitioner: TaskPartitioner::Hash,
        },
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
        let tag = batch[0];
        let count = u32::from_le_bytes(batch[1..5].try_into().unwrap());
        let mut rest = &batch[5..];
        for _ in 0..count {
            let (word, n) = match tag {
                BATCH_TYPED => {
                    let (pair, tail): ((String, i64), _) = postcard::take_from_bytes(rest).unwrap();
                    rest = tail;
                    pair
                }
                BATCH_VALUES => {
                    let (value, tail): (Value, _) = postcard::take_from_bytes(rest).unwrap();
                    rest = tail;
                    match value {
                        Value::Tuple(items) => match &items[..] {
                            [Value::Str(word), Value::Int(n)] => (word.clone(), *n),
                            other => panic!("not a (str, int) pair: {other:?}"),
                        },
                        other => panic!("not a pair: {other:?}"),
                    }
                }
                other => panic!("unknown batch tag {other}"),
            };
            // Keys partition by the canonical encoding of their Value, typed or not.
            let key = postcard::to_allocvec(&Value::Str(word.clone())).unwrap();
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
    let mut rt = runtime(Policy::default());
    let req = request(
        InputEncoding::PickleBatch,
        "explode",
        vec![step(StepKind::Map, "explode")],
        TaskOutput::Pickle,
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
    let mut rt = runtime(Policy::default());
    let req = request(
        InputEncoding::PickleBatch,
        "small_double",
        vec![step(StepKind::Map, "small_double")],
        TaskOutput::Pickle,
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
    let mut rt = runtime(Policy::default());
    let req = request(
        InputEncoding::Utf8,
        "maybe_len",
        vec![step(StepKind::Map, "maybe_len")],
        TaskOutput::Pickle,
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
    let mut rt = runtime(Policy::default());
    let req = request(
        InputEncoding::Utf8,
        "upper",
        vec![step(StepKind::Map, "upper")],
        TaskOutput::Pickle,
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
    let mut rt = runtime(Policy::default());
    let bytes = module_bytes(TYPED_GUEST);
    let wrong = "0".repeat(64);
    let err = rt.load(&bytes, &wrong).err().expect("refused");
    assert_eq!(err.kind(), ErrorKind::DigestMismatch);
}

#[test]
fn the_memory_cap_is_a_typed_error() {
    // flat_map n -> 0..n materialises a Vec<i64> of n elements: 8 * 40M bytes > 64 MiB.
    let mut rt = runtime(Policy::default().with_memory_bytes(64 << 20));
    let req = request(
        InputEncoding::PickleBatch,
        "range_to",
        vec![step(StepKind::FlatMap, "range_to")],
        TaskOutput::Pickle,
    );
    let (_, result) = run(
        &mut rt,
        TYPED_GUEST,
        &req,
        MemoryIo::new(vec![Some(pickle(&vec![40_000_000i64]))]),
    );
    assert_eq!(result.unwrap_err().kind(), ErrorKind::MemoryLimit);
}

#[test]
fn add_broadcast_offset_reads_its_broadcast_through_the_sdk() {
    let mut rt = runtime(Policy::default());
    let mut req = request(
        InputEncoding::PickleBatch,
        "add_broadcast_offset",
        vec![step(StepKind::Map, "add_broadcast_offset")],
        TaskOutput::Pickle,
    );
    req.broadcasts = vec![Binding {
        name: "offset".into(),
        id: 3,
    }];
    let mut io = MemoryIo::new(ints_batches(&[1, 2, 3], 2));
    io.broadcasts.insert(3, pickle(&100i64));
    let (io, result) = run(&mut rt, TYPED_GUEST, &req, io);
    result.unwrap();
    assert_eq!(
        unpickle_all::<i64>(&io.output_records()),
        vec![101, 102, 103]
    );

    // Without the binding the guest cannot see the value, even though the host has it.
    req.broadcasts.clear();
    let mut io = MemoryIo::new(ints_batches(&[1], 1));
    io.broadcasts.insert(3, pickle(&100i64));
    let (_, result) = run(&mut rt, TYPED_GUEST, &req, io);
    let err = result.unwrap_err();
    assert!(err.message().contains("offset"), "{err}");
}

#[test]
fn count_into_acc_sends_one_checked_update_per_accumulator() {
    let mut rt = runtime(Policy::default());
    let mut req = request(
        InputEncoding::PickleBatch,
        "count_into_acc",
        vec![step(StepKind::Foreach, "count_into_acc")],
        TaskOutput::Pickle,
    );
    req.accumulators = vec![
        Binding {
            name: "seen".into(),
            id: 5,
        },
        Binding {
            name: "total".into(),
            id: 6,
        },
    ];
    let (io, result) = run(
        &mut rt,
        TYPED_GUEST,
        &req,
        MemoryIo::new(ints_batches(&[1, 2, 3, 10], 3)),
    );
    let report = result.unwrap();
    assert!(io.output_records().is_empty(), "foreach writes nothing");
    let mut updates: Vec<(i64, i64)> = report
        .accumulator_updates
        .iter()
        .map(|u| {
            // What the host checks before the update may leave for the driver.
            sparkwasm_protocol::pickle::check_accumulator_update(u, |id| id == 5 || id == 6)
                .unwrap();
            serde_pickle::from_slice(u, DeOptions::new()).unwrap()
        })
        .collect();
    updates.sort();
    assert_eq!(updates, vec![(5, 4), (6, 16)]);
}
