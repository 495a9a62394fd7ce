//! Whole-partition steps on dynamic elements that compare or add them as Python does:
//! `max_by`, `top` and `sum`.

use std::cmp::Ordering;

use crate::element::Label;
use crate::error::Error;
use crate::stream::{Deferred, Stream};
use crate::value::order::py_cmp;
use crate::value::{py_type, Value};

/// A key function's dynamic entry point.
pub(crate) type KeyOf = fn(&Value) -> Result<Value, String>;

fn step_error(label: &Label, element: Option<u64>, message: String) -> Error {
    Error::Step {
        at: label.to_string(),
        element,
        message,
    }
}

/// The element to compare by: its key when there is a key function, else itself.
fn sort_key(key: Option<KeyOf>, element: &Value) -> Result<Option<Value>, String> {
    key.map(|key| key(element)).transpose()
}

/// `max_by`: the largest (`max`) or smallest element, by `key` or by the element; the first
/// of equals wins, as with Python's `max`/`min`. Zero or one output.
pub(crate) fn max_by(
    rows: Stream,
    key: Option<KeyOf>,
    max: bool,
    label: Label,
) -> Result<Stream, Error> {
    let rows = rows.into_values(&label)?;
    let wanted = if max {
        Ordering::Greater
    } else {
        Ordering::Less
    };
    Ok(Stream::new(Deferred::new(move || {
        let mut best: Option<(Option<Value>, Value)> = None;
        for (element, row) in (0u64..).zip(rows) {
            let row_key = sort_key(key, &row).map_err(|m| step_error(&label, Some(element), m))?;
            let better = match &best {
                None => true,
                Some((best_key, best_row)) => {
                    let a = row_key.as_ref().unwrap_or(&row);
                    let b = best_key.as_ref().unwrap_or(best_row);
                    py_cmp(a, b) == wanted
                }
            };
            if better {
                best = Some((row_key, row));
            }
        }
        Ok(best.map(|(_, row)| row).into_iter().collect())
    })))
}

/// `top`: the first `n` elements in order, largest first (`largest`) or smallest first, by
/// `key` or by the element; equal elements keep their arrival order (as
/// `sorted(...)[:n]`, which Python's `heapq.nlargest`/`nsmallest` equal).
pub(crate) fn top(
    rows: Stream,
    key: Option<KeyOf>,
    n: u64,
    largest: bool,
    label: Label,
) -> Result<Stream, Error> {
    let rows = rows.into_values(&label)?;
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    Ok(Stream::new(Deferred::new(move || {
        if n == 0 {
            return Ok(Vec::new());
        }
        let order = |a: &(Option<Value>, Value), b: &(Option<Value>, Value)| {
            let a = a.0.as_ref().unwrap_or(&a.1);
            let b = b.0.as_ref().unwrap_or(&b.1);
            if largest {
                py_cmp(b, a)
            } else {
                py_cmp(a, b)
            }
        };
        // Keep at most about 2n candidates: sort (stably) and cut whenever the buffer fills.
        let limit = n.saturating_mul(2).max(64);
        let mut kept: Vec<(Option<Value>, Value)> = Vec::new();
        for (element, row) in (0u64..).zip(rows) {
            let row_key = sort_key(key, &row).map_err(|m| step_error(&label, Some(element), m))?;
            kept.push((row_key, row));
            if kept.len() >= limit {
                kept.sort_by(order);
                kept.truncate(n);
            }
        }
        kept.sort_by(order);
        kept.truncate(n);
        Ok(kept.into_iter().map(|(_, row)| row).collect())
    })))
}

/// A running Python `sum`: ints stay ints until a float arrives.
#[derive(Clone, Copy)]
enum Total {
    Int(i128),
    Float(f64),
}

/// `sum`: Python's `sum` of the partition (start 0, added left to right, as CPython up to
/// 3.11 does; 3.12 compensates float rounding). One output: an int, or a float once any
/// element is a float. An int sum outside what values carry is an error.
pub(crate) fn sum(rows: Stream, label: Label) -> Result<Stream, Error> {
    let rows = rows.into_values(&label)?;
    Ok(Stream::new(Deferred::new(move || {
        let mut total = Total::Int(0);
        for (element, row) in (0u64..).zip(rows) {
            total = add(total, &row).map_err(|m| step_error(&label, Some(element), m))?;
        }
        let result = match total {
            Total::Int(int) => {
                if let Ok(int) = i64::try_from(int) {
                    Value::Int(int)
                } else if let Ok(big) = u64::try_from(int) {
                    Value::BigUint(big)
                } else {
                    return Err(step_error(
                        &label,
                        None,
                        format!(
                            "the int sum {int} overflows the range sparkwasm values carry \
                             (-2**63 to 2**64-1)"
                        ),
                    ));
                }
            }
            Total::Float(float) => Value::Float(float),
        };
        Ok(vec![result])
    })))
}

fn add(total: Total, value: &Value) -> Result<Total, String> {
    let int = match *value {
        Value::Bool(b) => i128::from(b),
        Value::Int(i) => i128::from(i),
        Value::BigUint(u) => i128::from(u),
        Value::Float(f) => {
            return Ok(Total::Float(match total {
                // Python's int + float: the int rounded to the nearest float, then added.
                Total::Int(int) => int as f64 + f,
                Total::Float(sum) => sum + f,
            }));
        }
        ref other => {
            let left = match total {
                Total::Int(_) => "int",
                Total::Float(_) => "float",
            };
            return Err(format!(
                "unsupported operand type(s) for +: '{left}' and '{}'",
                py_type(other)
            ));
        }
    };
    Ok(match total {
        Total::Int(sum) => Total::Int(
            sum.checked_add(int)
                .ok_or_else(|| "the int sum overflows 128 bits".to_owned())?,
        ),
        Total::Float(sum) => Total::Float(sum + int as f64),
    })
}
