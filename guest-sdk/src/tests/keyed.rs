//! Keyed steps, on typed pairs (the typed `PairOps` paths) and on dynamic pairs.

use sparkwasm_abi::{InputEncoding, StepKind};

use super::keyed_fns::*;
use super::*;

/// `[("a", 1), ("b", 2), ("a", 3)]`, pickled as tuples.
fn abc_pairs() -> Vec<Option<Vec<u8>>> {
    vec![Some(pickle_values(vec![
        kv(s("a"), int(1)),
        kv(s("b"), int(2)),
        kv(s("a"), int(3)),
    ]))]
}

/// The same pairs, typed as `t_with_one`'s output `(String, i64)`.
fn typed_pairs(task: impl FnOnce(Task) -> Task) -> Task {
    task(Task::typed_output(
        InputEncoding::PickleBatch,
        sparkwasm_fn_t_with_one(),
    ))
}

fn dynamic_pairs(task: impl FnOnce(Task) -> Task) -> Task {
    task(Task::dynamic(InputEncoding::PickleBatch))
}

/// Runs `build` on typed and on dynamic pairs; both must give `expected`.
fn both_paths(build: impl Fn(Task) -> Task, expected: Vec<Value>) {
    assert_eq!(
        typed_pairs(&build).run(abc_pairs()).values(),
        expected,
        "typed"
    );
    assert_eq!(
        dynamic_pairs(&build).run(abc_pairs()).values(),
        expected,
        "dynamic"
    );
}

#[test]
fn reduce_by_key_merges_in_first_seen_order() {
    both_paths(
        |t| t.step(StepKind::ReduceByKey, &[sparkwasm_fn_t_add()], None),
        vec![kv(s("a"), int(4)), kv(s("b"), int(2))],
    );
    // A reduce over another value type than the pairs': decoded, like Python would.
    both_paths(
        |t| t.step(StepKind::ReduceByKey, &[sparkwasm_fn_t_add_f64()], None),
        vec![kv(s("a"), float(4.0)), kv(s("b"), float(2.0))],
    );
}

#[test]
fn fold_by_key_starts_every_key_from_the_zero() {
    both_paths(
        |t| t.step_with_zero(StepKind::FoldByKey, &[sparkwasm_fn_t_add()], &10i64),
        vec![kv(s("a"), int(14)), kv(s("b"), int(12))],
    );
    let bad_zero =
        dynamic_pairs(|t| t.step_with_zero(StepKind::FoldByKey, &[sparkwasm_fn_t_add()], &"zero"));
    assert_eq!(
        bad_zero.run(abc_pairs()).error(),
        "step 0 (fold_by_key with `t_add`): its zero value: invalid type: string \"zero\", \
         expected i64"
    );
}

#[test]
fn aggregate_by_key_folds_values_into_the_accumulator_type() {
    both_paths(
        |t| {
            t.step_with_zero(
                StepKind::AggregateByKey,
                &[sparkwasm_fn_t_seq_sum_count()],
                &(0i64, 0i64),
            )
        },
        vec![
            kv(s("a"), tuple(vec![int(4), int(2)])),
            kv(s("b"), tuple(vec![int(2), int(1)])),
        ],
    );
}

#[test]
fn combine_by_key_creates_then_merges() {
    both_paths(
        |t| {
            t.step(
                StepKind::CombineByKey,
                &[sparkwasm_fn_t_singleton(), sparkwasm_fn_t_push()],
                None,
            )
        },
        vec![
            kv(s("a"), list(vec![int(1), int(3)])),
            kv(s("b"), list(vec![int(2)])),
        ],
    );
    // createCombiner's Vec<i64> feeds a Vec<f64> accumulator through its value.
    both_paths(
        |t| {
            t.step(
                StepKind::CombineByKey,
                &[sparkwasm_fn_t_singleton(), sparkwasm_fn_t_push_f64()],
                None,
            )
        },
        vec![
            kv(s("a"), list(vec![float(1.0), float(3.0)])),
            kv(s("b"), list(vec![float(2.0)])),
        ],
    );
}

#[test]
fn map_values_and_flat_map_values_keep_keys() {
    both_paths(
        |t| t.step(StepKind::MapValues, &[sparkwasm_fn_t_negate()], None),
        vec![
            kv(s("a"), int(-1)),
            kv(s("b"), int(-2)),
            kv(s("a"), int(-3)),
        ],
    );
    both_paths(
        |t| t.step(StepKind::FlatMapValues, &[sparkwasm_fn_t_range_to()], None),
        vec![
            kv(s("a"), int(0)),
            kv(s("b"), int(0)),
            kv(s("b"), int(1)),
            kv(s("a"), int(0)),
            kv(s("a"), int(1)),
            kv(s("a"), int(2)),
        ],
    );
}

