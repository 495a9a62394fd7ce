//! Typed views of a batch's argument columns, which the code `#[udf]` and `#[udaf]` generate
//! loops over.
//!
//! Nothing here allocates per value. A fixed-width column is a `&[i64]`-style slice over the
//! batch's values buffer, viewed in place (the input buffer and every buffer in it are
//! 8-byte aligned), or, where that is impossible (an `i128` buffer that is 8- but not
//! 16-aligned, a big-endian target), a copy in a scratch vector reused across batches.
//! Validity stays a bitmap. A string or binary column hands out `&str` / `&[u8]` slices of
//! its values buffer; a string column checks its UTF-8 once per batch (the whole buffer, then
//! that every offset is a character boundary), so taking a row's `&str` is two offset reads.

use std::any::Any;

use sparkwasm_abi::columnar::{ColumnView, TypeTag};

use crate::sql::bytes::{self, Plain};
use crate::sql::types::{Date, Decimal, Timestamp, TimestampNtz};

/// A fixed-width SQL value: the primitive its column stores and its type tag.
pub trait Fixed: Copy + 'static {
    /// The stored primitive (`u8` 0 or 1 for `bool`, `i32` for [`Date`], `i128` for
    /// [`Decimal`], ...).
    type Raw: Plain;
    /// The column's type tag.
    const TAG: TypeTag;
    /// The column's decimal precision (0 for other types).
    const PRECISION: u8 = 0;
    /// The column's decimal scale (0 for other types).
    const SCALE: i8 = 0;
    /// The value a stored primitive stands for.
    fn from_raw(raw: Self::Raw) -> Self;
    /// The primitive stored for this value.
    fn into_raw(self) -> Self::Raw;
    /// Why the value cannot be stored in its column, if it cannot (a decimal with too many
    /// digits).
    fn unfit(self) -> Option<String> {
        None
    }
}

macro_rules! fixed_primitives {
    ($($t:ty => $tag:ident),* $(,)?) => {$(
        impl Fixed for $t {
            type Raw = $t;
            const TAG: TypeTag = TypeTag::$tag;
            #[inline]
            fn from_raw(raw: $t) -> Self {
                raw
            }
            #[inline]
            fn into_raw(self) -> $t {
                self
            }
        }
    )*};
}

fixed_primitives!(i8 => Byte, i16 => Short, i32 => Int, i64 => Long, f32 => Float, f64 => Double);

impl Fixed for bool {
    type Raw = u8;
    const TAG: TypeTag = TypeTag::Boolean;
    #[inline]
    fn from_raw(raw: u8) -> Self {
        raw != 0
    }
    #[inline]
    fn into_raw(self) -> u8 {
        u8::from(self)
    }
}

macro_rules! fixed_newtypes {
    ($($t:ident($raw:ty) => $tag:ident),* $(,)?) => {$(
        impl Fixed for $t {
            type Raw = $raw;
            const TAG: TypeTag = TypeTag::$tag;
            #[inline]
            fn from_raw(raw: $raw) -> Self {
                $t(raw)
            }
            #[inline]
            fn into_raw(self) -> $raw {
                self.0
            }
        }
    )*};
}

fixed_newtypes!(Date(i32) => Date, Timestamp(i64) => Timestamp, TimestampNtz(i64) => TimestampNtz);

impl<const P: u8, const S: i8> Fixed for Decimal<P, S> {
    type Raw = i128;
    const TAG: TypeTag = TypeTag::Decimal;
    const PRECISION: u8 = P;
    const SCALE: i8 = S;
    #[inline]
    fn from_raw(raw: i128) -> Self {
        Decimal(raw)
    }
    #[inline]
    fn into_raw(self) -> i128 {
        self.0
    }
    fn unfit(self) -> Option<String> {
        (!self.fits()).then(|| {
            format!(
                "the decimal({P},{S}) result with unscaled value {} has more than {P} digits",
                self.0
            )
        })
    }
}

/// Per argument, vectors reused across batches for values that cannot be viewed in place:
/// one for the argument's own node and, for an array or a struct, one tree per child node.
#[derive(Default)]
pub struct Scratch {
    own: Copied,
    children: Vec<Scratch>,
}

