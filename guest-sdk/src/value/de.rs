//! [`Value`]s to typed elements: a serde deserializer that consumes the value tree.
//!
//! Lenient where Python is (tuple or list for any sequence, `bytes` for a `Vec<u8>`, an int for
//! a float, anything but `None` for `Some`), strict where Rust is: integers are range-checked
//! by serde's own visitors, so a Python `300` read as `u8` is an error, never a wrong number.
//! `decode` (over the canonical bytes) mirrors this file case for case.

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use super::{FlatElement, Scalar, Value, ValueError};

/// Reads a typed element from its [`Value`].
pub(crate) fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    T::deserialize(ValueDeserializer(value))
}

/// Reads a typed element from an element of a flat batch, exactly as [`from_value`] reads its
/// [`Value`], without building it: a Python int read as `i64` is a match and a move, a
/// `(str, int)` read as `(String, i64)` allocates the string only. What is not a plain read
/// (enums, `bytes` as a sequence) goes through the `Value` path itself.
#[inline(always)]
pub(crate) fn from_flat<T: DeserializeOwned>(
    element: FlatElement<'_, '_>,
) -> Result<T, ValueError> {
    match element {
        FlatElement::Scalar(scalar) => T::deserialize(ScalarDeserializer(scalar)),
        FlatElement::Tuple(_) => T::deserialize(TupleDeserializer(element)),
    }
}

/// The methods the flat-batch deserializers share: newtypes read through, enums and ignored
/// values as [`ValueDeserializer`] reads the element's `Value`.
macro_rules! flat_deserializer_methods {
    ($de:lifetime) => {
        fn deserialize_newtype_struct<V: Visitor<$de>>(
            self,
            _name: &'static str,
            visitor: V,
        ) -> Result<V::Value, ValueError> {
            visitor.visit_newtype_struct(self)
        }

        fn deserialize_enum<V: Visitor<$de>>(
            self,
            name: &'static str,
            variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, ValueError> {
            ValueDeserializer(self.0.to_value()).deserialize_enum(name, variants, visitor)
        }

        fn deserialize_ignored_any<V: Visitor<$de>>(
            self,
            visitor: V,
        ) -> Result<V::Value, ValueError> {
            visitor.visit_unit()
        }
    };
}

/// A deserializer of a flat tuple of scalars; its answers are [`ValueDeserializer`]'s for the
/// tuple's `Value`.
struct TupleDeserializer<'t, 'a>(FlatElement<'t, 'a>);

impl<'de> de::Deserializer<'de> for TupleDeserializer<'_, '_> {
    type Error = ValueError;

    flat_deserializer_methods!('de);

    fn is_human_readable(&self) -> bool {
        true
    }

    #[inline]
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let mut seq = de::value::SeqDeserializer::new(
            self.0
                .tuple_items()
                .iter()
                .map(|&scalar| ScalarDeserializer(scalar)),
        );
        let value = visitor.visit_seq(&mut seq)?;
        seq.end()?;
        Ok(value)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_some(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// A deserializer of one borrowed scalar; its answers are [`ValueDeserializer`]'s.
#[derive(Clone, Copy)]
struct ScalarDeserializer<'a>(Scalar<'a>);

impl<'de> de::Deserializer<'de> for ScalarDeserializer<'_> {
    type Error = ValueError;

    flat_deserializer_methods!('de);

    fn is_human_readable(&self) -> bool {
        true
    }

    #[inline]
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Scalar::None => visitor.visit_unit(),
            Scalar::Bool(b) => visitor.visit_bool(b),
            Scalar::Int(i) => visitor.visit_i64(i),
            Scalar::BigUint(u) => visitor.visit_u64(u),
            Scalar::Float(f) => visitor.visit_f64(f),
            Scalar::Str(s) => visitor.visit_string(s.to_owned()),
            Scalar::Bytes(b) => visitor.visit_byte_buf(b.to_vec()),
        }
    }

    #[inline]
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Scalar::None => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        ValueDeserializer(self.0.to_value()).deserialize_seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        ValueDeserializer(self.0.to_value()).deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        ValueDeserializer(self.0.to_value()).deserialize_tuple_struct(name, len, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct map struct identifier
    }
}

/// The [`de::Unexpected`] describing a value, for serde's "invalid type" messages.
fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::None => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Int(i) => de::Unexpected::Signed(*i),
        Value::BigUint(u) => de::Unexpected::Unsigned(*u),
        Value::Float(f) => de::Unexpected::Float(*f),
        Value::Str(s) => de::Unexpected::Str(s),
        Value::Bytes(b) => de::Unexpected::Bytes(b),
        Value::Tuple(_) => de::Unexpected::Other("tuple"),
        Value::List(_) => de::Unexpected::Seq,
        Value::Dict(_) => de::Unexpected::Map,
    }
}

