//! The columnar batch layout of SQL functions (ABI 4): how the host hands a guest the
//! argument columns of a batch of rows, and how the guest hands back its result column.
//!
//! The host reads Spark's Arrow IPC and writes this simpler layout into the guest's buffer;
//! the guest views the buffers in place (a `&[i64]` over the values, no per-value work) and
//! answers in the same layout, which the host validates before turning it back into Arrow.
//! Parsing IPC inside the guest would cost every module 1.5–2.3 MB of code
//! (`docs/design/arrow-udfs.md` §2).
//!
//! ```text
//! header (24 bytes):  b"SWCB" | u32 op | u32 rows | u32 node count | u32 top-level columns | u32 0
//! node table:         node count × 32 bytes, columns in pre-order (a list or struct is
//!                     followed by its children):
//!     u8 type tag | u8 flags (bit 0: has validity) | u8 precision | i8 scale |
//!     u32 children | u32 len (values of this node) | u32 validity offset |
//!     u32 offsets offset | u32 values offset | u32 values length | u32 0
//! buffers:            each starting at a multiple of 8 from the batch start
//! ```
//!
//! All integers are little-endian and all buffer offsets count from the batch start, which
//! both sides place 8-byte aligned so fixed-width values can be viewed in place. Validity is
//! an Arrow bitmap (least significant bit first, set = not null; absent = no nulls).
//! Booleans are one byte each (0 or 1). Strings, binaries and lists carry `len + 1` `i32`
//! offsets starting at 0 and never decreasing; the last is the values length (the child's
//! length for a list). Decimals are `i128`, timestamps `i64` microseconds since the epoch
//! (UTC for `timestamp`), dates `i32` days since the epoch.
//!
//! [`read_batch`] checks all of it, so a view never indexes out of bounds; both the host
//! (reading guest output) and the guest (reading host input) use it.

use std::fmt;

/// The four bytes a columnar batch starts with.
pub const BATCH_MAGIC: &[u8; 4] = b"SWCB";
/// Bytes of the batch header.
pub const HEADER_LEN: usize = 24;
/// Bytes of one node of the node table.
pub const NODE_LEN: usize = 32;
/// Alignment of every buffer, relative to the batch start.
pub const BUFFER_ALIGN: usize = 8;
/// Flag bit of a node that has a validity bitmap.
pub const FLAG_VALIDITY: u8 = 1;

/// What a batch asks of the guest (input), or what it is (output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Op {
    /// Scalar UDFs: one result row per row (input); result rows (output).
    Rows = 0,
    /// Aggregate UDFs: rows of the current group, to fold into its accumulator.
    GroupRows = 1,
    /// Aggregate UDFs: the current group is complete (no columns, zero rows); the guest
    /// finishes its accumulator into one result row.
    GroupEnd = 2,
}

impl Op {
    fn from_u32(value: u32) -> Option<Op> {
        match value {
            0 => Some(Op::Rows),
            1 => Some(Op::GroupRows),
            2 => Some(Op::GroupEnd),
            _ => None,
        }
    }
}

/// The type tag of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TypeTag {
    /// `boolean`: one byte per value, 0 or 1.
    Boolean = 1,
    /// `tinyint`: `i8`.
    Byte = 2,
    /// `smallint`: `i16`.
    Short = 3,
    /// `int`: `i32`.
    Int = 4,
    /// `bigint`: `i64`.
    Long = 5,
    /// `float`: `f32`.
    Float = 6,
    /// `double`: `f64`.
    Double = 7,
    /// `string`: UTF-8 bytes with `i32` offsets.
    String = 8,
    /// `binary`: bytes with `i32` offsets.
    Binary = 9,
    /// `date`: `i32` days since 1970-01-01.
    Date = 10,
    /// `timestamp`: `i64` microseconds since the epoch, UTC.
    Timestamp = 11,
    /// `timestamp_ntz`: `i64` microseconds, no time zone.
    TimestampNtz = 12,
    /// `decimal(p, s)`: `i128` unscaled values; precision and scale in the node.
    Decimal = 13,
    /// `array<T>`: `i32` offsets into its one child.
    Array = 14,
    /// `struct<...>`: one child per field, each as long as the struct.
    Struct = 15,
}

