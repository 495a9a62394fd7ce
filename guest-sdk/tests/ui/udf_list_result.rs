//! A SQL function returning a borrowed `List<T>` where an array result is a `Vec<T>`.

use sparkwasm::List;

#[sparkwasm::udf]
fn same(xs: List<i64>) -> List<i64> {
    xs
}

fn main() {}