/// A deserializer owning one value.
pub(super) struct ValueDeserializer(pub(super) Value);

impl<'de> de::Deserializer<'de> for ValueDeserializer {
    type Error = ValueError;

    fn is_human_readable(&self) -> bool {
        true
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::None => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Int(i) => visitor.visit_i64(i),
            Value::BigUint(u) => visitor.visit_u64(u),
            Value::Float(f) => visitor.visit_f64(f),
            Value::Str(s) => visitor.visit_string(s),
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            Value::Tuple(items) | Value::List(items) => visit_items(items, visitor),
            Value::Dict(entries) => visit_entries(entries, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::None => visitor.visit_none(),
            other => visitor.visit_some(ValueDeserializer(other)),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.0 {
            // `bytes` fill a `Vec<u8>` (whose visitor only takes sequences).
            Value::Bytes(bytes) => {
                let items = bytes.into_iter().map(|b| Value::Int(b.into())).collect();
                visit_items(items, visitor)
            }
            other => ValueDeserializer(other).deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.0 {
            Value::Str(variant) => visitor.visit_enum(Variant {
                variant,
                payload: None,
            }),
            Value::Dict(entries) if entries.len() == 1 => {
                let mut entries = entries.into_iter();
                match entries.next() {
                    Some((Value::Str(variant), payload)) => visitor.visit_enum(Variant {
                        variant,
                        payload: Some(payload),
                    }),
                    _ => Err(ValueError(
                        "an enum variant with data must be a dict {variant_name: data}".into(),
                    )),
                }
            }
            other => Err(de::Error::invalid_type(
                unexpected(&other),
                &"an enum: a variant name, or a dict {variant_name: data}",
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct map struct identifier
    }
}

fn visit_items<'de, V: Visitor<'de>>(
    items: Vec<Value>,
    visitor: V,
) -> Result<V::Value, ValueError> {
    let mut seq = de::value::SeqDeserializer::new(items.into_iter().map(ValueDeserializer));
    let value = visitor.visit_seq(&mut seq)?;
    // Like serde's own deserializers: a tuple of 3 is not silently read as a pair.
    seq.end()?;
    Ok(value)
}

fn visit_entries<'de, V: Visitor<'de>>(
    entries: Vec<(Value, Value)>,
    visitor: V,
) -> Result<V::Value, ValueError> {
    let mut map = de::value::MapDeserializer::new(
        entries
            .into_iter()
            .map(|(k, v)| (ValueDeserializer(k), ValueDeserializer(v))),
    );
    let value = visitor.visit_map(&mut map)?;
    map.end()?;
    Ok(value)
}

impl<'de> IntoDeserializer<'de, ValueError> for ScalarDeserializer<'_> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> IntoDeserializer<'de, ValueError> for ValueDeserializer {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

/// An enum variant: its name and, for non-unit variants, its data.
struct Variant {
    variant: String,
    payload: Option<Value>,
}

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = ValueError;
    type Variant = Payload;

    fn variant_seed<S: de::DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Payload), ValueError> {
        let name = seed.deserialize(ValueDeserializer(Value::Str(self.variant)))?;
        Ok((name, Payload(self.payload)))
    }
}

/// The data of an enum variant (`None` for a variant given by name only).
struct Payload(Option<Value>);

impl<'de> de::VariantAccess<'de> for Payload {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        match self.0 {
            None | Some(Value::None) => Ok(()),
            Some(other) => Err(de::Error::invalid_type(
                unexpected(&other),
                &"a unit variant",
            )),
        }
    }

    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, ValueError> {
        match self.0 {
            Some(value) => seed.deserialize(ValueDeserializer(value)),
            None => Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &"a newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.0 {
            Some(value) => {
                de::Deserializer::deserialize_tuple(ValueDeserializer(value), len, visitor)
            }
            None => Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &"a tuple variant",
            )),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.0 {
            Some(value) => de::Deserializer::deserialize_any(ValueDeserializer(value), visitor),
            None => Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &"a struct variant",
            )),
        }
    }
}
