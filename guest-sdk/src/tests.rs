//! Whole-task tests: functions defined with the real macros, task specs encoded as the host
//! encodes them, and `run_task` driven against the native test host.

use std::collections::HashMap;

use sparkwasm_abi::{
    partition_of, InputEncoding, OutputSpec, Side, Step, StepKind, TaskSpec, TypeRef, ABI_VERSION,
    NULL_RECORD, STATUS_ERROR, STATUS_OK,
};

use crate::host::native;
use crate::output::tests::records;
use crate::task;

#[sparkwasm::map]
fn t_triple(x: i64) -> i64 {
    x * 3
}

#[sparkwasm::filter]
fn t_is_even(x: &i64) -> bool {
    x % 2 == 0
}

#[sparkwasm::flat_map]
fn t_split_words(line: String) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

#[sparkwasm::map]
fn t_with_one(word: String) -> (String, i64) {
    (word, 1)
}

#[sparkwasm::reduce]
fn t_add(a: i64, b: i64) -> i64 {
    a + b
}

#[sparkwasm::reduce]
fn t_add_f64(a: f64, b: f64) -> f64 {
    a + b
}

#[sparkwasm::map_partitions]
fn t_running_sum(rows: impl Iterator<Item = i64>) -> impl Iterator<Item = i64> {
    rows.scan(0, |sum, x| {
        *sum += x;
        Some(*sum)
    })
}

#[sparkwasm::flat_map]
fn t_range_to(n: i64) -> impl Iterator<Item = i64> {
    0..n
}

#[sparkwasm::map]
fn t_explode(x: i64) -> i64 {
    if x == 13 {
        panic!("boom at 13");
    }
    x
}

#[sparkwasm::map]
fn t_small_double(x: u8) -> u8 {
    x.saturating_mul(2)
}

#[sparkwasm::map]
fn t_maybe_len(s: Option<String>) -> Option<i64> {
    s.map(|s| s.len() as i64)
}

fn record(payload: Option<&[u8]>) -> Vec<u8> {
    match payload {
        Some(bytes) => {
            let mut record = i32::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
            record.extend_from_slice(bytes);
            record
        }
        None => NULL_RECORD.to_be_bytes().to_vec(),
    }
}

fn pickle<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_pickle::to_vec(value, Default::default()).unwrap()
}

fn binary_batch<T: serde::Serialize>(items: &[T]) -> Vec<u8> {
    let mut batch = u32::try_from(items.len()).unwrap().to_le_bytes().to_vec();
    for item in items {
        batch.extend(postcard::to_allocvec(item).unwrap());
    }
    batch
}

fn decode_binary<T: serde::de::DeserializeOwned>(batch: &[u8]) -> Vec<T> {
    let (count, mut rest) = batch.split_first_chunk::<4>().unwrap();
    let mut items = Vec::new();
    for _ in 0..u32::from_le_bytes(*count) {
        let (item, tail) = postcard::take_from_bytes(rest).unwrap();
        items.push(item);
        rest = tail;
    }
    assert!(rest.is_empty());
    items
}

struct Outcome {
    status: i32,
    records: Vec<Vec<u8>>,
    errors: Vec<String>,
}

impl Outcome {
    fn error(&self) -> &str {
        assert_eq!(self.status, STATUS_ERROR, "task should fail");
        assert_eq!(self.errors.len(), 1, "{:?}", self.errors);
        &self.errors[0]
    }

    fn pickled<T: serde::de::DeserializeOwned>(&self) -> Vec<T> {
        assert_eq!(self.status, STATUS_OK, "{:?}", self.errors);
        self.records
            .iter()
            .flat_map(|r| serde_pickle::from_slice::<Vec<T>>(r, Default::default()).unwrap())
            .collect()
    }
}

fn spec(
    input: InputEncoding,
    source: (u32, Side),
    steps: &[(StepKind, u32)],
    output: OutputSpec,
) -> TaskSpec {
    TaskSpec {
        abi_version: ABI_VERSION,
        partition: 0,
        input,
        source: TypeRef {
            function: source.0,
            side: source.1,
        },
        steps: steps
            .iter()
            .map(|&(kind, function)| Step { kind, function })
            .collect(),
        output,
    }
}

fn run(spec: &TaskSpec, input: Vec<Option<Vec<u8>>>) -> Outcome {
    native::with(|host| {
        *host = Default::default();
        host.input = input.iter().map(|r| record(r.as_deref())).collect();
        // Small batches, so every test crosses batch boundaries.
        host.max_batch = Some(64);
    });
    let status = task::run_task(&postcard::to_allocvec(spec).unwrap());
    let (output, errors) =
        native::with(|host| (host.output.concat(), std::mem::take(&mut host.errors)));
    Outcome {
        status,
        records: records(&output),
        errors,
    }
}

