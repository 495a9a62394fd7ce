//! Primitive encodings (§1): big-endian `i32`/`i64`, `bool`, `str` and `bytes`.
//!
//! Readers take `what`, the name of the field being read, so every error says where the
//! stream went wrong. Length-prefixed readers check the length before allocating and then
//! read incrementally, so a lying length never costs more memory than the bytes that arrive.

use std::io::{self, Read, Write};

use crate::{special, ProtocolError};

/// Initial buffer size for length-prefixed payloads: a lying length must not make us
/// reserve its full size up front; larger payloads grow the buffer as bytes arrive.
const INITIAL_PAYLOAD_CAPACITY: usize = 64 * 1024;

/// Reads a big-endian `i32`. A short stream is [`ProtocolError::Eof`].
pub fn read_i32<R: Read + ?Sized>(r: &mut R) -> Result<i32, ProtocolError> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(i32::from_be_bytes(b))
}

/// Reads a big-endian `i64`. A short stream is [`ProtocolError::Eof`].
pub fn read_i64<R: Read + ?Sized>(r: &mut R) -> Result<i64, ProtocolError> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(i64::from_be_bytes(b))
}

/// Reads a Java `writeBoolean` byte. Only `0` and `1` are accepted: the JVM never writes
/// anything else, so another value means the stream is out of sync.
pub fn read_bool<R: Read + ?Sized>(r: &mut R, what: &'static str) -> Result<bool, ProtocolError> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    match b[0] {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(ProtocolError::malformed(format!(
            "{what}: boolean byte must be 0 or 1, got {other:#04x}"
        ))),
    }
}

/// Reads a `str`: `i32 n` + `n` bytes of standard UTF-8 (not Java's modified UTF-8).
///
/// A negative `n` (including the −1/−5 specials that only data sections allow) is
/// [`ProtocolError::Malformed`], `n > max` is [`ProtocolError::TooLarge`], invalid UTF-8 is
/// `Malformed`. `what` names the field in errors.
pub fn read_str<R: Read + ?Sized>(
    r: &mut R,
    max: usize,
    what: &'static str,
) -> Result<String, ProtocolError> {
    let bytes = read_bytes(r, max, what)?;
    String::from_utf8(bytes)
        .map_err(|e| ProtocolError::malformed(format!("{what}: invalid UTF-8 ({e})")))
}

/// Reads `bytes`: `i32 n` + `n` raw bytes, with the same length checks as [`read_str`].
pub fn read_bytes<R: Read + ?Sized>(
    r: &mut R,
    max: usize,
    what: &'static str,
) -> Result<Vec<u8>, ProtocolError> {
    let n = read_i32(r)?;
    let len = check_len(n, max, what)?;
    read_exact_vec(r, len)
}

/// Reads an `i32` count of a repeated section, rejecting negative counts and counts above
/// `max`.
pub(crate) fn read_count<R: Read + ?Sized>(
    r: &mut R,
    max: usize,
    what: &'static str,
) -> Result<usize, ProtocolError> {
    let n = read_i32(r)?;
    if n < 0 {
        return Err(ProtocolError::malformed(format!(
            "{what}: negative count {n}"
        )));
    }
    let n = n as usize;
    if n > max {
        return Err(ProtocolError::TooLarge {
            what,
            len: n as u64,
            max: max as u64,
        });
    }
    Ok(n)
}

/// Validates a length prefix: non-negative and at most `max`.
pub(crate) fn check_len(n: i32, max: usize, what: &'static str) -> Result<usize, ProtocolError> {
    if n < 0 {
        return Err(ProtocolError::malformed(format!(
            "{what}: negative length {}",
            special::describe(n)
        )));
    }
    let len = n as usize;
    if len > max {
        return Err(ProtocolError::TooLarge {
            what,
            len: len as u64,
            max: max as u64,
        });
    }
    Ok(len)
}

/// Reads exactly `len` bytes, growing the buffer as data arrives. The caller has already
/// checked `len` against a limit.
pub(crate) fn read_exact_vec<R: Read + ?Sized>(
    r: &mut R,
    len: usize,
) -> Result<Vec<u8>, ProtocolError> {
    let mut buf = Vec::with_capacity(len.min(INITIAL_PAYLOAD_CAPACITY));
    // `take` bounds the read, so the buffer never grows past `len` even if more is available.
    r.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() < len {
        return Err(ProtocolError::Eof);
    }
    Ok(buf)
}

