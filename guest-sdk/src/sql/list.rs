//! Spark `array<T>` values: [`List`], the argument view of one row's array, and `Vec<T>`
//! results.
//!
//! An array column is `i32` offsets into one element column (`sparkwasm_abi::columnar`). Its
//! argument view, [`ListColumn`], keeps the element column's view (a few slices, `Copy`), so
//! a row's [`List`] is that view plus a range: nothing is copied or allocated per row, and
//! the fixed-width elements of a row are a slice of the batch ([`List::as_slice`]).
//!
//! A result `Vec<T>` is written into a [`ListBuilder`]: its elements into the element
//! column's builder, then one offset per row.

use std::fmt;
use std::iter::FusedIterator;

use sparkwasm_abi::columnar::{ColumnView, NodeHeader, NodeParts, TypeTag};

use crate::sql::builder::{node_len, ResultColumn, ResultType, ValidityBuilder};
use crate::sql::bytes::{self, Plain};
use crate::sql::column::{
    check_type, span, ArgType, Column, Fixed, FixedColumn, OwnedColumn, Scratch, Validity,
};

/// One row's Spark `array<T>`, as a SQL function argument: a view of the batch, no copy.
///
/// `T` is any argument type: `i64`, `&str`, a nested `List<'a, U>`, a derived struct, or
/// `Option<U>` to see null elements. With a non-`Option` `T` the list never holds a null: a
/// row whose array has a null element counts as a null argument (the function is not called
/// under the default `nulls = "skip"`, the task fails under `"reject"`, and an
/// `Option<List<T>>` argument is `None`).
///
/// ```ignore
/// #[sparkwasm::udf]
/// fn array_sum(xs: sparkwasm::List<Option<i64>>) -> i64 {
///     xs.iter().flatten().fold(0, i64::wrapping_add)
/// }
///
/// #[sparkwasm::udf]
/// fn total(xs: sparkwasm::List<i64>) -> i64 {
///     xs.as_slice().iter().sum() // the batch's values, in place
/// }
/// ```
pub struct List<'a, T: ArgType<'a>> {
    elements: T::Column,
    start: usize,
    len: usize,
}

impl<'a, T: ArgType<'a>> Clone for List<'a, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<'a, T: ArgType<'a>> Copy for List<'a, T> {}

impl<'a, T: ArgType<'a>> List<'a, T> {
    /// Elements in the array.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Element `index`, `None` past the end.
    #[inline]
    pub fn get(&self, index: usize) -> Option<T> {
        (index < self.len).then(|| self.elements.value(self.start + index))
    }

    /// The elements, in order.
    #[inline]
    pub fn iter(&self) -> ListIter<'a, T> {
        ListIter {
            elements: self.elements,
            next: self.start,
            end: self.start + self.len,
        }
    }
}

impl<'a, T> List<'a, T>
where
    T: Fixed + ArgType<'a, Column = FixedColumn<'a, T>>,
{
    /// The elements as their column stores them (`u8` 0 or 1 for `bool`, `i32` days for
    /// [`Date`](crate::Date), ...), in place; a null element (only in a `List<Option<T>>`,
    /// which this is not) would read as whatever the batch stores.
    #[inline]
    pub fn raw(&self) -> &'a [T::Raw] {
        self.elements
            .raw()
            .get(self.start..self.start + self.len)
            .unwrap_or_default()
    }
}

impl<'a, T> List<'a, T>
where
    T: Fixed<Raw = T> + ArgType<'a, Column = FixedColumn<'a, T>>,
{
    /// The elements as a slice of the batch, without copying (`i8`, `i16`, `i32`, `i64`,
    /// `f32`, `f64`; for `bool` and the newtypes see [`List::raw`]).
    #[inline]
    pub fn as_slice(&self) -> &'a [T] {
        self.raw()
    }
}

impl<'a, T: ArgType<'a> + fmt::Debug> fmt::Debug for List<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T: ArgType<'a>> IntoIterator for List<'a, T> {
    type Item = T;
    type IntoIter = ListIter<'a, T>;

    fn into_iter(self) -> ListIter<'a, T> {
        self.iter()
    }
}

impl<'a, T: ArgType<'a>> IntoIterator for &List<'a, T> {
    type Item = T;
    type IntoIter = ListIter<'a, T>;

    fn into_iter(self) -> ListIter<'a, T> {
        self.iter()
    }
}

