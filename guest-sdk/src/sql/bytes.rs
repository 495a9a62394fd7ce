//! The byte-level side of SQL columns: viewing a batch's little-endian value buffers as
//! `&[i64]` (and the like) in place, viewing result vectors as bytes to write them out, and
//! the 8-byte-aligned input buffer the host writes batches into.
//!
//! Besides `ffi`, this is the only file of the SDK with `unsafe`: three reinterpretations
//! between a slice of primitive numbers and its bytes, each checked for length and alignment
//! and limited to the sealed [`Plain`] types, for which every bit pattern is a valid value and
//! no byte is padding. Everything else reaches them through the safe functions here.
#![allow(unsafe_code)]

use std::collections::TryReserveError;
use std::mem::size_of;

mod sealed {
    /// Keeps [`super::Plain`] to the primitive numbers implemented below.
    pub trait Sealed {}
}

/// A primitive number as a column stores it: little-endian, fixed width.
///
/// # Safety
///
/// Implementors have no padding bytes and every bit pattern of their size is a valid value,
/// so a slice of them may be viewed as bytes and bytes of the right length and alignment may
/// be viewed as them. The trait is sealed: only the primitive numbers below implement it.
pub unsafe trait Plain: sealed::Sealed + Copy + Default + 'static {
    /// Bytes per value.
    const WIDTH: usize;
    /// The value of `WIDTH` little-endian bytes (missing bytes read as 0).
    fn from_le_slice(bytes: &[u8]) -> Self;
    /// The value whose in-memory bytes are this value's little-endian bytes (the identity on
    /// little-endian targets such as wasm32), so a vector of them can be written out as is.
    fn to_le_repr(self) -> Self;
}

macro_rules! plain_ints {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        // SAFETY: a primitive integer: no padding, every bit pattern valid.
        unsafe impl Plain for $t {
            const WIDTH: usize = size_of::<$t>();
            #[inline]
            fn from_le_slice(bytes: &[u8]) -> Self {
                let mut le = [0u8; size_of::<$t>()];
                let n = bytes.len().min(le.len());
                le[..n].copy_from_slice(&bytes[..n]);
                <$t>::from_le_bytes(le)
            }
            #[inline]
            fn to_le_repr(self) -> Self {
                self.to_le()
            }
        }
    )*};
}

macro_rules! plain_floats {
    ($($t:ty => $bits:ty),*) => {$(
        impl sealed::Sealed for $t {}
        // SAFETY: a primitive float: no padding, every bit pattern is a valid (maybe NaN)
        // value.
        unsafe impl Plain for $t {
            const WIDTH: usize = size_of::<$t>();
            #[inline]
            fn from_le_slice(bytes: &[u8]) -> Self {
                <$t>::from_bits(<$bits as Plain>::from_le_slice(bytes))
            }
            #[inline]
            fn to_le_repr(self) -> Self {
                <$t>::from_bits(self.to_bits().to_le())
            }
        }
    )*};
}

// `u32` and `u64` are the bit patterns of the floats.
plain_ints!(u8, i8, i16, i32, u32, i64, u64, i128);
plain_floats!(f32 => u32, f64 => u64);

/// `bytes` as a slice of `T` in place, when they can be: a little-endian target, a length that
/// is a multiple of `T`'s width and a start aligned for `T`. `None` otherwise (the caller
/// copies instead).
#[inline]
pub(crate) fn view<T: Plain>(bytes: &[u8]) -> Option<&[T]> {
    if cfg!(target_endian = "big") {
        return None;
    }
    let start = bytes.as_ptr().cast::<T>();
    if !bytes.len().is_multiple_of(size_of::<T>()) || !start.is_aligned() {
        return None;
    }
    // SAFETY: `start` is aligned for `T` (checked) and points at `bytes.len()` initialized
    // bytes, exactly `bytes.len() / size_of::<T>()` values (the length is a multiple of the
    // size, checked), inside one live allocation borrowed for the returned lifetime. `T` is
    // `Plain`: every bit pattern of its size is a valid value, and on this little-endian
    // target the bytes, stored little-endian, mean the values they encode.
    Some(unsafe { std::slice::from_raw_parts(start, bytes.len() / size_of::<T>()) })
}

/// The in-memory bytes of `values` (little-endian when they were stored with
/// [`Plain::to_le_repr`]).
#[inline]
pub(crate) fn as_bytes<T: Plain>(values: &[T]) -> &[u8] {
    // SAFETY: `T` is `Plain`, so it has no padding and all `size_of_val(values)` bytes are
    // initialized; `u8` needs no alignment; the bytes are those of `values`, borrowed for
    // the same lifetime and not mutable through any other path meanwhile.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), size_of_val(values)) }
}

