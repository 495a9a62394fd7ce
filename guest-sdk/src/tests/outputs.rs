//! Outputs: pickle, binary (and reading it back), shuffle with each partitioner, count, take,
//! text and sample_keys.

use sparkwasm_abi::{InputEncoding, OutputSpec, Partitioner, StepKind, TaskInfo, BATCH_TYPED};

use super::keyed_fns::*;
use super::*;

#[sparkwasm::partitioner]
fn t_by_mod_three(key: &i64) -> u64 {
    key.rem_euclid(3) as u64
}

/// Shuffle output as (partition, pairs) in record order.
pub(super) fn shuffle_output(outcome: &Outcome) -> Vec<(u64, Vec<Value>)> {
    outcome.ok();
    assert_eq!(
        outcome.records.len() % 2,
        0,
        "records come in (partition, batch) pairs"
    );
    outcome
        .records
        .chunks(2)
        .map(|pair| {
            let partition = u64::from_be_bytes(pair[0].as_slice().try_into().unwrap());
            (partition, decode_values_batch(&pair[1]))
        })
        .collect()
}

/// The partition of every key in shuffle output.
fn partitions_of(outcome: &Outcome) -> Vec<(Value, u64)> {
    let mut seen = Vec::new();
    for (partition, pairs) in shuffle_output(outcome) {
        for pair in pairs {
            let Value::Tuple(items) = pair else { panic!() };
            seen.push((items[0].clone(), partition));
        }
    }
    seen.sort_by(|a, b| crate::value::order::py_cmp(&a.0, &b.0));
    seen
}

#[test]
fn pickle_output_keeps_tuples_and_none() {
    let task = Task::typed(InputEncoding::Utf8, sparkwasm_fn_t_maybe_len())
        .step(StepKind::Map, &[sparkwasm_fn_t_maybe_len()], None)
        .step(StepKind::PairWithNone, &[], None);
    assert_eq!(
        task.run(vec![Some(b"ab".to_vec()), None]).values(),
        vec![kv(int(2), Value::None), kv(Value::None, Value::None)]
    );
}