/// A `Vec<T>` of the last `T` copied.
#[derive(Default)]
struct Copied(Option<Box<dyn Any>>);

impl Copied {
    /// `bytes` as `&[T]`: in place when possible, else copied into this scratch vector.
    fn slice<'a, T: Plain>(&'a mut self, bytes: &'a [u8]) -> &'a [T] {
        if let Some(values) = bytes::view::<T>(bytes) {
            return values;
        }
        if !self.0.as_ref().is_some_and(|copy| copy.is::<Vec<T>>()) {
            self.0 = Some(Box::new(Vec::<T>::new()));
        }
        match self
            .0
            .as_mut()
            .and_then(|copy| copy.downcast_mut::<Vec<T>>())
        {
            Some(values) => {
                values.clear();
                values.extend(bytes.chunks_exact(T::WIDTH).map(T::from_le_slice));
                values
            }
            // Just made; the empty slice makes the caller's length check fail if not.
            None => &[],
        }
    }
}

impl Scratch {
    /// `bytes` as `&[T]`: in place when possible, else copied into this node's vector.
    fn slice<'a, T: Plain>(&'a mut self, bytes: &'a [u8]) -> &'a [T] {
        self.own.slice(bytes)
    }

    /// `bytes` as `&[T]` as [`Scratch::slice`] does, and the scratch trees of the node's
    /// `children` child nodes (made on first use, kept across batches).
    pub(crate) fn split<'a, T: Plain>(
        &'a mut self,
        bytes: &'a [u8],
        children: usize,
    ) -> (&'a [T], &'a mut [Scratch]) {
        if self.children.len() < children {
            self.children.resize_with(children, Scratch::default);
        }
        let Scratch {
            own,
            children: kids,
        } = self;
        (own.slice(bytes), &mut kids[..children])
    }
}

/// A column's validity: `None` when no value is null.
#[derive(Clone, Copy)]
pub struct Validity<'a>(Option<&'a [u8]>);

impl<'a> Validity<'a> {
    /// The validity of `view`'s own values (not its children's).
    pub fn of(view: &ColumnView<'a>) -> Self {
        Validity(view.validity.filter(|bits| any_null(bits, view.len())))
    }

    /// Whether any value is null.
    #[inline]
    pub fn has_nulls(&self) -> bool {
        self.0.is_some()
    }

    /// Whether value `row` is not null.
    #[inline]
    pub fn is_valid(&self, row: usize) -> bool {
        match self.0 {
            None => true,
            Some(bits) => bits
                .get(row / 8)
                .is_some_and(|byte| byte >> (row % 8) & 1 == 1),
        }
    }
}

/// Whether any of the first `len` bits is clear, a byte at a time.
fn any_null(bits: &[u8], len: usize) -> bool {
    let full = len / 8;
    if bits
        .get(..full)
        .is_none_or(|bytes| bytes.iter().any(|byte| *byte != 0xff))
    {
        return true;
    }
    let rest = len % 8;
    rest != 0
        && bits
            .get(full)
            .is_none_or(|byte| byte | !((1u8 << rest) - 1) != 0xff)
}

/// One argument column of a batch, as the generated loops read it.
///
/// A row is *valid* when its value can be handed out as [`Column::Item`]: not null, and for
/// an array of non-`Option` elements or a struct with non-`Option` fields, none of those
/// null either (so `List<i64>` never meets a null element; a function that wants to see
/// them takes `List<Option<i64>>`).
pub trait Column {
    /// What a row holds (`i64`, `&str`, ...).
    type Item;
    /// Rows in the column.
    fn len(&self) -> usize;
    /// Whether the column has no rows.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether any row may be invalid (`false` promises that every row is valid).
    fn has_nulls(&self) -> bool;
    /// Whether row `row` is valid: not null, nor holding a null where its type has none.
    fn is_valid(&self, row: usize) -> bool;
    /// The value of row `row`, null or not (a null row's value is whatever the batch stores,
    /// usually zero or empty); a row past the end reads as zero or empty.
    fn value(&self, row: usize) -> Self::Item;
    /// The value of row `row`, `None` when it is null.
    #[inline]
    fn get(&self, row: usize) -> Option<Self::Item> {
        if self.is_valid(row) {
            Some(self.value(row))
        } else {
            None
        }
    }
}

