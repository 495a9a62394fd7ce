//! The input side of a task: pulling batches from the host and decoding their records into
//! the author's element type, lazily, one element per `next()`.
//!
//! Batches arrive with one `input_next` call each into one growable buffer (no per-record
//! crossing, no per-record copy). Records are `i32` big-endian length + payload; a length of
//! `NULL_RECORD` is a null. Every encoding of `sparkwasm_abi::InputEncoding` has two decoders
//! here: into the author's element type (typed sources) and into [`Value`]s (dynamic sources).
//! A decode error ends the stream and is recorded as the task's failure (the author's
//! functions see plain `T`s, not `Result`s), naming the record and element index.
//!
//! Typed pickle decoding goes straight from the pickle into `T` (serde-pickle's deserializer);
//! dynamic pickle decoding uses the SDK's own decoder, which keeps tuples apart from lists and
//! dicts in insertion order (see `value::pickle`).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, IntoDeserializer, SeqAccess, Visitor};
use sparkwasm_abi::{InputEncoding, BATCH_TYPED, BATCH_VALUES, NULL_RECORD, RECORD_HEADER_LEN};

use crate::element::Element;
use crate::error::{pickle_message, Error};
use crate::stream::Stream;
use crate::value::pickle::{from_pickle, from_pickle_list, scan_into, Stop};
use crate::value::{decode_prefix, from_flat, from_value, Value};
use crate::{host, task};

/// Size of the input buffer before any record asked for more: large enough that a batch
/// holds many records (a PySpark batch of 1024 ints is ~5 KiB), small enough to be cheap for
/// tiny tasks. Every task starts in fresh memory, so each page of it the host fills costs a
/// page fault (the buffer is not zero-filled: a page no batch reaches costs nothing).
pub(crate) const INITIAL_INPUT_BUFFER: usize = 64 * 1024;

/// Builds the decoding stream of a task's input as element type `T` (spelled `type_name`).
///
/// When `batched` (the plan reads its whole input), PySpark's pickled batches stay batches: each
/// record's list is one. Records of one element each (text lines, single pickles) stay a
/// stream of elements: cutting them into batches measured slower for word count (its words
/// went through memory as whole batches instead of one by one, hot in cache).
pub(crate) fn source<T: Element>(
    encoding: InputEncoding,
    type_name: &'static str,
    batched: bool,
) -> Stream {
    let reader = RecordReader::new();
    match encoding {
        InputEncoding::PickleBatch if batched => {
            Stream::batches(Source::new(reader, PickleBatches::<T>(PhantomData)))
        }
        InputEncoding::PickleBatch => Stream::new(Source::new(reader, PickleBatch::<T>::new())),
        InputEncoding::PickleItem => Stream::new(Source::new(reader, PickleItem::<T>::new())),
        InputEncoding::Utf8 => Stream::new(Source::new(reader, Utf8::<T>::new(type_name))),
        InputEncoding::Binary => Stream::new(Source::new(reader, Binary::new(read_typed::<T>))),
        InputEncoding::Utf8Pairs => Stream::new(Source::new(
            reader,
            Utf8Pairs::new(|pair| from_value::<T>(pair)),
        )),
        InputEncoding::Columnar => columnar_refused(),
    }
}

/// The stream of a columnar input in an RDD task: none (the planner refuses such tasks
/// before any input is read; this keeps the refusal if that ever changes).
fn columnar_refused() -> Stream {
    task::fail(Error::Plan(
        "columnar input belongs to SQL tasks, not RDD steps".into(),
    ));
    Stream::new(std::iter::empty::<Value>())
}

/// Builds the decoding stream of a task's input as [`Value`]s.
pub(crate) fn dynamic_source(encoding: InputEncoding) -> Stream {
    let reader = RecordReader::new();
    match encoding {
        InputEncoding::PickleBatch => {
            Stream::new(Source::new(reader, PickleBatchValues::default()))
        }
        InputEncoding::PickleItem => Stream::new(Source::new(reader, PickleItemValues)),
        InputEncoding::Utf8 => Stream::new(Source::new(reader, Utf8Values)),
        InputEncoding::Binary => Stream::new(Source::new(reader, Binary::new(read_value))),
        InputEncoding::Utf8Pairs => Stream::new(Source::new(reader, Utf8Pairs::new(Ok))),
        InputEncoding::Columnar => columnar_refused(),
    }
}

/// One record of a batch: its index in the task's input and where its payload is in the
/// reader's buffer (`None` for a null record).
pub(crate) struct Record {
    pub(crate) index: u64,
    pub(crate) payload: Option<Range<usize>>,
}

