//! Whole-task tests: functions defined with the real macros, task specs encoded as the host
//! encodes them, and `run_task` driven against the native test host.
//!
//! `mod.rs` holds the harness and the basic pipeline tests; the other files cover keyed
//! steps, whole-partition steps, outputs, and the task context APIs.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sparkwasm_abi::{
    Binding, InputEncoding, OutputSpec, Partitioner, Side, Source, Step, StepKind, TaskInfo,
    TaskSpec, TypeRef, ABI_VERSION, BATCH_VALUES, NULL_RECORD, STATUS_ERROR, STATUS_OK,
};

use crate::host::native;
use crate::task;
use crate::value::pickle::{from_pickle, Pickled};
use crate::value::{canonical_append, Value};

mod context;
mod keyed;
mod keyed_fns;
mod outputs;
mod whole;

// ---- functions used across the tests ----

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

#[sparkwasm::map_partitions]
fn t_first_two(rows: impl Iterator<Item = i64>) -> impl Iterator<Item = i64> {
    rows.take(2)
}

#[sparkwasm::map]
fn t_small_double(x: u8) -> u8 {
    x.saturating_mul(2)
}

#[sparkwasm::map]
fn t_maybe_len(s: Option<String>) -> Option<i64> {
    s.map(|s| s.len() as i64)
}

#[sparkwasm::map_partitions_with_index]
fn t_index_tag(index: u32, rows: impl Iterator<Item = i64>) -> impl Iterator<Item = (u32, i64)> {
    rows.map(move |x| (index, x))
}

#[sparkwasm::map]
fn t_half(x: f64) -> f64 {
    x / 2.0
}

#[sparkwasm::map]
fn t_lines_pair(pair: (String, String)) -> (String, i64) {
    let lines = pair.1.lines().count() as i64;
    (pair.0, lines)
}

// ---- harness ----

/// A record with its length header, as the host queues it.
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