#[test]
fn key_by_pairs_each_element_with_its_key() {
    let input = || vec![Some(pickle(&vec![13i64, 7, 23]))];
    let expected = vec![kv(int(3), int(13)), kv(int(7), int(7)), kv(int(3), int(23))];
    let typed = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_mod_ten()).step(
        StepKind::KeyBy,
        &[sparkwasm_fn_t_mod_ten()],
        None,
    );
    assert_eq!(typed.run(input()).values(), expected);
    let dynamic = Task::dynamic(InputEncoding::PickleBatch).step(
        StepKind::KeyBy,
        &[sparkwasm_fn_t_mod_ten()],
        None,
    );
    assert_eq!(dynamic.run(input()).values(), expected);

    // Typed key_by yields typed (K, T) pairs that a typed reduce_by_key merges.
    let typed = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_mod_ten())
        .step(StepKind::KeyBy, &[sparkwasm_fn_t_mod_ten()], None)
        .step(StepKind::ReduceByKey, &[sparkwasm_fn_t_add()], None);
    assert_eq!(
        typed.run(input()).values(),
        vec![kv(int(3), int(36)), kv(int(7), int(7))]
    );
}

#[test]
fn key_by_key_keys_pairs_by_a_function_of_their_key() {
    // typed or dynamic pairs alike: the key function reads the key only.
    both_paths(
        |t| t.step(StepKind::KeyByKey, &[sparkwasm_fn_t_upper_key()], None),
        vec![
            kv(s("A"), kv(s("a"), int(1))),
            kv(s("B"), kv(s("b"), int(2))),
            kv(s("A"), kv(s("a"), int(3))),
        ],
    );
    // sortByKey(keyfunc): sort by f(k), then drop it; ties keep their order.
    both_paths(
        |t| {
            t.step(StepKind::KeyByKey, &[sparkwasm_fn_t_upper_key()], None)
                .step(StepKind::SortByKey, &[], Some(0))
                .step(StepKind::Values, &[], None)
        },
        vec![kv(s("b"), int(2)), kv(s("a"), int(1)), kv(s("a"), int(3))],
    );
}

#[test]
fn group_by_key_collects_values_in_arrival_order() {
    both_paths(
        |t| t.step(StepKind::GroupByKey, &[], None),
        vec![
            kv(s("a"), list(vec![int(1), int(3)])),
            kv(s("b"), list(vec![int(2)])),
        ],
    );
}

#[test]
fn first_by_key_keeps_each_keys_first_pair() {
    both_paths(
        |t| t.step(StepKind::FirstByKey, &[], None),
        vec![kv(s("a"), int(1)), kv(s("b"), int(2))],
    );
}

#[test]
fn keys_and_values_project_pairs() {
    both_paths(
        |t| t.step(StepKind::Keys, &[], None),
        vec![s("a"), s("b"), s("a")],
    );
    both_paths(
        |t| t.step(StepKind::Values, &[], None),
        vec![int(1), int(2), int(3)],
    );
    // Typed keys feed a typed function.
    let typed = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_to_pair())
        .step(StepKind::Map, &[sparkwasm_fn_t_to_pair()], None)
        .step(StepKind::Values, &[], None)
        .step(StepKind::Map, &[sparkwasm_fn_t_negate()], None);
    assert_eq!(
        typed
            .run(vec![Some(pickle(&vec![12i64, 5]))])
            .pickled::<i64>(),
        vec![-12, -5]
    );
}

#[test]
fn pair_with_none_and_count_by_key_count_values() {
    let task = Task::dynamic(InputEncoding::PickleBatch)
        .step(StepKind::PairWithNone, &[], None)
        .step(StepKind::CountByKey, &[], None);
    let input = vec![Some(pickle_values(vec![
        s("x"),
        tuple(vec![int(1)]),
        s("x"),
        Value::None,
        tuple(vec![int(1)]),
    ]))];
    assert_eq!(
        task.run(input).values(),
        vec![
            kv(s("x"), int(2)),
            kv(tuple(vec![int(1)]), int(2)),
            kv(Value::None, int(1)),
        ]
    );
    let task = Task::dynamic(InputEncoding::PickleBatch).step(StepKind::PairWithNone, &[], None);
    assert_eq!(
        task.run(vec![Some(pickle(&vec![1i64]))]).values(),
        vec![kv(int(1), Value::None)]
    );
}

