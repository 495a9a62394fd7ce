//! Whole-task tests of arrays and structs: functions over `List<T>`, `Vec<T>` and derived
//! structs, input batches with nested columns (nulls at the row, element and field level,
//! empty arrays, strings), chains passing nested results on, and the type strings the
//! derive and `#[udf]` assemble at compile time.

use sparkwasm_abi::columnar::{read_batch, ColumnView, NodeParts, Op, TypeTag};

use super::{bitmap, header, ints, longs, rows, sql_spec, strings, Col};
use crate::element::{self, Ops};
use crate::sql::{List, SqlStruct, Udaf};

// ---- functions ----

#[sparkwasm::udf]
fn n_array_sum(xs: List<Option<i64>>) -> i64 {
    xs.iter().flatten().fold(0, i64::wrapping_add)
}

/// Sums a slice viewed in place: a null element makes the row null (skip).
#[sparkwasm::udf]
fn n_total(xs: List<i64>) -> i64 {
    xs.as_slice().iter().fold(0, |a, b| a.wrapping_add(*b))
}

#[sparkwasm::udf(nulls = "reject")]
fn n_strict_len(xs: List<i64>) -> i32 {
    xs.len() as i32
}

#[sparkwasm::udf]
fn n_len_or_minus_one(xs: Option<List<i64>>) -> i32 {
    xs.map_or(-1, |xs| xs.len() as i32)
}

#[sparkwasm::udf]
fn n_array_len_strings(xs: List<&str>) -> i32 {
    xs.iter().map(|s| s.chars().count() as i32).sum()
}

#[sparkwasm::udf]
fn n_reverse_ints(xs: List<Option<i32>>) -> Vec<Option<i32>> {
    xs.iter().rev().collect()
}

#[sparkwasm::udf]
fn n_split_words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

#[sparkwasm::udf]
fn n_id_string_array(xs: List<Option<&str>>) -> Vec<Option<String>> {
    xs.iter().map(|s| s.map(str::to_owned)).collect()
}

#[sparkwasm::udf]
fn n_flatten(xs: List<List<Option<i32>>>) -> Vec<Option<i32>> {
    xs.iter().flat_map(|inner| inner.iter()).collect()
}

#[sparkwasm::udf]
fn n_triangle(n: i32) -> Option<Vec<Vec<i32>>> {
    (n >= 0).then(|| (0..n).map(|i| (0..=i).collect()).collect())
}

#[derive(Clone, Debug, PartialEq, sparkwasm::SqlStruct)]
struct Point {
    a: i32,
    b: String,
}

#[derive(Debug, sparkwasm::SqlStruct)]
struct MaybePoint {
    a: Option<i32>,
    b: Option<String>,
}

/// Borrows from the batch: an argument only.
#[derive(sparkwasm::SqlStruct)]
struct PointRef<'a> {
    a: i32,
    b: &'a str,
    tags: List<'a, Option<&'a str>>,
}

/// Nested: a struct field, an array of structs, a keyword field name.
#[derive(Debug, sparkwasm::SqlStruct)]
struct Line {
    from: Point,
    to: Option<Point>,
    r#type: Vec<String>,
}

#[sparkwasm::udf]
fn n_id_point(p: Point) -> Point {
    p
}

#[sparkwasm::udf]
fn n_point_label(p: Point) -> String {
    format!("{}:{}", p.b, p.a)
}

#[sparkwasm::udf]
fn n_make_point(a: i32, b: &str) -> Point {
    Point { a, b: b.to_owned() }
}

#[sparkwasm::udf]
fn n_id_maybe_point(p: Option<MaybePoint>) -> Option<MaybePoint> {
    p
}

#[sparkwasm::udf]
fn n_label_ref(p: PointRef<'_>) -> String {
    let tags: Vec<&str> = p.tags.iter().map(|t| t.unwrap_or("?")).collect();
    format!("{}:{}:{}", p.b, p.a, tags.join("+"))
}

#[sparkwasm::udf]
fn n_make_line(from: Point, kinds: List<&str>) -> Line {
    let to = (from.a > 0).then(|| Point {
        a: -from.a,
        b: from.b.to_uppercase(),
    });
    Line {
        from,
        to,
        r#type: kinds.iter().map(str::to_owned).collect(),
    }
}