/// Splits a batch into its records' payloads.
fn records(batch: &[u8]) -> Vec<Vec<u8>> {
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

fn pickle<T: Serialize>(value: &T) -> Vec<u8> {
    serde_pickle::to_vec(value, Default::default()).unwrap()
}

/// A pickled PySpark batch of values (tuples stay tuples).
fn pickle_values(values: Vec<Value>) -> Vec<u8> {
    serde_pickle::to_vec(&Pickled(&Value::List(values)), Default::default()).unwrap()
}

/// A `BATCH_VALUES` binary batch of values.
fn values_batch(values: &[Value]) -> Vec<u8> {
    let mut batch = vec![BATCH_VALUES];
    batch.extend(u32::try_from(values.len()).unwrap().to_le_bytes());
    for value in values {
        canonical_append(value, &mut batch).unwrap();
    }
    batch
}

/// Decodes a binary batch of values.
fn decode_values_batch(batch: &[u8]) -> Vec<Value> {
    assert_eq!(
        batch[0], BATCH_VALUES,
        "binary output is always a values batch"
    );
    let count = u32::from_le_bytes(batch[1..5].try_into().unwrap());
    let mut rest = &batch[5..];
    let mut items = Vec::new();
    for _ in 0..count {
        let (item, tail) = postcard::take_from_bytes::<Value>(rest).unwrap();
        items.push(item);
        rest = tail;
    }
    assert!(rest.is_empty());
    items
}

// Short value constructors.
fn int(i: i64) -> Value {
    Value::Int(i)
}
fn float(f: f64) -> Value {
    Value::Float(f)
}
fn s(text: &str) -> Value {
    Value::Str(text.to_owned())
}
fn tuple(items: Vec<Value>) -> Value {
    Value::Tuple(items)
}
fn list(items: Vec<Value>) -> Value {
    Value::List(items)
}
fn kv(key: Value, value: Value) -> Value {
    Value::Tuple(vec![key, value])
}

/// Builds a task spec.
struct Task {
    spec: TaskSpec,
}

impl Task {
    fn new(input: InputEncoding, source: Source) -> Self {
        Task {
            spec: TaskSpec {
                abi_version: ABI_VERSION,
                info: TaskInfo::default(),
                input,
                source,
                steps: Vec::new(),
                output: OutputSpec::Pickle,
                args: Vec::new(),
                broadcasts: Vec::new(),
                accumulators: Vec::new(),
                sql: None,
            },
        }
    }

    /// Input typed as `function`'s input type.
    fn typed(input: InputEncoding, function: u32) -> Self {
        Task::new(
            input,
            Source::Typed(TypeRef {
                function,
                side: Side::Input,
            }),
        )
    }

    /// Input typed as `function`'s output type.
    fn typed_output(input: InputEncoding, function: u32) -> Self {
        Task::new(
            input,
            Source::Typed(TypeRef {
                function,
                side: Side::Output,
            }),
        )
    }

    fn dynamic(input: InputEncoding) -> Self {
        Task::new(input, Source::Dynamic)
    }

    fn step(mut self, kind: StepKind, functions: &[u32], arg: Option<u64>) -> Self {
        self.spec.steps.push(Step {
            kind,
            functions: functions.to_vec(),
            arg,
        });
        self
    }

    /// A step whose argument is a pickled value added to `args`.
    fn step_with_zero<T: Serialize>(mut self, kind: StepKind, functions: &[u32], zero: &T) -> Self {
        let index = self.add_arg(pickle(zero));
        self.step(kind, functions, Some(index))
    }

    fn add_arg(&mut self, bytes: Vec<u8>) -> u64 {
        self.spec.args.push(bytes);
        u64::try_from(self.spec.args.len() - 1).unwrap()
    }

    fn output(mut self, output: OutputSpec) -> Self {
        self.spec.output = output;
        self
    }

    fn info(mut self, info: TaskInfo) -> Self {
        self.spec.info = info;
        self
    }

    fn broadcast(mut self, name: &str, id: i64) -> Self {
        self.spec.broadcasts.push(Binding {
            name: name.into(),
            id,
        });
        self
    }

    fn accumulator(mut self, name: &str, id: i64) -> Self {
        self.spec.accumulators.push(Binding {
            name: name.into(),
            id,
        });
        self
    }

    fn run(&self, input: Vec<Option<Vec<u8>>>) -> Outcome {
        self.run_with(input, |_| {})
    }

    /// Runs against a fresh test host prepared by `prepare`.
    fn run_with(
        &self,
        input: Vec<Option<Vec<u8>>>,
        prepare: impl FnOnce(&mut native::TestHost),
    ) -> Outcome {
        native::with(|host| {
            *host = Default::default();
            host.input = input.iter().map(|r| record(r.as_deref())).collect();
            // Small batches, so every test crosses batch boundaries.
            host.max_batch = Some(64);
            prepare(host);
        });
        let status = task::run_task(&postcard::to_allocvec(&self.spec).unwrap());
        native::with(|host| Outcome {
            status,
            records: records(&host.output.concat()),
            errors: std::mem::take(&mut host.errors),
            accumulator_updates: std::mem::take(&mut host.accumulator_updates),
            unread_input: host.input.len(),
            broadcast_reads: std::mem::take(&mut host.broadcast_reads),
        })
    }
}

struct Outcome {
    status: i32,
    records: Vec<Vec<u8>>,
    errors: Vec<String>,
    accumulator_updates: Vec<Vec<u8>>,
    unread_input: usize,
    broadcast_reads: HashMap<i64, usize>,
}

impl Outcome {
    fn ok(&self) -> &Self {
        assert_eq!(self.status, STATUS_OK, "{:?}", self.errors);
        assert!(self.errors.is_empty(), "{:?}", self.errors);
        self
    }

    fn error(&self) -> &str {
        assert_eq!(self.status, STATUS_ERROR, "task should fail");
        assert_eq!(self.errors.len(), 1, "{:?}", self.errors);
        &self.errors[0]
    }

    /// The elements of pickled output, decoded into `T`.
    fn pickled<T: DeserializeOwned>(&self) -> Vec<T> {
        self.ok();
        self.records
            .iter()
            .flat_map(|r| serde_pickle::from_slice::<Vec<T>>(r, Default::default()).unwrap())
            .collect()
    }

    /// The elements of pickled output as values (tuples stay tuples).
    fn values(&self) -> Vec<Value> {
        self.ok();
        self.records
            .iter()
            .flat_map(|r| match from_pickle(r).unwrap() {
                Value::List(items) => items,
                other => panic!("a pickle record that is not a list: {other:?}"),
            })
            .collect()
    }

    /// The elements of binary output.
    fn binary(&self) -> Vec<Value> {
        self.ok();
        self.records
            .iter()
            .flat_map(|r| decode_values_batch(r))
            .collect()
    }
}

// ---- basic pipelines ----

#[test]
fn map_then_filter_over_pickled_batches() {
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_triple())
        .step(StepKind::Map, &[sparkwasm_fn_t_triple()], None)
        .step(StepKind::Filter, &[sparkwasm_fn_t_is_even()], None);
    let input = vec![
        Some(pickle(&vec![1i64, 2, 3, 4])),
        Some(pickle(&(5i64..=10).collect::<Vec<_>>())),
    ];
    assert_eq!(task.run(input).pickled::<i64>(), vec![6, 12, 18, 24, 30]);
}

