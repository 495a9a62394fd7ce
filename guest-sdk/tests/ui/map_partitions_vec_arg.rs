//! A map_partitions taking a Vec instead of an iterator.

#[sparkwasm::map_partitions]
fn total(rows: Vec<i64>) -> Vec<i64> {
    vec![rows.iter().sum()]
}

fn main() {}