#[sparkwasm::udf]
fn n_line_kinds(line: Line) -> i32 {
    line.r#type.len() as i32 + line.to.map_or(0, |p| p.a)
}

#[sparkwasm::udf]
fn n_sort_points(ps: List<Option<Point>>) -> Vec<Option<Point>> {
    let mut points: Vec<Option<Point>> = ps.iter().collect();
    points.sort_by_key(|p| p.as_ref().map(|p| p.a));
    points
}

/// The elements of a group's arrays, concatenated (an array argument and result in an
/// aggregate).
#[derive(Default)]
struct Concat(Vec<Option<i32>>);

impl<'a> Udaf<List<'a, Option<i32>>> for Concat {
    type Output = Vec<Option<i32>>;
    fn update(&mut self, xs: List<'a, Option<i32>>) {
        self.0.extend(xs.iter());
    }
    fn merge(&mut self, other: Self) {
        self.0.extend(other.0);
    }
    fn finish(self) -> Vec<Option<i32>> {
        self.0
    }
}

#[sparkwasm::udaf]
fn n_concat() -> impl for<'a> Udaf<List<'a, Option<i32>>, Output = Vec<Option<i32>>> {
    Concat::default()
}

// ---- nested input columns ----

/// A column with its children.
struct Tree {
    col: Col,
    children: Vec<Tree>,
}

fn leaf(col: Col) -> Tree {
    Tree {
        col,
        children: Vec::new(),
    }
}

/// An array column: row `i` has `lengths[i]` elements of `elements` (in order), or is null
/// (`None`, then it spans `null_span` elements, which a reader must ignore).
fn array(lengths: &[Option<usize>], null_span: usize, elements: Tree) -> Tree {
    let mut offsets = vec![0i32];
    let mut end = 0;
    for length in lengths {
        end += length.unwrap_or(null_span);
        offsets.push(i32::try_from(end).unwrap());
    }
    assert_eq!(
        end, elements.col.header.len as usize,
        "offsets end at the elements"
    );
    let mut head = header(TypeTag::Array, lengths.len());
    head.children = 1;
    Tree {
        col: Col {
            header: head,
            validity: bitmap(&lengths.iter().map(Option::is_some).collect::<Vec<_>>()),
            offsets: offsets.iter().flat_map(|o| o.to_le_bytes()).collect(),
            values: Vec::new(),
        },
        children: vec![elements],
    }
}

/// A struct column of `fields`, null where `present` is false.
fn structure(present: &[bool], fields: Vec<Tree>) -> Tree {
    let mut head = header(TypeTag::Struct, present.len());
    head.children = u32::try_from(fields.len()).unwrap();
    Tree {
        col: Col {
            header: head,
            validity: bitmap(present),
            offsets: Vec::new(),
            values: Vec::new(),
        },
        children: fields,
    }
}

fn flatten<'t>(tree: &'t Tree, out: &mut Vec<NodeParts<'t>>) {
    out.push(NodeParts {
        header: tree.col.header,
        validity: tree.col.validity.as_deref(),
        offsets: &tree.col.offsets,
        values: &tree.col.values,
    });
    for child in &tree.children {
        flatten(child, out);
    }
}

/// A `Rows` batch of the trees.
fn nested_rows(trees: &[&Tree]) -> Vec<u8> {
    let mut nodes = Vec::new();
    for tree in trees {
        flatten(tree, &mut nodes);
    }
    let rows = trees.first().map_or(0, |t| t.col.header.len);
    let mut out = Vec::new();
    sparkwasm_abi::columnar::write_batch(
        &mut out,
        Op::Rows,
        rows,
        u32::try_from(trees.len()).unwrap(),
        &nodes,
    );
    out
}

// ---- nested output columns ----

/// An output value, nested.
#[derive(Clone, Debug, PartialEq)]
enum N {
    Null,
    I(i64),
    S(String),
    L(Vec<N>),
    T(Vec<N>),
}

fn s(text: &str) -> N {
    N::S(text.to_owned())
}

fn int_list(values: &[Option<i64>]) -> N {
    N::L(values.iter().map(|v| v.map_or(N::Null, N::I)).collect())
}

