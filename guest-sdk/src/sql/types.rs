//! The Spark SQL value types that have no Rust primitive of their own: dates, timestamps and
//! decimals. Each is a plain `Copy` newtype over exactly what its column holds (see
//! `sparkwasm_abi::columnar`), so reading or writing one costs nothing and the author decides
//! how much calendar or decimal arithmetic to pull in.

use std::fmt;

/// A Spark `date`: days since 1970-01-01 (negative before it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub i32);

/// A Spark `timestamp`: microseconds since 1970-01-01T00:00:00 UTC. Spark shows it in the
/// session time zone; the value itself is always UTC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// A Spark `timestamp_ntz`: microseconds since 1970-01-01T00:00:00 of a wall clock with no
/// time zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimestampNtz(pub i64);

/// A Spark `decimal(P, S)`: the unscaled value, so `Decimal::<10, 2>(12345)` is `123.45`.
///
/// `P` (1 to 38) is the number of digits and `S` (0 to `P`) the digits after the point. A
/// result whose unscaled value has more than `P` digits fails the task (Spark cannot store
/// it); arithmetic is the author's, on the `i128`.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal<const P: u8, const S: i8>(pub i128);

impl<const P: u8, const S: i8> Decimal<P, S> {
    /// The precision `P`.
    pub const PRECISION: u8 = P;
    /// The scale `S`.
    pub const SCALE: i8 = S;

    /// The unscaled value.
    pub fn unscaled(self) -> i128 {
        self.0
    }

    /// Whether the unscaled value has at most `P` digits, so Spark can store it.
    pub fn fits(self) -> bool {
        // 10^38 still fits an i128 (its maximum is about 1.7 * 10^38).
        let limit = 10i128
            .checked_pow(u32::from(P.min(38)))
            .unwrap_or(i128::MAX);
        self.0.unsigned_abs() < limit.unsigned_abs()
    }
}

impl<const P: u8, const S: i8> fmt::Debug for Decimal<P, S> {
    /// `Decimal<10, 2>(12345)` prints as `123.45dec(10,2)`, so test failures read naturally.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.unsigned_abs().to_string();
        let sign = if self.0 < 0 { "-" } else { "" };
        let scale = usize::try_from(S).unwrap_or(0);
        let text = if scale == 0 {
            digits
        } else {
            let padded = format!("{digits:0>width$}", width = scale + 1);
            let (int, frac) = padded.split_at(padded.len() - scale);
            format!("{int}.{frac}")
        };
        write!(f, "{sign}{text}dec({P},{S})")
    }
}

macro_rules! newtype_conversions {
    ($($outer:ty => $inner:ty),* $(,)?) => {$(
        impl From<$inner> for $outer {
            fn from(value: $inner) -> Self {
                Self(value)
            }
        }

        impl From<$outer> for $inner {
            fn from(value: $outer) -> Self {
                value.0
            }
        }
    )*};
}

newtype_conversions!(Date => i32, Timestamp => i64, TimestampNtz => i64);

impl<const P: u8, const S: i8> From<i128> for Decimal<P, S> {
    fn from(unscaled: i128) -> Self {
        Decimal(unscaled)
    }
}

impl<const P: u8, const S: i8> From<Decimal<P, S>> for i128 {
    fn from(value: Decimal<P, S>) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_know_their_precision_and_print_with_their_scale() {
        assert_eq!(format!("{:?}", Decimal::<10, 2>(12345)), "123.45dec(10,2)");
        assert_eq!(format!("{:?}", Decimal::<10, 2>(-5)), "-0.05dec(10,2)");
        assert_eq!(format!("{:?}", Decimal::<5, 0>(42)), "42dec(5,0)");
        assert!(Decimal::<3, 0>(999).fits());
        assert!(Decimal::<3, 0>(-999).fits());
        assert!(!Decimal::<3, 0>(1000).fits());
        assert!(Decimal::<38, 0>(10i128.pow(38) - 1).fits());
        assert!(!Decimal::<38, 0>(i128::MIN).fits());
        assert_eq!(i128::from(Decimal::<10, 2>::from(7)), 7);
        assert_eq!(
            (Decimal::<10, 2>::PRECISION, Decimal::<10, 2>::SCALE),
            (10, 2)
        );
    }

    #[test]
    fn newtypes_convert_both_ways_and_order_by_value() {
        assert_eq!(i32::from(Date::from(-3)), -3);
        assert_eq!(Timestamp::from(5).0, 5);
        assert!(TimestampNtz(1) < TimestampNtz(2));
        assert!(Date(-1) < Date(0));
    }
}