/// The mutable in-memory bytes of `values`; any bytes written leave valid values.
#[inline]
fn as_bytes_mut<T: Plain>(values: &mut [T]) -> &mut [u8] {
    let len = size_of_val(values);
    // SAFETY: as in `as_bytes`; and since every bit pattern is a valid `T` (`Plain`),
    // whatever is written through the bytes leaves `values` valid. The exclusive borrow of
    // `values` moves to the returned slice.
    unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), len) }
}

/// The buffer the host writes input batches into: 8-byte aligned (a vector of `u64`), so a
/// batch's fixed-width buffers (at multiples of 8 from its start) can be viewed in place.
/// Kept zero-initialized up to its capacity, so the host may write any bytes into it.
pub(crate) struct AlignedBuffer {
    words: Vec<u64>,
    /// Bytes of the current batch.
    len: usize,
}

impl AlignedBuffer {
    /// A buffer of at least `bytes` bytes.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        AlignedBuffer {
            words: vec![0; bytes.div_ceil(8)],
            len: 0,
        }
    }

    /// Bytes the host may write.
    pub(crate) fn capacity(&self) -> usize {
        self.words.len() * 8
    }

    /// The current batch.
    pub(crate) fn bytes(&self) -> &[u8] {
        as_bytes(&self.words).get(..self.len).unwrap_or_default()
    }

    /// Offers the whole buffer to `write` (the host), which returns the host's answer: the
    /// bytes written from the start (then the current batch), or 0 or a negative number
    /// (then the buffer holds no batch).
    pub(crate) fn fill(&mut self, write: impl FnOnce(&mut [u8]) -> i64) -> i64 {
        let all = as_bytes_mut(&mut self.words);
        let capacity = all.len();
        let written = write(all);
        self.len = usize::try_from(written)
            .ok()
            .filter(|len| *len <= capacity)
            .unwrap_or(0);
        written
    }

    /// Grows the buffer to at least `bytes` bytes.
    pub(crate) fn grow(&mut self, bytes: usize) -> Result<(), TryReserveError> {
        let words = bytes.div_ceil(8);
        if words > self.words.len() {
            self.words.try_reserve_exact(words - self.words.len())?;
            self.words.resize(words, 0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_bytes_are_viewed_in_place_and_misaligned_ones_are_not() {
        let mut buffer = AlignedBuffer::with_capacity(64);
        let longs: Vec<u8> = [1i64, -2, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
        buffer.fill(|bytes| {
            bytes[8..32].copy_from_slice(&longs);
            32
        });
        let all = buffer.bytes();
        assert_eq!(all.len(), 32);
        assert_eq!(view::<i64>(&all[8..32]), Some(&[1i64, -2, 3][..]));
        // One byte off: not aligned for i64; a length that is not a multiple of the width.
        assert_eq!(view::<i64>(&all[9..17]), None);
        assert_eq!(view::<i64>(&all[8..20]), None);
        assert_eq!(view::<i32>(&all[8..16]), Some(&[1i32, 0][..]));
        assert_eq!(view::<u8>(&all[3..5]), Some(&[0u8, 0][..]));
    }

    #[test]
    fn values_read_back_from_their_bytes() {
        let values = [1.5f64.to_le_repr(), (-0.25f64).to_le_repr()];
        let bytes = as_bytes(&values);
        assert_eq!(bytes.len(), 16);
        assert_eq!(f64::from_le_slice(&bytes[..8]), 1.5);
        assert_eq!(f64::from_le_slice(&bytes[8..]), -0.25);
        assert_eq!(i128::from_le_slice(&(-7i128).to_le_bytes()), -7);
        assert_eq!(i16::from_le_slice(&[1]), 1, "missing bytes read as 0");
    }

    #[test]
    fn the_buffer_ignores_answers_it_cannot_hold_and_grows() {
        let mut buffer = AlignedBuffer::with_capacity(10);
        assert_eq!(buffer.capacity(), 16);
        assert_eq!(buffer.fill(|_| 17), 17);
        assert!(
            buffer.bytes().is_empty(),
            "more than the capacity is no batch"
        );
        assert_eq!(buffer.fill(|_| -40), -40);
        assert!(buffer.bytes().is_empty());
        buffer.grow(40).unwrap();
        assert_eq!(buffer.capacity(), 40);
        buffer.grow(8).unwrap();
        assert_eq!(buffer.capacity(), 40, "never shrinks");
        assert_eq!(
            buffer.fill(|bytes| {
                bytes[..3].copy_from_slice(b"abc");
                3
            }),
            3
        );
        assert_eq!(buffer.bytes(), b"abc");
    }
}
