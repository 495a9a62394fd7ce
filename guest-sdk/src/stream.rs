//! Records between steps: the type-erased [`Stream`], the iterator adapters every step is
//! built from, typed ⇄ `Value` bridges, and type-erased accumulators ([`Slot`]).
//!
//! A stream flows element by element ([`Rows`]) or, from a typed source through `map`,
//! `filter` and `flat_map`, a batch at a time ([`Batches`]): one call per batch moves the
//! elements through a step with no dynamic dispatch per element (a third of the narrow job's
//! guest time went to per-element dispatch). Any other step reads a batched stream element
//! by element. Only plans that read their whole input are batched (`plan::batched`), so a
//! user function never runs on an element PySpark would not have reached (`take`, a
//! `map_partitions` that stops early).
//!
//! Errors inside a stream cannot be returned (an iterator only yields items), so an adapter
//! that fails records the task's failure (`task::fail`) and ends its stream; the task checks
//! for a recorded failure after its output is written.

use std::any::{type_name, Any};
use std::collections::VecDeque;

use crate::element::{Element, Label, Rows};
use crate::error::Error;
use crate::task;
use crate::value::{from_value, to_value, Value};

/// Elements a batch at a time (a batch may be empty).
pub(crate) type Batches<T> = Box<dyn Iterator<Item = Vec<T>>>;

/// How many items of a `flat_map` make one batch; a PySpark batch is decoded whole, whatever
/// its size.
pub(crate) const BATCH_ELEMENTS: usize = 1024;

/// The records flowing between two steps, with their element type erased.
pub(crate) enum Stream {
    /// A [`Rows`] of some `T`.
    Rows(Box<dyn Any>),
    /// A [`Batches`] of some `T`.
    Batches(Box<dyn Any>),
}

impl Stream {
    /// Erases the element type of `rows`.
    pub(crate) fn new<T: 'static>(rows: impl Iterator<Item = T> + 'static) -> Self {
        let rows: Rows<T> = Box::new(rows);
        Stream::Rows(Box::new(rows))
    }

    /// Erases the element type of `batches`.
    pub(crate) fn batches<T: 'static>(batches: impl Iterator<Item = Vec<T>> + 'static) -> Self {
        let batches: Batches<T> = Box::new(batches);
        Stream::Batches(Box::new(batches))
    }

    /// Recovers the records as `T`. The plan checked the types, so a mismatch here is a bug.
    pub(crate) fn into_rows<T: 'static>(self, at: &str) -> Result<Rows<T>, Error> {
        match self {
            Stream::Rows(rows) => rows.downcast::<Rows<T>>().map(|rows| *rows),
            Stream::Batches(batches) => batches
                .downcast::<Batches<T>>()
                .map(|batches| -> Rows<T> { Box::new(batches.flatten()) }),
        }
        .map_err(|_| {
            Error::internal(format!(
                "{at}: the records are not of type {}",
                type_name::<T>()
            ))
        })
    }

    /// Recovers batched records as `T`, or gives the stream back when it flows by element.
    pub(crate) fn into_batches<T: 'static>(
        self,
        at: &str,
    ) -> Result<Result<Batches<T>, Self>, Error> {
        match self {
            Stream::Batches(batches) => batches
                .downcast::<Batches<T>>()
                .map(|batches| Ok(*batches))
                .map_err(|_| {
                    Error::internal(format!(
                        "{at}: the batches are not of type {}",
                        type_name::<T>()
                    ))
                }),
            rows @ Stream::Rows(_) => Ok(Err(rows)),
        }
    }

    /// Recovers dynamic records.
    pub(crate) fn into_values(self, at: &str) -> Result<Rows<Value>, Error> {
        self.into_rows::<Value>(at)
    }
}

/// Runs `f` with `name` marked as the running function, for the panic message.
#[inline]
pub(crate) fn call_named<R>(name: &'static str, f: impl FnOnce() -> R) -> R {
    let previous = task::enter(name);
    let result = f();
    task::leave(previous);
    result
}

/// An iterator adapter that marks `name` as the running function while it produces a record.
///
/// Upstream steps pulled from inside mark themselves in turn and restore this name when they
/// return, so a panic is always attributed to the innermost function running.
pub(crate) struct Named<I> {
    pub(crate) name: &'static str,
    pub(crate) inner: I,
}

impl<I: Iterator> Iterator for Named<I> {
    type Item = I::Item;

