//! The JVM → worker data section: RDD records (§4.6) and the group markers of the Arrow
//! grouped-aggregate UDFs (§8; design note §1.3), and the JVM's final end-of-stream
//! signal (§5.5).

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

/// What the `i32` in front of each group of a grouped-aggregate UDF task says
/// ([`UdfKind::GroupedAggregate`](crate::eval_type::UdfKind::GroupedAggregate)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupMarker {
    /// `1`: one complete Arrow IPC stream (schema, batches, end-of-stream) follows: the
    /// argument columns of the next group's rows.
    Stream,
    /// `0`: there are no more groups. The JVM's `END_OF_STREAM` (−4) comes next.
    End,
}

/// `GroupedPythonArrowInput` writes `1` before each group's stream (`dataframes_in_group`).
const GROUP_STREAM: i32 = 1;
/// … and `0` after the last group.
const END_OF_GROUPS: i32 = 0;

/// Reads the marker in front of a group of a grouped-aggregate UDF task:
///
/// ```text
/// repeat per group:  i32 1, a complete Arrow IPC stream
/// i32 0;  i32 -4 (END_OF_STREAM, read with read_end_of_stream)
/// ```
///
/// Any other value (including −4: the JVM never ends the groups without `0`) is
/// [`ProtocolError::Malformed`]; a closed stream is [`ProtocolError::Eof`]. The caller
/// reads each stream itself, leaving the next marker unread.
pub fn read_group_marker<R: Read + ?Sized>(r: &mut R) -> Result<GroupMarker, ProtocolError> {
    match read_i32(r)? {
        GROUP_STREAM => Ok(GroupMarker::Stream),
        END_OF_GROUPS => Ok(GroupMarker::End),
        n => Err(ProtocolError::malformed(format!(
            "group marker: expected 1 (a group's Arrow stream follows) or 0 (end of groups), \
             got {}",
            special::describe(n)
        ))),
    }
}

/// After the input's `END_OF_DATA_SECTION` and the worker's own trailer (timing,
/// `END_OF_DATA_SECTION`, accumulators), reads the JVM's final `i32`.
///
/// SQL Arrow UDF tasks have no `END_OF_DATA_SECTION` in the input: the JVM writes `−4`
/// right after the input's Arrow IPC stream (scalar) or after the `0` group marker
/// (grouped aggregate, [`read_group_marker`]). The worker reads the input through that
/// point, writes its trailer, then calls this as for RDD tasks.
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
    fn group_markers() {
        // Two groups (their streams elided), the end of groups, then END_OF_STREAM.
        let bytes = [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc];
        let mut r = &bytes[..];
        assert_eq!(read_group_marker(&mut r).unwrap(), GroupMarker::Stream);
        assert_eq!(read_group_marker(&mut r).unwrap(), GroupMarker::Stream);
        assert_eq!(read_group_marker(&mut r).unwrap(), GroupMarker::End);
        assert!(read_end_of_stream(&mut r).unwrap());
        assert!(r.is_empty());

        for (bad, shown) in [
            (2, "got 2"),
            (-1, "got -1 (END_OF_DATA_SECTION)"),
            (-4, "got -4 (END_OF_STREAM)"),
            (-6, "got -6 (START_ARROW_STREAM)"),
            (i32::MIN, "got -2147483648"),
            // The message says what was expected.
            (
                7,
                "expected 1 (a group's Arrow stream follows) or 0 (end of groups)",
            ),
        ] {
            let e = read_group_marker(&mut &bad.to_be_bytes()[..]).unwrap_err();
            assert!(
                matches!(&e, ProtocolError::Malformed { what } if what.contains(shown)),
                "{bad}: {e}"
            );
        }
        for cut in 0..4 {
            assert!(matches!(
                read_group_marker(&mut &[0u8, 0, 0, 1][..cut]),
                Err(ProtocolError::Eof)
            ));
        }
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