/// A Rust type a SQL function takes as an argument (`i64`, `&str`, `List<'a, T>`, a derived
/// struct, ...), and how to read a batch's column as it.
///
/// `Option<T>` is an argument type too, for array elements and struct fields: its column
/// hands out `None` for a null and is never itself null. (A top-level `Option` argument is
/// read by the generated code through [`Column::get`] of `T`'s column instead.)
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a SQL argument type",
    label = "not a SQL argument type",
    note = "SQL arguments are bool, i8, i16, i32, i64, f32, f64, &str, &[u8], Date, \
            Timestamp, TimestampNtz, Decimal<P, S>, sparkwasm::List<T> and structs with \
            #[derive(sparkwasm::SqlStruct)], or Option<T> of one of them (type aliases are \
            not resolved)"
)]
pub trait ArgType<'a>: Sized {
    /// The column view: a few slices, copied freely (an array's rows carry their element
    /// column along).
    type Column: Column<Item = Self> + Copy;
    /// Views `view` as a column of this type, using `scratch` when it cannot be viewed in
    /// place. Fails when the column has another type or its strings are not UTF-8.
    fn column(view: &'a ColumnView<'_>, scratch: &'a mut Scratch) -> Result<Self::Column, String>;
}

/// Checks a column's type tag (and decimal precision and scale).
pub(crate) fn check_type(
    view: &ColumnView<'_>,
    tag: TypeTag,
    precision: u8,
    scale: i8,
) -> Result<(), String> {
    let header = &view.header;
    if header.tag != tag
        || (tag == TypeTag::Decimal && (header.precision, header.scale) != (precision, scale))
    {
        return Err(format!(
            "expected a {tag:?} column{}, the batch has a {:?} column{}",
            decimal_suffix(tag, precision, scale),
            header.tag,
            decimal_suffix(header.tag, header.precision, header.scale)
        ));
    }
    Ok(())
}

fn decimal_suffix(tag: TypeTag, precision: u8, scale: i8) -> String {
    if tag == TypeTag::Decimal {
        format!("({precision},{scale})")
    } else {
        String::new()
    }
}

/// A fixed-width column: its values as a slice.
#[derive(Clone, Copy)]
pub struct FixedColumn<'a, T: Fixed> {
    values: &'a [T::Raw],
    validity: Validity<'a>,
}

impl<'a, T: Fixed> FixedColumn<'a, T> {
    fn new(view: &'a ColumnView<'_>, scratch: &'a mut Scratch) -> Result<Self, String> {
        check_type(view, T::TAG, T::PRECISION, T::SCALE)?;
        let values = scratch.slice::<T::Raw>(view.values);
        if values.len() != view.len() {
            return Err(format!(
                "{} values in a column of {} rows",
                values.len(),
                view.len()
            ));
        }
        Ok(FixedColumn {
            values,
            validity: Validity::of(view),
        })
    }

    /// The stored values, null rows included.
    pub fn raw(&self) -> &'a [T::Raw] {
        self.values
    }
}

impl<T: Fixed> Column for FixedColumn<'_, T> {
    type Item = T;

    #[inline]
    fn len(&self) -> usize {
        self.values.len()
    }

    #[inline]
    fn has_nulls(&self) -> bool {
        self.validity.has_nulls()
    }

    #[inline]
    fn is_valid(&self, row: usize) -> bool {
        self.validity.is_valid(row)
    }

    #[inline]
    fn value(&self, row: usize) -> T {
        T::from_raw(self.values.get(row).copied().unwrap_or_default())
    }
}

macro_rules! fixed_args {
    ($($t:ty),* $(,)?) => {$(
        impl<'a> ArgType<'a> for $t {
            type Column = FixedColumn<'a, $t>;
            fn column(
                view: &'a ColumnView<'_>,
                scratch: &'a mut Scratch,
            ) -> Result<Self::Column, String> {
                FixedColumn::new(view, scratch)
            }
        }
    )*};
}