#[test]
fn flat_map_over_text_lines() {
    let task = Task::typed(InputEncoding::Utf8, sparkwasm_fn_t_split_words()).step(
        StepKind::FlatMap,
        &[sparkwasm_fn_t_split_words()],
        None,
    );
    let input = vec![
        Some(b"to be".to_vec()),
        Some(b"".to_vec()),
        Some(b"or not".to_vec()),
    ];
    assert_eq!(
        task.run(input).pickled::<String>(),
        vec!["to", "be", "or", "not"]
    );

    let task = range_to_task();
    let input = vec![Some(pickle(&vec![3i64, 0, 2]))];
    assert_eq!(task.run(input).pickled::<i64>(), vec![0, 1, 2, 0, 1]);
}

fn range_to_task() -> Task {
    Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_range_to()).step(
        StepKind::FlatMap,
        &[sparkwasm_fn_t_range_to()],
        None,
    )
}

#[test]
fn map_partitions_sees_the_whole_partition_across_batches() {
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_running_sum())
        .step(
            StepKind::MapPartitions,
            &[sparkwasm_fn_t_running_sum()],
            None,
        )
        .output(OutputSpec::Binary);
    let input = (0..20).map(|i| Some(pickle(&vec![i as i64, 1]))).collect();
    let sums = task.run(input).binary();
    let mut expected = Vec::new();
    let mut sum = 0;
    for i in 0..20 {
        sum += i;
        expected.push(int(sum));
        sum += 1;
        expected.push(int(sum));
    }
    assert_eq!(sums, expected);
}

#[test]
fn map_partitions_with_index_gets_the_partition_id() {
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_index_tag())
        .step(
            StepKind::MapPartitionsWithIndex,
            &[sparkwasm_fn_t_index_tag()],
            None,
        )
        .info(TaskInfo {
            partition_id: 7,
            ..TaskInfo::default()
        });
    let input = vec![Some(pickle(&vec![1i64, 2]))];
    assert_eq!(
        task.run(input).pickled::<(u32, i64)>(),
        vec![(7, 1), (7, 2)]
    );

    let negative = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_index_tag())
        .step(
            StepKind::MapPartitionsWithIndex,
            &[sparkwasm_fn_t_index_tag()],
            None,
        )
        .info(TaskInfo {
            partition_id: -1,
            ..TaskInfo::default()
        });
    assert!(negative
        .run(vec![])
        .error()
        .contains("partition id -1 is negative"));
}

