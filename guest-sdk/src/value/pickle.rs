//! Pickle ⇄ [`Value`].
//!
//! Decoding goes through serde-pickle's own value model, the one view of a pickle that keeps
//! tuples apart from lists and reads ints beyond `i64`. Two consequences: sets and frozensets
//! become lists (Python order is lost with them anyway), and dicts come back ordered by key
//! (serde-pickle keeps them in a B-tree), not in insertion order.
//!
//! Encoding goes through [`Pickled`], a `Serialize` view of a value that drives
//! serde-pickle's serializer with the calls that produce exactly the Python object (tuples
//! stay tuples, `BigUint` becomes a long, bytes stay bytes).

use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple};
use serde::{Serialize, Serializer};
use serde_pickle::{HashableValue, Value as PickleValue};

use super::ser::int_out_of_range;
use super::{Value, ValueError};

/// Decodes one pickled Python object into a [`Value`].
pub(crate) fn from_pickle(bytes: &[u8]) -> Result<Value, String> {
    let value = serde_pickle::value_from_slice(bytes, serde_pickle::DeOptions::new())
        .map_err(crate::error::pickle_message)?;
    from_pickle_value(value).map_err(String::from)
}

/// Converts serde-pickle's value model into ours.
pub(crate) fn from_pickle_value(value: PickleValue) -> Result<Value, ValueError> {
    Ok(match value {
        PickleValue::None => Value::None,
        PickleValue::Bool(b) => Value::Bool(b),
        PickleValue::I64(i) => Value::Int(i),
        PickleValue::Int(big) => big_int(big.to_string())?,
        PickleValue::F64(f) => Value::Float(f),
        PickleValue::Bytes(b) => Value::Bytes(b),
        PickleValue::String(s) => Value::Str(s),
        PickleValue::List(items) => Value::List(values(items)?),
        PickleValue::Tuple(items) => Value::Tuple(values(items)?),
        PickleValue::Set(items) | PickleValue::FrozenSet(items) => Value::List(
            items
                .into_iter()
                .map(from_hashable)
                .collect::<Result<_, _>>()?,
        ),
        PickleValue::Dict(entries) => Value::Dict(
            entries
                .into_iter()
                .map(|(k, v)| Ok((from_hashable(k)?, from_pickle_value(v)?)))
                .collect::<Result<_, ValueError>>()?,
        ),
    })
}

fn values(items: Vec<PickleValue>) -> Result<Vec<Value>, ValueError> {
    items.into_iter().map(from_pickle_value).collect()
}

fn from_hashable(value: HashableValue) -> Result<Value, ValueError> {
    from_pickle_value(value.into_value())
}

/// An int serde-pickle could not fit in `i64`: a `BigUint` when it fits `u64`.
/// serde-pickle exports no conversion for its big ints; their decimal form is exact.
fn big_int(text: String) -> Result<Value, ValueError> {
    match text.parse::<u64>() {
        Ok(u) => Ok(Value::BigUint(u)),
        Err(_) => Err(int_out_of_range(text)),
    }
}

/// A value as the Python object it stands for, for serde-pickle's serializer.
pub(crate) struct Pickled<'a>(pub(crate) &'a Value);

impl Serialize for Pickled<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::None => serializer.serialize_none(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::BigUint(u) => serializer.serialize_u64(*u),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::Str(s) => serializer.serialize_str(s),
            Value::Bytes(b) => serializer.serialize_bytes(b),
            Value::Tuple(items) => {
                let mut tuple = serializer.serialize_tuple(items.len())?;
                for item in items {
                    tuple.serialize_element(&Pickled(item))?;
                }
                tuple.end()
            }
            Value::List(items) => {
                let mut list = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    list.serialize_element(&Pickled(item))?;
                }
                list.end()
            }
            Value::Dict(entries) => {
                let mut dict = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    dict.serialize_entry(&Pickled(key), &Pickled(value))?;
                }
                dict.end()
            }
        }
    }
}

/// An owned value as its Python object (for streams of values).
pub(crate) struct PickledOwned(pub(crate) Value);

impl Serialize for PickledOwned {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Pickled(&self.0).serialize(serializer)
    }
}

/// The pickle of one value (protocol 3, as the rest of the output).
#[cfg(test)]
pub(crate) fn to_pickle(value: &Value) -> Result<Vec<u8>, String> {
    serde_pickle::to_vec(&Pickled(value), serde_pickle::SerOptions::new())
        .map_err(crate::error::pickle_message)
}
