//! The canonical encoding (postcard of [`Value`](super::Value)) of typed elements, written and
//! read without building the `Value`.
//!
//! [`encode_append`] is byte-for-byte `postcard(to_value(x))`, and [`decode_prefix`] reads
//! exactly what `from_value(postcard::from_bytes::<Value>(bytes))` would (unit tests check
//! both). This is what keeps the typed fast path cheap: a typed key is hashed from its
//! canonical bytes with no allocation, and typed elements travel in `BATCH_VALUES` batches
//! that a dynamic reader (or the driver) decodes as well as a typed one.
//!
//! The layout, fixed by the ABI: a varint variant index (`None` 0, `Bool` 1, `Int` 2,
//! `BigUint` 3, `Float` 4, `Str` 5, `Bytes` 6, `Tuple` 7, `List` 8, `Dict` 9), then the payload:
//! one byte for a bool, a zigzag varint for `Int`, a varint for `BigUint`, 8 little-endian
//! bytes for `Float`, varint length + bytes for `Str`/`Bytes`, varint count + items for
//! `Tuple`/`List`, varint count + key/value pairs for `Dict`.

use serde::de::{self, DeserializeOwned, Visitor};
use serde::ser::{self, Serialize};

use super::ser::int_out_of_range;
use super::ValueError;

pub(super) const TAG_NONE: u8 = 0;
pub(super) const TAG_BOOL: u8 = 1;
pub(super) const TAG_INT: u8 = 2;
pub(super) const TAG_BIGUINT: u8 = 3;
pub(super) const TAG_FLOAT: u8 = 4;
pub(super) const TAG_STR: u8 = 5;
pub(super) const TAG_BYTES: u8 = 6;
pub(super) const TAG_TUPLE: u8 = 7;
pub(super) const TAG_LIST: u8 = 8;
pub(super) const TAG_DICT: u8 = 9;

/// Appends the canonical encoding of `value`'s [`Value`](super::Value) to `out`.
pub(crate) fn encode_append<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    value.serialize(Encoder { out })
}

/// Reads one typed element from the start of `bytes` (a canonical encoding); returns it and
/// the bytes after it.
pub(crate) fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, &[u8]), ValueError> {
    let mut decoder = Decoder { input: bytes };
    let value = T::deserialize(&mut decoder)?;
    Ok((value, decoder.input))
}

pub(super) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        // Truncation intended: the low 7 bits, with the continuation bit set.
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_bytes(value: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(2);
    put_varint(&mut bytes, value);
    bytes
}

pub(super) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn usize_u64(len: usize) -> u64 {
    // usize is at most 64 bits on every target sparkwasm builds for.
    u64::try_from(len).unwrap_or(u64::MAX)
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Encoder<'a> {
    fn int(self, value: i128) -> Result<(), ValueError> {
        if let Ok(int) = i64::try_from(value) {
            self.out.push(TAG_INT);
            put_varint(self.out, zigzag(int));
        } else if let Ok(big) = u64::try_from(value) {
            self.out.push(TAG_BIGUINT);
            put_varint(self.out, big);
        } else {
            return Err(int_out_of_range(value));
        }
        Ok(())
    }

    fn text(&mut self, tag: u8, bytes: &[u8]) {
        self.out.push(tag);
        put_varint(self.out, usize_u64(bytes.len()));
        self.out.extend_from_slice(bytes);
    }

    /// Starts a counted container with `tag`; the count is fixed up at the end when the
    /// announced length was missing or wrong.
    fn counted(self, tag: u8, announced: Option<usize>) -> Counted<'a> {
        self.out.push(tag);
        let at = self.out.len();
        if let Some(len) = announced {
            put_varint(self.out, usize_u64(len));
        }
        Counted {
            out: self.out,
            at,
            announced,
            count: 0,
        }
    }

    /// `{variant: ...}`: the dict header and the variant name; the payload follows.
    fn variant_header(&mut self, variant: &str) {
        self.out.extend_from_slice(&[TAG_DICT, 1]);
        self.text(TAG_STR, variant.as_bytes());
    }
}