/// The word count map side, the fast path: typed from the text input to the shuffle.
#[test]
fn word_count_map_side_combines_and_shuffles() {
    let partitions = 3;
    let task = Task::typed(InputEncoding::Utf8, sparkwasm_fn_t_split_words())
        .step(StepKind::FlatMap, &[sparkwasm_fn_t_split_words()], None)
        .step(StepKind::Map, &[sparkwasm_fn_t_with_one()], None)
        .step(StepKind::ReduceByKey, &[sparkwasm_fn_t_add()], None)
        .output(OutputSpec::Shuffle {
            partitions,
            partitioner: Partitioner::Hash,
        });
    let lines = ["a b a", "c a b", "d", "a"];
    let input = lines.iter().map(|l| Some(l.as_bytes().to_vec())).collect();
    let outcome = task.run(input);
    outcome.ok();
    let mut counts = HashMap::new();
    for (partition, pairs) in outputs::shuffle_output(&outcome) {
        for pair in pairs {
            let Value::Tuple(items) = &pair else {
                panic!("{pair:?}")
            };
            let mut key = Vec::new();
            canonical_append(&items[0], &mut key).unwrap();
            assert_eq!(
                u64::from(sparkwasm_abi::partition_of(&key, partitions)),
                partition
            );
            let (Value::Str(word), Value::Int(count)) = (&items[0], &items[1]) else {
                panic!("{pair:?}")
            };
            assert!(
                counts.insert(word.clone(), *count).is_none(),
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
fn the_word_count_pipeline_never_builds_a_value() {
    let conversions = |task: &Task| crate::plan::build(&task.spec).unwrap().conversions;
    let map_side = Task::typed(InputEncoding::Utf8, sparkwasm_fn_t_split_words())
        .step(StepKind::FlatMap, &[sparkwasm_fn_t_split_words()], None)
        .step(StepKind::Map, &[sparkwasm_fn_t_with_one()], None)
        .step(StepKind::ReduceByKey, &[sparkwasm_fn_t_add()], None)
        .output(OutputSpec::Shuffle {
            partitions: 4,
            partitioner: Partitioner::Hash,
        });
    assert_eq!(conversions(&map_side), 0);
    let reduce_side = Task::typed_output(InputEncoding::Binary, sparkwasm_fn_t_with_one())
        .step(StepKind::ReduceByKey, &[sparkwasm_fn_t_add()], None)
        .step(StepKind::SortByKey, &[], Some(1));
    assert_eq!(conversions(&reduce_side), 0);
    // Whereas a group_by_key needs values, and a typed map after it decodes them.
    let grouped = Task::typed_output(InputEncoding::Binary, sparkwasm_fn_t_with_one())
        .step(StepKind::GroupByKey, &[], None)
        .step(StepKind::Map, &[sparkwasm_fn_t_triple()], None);
    assert_eq!(conversions(&grouped), 2);
}

#[test]
fn reduce_side_merges_binary_pairs_typed_in_first_seen_order() {
    let task = Task::typed_output(InputEncoding::Binary, sparkwasm_fn_t_with_one()).step(
        StepKind::ReduceByKey,
        &[sparkwasm_fn_t_add()],
        None,
    );
    let input = vec![
        Some(values_batch(&[kv(s("y"), int(2)), kv(s("x"), int(1))])),
        Some(values_batch(&[kv(s("x"), int(5))])),
        Some(values_batch(&[])),
    ];
    let merged = task.run(input).pickled::<(String, i64)>();
    assert_eq!(merged, vec![("y".to_owned(), 2), ("x".to_owned(), 6)]);
}

#[test]
fn mismatched_typed_steps_meet_through_values() {
    // i64 output read as f64 input: converted like Python would.
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_triple())
        .step(StepKind::Map, &[sparkwasm_fn_t_triple()], None)
        .step(StepKind::Map, &[sparkwasm_fn_t_half()], None);
    let input = vec![Some(pickle(&vec![1i64, 2]))];
    assert_eq!(task.run(input).pickled::<f64>(), vec![1.5, 3.0]);

    // String read as i64: an error naming the step, the element and both types.
    let task = Task::typed(InputEncoding::Utf8, sparkwasm_fn_t_split_words())
        .step(StepKind::FlatMap, &[sparkwasm_fn_t_split_words()], None)
        .step(StepKind::Map, &[sparkwasm_fn_t_triple()], None);
    let outcome = task.run(vec![Some(b"never read".to_vec())]);
    assert_eq!(
        outcome.error(),
        "step 1 (map with `t_triple`) reading its String input as i64, element 0: invalid \
         type: string \"never\", expected i64"
    );
}

#[test]
fn dynamic_input_feeds_typed_functions() {
    let task = Task::dynamic(InputEncoding::PickleBatch).step(
        StepKind::Map,
        &[sparkwasm_fn_t_triple()],
        None,
    );
    let input = vec![Some(pickle(&vec![1i64, 2]))];
    assert_eq!(task.run(input).pickled::<i64>(), vec![3, 6]);
}

#[test]
fn reduce_needs_pairs() {
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_triple()).step(
        StepKind::ReduceByKey,
        &[sparkwasm_fn_t_add()],
        None,
    );
    let message = task.run(vec![Some(pickle(&vec![1i64]))]).error().to_owned();
    assert_eq!(
        message,
        "step 0 (reduce_by_key with `t_add`), element 0: expected a (key, value) pair, got an \
         int 1"
    );

    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_triple()).output(
        OutputSpec::Shuffle {
            partitions: 2,
            partitioner: Partitioner::Hash,
        },
    );
    let message = task.run(vec![Some(pickle(&vec![1i64]))]).error().to_owned();
    assert!(message.starts_with("the shuffle output, element 0: expected a (key, value) pair"));
}

#[test]
fn wrong_kind_unknown_handle_bad_arity_and_version_are_refused() {
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_add()).step(
        StepKind::Map,
        &[sparkwasm_fn_t_add()],
        None,
    );
    assert_eq!(
        task.run(vec![]).error(),
        "step 0 (map) applies `t_add` as a map function, but it is a reduce function"
    );

    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_triple()).step(
        StepKind::Map,
        &[999_999],
        None,
    );
    assert_eq!(
        task.run(vec![]).error(),
        "step 0: no function of this module has handle 999999"
    );

    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_triple()).step(
        StepKind::GroupByKey,
        &[sparkwasm_fn_t_triple()],
        None,
    );
    assert_eq!(
        task.run(vec![]).error(),
        "step 0 (group_by_key) takes 0 function(s), but names 1"
    );

    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_triple()).step(
        StepKind::FoldByKey,
        &[sparkwasm_fn_t_add()],
        Some(3),
    );
    assert_eq!(
        task.run(vec![]).error(),
        "step 0 (fold_by_key) names argument 3, but the task has 0 arguments"
    );

    let mut task = range_to_task();
    task.spec.abi_version = 1;
    let message = task.run(vec![]).error().to_owned();
    assert_eq!(
        message,
        format!(
            "the host sent a task for sparkwasm ABI version 1, but this module was built for \
             version {ABI_VERSION}"
        )
    );

    native::with(|host| *host = Default::default());
    assert_eq!(task::run_task(&[ABI_VERSION as u8, 0xff]), STATUS_ERROR);
    let errors = native::with(|host| std::mem::take(&mut host.errors));
    assert!(errors[0].starts_with("malformed task spec"), "{errors:?}");
}

