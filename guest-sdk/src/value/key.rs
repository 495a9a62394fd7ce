//! Key identity: the bytes keyed steps compare and hash partitioning hashes.
//!
//! Python groups keys by `==` and `hash`, under which `True == 1 == 1.0` and `-0.0 == 0.0`;
//! PySpark's `reduceByKey` and friends merge such keys. The canonical encoding keeps them
//! apart (it must: `1.0` has to come back a float), so a key's identity is its canonical
//! encoding with numbers *folded*: a bool becomes the int it equals, an integral float the
//! int it equals. Everything else is already equal exactly when Python says so.
//!
//! The identity only decides which keys are one key and where a key is hash-partitioned; the
//! key a step emits is always one of the original keys (the first seen, as in PySpark), and
//! shuffles carry the original encoding.

use serde::Serialize;

use super::encode::{
    encode_append, put_varint, zigzag, Decoder, TAG_BIGUINT, TAG_BOOL, TAG_BYTES, TAG_DICT,
    TAG_FLOAT, TAG_INT, TAG_LIST, TAG_NONE, TAG_STR, TAG_TUPLE,
};
use super::{canonical_append, Value, ValueError};

/// Deeper keys than this are refused rather than walked (no guest stack overflow).
const MAX_DEPTH: u32 = 200;

/// A reusable buffer holding one key's canonical encoding and its identity.
#[derive(Default)]
pub(crate) struct KeyBytes {
    encoded: Vec<u8>,
    folded: Vec<u8>,
    /// Whether `folded` holds the identity (else the encoding is its own identity).
    is_folded: bool,
}

impl KeyBytes {
    /// Takes a typed key.
    pub(crate) fn set_typed<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        self.encoded.clear();
        encode_append(key, &mut self.encoded)?;
        self.fold()
    }

    /// Takes a dynamic key.
    pub(crate) fn set_value(&mut self, key: &Value) -> Result<(), ValueError> {
        self.encoded.clear();
        canonical_append(key, &mut self.encoded)?;
        self.fold()
    }

    /// The key's canonical encoding (what a shuffle carries).
    pub(crate) fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// The key's identity (what equality and hash partitioning use).
    pub(crate) fn identity(&self) -> &[u8] {
        if self.is_folded {
            &self.folded
        } else {
            &self.encoded
        }
    }

    fn fold(&mut self) -> Result<(), ValueError> {
        // A key is one value, so a key whose first tag is a str, bytes, int or None is that
        // scalar alone and is its own identity (most keys). Otherwise, without a bool or
        // float tag byte anywhere there is nothing to fold; a payload byte equal to a tag
        // only costs the walk.
        self.is_folded = match self.encoded.first() {
            Some(&(TAG_STR | TAG_BYTES | TAG_INT | TAG_BIGUINT | TAG_NONE)) | None => false,
            Some(&(TAG_BOOL | TAG_FLOAT)) => true,
            Some(_) => self
                .encoded
                .iter()
                .any(|&byte| byte == TAG_BOOL || byte == TAG_FLOAT),
        };
        if self.is_folded {
            self.folded.clear();
            let mut decoder = Decoder {
                input: &self.encoded,
            };
            fold_value(&mut decoder, &mut self.folded, 0)?;
        }
        Ok(())
    }
}

/// The identity of a value's canonical encoding, as a new buffer (for tests and one-offs).
#[cfg(test)]
pub(crate) fn identity_of(key: &Value) -> Vec<u8> {
    let mut bytes = KeyBytes::default();
    bytes.set_value(key).unwrap();
    bytes.identity().to_vec()
}

/// Copies one encoded value from `input` to `out`, folding its numbers.
fn fold_value(input: &mut Decoder<'_>, out: &mut Vec<u8>, depth: u32) -> Result<(), ValueError> {
    if depth > MAX_DEPTH {
        return Err(ValueError(format!(
            "the key is nested more than {MAX_DEPTH} levels deep"
        )));
    }
    let tag = input.byte()?;
    match tag {
        TAG_NONE => out.push(TAG_NONE),
        TAG_BOOL => {
            let b = input.byte()?;
            int(out, i64::from(b != 0));
        }
        TAG_INT => int(out, input.int()?),
        TAG_BIGUINT => {
            out.push(TAG_BIGUINT);
            put_varint(out, input.varint()?);
        }
        TAG_FLOAT => float(out, input.float()?),
        TAG_STR | TAG_BYTES => {
            let len = input.len()?;
            let (bytes, rest) = input
                .input
                .split_at_checked(len)
                .ok_or_else(|| ValueError("the value encoding ends early".into()))?;
            input.input = rest;
            out.push(tag);
            put_varint(out, len as u64);
            out.extend_from_slice(bytes);
        }
        TAG_TUPLE | TAG_LIST | TAG_DICT => {
            let count = input.len()?;
            out.push(tag);
            put_varint(out, count as u64);
            let items = if tag == TAG_DICT { count * 2 } else { count };
            for _ in 0..items {
                fold_value(input, out, depth + 1)?;
            }
        }
        other => {
            return Err(ValueError(format!(
                "unknown value tag {other} in a key's encoding"
            )))
        }
    }
    Ok(())
}