impl<'a> ser::Serializer for Encoder<'a> {
    type Ok = ();
    type Error = ValueError;
    type SerializeSeq = Counted<'a>;
    type SerializeTuple = Counted<'a>;
    type SerializeTupleStruct = Counted<'a>;
    type SerializeTupleVariant = Counted<'a>;
    type SerializeMap = Counted<'a>;
    type SerializeStruct = Counted<'a>;
    type SerializeStructVariant = Counted<'a>;

    fn is_human_readable(&self) -> bool {
        true
    }

    fn serialize_bool(self, v: bool) -> Result<(), ValueError> {
        self.out.extend_from_slice(&[TAG_BOOL, u8::from(v)]);
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), ValueError> {
        self.int(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), ValueError> {
        self.int(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), ValueError> {
        self.int(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), ValueError> {
        self.out.push(TAG_INT);
        put_varint(self.out, zigzag(v));
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), ValueError> {
        self.int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), ValueError> {
        self.int(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), ValueError> {
        self.int(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), ValueError> {
        self.int(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), ValueError> {
        self.int(v.into())
    }
    fn serialize_u128(self, v: u128) -> Result<(), ValueError> {
        match i128::try_from(v) {
            Ok(v) => self.int(v),
            Err(_) => Err(int_out_of_range(v)),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<(), ValueError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), ValueError> {
        self.out.push(TAG_FLOAT);
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_char(mut self, v: char) -> Result<(), ValueError> {
        let mut buf = [0; 4];
        self.text(TAG_STR, v.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }
    fn serialize_str(mut self, v: &str) -> Result<(), ValueError> {
        self.text(TAG_STR, v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(mut self, v: &[u8]) -> Result<(), ValueError> {
        self.text(TAG_BYTES, v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), ValueError> {
        self.out.push(TAG_NONE);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), ValueError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), ValueError> {
        self.out.push(TAG_NONE);
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), ValueError> {
        self.out.push(TAG_NONE);
        Ok(())
    }
    fn serialize_unit_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), ValueError> {
        self.text(TAG_STR, variant.as_bytes());
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.variant_header(variant);
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Counted<'a>, ValueError> {
        Ok(self.counted(TAG_LIST, len))
    }
    fn serialize_tuple(self, len: usize) -> Result<Counted<'a>, ValueError> {
        Ok(self.counted(TAG_TUPLE, Some(len)))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Counted<'a>, ValueError> {
        Ok(self.counted(TAG_TUPLE, Some(len)))
    }
    fn serialize_tuple_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Counted<'a>, ValueError> {
        self.variant_header(variant);
        Ok(self.counted(TAG_LIST, Some(len)))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Counted<'a>, ValueError> {
        Ok(self.counted(TAG_DICT, len))
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Counted<'a>, ValueError> {
        Ok(self.counted(TAG_DICT, Some(len)))
    }
    fn serialize_struct_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Counted<'a>, ValueError> {
        self.variant_header(variant);
        Ok(self.counted(TAG_DICT, Some(len)))
    }
}

/// A container being written: its items are counted, and the count written up front is
/// corrected at the end if the announced length was missing or wrong (`skip_serializing_if`,
/// `flatten`, iterators without a size).
struct Counted<'a> {
    out: &'a mut Vec<u8>,
    /// Where the count varint starts.
    at: usize,
    announced: Option<usize>,
    count: usize,
}

impl Counted<'_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        value.serialize(Encoder { out: self.out })
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), ValueError> {
        self.count += 1;
        Encoder { out: self.out }.text(TAG_STR, key.as_bytes());
        self.item(value)
    }

    fn finish(self) -> Result<(), ValueError> {
        if self.announced == Some(self.count) {
            return Ok(());
        }
        let written = match self.announced {
            Some(len) => varint_bytes(usize_u64(len)).len(),
            None => 0,
        };
        let count = varint_bytes(usize_u64(self.count));
        self.out.splice(self.at..self.at + written, count);
        Ok(())
    }
}

impl ser::SerializeSeq for Counted<'_> {
    type Ok = ();
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.count += 1;
        self.item(value)
    }
    fn end(self) -> Result<(), ValueError> {
        self.finish()
    }
}

impl ser::SerializeTuple for Counted<'_> {
    type Ok = ();
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.count += 1;
        self.item(value)
    }
    fn end(self) -> Result<(), ValueError> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Counted<'_> {
    type Ok = ();
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.count += 1;
        self.item(value)
    }
    fn end(self) -> Result<(), ValueError> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Counted<'_> {
    type Ok = ();
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.count += 1;
        self.item(value)
    }
    fn end(self) -> Result<(), ValueError> {
        self.finish()
    }
}

