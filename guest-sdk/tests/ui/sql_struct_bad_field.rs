//! A derived SQL struct with a field of a type that has no Spark SQL counterpart.

#[derive(sparkwasm::SqlStruct)]
struct Counter {
    name: String,
    hits: Vec<u64>,
}

fn main() {}