#[test]
fn map_then_filter_over_pickled_batches() {
    let task_spec = spec(
        InputEncoding::PickleBatch,
        (sparkwasm_fn_t_triple(), Side::Input),
        &[
            (StepKind::Map, sparkwasm_fn_t_triple()),
            (StepKind::Filter, sparkwasm_fn_t_is_even()),
        ],
        OutputSpec::Pickle,
    );
    let input = vec![
        Some(pickle(&vec![1i64, 2, 3, 4])),
        Some(pickle(&(5i64..=10).collect::<Vec<_>>())),
    ];
    assert_eq!(
        run(&task_spec, input).pickled::<i64>(),
        vec![6, 12, 18, 24, 30]
    );
}

#[test]
fn flat_map_over_text_lines() {
    let task_spec = spec(
        InputEncoding::Utf8,
        (sparkwasm_fn_t_split_words(), Side::Input),
        &[(StepKind::FlatMap, sparkwasm_fn_t_split_words())],
        OutputSpec::Pickle,
    );
    let input = vec![
        Some(b"to be".to_vec()),
        Some(b"".to_vec()),
        Some(b"or not".to_vec()),
    ];
    assert_eq!(
        run(&task_spec, input).pickled::<String>(),
        vec!["to", "be", "or", "not"]
    );

    let task_spec = spec_range_to();
    let input = vec![Some(pickle(&vec![3i64, 0, 2]))];
    assert_eq!(run(&task_spec, input).pickled::<i64>(), vec![0, 1, 2, 0, 1]);
}

fn spec_range_to() -> TaskSpec {
    spec(
        InputEncoding::PickleBatch,
        (sparkwasm_fn_t_range_to(), Side::Input),
        &[(StepKind::FlatMap, sparkwasm_fn_t_range_to())],
        OutputSpec::Pickle,
    )
}

#[test]
fn map_partitions_sees_the_whole_partition_across_batches() {
    let task_spec = spec(
        InputEncoding::PickleBatch,
        (sparkwasm_fn_t_running_sum(), Side::Input),
        &[(StepKind::MapPartitions, sparkwasm_fn_t_running_sum())],
        OutputSpec::Binary,
    );
    let input = (0..20).map(|i| Some(pickle(&vec![i as i64, 1]))).collect();
    let outcome = run(&task_spec, input);
    assert_eq!(outcome.status, STATUS_OK, "{:?}", outcome.errors);
    let sums: Vec<i64> = outcome
        .records
        .iter()
        .flat_map(|r| decode_binary::<i64>(r))
        .collect();
    let mut expected = Vec::new();
    let mut sum = 0;
    for i in 0..20 {
        sum += i;
        expected.push(sum);
        sum += 1;
        expected.push(sum);
    }
    assert_eq!(sums, expected);
}

#[test]
fn word_count_map_side_combines_and_shuffles() {
    let partitions = 3;
    let task_spec = spec(
        InputEncoding::Utf8,
        (sparkwasm_fn_t_split_words(), Side::Input),
        &[
            (StepKind::FlatMap, sparkwasm_fn_t_split_words()),
            (StepKind::Map, sparkwasm_fn_t_with_one()),
            (StepKind::ReduceByKey, sparkwasm_fn_t_add()),
        ],
        OutputSpec::Shuffle { partitions },
    );
    let lines = ["a b a", "c a b", "d", "a"];
    let input = lines.iter().map(|l| Some(l.as_bytes().to_vec())).collect();
    let outcome = run(&task_spec, input);
    assert_eq!(outcome.status, STATUS_OK, "{:?}", outcome.errors);
    assert_eq!(
        outcome.records.len() % 2,
        0,
        "records come in (partition, batch) pairs"
    );
    let mut counts = HashMap::new();
    for pair in outcome.records.chunks(2) {
        let partition = u64::from_be_bytes(pair[0].as_slice().try_into().unwrap());
        for (word, count) in decode_binary::<(String, i64)>(&pair[1]) {
            let key = postcard::to_allocvec(&word).unwrap();
            assert_eq!(
                u64::from(partition_of(&key, partitions)),
                partition,
                "{word}"
            );
            assert!(
                counts.insert(word, count).is_none(),
                "each key once: combined"
            );
        }
    }
    let expected: HashMap<String, i64> = [("a", 4), ("b", 2), ("c", 1), ("d", 1)]
        .map(|(w, n)| (w.to_owned(), n))
        .into();
    assert_eq!(counts, expected);
}

