//! Arrow arrays ↔ the ABI's columnar layout (`sparkwasm_abi::columnar`).
//!
//! Input: the argument columns of a Spark Arrow batch are laid out for the guest, borrowing
//! the Arrow buffers where they already have the layout's shape (fixed-width values,
//! byte-aligned validity) and converting only what differs (booleans become one byte each,
//! offsets are rebased to start at 0, 64-bit offsets narrowed).
//!
//! Output: a guest's result column is untrusted. It is read with `columnar::read_batch`
//! (bounds, offsets), checked against the declared Spark type, and rebuilt as an Arrow array
//! with full validation (UTF-8 included) before the JVM sees it.

use std::sync::Arc;

use arrow_array::types::{BinaryType, ByteArrayType, LargeBinaryType, LargeUtf8Type, Utf8Type};
use arrow_array::{make_array, Array, ArrayRef, BooleanArray, GenericByteArray, GenericListArray};
use arrow_array::{OffsetSizeTrait, StructArray};
use arrow_buffer::{ArrowNativeType, BooleanBuffer, Buffer, ToByteSlice};
use arrow_data::ArrayDataBuilder;
use arrow_schema::{DataType, Field, Fields, TimeUnit};
use sparkwasm_abi::columnar::{
    write_batch, ColumnView, NodeHeader, NodeParts, Op, SqlType, TypeTag,
};

/// The Arrow type Spark uses for `ty` (`large` selects 64-bit offsets for strings and
/// binaries: `spark.sql.execution.arrow.useLargeVarTypes`). Timestamps are written in UTC,
/// as PySpark writes them; the JVM accepts any zone for a `timestamp` column.
pub(crate) fn arrow_type(ty: &SqlType, large: bool) -> DataType {
    match ty {
        SqlType::Boolean => DataType::Boolean,
        SqlType::Byte => DataType::Int8,
        SqlType::Short => DataType::Int16,
        SqlType::Int => DataType::Int32,
        SqlType::Long => DataType::Int64,
        SqlType::Float => DataType::Float32,
        SqlType::Double => DataType::Float64,
        SqlType::String if large => DataType::LargeUtf8,
        SqlType::String => DataType::Utf8,
        SqlType::Binary if large => DataType::LargeBinary,
        SqlType::Binary => DataType::Binary,
        SqlType::Date => DataType::Date32,
        SqlType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        SqlType::TimestampNtz => DataType::Timestamp(TimeUnit::Microsecond, None),
        SqlType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
        SqlType::Array(element) => DataType::List(Arc::new(Field::new(
            "element",
            arrow_type(element, large),
            true,
        ))),
        SqlType::Struct(fields) => DataType::Struct(struct_fields(fields, large)),
    }
}

fn struct_fields(fields: &[(String, SqlType)], large: bool) -> Fields {
    fields
        .iter()
        .map(|(name, ty)| Field::new(name, arrow_type(ty, large), true))
        .collect()
}

/// Whether an input column of Arrow type `data_type` carries values of `ty` (any time zone
/// for `timestamp`, either offset width for strings and binaries, any field names' case
/// as Spark writes them).
pub(crate) fn accepts(ty: &SqlType, data_type: &DataType) -> bool {
    match (ty, data_type) {
        (SqlType::String, DataType::Utf8 | DataType::LargeUtf8) => true,
        (SqlType::Binary, DataType::Binary | DataType::LargeBinary) => true,
        (SqlType::Timestamp, DataType::Timestamp(TimeUnit::Microsecond, Some(_))) => true,
        (SqlType::Array(element), DataType::List(field)) => accepts(element, field.data_type()),
        (SqlType::Struct(fields), DataType::Struct(arrow_fields)) => {
            fields.len() == arrow_fields.len()
                && fields
                    .iter()
                    .zip(arrow_fields.iter())
                    .all(|((name, ty), field)| {
                        name.eq_ignore_ascii_case(field.name()) && accepts(ty, field.data_type())
                    })
        }
        (SqlType::Array(_) | SqlType::Struct(_), _) => false,
        (ty, data_type) => arrow_type(ty, false) == *data_type,
    }
}