fn value(column: &ColumnView<'_>, row: usize) -> N {
    if !column.is_valid(row) {
        return N::Null;
    }
    match column.header.tag {
        TypeTag::Array => N::L(
            (column.offset(row)..column.offset(row + 1))
                .map(|i| value(&column.children[0], i))
                .collect(),
        ),
        TypeTag::Struct => N::T(column.children.iter().map(|c| value(c, row)).collect()),
        TypeTag::String => N::S(String::from_utf8(column.bytes(row).to_vec()).unwrap()),
        TypeTag::Int => N::I(i64::from(i32::from_le_bytes(
            column.values[row * 4..row * 4 + 4].try_into().unwrap(),
        ))),
        TypeTag::Long => N::I(i64::from_le_bytes(
            column.values[row * 8..row * 8 + 8].try_into().unwrap(),
        )),
        other => panic!("no test decoding for {other:?}"),
    }
}

/// The output columns of a successful task, decoded (one `Vec` per column, all batches).
fn columns(spec: &sparkwasm_abi::TaskSpec, input: Vec<Vec<u8>>) -> Vec<Vec<N>> {
    let outputs = run_raw(spec, input).unwrap_or_else(|errors| panic!("{errors:?}"));
    let mut columns: Vec<Vec<N>> = Vec::new();
    for bytes in &outputs {
        let batch = read_batch(bytes).expect("the guest writes valid batches");
        assert_eq!(batch.op, Op::Rows);
        columns.resize_with(batch.columns.len(), Vec::new);
        for (out, column) in columns.iter_mut().zip(&batch.columns) {
            out.extend((0..batch.rows).map(|row| value(column, row)));
        }
    }
    columns
}

/// The task's output batches, or its error messages.
fn run_raw(
    spec: &sparkwasm_abi::TaskSpec,
    input: Vec<Vec<u8>>,
) -> Result<Vec<Vec<u8>>, Vec<String>> {
    crate::host::native::with(|host| {
        *host = Default::default();
        host.batches = input.into();
    });
    let status = crate::task::run_task(&postcard::to_allocvec(spec).unwrap());
    crate::host::native::with(|host| {
        if status == sparkwasm_abi::STATUS_OK && host.errors.is_empty() {
            Ok(std::mem::take(&mut host.output))
        } else {
            Err(std::mem::take(&mut host.errors))
        }
    })
}

fn one_error(spec: &sparkwasm_abi::TaskSpec, input: Vec<Vec<u8>>) -> String {
    let errors = run_raw(spec, input).expect_err("the task fails");
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors[0].clone()
}

/// `array<bigint>` rows: `[1, null, 3]`, null, `[]`, `[4, 5]`, `[null]`.
fn long_arrays() -> Tree {
    let elements = longs(&[Some(1), None, Some(3), Some(99), Some(4), Some(5), None]);
    array(
        &[Some(3), None, Some(0), Some(2), Some(1)],
        1,
        leaf(elements),
    )
}

// ---- arrays ----

#[test]
fn arrays_with_nulls_at_the_row_and_element_level() {
    let spec = sql_spec(
        vec![
            vec![sparkwasm_fn_n_array_sum()],
            vec![sparkwasm_fn_n_total()],
            vec![sparkwasm_fn_n_len_or_minus_one()],
        ],
        false,
    );
    let xs = long_arrays();
    let out = columns(&spec, vec![nested_rows(&[&xs, &xs, &xs])]);
    // Option elements: nulls skipped by the function; a null array skips the call.
    assert_eq!(out[0], [N::I(4), N::Null, N::I(0), N::I(9), N::I(0)]);
    // Non-Option elements: a null element makes the row a null argument.
    assert_eq!(out[1], [N::Null, N::Null, N::I(0), N::I(9), N::Null]);
    // Option<List<i64>>: None for a null array and for one with a null element.
    assert_eq!(out[2], [N::I(-1), N::I(-1), N::I(0), N::I(2), N::I(-1)]);
}

#[test]
fn a_null_element_of_a_strict_list_is_rejected_with_its_row() {
    let spec = sql_spec(vec![vec![sparkwasm_fn_n_strict_len()]], false);
    let ok = array(&[Some(2)], 0, leaf(longs(&[Some(1), Some(2)])));
    let bad = array(&[Some(0), Some(2)], 0, leaf(longs(&[Some(1), None])));
    let error = one_error(&spec, vec![nested_rows(&[&ok]), nested_rows(&[&bad])]);
    assert_eq!(
        error,
        "function `n_strict_len` got a null in argument 0 at row 2 of the task's input, but \
         it rejects nulls (`nulls = \"reject\"`); take an `Option` to handle them"
    );
}

