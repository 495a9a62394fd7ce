//! Functions of the keyed and whole-partition tests.

#[sparkwasm::seq_op]
pub(super) fn t_seq_sum_count(acc: (i64, i64), v: i64) -> (i64, i64) {
    (acc.0 + v, acc.1 + 1)
}

#[sparkwasm::map]
pub(super) fn t_singleton(x: i64) -> Vec<i64> {
    vec![x]
}

#[sparkwasm::seq_op]
pub(super) fn t_push(mut acc: Vec<i64>, x: i64) -> Vec<i64> {
    acc.push(x);
    acc
}

#[sparkwasm::seq_op]
pub(super) fn t_push_f64(mut acc: Vec<f64>, x: f64) -> Vec<f64> {
    acc.push(x);
    acc
}

#[sparkwasm::key]
pub(super) fn t_mod_ten(x: &i64) -> i64 {
    x.rem_euclid(10)
}

#[sparkwasm::key]
pub(super) fn t_upper_key(s: &String) -> String {
    s.to_uppercase()
}

#[sparkwasm::map]
pub(super) fn t_negate(x: i64) -> i64 {
    -x
}

#[sparkwasm::map]
pub(super) fn t_to_pair(x: i64) -> (i64, i64) {
    (x.rem_euclid(10), x)
}
