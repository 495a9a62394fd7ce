//! Word count, the sparkwasm way: the four functions a PySpark word count needs, in plain
//! typed Rust. Built as a `wasm32-wasip1` module, they run in place of Python lambdas:
//!
//! ```python
//! counts = (lines.flatMap(split_words).filter(is_long)
//!                .map(with_one).reduceByKey(add))
//! ```

/// Splits a line into lowercase words (runs of letters and digits).
#[sparkwasm::flat_map]
fn split_words(line: String) -> Vec<String> {
    line.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(String::from)
        .collect()
}

/// Pairs a word with a count of one.
#[sparkwasm::map]
fn with_one(word: String) -> (String, i64) {
    (word, 1)
}

/// Keeps words longer than three characters.
#[sparkwasm::filter]
fn is_long(word: &String) -> bool {
    word.chars().count() > 3
}

/// Adds two counts.
#[sparkwasm::reduce]
fn add(a: i64, b: i64) -> i64 {
    a + b
}