/// Pulls batches from the host and splits them into records.
pub(crate) struct RecordReader {
    /// The current batch; its capacity is what the host is offered.
    buf: Vec<u8>,
    /// Start of the next record in the current batch.
    pos: usize,
    next_index: u64,
    exhausted: bool,
}

impl RecordReader {
    pub(crate) fn new() -> Self {
        RecordReader::with_capacity(INITIAL_INPUT_BUFFER)
    }

    pub(crate) fn with_capacity(capacity: usize) -> Self {
        RecordReader {
            buf: Vec::with_capacity(capacity),
            pos: 0,
            next_index: 0,
            exhausted: false,
        }
    }

    /// The bytes of a payload returned by [`RecordReader::next_record`]; valid until the next
    /// call of `next_record`.
    pub(crate) fn bytes(&self, payload: &Range<usize>) -> &[u8] {
        self.buf.get(payload.clone()).unwrap_or_default()
    }

    /// The next record, pulling a new batch when the current one is used up.
    pub(crate) fn next_record(&mut self) -> Result<Option<Record>, Error> {
        if self.pos >= self.buf.len() && !self.refill()? {
            return Ok(None);
        }
        let index = self.next_index;
        let batch = self.buf.get(self.pos..).unwrap_or_default();
        let Some((header, _)) = batch.split_first_chunk::<RECORD_HEADER_LEN>() else {
            return Err(Error::Batch(format!(
                "the batch ends inside the length header of record {index}"
            )));
        };
        let len = i32::from_be_bytes(*header);
        let start = self.pos + RECORD_HEADER_LEN;
        let payload = if len == NULL_RECORD {
            self.pos = start;
            None
        } else {
            let Ok(len) = usize::try_from(len) else {
                return Err(Error::Batch(format!(
                    "record {index} has negative length {len}"
                )));
            };
            let end = start + len;
            if end > self.buf.len() {
                return Err(Error::Batch(format!(
                    "record {index} (length {len}) runs past the end of its batch of {} bytes",
                    self.buf.len()
                )));
            }
            self.pos = end;
            Some(start..end)
        };
        self.next_index += 1;
        Ok(Some(Record { index, payload }))
    }

    /// Pulls the next batch into the buffer, growing it when the host asks; `false` at the end.
    fn refill(&mut self) -> Result<bool, Error> {
        if self.exhausted {
            return Ok(false);
        }
        self.pos = 0;
        loop {
            let written = host::input_next(&mut self.buf);
            if written == 0 {
                self.exhausted = true;
                return Ok(false);
            }
            let capacity = self.buf.capacity();
            if written < 0 {
                let needed = usize::try_from(written.unsigned_abs()).unwrap_or(usize::MAX);
                if needed <= capacity {
                    // Growing would not help; asking again would loop forever.
                    return Err(Error::Batch(format!(
                        "the host asked for a {needed}-byte buffer but was offered {capacity} bytes"
                    )));
                }
                // The buffer is empty: reserving `needed` makes the capacity at least that.
                self.buf.try_reserve_exact(needed).map_err(|_| {
                    Error::Batch(format!(
                        "cannot allocate a {needed}-byte buffer for the next record"
                    ))
                })?;
                continue;
            }
            if usize::try_from(written).map_or(true, |filled| filled > capacity) {
                return Err(Error::InputOverrun { written, capacity });
            }
            return Ok(true);
        }
    }
}

/// Decodes the records of one encoding into elements.
trait Decode {
    type Item;
    /// The next element, `Ok(None)` at the end of the input.
    fn next(&mut self, reader: &mut RecordReader) -> Result<Option<Self::Item>, Error>;

    /// An element already decoded and waiting, if any (the fast path of [`Self::next`]).
    #[inline]
    fn decoded(&mut self) -> Option<Self::Item> {
        None
    }
}

/// The typed input stream: on the first error it records the task's failure and ends.
struct Source<D> {
    reader: RecordReader,
    decoder: D,
    done: bool,
}

impl<D: Decode> Source<D> {
    fn new(reader: RecordReader, decoder: D) -> Self {
        Source {
            reader,
            decoder,
            done: false,
        }
    }
}

impl<D: Decode> Iterator for Source<D> {
    type Item = D::Item;

    #[inline]
    fn next(&mut self) -> Option<D::Item> {
        // Most calls hand out an element already decoded from the current batch.
        if let Some(item) = self.decoder.decoded() {
            return Some(item);
        }
        if self.done {
            return None;
        }
        match self.decoder.next(&mut self.reader) {
            Ok(Some(item)) => Some(item),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(err) => {
                self.done = true;
                task::fail(err);
                None
            }
        }
    }
}