impl ser::SerializeMap for Counted<'_> {
    type Ok = ();
    type Error = ValueError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        self.count += 1;
        self.item(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.item(value)
    }
    fn end(self) -> Result<(), ValueError> {
        self.finish()
    }
}

impl ser::SerializeStruct for Counted<'_> {
    type Ok = ();
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), ValueError> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Counted<'_> {
    type Ok = ();
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), ValueError> {
        self.finish()
    }
}

/// Reads typed elements from canonical bytes, mirroring `de::ValueDeserializer`.
pub(super) struct Decoder<'de> {
    pub(super) input: &'de [u8],
}

fn truncated() -> ValueError {
    ValueError("the value encoding ends early".into())
}

impl<'de> Decoder<'de> {
    pub(super) fn byte(&mut self) -> Result<u8, ValueError> {
        let (&first, rest) = self.input.split_first().ok_or_else(truncated)?;
        self.input = rest;
        Ok(first)
    }

    fn peek(&self) -> Result<u8, ValueError> {
        self.input.first().copied().ok_or_else(truncated)
    }

    pub(super) fn varint(&mut self) -> Result<u64, ValueError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ValueError(
            "a varint in the value encoding is too long".into(),
        ))
    }

    pub(super) fn len(&mut self) -> Result<usize, ValueError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| truncated())?;
        // Every item takes at least one byte: a larger count is a lie, refused before any
        // allocation sized by it.
        if len > self.input.len() {
            return Err(truncated());
        }
        Ok(len)
    }

    pub(super) fn int(&mut self) -> Result<i64, ValueError> {
        let raw = self.varint()?;
        // Zigzag: the low bit is the sign.
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    pub(super) fn float(&mut self) -> Result<f64, ValueError> {
        let (bytes, rest) = self.input.split_first_chunk::<8>().ok_or_else(truncated)?;
        self.input = rest;
        Ok(f64::from_le_bytes(*bytes))
    }

    fn raw(&mut self) -> Result<&'de [u8], ValueError> {
        let len = self.len()?;
        let (bytes, rest) = self.input.split_at_checked(len).ok_or_else(truncated)?;
        self.input = rest;
        Ok(bytes)
    }

    fn str(&mut self) -> Result<&'de str, ValueError> {
        std::str::from_utf8(self.raw()?)
            .map_err(|err| ValueError(format!("a str in the value encoding is not UTF-8: {err}")))
    }

    fn unknown_tag(tag: u8) -> ValueError {
        ValueError(format!("unknown value kind {tag} in the value encoding"))
    }
}