fixed_args!(
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

impl<'a, const P: u8, const S: i8> ArgType<'a> for Decimal<P, S> {
    type Column = FixedColumn<'a, Decimal<P, S>>;
    fn column(view: &'a ColumnView<'_>, scratch: &'a mut Scratch) -> Result<Self::Column, String> {
        FixedColumn::new(view, scratch)
    }
}

/// The `len + 1` offsets of a string or binary column.
fn offsets<'a>(view: &'a ColumnView<'_>, scratch: &'a mut Scratch) -> Result<&'a [i32], String> {
    let offsets = scratch.slice::<i32>(view.offsets);
    if offsets.len() != view.len() + 1 {
        return Err(format!(
            "{} offsets in a column of {} rows",
            offsets.len(),
            view.len()
        ));
    }
    Ok(offsets)
}

/// Where row `row`'s bytes are, by its offsets (empty when out of range).
#[inline]
pub(crate) fn span(offsets: &[i32], row: usize) -> (usize, usize) {
    let at = |i: usize| {
        offsets
            .get(i)
            .and_then(|offset| usize::try_from(*offset).ok())
            .unwrap_or(0)
    };
    (at(row), at(row + 1))
}

/// A string column: `&str` per row.
#[derive(Clone, Copy)]
pub struct StrColumn<'a> {
    text: &'a str,
    offsets: &'a [i32],
    validity: Validity<'a>,
}

impl<'a> ArgType<'a> for &'a str {
    type Column = StrColumn<'a>;

    fn column(view: &'a ColumnView<'_>, scratch: &'a mut Scratch) -> Result<Self::Column, String> {
        check_type(view, TypeTag::String, 0, 0)?;
        let offsets = offsets(view, scratch)?;
        // The host promises valid UTF-8; checking it here (once per batch, not per row) keeps
        // a broken promise an error rather than undefined behaviour.
        let text = std::str::from_utf8(view.values)
            .map_err(|err| format!("the strings are not valid UTF-8: {err}"))?;
        if let Some(row) = offsets.iter().position(|offset| {
            usize::try_from(*offset).map_or(true, |offset| !text.is_char_boundary(offset))
        }) {
            return Err(format!(
                "string offset {row} is not at a character boundary (the values are not \
                 valid UTF-8 one by one)"
            ));
        }
        Ok(StrColumn {
            text,
            offsets,
            validity: Validity::of(view),
        })
    }
}

impl<'a> Column for StrColumn<'a> {
    type Item = &'a str;

    #[inline]
    fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    #[inline]
    fn has_nulls(&self) -> bool {
        self.validity.has_nulls()
    }

    #[inline]
    fn is_valid(&self, row: usize) -> bool {
        self.validity.is_valid(row)
    }

    #[inline]
    fn value(&self, row: usize) -> &'a str {
        let (start, end) = span(self.offsets, row);
        // Every offset is a character boundary (checked when the column was made).
        self.text.get(start..end).unwrap_or_default()
    }
}

/// A binary column: `&[u8]` per row.
#[derive(Clone, Copy)]
pub struct BinaryColumn<'a> {
    data: &'a [u8],
    offsets: &'a [i32],
    validity: Validity<'a>,
}

impl<'a> ArgType<'a> for &'a [u8] {
    type Column = BinaryColumn<'a>;

    fn column(view: &'a ColumnView<'_>, scratch: &'a mut Scratch) -> Result<Self::Column, String> {
        check_type(view, TypeTag::Binary, 0, 0)?;
        Ok(BinaryColumn {
            data: view.values,
            offsets: offsets(view, scratch)?,
            validity: Validity::of(view),
        })
    }
}

impl<'a> Column for BinaryColumn<'a> {
    type Item = &'a [u8];

    #[inline]
    fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    #[inline]
    fn has_nulls(&self) -> bool {
        self.validity.has_nulls()
    }

    #[inline]
    fn is_valid(&self, row: usize) -> bool {
        self.validity.is_valid(row)
    }

    #[inline]
    fn value(&self, row: usize) -> &'a [u8] {
        let (start, end) = span(self.offsets, row);
        self.data.get(start..end).unwrap_or_default()
    }
}