#[test]
fn reduce_side_merges_binary_pairs_in_first_seen_order() {
    let task_spec = spec(
        InputEncoding::Binary,
        (sparkwasm_fn_t_with_one(), Side::Output),
        &[(StepKind::ReduceByKey, sparkwasm_fn_t_add())],
        OutputSpec::Pickle,
    );
    let input = vec![
        Some(binary_batch(&[("y".to_owned(), 2i64), ("x".to_owned(), 1)])),
        Some(binary_batch(&[("x".to_owned(), 5i64)])),
        Some(binary_batch::<(String, i64)>(&[])),
    ];
    let merged = run(&task_spec, input).pickled::<(String, i64)>();
    assert_eq!(merged, vec![("y".to_owned(), 2), ("x".to_owned(), 6)]);
}

#[test]
fn adjacent_type_mismatch_names_both_functions_and_types() {
    let task_spec = spec(
        InputEncoding::Utf8,
        (sparkwasm_fn_t_split_words(), Side::Input),
        &[
            (StepKind::FlatMap, sparkwasm_fn_t_split_words()),
            (StepKind::Map, sparkwasm_fn_t_triple()),
        ],
        OutputSpec::Pickle,
    );
    let outcome = run(&task_spec, vec![Some(b"never read".to_vec())]);
    assert_eq!(
        outcome.error(),
        "step 1 (`t_triple`, map) takes i64, but step 0 (`t_split_words`, flat_map) produces \
         String"
    );
    // Checked before any input was read.
    assert_eq!(native::with(|host| host.input.len()), 1);

    let task_spec = spec_with(
        InputEncoding::Utf8,
        sparkwasm_fn_t_split_words(),
        StepKind::Map,
        sparkwasm_fn_t_triple(),
    );
    let message = run(&task_spec, vec![]).error().to_owned();
    assert!(message.contains("takes i64, but the task input (read as the input type of `t_split_words`) produces String"), "{message}");
}

fn spec_with(input: InputEncoding, source: u32, kind: StepKind, function: u32) -> TaskSpec {
    spec(
        input,
        (source, Side::Input),
        &[(kind, function)],
        OutputSpec::Pickle,
    )
}

#[test]
fn reduce_needs_pairs_with_matching_values() {
    let task_spec = spec_with(
        InputEncoding::PickleBatch,
        sparkwasm_fn_t_triple(),
        StepKind::ReduceByKey,
        sparkwasm_fn_t_add(),
    );
    let message = run(&task_spec, vec![]).error().to_owned();
    assert!(message.contains("needs (key, value) pairs"), "{message}");
    assert!(message.contains("produces i64"), "{message}");

    let task_spec = spec(
        InputEncoding::Binary,
        (sparkwasm_fn_t_with_one(), Side::Output),
        &[(StepKind::ReduceByKey, sparkwasm_fn_t_add_f64())],
        OutputSpec::Pickle,
    );
    let message = run(&task_spec, vec![]).error().to_owned();
    assert!(message.contains("merges values of type f64"), "{message}");
    assert!(message.contains("(String,i64)"), "{message}");

    let task_spec = spec(
        InputEncoding::PickleBatch,
        (sparkwasm_fn_t_triple(), Side::Input),
        &[],
        OutputSpec::Shuffle { partitions: 2 },
    );
    assert!(run(&task_spec, vec![])
        .error()
        .contains("shuffle output needs (key, value) pairs"));
}

#[test]
fn wrong_kind_unknown_handle_and_version_are_refused() {
    let task_spec = spec_with(
        InputEncoding::PickleBatch,
        sparkwasm_fn_t_add(),
        StepKind::Map,
        sparkwasm_fn_t_add(),
    );
    assert_eq!(
        run(&task_spec, vec![]).error(),
        "step 0 applies `t_add` as a map function, but it is a reduce function"
    );

    let task_spec = spec_with(
        InputEncoding::PickleBatch,
        sparkwasm_fn_t_triple(),
        StepKind::Map,
        999_999,
    );
    assert_eq!(
        run(&task_spec, vec![]).error(),
        "step 0: no function of this module has handle 999999"
    );

    let mut task_spec = spec_range_to();
    task_spec.abi_version = ABI_VERSION + 1;
    assert!(run(&task_spec, vec![]).error().contains("ABI version 2"));

    native::with(|host| *host = Default::default());
    assert_eq!(task::run_task(&[0xff, 0xff]), STATUS_ERROR);
    let errors = native::with(|host| std::mem::take(&mut host.errors));
    assert!(errors[0].starts_with("malformed task spec"), "{errors:?}");
}

