//! The JVM → worker data section (§4.6) and the JVM's final end-of-stream signal (§5.5).

use std::io::Read;

use crate::wire::{read_exact_vec, read_i32};
use crate::{special, ProtocolError};

/// What a length position in the input data section holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordHeader {
    /// A record of this many bytes follows; read it with [`read_payload`].
    Data(u32),
    /// A null element (`NULL`, −5); no payload.
    Null,
    /// End of the input (`END_OF_DATA_SECTION`, −1).
    EndOfData,
}

/// Reads the next data-section length. Any negative value other than −1 and −5 is
/// [`ProtocolError::Malformed`]; EOF is [`ProtocolError::Eof`] (the JVM never closes the
/// stream inside a task unless the task is being abandoned).
pub fn read_record_header<R: Read + ?Sized>(r: &mut R) -> Result<RecordHeader, ProtocolError> {
    match read_i32(r)? {
        special::END_OF_DATA_SECTION => Ok(RecordHeader::EndOfData),
        special::NULL => Ok(RecordHeader::Null),
        n if n >= 0 => Ok(RecordHeader::Data(n as u32)),
        n => Err(ProtocolError::malformed(format!(
            "data section: unexpected special length {}",
            special::describe(n)
        ))),
    }
}

/// Reads the `len`-byte payload announced by [`RecordHeader::Data`], refusing lengths above
/// `max` ([`ProtocolError::TooLarge`]) before allocating. `what` names the record kind in
/// errors.
pub fn read_payload<R: Read + ?Sized>(
    r: &mut R,
    len: u32,
    max: usize,
    what: &'static str,
) -> Result<Vec<u8>, ProtocolError> {
    // Saturate instead of failing on 16-bit targets: such a length is over any limit anyway.
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > max {
        return Err(ProtocolError::TooLarge {
            what,
            len: len as u64,
            max: max as u64,
        });
    }
    read_exact_vec(r, len)
}

/// After the input's `END_OF_DATA_SECTION` and the worker's own trailer (timing,
/// `END_OF_DATA_SECTION`, accumulators), reads the JVM's final `i32`.
///
/// Returns `Ok(true)` iff it is `END_OF_STREAM` (−4): the worker then answers with
/// [`write_end_of_stream`](crate::write_end_of_stream) and may serve another task.
/// Otherwise it should answer [`write_do_not_reuse`](crate::write_do_not_reuse) and exit.
/// A closed stream is [`ProtocolError::Eof`] (the JVM abandoned the task; exit quietly).
pub fn read_end_of_stream<R: Read + ?Sized>(r: &mut R) -> Result<bool, ProtocolError> {
    Ok(read_i32(r)? == special::END_OF_STREAM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_headers() {
        let bytes = [
            0, 0, 0, 2, b'h', b'i', // data
            0xff, 0xff, 0xff, 0xfb, // null
            0, 0, 0, 0, // empty record
            0xff, 0xff, 0xff, 0xff, // end
            0xff, 0xff, 0xff, 0xfc, // end of stream
        ];
        let mut r = &bytes[..];
        assert_eq!(read_record_header(&mut r).unwrap(), RecordHeader::Data(2));
        assert_eq!(read_payload(&mut r, 2, 10, "record").unwrap(), b"hi");
        assert_eq!(read_record_header(&mut r).unwrap(), RecordHeader::Null);
        assert_eq!(read_record_header(&mut r).unwrap(), RecordHeader::Data(0));
        assert_eq!(read_payload(&mut r, 0, 10, "record").unwrap(), b"");
        assert_eq!(read_record_header(&mut r).unwrap(), RecordHeader::EndOfData);
        assert!(read_end_of_stream(&mut r).unwrap());
        assert!(matches!(
            read_end_of_stream(&mut r),
            Err(ProtocolError::Eof)
        ));
    }

    #[test]
    fn unknown_special_is_malformed() {
        let e = read_record_header(&mut &[0xff, 0xff, 0xff, 0xfc][..]).unwrap_err();
        assert!(
            e.to_string()
                .contains("unexpected special length -4 (END_OF_STREAM)"),
            "{e}"
        );
        assert!(matches!(
            read_record_header(&mut &[0x80, 0, 0, 0][..]),
            Err(ProtocolError::Malformed { .. })
        ));
    }

    #[test]
    fn payload_limit_and_truncation() {
        assert!(matches!(
            read_payload(&mut &[0u8; 4][..], 5, 4, "record"),
            Err(ProtocolError::TooLarge {
                what: "record",
                len: 5,
                max: 4
            })
        ));
        assert!(matches!(
            read_payload(&mut &[0u8; 4][..], 5, 10, "record"),
            Err(ProtocolError::Eof)
        ));
        assert!(!read_end_of_stream(&mut &[0xff, 0xff, 0xff, 0xff][..]).unwrap());
    }
}