#[test]
fn pickle_output_is_cut_into_batches_of_1024() {
    let task = range_to_task();
    let outcome = task.run(vec![Some(pickle(&vec![2500i64]))]);
    outcome.ok();
    let lens: Vec<usize> = outcome
        .records
        .iter()
        .map(|r| {
            serde_pickle::from_slice::<Vec<i64>>(r, Default::default())
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(lens, vec![1024, 1024, 452]);
}

#[test]
fn binary_output_reads_back_typed_and_dynamic() {
    let write = Task::typed(InputEncoding::Utf8, sparkwasm_fn_t_with_one())
        .step(StepKind::Map, &[sparkwasm_fn_t_with_one()], None)
        .output(OutputSpec::Binary);
    let outcome = write.run(vec![Some(b"x".to_vec()), Some(b"y".to_vec())]);
    let batch = outcome.records.clone();
    assert_eq!(
        outcome.binary(),
        vec![kv(s("x"), int(1)), kv(s("y"), int(1))]
    );
    let input: Vec<Option<Vec<u8>>> = batch.into_iter().map(Some).collect();
    let typed = Task::typed_output(InputEncoding::Binary, sparkwasm_fn_t_with_one()).step(
        StepKind::ReduceByKey,
        &[sparkwasm_fn_t_add()],
        None,
    );
    assert_eq!(
        typed.run(input.clone()).pickled::<(String, i64)>(),
        vec![("x".to_owned(), 1), ("y".to_owned(), 1)]
    );
    let dynamic = Task::dynamic(InputEncoding::Binary);
    assert_eq!(
        dynamic.run(input).values(),
        vec![kv(s("x"), int(1)), kv(s("y"), int(1))]
    );
}

#[test]
fn typed_batches_are_read_by_typed_sources_only() {
    let mut batch = vec![BATCH_TYPED];
    batch.extend(1u32.to_le_bytes());
    batch.extend(postcard::to_allocvec(&("k".to_owned(), 7i64)).unwrap());
    let typed = Task::typed_output(InputEncoding::Binary, sparkwasm_fn_t_with_one());
    assert_eq!(
        typed
            .run(vec![Some(batch.clone())])
            .pickled::<(String, i64)>(),
        vec![("k".to_owned(), 7)]
    );
    let dynamic = Task::dynamic(InputEncoding::Binary);
    assert!(dynamic
        .run(vec![Some(batch)])
        .error()
        .starts_with("input record 0, element 0: a typed binary batch cannot be read"));
    assert_eq!(
        dynamic.run(vec![Some(vec![9, 0, 0, 0, 0])]).error(),
        "input record 0: a binary batch with unknown tag 9"
    );
}

#[test]
fn typed_and_dynamic_shuffles_write_identical_bytes() {
    let pairs: Vec<(String, i64)> = (0..300).map(|i| (format!("k{}", i % 37), i)).collect();
    let as_values: Vec<Value> = pairs.iter().map(|(k, v)| kv(s(k), int(*v))).collect();
    let output = OutputSpec::Shuffle {
        partitions: 5,
        partitioner: Partitioner::Hash,
    };
    let typed = Task::typed_output(InputEncoding::PickleBatch, sparkwasm_fn_t_with_one())
        .output(output.clone())
        .run(vec![Some(pickle(&pairs))]);
    let dynamic = Task::dynamic(InputEncoding::PickleBatch)
        .output(output)
        .run(vec![Some(pickle_values(as_values))]);
    typed.ok();
    assert_eq!(typed.records, dynamic.records);
    assert_eq!(shuffle_output(&typed).len(), 5, "all partitions used");
}

#[test]
fn function_partitioner_is_f_of_key_mod_partitions() {
    let partitioner = Partitioner::Function {
        function: sparkwasm_fn_t_by_mod_three(),
    };
    let output = OutputSpec::Shuffle {
        partitions: 2,
        partitioner,
    };
    let expected: Vec<(Value, u64)> = (0..6).map(|k| (int(k), (k as u64 % 3) % 2)).collect();
    // Typed (i64, i64) pairs call the partitioner typed; dynamic pairs decode the key.
    let typed = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_to_pair())
        .step(StepKind::Map, &[sparkwasm_fn_t_to_pair()], None)
        .output(output.clone())
        .run(vec![Some(pickle(&(0i64..6).collect::<Vec<_>>()))]);
    assert_eq!(partitions_of(&typed), expected);
    let pairs: Vec<Value> = (0..6).map(|k| kv(int(k), Value::None)).collect();
    let dynamic = Task::dynamic(InputEncoding::PickleBatch)
        .output(output.clone())
        .run(vec![Some(pickle_values(pairs))]);
    assert_eq!(partitions_of(&dynamic), expected);
    // A key the partitioner cannot take.
    let bad = Task::dynamic(InputEncoding::PickleBatch)
        .output(output)
        .run(vec![Some(pickle_values(vec![kv(s("x"), int(1))]))]);
    assert_eq!(
        bad.error(),
        "the shuffle output, element 0: its key: invalid type: string \"x\", expected i64"
    );
}

#[test]
fn range_partitioner_bisects_left_and_reverses_when_descending() {
    let keys = [5i64, 10, 15, 20, 25];
    let run = |ascending| {
        let mut task = Task::dynamic(InputEncoding::PickleBatch);
        let bounds_arg = u32::try_from(task.add_arg(pickle(&vec![10i64, 20]))).unwrap();
        task.output(OutputSpec::Shuffle {
            partitions: 3,
            partitioner: Partitioner::Range {
                bounds_arg,
                ascending,
            },
        })
        .run(vec![Some(pickle(
            &keys.iter().map(|&k| (k, k)).collect::<Vec<_>>(),
        ))])
    };
    // bisect_left([10, 20], k): 5 → 0, 10 → 0, 15 → 1, 20 → 1, 25 → 2.
    assert_eq!(
        partitions_of(&run(true)),
        keys.iter()
            .zip([0, 0, 1, 1, 2])
            .map(|(&k, p)| (int(k), p))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        partitions_of(&run(false)),
        keys.iter()
            .zip([2, 2, 1, 1, 0])
            .map(|(&k, p)| (int(k), p))
            .collect::<Vec<_>>()
    );
    // Too many bounds for the partitions is a plan error.
    let mut task = Task::dynamic(InputEncoding::PickleBatch);
    let bounds_arg = u32::try_from(task.add_arg(pickle(&vec![1i64, 2, 3]))).unwrap();
    let task = task.output(OutputSpec::Shuffle {
        partitions: 3,
        partitioner: Partitioner::Range {
            bounds_arg,
            ascending: true,
        },
    });
    assert!(task
        .run(vec![])
        .error()
        .contains("3 bounds for 3 partitions"));
}

#[test]
fn count_writes_one_record_even_when_empty() {
    let count = |task: Task, input| task.output(OutputSpec::Count).run(input).pickled::<u64>();
    let typed = || {
        Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_triple()).step(
            StepKind::Filter,
            &[sparkwasm_fn_t_is_even()],
            None,
        )
    };
    assert_eq!(
        count(typed(), vec![Some(pickle(&(0i64..10).collect::<Vec<_>>()))]),
        vec![5]
    );
    assert_eq!(count(typed(), vec![]), vec![0]);
    let dynamic = Task::dynamic(InputEncoding::Utf8);
    assert_eq!(count(dynamic, vec![Some(b"a".to_vec()), None]), vec![2]);
}

