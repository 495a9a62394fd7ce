//! Test fixture guest for the Spark SQL end-to-end tests: scalar UDFs of each supported type
//! (an identity and one transform per type), several arguments, nulls taken as `Option`,
//! skipped (the default) and rejected, one UDF that panics on purpose, arrays and structs
//! (`List<T>` arguments, `Vec<T>` results, a derived `Point`), and three UDAFs.
//!
//! The names and signatures are fixed by the SQL contract the tests are written against;
//! every function is deliberately trivial so that a wrong result points at the SDK, the host
//! or the driver, not at the fixture.

use sparkwasm::{Date, Decimal, List, Timestamp, TimestampNtz, Udaf};

// ---- a few arguments, strings, nulls ----

/// The number of characters, as Spark's `length()`.
#[sparkwasm::udf]
fn str_len(s: &str) -> i32 {
    // A Spark string holds at most 2 GiB, so its character count fits an i32.
    i32::try_from(s.chars().count()).unwrap_or(i32::MAX)
}

/// `x * 2 + 1`, wrapping.
#[sparkwasm::udf]
fn affine(x: i64) -> i64 {
    x.wrapping_mul(2).wrapping_add(1)
}

/// `a + b`, wrapping.
#[sparkwasm::udf]
fn add_ints(a: i32, b: i32) -> i32 {
    a.wrapping_add(b)
}

/// `"{a}-{b}"`.
#[sparkwasm::udf]
fn concat_ws_dash(a: &str, b: &str) -> String {
    format!("{a}-{b}")
}

/// Whether `x` is even.
#[sparkwasm::udf]
fn is_even(x: i64) -> bool {
    x % 2 == 0
}

/// `x` modulo 10, never negative.
#[sparkwasm::udf]
fn bucket(x: i64) -> i64 {
    x.rem_euclid(10)
}

/// `a / b`; null when either is null or `b` is zero.
#[sparkwasm::udf]
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

/// `x`, or 0 for null.
#[sparkwasm::udf]
fn coalesce_zero(x: Option<i64>) -> i64 {
    x.unwrap_or(0)
}

/// `x`; a null fails the task.
#[sparkwasm::udf(nulls = "reject")]
fn must(x: i64) -> i64 {
    x
}

/// `x`, except that 13 panics with "boom at 13".
#[sparkwasm::udf]
fn boom(x: i64) -> i64 {
    if x == 13 {
        panic!("boom at {x}");
    }
    x
}

/// `x`, except that 7 spins for ever: the call deadline must stop it.
#[sparkwasm::udf]
fn spin(x: i64) -> i64 {
    let mut y = x;
    while y == 7 {
        y = std::hint::black_box(y);
    }
    y
}

/// `x`, after allocating and touching `x` MiB: the memory cap must stop a large one.
#[sparkwasm::udf]
fn hog(x: i64) -> i64 {
    let bytes = usize::try_from(x.max(0)).unwrap_or(0) << 20;
    let block = std::hint::black_box(vec![1u8; bytes]);
    x + i64::from(block.last().copied().unwrap_or(0)) - i64::from(!block.is_empty())
}

/// `x`, nulls passed through by the function itself.
#[sparkwasm::udf]
fn opt_id_long(x: Option<i64>) -> Option<i64> {
    x
}

// ---- an identity and a transform per type ----

/// Identity.
#[sparkwasm::udf]
fn id_bool(x: bool) -> bool {
    x
}

/// `!x`.
#[sparkwasm::udf]
fn not_bool(x: bool) -> bool {
    !x
}

/// Identity.
#[sparkwasm::udf]
fn id_byte(x: i8) -> i8 {
    x
}

/// `-x`, wrapping.
#[sparkwasm::udf]
fn neg_byte(x: i8) -> i8 {
    x.wrapping_neg()
}

/// Identity.
#[sparkwasm::udf]
fn id_short(x: i16) -> i16 {
    x
}

/// `-x`, wrapping.
#[sparkwasm::udf]
fn neg_short(x: i16) -> i16 {
    x.wrapping_neg()
}

/// Identity.
#[sparkwasm::udf]
fn id_int(x: i32) -> i32 {
    x
}

/// `-x`, wrapping.
#[sparkwasm::udf]
fn neg_int(x: i32) -> i32 {
    x.wrapping_neg()
}

/// Identity.
#[sparkwasm::udf]
fn id_long(x: i64) -> i64 {
    x
}

/// `-x`, wrapping.
#[sparkwasm::udf]
fn neg_long(x: i64) -> i64 {
    x.wrapping_neg()
}

/// Identity.
#[sparkwasm::udf]
fn id_float(x: f32) -> f32 {
    x
}

/// `x / 2`.
#[sparkwasm::udf]
fn half_float(x: f32) -> f32 {
    x / 2.0
}

/// Identity.
#[sparkwasm::udf]
fn id_double(x: f64) -> f64 {
    x
}

/// `x / 2`.
#[sparkwasm::udf]
fn half_double(x: f64) -> f64 {
    x / 2.0
}

/// Identity.
#[sparkwasm::udf]
fn id_string(x: &str) -> String {
    x.to_owned()
}

/// Uppercase.
#[sparkwasm::udf]
fn upper(x: &str) -> String {
    x.to_uppercase()
}

/// Identity.
#[sparkwasm::udf]
fn id_binary(x: &[u8]) -> Vec<u8> {
    x.to_vec()
}

/// The bytes in reverse order.
#[sparkwasm::udf]
fn reverse_bytes(x: &[u8]) -> Vec<u8> {
    x.iter().rev().copied().collect()
}

