//! What the worker writes back for a task (§5): data frames (RDD work) or the
//! `START_ARROW_STREAM` marker in front of an Arrow IPC stream (SQL Arrow UDFs, §8), the
//! timing block, the end-of-data marker with the accumulator section, the reuse signal, and
//! the exception frame.
//!
//! None of these flush: a task's output is normally written through a `BufWriter` and
//! flushed once the final signal is written (or whenever the worker is about to block on
//! input).

use std::io::{self, Write};

use crate::wire::{write_bytes, write_i32, write_i64, write_str};
use crate::{special, SparkVersion};

/// The `TIMING_DATA` block's values (§5.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    /// Worker boot time, epoch milliseconds.
    pub boot_ms: i64,
    /// End of initialisation (header parsed), epoch milliseconds.
    pub init_ms: i64,
    /// End of processing, epoch milliseconds.
    pub finish_ms: i64,
    /// Processing duration in milliseconds. Only sent to 4.2+; ignored for older versions.
    pub processing_ms: i64,
    /// Bytes spilled from memory (`incMemoryBytesSpilled`).
    pub memory_bytes_spilled: i64,
    /// Bytes spilled to disk (`incDiskBytesSpilled`).
    pub disk_bytes_spilled: i64,
}

/// Writes one output record: `i32 len` + bytes. Each frame becomes one JVM element.
/// More than `i32::MAX` bytes is [`io::ErrorKind::InvalidInput`] (nothing is written).
pub fn write_frame<W: Write + ?Sized>(w: &mut W, bytes: &[u8]) -> io::Result<()> {
    write_bytes(w, bytes)
}

/// Writes `START_ARROW_STREAM` (−6): the SQL Arrow UDF output's Arrow IPC stream (schema,
/// batches, end-of-stream) follows, written by the caller. Once per task, never in RDD
/// output (the JVM's `PythonRunner` fails on it, §11.9).
///
/// After the stream the trailer is the RDD one: [`write_timing`], [`write_end_of_data`]
/// (no accumulator updates), then the reuse signal. A task without any output batch may
/// skip the marker and the stream and write the trailer directly, as PySpark 4.3 does.
pub fn write_start_arrow_stream<W: Write + ?Sized>(w: &mut W) -> io::Result<()> {
    write_i32(w, special::START_ARROW_STREAM)
}

/// Writes `TIMING_DATA` (−3) followed by exactly the number of longs `version` reads:
/// boot, init, finish, [processing (4.2+)], memory spilled, disk spilled. A wrong count
/// desynchronises the JVM, hence the explicit version.
pub fn write_timing<W: Write + ?Sized>(
    w: &mut W,
    version: SparkVersion,
    t: &Timing,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(4 + 6 * 8);
    write_i32(&mut buf, special::TIMING_DATA)?;
    write_i64(&mut buf, t.boot_ms)?;
    write_i64(&mut buf, t.init_ms)?;
    write_i64(&mut buf, t.finish_ms)?;
    if version.timing_longs() == 4 {
        write_i64(&mut buf, t.processing_ms)?;
    }
    write_i64(&mut buf, t.memory_bytes_spilled)?;
    write_i64(&mut buf, t.disk_bytes_spilled)?;
    w.write_all(&buf)
}

/// Writes `END_OF_DATA_SECTION` (−1), then the accumulator section: `i32 n` + n frames
/// (§5.3). More than `i32::MAX` updates is [`io::ErrorKind::InvalidInput`], reported before
/// anything is written.
pub fn write_end_of_data<W: Write + ?Sized>(
    w: &mut W,
    accumulator_updates: &[Vec<u8>],
) -> io::Result<()> {
    let n = i32::try_from(accumulator_updates.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "more than i32::MAX accumulator updates",
        )
    })?;
    if let Some(u) = accumulator_updates
        .iter()
        .find(|u| i32::try_from(u.len()).is_err())
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("accumulator update of {} bytes cannot be framed", u.len()),
        ));
    }
    write_i32(w, special::END_OF_DATA_SECTION)?;
    write_i32(w, n)?;
    for u in accumulator_updates {
        write_bytes(w, u)?;
    }
    Ok(())
}

/// Writes `END_OF_STREAM` (−4): the task is done and the worker can be reused. Only after
/// [`read_end_of_stream`](crate::read_end_of_stream) returned `true`.
pub fn write_end_of_stream<W: Write + ?Sized>(w: &mut W) -> io::Result<()> {
    write_i32(w, special::END_OF_STREAM)
}

/// Writes `END_OF_DATA_SECTION` (−1) in the final position: "I did not get END_OF_STREAM,
/// do not reuse me". The worker exits afterwards.
pub fn write_do_not_reuse<W: Write + ?Sized>(w: &mut W) -> io::Result<()> {
    write_i32(w, special::END_OF_DATA_SECTION)
}

/// Writes `PYTHON_EXCEPTION_THROWN` (−2) + `str message` (§5.4). The JVM fails the task
/// with `message` as the traceback text; nothing else should follow, and the worker exits.
///
/// A message longer than `i32::MAX` bytes is cut at a character boundary rather than
/// failing, because this is the last chance to tell the JVM what went wrong.
pub fn write_exception<W: Write + ?Sized>(w: &mut W, message: &str) -> io::Result<()> {
    let mut end = message.len().min(i32::MAX as usize);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    write_i32(w, special::PYTHON_EXCEPTION_THROWN)?;
    write_str(w, &message[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_longs_per_version() {
        let t = Timing {
            boot_ms: 1,
            init_ms: 2,
            finish_ms: 3,
            processing_ms: 4,
            memory_bytes_spilled: 5,
            disk_bytes_spilled: 6,
        };
        for v in SparkVersion::ALL {
            let mut out = Vec::new();
            write_timing(&mut out, v, &t).unwrap();
            assert_eq!(out.len(), 4 + 8 * (v.timing_longs() + 2), "{v}");
            assert_eq!(out[..4], [0xff, 0xff, 0xff, 0xfd]);
            let longs: Vec<i64> = out[4..]
                .chunks(8)
                .map(|c| i64::from_be_bytes(c.try_into().unwrap()))
                .collect();
            let expected: &[i64] = if v >= SparkVersion::V4_2 {
                &[1, 2, 3, 4, 5, 6]
            } else {
                &[1, 2, 3, 5, 6]
            };
            assert_eq!(longs, expected, "{v}");
        }
    }

    #[test]
    fn start_arrow_stream() {
        let mut out = Vec::new();
        write_start_arrow_stream(&mut out).unwrap();
        assert_eq!(out, [0xff, 0xff, 0xff, 0xfa]);
    }

    #[test]
    fn trailer_and_exception() {
        let mut out = Vec::new();
        write_end_of_data(&mut out, &[b"ab".to_vec(), Vec::new()]).unwrap();
        write_end_of_stream(&mut out).unwrap();
        write_do_not_reuse(&mut out).unwrap();
        write_exception(&mut out, "boom").unwrap();
        assert_eq!(
            out,
            [
                &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 0, 0, 0, 2, b'a', b'b', 0, 0, 0, 0][..],
                &[0xff, 0xff, 0xff, 0xfc, 0xff, 0xff, 0xff, 0xff][..],
                &[0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 4, b'b', b'o', b'o', b'm'][..],
            ]
            .concat()
        );
    }
}
