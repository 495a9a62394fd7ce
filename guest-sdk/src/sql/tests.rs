//! Whole-task tests of the SQL loop: functions defined with the real `#[udf]` and `#[udaf]`
//! macros, columnar batches built with the ABI's writer, task specs encoded as the host
//! encodes them, and `run_task` driven against the native test host, which hands out one
//! batch per `input_next`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use sparkwasm_abi::columnar::{read_batch, write_batch, NodeHeader, NodeParts, Op, TypeTag};
use sparkwasm_abi::{
    FunctionKind, InputEncoding, OutputSpec, Source, SqlTask, TaskInfo, TaskSpec, ABI_VERSION,
    STATUS_ERROR, STATUS_OK,
};

use crate::host::native;
use crate::sql::{Date, Decimal, Timestamp, TimestampNtz, Udaf};
use crate::task;

mod nested;

// ---- functions ----

#[sparkwasm::udf]
fn sq_affine(x: i64) -> i64 {
    x.wrapping_mul(2).wrapping_add(1)
}

#[sparkwasm::udf]
fn sq_add_ints(a: i32, b: i32) -> i32 {
    a.wrapping_add(b)
}

#[sparkwasm::udf]
fn sq_str_len(s: &str) -> i32 {
    s.chars().count() as i32
}

#[sparkwasm::udf]
fn sq_concat(a: &str, b: &str) -> String {
    format!("{a}-{b}")
}

#[sparkwasm::udf]
fn sq_ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

#[sparkwasm::udf]
fn sq_coalesce_zero(x: Option<i64>) -> i64 {
    x.unwrap_or(0)
}

#[sparkwasm::udf(nulls = "reject")]
fn sq_must(x: i64) -> i64 {
    x
}

#[sparkwasm::udf]
fn sq_boom(x: i64) -> i64 {
    if x == 13 {
        panic!("boom at {x}");
    }
    x
}

#[sparkwasm::udf]
fn sq_bucket(x: i64) -> i64 {
    x.rem_euclid(10)
}

#[sparkwasm::udf]
fn sq_is_even(x: i64) -> bool {
    x % 2 == 0
}

#[sparkwasm::udf]
fn sq_positive_or_none(x: i64) -> Option<i64> {
    (x > 0).then_some(x)
}

#[sparkwasm::udf]
fn sq_answer() -> i64 {
    42
}

#[sparkwasm::udf]
fn sq_not(x: bool) -> bool {
    !x
}

#[sparkwasm::udf]
fn sq_neg_byte(x: i8) -> i8 {
    x.wrapping_neg()
}

#[sparkwasm::udf]
fn sq_neg_short(x: i16) -> i16 {
    x.wrapping_neg()
}

#[sparkwasm::udf]
fn sq_half_float(x: f32) -> f32 {
    x / 2.0
}

#[sparkwasm::udf]
fn sq_half_double(x: f64) -> f64 {
    x / 2.0
}

#[sparkwasm::udf]
fn sq_upper(x: &str) -> String {
    x.to_uppercase()
}

#[sparkwasm::udf]
fn sq_reverse(x: &[u8]) -> Vec<u8> {
    x.iter().rev().copied().collect()
}

#[sparkwasm::udf]
fn sq_next_day(x: Date) -> Date {
    Date(x.0 + 1)
}

#[sparkwasm::udf]
fn sq_plus_second(x: Timestamp) -> Timestamp {
    Timestamp(x.0 + 1_000_000)
}

#[sparkwasm::udf]
fn sq_id_ntz(x: TimestampNtz) -> TimestampNtz {
    x
}

#[sparkwasm::udf]
fn sq_double_decimal(x: Decimal<10, 2>) -> Decimal<12, 2> {
    Decimal(x.0 * 2)
}

#[sparkwasm::udf]
fn sq_widen_decimal(x: Decimal<10, 2>) -> Decimal<3, 2> {
    Decimal(x.0)
}

#[derive(Default)]
struct WeightedMean {
    sum: f64,
    weight: f64,
}

impl Udaf<(Option<f64>, Option<f64>)> for WeightedMean {
    type Output = Option<f64>;
    fn update(&mut self, (x, w): (Option<f64>, Option<f64>)) {
        if let (Some(x), Some(w)) = (x, w) {
            self.sum += x * w;
            self.weight += w;
        }
    }
    fn merge(&mut self, other: Self) {
        self.sum += other.sum;
        self.weight += other.weight;
    }
    fn finish(self) -> Option<f64> {
        (self.weight != 0.0).then(|| self.sum / self.weight)
    }
}

#[sparkwasm::udaf]
fn sq_weighted_mean() -> impl Udaf<(Option<f64>, Option<f64>), Output = Option<f64>> {
    WeightedMean::default()
}

#[derive(Default)]
struct Sum(i64);

impl Udaf<i64> for Sum {
    type Output = i64;
    fn update(&mut self, x: i64) {
        self.0 = self.0.wrapping_add(x);
    }
    fn merge(&mut self, other: Self) {
        self.0 = self.0.wrapping_add(other.0);
    }
    fn finish(self) -> i64 {
        self.0
    }
}

#[sparkwasm::udaf]
fn sq_sum_long() -> impl Udaf<i64, Output = i64> {
    Sum::default()
}