#[test]
fn a_panic_reports_function_location_and_message() {
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_explode()).step(
        StepKind::Map,
        &[sparkwasm_fn_t_explode()],
        None,
    );
    let outcome = task.run(vec![Some(pickle(&(0i64..20).collect::<Vec<_>>()))]);
    let message = outcome.error();
    let line = message
        .strip_prefix("function `t_explode` panicked at guest-sdk/src/tests/mod.rs:")
        .and_then(|rest| rest.strip_suffix(": boom at 13"))
        .unwrap_or_else(|| panic!("unexpected message: {message}"));
    assert!(line.parse::<u32>().is_ok(), "{message}");
    // Nothing after the panicking record was written.
    assert!(outcome.records.is_empty());
}

#[test]
fn a_panic_upstream_of_map_partitions_names_the_upstream_function() {
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_explode())
        .step(StepKind::Map, &[sparkwasm_fn_t_explode()], None)
        .step(
            StepKind::MapPartitions,
            &[sparkwasm_fn_t_running_sum()],
            None,
        );
    let outcome = task.run(vec![Some(pickle(&vec![13i64]))]);
    assert!(
        outcome.error().starts_with("function `t_explode` panicked"),
        "{}",
        outcome.error()
    );
}

#[test]
fn take_runs_functions_only_on_the_elements_it_reaches() {
    // One pickled batch of 20 with the exploding element at index 13: `take(5)` reads
    // element by element, so `t_explode` never sees 13 (as in PySpark).
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_explode())
        .step(StepKind::Map, &[sparkwasm_fn_t_explode()], None)
        .output(OutputSpec::Take { n: 5 });
    let outcome = task.run(vec![Some(pickle(&(0i64..20).collect::<Vec<_>>()))]);
    assert_eq!(outcome.pickled::<i64>(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn a_map_partitions_that_stops_early_sees_no_batched_upstream() {
    // `t_first_two` reads two elements; the `map` before it must not run on the rest.
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_explode())
        .step(StepKind::Map, &[sparkwasm_fn_t_explode()], None)
        .step(StepKind::MapPartitions, &[sparkwasm_fn_t_first_two()], None);
    let outcome = task.run(vec![Some(pickle(&(0i64..20).collect::<Vec<_>>()))]);
    assert_eq!(outcome.pickled::<i64>(), vec![0, 1]);
}

#[test]
fn batched_and_element_wise_plans_agree() {
    // The same map → filter → flat_map over several records, once batched (count and
    // pickle outputs) and once element by element (take of everything).
    let build = || {
        Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_triple())
            .step(StepKind::Map, &[sparkwasm_fn_t_triple()], None)
            .step(StepKind::Filter, &[sparkwasm_fn_t_is_even()], None)
            .step(StepKind::FlatMap, &[sparkwasm_fn_t_range_to()], None)
    };
    let input: Vec<_> = (0..5i64)
        .map(|r| Some(pickle(&((r * 7)..(r * 7 + 7)).collect::<Vec<_>>())))
        .collect();
    let expected: Vec<i64> = (0..35i64)
        .map(|x| x * 3)
        .filter(|x| x % 2 == 0)
        .flat_map(|n| 0..n)
        .collect();
    assert_eq!(build().run(input.clone()).pickled::<i64>(), expected);
    let taken = build()
        .output(OutputSpec::Take { n: u64::MAX })
        .run(input.clone());
    assert_eq!(taken.pickled::<i64>(), expected);
    let counted = build().output(OutputSpec::Count).run(input);
    assert_eq!(counted.pickled::<u64>(), vec![expected.len() as u64]);
}

