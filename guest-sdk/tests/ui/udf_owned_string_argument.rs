//! A SQL function taking an owned `String` where it must borrow `&str`.

#[sparkwasm::udf]
fn shout(s: String) -> String {
    s.to_uppercase()
}

fn main() {}