#[test]
fn arrays_of_strings_in_and_out() {
    let spec = sql_spec(
        vec![
            vec![sparkwasm_fn_n_array_len_strings()],
            vec![sparkwasm_fn_n_id_string_array()],
            vec![sparkwasm_fn_n_split_words()],
        ],
        false,
    );
    let words = strings(&[Some("straße"), None, Some(""), Some("日本")]);
    let xs = array(&[Some(2), Some(0), None, Some(2)], 0, leaf(words));
    let text = strings(&[Some(" a  b c "), Some(""), None, Some("one")]);
    let out = columns(&spec, vec![nested_rows(&[&xs, &xs, &leaf(text)])]);
    // List<&str>: the null element makes row 0 a null argument.
    assert_eq!(out[0], [N::Null, N::I(0), N::Null, N::I(2)]);
    assert_eq!(
        out[1],
        [
            N::L(vec![s("straße"), N::Null]),
            N::L(vec![]),
            N::Null,
            N::L(vec![s(""), s("日本")])
        ]
    );
    // split_words("") is the empty array, not null.
    assert_eq!(
        out[2],
        [
            N::L(vec![s("a"), s("b"), s("c")]),
            N::L(vec![]),
            N::Null,
            N::L(vec![s("one")])
        ]
    );
}

#[test]
fn int_arrays_reverse_and_nest() {
    let spec = sql_spec(
        vec![
            vec![sparkwasm_fn_n_reverse_ints()],
            vec![sparkwasm_fn_n_flatten()],
            vec![sparkwasm_fn_n_triangle()],
        ],
        false,
    );
    let xs = array(
        &[Some(3), None, Some(0), Some(1)],
        2,
        leaf(ints(&[Some(1), None, Some(3), Some(7), Some(8), Some(-1)])),
    );
    // array<array<int>>: [[1, null], []], null, [], [[3]... no: a null inner array].
    let inner = array(
        &[Some(2), Some(0), Some(1), None],
        0,
        leaf(ints(&[Some(1), None, Some(3)])),
    );
    let nested = array(&[Some(2), None, Some(0), Some(1)], 1, inner);
    let n = ints(&[Some(2), Some(-1), Some(0), None]);
    let out = columns(&spec, vec![nested_rows(&[&xs, &nested, &leaf(n)])]);
    assert_eq!(
        out[0],
        [
            int_list(&[Some(3), None, Some(1)]),
            N::Null,
            N::L(vec![]),
            int_list(&[Some(-1)])
        ]
    );
    // Row 3's inner array is null: a non-Option inner list makes the row null.
    assert_eq!(
        out[1],
        [int_list(&[Some(1), None]), N::Null, N::L(vec![]), N::Null]
    );
    assert_eq!(
        out[2],
        [
            N::L(vec![int_list(&[Some(0)]), int_list(&[Some(0), Some(1)])]),
            N::Null,
            N::L(vec![]),
            N::Null
        ]
    );
}

#[test]
fn array_results_feed_a_chain_and_an_aggregate() {
    // reverse_ints(reverse_ints(xs)) is xs; array_sum cannot follow (bigint elements).
    let spec = sql_spec(
        vec![vec![
            sparkwasm_fn_n_reverse_ints(),
            sparkwasm_fn_n_reverse_ints(),
        ]],
        false,
    );
    let xs = array(
        &[Some(2), None, Some(1)],
        0,
        leaf(ints(&[Some(1), None, Some(5)])),
    );
    let out = columns(&spec, vec![nested_rows(&[&xs])]);
    assert_eq!(
        out[0],
        [int_list(&[Some(1), None]), N::Null, int_list(&[Some(5)])]
    );

    let spec = sql_spec(vec![vec![sparkwasm_fn_n_concat()]], true);
    let group = |xs: &Tree| {
        let mut nodes = Vec::new();
        flatten(xs, &mut nodes);
        let mut out = Vec::new();
        sparkwasm_abi::columnar::write_batch(&mut out, Op::GroupRows, xs.col.header.len, 1, &nodes);
        out
    };
    let out = columns(
        &spec,
        vec![
            group(&xs),
            group(&xs),
            super::group_end(),
            group(&xs),
            super::group_end(),
        ],
    );
    // The null array is skipped (a non-Option argument of an aggregate).
    assert_eq!(
        out[0],
        [
            int_list(&[Some(1), None, Some(5), Some(1), None, Some(5)]),
            int_list(&[Some(1), None, Some(5)])
        ]
    );
}