impl<'de> de::Deserializer<'de> for &mut Decoder<'de> {
    type Error = ValueError;

    fn is_human_readable(&self) -> bool {
        true
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.byte()? {
            TAG_NONE => visitor.visit_unit(),
            TAG_BOOL => match self.byte()? {
                0 => visitor.visit_bool(false),
                1 => visitor.visit_bool(true),
                other => Err(ValueError(format!("invalid bool byte {other}"))),
            },
            TAG_INT => {
                let int = self.int()?;
                visitor.visit_i64(int)
            }
            TAG_BIGUINT => {
                let big = self.varint()?;
                visitor.visit_u64(big)
            }
            TAG_FLOAT => {
                let float = self.float()?;
                visitor.visit_f64(float)
            }
            TAG_STR => {
                let text = self.str()?;
                visitor.visit_borrowed_str(text)
            }
            TAG_BYTES => {
                let bytes = self.raw()?;
                visitor.visit_borrowed_bytes(bytes)
            }
            TAG_TUPLE | TAG_LIST => {
                let len = self.len()?;
                visit_items(self, len, visitor)
            }
            TAG_DICT => {
                let len = self.len()?;
                let mut entries = Entries {
                    de: self,
                    remaining: len,
                    consumed: 0,
                };
                let value = visitor.visit_map(&mut entries)?;
                if entries.remaining > 0 {
                    return Err(de::Error::invalid_length(
                        len,
                        &ExpectedIn(entries.consumed, "map"),
                    ));
                }
                Ok(value)
            }
            tag => Err(Decoder::unknown_tag(tag)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        if self.peek()? == TAG_NONE {
            self.byte()?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        if self.peek()? == TAG_BYTES {
            self.byte()?;
            let bytes = self.raw()?;
            let mut seq = de::value::SeqDeserializer::<_, ValueError>::new(
                bytes.iter().map(|&b| i64::from(b)),
            );
            let value = visitor.visit_seq(&mut seq)?;
            seq.end()?;
            Ok(value)
        } else {
            self.deserialize_any(visitor)
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
        match self.byte()? {
            TAG_STR => {
                let variant = self.str()?;
                visitor.visit_enum(Variant {
                    de: self,
                    variant,
                    payload: false,
                })
            }
            TAG_DICT => {
                if self.len()? != 1 || self.byte()? != TAG_STR {
                    return Err(ValueError(
                        "an enum variant with data must be a dict {variant_name: data}".into(),
                    ));
                }
                let variant = self.str()?;
                visitor.visit_enum(Variant {
                    de: self,
                    variant,
                    payload: true,
                })
            }
            _ => Err(ValueError(
                "invalid type: expected an enum: a variant name, or a dict {variant_name: data}"
                    .into(),
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_any(de::IgnoredAny)?;
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct map struct identifier
    }
}

/// serde's "N elements in sequence/map" expectation, as its own deserializers word it.
struct ExpectedIn(usize, &'static str);

impl de::Expected for ExpectedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            1 => write!(f, "1 element in {}", self.1),
            n => write!(f, "{n} elements in {}", self.1),
        }
    }
}

fn visit_items<'de, V: Visitor<'de>>(
    de: &mut Decoder<'de>,
    len: usize,
    visitor: V,
) -> Result<V::Value, ValueError> {
    let mut items = Items {
        de,
        remaining: len,
        consumed: 0,
    };
    let value = visitor.visit_seq(&mut items)?;
    if items.remaining > 0 {
        return Err(de::Error::invalid_length(
            len,
            &ExpectedIn(items.consumed, "sequence"),
        ));
    }
    Ok(value)
}

struct Items<'a, 'de> {
    de: &'a mut Decoder<'de>,
    remaining: usize,
    consumed: usize,
}

impl<'de> de::SeqAccess<'de> for Items<'_, 'de> {
    type Error = ValueError;

    fn next_element_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, ValueError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        self.consumed += 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining)
    }
}

struct Entries<'a, 'de> {
    de: &'a mut Decoder<'de>,
    remaining: usize,
    consumed: usize,
}

impl<'de> de::MapAccess<'de> for Entries<'_, 'de> {
    type Error = ValueError;

    fn next_key_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, ValueError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        self.consumed += 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn next_value_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, ValueError> {
        seed.deserialize(&mut *self.de)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining)
    }
}

/// An enum variant read from the encoding; `payload` tells whether data follows.
struct Variant<'a, 'de> {
    de: &'a mut Decoder<'de>,
    variant: &'de str,
    payload: bool,
}

impl<'a, 'de> de::EnumAccess<'de> for Variant<'a, 'de> {
    type Error = ValueError;
    type Variant = Self;

    fn variant_seed<S: de::DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self), ValueError> {
        let name = seed.deserialize(de::value::BorrowedStrDeserializer::<ValueError>::new(
            self.variant,
        ))?;
        Ok((name, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        if !self.payload {
            return Ok(());
        }
        match self.de.byte()? {
            TAG_NONE => Ok(()),
            _ => Err(ValueError(
                "invalid type: data where a unit variant was expected".into(),
            )),
        }
    }

    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, ValueError> {
        if !self.payload {
            return Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &"a newtype variant",
            ));
        }
        seed.deserialize(&mut *self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        if !self.payload {
            return Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &"a tuple variant",
            ));
        }
        de::Deserializer::deserialize_tuple(&mut *self.de, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        if !self.payload {
            return Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &"a struct variant",
            ));
        }
        de::Deserializer::deserialize_any(&mut *self.de, visitor)
    }
}