#[test]
fn a_batched_flat_map_cuts_long_item_runs_into_bounded_batches() {
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_range_to()).step(
        StepKind::FlatMap,
        &[sparkwasm_fn_t_range_to()],
        None,
    );
    let input = vec![Some(pickle(&vec![5000i64, 3])), Some(pickle(&vec![2i64]))];
    let expected: Vec<i64> = (0..5000).chain(0..3).chain(0..2).collect();
    assert_eq!(task.run(input.clone()).pickled::<i64>(), expected);
    let counted = task.output(OutputSpec::Count).run(input);
    assert_eq!(counted.pickled::<u64>(), vec![5005]);
}

#[test]
fn decode_errors_name_record_and_element() {
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_small_double()).step(
        StepKind::Map,
        &[sparkwasm_fn_t_small_double()],
        None,
    );
    let input = vec![Some(pickle(&vec![1i64, 2])), Some(pickle(&vec![3i64, 300]))];
    assert_eq!(
        task.run(input).error(),
        "input record 1, element 1: invalid value: integer `300`, expected u8"
    );
    let input = vec![Some(pickle(&vec![1i64, 2, 127]))];
    assert_eq!(task.run(input).pickled::<u8>(), vec![2, 4, 254]);
}

#[test]
fn text_nulls_become_none() {
    let task = Task::typed(InputEncoding::Utf8, sparkwasm_fn_t_maybe_len()).step(
        StepKind::Map,
        &[sparkwasm_fn_t_maybe_len()],
        None,
    );
    let input = vec![Some(b"four".to_vec()), None];
    assert_eq!(
        task.run(input).pickled::<Option<i64>>(),
        vec![Some(4), None]
    );

    let task = Task::dynamic(InputEncoding::Utf8);
    let input = vec![Some(b"four".to_vec()), None];
    assert_eq!(task.run(input).values(), vec![s("four"), Value::None]);
}

