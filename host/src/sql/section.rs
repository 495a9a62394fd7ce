//! The data section of a Spark SQL task, between the JVM socket and the guest.
//!
//! Input (what `input_next` hands the guest): the JVM sends one Arrow IPC stream (scalar
//! UDFs), or per group `i32 1` and a whole stream, then `i32 0` (grouped aggregates). Each
//! record batch becomes one columnar batch holding each UDF's argument columns; the end of a
//! group becomes a `GroupEnd` batch. The stream is read message by message, so nothing past
//! its end-of-stream marker (the `-4` or the next group marker) leaves the socket buffer.
//!
//! Output (what `output_write` hands the host): each columnar batch is validated against
//! the declared result types and written as a record batch of one Arrow IPC stream, after
//! `-6` (START_ARROW_STREAM), which is only written once there is a first batch, as PySpark
//! does.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_buffer::Buffer;
use arrow_ipc::writer::StreamWriter;
use arrow_ipc::MessageHeader;
use arrow_schema::{Field, Schema, SchemaRef};
use sparkwasm_abi::columnar::{read_batch, Op, SqlType};
use sparkwasm_protocol::{read_group_marker, write_start_arrow_stream, GroupMarker};
use sparkwasm_runtime::InputBatch;

use super::convert::{accepts, arrow_type, decode_column, encode_batch, widen, widens_to};

/// The IPC continuation marker that precedes each message's length.
const CONTINUATION: u32 = 0xFFFF_FFFF;
/// The most bytes of IPC metadata one message may declare (a schema of thousands of
/// columns is well below this).
const MAX_METADATA: usize = 64 << 20;
/// The most bytes of body one record batch may declare.
const MAX_BODY: usize = i32::MAX as usize;

/// One argument column a UDF reads: its index in the Arrow input and its Spark type.
#[derive(Clone, Debug)]
pub(crate) struct ArgumentColumn {
    /// Index of the column in the JVM's Arrow batches.
    pub(crate) index: usize,
    /// The type the function takes.
    pub(crate) ty: SqlType,
    /// How to name the argument in messages (`argument 2 of str_len`).
    pub(crate) label: String,
}

/// Where the input stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InputState {
    /// Grouped: the next thing is a group marker.
    BeforeGroup,
    /// Inside an IPC stream (the one stream of a scalar task, or a group's).
    InStream,
    /// Grouped: the group's stream ended; its `GroupEnd` is the next batch.
    GroupEnded,
    /// Everything was read.
    Ended,
}

/// The state of one SQL task's data section.
pub(crate) struct SqlSection {
    grouped: bool,
    arguments: Vec<ArgumentColumn>,
    result_types: Vec<SqlType>,
    large_var_types: bool,
    state: InputState,
    /// The schema of the stream being read.
    schema: Option<SchemaRef>,
    /// Batches read in the current group.
    group_batches: u64,
    /// An encoded batch that did not fit the guest's buffer.
    pending: Option<()>,
    encoded: Vec<u8>,
    rows_in: u64,
    groups_in: u64,
    rows_out: u64,
    output_schema: SchemaRef,
    writer: Option<StreamWriter<Vec<u8>>>,
}