/// The column of `Option<T>` over the column of `T`: `None` for an invalid row, never
/// itself invalid.
#[derive(Clone, Copy)]
pub struct Nullable<C>(C);

impl<C: Column> Column for Nullable<C> {
    type Item = Option<C::Item>;

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn has_nulls(&self) -> bool {
        false
    }

    #[inline]
    fn is_valid(&self, _row: usize) -> bool {
        true
    }

    #[inline]
    fn value(&self, row: usize) -> Option<C::Item> {
        self.0.get(row)
    }
}

impl<'a, T: ArgType<'a>> ArgType<'a> for Option<T> {
    type Column = Nullable<T::Column>;

    fn column(view: &'a ColumnView<'_>, scratch: &'a mut Scratch) -> Result<Self::Column, String> {
        T::column(view, scratch).map(Nullable)
    }
}

/// An owned copy per row of a string or binary column: how a `String` or `Vec<u8>` field of
/// a derived struct is read when the struct is an argument. (A top-level argument borrows:
/// `#[udf]` refuses `String` and `Vec<u8>` there.)
#[derive(Clone, Copy)]
pub struct OwnedColumn<C>(pub(crate) C);

impl<'a> Column for OwnedColumn<StrColumn<'a>> {
    type Item = String;

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn has_nulls(&self) -> bool {
        self.0.has_nulls()
    }

    #[inline]
    fn is_valid(&self, row: usize) -> bool {
        self.0.is_valid(row)
    }

    #[inline]
    fn value(&self, row: usize) -> String {
        self.0.value(row).to_owned()
    }
}

impl<'a> Column for OwnedColumn<BinaryColumn<'a>> {
    type Item = Vec<u8>;

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn has_nulls(&self) -> bool {
        self.0.has_nulls()
    }

    #[inline]
    fn is_valid(&self, row: usize) -> bool {
        self.0.is_valid(row)
    }

    #[inline]
    fn value(&self, row: usize) -> Vec<u8> {
        self.0.value(row).to_vec()
    }
}

impl<'a> ArgType<'a> for String {
    type Column = OwnedColumn<StrColumn<'a>>;

    fn column(view: &'a ColumnView<'_>, scratch: &'a mut Scratch) -> Result<Self::Column, String> {
        <&str>::column(view, scratch).map(OwnedColumn)
    }
}

impl<'a> ArgType<'a> for Vec<u8> {
    type Column = OwnedColumn<BinaryColumn<'a>>;

    fn column(view: &'a ColumnView<'_>, scratch: &'a mut Scratch) -> Result<Self::Column, String> {
        <&[u8]>::column(view, scratch).map(OwnedColumn)
    }
}

#[cfg(test)]
mod tests {
    use sparkwasm_abi::columnar::NodeHeader;

    use super::*;

