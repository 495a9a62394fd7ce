//! A derived SQL struct without field names (Spark struct fields are named).

#[derive(sparkwasm::SqlStruct)]
struct Pair(i32, String);

fn main() {}