/// Whether a column of Arrow type `data_type` is a narrower number type that converts to
/// `ty` without loss (`tinyint` → `smallint` … `double`, `int` → `bigint` or `double`,
/// `float` → `double`), as Spark's implicit casts for built-in functions do.
pub(crate) fn widens_to(data_type: &DataType, ty: &SqlType) -> bool {
    use SqlType as S;
    matches!(
        (data_type, ty),
        (
            DataType::Int8,
            S::Short | S::Int | S::Long | S::Float | S::Double
        ) | (DataType::Int16, S::Int | S::Long | S::Float | S::Double)
            | (DataType::Int32, S::Long | S::Double)
            | (DataType::Float32, S::Double)
    )
}

/// `array` converted to `ty` when [`widens_to`] says it must be; `None` when it already has
/// the type (or cannot be widened, which the schema check has refused before).
pub(crate) fn widen(array: &ArrayRef, ty: &SqlType) -> Option<ArrayRef> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type};
    macro_rules! convert {
        ($from:ty => $to:ty, $native:ty) => {
            Some(Arc::new(
                array
                    .as_primitive::<$from>()
                    .unary::<_, $to>(<$native>::from),
            ) as ArrayRef)
        };
    }
    match (array.data_type(), ty) {
        (DataType::Int8, SqlType::Short) => convert!(Int8Type => Int16Type, i16),
        (DataType::Int8, SqlType::Int) => convert!(Int8Type => Int32Type, i32),
        (DataType::Int8, SqlType::Long) => convert!(Int8Type => Int64Type, i64),
        (DataType::Int8, SqlType::Float) => convert!(Int8Type => Float32Type, f32),
        (DataType::Int8, SqlType::Double) => convert!(Int8Type => Float64Type, f64),
        (DataType::Int16, SqlType::Int) => convert!(Int16Type => Int32Type, i32),
        (DataType::Int16, SqlType::Long) => convert!(Int16Type => Int64Type, i64),
        (DataType::Int16, SqlType::Float) => convert!(Int16Type => Float32Type, f32),
        (DataType::Int16, SqlType::Double) => convert!(Int16Type => Float64Type, f64),
        (DataType::Int32, SqlType::Long) => convert!(Int32Type => Int64Type, i64),
        (DataType::Int32, SqlType::Double) => convert!(Int32Type => Float64Type, f64),
        (DataType::Float32, SqlType::Double) => convert!(Float32Type => Float64Type, f64),
        _ => None,
    }
}

/// Bytes of a node: borrowed from an Arrow buffer, or converted.
enum Bytes<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
    Shared(Buffer),
}

impl Bytes<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(bytes) => bytes,
            Bytes::Owned(bytes) => bytes,
            Bytes::Shared(buffer) => buffer.as_slice(),
        }
    }
}

struct Node<'a> {
    header: NodeHeader,
    validity: Option<Bytes<'a>>,
    offsets: Bytes<'a>,
    values: Bytes<'a>,
}

/// Why an Arrow column cannot be handed to the guest.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ConvertError(pub(crate) String);

/// Lays `columns` out as one columnar batch of `rows` rows into `out`.
pub(crate) fn encode_batch(
    out: &mut Vec<u8>,
    op: Op,
    rows: usize,
    columns: &[&ArrayRef],
) -> Result<(), ConvertError> {
    let rows = u32::try_from(rows)
        .map_err(|_| ConvertError(format!("a batch of {rows} rows is too large")))?;
    let mut nodes = Vec::with_capacity(columns.len());
    for column in columns {
        push_nodes(&mut nodes, column.as_ref())?;
    }
    let parts: Vec<NodeParts<'_>> = nodes
        .iter()
        .map(|node| NodeParts {
            header: node.header,
            validity: node.validity.as_ref().map(Bytes::as_slice),
            offsets: node.offsets.as_slice(),
            values: node.values.as_slice(),
        })
        .collect();
    write_batch(out, op, rows, columns.len() as u32, &parts);
    Ok(())
}

fn too_large(what: &str) -> ConvertError {
    ConvertError(format!(
        "{what} larger than 2 GiB cannot be handed to a WASM guest"
    ))
}