#[test]
fn tag_wraps_values_with_their_side() {
    let task = dynamic_pairs(|t| t.step(StepKind::Tag, &[], Some(1)));
    assert_eq!(
        task.run(abc_pairs()).values()[0],
        kv(s("a"), tuple(vec![int(1), int(1)]))
    );
    let task = dynamic_pairs(|t| t.step(StepKind::Tag, &[], Some(2)));
    assert_eq!(
        task.run(vec![]).error(),
        "step 0 (tag): the tag must be 0 or 1, not 2"
    );
}

/// Tagged pairs of a left side `a: [1, 3], b: [2]` and a right side `a: ["x"], c: ["y"]`.
fn tagged_sides() -> Vec<Option<Vec<u8>>> {
    let left = |k: &str, v: i64| kv(s(k), tuple(vec![int(0), int(v)]));
    let right = |k: &str, v: &str| kv(s(k), tuple(vec![int(1), s(v)]));
    vec![Some(pickle_values(vec![
        left("a", 1),
        left("b", 2),
        right("a", "x"),
        left("a", 3),
        right("c", "y"),
    ]))]
}

fn join(kind: u64) -> Vec<Value> {
    Task::dynamic(InputEncoding::PickleBatch)
        .step(StepKind::Join, &[], Some(kind))
        .run(tagged_sides())
        .values()
}

#[test]
fn every_join_kind() {
    let n = Value::None;
    let a_inner = vec![
        kv(s("a"), tuple(vec![int(1), s("x")])),
        kv(s("a"), tuple(vec![int(3), s("x")])),
    ];
    assert_eq!(join(0), a_inner);
    let mut left = a_inner.clone();
    left.push(kv(s("b"), tuple(vec![int(2), n.clone()])));
    assert_eq!(join(1), left);
    let mut right = a_inner.clone();
    right.push(kv(s("c"), tuple(vec![n.clone(), s("y")])));
    assert_eq!(join(2), right);
    let mut full = left.clone();
    full.push(kv(s("c"), tuple(vec![n.clone(), s("y")])));
    assert_eq!(join(3), full);
    assert_eq!(
        join(4),
        vec![
            kv(
                s("a"),
                tuple(vec![list(vec![int(1), int(3)]), list(vec![s("x")])])
            ),
            kv(s("b"), tuple(vec![list(vec![int(2)]), list(vec![])])),
            kv(s("c"), tuple(vec![list(vec![]), list(vec![s("y")])])),
        ]
    );
    assert_eq!(join(5), vec![kv(s("b"), int(2))]);

    let task = Task::dynamic(InputEncoding::PickleBatch).step(StepKind::Join, &[], Some(6));
    assert_eq!(
        task.run(vec![]).error(),
        "step 0 (join): 6 is not a join kind (0 to 5)"
    );
    let task = Task::dynamic(InputEncoding::PickleBatch).step(StepKind::Join, &[], Some(0));
    let untagged = vec![Some(pickle_values(vec![kv(
        s("a"),
        tuple(vec![int(7), int(1)]),
    )]))];
    assert_eq!(
        task.run(untagged).error(),
        "step 0 (join), element 0: a join tag must be 0 or 1, got int 7"
    );
}

#[test]
fn sort_by_key_is_stable_in_python_order_both_ways() {
    // 1 and 1.0 and True are equal keys in Python: they keep their arrival order.
    let pairs = vec![
        kv(int(2), s("a")),
        kv(float(1.0), s("b")),
        kv(float(-0.5), s("c")),
        kv(int(1), s("d")),
        kv(Value::Bool(true), s("e")),
        kv(int(10), s("f")),
    ];
    let sorted = |ascending: u64| {
        Task::dynamic(InputEncoding::PickleBatch)
            .step(StepKind::SortByKey, &[], Some(ascending))
            .run(vec![Some(pickle_values(pairs.clone()))])
            .values()
            .into_iter()
            .map(|pair| match pair {
                Value::Tuple(items) => items[1].clone(),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(sorted(1), ["c", "b", "d", "e", "a", "f"].map(s));
    assert_eq!(sorted(0), ["f", "a", "b", "d", "e", "c"].map(s));

    // Typed pairs sort typed, by the keys' Python order (str by code point).
    let typed = typed_pairs(|t| t.step(StepKind::SortByKey, &[], Some(0)));
    assert_eq!(
        typed.run(abc_pairs()).values(),
        vec![kv(s("b"), int(2)), kv(s("a"), int(1)), kv(s("a"), int(3))]
    );
    let bad = typed_pairs(|t| t.step(StepKind::SortByKey, &[], Some(2)));
    assert!(bad
        .run(vec![])
        .error()
        .contains("must be 1 (ascending) or 0 (descending), not 2"));
}