/// The payload of a record that must not be null.
fn payload<'r>(
    reader: &'r RecordReader,
    record: &Record,
    encoding: &str,
) -> Result<&'r [u8], Error> {
    match &record.payload {
        Some(range) => Ok(reader.bytes(range)),
        None => Err(Error::Record {
            record: record.index,
            message: format!("null record where a {encoding} was expected"),
        }),
    }
}

/// The error of record `record`, a pickled list, from a list decoder's failing element (if
/// the error is about one) and message.
fn list_error(record: u64) -> impl FnOnce((Option<u64>, String)) -> Error {
    move |(element, message)| match element {
        Some(element) => Error::Element {
            record,
            element,
            message,
        },
        None => Error::Record { record, message },
    }
}

/// Decodes the next record, a pickled list, onto `out`; `false` at the end of the input.
fn next_pickle_batch<T: Element>(
    reader: &mut RecordReader,
    out: &mut Vec<T>,
) -> Result<bool, Error> {
    let Some(record) = reader.next_record()? else {
        return Ok(false);
    };
    let bytes = payload(reader, &record, "pickled batch")?;
    decode_pickle_list(bytes, out).map_err(list_error(record.index))?;
    Ok(true)
}

/// `PickleBatch`: each record is a pickled list, decoded whole into a `Vec` that is then
/// reversed, so handing out the next element is a `pop`. (A `VecDeque`'s push and pop cost a
/// sixth of the narrow job's guest time; the `Vec` keeps its allocation across records.)
struct PickleBatch<T> {
    reversed: Vec<T>,
}

impl<T> PickleBatch<T> {
    fn new() -> Self {
        PickleBatch {
            reversed: Vec::new(),
        }
    }
}

impl<T: Element> Decode for PickleBatch<T> {
    type Item = T;

    #[inline]
    fn decoded(&mut self) -> Option<T> {
        self.reversed.pop()
    }

    fn next(&mut self, reader: &mut RecordReader) -> Result<Option<T>, Error> {
        loop {
            if let Some(item) = self.reversed.pop() {
                return Ok(Some(item));
            }
            if !next_pickle_batch(reader, &mut self.reversed)? {
                return Ok(None);
            }
            self.reversed.reverse();
        }
    }
}

/// `PickleBatch`, batched: each record's list is one batch.
struct PickleBatches<T>(PhantomData<fn() -> T>);

impl<T: Element> Decode for PickleBatches<T> {
    type Item = Vec<T>;

    fn next(&mut self, reader: &mut RecordReader) -> Result<Option<Vec<T>>, Error> {
        let mut batch = Vec::new();
        Ok(next_pickle_batch(reader, &mut batch)?.then_some(batch))
    }
}

/// Decodes a pickled list into `out`, reporting the failing element's index when the error
/// is about one element (`None` when the pickle itself is broken or is not a list).
pub(crate) fn decode_pickle_list<T: Element>(
    bytes: &[u8],
    out: &mut Vec<T>,
) -> Result<(), (Option<u64>, String)> {
    // Flat lists of scalars or small tuples of them (most batches) are read straight into
    // `T`; the rest by
    // serde-pickle, after discarding what the fast path had read.
    match scan_into(bytes, out, from_flat::<T>) {
        Ok(()) => return Ok(()),
        Err(Stop::Sink(element, err)) => return Err((Some(element), err.0)),
        Err(Stop::NotFlat) => {}
    }
    let mut de = serde_pickle::Deserializer::new(bytes, serde_pickle::DeOptions::new());
    let mut position = ListPosition::Outside;
    let seed = ListSeed {
        out,
        position: &mut position,
    };
    let result = seed.deserialize(&mut de).and_then(|()| de.end());
    result.map_err(|err| {
        let element = match position {
            ListPosition::At(index) => Some(index),
            ListPosition::Outside => None,
        };
        (element, pickle_message(err))
    })
}

/// Where the list visitor was when an error happened.
#[derive(Clone, Copy)]
enum ListPosition {
    Outside,
    At(u64),
}

struct ListSeed<'a, T> {
    out: &'a mut Vec<T>,
    position: &'a mut ListPosition,
}

impl<'de, T: Element> DeserializeSeed<'de> for ListSeed<'_, T> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: Element> Visitor<'de> for ListSeed<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a pickled list of elements (a PySpark batch)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        self.out.reserve(seq.size_hint().unwrap_or(0));
        loop {
            *self.position = ListPosition::At(index);
            match seq.next_element::<T>()? {
                Some(item) => self.out.push(item),
                None => break,
            }
            index += 1;
        }
        *self.position = ListPosition::Outside;
        Ok(())
    }
}

