//! Result columns: what a SQL function's results are written into, a batch at a time, and
//! read from to write the output batch (or to feed the next function of a chain).
//!
//! A builder lives as long as the task and is cleared, not dropped, between batches, so after
//! the first batches it no longer allocates. Fixed-width results go into a `Vec` of their
//! stored primitive (booleans one byte each); strings and binaries into `i32` offsets and one
//! byte vector. The validity bitmap is only built once a batch has its first null: a batch
//! without nulls carries none.

use std::any::Any;

use sparkwasm_abi::columnar::{ColumnView, NodeHeader, NodeParts, TypeTag};

use crate::sql::bytes::{self, Plain};
use crate::sql::column::Fixed;
use crate::sql::types::{Date, Decimal, Timestamp, TimestampNtz};

/// A result column being built, type-erased for the SQL loop.
pub trait ResultColumn: Any {
    /// Empties the column, keeping its allocations.
    fn clear(&mut self);
    /// Rows written since the last [`ResultColumn::clear`].
    fn len(&self) -> usize;
    /// Whether no row was written since the last [`ResultColumn::clear`].
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The column's own node, to write it into an output batch (its children, for an array
    /// or a struct, follow it: [`ResultColumn::child`]).
    fn node(&self) -> NodeParts<'_>;
    /// Why a row could not be written (a decimal with too many digits, more than 2 GiB of
    /// strings), if one could not; a nested column reports its children's errors too.
    fn error(&self) -> Option<&str>;
    /// Child columns: 1 for an array (its elements), the field count for a struct.
    fn children(&self) -> usize {
        0
    }
    /// Child column `index` (below [`ResultColumn::children`]).
    fn child(&self, _index: usize) -> Option<&dyn ResultColumn> {
        None
    }
    /// Itself as `Any`, for the generated code to reach its concrete type.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// The column as an argument column of the next function of a chain (a flat column costs no
/// allocation; a nested one a child list per nested node).
pub(crate) fn as_view(column: &dyn ResultColumn) -> ColumnView<'_> {
    let node = column.node();
    ColumnView {
        header: node.header,
        validity: node.validity,
        offsets: node.offsets,
        values: node.values,
        children: (0..column.children())
            .filter_map(|index| column.child(index))
            .map(as_view)
            .collect(),
    }
}

/// Nodes of the column in pre-order: itself and its descendants.
pub(crate) fn node_count(column: &dyn ResultColumn) -> usize {
    1 + (0..column.children())
        .filter_map(|index| column.child(index))
        .map(node_count)
        .sum::<usize>()
}

/// Writes the column's nodes in pre-order into `nodes` from `at`; returns the index after
/// them. Nodes past the end of `nodes` are dropped (the caller sizes it by [`node_count`]).
pub(crate) fn pre_order<'c>(
    column: &'c dyn ResultColumn,
    nodes: &mut [NodeParts<'c>],
    at: usize,
) -> usize {
    if let Some(slot) = nodes.get_mut(at) {
        *slot = column.node();
    }
    let mut next = at + 1;
    for index in 0..column.children() {
        if let Some(child) = column.child(index) {
            next = pre_order(child, nodes, next);
        }
    }
    next
}

/// A Rust type a SQL function returns (`i64`, `String`, `Vec<T>`, a derived struct,
/// `Option<T>`, ...), and the column it is written into.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a SQL result type",
    label = "not a SQL result type",
    note = "SQL results are bool, i8, i16, i32, i64, f32, f64, String, Vec<u8>, Date, \
            Timestamp, TimestampNtz, Decimal<P, S>, Vec<T> and structs without a lifetime \
            with #[derive(sparkwasm::SqlStruct)], or Option<T> of one of them (type aliases \
            are not resolved)"
)]
pub trait ResultType: Sized + 'static {
    /// The result column.
    type Builder: ResultColumn;
    /// An empty result column.
    fn new_builder() -> Self::Builder;
    /// Appends `self` as the next row. (Not `push`: a by-value `push` would win method
    /// resolution over `Vec<u8>::push` wherever the trait is in scope.)
    fn push_result(self, out: &mut Self::Builder);
    /// Appends a null row.
    fn push_null(out: &mut Self::Builder);
}

/// A validity bitmap built only once the first null arrives.
#[derive(Default)]
pub(crate) struct ValidityBuilder {
    bits: Vec<u8>,
    /// Whether `bits` is in use (some row since the last clear was null).
    active: bool,
}

impl ValidityBuilder {
    pub(crate) fn clear(&mut self) {
        self.bits.clear();
        self.active = false;
    }

    /// Records row `row` (the rows before it recorded already) as valid or null.
    #[inline]
    pub(crate) fn push(&mut self, row: usize, valid: bool) {
        if self.active || !valid {
            self.push_bit(row, valid);
        }
    }

