//! A SQL function taking an owned `Vec<T>` where an array argument is a `List<T>` view.

#[sparkwasm::udf]
fn total(xs: Vec<i64>) -> i64 {
    xs.iter().sum()
}

fn main() {}