/// The elements of a [`List`].
pub struct ListIter<'a, T: ArgType<'a>> {
    elements: T::Column,
    next: usize,
    end: usize,
}

impl<'a, T: ArgType<'a>> Clone for ListIter<'a, T> {
    fn clone(&self) -> Self {
        ListIter {
            elements: self.elements,
            next: self.next,
            end: self.end,
        }
    }
}

impl<'a, T: ArgType<'a>> Iterator for ListIter<'a, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        if self.next >= self.end {
            return None;
        }
        let value = self.elements.value(self.next);
        self.next += 1;
        Some(value)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.end.saturating_sub(self.next);
        (left, Some(left))
    }
}

impl<'a, T: ArgType<'a>> DoubleEndedIterator for ListIter<'a, T> {
    #[inline]
    fn next_back(&mut self) -> Option<T> {
        if self.next >= self.end {
            return None;
        }
        self.end -= 1;
        Some(self.elements.value(self.end))
    }
}

impl<'a, T: ArgType<'a>> ExactSizeIterator for ListIter<'a, T> {}

impl<'a, T: ArgType<'a>> FusedIterator for ListIter<'a, T> {}

/// An array column: a [`List`] per row.
pub struct ListColumn<'a, T: ArgType<'a>> {
    offsets: &'a [i32],
    validity: Validity<'a>,
    elements: T::Column,
    /// Whether some element may be invalid as a `T` (a null where `T` is not an `Option`),
    /// which makes its row invalid.
    element_nulls: bool,
}

impl<'a, T: ArgType<'a>> Clone for ListColumn<'a, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<'a, T: ArgType<'a>> Copy for ListColumn<'a, T> {}

impl<'a, T: ArgType<'a>> ArgType<'a> for List<'a, T> {
    type Column = ListColumn<'a, T>;

    fn column(view: &'a ColumnView<'_>, scratch: &'a mut Scratch) -> Result<Self::Column, String> {
        check_type(view, TypeTag::Array, 0, 0)?;
        let [child] = view.children.as_slice() else {
            return Err(format!(
                "an array column with {} child columns (it has one)",
                view.children.len()
            ));
        };
        let (offsets, kids) = scratch.split::<i32>(view.offsets, 1);
        if offsets.len() != view.len() + 1 {
            return Err(format!(
                "{} offsets in an array column of {} rows",
                offsets.len(),
                view.len()
            ));
        }
        let [kid] = kids else {
            return Err("no scratch space for the array's elements".into());
        };
        let elements = T::column(child, kid).map_err(|message| format!("elements: {message}"))?;
        Ok(ListColumn {
            offsets,
            validity: Validity::of(view),
            element_nulls: elements.has_nulls(),
            elements,
        })
    }
}

impl<'a, T: ArgType<'a>> Column for ListColumn<'a, T> {
    type Item = List<'a, T>;

    #[inline]
    fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    #[inline]
    fn has_nulls(&self) -> bool {
        self.validity.has_nulls() || self.element_nulls
    }

    #[inline]
    fn is_valid(&self, row: usize) -> bool {
        if !self.validity.is_valid(row) {
            return false;
        }
        if !self.element_nulls {
            return true;
        }
        let (start, end) = span(self.offsets, row);
        (start..end).all(|element| self.elements.is_valid(element))
    }

    #[inline]
    fn value(&self, row: usize) -> List<'a, T> {
        let (start, end) = span(self.offsets, row);
        List {
            elements: self.elements,
            start,
            len: end.saturating_sub(start),
        }
    }
}

impl<'a, T: ArgType<'a>> Column for OwnedColumn<ListColumn<'a, T>> {
    type Item = Vec<T>;

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
    fn value(&self, row: usize) -> Vec<T> {
        self.0.value(row).iter().collect()
    }
}

/// A `Vec<T>` field of a derived struct read as an argument: a copy per row. (A top-level
/// array argument is a [`List`]: `#[udf]` refuses `Vec<T>` there.)
impl<'a, T: ArgType<'a>> ArgType<'a> for Vec<T> {
    type Column = OwnedColumn<ListColumn<'a, T>>;

    fn column(view: &'a ColumnView<'_>, scratch: &'a mut Scratch) -> Result<Self::Column, String> {
        List::<'a, T>::column(view, scratch).map(OwnedColumn)
    }
}