/// `PickleItem`: each record is one pickled object; a null record is Python's `None`.
struct PickleItem<T>(PhantomData<fn() -> T>);

impl<T> PickleItem<T> {
    fn new() -> Self {
        PickleItem(PhantomData)
    }
}

impl<T: Element> Decode for PickleItem<T> {
    type Item = T;

    fn next(&mut self, reader: &mut RecordReader) -> Result<Option<T>, Error> {
        let Some(record) = reader.next_record()? else {
            return Ok(None);
        };
        let decoded = match &record.payload {
            Some(range) => serde_pickle::from_slice(reader.bytes(range), Default::default())
                .map_err(pickle_message),
            None => decode_null::<T>(),
        };
        decoded.map(Some).map_err(|message| Error::Record {
            record: record.index,
            message,
        })
    }
}

/// `T` from a null record: `None` for options, an error for everything else.
fn decode_null<T: Element>() -> Result<T, String> {
    let null: de::value::UnitDeserializer<de::value::Error> = ().into_deserializer();
    T::deserialize(null).map_err(|err| err.to_string())
}

/// `Utf8`: each record is one string; a null record becomes `None`.
struct Utf8<T> {
    type_name: &'static str,
    _type: PhantomData<fn() -> T>,
}

impl<T> Utf8<T> {
    fn new(type_name: &'static str) -> Self {
        Utf8 {
            type_name,
            _type: PhantomData,
        }
    }
}

impl<T: Element> Decode for Utf8<T> {
    type Item = T;

    fn next(&mut self, reader: &mut RecordReader) -> Result<Option<T>, Error> {
        let Some(record) = reader.next_record()? else {
            return Ok(None);
        };
        let decoded = match &record.payload {
            Some(range) => match std::str::from_utf8(reader.bytes(range)) {
                Ok(text) => T::deserialize(Text(text)).map_err(|err| err.to_string()),
                Err(err) => Err(format!("not valid UTF-8: {err}")),
            },
            None => decode_null::<T>().map_err(|_| {
                format!(
                    "the record is null, which {} cannot hold (take Option<{}> to receive \
                     nulls as None)",
                    self.type_name, self.type_name
                )
            }),
        };
        decoded.map(Some).map_err(|message| Error::Record {
            record: record.index,
            message,
        })
    }
}

/// A serde deserializer for one text record, which also fills `Option<String>` with `Some`.
struct Text<'a>(&'a str);