impl TypeTag {
    /// The tag with this number.
    pub fn from_u8(value: u8) -> Option<TypeTag> {
        use TypeTag as T;
        Some(match value {
            1 => T::Boolean,
            2 => T::Byte,
            3 => T::Short,
            4 => T::Int,
            5 => T::Long,
            6 => T::Float,
            7 => T::Double,
            8 => T::String,
            9 => T::Binary,
            10 => T::Date,
            11 => T::Timestamp,
            12 => T::TimestampNtz,
            13 => T::Decimal,
            14 => T::Array,
            15 => T::Struct,
            _ => return None,
        })
    }

    /// Bytes per value of a fixed-width type; `None` for strings, binaries and nested types.
    pub fn width(self) -> Option<usize> {
        use TypeTag as T;
        match self {
            T::Boolean | T::Byte => Some(1),
            T::Short => Some(2),
            T::Int | T::Float | T::Date => Some(4),
            T::Long | T::Double | T::Timestamp | T::TimestampNtz => Some(8),
            T::Decimal => Some(16),
            T::String | T::Binary | T::Array | T::Struct => None,
        }
    }

    /// Whether values are addressed through `i32` offsets.
    pub fn has_offsets(self) -> bool {
        matches!(self, TypeTag::String | TypeTag::Binary | TypeTag::Array)
    }
}

/// A Spark SQL type as SQL functions declare it, spelled as Spark's `simpleString`
/// (`bigint`, `decimal(10,2)`, `array<string>`, `struct<a:int,b:string>`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SqlType {
    /// `boolean`.
    Boolean,
    /// `tinyint`.
    Byte,
    /// `smallint`.
    Short,
    /// `int`.
    Int,
    /// `bigint`.
    Long,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `string`.
    String,
    /// `binary`.
    Binary,
    /// `date`.
    Date,
    /// `timestamp` (with the session time zone; values are UTC microseconds).
    Timestamp,
    /// `timestamp_ntz`.
    TimestampNtz,
    /// `decimal(precision, scale)`, precision 1..=38.
    Decimal {
        /// Total digits.
        precision: u8,
        /// Digits after the point.
        scale: i8,
    },
    /// `array<T>`.
    Array(Box<SqlType>),
    /// `struct<name:T,...>`.
    Struct(Vec<(String, SqlType)>),
}

/// A type string that is not a Spark type sparkwasm supports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeParseError(pub String);

impl fmt::Display for TypeParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TypeParseError {}

impl SqlType {
    /// Parses Spark's simple string of a type (case-insensitive keywords, spaces allowed;
    /// `int`/`integer`, `bigint`/`long`, `tinyint`/`byte`, `smallint`/`short` and `decimal`
    /// meaning `decimal(10,0)` are accepted as Spark accepts them).
    pub fn parse(text: &str) -> Result<SqlType, TypeParseError> {
        let mut parser = TypeParser {
            text: text.as_bytes(),
            at: 0,
        };
        let ty = parser.parse_type()?;
        parser.skip_spaces();
        if parser.at != parser.text.len() {
            return Err(parser.error("unexpected text after the type"));
        }
        Ok(ty)
    }

    /// The node tag of this type.
    pub fn tag(&self) -> TypeTag {
        use SqlType as S;
        match self {
            S::Boolean => TypeTag::Boolean,
            S::Byte => TypeTag::Byte,
            S::Short => TypeTag::Short,
            S::Int => TypeTag::Int,
            S::Long => TypeTag::Long,
            S::Float => TypeTag::Float,
            S::Double => TypeTag::Double,
            S::String => TypeTag::String,
            S::Binary => TypeTag::Binary,
            S::Date => TypeTag::Date,
            S::Timestamp => TypeTag::Timestamp,
            S::TimestampNtz => TypeTag::TimestampNtz,
            S::Decimal { .. } => TypeTag::Decimal,
            S::Array(_) => TypeTag::Array,
            S::Struct(_) => TypeTag::Struct,
        }
    }

