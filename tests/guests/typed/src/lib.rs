//! Test fixture guest for the integration and Python differential tests: small functions of
//! every kind over each family of element types (ints, floats, strings, tuples, bool, Option,
//! u8, bytes, lists, dicts), functions using the task context, broadcasts, accumulators and
//! SparkFiles, one that probes the sandbox, one that panics on purpose, and one that never
//! returns (`spin_forever`, for the cancellation and call-deadline tests).
//!
//! Every function is deliberately trivial so that a wrong result points at the SDK, the host
//! or the codecs, not at the fixture.

use std::collections::HashMap;

use sparkwasm::Bytes;

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

// ---- v2: more i64 ----

/// `x * x`.
#[sparkwasm::map]
fn square(x: i64) -> i64 {
    x * x
}

/// Keeps even numbers.
#[sparkwasm::filter]
fn is_even(x: &i64) -> bool {
    x % 2 == 0
}

/// The key `x mod 10`, Python's modulo (never negative).
#[sparkwasm::key]
fn mod_ten(x: &i64) -> i64 {
    x.rem_euclid(10)
}

/// `(acc.0 + v, acc.1 + 1)`: a running (sum, count).
#[sparkwasm::seq_op]
fn seq_sum_count(acc: (i64, i64), v: i64) -> (i64, i64) {
    (acc.0 + v, acc.1 + 1)
}

/// Adds two (sum, count) pairs.
#[sparkwasm::reduce]
fn add_pairs(a: (i64, i64), b: (i64, i64)) -> (i64, i64) {
    (a.0 + b.0, a.1 + b.1)
}

/// `[x]` (combineByKey's createCombiner).
#[sparkwasm::map]
fn singleton(x: i64) -> Vec<i64> {
    vec![x]
}

/// Appends `x` (combineByKey's mergeValue).
#[sparkwasm::seq_op]
fn push(mut acc: Vec<i64>, x: i64) -> Vec<i64> {
    acc.push(x);
    acc
}

/// Concatenates two lists (combineByKey's mergeCombiners).
#[sparkwasm::reduce]
fn extend(mut a: Vec<i64>, b: Vec<i64>) -> Vec<i64> {
    a.extend(b);
    a
}

/// Partition `x mod 3` (Python's modulo), before the shuffle's `% numPartitions`.
#[sparkwasm::partitioner]
fn by_mod_three(key: &i64) -> u64 {
    key.rem_euclid(3).unsigned_abs()
}

/// `(partition index, x)` for every record.
#[sparkwasm::map_partitions_with_index]
fn index_tag(index: u32, rows: impl Iterator<Item = i64>) -> impl Iterator<Item = (u32, i64)> {
    rows.map(move |x| (index, x))
}

// ---- f64 and String reductions and keys ----

/// Sums two floats.
#[sparkwasm::reduce]
fn add_f64(a: f64, b: f64) -> f64 {
    a + b
}

/// Concatenates two strings.
#[sparkwasm::reduce]
fn concat(a: String, b: String) -> String {
    a + &b
}

/// The first character (empty for the empty string).
#[sparkwasm::key]
fn first_char(s: &String) -> String {
    s.chars().take(1).collect()
}

/// The number of characters (Python's `len`).
#[sparkwasm::key]
fn len_key(s: &String) -> i64 {
    s.chars().count() as i64
}

/// `acc + len(v)`, characters as Python counts them.
#[sparkwasm::seq_op]
fn seq_add_len(acc: i64, v: String) -> i64 {
    acc + v.chars().count() as i64
}

// ---- side effects: accumulators ----

/// Adds 1 to accumulator "seen" and `x` to accumulator "total".
#[sparkwasm::foreach]
fn count_into_acc(x: i64) {
    accumulator("seen").add(1);
    accumulator("total").add(x);
}

/// Adds the partition's sum to accumulator "total".
#[sparkwasm::foreach_partition]
fn partition_sum_into_acc(rows: impl Iterator<Item = i64>) {
    accumulator("total").add(rows.sum());
}

