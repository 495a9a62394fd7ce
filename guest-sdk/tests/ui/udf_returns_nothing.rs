//! A SQL function without a result.

#[sparkwasm::udf]
fn log_it(x: i64) {
    let _ = x;
}

fn main() {}