    /// Whether a node (and its children, which follow it in `nodes`) has this type. Returns
    /// the nodes the type spans, or `None` on a mismatch.
    pub fn matches(&self, nodes: &[NodeHeader]) -> Option<usize> {
        let node = nodes.first()?;
        if node.tag != self.tag() {
            return None;
        }
        match self {
            SqlType::Decimal { precision, scale } => {
                (node.precision == *precision && node.scale == *scale && node.children == 0)
                    .then_some(1)
            }
            SqlType::Array(element) => {
                if node.children != 1 {
                    return None;
                }
                Some(1 + element.matches(&nodes[1..])?)
            }
            SqlType::Struct(fields) => {
                if node.children as usize != fields.len() {
                    return None;
                }
                let mut used = 1;
                for (_, field) in fields {
                    used += field.matches(&nodes[used..])?;
                }
                Some(used)
            }
            _ => (node.children == 0).then_some(1),
        }
    }
}

impl fmt::Display for SqlType {
    /// Spark's `simpleString`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SqlType as S;
        match self {
            S::Boolean => f.write_str("boolean"),
            S::Byte => f.write_str("tinyint"),
            S::Short => f.write_str("smallint"),
            S::Int => f.write_str("int"),
            S::Long => f.write_str("bigint"),
            S::Float => f.write_str("float"),
            S::Double => f.write_str("double"),
            S::String => f.write_str("string"),
            S::Binary => f.write_str("binary"),
            S::Date => f.write_str("date"),
            S::Timestamp => f.write_str("timestamp"),
            S::TimestampNtz => f.write_str("timestamp_ntz"),
            S::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            S::Array(element) => write!(f, "array<{element}>"),
            S::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, (name, ty)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{name}:{ty}")?;
                }
                f.write_str(">")
            }
        }
    }
}

struct TypeParser<'a> {
    text: &'a [u8],
    at: usize,
}

impl TypeParser<'_> {
    fn error(&self, what: &str) -> TypeParseError {
        TypeParseError(format!(
            "{what} at character {} of Spark type `{}` (supported: boolean, tinyint, smallint, \
             int, bigint, float, double, string, binary, date, timestamp, timestamp_ntz, \
             decimal(p,s), array<T>, struct<name:T,...>)",
            self.at,
            String::from_utf8_lossy(self.text)
        ))
    }

    fn skip_spaces(&mut self) {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn word(&mut self) -> String {
        self.skip_spaces();
        let start = self.at;
        while self
            .text
            .get(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.at += 1;
        }
        String::from_utf8_lossy(&self.text[start..self.at]).into_owned()
    }

    fn expect(&mut self, byte: u8) -> Result<(), TypeParseError> {
        self.skip_spaces();
        if self.text.get(self.at) == Some(&byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected `{}`", byte as char)))
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_spaces();
        self.text.get(self.at).copied()
    }

    fn number(&mut self) -> Result<i64, TypeParseError> {
        self.skip_spaces();
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let digits = self.word();
        let value: i64 = digits
            .parse()
            .map_err(|_| self.error("expected a number"))?;
        Ok(if negative { -value } else { value })
    }

    fn parse_type(&mut self) -> Result<SqlType, TypeParseError> {
        let word = self.word().to_ascii_lowercase();
        Ok(match word.as_str() {
            "boolean" => SqlType::Boolean,
            "tinyint" | "byte" => SqlType::Byte,
            "smallint" | "short" => SqlType::Short,
            "int" | "integer" => SqlType::Int,
            "bigint" | "long" => SqlType::Long,
            "float" | "real" => SqlType::Float,
            "double" => SqlType::Double,
            "string" => SqlType::String,
            "binary" => SqlType::Binary,
            "date" => SqlType::Date,
            "timestamp" | "timestamp_ltz" => SqlType::Timestamp,
            "timestamp_ntz" => SqlType::TimestampNtz,
            "decimal" | "dec" | "numeric" => {
                if self.peek() != Some(b'(') {
                    return Ok(SqlType::Decimal {
                        precision: 10,
                        scale: 0,
                    });
                }
                self.expect(b'(')?;
                let precision = self.number()?;
                let scale = if self.peek() == Some(b',') {
                    self.expect(b',')?;
                    self.number()?
                } else {
                    0
                };
                self.expect(b')')?;
                if !(1..=38).contains(&precision) || scale > precision || scale < 0 {
                    return Err(
                        self.error("decimal precision must be 1..=38 and scale 0..=precision")
                    );
                }
                SqlType::Decimal {
                    precision: precision as u8,
                    scale: scale as i8,
                }
            }
            "array" => {
                self.expect(b'<')?;
                let element = self.parse_type()?;
                self.expect(b'>')?;
                SqlType::Array(Box::new(element))
            }
            "struct" => {
                self.expect(b'<')?;
                let mut fields = Vec::new();
                if self.peek() != Some(b'>') {
                    loop {
                        let name = self.word();
                        if name.is_empty() {
                            return Err(self.error("expected a field name"));
                        }
                        self.expect(b':')?;
                        fields.push((name, self.parse_type()?));
                        if self.peek() == Some(b',') {
                            self.expect(b',')?;
                        } else {
                            break;
                        }
                    }
                }
                self.expect(b'>')?;
                SqlType::Struct(fields)
            }
            _ => return Err(self.error("unknown or unsupported type")),
        })
    }
}

/// A batch that breaks the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutError(pub String);

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed columnar batch: {}", self.0)
    }
}

