//! A SQL function over a struct that does not derive `sparkwasm::SqlStruct`.

struct Point {
    a: i32,
}

#[sparkwasm::udf]
fn first(p: Point) -> i32 {
    p.a
}

fn main() {}