/// An array result column: `i32` offsets into the element column `B`.
pub struct ListBuilder<B> {
    /// `len + 1` offsets, little-endian representation.
    offsets: Vec<i32>,
    validity: ValidityBuilder,
    elements: B,
    error: Option<String>,
}

impl<B: ResultColumn> ListBuilder<B> {
    fn new(elements: B) -> Self {
        ListBuilder {
            offsets: vec![0],
            validity: ValidityBuilder::default(),
            elements,
            error: None,
        }
    }

    /// Ends a row whose elements were just written into the element column (none for a
    /// null).
    #[inline]
    fn end_row(&mut self, valid: bool) {
        let row = self.offsets.len() - 1;
        let end = i32::try_from(self.elements.len()).unwrap_or_else(|_| {
            self.error.get_or_insert_with(|| {
                "the results of one batch exceed the 2^31 elements an array column holds".to_owned()
            });
            i32::MAX
        });
        self.offsets.push(end.to_le_repr());
        self.validity.push(row, valid);
    }
}

impl<B: ResultColumn> ResultColumn for ListBuilder<B> {
    fn clear(&mut self) {
        self.offsets.clear();
        self.offsets.push(0);
        self.validity.clear();
        self.elements.clear();
        self.error = None;
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn node(&self) -> NodeParts<'_> {
        NodeParts {
            header: NodeHeader {
                tag: TypeTag::Array,
                precision: 0,
                scale: 0,
                children: 1,
                len: node_len(self.len()),
            },
            validity: self.validity.bitmap(),
            offsets: bytes::as_bytes(&self.offsets),
            values: &[],
        }
    }

    fn error(&self) -> Option<&str> {
        self.error.as_deref().or_else(|| self.elements.error())
    }

    fn children(&self) -> usize {
        1
    }