/// The i64 accumulator `name`; a missing one fails the task with the SDK's message.
fn accumulator(name: &str) -> sparkwasm::Accumulator<i64> {
    sparkwasm::accumulator(name).unwrap_or_else(|err| panic!("{err}"))
}

// ---- broadcasts ----

/// `x` plus the i64 broadcast "offset".
#[sparkwasm::map]
fn add_broadcast_offset(x: i64) -> i64 {
    x + sparkwasm::broadcast::<i64>("offset").unwrap_or_else(|err| panic!("{err}"))
}

/// The name of `x` in the dict broadcast "names" (`{int: str}`), or "?" when it has none.
#[sparkwasm::map]
fn lookup_name(x: i64) -> String {
    let names = sparkwasm::broadcast_shared::<HashMap<i64, String>>("names")
        .unwrap_or_else(|err| panic!("{err}"));
    names.get(&x).cloned().unwrap_or_else(|| "?".to_owned())
}

// ---- task context ----

/// `(partition id, attempt number, x)`.
#[sparkwasm::map]
fn context_tag(x: i64) -> (i32, i32, i64) {
    let context = sparkwasm::task_context();
    (context.partition_id(), context.attempt_number(), x)
}

/// The local property "sparkwasm.test" (`None` when unset), whatever `x`.
#[sparkwasm::map]
fn local_prop(_x: i64) -> Option<String> {
    sparkwasm::task_context()
        .local_property("sparkwasm.test")
        .map(str::to_owned)
}

// ---- files and the sandbox ----

/// The content of the SparkFiles file `name`, trimmed; fails the task when SparkFiles are
/// not granted or the file cannot be read.
#[sparkwasm::map]
fn read_spark_file(name: String) -> String {
    let path = sparkwasm::spark_file(&name).unwrap_or_else(|err| panic!("{err}"));
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().to_owned(),
        Err(err) => panic!("cannot read {}: {err}", path.display()),
    }
}

/// Tries to read the host's `/etc/passwd`: its content if the sandbox leaks it, else
/// `"denied: <error kind>"`.
#[sparkwasm::map]
fn read_etc_passwd(_x: String) -> String {
    match std::fs::read_to_string("/etc/passwd") {
        Ok(text) => text,
        Err(err) => format!("denied: {:?}", err.kind()),
    }
}

// ---- bytes, lists, dicts, nesting ----

/// The bytes unchanged.
#[sparkwasm::map]
fn identity_bytes(b: Bytes) -> Bytes {
    b
}

/// The number of entries of a `{str: int}` dict.
#[sparkwasm::map]
fn dict_size(d: HashMap<String, i64>) -> i64 {
    d.len() as i64
}

/// The sum of a list of ints.
#[sparkwasm::map]
fn list_sum(v: Vec<i64>) -> i64 {
    v.iter().sum()
}

/// `(s, len(items))` of a `(str, [(int, float or None)])`.
#[sparkwasm::map]
fn nested(x: (String, Vec<(i64, Option<f64>)>)) -> (String, i64) {
    let len = x.1.len() as i64;
    (x.0, len)
}

/// `(file name, number of lines)` of a `wholeTextFiles` pair (lines as Rust's `str::lines`
/// counts them: `\n`-separated, a final newline ends the last line).
#[sparkwasm::map]
fn lines_pair(file: (String, String)) -> (String, i64) {
    let lines = file.1.lines().count() as i64;
    (file.0, lines)
}

// ---- cancellation ----

/// Never returns: counts up from `x` forever, so only the host can end the task (Spark
/// cancelling it, or the runtime's task deadline). `black_box` makes every step an
/// observable effect to the optimizer, so the loop stays a real loop in the compiled module
/// instead of being proven pointless.
#[sparkwasm::map]
fn spin_forever(x: i64) -> i64 {
    let mut n = x;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}