impl std::error::Error for LayoutError {}

fn layout_error(message: impl Into<String>) -> LayoutError {
    LayoutError(message.into())
}

/// One entry of the node table, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeHeader {
    /// The type.
    pub tag: TypeTag,
    /// Decimal precision (0 otherwise).
    pub precision: u8,
    /// Decimal scale (0 otherwise).
    pub scale: i8,
    /// Child nodes (1 for an array, the field count for a struct).
    pub children: u32,
    /// Values in this node.
    pub len: u32,
}

/// A checked view of one column (node) of a batch, with its children.
#[derive(Clone, Debug)]
pub struct ColumnView<'a> {
    /// The node's header.
    pub header: NodeHeader,
    /// The validity bitmap, `None` when no value is null.
    pub validity: Option<&'a [u8]>,
    /// `len + 1` little-endian `i32` offsets (strings, binaries, arrays), else empty.
    pub offsets: &'a [u8],
    /// The values buffer (empty for arrays and structs).
    pub values: &'a [u8],
    /// The children (array element, struct fields).
    pub children: Vec<ColumnView<'a>>,
}

impl ColumnView<'_> {
    /// Values in the column.
    pub fn len(&self) -> usize {
        self.header.len as usize
    }

    /// Whether the column has no values.
    pub fn is_empty(&self) -> bool {
        self.header.len == 0
    }

    /// Whether value `i` is not null (`i` below [`Self::len`]).
    pub fn is_valid(&self, i: usize) -> bool {
        match self.validity {
            None => true,
            Some(bits) => bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0),
        }
    }

    /// Whether any value is null.
    pub fn has_nulls(&self) -> bool {
        self.validity.is_some_and(|bits| {
            let len = self.len();
            (0..len).any(|i| bits[i / 8] & (1 << (i % 8)) == 0)
        })
    }

    /// Offset `i` (0..=len) of a string, binary or array column.
    pub fn offset(&self, i: usize) -> usize {
        let at = i * 4;
        match self.offsets.get(at..at + 4) {
            Some(b) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
            None => 0,
        }
    }

    /// The bytes of value `i` of a string or binary column.
    pub fn bytes(&self, i: usize) -> &[u8] {
        self.values
            .get(self.offset(i)..self.offset(i + 1))
            .unwrap_or_default()
    }
}

/// A checked view of a batch.
#[derive(Clone, Debug)]
pub struct BatchView<'a> {
    /// What the batch asks for, or is.
    pub op: Op,
    /// Rows in the batch.
    pub rows: usize,
    /// The top-level columns.
    pub columns: Vec<ColumnView<'a>>,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Reads and checks a batch: header, node table, every buffer in bounds and of the size its
