//! A null policy that does not exist.

#[sparkwasm::udf(nulls = "sometimes")]
fn id(x: i64) -> i64 {
    x
}

fn main() {}
