//! A SQL function over an array of a type that has no Spark SQL counterpart.

#[sparkwasm::udf]
fn total(xs: sparkwasm::List<u64>) -> i64 {
    let _ = xs;
    0
}

fn main() {}
