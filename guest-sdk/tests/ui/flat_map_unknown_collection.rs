//! A flat_map returning a collection whose item type the macro cannot read.

use std::collections::HashSet;

#[sparkwasm::flat_map]
fn letters(word: String) -> HashSet<char> {
    word.chars().collect()
}

fn main() {}