    fn push_bit(&mut self, row: usize, valid: bool) {
        if !self.active {
            // The first null: every row before it was valid.
            self.active = true;
            self.bits.clear();
            self.bits.resize(row / 8, 0xff);
            if !row.is_multiple_of(8) {
                self.bits.push((1u8 << (row % 8)) - 1);
            }
        }
        if row.is_multiple_of(8) {
            self.bits.push(0);
        }
        if let Some(byte) = self.bits.get_mut(row / 8) {
            let bit = 1u8 << (row % 8);
            if valid {
                *byte |= bit;
            } else {
                *byte &= !bit;
            }
        }
    }

    pub(crate) fn bitmap(&self) -> Option<&[u8]> {
        self.active.then_some(&self.bits[..])
    }
}

/// The column length as the node header's `u32` (a batch never holds more rows).
pub(crate) fn node_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// A fixed-width result column.
pub struct FixedBuilder<T: Fixed> {
    /// The stored primitives, in little-endian representation.
    values: Vec<T::Raw>,
    validity: ValidityBuilder,
    error: Option<String>,
}

impl<T: Fixed> FixedBuilder<T> {
    fn new() -> Self {
        FixedBuilder {
            values: Vec::new(),
            validity: ValidityBuilder::default(),
            error: None,
        }
    }

    /// Appends a value.
    #[inline]
    pub fn push(&mut self, value: T) {
        if let Some(why) = value.unfit() {
            self.error.get_or_insert(why);
        }
        let row = self.values.len();
        self.values.push(value.into_raw().to_le_repr());
        self.validity.push(row, true);
    }

    /// Appends a null.
    #[inline]
    pub fn push_null(&mut self) {
        let row = self.values.len();
        self.values.push(T::Raw::default());
        self.validity.push(row, false);
    }
}

impl<T: Fixed> ResultColumn for FixedBuilder<T> {
    fn clear(&mut self) {
        self.values.clear();
        self.validity.clear();
        self.error = None;
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn node(&self) -> NodeParts<'_> {
        NodeParts {
            header: NodeHeader {
                tag: T::TAG,
                precision: T::PRECISION,
                scale: T::SCALE,
                children: 0,
                len: node_len(self.values.len()),
            },
            validity: self.validity.bitmap(),
            offsets: &[],
            values: bytes::as_bytes(&self.values),
        }
    }

    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

macro_rules! fixed_results {
    ($($t:ty),* $(,)?) => {$(
        impl ResultType for $t {
            type Builder = FixedBuilder<$t>;
            fn new_builder() -> Self::Builder {
                FixedBuilder::new()
            }
            #[inline]
            fn push_result(self, out: &mut Self::Builder) {
                out.push(self);
            }
            #[inline]
            fn push_null(out: &mut Self::Builder) {
                out.push_null();
            }
        }
    )*};
}

fixed_results!(
    bool,
    i8,
    i16,
    i32,
    i64,
    f32,
    f64,
    Date,
    Timestamp,
    TimestampNtz
);

impl<const P: u8, const S: i8> ResultType for Decimal<P, S> {
    type Builder = FixedBuilder<Decimal<P, S>>;
    fn new_builder() -> Self::Builder {
        FixedBuilder::new()
    }
    #[inline]
    fn push_result(self, out: &mut Self::Builder) {
        out.push(self);
    }
    #[inline]
    fn push_null(out: &mut Self::Builder) {
        out.push_null();
    }
}

/// A string or binary result column: `i32` offsets into one byte vector.
pub struct BytesBuilder {
    tag: TypeTag,
    /// `len + 1` offsets, little-endian representation.
    offsets: Vec<i32>,
    data: Vec<u8>,
    /// The last offset (what `offsets` ends with, in native order).
    end: i32,
    validity: ValidityBuilder,
    error: Option<String>,
}

impl BytesBuilder {
    fn new(tag: TypeTag) -> Self {
        BytesBuilder {
            tag,
            offsets: vec![0],
            data: Vec::new(),
            end: 0,
            validity: ValidityBuilder::default(),
            error: None,
        }
    }

    /// Appends a value.
    #[inline]
    pub fn push(&mut self, value: &[u8]) {
        let row = self.offsets.len() - 1;
        match i32::try_from(self.data.len() + value.len()) {
            Ok(end) => {
                self.data.extend_from_slice(value);
                self.end = end;
            }
            Err(_) => {
                self.error.get_or_insert_with(|| {
                    "the results of one batch exceed the 2 GiB a string or binary column holds"
                        .to_owned()
                });
            }
        }
        self.offsets.push(self.end.to_le_repr());
        self.validity.push(row, true);
    }

