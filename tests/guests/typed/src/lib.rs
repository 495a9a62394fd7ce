//! Test fixture guest for the integration tests: small functions over each family of element
//! types (ints, floats, strings, tuples, bool, Option, u8), and one that panics on purpose.
//!
//! Every function is deliberately trivial so that a wrong result points at the SDK, the host
//! or the codecs, not at the fixture.

// ---- i64 ----

/// `x * 3 + 1`.
#[sparkwasm::map]
fn triple_plus_one(x: i64) -> i64 {
    x * 3 + 1
}

/// Keeps multiples of four.
#[sparkwasm::filter]
fn is_multiple_of_four(x: &i64) -> bool {
    x % 4 == 0
}

/// Sums two values.
#[sparkwasm::reduce]
fn add_i64(a: i64, b: i64) -> i64 {
    a + b
}

/// `0..n` (nothing for `n <= 0`).
#[sparkwasm::flat_map]
fn range_to(n: i64) -> Vec<i64> {
    (0..n).collect()
}

/// Running sum over the partition, in record order.
#[sparkwasm::map_partitions]
fn running_sum(rows: impl Iterator<Item = i64>) -> impl Iterator<Item = i64> {
    rows.scan(0i64, |sum, x| {
        *sum += x;
        Some(*sum)
    })
}

/// Identity, except that 13 panics with "boom at 13".
#[sparkwasm::map]
fn explode(x: i64) -> i64 {
    if x == 13 {
        panic!("boom at 13");
    }
    x
}

// ---- f64 ----

/// `x / 2`.
#[sparkwasm::map]
fn half(x: f64) -> f64 {
    x / 2.0
}

// ---- String ----

/// Uppercase.
#[sparkwasm::map]
fn upper(s: String) -> String {
    s.to_uppercase()
}

/// `(s, number of characters)`.
#[sparkwasm::map]
fn word_len(s: String) -> (String, i64) {
    let len = s.chars().count() as i64;
    (s, len)
}

// ---- tuples ----

/// `(s, n)` to `(n, s)`.
#[sparkwasm::map]
fn swap(pair: (String, i64)) -> (i64, String) {
    (pair.1, pair.0)
}

/// `a + b`.
#[sparkwasm::map]
fn pair_sum(pair: (i64, i64)) -> i64 {
    pair.0 + pair.1
}

// ---- bool ----

/// `!b`.
#[sparkwasm::map]
fn negate(b: bool) -> bool {
    !b
}

// ---- Option ----

/// The number of characters, `None` stays `None`.
#[sparkwasm::map]
fn maybe_len(s: Option<String>) -> Option<i64> {
    s.map(|s| s.chars().count() as i64)
}

// ---- u8 ----

/// `x * 2`, wrapping; the input type makes Python ints above 255 a decode error.
#[sparkwasm::map]
fn small_double(x: u8) -> u8 {
    x.wrapping_mul(2)
}