#[test]
fn take_stops_pulling_input_once_n_elements_are_out() {
    let input: Vec<Option<Vec<u8>>> = (0..100i64).map(|i| Some(pickle(&vec![i]))).collect();
    let typed = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_triple())
        .step(StepKind::Map, &[sparkwasm_fn_t_triple()], None)
        .output(OutputSpec::Take { n: 3 });
    let outcome = typed.run(input.clone());
    assert_eq!(outcome.records.len(), 1, "one record");
    assert_eq!(outcome.pickled::<i64>(), vec![0, 3, 6]);
    assert!(
        outcome.unread_input > 80,
        "read {} records",
        100 - outcome.unread_input
    );

    let dynamic = Task::dynamic(InputEncoding::PickleBatch).output(OutputSpec::Take { n: 0 });
    let outcome = dynamic.run(input);
    assert_eq!(outcome.records.len(), 1, "one record, an empty list");
    assert_eq!(outcome.values(), vec![]);
    assert_eq!(outcome.unread_input, 100, "nothing read for take(0)");
}

#[test]
fn text_output_is_pythons_str_of_each_element() {
    let values = vec![
        s("plain 'text'"),
        int(-7),
        float(1e16),
        float(0.1),
        float(1.0),
        Value::Bool(true),
        Value::None,
        Value::Bytes(b"it's".to_vec()),
        tuple(vec![
            s("a"),
            list(vec![int(1), float(2.5), Value::None]),
            Value::Bytes(vec![0]),
        ]),
        Value::Dict(vec![(s("k"), Value::Bytes(vec![0]))]),
    ];
    let task = Task::dynamic(InputEncoding::PickleBatch).output(OutputSpec::Text);
    let outcome = task.run(vec![Some(pickle_values(values))]);
    outcome.ok();
    let lines: Vec<String> = outcome
        .records
        .iter()
        .map(|r| String::from_utf8(r.clone()).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "plain 'text'",
            "-7",
            "1e+16",
            "0.1",
            "1.0",
            "True",
            "None",
            // A top-level bytes element is written raw, as PySpark does; nested ones are
            // part of their container's str().
            "it's",
            "('a', [1, 2.5, None], b'\\x00')",
            "{'k': b'\\x00'}",
        ]
    );
    // Typed elements go through their values.
    let typed = Task::typed(InputEncoding::Utf8, sparkwasm_fn_t_with_one())
        .step(StepKind::Map, &[sparkwasm_fn_t_with_one()], None)
        .output(OutputSpec::Text);
    let outcome = typed.run(vec![Some(b"w".to_vec())]);
    assert_eq!(outcome.ok().records, vec![b"('w', 1)".to_vec()]);
}

#[test]
fn sample_keys_is_a_deterministic_bernoulli_sample_of_keys() {
    let pairs: Vec<(i64, i64)> = (0..2000).map(|i| (i, -i)).collect();
    let run = |fraction, seed, partition_id| {
        Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_to_pair())
            .step(StepKind::Map, &[sparkwasm_fn_t_to_pair()], None)
            .output(OutputSpec::SampleKeys { fraction, seed })
            .info(TaskInfo {
                partition_id,
                ..TaskInfo::default()
            })
            .run(vec![Some(pickle(
                &pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
            ))])
            .pickled::<i64>()
    };
    let sample = run(0.1, 42, 0);
    assert!((120..280).contains(&sample.len()), "{} keys", sample.len());
    assert!(
        sample.iter().all(|k| (0..10).contains(k)),
        "keys of the pairs"
    );
    assert_eq!(
        run(0.1, 42, 0),
        sample,
        "same seed and partition, same sample"
    );
    assert_ne!(
        run(0.1, 42, 1),
        sample,
        "the partition is mixed into the seed"
    );
    assert_eq!(run(1.0, 42, 0).len(), 2000);
    assert_eq!(run(0.0, 42, 0).len(), 0);
}
