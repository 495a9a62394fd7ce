//! Python's ordering of [`Value`]s, made total so sorting never panics.
//!
//! Where Python compares, this compares the same way: numbers by value across `bool`, `int`
//! and `float` (exactly, without rounding an int to a float), `str` by code point (which is
//! UTF-8 byte order), `bytes` bytewise, tuples and lists lexicographically. Where Python
//! raises `TypeError` (a str against an int, dicts), values order by kind instead: `None`
//! first, then numbers, `str`, `bytes`, sequences, `dict` (the variant order of `Value`);
//! dicts compare by their items. A tuple and a list compare as sequences, item by item (the
//! driver's `order_key` in `sparkwasm._partition` does the same, and range partitioning needs
//! both sides to agree). NaN, which Python leaves unordered, sorts above every other number
//! and equal to itself.

use std::cmp::Ordering;

use super::Value;

/// Compares two values in Python order (see the module docs for the fallbacks).
pub(crate) fn py_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Str(a), Value::Str(b)) => a.cmp(b),
        (Value::Bytes(a), Value::Bytes(b)) => a.cmp(b),
        (Value::Tuple(a) | Value::List(a), Value::Tuple(b) | Value::List(b)) => {
            lexicographic(a, b, py_cmp)
        }
        (Value::Dict(a), Value::Dict(b)) => lexicographic(a, b, |(ka, va), (kb, vb)| {
            py_cmp(ka, kb).then_with(|| py_cmp(va, vb))
        }),
        _ => match (number(a), number(b)) {
            (Some(a), Some(b)) => cmp_numbers(a, b),
            _ => rank(a).cmp(&rank(b)),
        },
    }
}

/// The first differing item decides; otherwise the shorter sequence is smaller.
fn lexicographic<T>(a: &[T], b: &[T], cmp: impl Fn(&T, &T) -> Ordering) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match cmp(x, y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    a.len().cmp(&b.len())
}

/// The order of kinds that Python cannot compare with each other.
fn rank(value: &Value) -> u8 {
    match value {
        Value::None => 0,
        Value::Bool(_) | Value::Int(_) | Value::BigUint(_) | Value::Float(_) => 1,
        Value::Str(_) => 2,
        Value::Bytes(_) => 3,
        Value::Tuple(_) | Value::List(_) => 4,
        Value::Dict(_) => 5,
    }
}

#[derive(Clone, Copy)]
enum Number {
    Int(i128),
    Float(f64),
}

fn number(value: &Value) -> Option<Number> {
    match *value {
        Value::Bool(b) => Some(Number::Int(i128::from(b))),
        Value::Int(i) => Some(Number::Int(i128::from(i))),
        Value::BigUint(u) => Some(Number::Int(i128::from(u))),
        Value::Float(f) => Some(Number::Float(f)),
        _ => None,
    }
}

fn cmp_numbers(a: Number, b: Number) -> Ordering {
    match (a, b) {
        (Number::Int(a), Number::Int(b)) => a.cmp(&b),
        (Number::Float(a), Number::Float(b)) => cmp_floats(a, b),
        (Number::Int(a), Number::Float(b)) => cmp_int_float(a, b),
        (Number::Float(a), Number::Int(b)) => cmp_int_float(b, a).reverse(),
    }
}

fn cmp_floats(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        // Not NaN: `partial_cmp` is total here, and -0.0 == 0.0 as in Python.
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Compares an integer with a float exactly, as Python does (rounding the int to a float
/// would make 2**53 + 1 equal to 2.0**53 and break transitivity).
fn cmp_int_float(int: i128, float: f64) -> Ordering {
    if float.is_nan() {
        return Ordering::Less;
    }
    // 2**127: every i128 is below it, and every float at or above it is above every i128.
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    if float >= LIMIT {
        return Ordering::Less;
    }
    if float < -LIMIT {
        return Ordering::Greater;
    }
    let floor = float.floor();
    // Exact: `floor` is an integral float strictly inside the i128 range.
    let whole = floor as i128;
    match int.cmp(&whole) {
        Ordering::Equal if float > floor => Ordering::Less,
        other => other,
    }
}

/// Python's `bisect_left(bounds, key)`: the first index whose bound is not below `key`.
pub(crate) fn bisect_left(bounds: &[Value], key: &Value) -> usize {
    bounds.partition_point(|bound| py_cmp(bound, key) == Ordering::Less)
}