#[test]
fn utf8_pairs_make_typed_and_dynamic_pairs() {
    let input = || {
        vec![
            Some(b"a.txt".to_vec()),
            Some(b"one\ntwo\n".to_vec()),
            Some(b"b.txt".to_vec()),
            Some(b"".to_vec()),
        ]
    };
    let task = Task::typed(InputEncoding::Utf8Pairs, sparkwasm_fn_t_lines_pair()).step(
        StepKind::Map,
        &[sparkwasm_fn_t_lines_pair()],
        None,
    );
    assert_eq!(
        task.run(input()).pickled::<(String, i64)>(),
        vec![("a.txt".to_owned(), 2), ("b.txt".to_owned(), 0)]
    );

    let task = Task::dynamic(InputEncoding::Utf8Pairs);
    assert_eq!(
        task.run(input()).values(),
        vec![
            tuple(vec![s("a.txt"), s("one\ntwo\n")]),
            tuple(vec![s("b.txt"), s("")])
        ]
    );
    let mut odd = input();
    odd.pop();
    assert_eq!(
        task.run(odd).error(),
        "input record 2: UTF-8 pair input ends with an unpaired record"
    );
}

/// CPython: `pickle.dumps([(1, [2, 3]), {'k': None}, {1, 2}, 2**64 - 1, b'\x00'], protocol=4)`.
const PROTO4_MIXED: &[u8] = b"\x80\x04\x950\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01]\x94(K\x02K\x03e\x86\x94}\x94\x8c\x01k\x94Ns\x8f\x94(K\x01K\x02\x90\x8a\t\xff\xff\xff\xff\xff\xff\xff\xff\x00C\x01\x00\x94e.";
/// The same list with protocol 2 (sets and bytes through `__reduce__` globals).
const PROTO2_MIXED: &[u8] = b"\x80\x02]q\x00(K\x01]q\x01(K\x02K\x03e\x86q\x02}q\x03X\x01\x00\x00\x00kq\x04Nsc__builtin__\nset\nq\x05]q\x06(K\x01K\x02e\x85q\x07Rq\x08\x8a\t\xff\xff\xff\xff\xff\xff\xff\xff\x00c_codecs\nencode\nq\tX\x01\x00\x00\x00\x00q\nX\x06\x00\x00\x00latin1q\x0b\x86q\x0cRq\re.";

#[test]
fn dynamic_pickle_input_keeps_tuples_lists_sets_and_big_ints() {
    let expected = vec![
        tuple(vec![int(1), list(vec![int(2), int(3)])]),
        Value::Dict(vec![(s("k"), Value::None)]),
        list(vec![int(1), int(2)]),
        Value::BigUint(u64::MAX),
        Value::Bytes(vec![0]),
    ];
    let task = Task::dynamic(InputEncoding::PickleBatch).output(OutputSpec::Binary);
    for input in [PROTO4_MIXED, PROTO2_MIXED] {
        assert_eq!(task.run(vec![Some(input.to_vec())]).binary(), expected);
    }
    // And back to Python: the pickle output of those values reads back the same.
    let task = Task::dynamic(InputEncoding::PickleBatch);
    assert_eq!(
        task.run(vec![Some(PROTO4_MIXED.to_vec())]).values(),
        expected
    );

    // 2**64 does not fit.
    let too_big = b"\x80\x02]q\x00\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00\x01a.".to_vec();
    let message = task.run(vec![Some(too_big)]).error().to_owned();
    assert!(
        message.starts_with("input record 0, element 0: integer 18446744073709551616 is out of"),
        "{message}"
    );
}

#[test]
fn a_refused_output_batch_fails_the_task() {
    let task = range_to_task();
    let outcome = task.run_with(vec![Some(pickle(&vec![5i64]))], |host| {
        host.refuse_output = Some(7);
    });
    assert_eq!(
        outcome.errors,
        vec!["the host refused an output batch (output_write returned 7)"]
    );
}

#[test]
fn the_alloc_and_run_exports_hand_over_the_spec_buffer() {
    use crate::ffi::{sparkwasm_abi_version, sparkwasm_alloc, sparkwasm_run_task};
    assert_eq!(sparkwasm_abi_version(), ABI_VERSION);
    let spec = postcard::to_allocvec(&range_to_task().spec).unwrap();
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