#[sparkwasm::udaf(nulls = "reject")]
fn sq_sum_strict() -> impl Udaf<i64, Output = i64> {
    Sum::default()
}

#[derive(Default)]
struct Count(i64);

impl Udaf<Option<i64>> for Count {
    type Output = i64;
    fn update(&mut self, _: Option<i64>) {
        self.0 += 1;
    }
    fn merge(&mut self, other: Self) {
        self.0 += other.0;
    }
    fn finish(self) -> i64 {
        self.0
    }
}

#[sparkwasm::udaf]
fn sq_count_rows() -> impl Udaf<Option<i64>, Output = i64> {
    Count::default()
}

/// The longest string of the group (borrowed arguments in an aggregate).
#[derive(Default)]
struct Longest(String);

impl<'a> Udaf<&'a str> for Longest {
    type Output = Option<String>;
    fn update(&mut self, s: &'a str) {
        if s.len() > self.0.len() {
            s.clone_into(&mut self.0);
        }
    }
    fn merge(&mut self, other: Self) {
        if other.0.len() > self.0.len() {
            self.0 = other.0;
        }
    }
    fn finish(self) -> Option<String> {
        (!self.0.is_empty()).then_some(self.0)
    }
}

#[sparkwasm::udaf]
fn sq_longest() -> impl for<'a> Udaf<&'a str, Output = Option<String>> {
    Longest::default()
}

#[sparkwasm::udaf]
fn sq_group_size() -> impl Udaf<(), Output = i64> {
    Rows::default()
}

#[derive(Default)]
struct Rows(i64);

impl Udaf<()> for Rows {
    type Output = i64;
    fn update(&mut self, (): ()) {
        self.0 += 1;
    }
    fn merge(&mut self, other: Self) {
        self.0 += other.0;
    }
    fn finish(self) -> i64 {
        self.0
    }
}

// ---- batches ----

/// An owned column to build input batches from.
struct Col {
    header: NodeHeader,
    validity: Option<Vec<u8>>,
    offsets: Vec<u8>,
    values: Vec<u8>,
}

fn header(tag: TypeTag, len: usize) -> NodeHeader {
    NodeHeader {
        tag,
        precision: 0,
        scale: 0,
        children: 0,
        len: u32::try_from(len).unwrap(),
    }
}