fn push_nodes<'a>(nodes: &mut Vec<Node<'a>>, array: &'a dyn Array) -> Result<(), ConvertError> {
    let len = u32::try_from(array.len()).map_err(|_| too_large("a column"))?;
    let validity = match array.logical_nulls() {
        Some(nulls) if nulls.null_count() > 0 => {
            let bits = nulls.inner();
            Some(if bits.offset() == 0 {
                Bytes::Shared(bits.inner().clone())
            } else {
                Bytes::Shared(bits.sliced())
            })
        }
        _ => None,
    };
    let header = |tag: TypeTag| NodeHeader {
        tag,
        precision: 0,
        scale: 0,
        children: 0,
        len,
    };
    let fixed = |tag: TypeTag, values: &'a [u8]| Node {
        header: header(tag),
        validity: None,
        offsets: Bytes::Borrowed(&[]),
        values: Bytes::Borrowed(values),
    };
    let data_type = array.data_type();
    let mut node = match data_type {
        DataType::Boolean => {
            let booleans = array
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| {
                    ConvertError("a boolean column that is not a BooleanArray".into())
                })?;
            let bytes = booleans.values().iter().map(u8::from).collect();
            Node {
                header: header(TypeTag::Boolean),
                validity: None,
                offsets: Bytes::Borrowed(&[]),
                values: Bytes::Owned(bytes),
            }
        }
        DataType::Int8 => fixed(TypeTag::Byte, primitive_bytes(array)),
        DataType::Int16 => fixed(TypeTag::Short, primitive_bytes(array)),
        DataType::Int32 => fixed(TypeTag::Int, primitive_bytes(array)),
        DataType::Int64 => fixed(TypeTag::Long, primitive_bytes(array)),
        DataType::Float32 => fixed(TypeTag::Float, primitive_bytes(array)),
        DataType::Float64 => fixed(TypeTag::Double, primitive_bytes(array)),
        DataType::Date32 => fixed(TypeTag::Date, primitive_bytes(array)),
        DataType::Timestamp(TimeUnit::Microsecond, zone) => fixed(
            if zone.is_some() {
                TypeTag::Timestamp
            } else {
                TypeTag::TimestampNtz
            },
            primitive_bytes(array),
        ),
        DataType::Decimal128(precision, scale) => {
            let mut node = fixed(TypeTag::Decimal, primitive_bytes(array));
            node.header.precision = *precision;
            node.header.scale = *scale;
            node
        }
        DataType::Utf8 => bytes_node::<Utf8Type>(array, header(TypeTag::String))?,
        DataType::LargeUtf8 => bytes_node::<LargeUtf8Type>(array, header(TypeTag::String))?,
        DataType::Binary => bytes_node::<BinaryType>(array, header(TypeTag::Binary))?,
        DataType::LargeBinary => bytes_node::<LargeBinaryType>(array, header(TypeTag::Binary))?,
        DataType::List(_) => {
            return list_nodes::<i32>(nodes, array, validity, header(TypeTag::Array))
        }
        DataType::LargeList(_) => {
            return list_nodes::<i64>(nodes, array, validity, header(TypeTag::Array))
        }
        DataType::Struct(_) => {
            let fields = array
                .as_any()
                .downcast_ref::<StructArray>()
                .ok_or_else(|| ConvertError("a struct column that is not a StructArray".into()))?;
            let mut node_header = header(TypeTag::Struct);
            node_header.children = fields.num_columns() as u32;
            nodes.push(Node {
                header: node_header,
                validity,
                offsets: Bytes::Borrowed(&[]),
                values: Bytes::Borrowed(&[]),
            });
            for child in fields.columns() {
                push_nodes(nodes, child.as_ref())?;
            }
            return Ok(());
        }
        other => {
            return Err(ConvertError(format!(
                "Arrow type {other} is not supported by sparkwasm SQL functions"
            )))
        }
    };
    node.validity = validity;
    nodes.push(node);
    Ok(())
}

/// The value bytes of a fixed-width array, sliced to the array's rows (a primitive array's
/// `values()` already is), borrowed from the array.
fn primitive_bytes(array: &dyn Array) -> &[u8] {
    macro_rules! values_of {
        ($($ty:ty),*) => {
            $(if let Some(a) = array.as_any().downcast_ref::<arrow_array::PrimitiveArray<$ty>>() {
                return a.values().inner().as_slice();
            })*
        };
    }
    use arrow_array::types::*;
    values_of!(
        Int8Type,
        Int16Type,
        Int32Type,
        Int64Type,
        Float32Type,
        Float64Type,
        Date32Type,
        TimestampMicrosecondType,
        Decimal128Type
    );
    // Only called for the data types above, whose arrays are these primitive arrays.
    &[]
}