#[test]
fn an_array_of_another_element_type_is_refused_with_both_types() {
    let spec = sql_spec(vec![vec![sparkwasm_fn_n_array_sum()]], false);
    let xs = array(&[Some(1)], 0, leaf(ints(&[Some(1)])));
    assert_eq!(
        one_error(&spec, vec![nested_rows(&[&xs])]),
        "function `n_array_sum`: argument 0 is array<bigint>, but the batch's column 0 is \
         array<int>"
    );
    let flat = longs(&[Some(1)]);
    assert_eq!(
        one_error(&spec, vec![rows(&[&flat])]),
        "function `n_array_sum`: argument 0 is array<bigint>, but the batch's column 0 is \
         bigint"
    );
}

// ---- structs ----

fn points() -> Tree {
    // (1, "a"), null, (2, null), (-3, "é"), (null, "x")
    structure(
        &[true, false, true, true, true],
        vec![
            leaf(ints(&[Some(1), Some(0), Some(2), Some(-3), None])),
            leaf(strings(&[Some("a"), None, None, Some("é"), Some("x")])),
        ],
    )
}

fn point(a: i64, b: &str) -> N {
    N::T(vec![N::I(a), s(b)])
}

#[test]
fn derived_structs_know_their_spark_types() {
    assert_eq!(Point::SQL_TYPE, "struct<a:int,b:string>");
    assert_eq!(MaybePoint::SQL_TYPE, "struct<a:int,b:string>");
    assert_eq!(
        PointRef::SQL_TYPE,
        "struct<a:int,b:string,tags:array<string>>"
    );
    assert_eq!(
        Line::SQL_TYPE,
        "struct<from:struct<a:int,b:string>,to:struct<a:int,b:string>,type:array<string>>"
    );
    let sql_of = |handle: u32| match element::resolve(handle).unwrap().ops {
        Ops::Sql(sql) => (sql.args.to_vec(), sql.returns),
        _ => panic!("not a SQL function"),
    };
    assert_eq!(
        sql_of(sparkwasm_fn_n_make_line()),
        (
            vec!["struct<a:int,b:string>", "array<string>"],
            Line::SQL_TYPE
        )
    );
    assert_eq!(
        sql_of(sparkwasm_fn_n_sort_points()),
        (
            vec!["array<struct<a:int,b:string>>"],
            "array<struct<a:int,b:string>>"
        )
    );
    assert_eq!(
        sql_of(sparkwasm_fn_n_reverse_ints()),
        (vec!["array<int>"], "array<int>")
    );
}

#[test]
fn structs_with_null_rows_and_null_fields() {
    let spec = sql_spec(
        vec![
            vec![sparkwasm_fn_n_id_point()],
            vec![sparkwasm_fn_n_point_label()],
            vec![sparkwasm_fn_n_id_maybe_point()],
            vec![sparkwasm_fn_n_make_point()],
        ],
        false,
    );
    let p = points();
    let a = ints(&[Some(1), None, Some(0), Some(7), Some(8)]);
    let b = strings(&[Some("q"), Some("r"), Some(""), None, Some("ü")]);
    let out = columns(&spec, vec![nested_rows(&[&p, &p, &p, &leaf(a), &leaf(b)])]);
    // Non-Option fields: a null field makes the struct a null argument.
    assert_eq!(
        out[0],
        [point(1, "a"), N::Null, N::Null, point(-3, "é"), N::Null]
    );
    assert_eq!(out[1], [s("a:1"), N::Null, N::Null, s("é:-3"), N::Null]);
    // Option fields see them; Option<MaybePoint> sees the null struct.
    assert_eq!(
        out[2],
        [
            point(1, "a"),
            N::Null,
            N::T(vec![N::I(2), N::Null]),
            point(-3, "é"),
            N::T(vec![N::Null, s("x")])
        ]
    );
    assert_eq!(
        out[3],
        [point(1, "q"), N::Null, point(0, ""), N::Null, point(8, "ü")]
    );
}

