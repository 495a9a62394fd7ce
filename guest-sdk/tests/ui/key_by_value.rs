//! A key function taking the record by value.

#[sparkwasm::key]
fn first_char(word: String) -> String {
    word.chars().take(1).collect()
}

fn main() {}