    fn view<'a>(
        tag: TypeTag,
        len: u32,
        validity: Option<&'a [u8]>,
        offsets: &'a [u8],
        values: &'a [u8],
    ) -> ColumnView<'a> {
        ColumnView {
            header: NodeHeader {
                tag,
                precision: 0,
                scale: 0,
                children: 0,
                len,
            },
            validity,
            offsets,
            values,
            children: Vec::new(),
        }
    }

    fn le<T: Copy, const N: usize>(values: &[T], bytes: impl Fn(T) -> [u8; N]) -> Vec<u8> {
        values.iter().flat_map(|v| bytes(*v)).collect()
    }

    #[test]
    fn validity_bitmaps_count_only_the_rows_they_cover() {
        assert!(!any_null(&[0xff, 0x07], 11));
        assert!(any_null(&[0xff, 0x03], 11));
        assert!(any_null(&[0xfe], 1));
        assert!(!any_null(&[0x01], 1), "bits past the rows do not matter");
        assert!(any_null(&[], 3), "a short bitmap counts as nulls");
        assert!(!any_null(&[], 0));
    }

    #[test]
    fn fixed_columns_view_in_place_or_copy_when_misaligned() {
        let longs = le(&[5i64, -6], i64::to_le_bytes);
        let mut scratch = Scratch::default();
        let column = view(TypeTag::Long, 2, None, &[], &longs);
        let longs_column = i64::column(&column, &mut scratch).unwrap();
        assert_eq!((longs_column.value(0), longs_column.value(1)), (5, -6));
        assert_eq!(longs_column.value(7), 0, "past the end reads as zero");
        assert!(!longs_column.has_nulls());

        // Odd alignment forces the copy path.
        let mut odd = vec![0u8];
        odd.extend(le(&[3i32, 4], i32::to_le_bytes));
        let column = view(TypeTag::Int, 2, Some(&[0b10]), &[], &odd[1..]);
        let mut scratch = Scratch::default();
        let ints = i32::column(&column, &mut scratch).unwrap();
        assert_eq!((ints.get(0), ints.get(1)), (None, Some(4)));
        assert!(ints.has_nulls());

        let decimals = le(&[12345i128, -1], i128::to_le_bytes);
        let mut column = view(TypeTag::Decimal, 2, None, &[], &decimals);
        column.header.precision = 10;
        column.header.scale = 2;
        let mut scratch = Scratch::default();
        let read = Decimal::<10, 2>::column(&column, &mut scratch).unwrap();
        assert_eq!(
            (read.value(0), read.value(1)),
            (Decimal(12345), Decimal(-1))
        );
        let mut scratch = Scratch::default();
        let error = Decimal::<12, 2>::column(&column, &mut scratch)
            .err()
            .unwrap();
        assert_eq!(
            error,
            "expected a Decimal column(12,2), the batch has a Decimal column(10,2)"
        );
    }

    #[test]
    fn booleans_and_newtypes_read_their_raw_values() {
        let column = view(TypeTag::Boolean, 3, None, &[], &[1, 0, 1]);
        let mut scratch = Scratch::default();
        let bools = bool::column(&column, &mut scratch).unwrap();
        assert_eq!(
            [bools.value(0), bools.value(1), bools.value(2)],
            [true, false, true]
        );
        let days = le(&[-1i32], i32::to_le_bytes);
        let column = view(TypeTag::Date, 1, None, &[], &days);
        let mut scratch = Scratch::default();
        assert_eq!(
            Date::column(&column, &mut scratch).unwrap().value(0),
            Date(-1)
        );
        let mut scratch = Scratch::default();
        let error = Timestamp::column(&column, &mut scratch).err().unwrap();
        assert!(error.contains("expected a Timestamp column"), "{error}");
    }

    #[test]
    fn string_columns_hand_out_rows_and_refuse_broken_utf8() {
        let offsets = le(&[0i32, 3, 3, 6], i32::to_le_bytes);
        let column = view(
            TypeTag::String,
            3,
            Some(&[0b101]),
            &offsets,
            "héllo".as_bytes(),
        );
        let mut scratch = Scratch::default();
        let strings = <&str>::column(&column, &mut scratch).unwrap();
        assert_eq!(
            (strings.get(0), strings.get(1), strings.get(2)),
            (Some("hé"), None, Some("llo"))
        );
        assert_eq!(strings.len(), 3);

        let split = le(&[0i32, 2, 6], i32::to_le_bytes);
        let column = view(TypeTag::String, 2, None, &split, "héllo".as_bytes());
        let mut scratch = Scratch::default();
        let error = <&str>::column(&column, &mut scratch).err().unwrap();
        assert!(error.contains("character boundary"), "{error}");

        let bad = le(&[0i32, 1], i32::to_le_bytes);
        let column = view(TypeTag::String, 1, None, &bad, &[0xff]);
        let mut scratch = Scratch::default();
        let error = <&str>::column(&column, &mut scratch).err().unwrap();
        assert!(error.contains("not valid UTF-8"), "{error}");

        let column = view(TypeTag::Binary, 3, None, &offsets, &[0xff, 0, 1, 2, 3, 4]);
        let mut scratch = Scratch::default();
        let binaries = <&[u8]>::column(&column, &mut scratch).unwrap();
        assert_eq!(binaries.value(0), &[0xff, 0, 1]);
        assert_eq!(binaries.value(1), &[] as &[u8]);
        assert_eq!(binaries.value(2), &[2, 3, 4]);
        assert_eq!(
            binaries.value(3),
            &[] as &[u8],
            "past the end reads as empty"
        );
    }
}
