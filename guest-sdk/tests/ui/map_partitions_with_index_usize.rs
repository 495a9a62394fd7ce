//! A map_partitions_with_index taking the index as usize.

#[sparkwasm::map_partitions_with_index]
fn tag(index: usize, rows: impl Iterator<Item = i64>) -> impl Iterator<Item = (usize, i64)> {
    rows.map(move |x| (index, x))
}

fn main() {}