/// type and length need, offsets starting at 0, never decreasing and ending at the values
/// (or child) length, booleans 0 or 1, struct children as long as the struct, top-level
/// columns as long as the batch. UTF-8 is not checked here (the host checks guest strings).
pub fn read_batch(bytes: &[u8]) -> Result<BatchView<'_>, LayoutError> {
    if bytes.len() < HEADER_LEN {
        return Err(layout_error(format!(
            "{} bytes, shorter than the header",
            bytes.len()
        )));
    }
    if &bytes[..4] != BATCH_MAGIC {
        return Err(layout_error("it does not start with SWCB"));
    }
    let op = Op::from_u32(u32_at(bytes, 4))
        .ok_or_else(|| layout_error(format!("unknown op {}", u32_at(bytes, 4))))?;
    let rows = u32_at(bytes, 8) as usize;
    let node_count = u32_at(bytes, 12) as usize;
    let top_level = u32_at(bytes, 16) as usize;
    let table_end = node_count
        .checked_mul(NODE_LEN)
        .and_then(|n| n.checked_add(HEADER_LEN))
        .filter(|end| *end <= bytes.len())
        .ok_or_else(|| layout_error(format!("{node_count} nodes do not fit the batch")))?;
    let mut reader = NodeReader {
        bytes,
        next: 0,
        node_count,
    };
    let mut columns = Vec::with_capacity(top_level.min(node_count));
    while reader.next < node_count {
        let column = reader.read_node(0)?;
        if column.len() != rows {
            return Err(layout_error(format!(
                "column {} has {} values for {rows} rows",
                columns.len(),
                column.len()
            )));
        }
        columns.push(column);
    }
    if columns.len() != top_level {
        return Err(layout_error(format!(
            "the header says {top_level} columns, the node table holds {}",
            columns.len()
        )));
    }
    debug_assert!(table_end <= bytes.len());
    Ok(BatchView { op, rows, columns })
}

/// Nesting deeper than this is refused (it bounds the reader's recursion).
const MAX_DEPTH: usize = 32;

struct NodeReader<'a> {
    bytes: &'a [u8],
    next: usize,
    node_count: usize,
}