/// Writes a big-endian `i32`.
pub fn write_i32<W: Write + ?Sized>(w: &mut W, v: i32) -> io::Result<()> {
    w.write_all(&v.to_be_bytes())
}

/// Writes a big-endian `i64`.
pub fn write_i64<W: Write + ?Sized>(w: &mut W, v: i64) -> io::Result<()> {
    w.write_all(&v.to_be_bytes())
}

/// Writes a Java `writeBoolean` byte (`0` or `1`).
pub fn write_bool<W: Write + ?Sized>(w: &mut W, v: bool) -> io::Result<()> {
    w.write_all(&[u8::from(v)])
}

/// Writes `bytes`: `i32 n` + the bytes. More than `i32::MAX` bytes cannot be framed and is
/// an [`io::ErrorKind::InvalidInput`] error (nothing is written).
pub fn write_bytes<W: Write + ?Sized>(w: &mut W, bytes: &[u8]) -> io::Result<()> {
    let n = i32::try_from(bytes.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot frame {} bytes: more than i32::MAX", bytes.len()),
        )
    })?;
    write_i32(w, n)?;
    w.write_all(bytes)
}

/// Writes a `str`: `i32 n` + UTF-8 bytes. Same size limit as [`write_bytes`].
pub fn write_str<W: Write + ?Sized>(w: &mut W, s: &str) -> io::Result<()> {
    write_bytes(w, s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_roundtrip_is_standard_utf8() {
        let mut out = Vec::new();
        write_str(&mut out, "héllo").unwrap();
        // Captured textFile line (§4.6).
        assert_eq!(out, b"\x00\x00\x00\x06h\xc3\xa9llo");
        let s = read_str(&mut &out[..], 100, "line").unwrap();
        assert_eq!(s, "héllo");
    }

    #[test]
    fn lengths_are_checked_before_reading() {
        let neg = [0xff, 0xff, 0xff, 0xfb, b'x'];
        let e = read_str(&mut &neg[..], 100, "field x").unwrap_err();
        assert!(
            e.to_string().contains("field x: negative length -5 (NULL)"),
            "{e}"
        );

        let big = [0x00, 0x00, 0x01, 0x00, b'x'];
        let e = read_bytes(&mut &big[..], 255, "field y").unwrap_err();
        assert!(
            matches!(
                e,
                ProtocolError::TooLarge {
                    what: "field y",
                    len: 256,
                    max: 255
                }
            ),
            "{e:?}"
        );

        let short = [0x00, 0x00, 0x00, 0x05, b'a', b'b'];
        assert!(matches!(
            read_bytes(&mut &short[..], 10, "z"),
            Err(ProtocolError::Eof)
        ));
    }

    #[test]
    fn bools_are_strict() {
        assert!(!read_bool(&mut &[0u8][..], "b").unwrap());
        assert!(read_bool(&mut &[1u8][..], "b").unwrap());
        assert!(matches!(
            read_bool(&mut &[2u8][..], "b"),
            Err(ProtocolError::Malformed { .. })
        ));
        assert!(matches!(
            read_bool(&mut &[][..], "b"),
            Err(ProtocolError::Eof)
        ));
    }

    #[test]
    fn ints_are_big_endian() {
        let mut out = Vec::new();
        write_i32(&mut out, 16802).unwrap();
        write_i64(&mut out, 0x0000_01a1_fb32_c065).unwrap();
        assert_eq!(
            out,
            [0, 0, 0x41, 0xa2, 0, 0, 1, 0xa1, 0xfb, 0x32, 0xc0, 0x65]
        );
        let mut r = &out[..];
        assert_eq!(read_i32(&mut r).unwrap(), 16802);
        assert_eq!(read_i64(&mut r).unwrap(), 0x0000_01a1_fb32_c065);
        assert!(matches!(read_i32(&mut r), Err(ProtocolError::Eof)));
    }
}