fn bytes_node<'a, T: ByteArrayType>(
    array: &'a dyn Array,
    header: NodeHeader,
) -> Result<Node<'a>, ConvertError> {
    let strings = array
        .as_any()
        .downcast_ref::<GenericByteArray<T>>()
        .ok_or_else(|| {
            ConvertError("a string or binary column of an unexpected array type".into())
        })?;
    let offsets = strings.value_offsets();
    let first = offsets.first().map_or(0, |o| o.as_usize());
    let last = offsets.last().map_or(0, |o| o.as_usize());
    let values = &strings.value_data()[first..last];
    let rebased = rebase_offsets(offsets, first)?;
    Ok(Node {
        header,
        validity: None,
        offsets: rebased,
        values: Bytes::Borrowed(values),
    })
}

/// Offsets starting at 0 as little-endian `i32`s; borrowed when they already are.
fn rebase_offsets<O: OffsetSizeTrait>(
    offsets: &[O],
    first: usize,
) -> Result<Bytes<'_>, ConvertError> {
    if O::IS_LARGE || first != 0 {
        let mut bytes = Vec::with_capacity(offsets.len() * 4);
        for offset in offsets {
            let rebased = i32::try_from(offset.as_usize() - first)
                .map_err(|_| too_large("a string, binary or array column"))?;
            bytes.extend_from_slice(&rebased.to_le_bytes());
        }
        return Ok(Bytes::Owned(bytes));
    }
    Ok(Bytes::Borrowed(offsets.to_byte_slice()))
}

fn list_nodes<'a, O: OffsetSizeTrait>(
    nodes: &mut Vec<Node<'a>>,
    array: &'a dyn Array,
    validity: Option<Bytes<'a>>,
    mut header: NodeHeader,
) -> Result<(), ConvertError> {
    let list = array
        .as_any()
        .downcast_ref::<GenericListArray<O>>()
        .ok_or_else(|| ConvertError("an array column of an unexpected array type".into()))?;
    let offsets = list.value_offsets();
    let first = offsets.first().map_or(0, |o| o.as_usize());
    let last = offsets.last().map_or(0, |o| o.as_usize());
    header.children = 1;
    nodes.push(Node {
        header,
        validity,
        offsets: rebase_offsets(offsets, first)?,
        values: Bytes::Borrowed(&[]),
    });
    // The child is sliced to the list's elements; it lives as long as a clone of the list's
    // values, which the caller's batch holds.
    let child: &'a ArrayRef = list.values();
    if first == 0 && last == child.len() {
        push_nodes(nodes, child.as_ref())
    } else {
        Err(ConvertError(
            "a sliced array column (its elements do not start at 0) is not supported".into(),
        ))
    }
}

/// Rebuilds a guest's result column as an Arrow array of Spark type `ty`, checking
/// everything: the node types against `ty`, then every Arrow invariant (offsets, UTF-8,
/// lengths), and decimal values against their precision.
pub(crate) fn decode_column(
    column: &ColumnView<'_>,
    ty: &SqlType,
    large: bool,
) -> Result<ArrayRef, String> {
    let mut headers = Vec::new();
    collect_headers(column, &mut headers);
    if ty.matches(&headers) != Some(headers.len()) {
        return Err(format!(
            "the result column has type {} where {ty} was declared",
            describe(&headers)
        ));
    }
    let data = array_data(column, ty, large)?
        .build()
        .map_err(|e| format!("the result column is invalid: {e}"))?;
    let array = make_array(data);
    if let SqlType::Decimal { precision, .. } = ty {
        check_decimal_precision(column, *precision)?;
    }
    Ok(array)
}

fn collect_headers(column: &ColumnView<'_>, out: &mut Vec<NodeHeader>) {
    out.push(column.header);
    for child in &column.children {
        collect_headers(child, out);
    }
}

