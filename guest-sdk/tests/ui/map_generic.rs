//! A generic map: the element types must be concrete.

#[sparkwasm::map]
fn identity<T>(x: T) -> T {
    x
}

fn main() {}
