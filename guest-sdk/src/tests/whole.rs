//! Whole-partition steps: reduce_all, fold_all, aggregate_all, max_by, top, sum.

use sparkwasm_abi::{InputEncoding, StepKind};

use super::keyed_fns::*;
use super::*;

fn ints(values: &[i64]) -> Vec<Option<Vec<u8>>> {
    vec![Some(pickle(&values.to_vec()))]
}

fn run_typed(step: impl FnOnce(Task) -> Task, input: Vec<Option<Vec<u8>>>) -> Outcome {
    step(Task::typed(
        InputEncoding::PickleBatch,
        sparkwasm_fn_t_triple(),
    ))
    .run(input)
}

fn run_dynamic(step: impl FnOnce(Task) -> Task, input: Vec<Option<Vec<u8>>>) -> Outcome {
    step(Task::dynamic(InputEncoding::PickleBatch)).run(input)
}

#[test]
fn reduce_all_yields_nothing_for_an_empty_partition() {
    let reduce = |t: Task| t.step(StepKind::ReduceAll, &[sparkwasm_fn_t_add()], None);
    assert_eq!(run_typed(reduce, ints(&[1, 2, 3])).values(), vec![int(6)]);
    assert_eq!(run_dynamic(reduce, ints(&[1, 2, 3])).values(), vec![int(6)]);
    assert_eq!(run_typed(reduce, vec![]).values(), vec![]);
    assert_eq!(run_typed(reduce, ints(&[])).values(), vec![]);
}

#[test]
fn fold_all_yields_the_zero_for_an_empty_partition() {
    let fold = |t: Task| t.step_with_zero(StepKind::FoldAll, &[sparkwasm_fn_t_add()], &10i64);
    assert_eq!(run_typed(fold, ints(&[1, 2])).values(), vec![int(13)]);
    assert_eq!(run_dynamic(fold, ints(&[1, 2])).values(), vec![int(13)]);
    assert_eq!(run_typed(fold, vec![]).values(), vec![int(10)]);
}

#[test]
fn aggregate_all_folds_into_the_accumulator_type() {
    let aggregate = |t: Task| {
        t.step_with_zero(
            StepKind::AggregateAll,
            &[sparkwasm_fn_t_seq_sum_count()],
            &(0i64, 0i64),
        )
    };
    assert_eq!(
        run_typed(aggregate, ints(&[1, 2, 3])).values(),
        vec![tuple(vec![int(6), int(3)])]
    );
    assert_eq!(
        run_dynamic(aggregate, vec![]).values(),
        vec![tuple(vec![int(0), int(0)])]
    );
}

#[test]
fn max_by_and_min_by_keep_the_first_of_equals() {
    let max = |key: &[u32], arg| {
        let key = key.to_vec();
        move |t: Task| t.step(StepKind::MaxBy, &key, Some(arg))
    };
    let input = || ints(&[13, 7, 23, 3, 17]);
    assert_eq!(run_typed(max(&[], 1), input()).values(), vec![int(23)]);
    assert_eq!(run_typed(max(&[], 0), input()).values(), vec![int(3)]);
    // By last digit: 7 and 17 tie for the max, 13, 23 and 3 for the min; the first wins.
    let by_digit = [sparkwasm_fn_t_mod_ten()];
    assert_eq!(
        run_dynamic(max(&by_digit, 1), input()).values(),
        vec![int(7)]
    );
    assert_eq!(
        run_dynamic(max(&by_digit, 0), input()).values(),
        vec![int(13)]
    );
    assert_eq!(run_dynamic(max(&[], 1), vec![]).values(), vec![]);
    // Mixed numbers compare by value.
    let mixed = vec![Some(pickle_values(vec![
        int(2),
        float(2.5),
        Value::Bool(true),
    ]))];
    assert_eq!(run_dynamic(max(&[], 1), mixed).values(), vec![float(2.5)]);
}

#[test]
fn top_and_take_ordered_are_sorted_prefixes() {
    let top = |key: &[u32], arg| {
        let key = key.to_vec();
        move |t: Task| t.step(StepKind::Top, &key, Some(arg))
    };
    let input = || ints(&[5, 1, 9, 3, 9, 7]);
    // n * 2 + 1: the 3 largest, largest first.
    assert_eq!(
        run_typed(top(&[], 3 * 2 + 1), input()).values(),
        vec![int(9), int(9), int(7)]
    );
    // n * 2: the 2 smallest, smallest first.
    assert_eq!(
        run_typed(top(&[], 2 * 2), input()).values(),
        vec![int(1), int(3)]
    );
    assert_eq!(run_typed(top(&[], 1), input()).values(), vec![]);
    // By last digit, ties in arrival order: 13 and 23 share digit 3.
    let by_digit = [sparkwasm_fn_t_mod_ten()];
    assert_eq!(
        run_dynamic(top(&by_digit, 3 * 2), ints(&[19, 13, 4, 23, 11])).values(),
        vec![int(11), int(13), int(23)]
    );
    // Many elements: the buffer is cut many times; the result is still the exact prefix.
    let many: Vec<i64> = (0..1000).map(|i| (i * 7919) % 1000).collect();
    assert_eq!(
        run_typed(top(&[], 5 * 2 + 1), ints(&many)).values(),
        [999, 998, 997, 996, 995].map(int).to_vec()
    );
}

#[test]
fn sum_keeps_ints_and_turns_float_with_any_float() {
    let sum = |t: Task| t.step(StepKind::Sum, &[], None);
    assert_eq!(run_typed(sum, ints(&[1, 2, 3])).values(), vec![int(6)]);
    assert_eq!(run_typed(sum, vec![]).values(), vec![int(0)]);
    let mixed = vec![Some(pickle_values(vec![
        int(1),
        Value::Bool(true),
        float(0.5),
    ]))];
    assert_eq!(run_dynamic(sum, mixed).values(), vec![float(2.5)]);
    // Python's left-to-right order: 0.1 + 0.2 + 0.3, not 0.1 + (0.2 + 0.3).
    let floats = vec![Some(pickle(&vec![0.1f64, 0.2, 0.3]))];
    assert_eq!(
        run_dynamic(sum, floats).values(),
        vec![float(0.1 + 0.2 + 0.3)]
    );
    // Past i64::MAX the int sum is still an int (a u64); past u64::MAX it is an error.
    let big = vec![Some(pickle(&vec![i64::MAX, 1]))];
    assert_eq!(
        run_dynamic(sum, big).values(),
        vec![Value::BigUint(1 << 63)]
    );
    let too_big = vec![Some(pickle_values(vec![Value::BigUint(u64::MAX), int(1)]))];
    assert_eq!(
        run_dynamic(sum, too_big).error(),
        "step 0 (sum): the int sum 18446744073709551616 overflows the range sparkwasm values \
         carry (-2**63 to 2**64-1)"
    );
    let text = vec![Some(pickle_values(vec![int(1), s("x")]))];
    assert_eq!(
        run_dynamic(sum, text).error(),
        "step 0 (sum), element 1: unsupported operand type(s) for +: 'int' and 'str'"
    );
}
