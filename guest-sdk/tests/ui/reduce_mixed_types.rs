//! A reduce whose arguments differ.

#[sparkwasm::reduce]
fn add(a: i64, b: i32) -> i64 {
    a + i64::from(b)
}

fn main() {}