fn describe(headers: &[NodeHeader]) -> String {
    headers
        .iter()
        .map(|h| match h.tag {
            TypeTag::Decimal => format!("decimal({},{})", h.precision, h.scale),
            tag => format!("{tag:?}").to_ascii_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn array_data(
    column: &ColumnView<'_>,
    ty: &SqlType,
    large: bool,
) -> Result<ArrayDataBuilder, String> {
    let len = column.len();
    let mut builder = ArrayDataBuilder::new(arrow_type(ty, large)).len(len);
    if let Some(bits) = column.validity {
        builder = builder.null_bit_buffer(Some(Buffer::from_slice_ref(bits)));
    }
    Ok(match ty {
        SqlType::Boolean => {
            let bits = BooleanBuffer::collect_bool(len, |i| column.values[i] != 0);
            builder.add_buffer(bits.into_inner())
        }
        SqlType::String | SqlType::Binary => {
            let offsets = if large {
                let wide: Vec<i64> = (0..=len).map(|i| column.offset(i) as i64).collect();
                Buffer::from_vec(wide)
            } else {
                Buffer::from_slice_ref(column.offsets)
            };
            builder
                .add_buffer(offsets)
                .add_buffer(Buffer::from_slice_ref(column.values))
        }
        SqlType::Array(element) => {
            let child = array_data(&column.children[0], element, large)?
                .build()
                .map_err(|e| format!("an array's elements are invalid: {e}"))?;
            builder
                .add_buffer(Buffer::from_slice_ref(column.offsets))
                .child_data(vec![child])
        }
        SqlType::Struct(fields) => {
            let mut children = Vec::with_capacity(fields.len());
            for ((_, field), child) in fields.iter().zip(&column.children) {
                children.push(
                    array_data(child, field, large)?
                        .build()
                        .map_err(|e| format!("a struct field is invalid: {e}"))?,
                );
            }
            builder.child_data(children)
        }
        _ => builder.add_buffer(Buffer::from_slice_ref(column.values)),
    })
}

fn check_decimal_precision(column: &ColumnView<'_>, precision: u8) -> Result<(), String> {
    let bound = 10i128.pow(u32::from(precision));
    for (row, chunk) in column.values.chunks_exact(16).enumerate() {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(chunk);
        let value = i128::from_le_bytes(bytes);
        if column.is_valid(row) && (value >= bound || value <= -bound) {
            return Err(format!(
                "row {row} of the result is the unscaled decimal {value}, more than {precision} digits"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::Int32Type;
    use arrow_array::{
        BinaryArray, Date32Array, Decimal128Array, Int64Array, Int8Array, ListArray, StringArray,
        TimestampMicrosecondArray,
    };
    use sparkwasm_abi::columnar::read_batch;

    /// Lays `arrays` out, reads the batch back and rebuilds each column as `types`.
    fn round_trip(arrays: Vec<ArrayRef>, types: &[SqlType]) -> Vec<ArrayRef> {
        let rows = arrays[0].len();
        let mut out = Vec::new();
        let refs: Vec<&ArrayRef> = arrays.iter().collect();
        encode_batch(&mut out, Op::Rows, rows, &refs).unwrap();
        let batch = read_batch(&out).unwrap();
        assert_eq!(batch.rows, rows);
        batch
            .columns
            .iter()
            .zip(types)
            .map(|(column, ty)| decode_column(column, ty, false).unwrap())
            .collect()
    }

    #[test]
    fn every_flat_type_survives_the_layout_with_its_nulls() {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            Arc::new(Int8Array::from(vec![Some(-1), Some(2), None])),
            Arc::new(Int64Array::from(vec![None, Some(i64::MAX), Some(-7)])),
            Arc::new(StringArray::from(vec![Some("é"), None, Some("")])),
            Arc::new(BinaryArray::from(vec![Some(&b"\xff"[..]), Some(b""), None])),
            Arc::new(Date32Array::from(vec![Some(0), Some(19_000), None])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(1), None, Some(-1)]).with_timezone("UTC"),
            ),
            Arc::new(
                Decimal128Array::from(vec![Some(12_345), None, Some(-99_999_999)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ];
        let types: Vec<SqlType> = [
            "boolean",
            "tinyint",
            "bigint",
            "string",
            "binary",
            "date",
            "timestamp",
            "decimal(10,2)",
        ]
        .iter()
        .map(|t| SqlType::parse(t).unwrap())
        .collect();
        let back = round_trip(arrays.clone(), &types);
        for (original, back) in arrays.iter().zip(&back) {
            assert_eq!(original.to_data(), back.to_data());
        }
    }

    #[test]
    fn sliced_arrays_are_rebased_and_lists_keep_their_elements() {
        let strings: ArrayRef = Arc::new(StringArray::from(vec!["skip", "ab", "c"]).slice(1, 2));
        let longs: ArrayRef =
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3), None]).slice(1, 2));
        let back = round_trip(
            vec![strings.clone(), longs.clone()],
            &[SqlType::String, SqlType::Long],
        );
        assert_eq!(back[0].to_data(), strings.to_data());
        let longs_back = back[1].as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(longs_back.iter().collect::<Vec<_>>(), vec![None, Some(3)]);
        let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
            Some(vec![]),
        ]));
        let back = round_trip(
            vec![lists.clone()],
            &[SqlType::parse("array<int>").unwrap()],
        );
        // Spark names the element field `element`, arrow-rs's builder `item`: compare values.
        assert_eq!(format!("{:?}", back[0]), format!("{lists:?}"));
        assert_eq!(
            back[0].data_type(),
            &arrow_type(&SqlType::parse("array<int>").unwrap(), false)
        );
    }

    #[test]
    fn narrower_numbers_are_widened_without_loss_and_keep_their_nulls() {
        let ints: ArrayRef = Arc::new(arrow_array::Int32Array::from(vec![
            Some(-3),
            None,
            Some(i32::MAX),
        ]));
        assert!(widens_to(ints.data_type(), &SqlType::Long));
        assert!(
            !widens_to(ints.data_type(), &SqlType::Float),
            "an int does not fit a float"
        );
        let longs = widen(&ints, &SqlType::Long).unwrap();
        assert_eq!(
            longs
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            vec![Some(-3), None, Some(i64::from(i32::MAX))]
        );
        let bytes: ArrayRef = Arc::new(Int8Array::from(vec![Some(-1), None]));
        let doubles = widen(&bytes, &SqlType::Double).unwrap();
        assert_eq!(doubles.data_type(), &DataType::Float64);
        assert_eq!(doubles.null_count(), 1);
        assert!(widen(&longs, &SqlType::Long).is_none(), "already the type");
        assert!(
            !widens_to(&DataType::Int64, &SqlType::Int),
            "narrowing is never implicit"
        );
    }

    #[test]
    fn a_result_of_the_wrong_type_or_invalid_content_is_refused() {
        let mut out = Vec::new();
        let longs: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        encode_batch(&mut out, Op::Rows, 2, &[&longs]).unwrap();
        let batch = read_batch(&out).unwrap();
        let error = decode_column(&batch.columns[0], &SqlType::Int, false).unwrap_err();
        assert!(
            error.contains("type long where int was declared"),
            "{error}"
        );

        let bad_utf8: ArrayRef = Arc::new(BinaryArray::from(vec![&b"\xff\xfe"[..]]));
        encode_batch(&mut out, Op::Rows, 1, &[&bad_utf8]).unwrap();
        // Relabel the binary node as a string: same layout, invalid content.
        out[NODE0] = TypeTag::String as u8;
        let batch = read_batch(&out).unwrap();
        let error = decode_column(&batch.columns[0], &SqlType::String, false).unwrap_err();
        assert!(error.contains("invalid"), "{error}");

        let too_wide: ArrayRef = Arc::new(
            Decimal128Array::from(vec![10_000_000_000i128])
                .with_precision_and_scale(38, 2)
                .unwrap(),
        );
        encode_batch(&mut out, Op::Rows, 1, &[&too_wide]).unwrap();
        out[NODE0 + 2] = 10;
        let batch = read_batch(&out).unwrap();
        let error = decode_column(
            &batch.columns[0],
            &SqlType::parse("decimal(10,2)").unwrap(),
            false,
        )
        .unwrap_err();
        assert!(error.contains("more than 10 digits"), "{error}");
    }

    /// Where the first node's type tag sits in a batch.
    const NODE0: usize = sparkwasm_abi::columnar::HEADER_LEN;
}