    #[inline]
    fn next(&mut self) -> Option<I::Item> {
        call_named(self.name, || self.inner.next())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// A streaming step that may fail per element: `f` turns each input into zero or more outputs
/// (pushed onto the buffer it is given). The first error becomes the task's failure, naming
/// `label` and the element's index.
pub(crate) struct Fallible<I, F> {
    input: I,
    f: F,
    label: Label,
    element: u64,
    pending: VecDeque<Value>,
    done: bool,
}

impl<I, F> Fallible<I, F>
where
    I: Iterator<Item = Value>,
    F: FnMut(Value, &mut VecDeque<Value>) -> Result<(), String>,
{
    pub(crate) fn new(input: I, label: Label, f: F) -> Self {
        Fallible {
            input,
            f,
            label,
            element: 0,
            pending: VecDeque::new(),
            done: false,
        }
    }
}

impl<I, F> Iterator for Fallible<I, F>
where
    I: Iterator<Item = Value>,
    F: FnMut(Value, &mut VecDeque<Value>) -> Result<(), String>,
{
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(value) = self.pending.pop_front() {
                return Some(value);
            }
            if self.done {
                return None;
            }
            let Some(value) = self.input.next() else {
                self.done = true;
                return None;
            };
            let element = self.element;
            self.element += 1;
            if let Err(message) = (self.f)(value, &mut self.pending) {
                self.done = true;
                self.pending.clear();
                task::fail(Error::Step {
                    at: self.label.to_string(),
                    element: Some(element),
                    message,
                });
                return None;
            }
        }
    }
}

/// A step that needs its whole input before producing anything (grouping, sorting,
/// aggregating): `build` runs when the first output is asked for, and its error, if any,
/// becomes the task's failure.
pub(crate) struct Deferred<T, B> {
    build: Option<B>,
    output: std::vec::IntoIter<T>,
}

impl<T, B: FnOnce() -> Result<Vec<T>, Error>> Deferred<T, B> {
    pub(crate) fn new(build: B) -> Self {
        Deferred {
            build: Some(build),
            output: Vec::new().into_iter(),
        }
    }
}

impl<T, B: FnOnce() -> Result<Vec<T>, Error>> Iterator for Deferred<T, B> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if let Some(build) = self.build.take() {
            match build() {
                Ok(output) => self.output = output.into_iter(),
                Err(err) => task::fail(err),
            }
        }
        self.output.next()
    }
}

/// Converts a stream of `T` into `Value`s.
pub(crate) fn to_values<T: Element>(rows: Stream, label: Label) -> Result<Stream, Error> {
    let rows = rows.into_rows::<T>(&label)?;
    Ok(Stream::new(Converted {
        input: rows,
        label,
        element: 0,
        done: false,
        convert: |x: T| to_value(&x).map_err(String::from),
    }))
}

/// Converts a stream of `Value`s into `T`s.
pub(crate) fn from_values<T: Element>(rows: Stream, label: Label) -> Result<Stream, Error> {
    let rows = rows.into_values(&label)?;
    Ok(Stream::new(Converted {
        input: rows,
        label,
        element: 0,
        done: false,
        convert: |x: Value| from_value::<T>(x).map_err(String::from),
    }))
}

/// One-to-one conversion that may fail (cheaper than [`Fallible`]: no buffer).
struct Converted<I, F> {
    input: I,
    label: Label,
    element: u64,
    done: bool,
    convert: F,
}

impl<I: Iterator, U, F: FnMut(I::Item) -> Result<U, String>> Iterator for Converted<I, F> {
    type Item = U;

    fn next(&mut self) -> Option<U> {
        if self.done {
            return None;
        }
        let item = self.input.next()?;
        let element = self.element;
        self.element += 1;
        match (self.convert)(item) {
            Ok(converted) => Some(converted),
            Err(message) => {
                self.done = true;
                task::fail(Error::Step {
                    at: self.label.to_string(),
                    element: Some(element),
                    message,
                });
                None
            }
        }
    }
}

/// A type-erased accumulator: holds an `Option<T>` (taken out while a function folds into
/// it, so the old value moves into the call without a placeholder `T`).
pub(crate) struct Slot(Box<dyn Any>);

impl Slot {
    /// A slot holding `value`.
    pub(crate) fn new<T: 'static>(value: T) -> Self {
        Slot(Box::new(Some(value)))
    }

    /// Decodes `value` into a slot of `T`.
    pub(crate) fn from_value<T: Element>(value: Value) -> Result<Slot, String> {
        Ok(Slot::new(from_value::<T>(value)?))
    }

    /// Encodes the content of a slot of `T`.
    pub(crate) fn to_value<T: Element>(&self) -> Result<Value, String> {
        match self.0.downcast_ref::<Option<T>>() {
            Some(Some(value)) => Ok(to_value(value)?),
            Some(None) => Err(slot_bug("empty")),
            None => Err(slot_bug(type_name::<T>())),
        }
    }

    /// Takes the content out, as a `T`.
    pub(crate) fn take<T: 'static>(&mut self) -> Result<T, String> {
        match self.0.downcast_mut::<Option<T>>() {
            Some(slot) => slot.take().ok_or_else(|| slot_bug("empty")),
            None => Err(slot_bug(type_name::<T>())),
        }
    }

    /// Puts a `T` back in.
    pub(crate) fn put<T: 'static>(&mut self, value: T) -> Result<(), String> {
        match self.0.downcast_mut::<Option<T>>() {
            Some(slot) => {
                *slot = Some(value);
                Ok(())
            }
            None => Err(slot_bug(type_name::<T>())),
        }
    }
}

fn slot_bug(what: &str) -> String {
    format!("internal error in the sparkwasm guest SDK: accumulator slot mismatch ({what})")
}