impl<'a> NodeReader<'a> {
    fn buffer(
        &self,
        node: usize,
        what: &str,
        off: u32,
        len: usize,
    ) -> Result<&'a [u8], LayoutError> {
        let start = off as usize;
        if len == 0 {
            return Ok(&[]);
        }
        if !start.is_multiple_of(BUFFER_ALIGN) {
            return Err(layout_error(format!(
                "node {node}: the {what} buffer at {start} is not 8-aligned"
            )));
        }
        start
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .map(|end| &self.bytes[start..end])
            .ok_or_else(|| {
                layout_error(format!(
                    "node {node}: the {what} buffer ({len} bytes at {start}) is outside the batch ({} bytes)",
                    self.bytes.len()
                ))
            })
    }

    fn read_node(&mut self, depth: usize) -> Result<ColumnView<'a>, LayoutError> {
        if depth > MAX_DEPTH {
            return Err(layout_error("columns nested deeper than 32 levels"));
        }
        let index = self.next;
        if index >= self.node_count {
            return Err(layout_error(
                "a nested column's children run past the node table",
            ));
        }
        self.next += 1;
        let at = HEADER_LEN + index * NODE_LEN;
        let b = self.bytes;
        let tag = TypeTag::from_u8(b[at])
            .ok_or_else(|| layout_error(format!("node {index}: unknown type tag {}", b[at])))?;
        let flags = b[at + 1];
        let header = NodeHeader {
            tag,
            precision: b[at + 2],
            scale: b[at + 3] as i8,
            children: u32_at(b, at + 4),
            len: u32_at(b, at + 8),
        };
        let len = header.len as usize;
        let validity = if flags & FLAG_VALIDITY != 0 {
            Some(self.buffer(index, "validity", u32_at(b, at + 12), len.div_ceil(8))?)
        } else {
            None
        };
        let offsets = if tag.has_offsets() {
            // Checked: on 32-bit targets `len + 1` offsets of 4 bytes can overflow `usize`.
            let size = len
                .checked_add(1)
                .and_then(|n| n.checked_mul(4))
                .ok_or_else(|| layout_error(format!("node {index}: {len} values overflow")))?;
            let offsets = self.buffer(index, "offsets", u32_at(b, at + 16), size)?;
            Some(offsets)
        } else {
            None
        };
        let values_len = u32_at(b, at + 24) as usize;
        let values = self.buffer(index, "values", u32_at(b, at + 20), values_len)?;
        let expected_children = match tag {
            TypeTag::Array => 1,
            TypeTag::Struct => header.children,
            _ => 0,
        };
        if header.children != expected_children {
            return Err(layout_error(format!(
                "node {index}: a {tag:?} node with {} children",
                header.children
            )));
        }
        if let Some(width) = tag.width() {
            if len.checked_mul(width) != Some(values_len) {
                return Err(layout_error(format!(
                    "node {index}: {len} {tag:?} values need {} bytes, the buffer has {values_len}",
                    u128::from(header.len) * width as u128
                )));
            }
            if tag == TypeTag::Boolean && values.iter().any(|v| *v > 1) {
                return Err(layout_error(format!(
                    "node {index}: a boolean that is not 0 or 1"
                )));
            }
            if tag == TypeTag::Decimal && !(1..=38).contains(&header.precision) {
                return Err(layout_error(format!(
                    "node {index}: decimal precision {}",
                    header.precision
                )));
            }
        } else if matches!(tag, TypeTag::Array | TypeTag::Struct) && values_len != 0 {
            return Err(layout_error(format!(
                "node {index}: a {tag:?} node with a values buffer"
            )));
        }
        // A node cannot have more children than nodes remain; the count is untrusted, so it
        // must not size an allocation on its own.
        let remaining = self.node_count - self.next;
        let mut children = Vec::with_capacity((header.children as usize).min(remaining));
        for _ in 0..header.children {
            children.push(self.read_node(depth + 1)?);
        }
        if let Some(offsets) = offsets {
            let end = if tag == TypeTag::Array {
                children[0].len()
            } else {
                values_len
            };
            check_offsets(index, offsets, end)?;
        }
        if tag == TypeTag::Struct {
            if let Some(child) = children.iter().find(|c| c.len() != len) {
                return Err(layout_error(format!(
                    "node {index}: a struct of {len} values has a field of {}",
                    child.len()
                )));
            }
        }
        Ok(ColumnView {
            header,
            validity,
            offsets: offsets.unwrap_or_default(),
            values,
            children,
        })
    }
}

fn check_offsets(node: usize, offsets: &[u8], end: usize) -> Result<(), LayoutError> {
    let mut previous = 0i64;
    for (i, chunk) in offsets.chunks_exact(4).enumerate() {
        let offset = i64::from(i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
        if (i == 0 && offset != 0) || offset < previous {
            return Err(layout_error(format!(
                "node {node}: offset {i} is {offset} after {previous}"
            )));
        }
        previous = offset;
    }
    if previous != end as i64 {
        return Err(layout_error(format!(
            "node {node}: the last offset is {previous}, the data has {end}"
        )));
    }
    Ok(())
}

/// One node to write, in pre-order (its children follow it).
#[derive(Clone, Copy, Debug)]
pub struct NodeParts<'a> {
    /// The node's header.
    pub header: NodeHeader,
    /// The validity bitmap (at least `len.div_ceil(8)` bytes), or `None` for no nulls.
    pub validity: Option<&'a [u8]>,
    /// `len + 1` little-endian `i32` offsets for strings, binaries and arrays, else empty.
    pub offsets: &'a [u8],
    /// The values bytes.
    pub values: &'a [u8],
}

