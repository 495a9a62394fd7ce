//! A foreach function returning a value.

#[sparkwasm::foreach]
fn count(x: i64) -> i64 {
    x
}

fn main() {}