/// The validity bitmap of `present`, `None` when all are present.
fn bitmap(present: &[bool]) -> Option<Vec<u8>> {
    if present.iter().all(|p| *p) {
        return None;
    }
    let mut bits = vec![0u8; present.len().div_ceil(8)];
    for (i, p) in present.iter().enumerate() {
        if *p {
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    Some(bits)
}

fn fixed<T: Copy + Default, const N: usize>(
    tag: TypeTag,
    values: &[Option<T>],
    le: fn(T) -> [u8; N],
) -> Col {
    Col {
        header: header(tag, values.len()),
        validity: bitmap(&values.iter().map(Option::is_some).collect::<Vec<_>>()),
        offsets: Vec::new(),
        values: values
            .iter()
            .flat_map(|v| le(v.unwrap_or_default()))
            .collect(),
    }
}

fn longs(values: &[Option<i64>]) -> Col {
    fixed(TypeTag::Long, values, i64::to_le_bytes)
}

fn all_longs(values: impl IntoIterator<Item = i64>) -> Col {
    longs(&values.into_iter().map(Some).collect::<Vec<_>>())
}

fn ints(values: &[Option<i32>]) -> Col {
    fixed(TypeTag::Int, values, i32::to_le_bytes)
}

fn doubles(values: &[Option<f64>]) -> Col {
    fixed(TypeTag::Double, values, f64::to_le_bytes)
}

fn decimals(precision: u8, scale: i8, values: &[Option<i128>]) -> Col {
    let mut col = fixed(TypeTag::Decimal, values, i128::to_le_bytes);
    col.header.precision = precision;
    col.header.scale = scale;
    col
}

fn var(tag: TypeTag, values: &[Option<&[u8]>]) -> Col {
    let mut offsets = vec![0i32];
    let mut data = Vec::new();
    for v in values {
        data.extend_from_slice(v.unwrap_or_default());
        offsets.push(i32::try_from(data.len()).unwrap());
    }
    Col {
        header: header(tag, values.len()),
        validity: bitmap(&values.iter().map(Option::is_some).collect::<Vec<_>>()),
        offsets: offsets.iter().flat_map(|o| o.to_le_bytes()).collect(),
        values: data,
    }
}

fn strings(values: &[Option<&str>]) -> Col {
    var(
        TypeTag::String,
        &values
            .iter()
            .map(|v| v.map(str::as_bytes))
            .collect::<Vec<_>>(),
    )
}

/// A batch of `rows` rows holding `cols`.
fn batch(op: Op, rows: usize, cols: &[&Col]) -> Vec<u8> {
    let nodes: Vec<NodeParts<'_>> = cols
        .iter()
        .map(|c| NodeParts {
            header: c.header,
            validity: c.validity.as_deref(),
            offsets: &c.offsets,
            values: &c.values,
        })
        .collect();
    let mut out = Vec::new();
    write_batch(
        &mut out,
        op,
        u32::try_from(rows).unwrap(),
        u32::try_from(cols.len()).unwrap(),
        &nodes,
    );
    out
}

fn rows(cols: &[&Col]) -> Vec<u8> {
    let len = cols.first().map_or(0, |c| c.header.len as usize);
    batch(Op::Rows, len, cols)
}

fn group_rows(cols: &[&Col]) -> Vec<u8> {
    let len = cols.first().map_or(0, |c| c.header.len as usize);
    batch(Op::GroupRows, len, cols)
}

fn group_end() -> Vec<u8> {
    batch(Op::GroupEnd, 0, &[])
}

/// A value of an output column, for comparisons.
#[derive(Clone, Debug, PartialEq)]
enum V {
    B(bool),
    I(i64),
    F(f64),
    S(String),
    Y(Vec<u8>),
    D(i128),
}

/// An output column: its header and values.
#[derive(Debug)]
struct OutCol {
    header: NodeHeader,
    values: Vec<Option<V>>,
}

fn decode_batch(bytes: &[u8]) -> (usize, Vec<OutCol>) {
    let view = read_batch(bytes).expect("the guest writes valid batches");
    assert_eq!(view.op, Op::Rows);
    let columns = view
        .columns
        .iter()
        .map(|c| {
            let tag = c.header.tag;
            let values = (0..c.len())
                .map(|i| {
                    if !c.is_valid(i) {
                        return None;
                    }
                    let width = tag.width().unwrap_or(0);
                    let raw: &[u8] = c.values.get(i * width..(i + 1) * width).unwrap_or_default();
                    let int = |raw: &[u8]| {
                        let mut bytes = [0u8; 16];
                        bytes[..raw.len()].copy_from_slice(raw);
                        // Sign-extend from the value's width.
                        let shift = 128 - 8 * raw.len() as u32;
                        (i128::from_le_bytes(bytes) << shift) >> shift
                    };
                    Some(match tag {
                        TypeTag::Boolean => V::B(raw[0] != 0),
                        TypeTag::Float => {
                            V::F(f64::from(f32::from_le_bytes(raw.try_into().unwrap())))
                        }
                        TypeTag::Double => V::F(f64::from_le_bytes(raw.try_into().unwrap())),
                        TypeTag::String => V::S(String::from_utf8(c.bytes(i).to_vec()).unwrap()),
                        TypeTag::Binary => V::Y(c.bytes(i).to_vec()),
                        TypeTag::Decimal => V::D(int(raw)),
                        _ => V::I(i64::try_from(int(raw)).unwrap()),
                    })
                })
                .collect();
            OutCol {
                header: c.header,
                values,
            }
        })
        .collect();
    (view.rows, columns)
}

fn sql_spec(udfs: Vec<Vec<u32>>, aggregate: bool) -> TaskSpec {
    TaskSpec {
        abi_version: ABI_VERSION,
        info: TaskInfo::default(),
        input: InputEncoding::Columnar,
        source: Source::Dynamic,
        steps: Vec::new(),
        output: OutputSpec::Columnar,
        args: Vec::new(),
        broadcasts: Vec::new(),
        accumulators: Vec::new(),
        sql: Some(SqlTask { udfs, aggregate }),
    }
}

struct Outcome {
    status: i32,
    errors: Vec<String>,
    /// Output batches, decoded.
    batches: Vec<(usize, Vec<OutCol>)>,
    largest_input_buffer: usize,
}

impl Outcome {
    fn ok(self) -> Self {
        assert_eq!(self.status, STATUS_OK, "{:?}", self.errors);
        assert!(self.errors.is_empty(), "{:?}", self.errors);
        self
    }

    fn error(&self) -> &str {
        assert_eq!(self.status, STATUS_ERROR);
        assert_eq!(self.errors.len(), 1, "{:?}", self.errors);
        &self.errors[0]
    }

    /// Column `index` of all output batches, concatenated.
    fn column(&self, index: usize) -> Vec<Option<V>> {
        self.batches
            .iter()
            .flat_map(|(_, cols)| cols[index].values.clone())
            .collect()
    }
}

fn run_sql(spec: &TaskSpec, input: Vec<Vec<u8>>) -> Outcome {
    run_sql_with(spec, input, |_| {})
}

fn run_sql_with(
    spec: &TaskSpec,
    input: Vec<Vec<u8>>,
    prepare: impl FnOnce(&mut native::TestHost),
) -> Outcome {
    native::with(|host| {
        *host = Default::default();
        host.batches = input.into();
        prepare(host);
    });
    let status = task::run_task(&postcard::to_allocvec(spec).unwrap());
    native::with(|host| {
        assert!(
            host.batches.is_empty() || status == STATUS_ERROR,
            "unread input"
        );
        Outcome {
            status,
            errors: std::mem::take(&mut host.errors),
            batches: host.output.iter().map(|b| decode_batch(b)).collect(),
            largest_input_buffer: host.largest_input_buffer,
        }
    })
}

fn some<T>(values: impl IntoIterator<Item = T>) -> Vec<Option<T>> {
    values.into_iter().map(Some).collect()
}

fn ints_v(values: &[Option<i64>]) -> Vec<Option<V>> {
    values.iter().map(|v| v.map(V::I)).collect()
}

// ---- scalar tests ----

#[test]
fn one_output_batch_per_input_batch_in_order() {
    let spec = sql_spec(vec![vec![sparkwasm_fn_sq_affine()]], false);
    let out = run_sql(
        &spec,
        vec![
            rows(&[&all_longs([1, 2, 3])]),
            rows(&[&all_longs([])]),
            rows(&[&all_longs([i64::MAX, -4])]),
        ],
    )
    .ok();
    assert_eq!(
        out.batches.iter().map(|b| b.0).collect::<Vec<_>>(),
        [3, 0, 2]
    );
    assert_eq!(
        out.column(0),
        ints_v(&some([
            3,
            5,
            7,
            i64::MAX.wrapping_mul(2).wrapping_add(1),
            -7
        ]))
    );
    let first = &out.batches[0].1[0];
    assert_eq!(first.header.tag, TypeTag::Long);
    assert_eq!(out.batches[0].1.len(), 1);
}

#[test]
fn every_type_round_trips_with_nulls_skipped() {
    let handles = vec![
        vec![sparkwasm_fn_sq_not()],
        vec![sparkwasm_fn_sq_neg_byte()],
        vec![sparkwasm_fn_sq_neg_short()],
        vec![sparkwasm_fn_sq_add_ints()],
        vec![sparkwasm_fn_sq_affine()],
        vec![sparkwasm_fn_sq_half_float()],
        vec![sparkwasm_fn_sq_half_double()],
        vec![sparkwasm_fn_sq_upper()],
        vec![sparkwasm_fn_sq_reverse()],
        vec![sparkwasm_fn_sq_next_day()],
        vec![sparkwasm_fn_sq_plus_second()],
        vec![sparkwasm_fn_sq_id_ntz()],
        vec![sparkwasm_fn_sq_double_decimal()],
    ];
    let spec = sql_spec(handles, false);
    let bools = fixed(
        TypeTag::Boolean,
        &[Some(true), None, Some(false)],
        |b: bool| [u8::from(b)],
    );
    let bytes = fixed(
        TypeTag::Byte,
        &[Some(i8::MIN), Some(5), None],
        i8::to_le_bytes,
    );
    let shorts = fixed(
        TypeTag::Short,
        &[None, Some(-300), Some(7)],
        i16::to_le_bytes,
    );
    let a = ints(&[Some(1), Some(i32::MAX), None]);
    let b = ints(&[Some(2), Some(1), Some(3)]);
    let l = longs(&[Some(10), None, Some(-1)]);
    let floats = fixed(
        TypeTag::Float,
        &[Some(3.0f32), Some(-1.0), None],
        f32::to_le_bytes,
    );
    let doubles_col = doubles(&[None, Some(5.0), Some(-0.5)]);
    let text = strings(&[Some("straße"), None, Some("")]);
    let binary = var(TypeTag::Binary, &[Some(&[1, 2, 3][..]), Some(&[]), None]);
    let dates = fixed(
        TypeTag::Date,
        &[Some(-1i32), Some(19000), None],
        i32::to_le_bytes,
    );
    let stamps = fixed(
        TypeTag::Timestamp,
        &[Some(0i64), None, Some(-5)],
        i64::to_le_bytes,
    );
    let ntz = fixed(
        TypeTag::TimestampNtz,
        &[Some(7i64), Some(8), None],
        i64::to_le_bytes,
    );
    let decs = decimals(10, 2, &[Some(12345), None, Some(-9_999_999_999)]);
    let out = run_sql(
        &spec,
        vec![rows(&[
            &bools,
            &bytes,
            &shorts,
            &a,
            &b,
            &l,
            &floats,
            &doubles_col,
            &text,
            &binary,
            &dates,
            &stamps,
            &ntz,
            &decs,
        ])],
    )
    .ok();
    let (rows, cols) = &out.batches[0];
    assert_eq!(*rows, 3);
    let tags: Vec<TypeTag> = cols.iter().map(|c| c.header.tag).collect();
    use TypeTag as T;
    assert_eq!(
        tags,
        [
            T::Boolean,
            T::Byte,
            T::Short,
            T::Int,
            T::Long,
            T::Float,
            T::Double,
            T::String,
            T::Binary,
            T::Date,
            T::Timestamp,
            T::TimestampNtz,
            T::Decimal
        ]
    );
    assert_eq!(cols[0].values, [Some(V::B(false)), None, Some(V::B(true))]);
    assert_eq!(
        cols[1].values,
        ints_v(&[Some(i64::from(i8::MIN)), Some(-5), None])
    );
    assert_eq!(cols[2].values, ints_v(&[None, Some(300), Some(-7)]));
    assert_eq!(
        cols[3].values,
        ints_v(&[Some(3), Some(i64::from(i32::MIN)), None])
    );
    assert_eq!(cols[4].values, ints_v(&[Some(21), None, Some(-1)]));
    assert_eq!(cols[5].values, [Some(V::F(1.5)), Some(V::F(-0.5)), None]);
    assert_eq!(cols[6].values, [None, Some(V::F(2.5)), Some(V::F(-0.25))]);
    assert_eq!(
        cols[7].values,
        [
            Some(V::S("STRASSE".into())),
            None,
            Some(V::S(String::new()))
        ]
    );
    assert_eq!(
        cols[8].values,
        [Some(V::Y(vec![3, 2, 1])), Some(V::Y(vec![])), None]
    );
    assert_eq!(cols[9].values, ints_v(&[Some(0), Some(19001), None]));
    assert_eq!(
        cols[10].values,
        ints_v(&[Some(1_000_000), None, Some(999_995)])
    );
    assert_eq!(cols[11].values, ints_v(&[Some(7), Some(8), None]));
    assert_eq!(
        cols[12].values,
        [Some(V::D(24690)), None, Some(V::D(-19_999_999_998))]
    );
    assert_eq!((cols[12].header.precision, cols[12].header.scale), (12, 2));
}

#[test]
fn option_arguments_see_nulls_and_option_results_make_them() {
    let spec = sql_spec(
        vec![
            vec![sparkwasm_fn_sq_ratio()],
            vec![sparkwasm_fn_sq_coalesce_zero()],
        ],
        false,
    );
    let a = doubles(&[Some(1.0), None, Some(3.0), Some(4.0)]);
    let b = doubles(&[Some(2.0), Some(1.0), Some(0.0), None]);
    let x = longs(&[None, Some(5), None, Some(-1)]);
    let out = run_sql(&spec, vec![rows(&[&a, &b, &x])]).ok();
    assert_eq!(out.column(0), [Some(V::F(0.5)), None, None, None]);
    assert_eq!(out.column(1), ints_v(&some([0, 5, 0, -1])));
    // A non-Option result without nulls carries no validity bitmap.
    assert!(out.batches[0].1[1].values.iter().all(Option::is_some));
}

#[test]
fn several_udfs_share_and_repeat_columns() {
    // select(add_ints(a, b), str_len(s), concat(s, t), add_ints(b, a)): the host repeats
    // shared columns per UDF.
    let spec = sql_spec(
        vec![
            vec![sparkwasm_fn_sq_add_ints()],
            vec![sparkwasm_fn_sq_str_len()],
            vec![sparkwasm_fn_sq_concat()],
            vec![sparkwasm_fn_sq_add_ints()],
        ],
        false,
    );
    let a = ints(&[Some(1), Some(2)]);
    let b = ints(&[Some(10), None]);
    let s = strings(&[Some("añb"), Some("xy")]);
    let t = strings(&[None, Some("z")]);
    let out = run_sql(
        &spec,
        vec![
            rows(&[&a, &b, &s, &s, &t, &b, &a]),
            rows(&[&a, &a, &t, &t, &t, &b, &b]),
        ],
    )
    .ok();
    assert_eq!(out.column(0), ints_v(&[Some(11), None, Some(2), Some(4)]));
    assert_eq!(out.column(1), ints_v(&[Some(3), Some(2), None, Some(1)]));
    assert_eq!(
        out.column(2),
        [
            None,
            Some(V::S("xy-z".into())),
            None,
            Some(V::S("z-z".into()))
        ]
    );
    assert_eq!(out.column(3), ints_v(&[Some(11), None, Some(20), None]));
}

#[test]
fn a_chain_feeds_each_result_to_the_next_function() {
    // is_even(bucket(x)) and affine(positive_or_none(x)): the second chain's inner
    // function makes nulls that the outer one skips.
    let spec = sql_spec(
        vec![
            vec![sparkwasm_fn_sq_bucket(), sparkwasm_fn_sq_is_even()],
            vec![sparkwasm_fn_sq_positive_or_none(), sparkwasm_fn_sq_affine()],
            vec![
                sparkwasm_fn_sq_bucket(),
                sparkwasm_fn_sq_affine(),
                sparkwasm_fn_sq_affine(),
            ],
        ],
        false,
    );
    let x = longs(&[Some(13), Some(-4), None, Some(22)]);
    let out = run_sql(&spec, vec![rows(&[&x, &x, &x]), rows(&[&x, &x, &x])]).ok();
    let evens = [Some(V::B(false)), Some(V::B(true)), None, Some(V::B(true))];
    assert_eq!(out.column(0), [evens.clone(), evens].concat());
    let affine = ints_v(&[Some(27), None, None, Some(45)]);
    assert_eq!(out.column(1), [affine.clone(), affine].concat());
    // bucket(13) = 3 → 7 → 15; bucket(-4) = 6 → 13 → 27.
    assert_eq!(
        out.column(2)[..4],
        ints_v(&[Some(15), Some(27), None, Some(11)])
    );
}

#[test]
fn a_chain_whose_types_do_not_line_up_is_refused_before_any_input() {
    let spec = sql_spec(
        vec![vec![sparkwasm_fn_sq_str_len(), sparkwasm_fn_sq_affine()]],
        false,
    );
    let out = run_sql(&spec, vec![rows(&[&strings(&[Some("a")])])]);
    assert_eq!(
        out.error(),
        "UDF 0 chains `sq_affine` after `sq_str_len`, but `sq_affine` takes (bigint) and a \
         chained function takes exactly the previous result, int"
    );
}

#[test]
fn a_zero_argument_udf_gets_one_result_per_row() {
    let spec = sql_spec(
        vec![
            vec![sparkwasm_fn_sq_answer()],
            vec![sparkwasm_fn_sq_affine()],
        ],
        false,
    );
    let out = run_sql(&spec, vec![rows(&[&all_longs([1, 2])])]).ok();
    assert_eq!(out.column(0), ints_v(&some([42, 42])));
    assert_eq!(out.column(1), ints_v(&some([3, 5])));
}

#[test]
fn reject_names_the_function_the_argument_and_the_task_row() {
    let spec = sql_spec(
        vec![vec![sparkwasm_fn_sq_affine()], vec![sparkwasm_fn_sq_must()]],
        false,
    );
    let ok = all_longs([1, 2, 3]);
    let with_null = longs(&[Some(1), None, Some(3)]);
    let out = run_sql(
        &spec,
        vec![
            rows(&[&ok, &ok]),
            rows(&[&ok, &with_null]),
            rows(&[&ok, &ok]),
        ],
    );
    assert_eq!(
        out.error(),
        "function `sq_must` got a null in argument 0 at row 4 of the task's input, but it \
         rejects nulls (`nulls = \"reject\"`); take an `Option` to handle them"
    );
    // The batches before the failing one went out.
    assert_eq!(out.batches.len(), 1);

    // A null in another function's column does not matter.
    let out = run_sql(&spec, vec![rows(&[&with_null, &ok])]).ok();
    assert_eq!(out.column(0), ints_v(&[Some(3), None, Some(7)]));
    assert_eq!(out.column(1), ints_v(&some([1, 2, 3])));
}

#[test]
fn a_panic_names_the_function() {
    let spec = sql_spec(
        vec![vec![sparkwasm_fn_sq_affine()], vec![sparkwasm_fn_sq_boom()]],
        false,
    );
    let x = all_longs([12, 13]);
    let out = run_sql(&spec, vec![rows(&[&x, &x])]);
    let error = out.error();
    assert!(
        error.starts_with("function `sq_boom` panicked at "),
        "{error}"
    );
    assert!(error.ends_with(": boom at 13"), "{error}");
}

#[test]
fn a_column_of_another_type_is_refused_with_both_types() {
    let spec = sql_spec(vec![vec![sparkwasm_fn_sq_affine()]], false);
    let out = run_sql(&spec, vec![rows(&[&ints(&[Some(1)])])]);
    assert_eq!(
        out.error(),
        "function `sq_affine`: argument 0 is bigint, but the batch's column 0 is int"
    );
    let spec = sql_spec(vec![vec![sparkwasm_fn_sq_double_decimal()]], false);
    let out = run_sql(&spec, vec![rows(&[&decimals(10, 3, &[Some(1)])])]);
    assert_eq!(
        out.error(),
        "function `sq_double_decimal`: argument 0 is decimal(10,2), but the batch's column 0 \
         is decimal(10,3)"
    );
    let out = run_sql(&spec, vec![rows(&[])]);
    assert_eq!(
        out.error(),
        "malformed input batch: a batch of 0 columns, but the task's functions take 1 arguments"
    );
}

#[test]
fn invalid_utf8_and_unfit_decimals_are_task_errors() {
    let spec = sql_spec(vec![vec![sparkwasm_fn_sq_str_len()]], false);
    let bad = var(TypeTag::String, &[Some(&[0xc3][..])]);
    let out = run_sql(&spec, vec![rows(&[&bad])]);
    assert!(
        out.error()
            .starts_with("function `sq_str_len`: argument 0: the strings are not valid UTF-8"),
        "{}",
        out.error()
    );
    let spec = sql_spec(vec![vec![sparkwasm_fn_sq_widen_decimal()]], false);
    let out = run_sql(
        &spec,
        vec![rows(&[&decimals(10, 2, &[Some(999), Some(1000)])])],
    );
    assert_eq!(
        out.error(),
        "function `sq_widen_decimal`: the decimal(3,2) result with unscaled value 1000 has \
         more than 3 digits"
    );
}

#[test]
fn malformed_and_misplaced_batches_are_errors() {
    let spec = sql_spec(vec![vec![sparkwasm_fn_sq_affine()]], false);
    let out = run_sql(&spec, vec![b"SWCB".to_vec()]);
    assert!(
        out.error()
            .starts_with("malformed input batch: malformed columnar batch"),
        "{}",
        out.error()
    );
    let out = run_sql(&spec, vec![group_rows(&[&all_longs([1])])]);
    assert_eq!(
        out.error(),
        "malformed input batch: a GroupRows batch in a scalar (Rows) task"
    );
    let spec = sql_spec(vec![vec![sparkwasm_fn_sq_sum_long()]], true);
    let out = run_sql(&spec, vec![rows(&[&all_longs([1])])]);
    assert_eq!(
        out.error(),
        "malformed input batch: a Rows batch in an aggregate (GroupRows/GroupEnd) task"
    );
}

#[test]
fn kinds_handles_and_encodings_are_checked_before_any_input() {
    let spec = sql_spec(vec![vec![sparkwasm_fn_sq_sum_long()]], false);
    let out = run_sql(&spec, vec![rows(&[&all_longs([1])])]);
    assert_eq!(
        out.error(),
        "UDF 0 applies `sq_sum_long`, a udaf function, in a scalar SQL task, which takes udf \
         functions"
    );
    let spec = sql_spec(vec![vec![999_999]], false);
    assert_eq!(
        run_sql(&spec, vec![]).error(),
        "UDF 0, function 0: no function of this module has handle 999999"
    );
    let spec = sql_spec(
        vec![vec![sparkwasm_fn_sq_sum_long(), sparkwasm_fn_sq_sum_long()]],
        true,
    );
    assert!(run_sql(&spec, vec![])
        .error()
        .contains("aggregates cannot be chained"));
    let mut spec = sql_spec(vec![vec![sparkwasm_fn_sq_affine()]], false);
    spec.output = OutputSpec::Pickle;
    assert!(run_sql(&spec, vec![])
        .error()
        .starts_with("a SQL task reads columnar input"));
    // An RDD task cannot use SQL functions, nor columnar input.
    let mut rdd = sql_spec(vec![], false);
    rdd.sql = None;
    assert!(run_sql(&rdd, vec![])
        .error()
        .contains("columnar input and output belong to SQL tasks"));
    assert_eq!(
        crate::element::resolve(sparkwasm_fn_sq_affine())
            .unwrap()
            .kind,
        FunctionKind::Udf
    );
}

#[test]
fn a_batch_larger_than_the_buffer_grows_it() {
    let spec = sql_spec(vec![vec![sparkwasm_fn_sq_affine()]], false);
    let big = all_longs(0..20_000);
    let out = run_sql(&spec, vec![rows(&[&all_longs([1])]), rows(&[&big])]).ok();
    assert!(out.largest_input_buffer > super::run::INITIAL_INPUT_BUFFER);
    assert_eq!(out.column(0).len(), 20_001);
    assert_eq!(out.column(0)[20_000], Some(V::I(39_999)));
}

#[test]
fn a_refused_output_batch_fails_the_task() {
    let spec = sql_spec(vec![vec![sparkwasm_fn_sq_affine()]], false);
    let out = run_sql_with(&spec, vec![rows(&[&all_longs([1])])], |host| {
        host.refuse_output = Some(3);
    });
    assert_eq!(
        out.error(),
        "the host refused an output batch (output_write returned 3)"
    );
}

// ---- aggregates ----

#[test]
fn aggregates_fold_groups_spanning_several_batches() {
    let spec = sql_spec(
        vec![
            vec![sparkwasm_fn_sq_weighted_mean()],
            vec![sparkwasm_fn_sq_sum_long()],
            vec![sparkwasm_fn_sq_count_rows()],
            vec![sparkwasm_fn_sq_longest()],
            vec![sparkwasm_fn_sq_group_size()],
        ],
        true,
    );
    let part = |x: &[Option<f64>], w: &[Option<f64>], l: &[Option<i64>], s: &[Option<&str>]| {
        let (x, w, l, s) = (doubles(x), doubles(w), longs(l), strings(s));
        group_rows(&[&x, &w, &l, &l, &s])
    };
    let input = vec![
        // Group 0: three batches.
        part(
            &[Some(1.0), None],
            &[Some(1.0), Some(5.0)],
            &[Some(1), None],
            &[Some("a"), None],
        ),
        part(&[Some(3.0)], &[Some(3.0)], &[Some(2)], &[Some("abc")]),
        part(
            &[Some(2.0), Some(9.0)],
            &[None, Some(0.0)],
            &[None, Some(3)],
            &[Some("ab"), Some("")],
        ),
        group_end(),
        // Group 1: all null.
        part(&[None], &[None], &[None], &[None]),
        group_end(),
        // Group 2: one row.
        part(&[Some(2.0)], &[Some(-1.0)], &[Some(i64::MAX)], &[Some("x")]),
        part(&[], &[], &[], &[]),
        group_end(),
    ];
    let out = run_sql(&spec, input).ok();
    // Fewer than 1024 groups: one output batch, at the end of the input.
    assert_eq!(out.batches.len(), 1);
    assert_eq!(out.batches[0].0, 3);
    assert_eq!(out.column(0), [Some(V::F(2.5)), None, Some(V::F(2.0))]);
    assert_eq!(out.column(1), ints_v(&some([6, 0, i64::MAX])));
    assert_eq!(out.column(2), ints_v(&some([5, 1, 1])));
    assert_eq!(
        out.column(3),
        [Some(V::S("abc".into())), None, Some(V::S("x".into()))]
    );
    assert_eq!(out.column(4), ints_v(&some([5, 1, 1])));
}

#[test]
fn aggregate_results_go_out_every_1024_groups_and_at_the_end() {
    let spec = sql_spec(vec![vec![sparkwasm_fn_sq_sum_long()]], true);
    let mut input = Vec::new();
    for group in 0..2500i64 {
        input.push(group_rows(&[&all_longs([group, 1])]));
        input.push(group_end());
    }
    let out = run_sql(&spec, input).ok();
    assert_eq!(
        out.batches.iter().map(|b| b.0).collect::<Vec<_>>(),
        [1024, 1024, 452]
    );
    assert_eq!(
        out.column(0),
        ints_v(&(0..2500).map(|g| Some(g + 1)).collect::<Vec<_>>())
    );
}

#[test]
fn aggregate_nulls_are_skipped_or_rejected_with_the_row() {
    let spec = sql_spec(vec![vec![sparkwasm_fn_sq_sum_strict()]], true);
    let out = run_sql(
        &spec,
        vec![
            group_rows(&[&all_longs([1, 2])]),
            group_end(),
            group_rows(&[&longs(&[Some(1), Some(2), None])]),
            group_end(),
        ],
    );
    assert_eq!(
        out.error(),
        "function `sq_sum_strict` got a null in argument 0 at row 4 of the task's input, but \
         it rejects nulls (`nulls = \"reject\"`); take an `Option` to handle them"
    );
}

#[test]
fn group_framing_errors_are_reported() {
    let spec = sql_spec(vec![vec![sparkwasm_fn_sq_sum_long()]], true);
    let out = run_sql(&spec, vec![group_end()]);
    assert_eq!(
        out.error(),
        "malformed input batch: a GroupEnd batch without a GroupRows batch of its group"
    );
    let out = run_sql(&spec, vec![group_rows(&[&all_longs([1])])]);
    assert_eq!(
        out.error(),
        "malformed input batch: the input ended inside a group (GroupRows without its GroupEnd)"
    );
    let out = run_sql(
        &spec,
        vec![
            group_rows(&[&all_longs([1])]),
            batch(Op::GroupEnd, 1, &[&all_longs([1])]),
        ],
    );
    assert!(
        out.error().contains("a GroupEnd batch with"),
        "{}",
        out.error()
    );
    // No groups at all: no output, no error.
    let out = run_sql(&spec, vec![]).ok();
    assert!(out.batches.is_empty());
}

#[test]
fn merge_combines_partial_accumulators() {
    let mut left = WeightedMean::default();
    left.update((Some(1.0), Some(1.0)));
    let mut right = WeightedMean::default();
    right.update((Some(3.0), Some(3.0)));
    left.merge(right);
    assert_eq!(left.finish(), Some(2.5));
    let mut sum = Sum(i64::MAX);
    sum.merge(Sum(1));
    assert_eq!(sum.finish(), i64::MIN);
}

// ---- allocations ----

/// Counts this thread's allocations while enabled, so tests running in parallel do not
/// disturb each other.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<Option<u64>> = const { Cell::new(None) };
}

fn count_allocation() {
    // `try_with`: the allocator can run while thread-locals are torn down.
    let _ = ALLOCATIONS.try_with(|count| {
        if let Some(n) = count.get() {
            count.set(Some(n + 1));
        }
    });
}

#[allow(unsafe_code)]
// SAFETY: every method forwards to the system allocator with the caller's arguments, so the
// system allocator's guarantees hold; the counting touches only a `Cell` of plain data.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: forwarded as received; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: `ptr` came from this allocator, which is the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: CountingAllocator = CountingAllocator;

/// Allocations (and reallocations) of the guest while running `spec` over `input`.
fn allocations_of(spec: &TaskSpec, input: Vec<Vec<u8>>) -> u64 {
    let spec = postcard::to_allocvec(spec).unwrap();
    let batches = input.len();
    native::with(|host| {
        *host = Default::default();
        host.batches = input.into();
        host.discard_output = true;
    });
    ALLOCATIONS.set(Some(0));
    let status = task::run_task(&spec);
    let count = ALLOCATIONS.replace(None).unwrap_or(0);
    native::with(|host| {
        assert!(host.errors.is_empty(), "{:?}", host.errors);
        assert_eq!(
            host.output_batches, batches,
            "one output batch per input batch"
        );
    });
    assert_eq!(status, STATUS_OK);
    count
}

#[test]
fn fixed_width_batches_cost_a_constant_number_of_allocations_not_one_per_row() {
    let spec = sql_spec(
        vec![
            vec![sparkwasm_fn_sq_affine()],
            vec![sparkwasm_fn_sq_ratio()],
            vec![sparkwasm_fn_sq_add_ints()],
            vec![sparkwasm_fn_sq_double_decimal()],
            vec![sparkwasm_fn_sq_bucket(), sparkwasm_fn_sq_is_even()],
        ],
        false,
    );
    let rows_per_batch = 1000;
    let x = all_longs(0..rows_per_batch);
    let d = doubles(
        &(0..rows_per_batch)
            .map(|i| (i % 3 != 0).then_some(i as f64))
            .collect::<Vec<_>>(),
    );
    let i = ints(
        &(0..rows_per_batch)
            .map(|i| Some(i as i32))
            .collect::<Vec<_>>(),
    );
    let dec = decimals(
        10,
        2,
        &(0..rows_per_batch)
            .map(|i| Some(i128::from(i)))
            .collect::<Vec<_>>(),
    );
    let one = rows(&[&x, &d, &d, &i, &i, &dec, &x]);
    let few = allocations_of(&spec, vec![one.clone(); 3]);
    let many = allocations_of(&spec, vec![one; 23]);
    let per_batch = (many - few) as f64 / 20.0;
    // The one allocation per batch is the batch view's column list (`read_batch`).
    assert!(
        per_batch <= 1.0,
        "{per_batch} allocations per batch ({few} for 3, {many} for 23)"
    );
}
