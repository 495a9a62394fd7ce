//! A partitioner returning u32 instead of u64.

#[sparkwasm::partitioner]
fn by_mod_three(key: &i64) -> u32 {
    key.rem_euclid(3) as u32
}

fn main() {}
