//! The task's data path over the JVM socket: input records are copied from the socket
//! straight into the guest's buffer (no host-side allocation sized by a length the JVM sent),
//! validated output batches go straight to the socket's write buffer, and broadcast values
//! come from the connection's [`BroadcastRegistry`].

use std::io::{self, BufReader, BufWriter, Read, Write};

use sparkwasm_abi::{NULL_RECORD, RECORD_HEADER_LEN};
use sparkwasm_protocol::{read_record_header, RecordHeader};
use sparkwasm_runtime::{BroadcastRead, InputBatch, TaskIo};

use crate::broadcasts::BroadcastRegistry;
use crate::sql::SqlSection;
use crate::stream::Stream;

/// Buffer size of the socket reader and writer, as Spark's `spark.buffer.size` default.
const SOCKET_BUFFER: usize = 64 << 10;

/// Buffered reader and writer of one JVM connection, its broadcast registry, plus the
/// position in the current task's data section.
pub struct SocketIo {
    /// Reads what the JVM sends.
    pub reader: BufReader<Stream>,
    /// Writes what the JVM reads.
    pub writer: BufWriter<Stream>,
    /// The connection's broadcasts, kept across its tasks.
    pub broadcasts: BroadcastRegistry,
    /// A record header already read whose payload did not fit the guest's buffer.
    pending: Option<RecordHeader>,
    /// The data section's END_OF_DATA_SECTION has been read.
    input_ended: bool,
    /// The current task's data section when it is a Spark SQL task (Arrow, not records).
    sql: Option<SqlSection>,
}

impl SocketIo {
    /// Wraps a connected stream, with an empty broadcast registry.
    pub fn new(stream: Stream, broadcasts: BroadcastRegistry) -> io::Result<Self> {
        let write_half = stream.try_clone()?;
        Ok(SocketIo {
            reader: BufReader::with_capacity(SOCKET_BUFFER, stream),
            writer: BufWriter::with_capacity(SOCKET_BUFFER, write_half),
            broadcasts,
            pending: None,
            input_ended: false,
            sql: None,
        })
    }

    /// Resets the data-section state before a task's records start.
    pub fn begin_task(&mut self) {
        self.pending = None;
        self.input_ended = false;
        self.sql = None;
    }

    /// Resets the data-section state before a Spark SQL task's Arrow data starts.
    pub(crate) fn begin_sql_task(&mut self, section: SqlSection) {
        self.begin_task();
        self.sql = Some(section);
    }

    /// Ends the Arrow output stream of a failing Spark SQL task, if it began (nothing for
    /// RDD tasks).
    pub(crate) fn end_sql_output(&mut self) -> io::Result<()> {
        match self.sql.as_mut() {
            Some(section) => section.end_output(&mut self.writer),
            None => Ok(()),
        }
    }

    /// Ends a Spark SQL task: checks the guest answered every row and ends the output's
    /// Arrow stream. Returns why the answer is incomplete, if it is.
    pub(crate) fn finish_sql_task(&mut self) -> io::Result<Result<(), String>> {
        match self.sql.as_mut() {
            Some(section) => section.finish(&mut self.writer),
            None => Ok(Ok(())),
        }
    }

    /// Reads and discards whatever input the guest did not consume, through the
    /// END_OF_DATA_SECTION marker, so the connection can serve the next task.
    pub fn drain_input(&mut self) -> io::Result<()> {
        if let Some(section) = self.sql.as_mut() {
            let drained = section.drain(&mut self.reader);
            self.sql = None;
            return drained;
        }
        loop {
            let header = match self.pending.take() {
                Some(header) => header,
                None if self.input_ended => return Ok(()),
                None => self.next_header()?,
            };
            match header {
                RecordHeader::EndOfData => {
                    self.input_ended = true;
                    return Ok(());
                }
                RecordHeader::Null => {}
                RecordHeader::Data(len) => {
                    let skipped = io::copy(
                        &mut (&mut self.reader).take(u64::from(len)),
                        &mut io::sink(),
                    )?;
                    if skipped < u64::from(len) {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
            }
        }
    }

    fn next_header(&mut self) -> io::Result<RecordHeader> {
        read_record_header(&mut self.reader)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    }
}

impl TaskIo for SocketIo {
    fn next_input(&mut self, buf: &mut [u8]) -> io::Result<InputBatch> {
        if let Some(section) = self.sql.as_mut() {
            return section.next_input(&mut self.reader, buf);
        }
        let mut filled = 0;
        loop {
            let header = match self.pending.take() {
                Some(header) => header,
                None if self.input_ended => break,
                None => self.next_header()?,
            };
            let (len_field, payload) = match header {
                RecordHeader::EndOfData => {
                    self.input_ended = true;
                    break;
                }
                RecordHeader::Null => (NULL_RECORD, 0),
                RecordHeader::Data(len) => (
                    i32::try_from(len).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, "record longer than 2 GiB")
                    })?,
                    len as usize,
                ),
            };
            let needed = RECORD_HEADER_LEN + payload;
            if filled + needed > buf.len() {
                self.pending = Some(header);
                if filled == 0 {
                    return Ok(InputBatch::NeedCapacity(needed));
                }
                break;
            }
            buf[filled..filled + RECORD_HEADER_LEN].copy_from_slice(&len_field.to_be_bytes());
            filled += RECORD_HEADER_LEN;
            self.reader.read_exact(&mut buf[filled..filled + payload])?;
            filled += payload;
        }
        Ok(if filled == 0 {
            InputBatch::End
        } else {
            InputBatch::Filled(filled)
        })
    }

    fn write_output(&mut self, records: &[u8]) -> io::Result<()> {
        if let Some(section) = self.sql.as_mut() {
            return section.write_output(&mut self.writer, records);
        }
        self.writer.write_all(records)
    }

    fn read_broadcast(&mut self, id: i64, buf: &mut [u8]) -> io::Result<BroadcastRead> {
        self.broadcasts.read(id, buf)
    }
}
