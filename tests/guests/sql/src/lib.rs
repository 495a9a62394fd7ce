//! Test fixture guest for the Spark SQL end-to-end tests: scalar UDFs of each supported type
//! (an identity and one transform per type), several arguments, nulls taken as `Option`,
//! skipped (the default) and rejected, one UDF that panics on purpose, and three UDAFs.
//!
//! The names and signatures are fixed by the SQL contract the tests are written against;
//! every function is deliberately trivial so that a wrong result points at the SDK, the host
//! or the driver, not at the fixture.

use sparkwasm::{Date, Decimal, Timestamp, TimestampNtz, Udaf};

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
