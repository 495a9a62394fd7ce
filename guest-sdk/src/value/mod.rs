//! Python's data model inside the guest: the dynamic [`Value`] elements of the ABI and every
//! conversion the SDK needs around them.
//!
//! * [`to_value`] / [`from_value`]: typed elements ⇄ `Value` through serde, keeping the
//!   distinctions Python makes (tuple vs list, bytes vs str, `None`).
//! * [`encode_append`] / [`decode_prefix`]: typed elements ⇄ the *canonical encoding* of their
//!   `Value` (postcard of `Value`) without building the `Value`. Binary batches carry them,
//!   so the typed fast path and the dynamic path agree byte for byte.
//! * [`KeyBytes`]: a key's *identity*, its canonical encoding with Python's numeric equality
//!   folded in (`True == 1 == 1.0`): what keyed steps compare and hash partitioning hashes.
//! * [`pickle`]: pickle ⇄ `Value` for dynamic input and output.
//! * [`order`]: Python's ordering of values (sorting, range partitioning, max/min/top).
//! * [`text`]: Python's `str()` and `repr()` (text output).
//!
//! The mapping of Rust (serde) types to values:
//!
//! | Rust | Value |
//! |---|---|
//! | `bool` | `Bool` |
//! | integers | `Int`, or `BigUint` above `i64::MAX` (an error beyond `u64`/below `i64`) |
//! | `f32`, `f64` | `Float` |
//! | `char`, `String`, `&str` | `Str` |
//! | `sparkwasm::Bytes` | `Bytes` |
//! | `()`, unit structs, `None` | `None` (`Some(x)` is `x`) |
//! | tuples, tuple structs, arrays | `Tuple` |
//! | `Vec`, sets, sequences | `List` |
//! | maps | `Dict` |
//! | structs with named fields | `Dict` with `Str` keys |
//! | unit enum variants | `Str(variant)` |
//! | other enum variants | `{variant: payload}` (tuple variants: a list), as serde-pickle |
//!
//! Reading back is lenient where Python is: a tuple or a list fills a Rust tuple or `Vec`,
//! `bytes` fill a `Vec<u8>`, an `int` fills a float, and anything but `None` fills `Some`.
//! Integers are range-checked: a Python `300` is an error for `u8`, never a wrong number.

mod de;
mod encode;
mod key;
pub(crate) mod order;
pub(crate) mod pickle;
mod ser;
pub(crate) mod text;

use std::fmt;

pub(crate) use de::{from_flat, from_value};
pub(crate) use encode::{decode_prefix, encode_append};
pub(crate) use key::KeyBytes;
pub(crate) use ser::to_value;
pub(crate) use sparkwasm_abi::Value;

/// Why a value could not be converted (the message is serde's, or ours in its style).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValueError(pub(crate) String);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}

impl serde::ser::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError(msg.to_string())
    }
}

impl serde::de::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError(msg.to_string())
    }
}

impl From<ValueError> for String {
    fn from(err: ValueError) -> String {
        err.0
    }
}

/// A scalar value borrowed from the bytes it was decoded from: what the fast paths of
/// batch decoding hand out, so a typed element is read without building a [`Value`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Scalar<'a> {
    None,
    Bool(bool),
    Int(i64),
    BigUint(u64),
    Float(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
}

impl Scalar<'_> {
    /// The owned value.
    pub(crate) fn to_value(self) -> Value {
        match self {
            Scalar::None => Value::None,
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Int(i) => Value::Int(i),
            Scalar::BigUint(u) => Value::BigUint(u),
            Scalar::Float(f) => Value::Float(f),
            Scalar::Str(s) => Value::Str(s.to_owned()),
            Scalar::Bytes(b) => Value::Bytes(b.to_vec()),
        }
    }
}

/// An element of a flat batch, borrowed from the pickle: a scalar, or a tuple of up to three
/// scalars (a pair RDD's `(key, value)`), whose items are borrowed from the decoder for the
/// time of one call (`'t`). Small, because one is handed over per element.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum FlatElement<'t, 'a> {
    Scalar(Scalar<'a>),
    Tuple(&'t [Scalar<'a>]),
}

impl<'a> FlatElement<'_, 'a> {
    /// The tuple's items (empty for a scalar).
    pub(crate) fn tuple_items(&self) -> &[Scalar<'a>] {
        match self {
            FlatElement::Scalar(_) => &[],
            FlatElement::Tuple(items) => items,
        }
    }

    /// The owned value.
    pub(crate) fn to_value(self) -> Value {
        match self {
            FlatElement::Scalar(scalar) => scalar.to_value(),
            FlatElement::Tuple(items) => Value::Tuple(items.iter().map(|s| s.to_value()).collect()),
        }
    }
}

/// Python's name of the type of `value` (`int`, `tuple`, ...), for messages.
pub(crate) fn py_type(value: &Value) -> &'static str {
    match value {
        Value::None => "NoneType",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::BigUint(_) => "int",
        Value::Float(_) => "float",
        Value::Str(_) => "str",
        Value::Bytes(_) => "bytes",
        Value::Tuple(_) => "tuple",
        Value::List(_) => "list",
        Value::Dict(_) => "dict",
    }
}

/// Splits a `(key, value)` pair: a tuple or list of two.
pub(crate) fn into_pair(value: Value) -> Result<(Value, Value), String> {
    match value {
        Value::Tuple(items) | Value::List(items) if items.len() == 2 => {
            let mut items = items.into_iter();
            match (items.next(), items.next()) {
                (Some(key), Some(value)) => Ok((key, value)),
                _ => Err("a pair lost its items".into()),
            }
        }
        other => Err(not_a_pair(&other)),
    }
}

/// The error for an element that should have been a `(key, value)` pair.
pub(crate) fn not_a_pair(value: &Value) -> String {
    format!(
        "expected a (key, value) pair, got {} {}",
        article(py_type(value)),
        text::repr_truncated(value, 60)
    )
}

/// The pair `(key, value)` as a Python tuple.
pub(crate) fn pair(key: Value, value: Value) -> Value {
    Value::Tuple(vec![key, value])
}

/// "a"/"an" + noun, for messages.
fn article(noun: &str) -> String {
    match noun.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {noun}"),
        _ => format!("a {noun}"),
    }
}

/// The canonical encoding of a value (postcard of [`Value`]).
pub(crate) fn canonical_append(value: &Value, out: &mut Vec<u8>) -> Result<(), ValueError> {
    crate::output::postcard_append(value, out).map_err(|err| ValueError(err.to_string()))
}

#[cfg(test)]
mod tests;
