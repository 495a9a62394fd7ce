//! A UDAF returning its accumulator type by name, which hides the argument and result types
//! from the macro.

#[derive(Default)]
struct Sum(i64);

impl sparkwasm::Udaf<i64> for Sum {
    type Output = i64;
    fn update(&mut self, x: i64) {
        self.0 += x;
    }
    fn merge(&mut self, other: Self) {
        self.0 += other.0;
    }
    fn finish(self) -> i64 {
        self.0
    }
}

#[sparkwasm::udaf]
fn sum() -> Sum {
    Sum::default()
}

fn main() {}