fn malformed(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

impl SqlSection {
    /// A section for UDFs reading `arguments` (in order: each UDF's arguments) and producing
    /// `result_types` (one per UDF).
    pub(crate) fn new(
        grouped: bool,
        arguments: Vec<ArgumentColumn>,
        result_types: Vec<SqlType>,
        large_var_types: bool,
    ) -> Self {
        let fields: Vec<Field> = result_types
            .iter()
            .enumerate()
            .map(|(i, ty)| Field::new(format!("_{i}"), arrow_type(ty, large_var_types), true))
            .collect();
        SqlSection {
            grouped,
            arguments,
            result_types,
            large_var_types,
            state: if grouped {
                InputState::BeforeGroup
            } else {
                InputState::InStream
            },
            schema: None,
            group_batches: 0,
            pending: None,
            encoded: Vec::new(),
            rows_in: 0,
            groups_in: 0,
            rows_out: 0,
            output_schema: Arc::new(Schema::new(fields)),
            writer: None,
        }
    }

    /// Copies the next columnar batch into `buf`, or says how large `buf` must be.
    pub(crate) fn next_input(
        &mut self,
        reader: &mut impl Read,
        buf: &mut [u8],
    ) -> io::Result<InputBatch> {
        if self.pending.is_none() {
            if !self.encode_next(reader)? {
                return Ok(InputBatch::End);
            }
            self.pending = Some(());
        }
        if self.encoded.len() > buf.len() {
            return Ok(InputBatch::NeedCapacity(self.encoded.len()));
        }
        buf[..self.encoded.len()].copy_from_slice(&self.encoded);
        self.pending = None;
        Ok(InputBatch::Filled(self.encoded.len()))
    }

    /// Reads input until the next batch for the guest is encoded in `self.encoded`;
    /// `false` once the input is exhausted.
    fn encode_next(&mut self, reader: &mut impl Read) -> io::Result<bool> {
        loop {
            match self.state {
                InputState::Ended => return Ok(false),
                InputState::BeforeGroup => {
                    match read_group_marker(reader).map_err(|e| malformed(e.to_string()))? {
                        GroupMarker::Stream => {
                            self.state = InputState::InStream;
                            self.schema = None;
                            self.group_batches = 0;
                        }
                        GroupMarker::End => self.state = InputState::Ended,
                    }
                }
                InputState::GroupEnded => {
                    self.state = InputState::BeforeGroup;
                    encode_batch(&mut self.encoded, Op::GroupEnd, 0, &[])
                        .map_err(|e| malformed(e.0))?;
                    self.groups_in += 1;
                    return Ok(true);
                }
                InputState::InStream => match self.read_batch(reader)? {
                    Some(batch) => {
                        if batch.num_rows() == 0 {
                            continue;
                        }
                        self.group_batches += 1;
                        self.rows_in += batch.num_rows() as u64;
                        // Columns of a narrower number type than the function takes (a UDF
                        // called from SQL text gets no casts) are widened first.
                        let widened: Vec<Option<ArrayRef>> = self
                            .arguments
                            .iter()
                            .map(|argument| widen(batch.column(argument.index), &argument.ty))
                            .collect();
                        let columns: Vec<&ArrayRef> = self
                            .arguments
                            .iter()
                            .zip(&widened)
                            .map(|(argument, widened)| {
                                widened.as_ref().unwrap_or(batch.column(argument.index))
                            })
                            .collect();
                        let op = if self.grouped {
                            Op::GroupRows
                        } else {
                            Op::Rows
                        };
                        encode_batch(&mut self.encoded, op, batch.num_rows(), &columns)
                            .map_err(|e| malformed(e.0))?;
                        return Ok(true);
                    }
                    None => {
                        self.state = match (self.grouped, self.group_batches) {
                            (false, _) => InputState::Ended,
                            // A group without rows gets no result row, as in PySpark.
                            (true, 0) => InputState::BeforeGroup,
                            (true, _) => InputState::GroupEnded,
                        };
                    }
                },
            }
        }
    }

    /// Reads IPC messages up to the next record batch (`None` at the stream's end), checking
    /// the schema against the arguments when it arrives.
    fn read_batch(&mut self, reader: &mut impl Read) -> io::Result<Option<RecordBatch>> {
        loop {
            let Some((metadata, body)) = read_message(reader)? else {
                if self.schema.is_none() {
                    return Err(malformed("an Arrow stream ended before its schema"));
                }
                return Ok(None);
            };
            let message = arrow_ipc::root_as_message(&metadata)
                .map_err(|e| malformed(format!("an Arrow IPC message does not parse: {e}")))?;
            match message.header_type() {
                MessageHeader::Schema => {
                    let schema = message
                        .header_as_schema()
                        .ok_or_else(|| malformed("an Arrow schema message without a schema"))?;
                    let schema = arrow_ipc::convert::try_fb_to_schema(schema)
                        .map_err(|e| malformed(format!("the Arrow schema does not parse: {e}")))?;
                    self.check_schema(&schema)?;
                    self.schema = Some(Arc::new(schema));
                }
                MessageHeader::RecordBatch => {
                    let schema = self
                        .schema
                        .clone()
                        .ok_or_else(|| malformed("an Arrow record batch before its schema"))?;
                    let header = message
                        .header_as_record_batch()
                        .ok_or_else(|| malformed("an Arrow batch message without a batch"))?;
                    let batch = arrow_ipc::reader::read_record_batch(
                        &body,
                        header,
                        schema,
                        &HashMap::new(),
                        None,
                        &message.version(),
                    )
                    .map_err(|e| {
                        malformed(format!("an Arrow record batch does not decode: {e}"))
                    })?;
                    return Ok(Some(batch));
                }
                other => {
                    return Err(malformed(format!(
                        "unexpected Arrow IPC message {other:?} (Spark sends no dictionaries)"
                    )))
                }
            }
        }
    }

    fn check_schema(&self, schema: &Schema) -> io::Result<()> {
        for argument in &self.arguments {
            let Some(field) = schema.fields().get(argument.index) else {
                return Err(malformed(format!(
                    "{} is column {} of the input, which has {} columns",
                    argument.label,
                    argument.index,
                    schema.fields().len()
                )));
            };
            if !accepts(&argument.ty, field.data_type())
                && !widens_to(field.data_type(), &argument.ty)
            {
                return Err(io::Error::other(format!(
                    "{} is an Arrow {} column, the function takes Spark {} (cast the argument)",
                    argument.label,
                    field.data_type(),
                    argument.ty
                )));
            }
        }
        Ok(())
    }

    /// Takes one columnar result batch from the guest and writes it to the JVM: validated,
    /// or refused with [`io::ErrorKind::InvalidData`] (the guest's fault).
    pub(crate) fn write_output(&mut self, writer: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
        let batch = read_batch(bytes).map_err(|e| malformed(e.to_string()))?;
        if batch.op != Op::Rows {
            return Err(malformed(format!("a result batch with op {:?}", batch.op)));
        }
        if batch.columns.len() != self.result_types.len() {
            return Err(malformed(format!(
                "a result batch has {} columns for {} functions",
                batch.columns.len(),
                self.result_types.len()
            )));
        }
        let limit = if self.grouped {
            self.groups_in
        } else {
            self.rows_in
        };
        let rows_out = self.rows_out + batch.rows as u64;
        if rows_out > limit {
            let what = if self.grouped { "groups" } else { "rows" };
            return Err(malformed(format!(
                "the guest returned {rows_out} result rows after receiving {limit} {what}"
            )));
        }
        let mut columns = Vec::with_capacity(batch.columns.len());
        for (i, (column, ty)) in batch.columns.iter().zip(&self.result_types).enumerate() {
            columns.push(
                decode_column(column, ty, self.large_var_types)
                    .map_err(|e| malformed(format!("function {i} of the node: {e}")))?,
            );
        }
        if batch.rows == 0 {
            return Ok(());
        }
        let record_batch = RecordBatch::try_new(Arc::clone(&self.output_schema), columns)
            .map_err(|e| malformed(format!("the result batch is invalid: {e}")))?;
        if self.writer.is_none() {
            write_start_arrow_stream(writer)?;
            let stream =
                StreamWriter::try_new(Vec::new(), &self.output_schema).map_err(io::Error::other)?;
            self.writer = Some(stream);
        }
        let stream = self.writer.as_mut().expect("just created");
        if self.grouped {
            // The JVM reads one row per batch of an aggregate's answer (the first:
            // `ArrowAggregatePythonExec` maps each batch to `rowIterator.next()`), so each
            // group's result is a batch of its own, as PySpark writes it.
            for row in 0..record_batch.num_rows() {
                stream
                    .write(&record_batch.slice(row, 1))
                    .map_err(io::Error::other)?;
            }
        } else {
            stream.write(&record_batch).map_err(io::Error::other)?;
        }
        writer.write_all(stream.get_ref())?;
        stream.get_mut().clear();
        self.rows_out = rows_out;
        Ok(())
    }

    /// After the guest is done: checks it answered every row (or group), and ends the output
    /// stream. Returns the error message when the answer is incomplete.
    pub(crate) fn finish(&mut self, writer: &mut impl Write) -> io::Result<Result<(), String>> {
        let (expected, what) = if self.grouped {
            (self.groups_in, "groups")
        } else {
            (self.rows_in, "rows")
        };
        if self.rows_out != expected {
            self.end_output(writer)?;
            return Ok(Err(format!(
                "the guest returned {} result rows for {expected} {what}",
                self.rows_out
            )));
        }
        self.end_output(writer)?;
        Ok(Ok(()))
    }

    /// Ends the output's Arrow stream (its end-of-stream marker), if it began.
    pub(crate) fn end_output(&mut self, writer: &mut impl Write) -> io::Result<()> {
        if let Some(mut stream) = self.writer.take() {
            stream.finish().map_err(io::Error::other)?;
            writer.write_all(stream.get_ref())?;
        }
        Ok(())
    }

    /// Reads and discards the rest of the input, through the end of the stream (scalar) or
    /// the end-of-groups marker (grouped), so the connection can read the end of the task.
    pub(crate) fn drain(&mut self, reader: &mut impl Read) -> io::Result<()> {
        self.pending = None;
        while self.encode_next(reader)? {}
        Ok(())
    }
}

fn read_u32_le(reader: &mut impl Read) -> io::Result<u32> {
    let mut bytes = [0u8; 4];
    reader.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

/// Reads one IPC message: `None` at the end-of-stream marker, else its metadata and body.
fn read_message(reader: &mut impl Read) -> io::Result<Option<(Vec<u8>, Buffer)>> {
    let mut length = read_u32_le(reader)?;
    if length == CONTINUATION {
        length = read_u32_le(reader)?;
    }
    if length == 0 {
        return Ok(None);
    }
    let length = length as usize;
    if length > MAX_METADATA {
        return Err(malformed(format!(
            "an Arrow IPC message declares {length} bytes of metadata"
        )));
    }
    let mut metadata = vec![0u8; length];
    reader.read_exact(&mut metadata)?;
    let message = arrow_ipc::root_as_message(&metadata)
        .map_err(|e| malformed(format!("an Arrow IPC message does not parse: {e}")))?;
    let body_length = usize::try_from(message.bodyLength())
        .ok()
        .filter(|len| *len <= MAX_BODY)
        .ok_or_else(|| {
            malformed(format!(
                "an Arrow IPC message declares a body of {} bytes",
                message.bodyLength()
            ))
        })?;
    let mut body = Vec::new();
    reader.take(body_length as u64).read_to_end(&mut body)?;
    if body.len() != body_length {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some((metadata, Buffer::from_vec(body))))
}