/// Writes a batch of `rows` rows into `out` (cleared first): `nodes` in pre-order, with
/// `top_level` top-level columns. The writer lays the buffers out; [`read_batch`] is the
/// check, and the host runs it on whatever a guest writes.
pub fn write_batch(out: &mut Vec<u8>, op: Op, rows: u32, top_level: u32, nodes: &[NodeParts<'_>]) {
    out.clear();
    let table_end = HEADER_LEN + nodes.len() * NODE_LEN;
    let data: usize = nodes
        .iter()
        .map(|n| {
            n.validity.map_or(0, |v| v.len() + BUFFER_ALIGN)
                + n.offsets.len()
                + n.values.len()
                + 2 * BUFFER_ALIGN
        })
        .sum();
    out.reserve(table_end + data);
    out.extend_from_slice(BATCH_MAGIC);
    for word in [op as u32, rows, nodes.len() as u32, top_level, 0] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.resize(table_end, 0);
    for (i, node) in nodes.iter().enumerate() {
        let validity_off = match node.validity {
            Some(bits) => {
                let keep = (node.header.len as usize).div_ceil(8).min(bits.len());
                append_aligned(out, &bits[..keep])
            }
            None => 0,
        };
        let offsets_off = if node.offsets.is_empty() {
            0
        } else {
            append_aligned(out, node.offsets)
        };
        let values_off = if node.values.is_empty() {
            0
        } else {
            append_aligned(out, node.values)
        };
        let at = HEADER_LEN + i * NODE_LEN;
        let entry = &mut out[at..at + NODE_LEN];
        entry[0] = node.header.tag as u8;
        entry[1] = if node.validity.is_some() {
            FLAG_VALIDITY
        } else {
            0
        };
        entry[2] = node.header.precision;
        entry[3] = node.header.scale as u8;
        for (slot, word) in [
            node.header.children,
            node.header.len,
            validity_off,
            offsets_off,
            values_off,
            node.values.len() as u32,
            0,
        ]
        .into_iter()
        .enumerate()
        {
            entry[4 + slot * 4..8 + slot * 4].copy_from_slice(&word.to_le_bytes());
        }
    }
}

/// Pads `out` to the buffer alignment and appends `bytes`; returns where they start.
fn append_aligned(out: &mut Vec<u8>, bytes: &[u8]) -> u32 {
    let start = out.len().next_multiple_of(BUFFER_ALIGN);
    out.resize(start, 0);
    out.extend_from_slice(bytes);
    start as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(tag: TypeTag, len: u32) -> NodeHeader {
        NodeHeader {
            tag,
            precision: 0,
            scale: 0,
            children: 0,
            len,
        }
    }

    #[test]
    fn type_strings_round_trip_through_parse_and_display() {
        for text in [
            "boolean",
            "tinyint",
            "smallint",
            "int",
            "bigint",
            "float",
            "double",
            "string",
            "binary",
            "date",
            "timestamp",
            "timestamp_ntz",
            "decimal(10,2)",
            "decimal(38,6)",
            "array<int>",
            "array<array<string>>",
            "struct<a:int,b:string>",
            "struct<>",
        ] {
            assert_eq!(SqlType::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(SqlType::parse("INTEGER").unwrap(), SqlType::Int);
        assert_eq!(SqlType::parse(" Long ").unwrap(), SqlType::Long);
        assert_eq!(
            SqlType::parse("decimal").unwrap(),
            SqlType::Decimal {
                precision: 10,
                scale: 0
            }
        );
        assert_eq!(
            SqlType::parse("struct< a : int , b: array<double> >")
                .unwrap()
                .to_string(),
            "struct<a:int,b:array<double>>"
        );
    }

    #[test]
    fn unsupported_types_are_refused_with_the_list_of_supported_ones() {
        for text in [
            "map<string,int>",
            "decimal(39,0)",
            "decimal(5,6)",
            "array<int",
            "int int",
            "",
        ] {
            let error = SqlType::parse(text).unwrap_err().to_string();
            assert!(error.contains("supported:"), "{text}: {error}");
        }
    }

    #[test]
    fn a_written_batch_reads_back_with_every_buffer() {
        let validity = [0b101u8];
        let longs: Vec<u8> = [7i64, 0, -3].iter().flat_map(|v| v.to_le_bytes()).collect();
        let offsets: Vec<u8> = [0i32, 2, 2, 5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut out = Vec::new();
        write_batch(
            &mut out,
            Op::Rows,
            3,
            2,
            &[
                NodeParts {
                    header: node(TypeTag::Long, 3),
                    validity: Some(&validity),
                    offsets: &[],
                    values: &longs,
                },
                NodeParts {
                    header: node(TypeTag::String, 3),
                    validity: None,
                    offsets: &offsets,
                    values: b"hiabc",
                },
            ],
        );
        let batch = read_batch(&out).unwrap();
        assert_eq!(
            (batch.op, batch.rows, batch.columns.len()),
            (Op::Rows, 3, 2)
        );
        let longs_view = &batch.columns[0];
        assert!(longs_view.is_valid(0) && !longs_view.is_valid(1) && longs_view.is_valid(2));
        assert!(longs_view.has_nulls());
        assert_eq!(longs_view.values, &longs[..]);
        let strings = &batch.columns[1];
        assert_eq!(
            (strings.bytes(0), strings.bytes(1), strings.bytes(2)),
            (&b"hi"[..], &b""[..], &b"abc"[..])
        );
        assert!(!strings.has_nulls());
    }

    #[test]
    fn nested_columns_read_back_and_match_their_type() {
        let offsets: Vec<u8> = [0i32, 1, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
        let ints: Vec<u8> = [1i32, 2, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut out = Vec::new();
        let mut array = node(TypeTag::Array, 2);
        array.children = 1;
        write_batch(
            &mut out,
            Op::Rows,
            2,
            1,
            &[
                NodeParts {
                    header: array,
                    validity: None,
                    offsets: &offsets,
                    values: &[],
                },
                NodeParts {
                    header: node(TypeTag::Int, 3),
                    validity: None,
                    offsets: &[],
                    values: &ints,
                },
            ],
        );
        let batch = read_batch(&out).unwrap();
        assert_eq!(batch.columns[0].children[0].len(), 3);
        let headers = [batch.columns[0].header, batch.columns[0].children[0].header];
        assert_eq!(
            SqlType::parse("array<int>").unwrap().matches(&headers),
            Some(2)
        );
        assert_eq!(
            SqlType::parse("array<bigint>").unwrap().matches(&headers),
            None
        );
    }

    #[test]
    fn broken_batches_are_errors_not_panics() {
        let longs = 5i64.to_le_bytes();
        let mut good = Vec::new();
        write_batch(
            &mut good,
            Op::Rows,
            1,
            1,
            &[NodeParts {
                header: node(TypeTag::Long, 1),
                validity: None,
                offsets: &[],
                values: &longs,
            }],
        );
        assert!(read_batch(&good).is_ok());
        // Every truncation, and every single-byte corruption, is an error or a valid batch;
        // never a panic.
        for cut in 0..good.len() {
            assert!(read_batch(&good[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..good.len() {
            for value in [0u8, 1, 2, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[at] = value;
                let _ = read_batch(&bad);
            }
        }
        let offsets: Vec<u8> = [0i32, 3, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut decreasing = Vec::new();
        write_batch(
            &mut decreasing,
            Op::Rows,
            2,
            1,
            &[NodeParts {
                header: node(TypeTag::String, 2),
                validity: None,
                offsets: &offsets,
                values: b"abc",
            }],
        );
        let error = read_batch(&decreasing).unwrap_err().to_string();
        assert!(error.contains("offset 2 is 1 after 3"), "{error}");
        let mut wrong_rows = Vec::new();
        write_batch(
            &mut wrong_rows,
            Op::Rows,
            2,
            1,
            &[NodeParts {
                header: node(TypeTag::Long, 1),
                validity: None,
                offsets: &[],
                values: &longs,
            }],
        );
        assert!(read_batch(&wrong_rows)
            .unwrap_err()
            .to_string()
            .contains("1 values for 2 rows"));
        // A struct claiming u32::MAX children is an error, not a huge allocation.
        let mut greedy = Vec::new();
        let mut header = node(TypeTag::Struct, 0);
        header.children = u32::MAX;
        write_batch(
            &mut greedy,
            Op::Rows,
            0,
            1,
            &[NodeParts {
                header,
                validity: None,
                offsets: &[],
                values: &[],
            }],
        );
        let error = read_batch(&greedy).unwrap_err().to_string();
        assert!(
            error.contains("children run past the node table"),
            "{error}"
        );
    }
}
