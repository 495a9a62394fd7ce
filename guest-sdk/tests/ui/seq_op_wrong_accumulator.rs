//! A seq_op whose result is not the accumulator's type.

#[sparkwasm::seq_op]
fn add_len(total: i64, word: String) -> usize {
    total as usize + word.len()
}

fn main() {}
