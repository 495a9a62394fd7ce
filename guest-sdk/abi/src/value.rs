//! The dynamic value model: Python's data model as the guest and the driver share it.
//!
//! Typed Rust functions see their own types; operations that build types nobody declared
//! (`groupByKey` → `(K, [V])`, joins → `(K, (V, W))`, ...) carry elements as [`Value`]s. A
//! `Value` keeps the distinctions Python makes (tuple vs list, bytes vs str, None), so pickling
//! it gives back exactly the Python object, and a typed function can still decode it into its
//! own type.
//!
//! The **canonical encoding** of a value is its postcard encoding (variant index as a varint,
//! then the payload: zigzag varint for `Int`, varint for `BigUint`, little-endian `f64`,
//! varint length + bytes for `Str`/`Bytes`, varint count + items for `Tuple`/`List`/`Dict`).
//! Shuffle keys are compared and hashed by it (see [`crate::partition_of`]), so the driver can
//! compute where a Python key lives without running guest code.

use serde::{Deserialize, Serialize};

/// A Python value. The variant order is part of the ABI (it fixes the canonical encoding).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// `None` (also Rust's `()` and `Option::None`).
    None,
    /// `bool`.
    Bool(bool),
    /// `int` in the `i64` range (every Rust integer type that fits).
    Int(i64),
    /// `int` above `i64::MAX` (a `u64` only).
    BigUint(u64),
    /// `float` (`f32` widens).
    Float(f64),
    /// `str` (also Rust `char`).
    Str(String),
    /// `bytes`.
    Bytes(#[serde(with = "serde_bytes_compat")] Vec<u8>),
    /// `tuple` (Rust tuples and tuple structs).
    Tuple(Vec<Value>),
    /// `list` (Rust sequences).
    List(Vec<Value>),
    /// `dict`, in insertion order (Rust maps and structs with named fields).
    Dict(Vec<(Value, Value)>),
}

/// `Vec<u8>` as one length-prefixed byte string, not a sequence of varints, without
/// depending on `serde_bytes` (the ABI crate depends on serde only).
mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = a.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_bytes(Visitor)
    }
}
