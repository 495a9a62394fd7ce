//! A SQL function over a type that has no Spark SQL counterpart.

#[sparkwasm::udf]
fn widen(x: u64) -> i64 {
    x as i64
}

fn main() {}