/// Identity.
#[sparkwasm::udf]
fn id_date(x: Date) -> Date {
    x
}

/// The day after.
#[sparkwasm::udf]
fn next_day(x: Date) -> Date {
    Date(x.0.wrapping_add(1))
}

/// Identity.
#[sparkwasm::udf]
fn id_timestamp(x: Timestamp) -> Timestamp {
    x
}

/// One second later.
#[sparkwasm::udf]
fn plus_second(x: Timestamp) -> Timestamp {
    Timestamp(x.0.wrapping_add(1_000_000))
}

/// Identity.
#[sparkwasm::udf]
fn id_timestamp_ntz(x: TimestampNtz) -> TimestampNtz {
    x
}

/// Identity.
#[sparkwasm::udf]
fn id_decimal(x: Decimal<10, 2>) -> Decimal<10, 2> {
    x
}

/// Twice the value, two more digits of precision.
#[sparkwasm::udf]
fn double_decimal(x: Decimal<10, 2>) -> Decimal<12, 2> {
    // A decimal(10,2) is below 10^10 in magnitude: doubling it cannot overflow an i128.
    Decimal(x.0 * 2)
}

// ---- arrays ----

/// The wrapping sum of the non-null elements; 0 for an empty array.
#[sparkwasm::udf]
fn array_sum(xs: List<Option<i64>>) -> i64 {
    xs.iter().flatten().fold(0, i64::wrapping_add)
}

/// The wrapping sum of the elements, read as a slice of the batch; an array holding a null
/// is a null argument (null result).
#[sparkwasm::udf]
fn array_total(xs: List<i64>) -> i64 {
    xs.as_slice().iter().fold(0, |sum, x| sum.wrapping_add(*x))
}

/// The number of strings, as Spark's `size()`; an array holding a null is a null argument.
#[sparkwasm::udf]
fn array_len_strings(xs: List<&str>) -> i32 {
    // A Spark array holds fewer than 2^31 elements.
    i32::try_from(xs.len()).unwrap_or(i32::MAX)
}

/// The elements in reverse order.
#[sparkwasm::udf]
fn reverse_ints(xs: List<Option<i32>>) -> Vec<Option<i32>> {
    xs.iter().rev().collect()
}

/// The words of `s` (split on whitespace); `[]` for a blank string.
#[sparkwasm::udf]
fn split_words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// Identity.
#[sparkwasm::udf]
fn id_int_array(xs: List<Option<i32>>) -> Vec<Option<i32>> {
    xs.iter().collect()
}

/// Identity.
#[sparkwasm::udf]
fn id_string_array(xs: List<Option<&str>>) -> Vec<Option<String>> {
    xs.iter().map(|s| s.map(str::to_owned)).collect()
}

/// The inner arrays concatenated; a null inner array is a null argument.
#[sparkwasm::udf]
fn flatten_ints(xs: List<List<Option<i32>>>) -> Vec<Option<i32>> {
    xs.iter().flat_map(|inner| inner.iter()).collect()
}

// ---- structs ----

/// `struct<a:int,b:string>`; a null in either field makes the struct a null argument.
#[derive(sparkwasm::SqlStruct)]
struct Point {
    a: i32,
    b: String,
}

/// `struct<a:int,b:string>` with nullable fields (public, so the derive's output is checked
/// against the public-API lints too).
#[derive(sparkwasm::SqlStruct)]
pub struct MaybePoint {
    /// Any int.
    pub a: Option<i32>,
    /// Any string.
    pub b: Option<String>,
}

/// Identity.
#[sparkwasm::udf]
fn id_point(p: Point) -> Point {
    p
}

/// `"{b}:{a}"`.
#[sparkwasm::udf]
fn point_label(p: Point) -> String {
    format!("{}:{}", p.b, p.a)
}

/// `Point { a, b }`.
#[sparkwasm::udf]
fn make_point(a: i32, b: &str) -> Point {
    Point { a, b: b.to_owned() }
}

/// Identity, null structs and null fields included.
#[sparkwasm::udf]
fn id_maybe_point(p: Option<MaybePoint>) -> Option<MaybePoint> {
    p
}

/// The points sorted by `a` (nulls first), as an array of structs.
#[sparkwasm::udf]
fn sort_points(ps: List<Option<Point>>) -> Vec<Option<Point>> {
    let mut points: Vec<Option<Point>> = ps.iter().collect();
    points.sort_by_key(|p| p.as_ref().map(|p| p.a));
    points
}

// ---- aggregates ----

/// `sum(x * w) / sum(w)` over the rows where both are present.
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

/// The weighted mean of `x` by `w`; null when the weights sum to zero or no row has both.
#[sparkwasm::udaf]
fn weighted_mean() -> impl Udaf<(Option<f64>, Option<f64>), Output = Option<f64>> {
    WeightedMean::default()
}

/// A wrapping sum.
#[derive(Default)]
struct SumLong(i64);

impl Udaf<i64> for SumLong {
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

/// The wrapping sum of the non-null values (nulls are skipped); 0 for a group of nulls.
#[sparkwasm::udaf]
fn sum_long() -> impl Udaf<i64, Output = i64> {
    SumLong::default()
}

/// A row count.
#[derive(Default)]
struct CountRows(i64);

impl Udaf<Option<i64>> for CountRows {
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

/// The number of rows, nulls included.
#[sparkwasm::udaf]
fn count_rows() -> impl Udaf<Option<i64>, Output = i64> {
    CountRows::default()
}