    /// Appends a null.
    #[inline]
    pub fn push_null(&mut self) {
        let row = self.offsets.len() - 1;
        self.offsets.push(self.end.to_le_repr());
        self.validity.push(row, false);
    }
}

impl ResultColumn for BytesBuilder {
    fn clear(&mut self) {
        self.offsets.clear();
        self.offsets.push(0);
        self.data.clear();
        self.end = 0;
        self.validity.clear();
        self.error = None;
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn node(&self) -> NodeParts<'_> {
        NodeParts {
            header: NodeHeader {
                tag: self.tag,
                precision: 0,
                scale: 0,
                children: 0,
                len: node_len(self.len()),
            },
            validity: self.validity.bitmap(),
            offsets: bytes::as_bytes(&self.offsets),
            values: &self.data,
        }
    }

    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl ResultType for String {
    type Builder = BytesBuilder;
    fn new_builder() -> Self::Builder {
        BytesBuilder::new(TypeTag::String)
    }
    #[inline]
    fn push_result(self, out: &mut Self::Builder) {
        out.push(self.as_bytes());
    }
    #[inline]
    fn push_null(out: &mut Self::Builder) {
        out.push_null();
    }
}

impl ResultType for Vec<u8> {
    type Builder = BytesBuilder;
    fn new_builder() -> Self::Builder {
        BytesBuilder::new(TypeTag::Binary)
    }
    #[inline]
    fn push_result(self, out: &mut Self::Builder) {
        out.push(&self);
    }
    #[inline]
    fn push_null(out: &mut Self::Builder) {
        out.push_null();
    }
}

impl<T: ResultType> ResultType for Option<T> {
    type Builder = T::Builder;
    fn new_builder() -> Self::Builder {
        T::new_builder()
    }
    #[inline]
    fn push_result(self, out: &mut Self::Builder) {
        match self {
            Some(value) => value.push_result(out),
            None => T::push_null(out),
        }
    }
    #[inline]
    fn push_null(out: &mut Self::Builder) {
        T::push_null(out);
    }
}

#[cfg(test)]
mod tests {
    use sparkwasm_abi::columnar::{read_batch, write_batch, Op};

    use super::*;
    use crate::sql::column::{ArgType, Column, Scratch};

    #[test]
    fn the_validity_bitmap_appears_with_the_first_null_only() {
        let mut out = i64::new_builder();
        for v in 0..10i64 {
            v.push_result(&mut out);
        }
        assert!(out.node().validity.is_none());
        Option::<i64>::None.push_result(&mut out);
        Some(11i64).push_result(&mut out);
        let node = out.node();
        assert_eq!(node.header.len, 12);
        assert_eq!(node.validity, Some(&[0xff, 0b1011][..]));
        out.clear();
        Some(1i64).push_result(&mut out);
        assert!(out.node().validity.is_none(), "cleared with the rows");
        <i64 as ResultType>::push_null(&mut out);
        assert_eq!(out.node().validity, Some(&[0b01][..]));
        // A first null at a byte boundary.
        out.clear();
        for v in 0..8i64 {
            v.push_result(&mut out);
        }
        <i64 as ResultType>::push_null(&mut out);
        assert_eq!(out.node().validity, Some(&[0xff, 0][..]));
    }

    #[test]
    fn results_read_back_as_columns_through_a_written_batch() {
        let mut strings = String::new_builder();
        "ab".to_owned().push_result(&mut strings);
        Option::<String>::None.push_result(&mut strings);
        "é".to_owned().push_result(&mut strings);
        let mut decimals = Decimal::<10, 2>::new_builder();
        Decimal::<10, 2>(-12345).push_result(&mut decimals);
        Decimal::<10, 2>(1).push_result(&mut decimals);
        <Decimal<10, 2> as ResultType>::push_null(&mut decimals);
        let mut bools = bool::new_builder();
        for b in [true, false, true] {
            b.push_result(&mut bools);
        }
        let mut batch = Vec::new();
        write_batch(
            &mut batch,
            Op::Rows,
            3,
            3,
            &[strings.node(), decimals.node(), bools.node()],
        );
        let batch = read_batch(&batch).unwrap();
        let (mut s1, mut s2, mut s3) = (Scratch::default(), Scratch::default(), Scratch::default());
        let read_strings = <&str>::column(&batch.columns[0], &mut s1).unwrap();
        assert_eq!(
            (0..3).map(|i| read_strings.get(i)).collect::<Vec<_>>(),
            [Some("ab"), None, Some("é")]
        );
        let read_decimals = Decimal::<10, 2>::column(&batch.columns[1], &mut s2).unwrap();
        assert_eq!(
            (0..3).map(|i| read_decimals.get(i)).collect::<Vec<_>>(),
            [Some(Decimal(-12345)), Some(Decimal(1)), None]
        );
        let read_bools = bool::column(&batch.columns[2], &mut s3).unwrap();
        assert_eq!(batch.columns[2].values, &[1, 0, 1]);
        assert!(read_bools.value(0) && !read_bools.value(1));
        // The chain view sees the same.
        let view = as_view(&strings);
        let mut s4 = Scratch::default();
        assert_eq!(<&str>::column(&view, &mut s4).unwrap().value(2), "é");
    }

    #[test]
    fn unfit_results_are_reported_not_written_silently() {
        let mut decimals = Decimal::<3, 0>::new_builder();
        Decimal::<3, 0>(999).push_result(&mut decimals);
        assert_eq!(decimals.error(), None);
        Decimal::<3, 0>(1000).push_result(&mut decimals);
        assert_eq!(
            decimals.error(),
            Some("the decimal(3,0) result with unscaled value 1000 has more than 3 digits")
        );
        decimals.clear();
        assert_eq!(decimals.error(), None);
    }
}