fn int(out: &mut Vec<u8>, value: i64) {
    out.push(TAG_INT);
    put_varint(out, zigzag(value));
}

/// An integral float as the int it equals (`-0.0` is `0`); any other float as it is.
fn float(out: &mut Vec<u8>, value: f64) {
    // 2^63 and 2^64 are exact as f64; the ranges are half-open because they are not ints
    // of their type.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    if value.fract() == 0.0 {
        // Casts are exact: `value` is integral and in range.
        if (-TWO_63..TWO_63).contains(&value) {
            return int(out, value as i64);
        }
        if (TWO_63..TWO_64).contains(&value) {
            out.push(TAG_BIGUINT);
            put_varint(out, value as u64);
            return;
        }
    }
    out.push(TAG_FLOAT);
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::canonical_append;

    fn canonical(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        canonical_append(value, &mut out).unwrap();
        out
    }

    #[test]
    fn numbers_python_calls_equal_share_one_identity() {
        let one = identity_of(&Value::Int(1));
        assert_eq!(one, canonical(&Value::Int(1)));
        assert_eq!(identity_of(&Value::Bool(true)), one);
        assert_eq!(identity_of(&Value::Float(1.0)), one);
        assert_eq!(
            identity_of(&Value::Bool(false)),
            identity_of(&Value::Int(0))
        );
        assert_eq!(
            identity_of(&Value::Float(-0.0)),
            identity_of(&Value::Int(0))
        );
        assert_eq!(
            identity_of(&Value::Float(-2.0)),
            identity_of(&Value::Int(-2))
        );
        let big = 1u64 << 63;
        assert_eq!(
            identity_of(&Value::Float(big as f64)),
            identity_of(&Value::BigUint(big))
        );
        assert_eq!(
            identity_of(&Value::Float(-9_223_372_036_854_775_808.0)),
            identity_of(&Value::Int(i64::MIN))
        );
        // Nested, as in tuple keys.
        let folded = Value::Tuple(vec![Value::Bool(true), Value::Float(2.0)]);
        let ints = Value::Tuple(vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(identity_of(&folded), identity_of(&ints));
    }

    #[test]
    fn other_values_keep_their_encoding_as_identity() {
        for value in [
            Value::Float(1.5),
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
            Value::Float(1e300),
            Value::Str("\u{1}\u{4}".into()),
            Value::Bytes(vec![1, 4, 255]),
            Value::Tuple(vec![Value::Str("a".into()), Value::None]),
            Value::List(vec![Value::Float(0.25)]),
            Value::Dict(vec![(Value::Str("k".into()), Value::Float(0.5))]),
        ] {
            assert_eq!(identity_of(&value), canonical(&value), "{value:?}");
        }
        // A tag byte inside a string is not a number.
        assert_ne!(
            identity_of(&Value::Str("\u{1}".into())),
            identity_of(&Value::Int(1))
        );
    }

    #[test]
    fn typed_keys_fold_like_dynamic_ones() {
        let mut bytes = KeyBytes::default();
        bytes.set_typed(&(true, 3.0f64)).unwrap();
        assert_eq!(
            bytes.identity(),
            identity_of(&Value::Tuple(vec![Value::Int(1), Value::Int(3)]))
        );
        // The encoding stays the original one.
        assert_eq!(
            bytes.encoded(),
            canonical(&Value::Tuple(vec![Value::Bool(true), Value::Float(3.0)]))
        );
    }

    #[test]
    fn broken_encodings_are_errors_not_panics() {
        let mut decoder = Decoder {
            input: &[TAG_TUPLE, 5, TAG_BOOL],
        };
        assert!(fold_value(&mut decoder, &mut Vec::new(), 0).is_err());
        let deep = [TAG_LIST, 1].repeat(1000);
        let mut decoder = Decoder { input: &deep };
        assert!(fold_value(&mut decoder, &mut Vec::new(), 0).is_err());
    }
}