#[test]
fn a_panic_reports_function_location_and_message() {
    let task_spec = spec_with(
        InputEncoding::PickleBatch,
        sparkwasm_fn_t_explode(),
        StepKind::Map,
        sparkwasm_fn_t_explode(),
    );
    let outcome = run(
        &task_spec,
        vec![Some(pickle(&(0i64..20).collect::<Vec<_>>()))],
    );
    let message = outcome.error();
    let line = message
        .strip_prefix("function `t_explode` panicked at guest-sdk/src/tests.rs:")
        .and_then(|rest| rest.strip_suffix(": boom at 13"))
        .unwrap_or_else(|| panic!("unexpected message: {message}"));
    assert!(line.parse::<u32>().is_ok(), "{message}");
    // Nothing after the panicking record was written.
    assert!(outcome.records.is_empty());
}

#[test]
fn a_panic_upstream_of_map_partitions_names_the_upstream_function() {
    let task_spec = spec(
        InputEncoding::PickleBatch,
        (sparkwasm_fn_t_explode(), Side::Input),
        &[
            (StepKind::Map, sparkwasm_fn_t_explode()),
            (StepKind::MapPartitions, sparkwasm_fn_t_running_sum()),
        ],
        OutputSpec::Pickle,
    );
    let outcome = run(&task_spec, vec![Some(pickle(&vec![13i64]))]);
    assert!(
        outcome.error().starts_with("function `t_explode` panicked"),
        "{}",
        outcome.error()
    );
}

#[test]
fn decode_errors_name_record_and_element() {
    let task_spec = spec_with(
        InputEncoding::PickleBatch,
        sparkwasm_fn_t_small_double(),
        StepKind::Map,
        sparkwasm_fn_t_small_double(),
    );
    let input = vec![Some(pickle(&vec![1i64, 2])), Some(pickle(&vec![3i64, 300]))];
    assert_eq!(
        run(&task_spec, input).error(),
        "input record 1, element 1: invalid value: integer `300`, expected u8"
    );

    let input = vec![Some(pickle(&vec![1i64, 2, 127]))];
    assert_eq!(run(&task_spec, input).pickled::<u8>(), vec![2, 4, 254]);
}

#[test]
fn text_nulls_become_none() {
    let task_spec = spec_with(
        InputEncoding::Utf8,
        sparkwasm_fn_t_maybe_len(),
        StepKind::Map,
        sparkwasm_fn_t_maybe_len(),
    );
    let input = vec![Some(b"four".to_vec()), None];
    assert_eq!(
        run(&task_spec, input).pickled::<Option<i64>>(),
        vec![Some(4), None]
    );
}

#[test]
fn a_refused_output_batch_fails_the_task() {
    let task_spec = spec_range_to();
    native::with(|host| {
        *host = Default::default();
        host.input.push_back(record(Some(&pickle(&vec![5i64]))));
        host.refuse_output = Some(7);
    });
    assert_eq!(
        task::run_task(&postcard::to_allocvec(&task_spec).unwrap()),
        STATUS_ERROR
    );
    let errors = native::with(|host| std::mem::take(&mut host.errors));
    assert_eq!(
        errors,
        vec!["the host refused an output batch (output_write returned 7)"]
    );
}

#[test]
fn the_alloc_and_run_exports_hand_over_the_spec_buffer() {
    use crate::ffi::{sparkwasm_abi_version, sparkwasm_alloc, sparkwasm_run_task};
    assert_eq!(sparkwasm_abi_version(), ABI_VERSION);
    let spec = postcard::to_allocvec(&spec_range_to()).unwrap();
    let len = u32::try_from(spec.len()).unwrap();
    let address = sparkwasm_alloc(len + 10);
    assert_ne!(address, 0);
    task::write_allocation_for_test(address, &spec);
    native::with(|host| {
        *host = Default::default();
        host.input.push_back(record(Some(&pickle(&vec![2i64]))));
    });
    assert_eq!(sparkwasm_run_task(address, len), STATUS_OK);
    // The buffer was taken back: a second run with it is refused.
    assert_eq!(sparkwasm_run_task(address, len), STATUS_ERROR);
    let errors = native::with(|host| std::mem::take(&mut host.errors));
    assert!(
        errors[0].contains("no buffer from sparkwasm_alloc"),
        "{errors:?}"
    );

    let address = sparkwasm_alloc(4);
    assert_eq!(sparkwasm_run_task(address, 5), STATUS_ERROR);
}