#[test]
fn borrowed_and_nested_structs_and_arrays_of_structs() {
    let spec = sql_spec(
        vec![
            vec![sparkwasm_fn_n_label_ref()],
            vec![sparkwasm_fn_n_make_line(), sparkwasm_fn_n_line_kinds()],
            vec![sparkwasm_fn_n_make_line()],
            vec![sparkwasm_fn_n_sort_points()],
        ],
        false,
    );
    let tags = array(
        &[Some(2), Some(0), None],
        0,
        leaf(strings(&[Some("t"), None])),
    );
    let refs = structure(
        &[true, true, true],
        vec![
            leaf(ints(&[Some(1), Some(2), Some(3)])),
            leaf(strings(&[Some("x"), Some("y"), Some("z")])),
            tags,
        ],
    );
    let from = structure(
        &[true, true, false],
        vec![
            leaf(ints(&[Some(5), Some(-1), None])),
            leaf(strings(&[Some("ab"), Some("c"), None])),
        ],
    );
    let kinds = array(
        &[Some(1), Some(0), Some(1)],
        0,
        leaf(strings(&[Some("k"), Some("z")])),
    );
    let list_of_points = array(
        &[Some(3), Some(0), None],
        0,
        structure(
            &[true, false, true],
            vec![
                leaf(ints(&[Some(9), None, Some(-9)])),
                leaf(strings(&[Some("nine"), None, Some("minus")])),
            ],
        ),
    );
    let out = columns(
        &spec,
        vec![nested_rows(&[
            &refs,
            &from,
            &kinds,
            &from,
            &kinds,
            &list_of_points,
        ])],
    );
    assert_eq!(out[0], [s("x:1:t+?"), s("y:2:"), N::Null]);
    // make_line then line_kinds, through the chain's nested view: kinds + to.a.
    assert_eq!(out[1], [N::I(1 - 5), N::I(0), N::Null]);
    assert_eq!(
        out[2],
        [
            N::T(vec![point(5, "ab"), point(-5, "AB"), N::L(vec![s("k")])]),
            N::T(vec![point(-1, "c"), N::Null, N::L(vec![])]),
            N::Null
        ]
    );
    assert_eq!(
        out[3],
        [
            N::L(vec![N::Null, point(-9, "minus"), point(9, "nine")]),
            N::L(vec![]),
            N::Null
        ]
    );
}

#[test]
fn a_struct_of_other_fields_is_refused() {
    let spec = sql_spec(vec![vec![sparkwasm_fn_n_id_point()]], false);
    let swapped = structure(
        &[true],
        vec![leaf(strings(&[Some("a")])), leaf(ints(&[Some(1)]))],
    );
    assert_eq!(
        one_error(&spec, vec![nested_rows(&[&swapped])]),
        "function `n_id_point`: argument 0 is struct<a:int,b:string>, but the batch's column \
         0 is struct<string,int>"
    );
}

#[test]
fn list_batches_cost_a_constant_number_of_allocations_not_one_per_row() {
    // Viewing arrays of fixed-width values allocates nothing per row: the sums read slices
    // of the batch. (Building a `Vec` result allocates per row by nature.)
    let spec = sql_spec(
        vec![
            vec![sparkwasm_fn_n_total()],
            vec![sparkwasm_fn_n_array_sum()],
        ],
        false,
    );
    let rows_per_batch = 500;
    let elements: Vec<Option<i64>> = (0..rows_per_batch * 3).map(Some).collect();
    let xs = array(
        &vec![Some(3); rows_per_batch as usize],
        0,
        leaf(longs(&elements)),
    );
    let one = nested_rows(&[&xs, &xs]);
    let few = super::allocations_of(&spec, vec![one.clone(); 3]);
    let many = super::allocations_of(&spec, vec![one; 23]);
    let per_batch = (many - few) as f64 / 20.0;
    // The batch view's column and child lists (`read_batch`): a few per batch.
    assert!(
        per_batch <= 3.0,
        "{per_batch} allocations per batch ({few} for 3, {many} for 23)"
    );
}