    fn child(&self, index: usize) -> Option<&dyn ResultColumn> {
        (index == 0).then_some(&self.elements as &dyn ResultColumn)
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// `Vec<T>` is an `array<T>` result (`Vec<u8>` stays `binary`); its elements may be
/// `Option<T>`, and `Option<Vec<T>>` makes a nullable array.
impl<T: ResultType> ResultType for Vec<T> {
    type Builder = ListBuilder<T::Builder>;

    fn new_builder() -> Self::Builder {
        ListBuilder::new(T::new_builder())
    }

    #[inline]
    fn push_result(self, out: &mut Self::Builder) {
        for element in self {
            element.push_result(&mut out.elements);
        }
        out.end_row(true);
    }

    #[inline]
    fn push_null(out: &mut Self::Builder) {
        out.end_row(false);
    }
}

#[cfg(test)]
mod tests {
    use sparkwasm_abi::columnar::{read_batch, write_batch, Op};

    use super::*;
    use crate::sql::builder::{as_view, node_count, pre_order};

    /// Writes `column` as the one column of a batch.
    fn written(column: &dyn ResultColumn) -> Vec<u8> {
        let none = NodeParts {
            header: NodeHeader {
                tag: TypeTag::Boolean,
                precision: 0,
                scale: 0,
                children: 0,
                len: 0,
            },
            validity: None,
            offsets: &[],
            values: &[],
        };
        let mut nodes = vec![none; node_count(column)];
        assert_eq!(pre_order(column, &mut nodes, 0), nodes.len());
        let mut out = Vec::new();
        write_batch(&mut out, Op::Rows, column.len() as u32, 1, &nodes);
        out
    }

    #[test]
    fn vec_results_read_back_as_lists_with_nulls_at_both_levels() {
        let mut out = <Option<Vec<Option<i32>>>>::new_builder();
        Some(vec![Some(1), None, Some(3)]).push_result(&mut out);
        Option::<Vec<Option<i32>>>::None.push_result(&mut out);
        Some(Vec::<Option<i32>>::new()).push_result(&mut out);
        Some(vec![Some(-4)]).push_result(&mut out);
        assert_eq!(node_count(&out), 2);
        let bytes = written(&out);
        let batch = read_batch(&bytes).unwrap();
        let mut scratch = Scratch::default();
        let lists = <List<'_, Option<i32>>>::column(&batch.columns[0], &mut scratch).unwrap();
        assert_eq!(lists.len(), 4);
        let rows: Vec<Option<Vec<Option<i32>>>> = (0..4)
            .map(|row| lists.get(row).map(|list| list.iter().collect()))
            .collect();
        assert_eq!(
            rows,
            [
                Some(vec![Some(1), None, Some(3)]),
                None,
                Some(vec![]),
                Some(vec![Some(-4)])
            ]
        );
        // Non-Option elements: the row holding a null element is invalid, the others are
        // viewed in place.
        let mut scratch = Scratch::default();
        let strict = <List<'_, i32>>::column(&batch.columns[0], &mut scratch).unwrap();
        assert!(strict.has_nulls());
        assert_eq!(
            (0..4).map(|row| strict.is_valid(row)).collect::<Vec<_>>(),
            [false, false, true, true]
        );
        assert_eq!(strict.value(3).as_slice(), &[-4]);
        assert!(strict.value(2).as_slice().is_empty());
        let values = batch.columns[0].children[0].values.as_ptr();
        assert_eq!(
            strict.value(0).as_slice().as_ptr().cast::<u8>(),
            values,
            "in place"
        );
        // The chain view sees the same.
        let view = as_view(&out);
        let mut scratch = Scratch::default();
        let chained = <List<'_, Option<i32>>>::column(&view, &mut scratch).unwrap();
        assert_eq!(
            format!("{:?}", chained.value(0)),
            "[Some(1), None, Some(3)]"
        );
    }

    #[test]
    fn lists_of_strings_and_nested_lists_iterate_both_ways() {
        let mut out = <Vec<Vec<String>>>::new_builder();
        vec![vec!["a".to_owned(), "βγ".to_owned()], vec![]].push_result(&mut out);
        <Vec<Vec<String>> as ResultType>::push_null(&mut out);
        vec![vec![String::new()]].push_result(&mut out);
        assert_eq!(node_count(&out), 3);
        let bytes = written(&out);
        let batch = read_batch(&bytes).unwrap();
        let mut scratch = Scratch::default();
        let column = <List<'_, List<'_, &str>>>::column(&batch.columns[0], &mut scratch).unwrap();
        assert_eq!(column.get(1).map(|l| l.len()), None);
        let first = column.value(0);
        assert_eq!(first.len(), 2);
        let inner: Vec<Vec<&str>> = first.iter().map(|l| l.iter().collect()).collect();
        assert_eq!(inner, [vec!["a", "βγ"], vec![]]);
        assert_eq!(
            first.get(0).unwrap().iter().rev().collect::<Vec<_>>(),
            ["βγ", "a"]
        );
        assert!(first.get(2).is_none(), "past the end");
        assert_eq!(column.value(2).get(0).unwrap().get(0), Some(""));
        // Read as owned vectors (a struct field's `Vec<String>`).
        let mut scratch = Scratch::default();
        let owned = <Vec<Vec<String>>>::column(&batch.columns[0], &mut scratch).unwrap();
        assert_eq!(owned.value(2), [vec![String::new()]]);
    }

    #[test]
    fn the_wrong_nesting_is_an_error() {
        let mut out = <Vec<i64>>::new_builder();
        vec![1i64].push_result(&mut out);
        let bytes = written(&out);
        let batch = read_batch(&bytes).unwrap();
        let mut scratch = Scratch::default();
        let error = <List<'_, i32>>::column(&batch.columns[0], &mut scratch)
            .err()
            .unwrap();
        assert_eq!(
            error,
            "elements: expected a Int column, the batch has a Long column"
        );
        let mut scratch = Scratch::default();
        let error = i64::column(&batch.columns[0], &mut scratch).err().unwrap();
        assert!(error.contains("the batch has a Array column"), "{error}");
        let mut scratch = Scratch::default();
        let error = <List<'_, i64>>::column(&batch.columns[0].children[0], &mut scratch)
            .err()
            .unwrap();
        assert!(error.contains("expected a Array column"), "{error}");
    }

    #[test]
    fn raw_views_cover_booleans_and_newtypes() {
        let mut out = <Vec<bool>>::new_builder();
        vec![true, false].push_result(&mut out);
        let bytes = written(&out);
        let batch = read_batch(&bytes).unwrap();
        let mut scratch = Scratch::default();
        let column = <List<'_, bool>>::column(&batch.columns[0], &mut scratch).unwrap();
        assert_eq!(column.value(0).raw(), &[1, 0]);
        assert_eq!(column.value(0).iter().collect::<Vec<_>>(), [true, false]);
    }
}
