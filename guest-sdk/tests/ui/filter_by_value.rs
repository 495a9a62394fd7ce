//! A filter taking the record by value.

#[sparkwasm::filter]
fn is_long(word: String) -> bool {
    word.len() > 3
}

fn main() {}