impl<'de> de::Deserializer<'de> for Text<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_str(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// Reads one element of a binary batch as `T`: postcard of `T` in a typed batch, the
/// canonical encoding of its value in a values batch.
fn read_typed<T: Element>(tag: u8, bytes: &[u8]) -> Result<(T, &[u8]), String> {
    match tag {
        BATCH_TYPED => postcard::take_from_bytes::<T>(bytes).map_err(|err| err.to_string()),
        _ => decode_prefix::<T>(bytes).map_err(String::from),
    }
}

/// Reads one element of a binary batch as a [`Value`]; a typed batch cannot be read without
/// its type.
fn read_value(tag: u8, bytes: &[u8]) -> Result<(Value, &[u8]), String> {
    match tag {
        BATCH_VALUES => postcard::take_from_bytes::<Value>(bytes).map_err(|err| err.to_string()),
        _ => Err(
            "a typed binary batch cannot be read by a task whose source is dynamic \
                  (name the element type with Source::Typed)"
                .into(),
        ),
    }
}

/// Reads one element of a binary batch with the given tag.
type ReadElement<T> = for<'b> fn(u8, &'b [u8]) -> Result<(T, &'b [u8]), String>;

/// `Binary`: each record is a tag byte, a `u32` LE count and that many encoded elements,
/// decoded in place one per `next()`.
struct Binary<T> {
    read: ReadElement<T>,
    current: Option<BinaryRecord>,
}

struct BinaryRecord {
    index: u64,
    tag: u8,
    cursor: usize,
    end: usize,
    element: u64,
    remaining: u32,
}

impl<T> Binary<T> {
    fn new(read: ReadElement<T>) -> Self {
        Binary {
            read,
            current: None,
        }
    }
}

impl<T> Decode for Binary<T> {
    type Item = T;

    fn next(&mut self, reader: &mut RecordReader) -> Result<Option<T>, Error> {
        loop {
            if let Some(current) = &mut self.current {
                let bytes = reader.bytes(&(current.cursor..current.end));
                if current.remaining > 0 {
                    let (item, rest) =
                        (self.read)(current.tag, bytes).map_err(|message| Error::Element {
                            record: current.index,
                            element: current.element,
                            message,
                        })?;
                    current.cursor = current.end - rest.len();
                    current.remaining -= 1;
                    current.element += 1;
                    return Ok(Some(item));
                }
                if !bytes.is_empty() {
                    return Err(Error::Record {
                        record: current.index,
                        message: format!(
                            "{} bytes left over after its {} elements",
                            bytes.len(),
                            current.element
                        ),
                    });
                }
                self.current = None;
            }
            let Some(record) = reader.next_record()? else {
                return Ok(None);
            };
            let bytes = payload(reader, &record, "binary batch")?;
            let Some((&tag, rest)) = bytes.split_first() else {
                return Err(Error::Record {
                    record: record.index,
                    message: "an empty binary batch (no tag byte)".into(),
                });
            };
            if tag != BATCH_TYPED && tag != BATCH_VALUES {
                return Err(Error::Record {
                    record: record.index,
                    message: format!("a binary batch with unknown tag {tag}"),
                });
            }
            let Some((count, _)) = rest.split_first_chunk::<4>() else {
                return Err(Error::Record {
                    record: record.index,
                    message: "a binary batch shorter than its 4-byte element count".into(),
                });
            };
            let range = record.payload.unwrap_or_default();
            self.current = Some(BinaryRecord {
                index: record.index,
                tag,
                cursor: range.start + 5,
                end: range.end,
                element: 0,
                remaining: u32::from_le_bytes(*count),
            });
        }
    }
}

/// `Utf8Pairs`: two UTF-8 records per element (`wholeTextFiles`: path, content), a null
/// record standing for `None`; the pair is decoded by `finish`.
struct Utf8Pairs<T> {
    finish: fn(Value) -> Result<T, crate::value::ValueError>,
}

impl<T> Utf8Pairs<T> {
    fn new(finish: fn(Value) -> Result<T, crate::value::ValueError>) -> Self {
        Utf8Pairs { finish }
    }
}

/// A UTF-8 record as a value: `Str`, or `None` for a null record.
fn text_value(reader: &RecordReader, record: &Record) -> Result<Value, Error> {
    match &record.payload {
        None => Ok(Value::None),
        Some(range) => match std::str::from_utf8(reader.bytes(range)) {
            Ok(text) => Ok(Value::Str(text.to_owned())),
            Err(err) => Err(Error::Record {
                record: record.index,
                message: format!("not valid UTF-8: {err}"),
            }),
        },
    }
}

impl<T> Decode for Utf8Pairs<T> {
    type Item = T;

    fn next(&mut self, reader: &mut RecordReader) -> Result<Option<T>, Error> {
        let Some(first) = reader.next_record()? else {
            return Ok(None);
        };
        // Copied out before the next record: reading it may refill the buffer.
        let name = text_value(reader, &first)?;
        let Some(second) = reader.next_record()? else {
            return Err(Error::Record {
                record: first.index,
                message: "UTF-8 pair input ends with an unpaired record".into(),
            });
        };
        let content = text_value(reader, &second)?;
        (self.finish)(Value::Tuple(vec![name, content]))
            .map(Some)
            .map_err(|err| Error::Record {
                record: first.index,
                message: err.to_string(),
            })
    }
}

/// `PickleBatch` as values: each record a pickled list, its elements handed out one by one.
struct PickleBatchValues {
    queue: std::vec::IntoIter<Value>,
}

impl Default for PickleBatchValues {
    fn default() -> Self {
        PickleBatchValues {
            queue: Vec::new().into_iter(),
        }
    }
}

impl Decode for PickleBatchValues {
    type Item = Value;

    #[inline]
    fn decoded(&mut self) -> Option<Value> {
        self.queue.next()
    }

    fn next(&mut self, reader: &mut RecordReader) -> Result<Option<Value>, Error> {
        loop {
            if let Some(item) = self.queue.next() {
                return Ok(Some(item));
            }
            let Some(record) = reader.next_record()? else {
                return Ok(None);
            };
            let bytes = payload(reader, &record, "pickled batch")?;
            let items = from_pickle_list(bytes).map_err(list_error(record.index))?;
            self.queue = items.into_iter();
        }
    }
}

/// `PickleItem` as values: one pickled object per record, a null record is `None`.
struct PickleItemValues;

impl Decode for PickleItemValues {
    type Item = Value;

    fn next(&mut self, reader: &mut RecordReader) -> Result<Option<Value>, Error> {
        let Some(record) = reader.next_record()? else {
            return Ok(None);
        };
        match &record.payload {
            None => Ok(Some(Value::None)),
            Some(range) => from_pickle(reader.bytes(range))
                .map(Some)
                .map_err(|message| Error::Record {
                    record: record.index,
                    message,
                }),
        }
    }
}

/// `Utf8` as values: `str`, a null record is `None`.
struct Utf8Values;

impl Decode for Utf8Values {
    type Item = Value;

    fn next(&mut self, reader: &mut RecordReader) -> Result<Option<Value>, Error> {
        let Some(record) = reader.next_record()? else {
            return Ok(None);
        };
        text_value(reader, &record).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::native;

    /// CPython 3.8+: `pickle.dumps([1, 2, 3], protocol=5)`.
    const PROTO5_LIST: &[u8] = &[
        0x80, 0x05, 0x95, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d, 0x94, 0x28, 0x4b,
        0x01, 0x4b, 0x02, 0x4b, 0x03, 0x65, 0x2e,
    ];
    /// CPython: `pickle.dumps([1, 300, -2, "x"], protocol=2)`.
    const PROTO2_LIST: &[u8] =
        b"\x80\x02]q\x00(K\x01M,\x01J\xfe\xff\xff\xffX\x01\x00\x00\x00xq\x01e.";
    /// CPython: `pickle.dumps([("a", 1), ("b", 2)], protocol=4)`.
    const PROTO4_TUPLES: &[u8] = b"\x80\x04\x95\x15\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x01a\x94K\x01\x86\x94\x8c\x01b\x94K\x02\x86\x94e.";
    /// CPython: `pickle.dumps([None, "hi", 2**40, 1.5, b"\x00\xff", True], protocol=3)`.
    const PROTO3_MIXED: &[u8] = b"\x80\x03]q\x00(NX\x02\x00\x00\x00hiq\x01\x8a\x06\x00\x00\x00\x00\x00\x01G?\xf8\x00\x00\x00\x00\x00\x00C\x02\x00\xffq\x02\x88e.";

    /// Any Python value these tests use, for lists of mixed types.
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(untagged)]
    enum Py {
        None,
        Bool(bool),
        Int(i64),
        Float(f64),
        Str(String),
        Bytes(crate::Bytes),
    }

    fn list<T: Element>(bytes: &[u8]) -> Result<Vec<T>, (Option<u64>, String)> {
        let mut out = Vec::new();
        decode_pickle_list(bytes, &mut out)?;
        Ok(out)
    }

    fn record(payload: Option<&[u8]>) -> Vec<u8> {
        match payload {
            Some(bytes) => {
                let mut record = i32::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
                record.extend_from_slice(bytes);
                record
            }
            None => NULL_RECORD.to_be_bytes().to_vec(),
        }
    }

    /// Runs a source over records queued in the native test host.
    fn decode_all<T: Element>(
        encoding: InputEncoding,
        records: Vec<Option<&[u8]>>,
        capacity: usize,
    ) -> (Vec<T>, Option<Error>) {
        native::with(|host| {
            *host = Default::default();
            host.input = records.into_iter().map(record).collect();
        });
        task::reset();
        let reader = RecordReader::with_capacity(capacity);
        let items: Vec<T> = match encoding {
            InputEncoding::PickleBatch => Source::new(reader, PickleBatch::new()).collect(),
            InputEncoding::PickleItem => Source::new(reader, PickleItem::new()).collect(),
            InputEncoding::Utf8 => Source::new(reader, Utf8::new("String")).collect(),
            InputEncoding::Binary => Source::new(reader, Binary::new(read_typed::<T>)).collect(),
            InputEncoding::Utf8Pairs => {
                Source::new(reader, Utf8Pairs::new(|p| from_value::<T>(p))).collect()
            }
            InputEncoding::Columnar => Vec::new(),
        };
        (items, task::take_failure())
    }

    #[test]
    fn cpython_protocol_5_list_with_frame_and_memoize() {
        assert_eq!(list::<i64>(PROTO5_LIST).unwrap(), vec![1, 2, 3]);
        assert_eq!(list::<u8>(PROTO5_LIST).unwrap(), vec![1, 2, 3]);
        // Python ints are fine floats; they are not strings.
        assert_eq!(list::<f64>(PROTO5_LIST).unwrap(), vec![1.0, 2.0, 3.0]);
        let (element, message) = list::<String>(PROTO5_LIST).unwrap_err();
        assert_eq!(element, Some(0));
        assert_eq!(message, "invalid type: integer `1`, expected a string");
    }

    #[test]
    fn cpython_protocol_2_list_of_ints_and_str() {
        let err = list::<i64>(PROTO2_LIST).unwrap_err();
        assert_eq!(err.0, Some(3), "{err:?}");
        let values = list::<Py>(PROTO2_LIST).unwrap();
        assert_eq!(
            values,
            vec![Py::Int(1), Py::Int(300), Py::Int(-2), Py::Str("x".into())]
        );
    }

    #[test]
    fn out_of_range_int_names_the_element_and_is_never_wrapped() {
        let (element, message) = list::<u8>(PROTO2_LIST).unwrap_err();
        assert_eq!(element, Some(1));
        assert_eq!(message, "invalid value: integer `300`, expected u8");
        let (element, message) = list::<u32>(PROTO2_LIST).unwrap_err();
        assert_eq!(element, Some(2));
        assert_eq!(message, "invalid value: integer `-2`, expected u32");
    }

    #[test]
    fn tuples_and_mixed_values() {
        assert_eq!(
            list::<(String, i64)>(PROTO4_TUPLES).unwrap(),
            vec![("a".to_owned(), 1), ("b".to_owned(), 2)]
        );
        let (_, message) = list::<(String, String)>(PROTO4_TUPLES).unwrap_err();
        assert!(message.contains("expected a string"), "{message}");
        type Mixed = (Option<i64>, String, u64, f64, crate::Bytes, bool);
        let mixed: Vec<Py> = list(PROTO3_MIXED).unwrap();
        assert_eq!(
            mixed,
            vec![
                Py::None,
                Py::Str("hi".into()),
                Py::Int(1 << 40),
                Py::Float(1.5),
                Py::Bytes(crate::Bytes::from(vec![0, 255])),
                Py::Bool(true),
            ]
        );
        // The same list read as one tuple through PickleItem-style decoding.
        let tuple: Mixed = serde_pickle::from_slice(PROTO3_MIXED, Default::default()).unwrap();
        assert_eq!(tuple.0, None);
        assert_eq!(tuple.2, 1 << 40);
        assert_eq!(tuple.4.as_slice(), b"\x00\xff");
    }

    #[test]
    fn a_pickle_that_is_not_a_list_is_a_record_error() {
        let err = list::<i64>(b"\x80\x04K\x05.").unwrap_err();
        assert_eq!(err.0, None);
        assert!(err.1.contains("a pickled list of elements"), "{err:?}");
        let err = list::<i64>(b"\x80\x04]\x94(K\x01").unwrap_err();
        assert_eq!(err.0, None, "{err:?}");
    }

    #[test]
    fn pickle_batch_source_counts_records_and_elements() {
        let (items, failure) = decode_all::<u8>(
            InputEncoding::PickleBatch,
            vec![Some(PROTO5_LIST), Some(PROTO5_LIST), Some(PROTO2_LIST)],
            INITIAL_INPUT_BUFFER,
        );
        // The elements of the failing record are not handed out: the stream ends at it.
        assert_eq!(items, vec![1, 2, 3, 1, 2, 3]);
        assert_eq!(
            failure.unwrap().to_string(),
            "input record 2, element 1: invalid value: integer `300`, expected u8"
        );
    }

    #[test]
    fn dynamic_pickle_batches_keep_dict_order_and_name_the_failing_element() {
        // CPython: `pickle.dumps([{'b': 1, 'a': 2}], protocol=5)`.
        const DICT_BATCH: &[u8] = b"\x80\x05\x95\x14\x00\x00\x00\x00\x00\x00\x00]\x94}\x94(\
            \x8c\x01b\x94K\x01\x8c\x01a\x94K\x02ua.";
        // CPython: `pickle.dumps([1, 2**64, 3], protocol=5)`.
        const TOO_BIG: &[u8] = b"\x80\x05\x95\x14\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01\x8a\t\
            \x00\x00\x00\x00\x00\x00\x00\x00\x01K\x03e.";
        native::with(|host| {
            *host = Default::default();
            host.input = [DICT_BATCH, PROTO4_TUPLES, TOO_BIG]
                .into_iter()
                .map(|bytes| record(Some(bytes)))
                .collect();
        });
        task::reset();
        let reader = RecordReader::with_capacity(INITIAL_INPUT_BUFFER);
        let items: Vec<Value> = Source::new(reader, PickleBatchValues::default()).collect();
        let s = |text: &str| Value::Str(text.into());
        assert_eq!(
            items,
            vec![
                Value::Dict(vec![(s("b"), Value::Int(1)), (s("a"), Value::Int(2))]),
                Value::Tuple(vec![s("a"), Value::Int(1)]),
                Value::Tuple(vec![s("b"), Value::Int(2)]),
            ]
        );
        let failure = task::take_failure().unwrap().to_string();
        assert!(
            failure.starts_with("input record 2, element 1: integer 18446744073709551616 is out"),
            "{failure}"
        );

        native::with(|host| host.input = [record(Some(b"\x80\x04K\x05."))].into());
        task::reset();
        let reader = RecordReader::with_capacity(INITIAL_INPUT_BUFFER);
        assert_eq!(Source::new(reader, PickleBatchValues::default()).count(), 0);
        let failure = task::take_failure().unwrap().to_string();
        assert_eq!(
            failure,
            "input record 0: expected a pickled list of elements (a PySpark batch), found an int"
        );
    }

    #[test]
    fn pickle_item_source_reads_one_object_per_record_and_null_as_none() {
        let (items, failure) = decode_all::<Option<Vec<i64>>>(
            InputEncoding::PickleItem,
            vec![Some(PROTO5_LIST), None],
            INITIAL_INPUT_BUFFER,
        );
        assert!(failure.is_none(), "{failure:?}");
        assert_eq!(items, vec![Some(vec![1, 2, 3]), None]);
    }

    #[test]
    fn utf8_source_null_is_none_for_option_and_an_error_for_string() {
        let (items, failure) = decode_all::<Option<String>>(
            InputEncoding::Utf8,
            vec![Some(b"hello"), None, Some("wörld".as_bytes())],
            INITIAL_INPUT_BUFFER,
        );
        assert!(failure.is_none(), "{failure:?}");
        assert_eq!(
            items,
            vec![Some("hello".into()), None, Some("wörld".into())]
        );

        let (items, failure) = decode_all::<String>(
            InputEncoding::Utf8,
            vec![Some(b"a"), Some(b"b"), None],
            INITIAL_INPUT_BUFFER,
        );
        assert_eq!(items, vec!["a".to_owned(), "b".to_owned()]);
        let message = failure.unwrap().to_string();
        assert!(
            message.starts_with("input record 2: the record is null"),
            "{message}"
        );
        assert!(message.contains("Option<String>"), "{message}");

        let (_, failure) = decode_all::<String>(
            InputEncoding::Utf8,
            vec![Some(b"\xff")],
            INITIAL_INPUT_BUFFER,
        );
        assert!(failure.unwrap().to_string().contains("not valid UTF-8"));
    }

    #[test]
    fn binary_source_decodes_in_place_and_checks_counts() {
        let mut batch = vec![BATCH_TYPED];
        batch.extend(2u32.to_le_bytes());
        batch.extend(postcard::to_allocvec(&("k".to_owned(), 7i64)).unwrap());
        batch.extend(postcard::to_allocvec(&("l".to_owned(), -1i64)).unwrap());
        let (items, failure) = decode_all::<(String, i64)>(
            InputEncoding::Binary,
            vec![Some(&batch), Some(&[BATCH_VALUES, 0, 0, 0, 0])],
            INITIAL_INPUT_BUFFER,
        );
        assert!(failure.is_none(), "{failure:?}");
        assert_eq!(items, vec![("k".into(), 7), ("l".into(), -1)]);

        let mut short = batch.clone();
        short[1] = 3;
        let (items, failure) = decode_all::<(String, i64)>(
            InputEncoding::Binary,
            vec![Some(&short)],
            INITIAL_INPUT_BUFFER,
        );
        assert_eq!(items.len(), 2);
        let message = failure.unwrap().to_string();
        assert!(
            message.starts_with("input record 0, element 2: "),
            "{message}"
        );

        let mut long = batch.clone();
        long[1] = 1;
        let (_, failure) = decode_all::<(String, i64)>(
            InputEncoding::Binary,
            vec![Some(&long)],
            INITIAL_INPUT_BUFFER,
        );
        assert!(failure
            .unwrap()
            .to_string()
            .contains("left over after its 1 elements"));
    }

    #[test]
    fn buffer_grows_for_a_record_larger_than_it() {
        let big = "x".repeat(100_000);
        let (items, failure) = decode_all::<String>(
            InputEncoding::Utf8,
            vec![Some(b"small"), Some(big.as_bytes()), Some(b"after")],
            1024,
        );
        assert!(failure.is_none(), "{failure:?}");
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].len(), 100_000);
        assert!(native::with(|host| host.largest_input_buffer) >= 100_004);
    }

    #[test]
    fn malformed_batches_are_errors_not_panics() {
        native::with(|host| {
            *host = Default::default();
            // Claims 10 bytes of payload, carries 2.
            host.input.push_back(vec![0, 0, 0, 10, b'a', b'b']);
        });
        let mut reader = RecordReader::with_capacity(64);
        let err = reader.next_record().err().unwrap();
        assert!(
            err.to_string().contains("runs past the end of its batch"),
            "{err}"
        );

        native::with(|host| host.input.push_back(vec![0xff, 0xff, 0xff, 0xf0]));
        let mut reader = RecordReader::with_capacity(64);
        let err = reader.next_record().err().unwrap();
        assert!(err.to_string().contains("negative length"), "{err}");
    }
}
