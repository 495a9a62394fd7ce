//! Spark `struct<...>` values: what `#[derive(sparkwasm::SqlStruct)]` builds on, and the
//! compile-time strings that name a derived struct's Spark type.
//!
//! A struct column is one child column per field, each as long as the struct
//! (`sparkwasm_abi::columnar`). The derive generates, per struct, a column view holding one
//! field column view each (so reading a row builds the struct from its fields, with no
//! allocation beyond the fields' own, such as a `String` field's copy) and a result builder
//! holding one field builder each. The helpers here are the parts every derived struct
//! shares.
//!
//! The Spark type string of a derived struct (`struct<a:int,b:string>`) is
//! [`SqlStruct::SQL_TYPE`], a `const`: the derive sees only its own fields' spellings, so a
//! field of another derived struct is named by that struct's constant, and `#[udf]` does
//! the same for the descriptor it puts in the module's custom section. Both concatenate the
//! pieces at compile time with [`concat_len`] and [`concat_bytes`].

use sparkwasm_abi::columnar::{ColumnView, NodeHeader, NodeParts, TypeTag};

use crate::sql::builder::{node_len, ValidityBuilder};
use crate::sql::column::{check_type, Scratch, Validity};

/// A struct with `#[derive(sparkwasm::SqlStruct)]`: a Spark `struct<...>` with one field per
/// Rust field, named as in Rust.
///
/// ```ignore
/// #[derive(sparkwasm::SqlStruct)]
/// struct Point {
///     a: i32,
///     b: String,
/// }
/// assert_eq!(<Point as sparkwasm::SqlStruct>::SQL_TYPE, "struct<a:int,b:string>");
/// ```
///
/// A struct whose fields own their values (`String`, `Vec<u8>`, `Vec<T>`, other owned
/// derived structs) is both an argument and a result type; read as an argument it copies
/// those fields per row. A struct with a lifetime borrowing from the batch
/// (`struct PointRef<'a> { a: i32, b: &'a str }`, `List<'a, T>` fields) is an argument type
/// only, and copies nothing. A field may be an `Option` to see or make nulls; a null in a
/// non-`Option` field makes the whole struct count as null (the function is not called under
/// the default `nulls = "skip"`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a SQL type",
    label = "not a SQL type",
    note = "a struct is a SQL type with #[derive(sparkwasm::SqlStruct)]; the other SQL types \
            are bool, i8, i16, i32, i64, f32, f64, &str/String, &[u8]/Vec<u8>, Date, \
            Timestamp, TimestampNtz, Decimal<P, S>, sparkwasm::List<T> (arguments), Vec<T> \
            (results) and Option<T> (type aliases are not resolved)"
)]
pub trait SqlStruct {
    /// The Spark type, as its `simpleString`: `struct<a:int,b:string>`.
    const SQL_TYPE: &'static str;
}

/// The struct-level part of a derived struct's result column: its length and validity.
#[derive(Default)]
pub struct StructRows {
    validity: ValidityBuilder,
    len: usize,
}

impl StructRows {
    /// An empty column.
    pub fn new() -> Self {
        StructRows::default()
    }

    /// Records the next row as a struct (`valid`) or a null.
    #[inline]
    pub fn push(&mut self, valid: bool) {
        self.validity.push(self.len, valid);
        self.len += 1;
    }

    /// Empties the column, keeping its allocation.
    pub fn clear(&mut self) {
        self.validity.clear();
        self.len = 0;
    }

    /// Rows written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no row was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The struct's node, with `fields` children.
    pub fn node(&self, fields: usize) -> NodeParts<'_> {
        NodeParts {
            header: NodeHeader {
                tag: TypeTag::Struct,
                precision: 0,
                scale: 0,
                children: u32::try_from(fields).unwrap_or(u32::MAX),
                len: node_len(self.len),
            },
            validity: self.validity.bitmap(),
            offsets: &[],
            values: &[],
        }
    }
}

/// The parts of a struct argument column of `fields` fields: the field columns, a scratch
/// tree per field, and the struct's own validity. Fails when the column is not a struct of
/// that many fields.
#[allow(clippy::type_complexity)]
pub fn struct_parts<'a, 'v>(
    view: &'a ColumnView<'v>,
    scratch: &'a mut Scratch,
    fields: usize,
) -> Result<(&'a [ColumnView<'v>], &'a mut [Scratch], Validity<'a>), String> {
    check_type(view, TypeTag::Struct, 0, 0)?;
    if view.children.len() != fields {
        return Err(format!(
            "a struct column of {} fields, expected {fields}",
            view.children.len()
        ));
    }
    let (_, kids) = scratch.split::<u8>(&[], fields);
    Ok((&view.children, kids, Validity::of(view)))
}

/// The message of a field column that cannot be read.
pub fn field_error(field: &str, message: String) -> String {
    format!("field `{field}`: {message}")
}

/// The total length of `parts` (a `const` helper of the generated code).
pub const fn concat_len(parts: &[&str]) -> usize {
    let mut len = 0;
    let mut i = 0;
    while i < parts.len() {
        len += parts[i].len();
        i += 1;
    }
    len
}

/// `parts` concatenated into `N` bytes, where `N` is [`concat_len`] of them, or that plus 4
/// with `length_prefix`: then the bytes start with `N - 4` as a little-endian `u32`, as a
/// descriptor entry of the `sparkwasm.functions` section does. Evaluated at compile time
/// (a wrong `N` stops the build).
pub const fn concat_bytes<const N: usize>(parts: &[&str], length_prefix: bool) -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    if length_prefix {
        assert!(N >= 4 && N - 4 <= u32::MAX as usize);
        let len = ((N - 4) as u32).to_le_bytes();
        while at < 4 {
            out[at] = len[at];
            at += 1;
        }
    }
    let mut i = 0;
    while i < parts.len() {
        let bytes = parts[i].as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            assert!(at < N, "concat_bytes: more bytes than N");
            out[at] = bytes[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(at == N, "concat_bytes: fewer bytes than N");
    out
}

/// `bytes` as a string (a `const` helper: the bytes are a concatenation of strings, so this
/// cannot fail; if it did, the build would stop).
pub const fn utf8(bytes: &'static [u8]) -> &'static str {
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => panic!("a concatenation of strings is UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_concatenate_at_compile_time() {
        const PARTS: &[&str] = &["struct<a:", "int", ",b:array<", "string", ">>"];
        const LEN: usize = concat_len(PARTS);
        const BYTES: [u8; LEN] = concat_bytes::<LEN>(PARTS, false);
        const TEXT: &str = utf8(&BYTES);
        assert_eq!(TEXT, "struct<a:int,b:array<string>>");
        const ENTRY: [u8; 7] = concat_bytes::<7>(&["a", "", "bc"], true);
        assert_eq!(ENTRY, [3, 0, 0, 0, b'a', b'b', b'c']);
    }

    #[test]
    fn struct_rows_make_a_struct_node() {
        let mut rows = StructRows::new();
        rows.push(true);
        rows.push(false);
        let node = rows.node(2);
        assert_eq!(
            (node.header.tag, node.header.children, node.header.len),
            (TypeTag::Struct, 2, 2)
        );
        assert_eq!(node.validity, Some(&[0b01][..]));
        rows.clear();
        assert!(rows.is_empty() && rows.node(2).validity.is_none());
    }
}
