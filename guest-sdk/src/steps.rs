//! The entry points of author functions, generic over the zero-sized type the macros
//! generate for each function (see `element`'s `*Fn` traits).
//!
//! The typed entry points wrap a stream of the function's own input type in an iterator
//! adapter, lazily; the per-record call is a direct, inlinable call of the author's function,
//! and the only dynamic dispatch is one `dyn Iterator::next` per step per record. The dynamic
//! entry points take [`Value`]s: decode into the function's input type, call, encode.

use std::any::Any;

use crate::element::{
    FilterFn, FlatMapFn, ForeachFn, ForeachPartitionFn, KeyFn, Label, MapFn, MapPartitionsFn,
    MapPartitionsWithIndexFn, PartitionerFn, ReduceFn, Rows, SeqOpFn,
};
use crate::error::Error;
use crate::stream::{call_named, Batches, Deferred, Named, Slot, Stream, BATCH_ELEMENTS};
use crate::value::{from_value, to_value, Value};

/// `map`: `f` applied to every record.
pub(crate) fn map<F: MapFn>(rows: Stream) -> Result<Stream, Error> {
    let rows = match rows.into_batches::<F::In>(F::NAME)? {
        Ok(batches) => {
            // In place when `In` and `Out` have one layout (`i64 → i64`).
            return Ok(Stream::batches(batches.map(|batch| {
                call_named(F::NAME, || {
                    batch.into_iter().map(F::call).collect::<Vec<_>>()
                })
            })));
        }
        Err(rows) => rows.into_rows::<F::In>(F::NAME)?,
    };
    Ok(Stream::new(Named {
        name: F::NAME,
        inner: rows.map(F::call),
    }))
}

/// `map` on one value.
pub(crate) fn map_value<F: MapFn>(value: Value) -> Result<Value, String> {
    let input = from_value::<F::In>(value)?;
    let output = call_named(F::NAME, || F::call(input));
    Ok(to_value(&output)?)
}

/// `map` on one value, keeping the result typed.
pub(crate) fn map_slot<F: MapFn>(value: Value) -> Result<Slot, String> {
    let input = from_value::<F::In>(value)?;
    Ok(Slot::new(call_named(F::NAME, || F::call(input))))
}

/// `flat_map`: the items of `f(record)` for every record.
pub(crate) fn flat_map<F: FlatMapFn>(rows: Stream) -> Result<Stream, Error> {
    let rows = match rows.into_batches::<F::In>(F::NAME)? {
        Ok(batches) => {
            return Ok(Stream::batches(flat_map_batches(batches, F::NAME, |x| {
                F::call(x).into_iter()
            })));
        }
        Err(rows) => rows.into_rows::<F::In>(F::NAME)?,
    };
    Ok(Stream::new(Named {
        name: F::NAME,
        inner: rows.flat_map(F::call),
    }))
}

/// Batches of at most [`BATCH_ELEMENTS`] items of `f(x)` for every `x`: bounded however many
/// items one call yields (a `flat_map` may stream without end, up to the output limit).
fn flat_map_batches<In: 'static, Out, Items: Iterator<Item = Out> + 'static>(
    mut batches: Batches<In>,
    name: &'static str,
    f: impl Fn(In) -> Items + 'static,
) -> impl Iterator<Item = Vec<Out>> {
    let mut inputs = Vec::new().into_iter();
    let mut items: Option<Items> = None;
    std::iter::from_fn(move || {
        let mut batch = Vec::new();
        while batch.len() < BATCH_ELEMENTS {
            if let Some(current) = items.as_mut() {
                if let Some(item) = call_named(name, || current.next()) {
                    batch.push(item);
                    continue;
                }
                items = None;
            }
            if let Some(x) = inputs.next() {
                items = Some(call_named(name, || f(x)));
            } else if let Some(next) = batches.next() {
                inputs = next.into_iter();
            } else {
                break;
            }
        }
        (!batch.is_empty()).then_some(batch)
    })
}

/// `flat_map` on one value.
pub(crate) fn flat_map_values<F: FlatMapFn>(value: Value) -> Result<Vec<Value>, String> {
    let input = from_value::<F::In>(value)?;
    call_named(F::NAME, || {
        F::call(input)
            .into_iter()
            .map(|item| to_value(&item).map_err(String::from))
            .collect()
    })
}

/// `filter`: the records for which `f` returns true.
pub(crate) fn filter<F: FilterFn>(rows: Stream) -> Result<Stream, Error> {
    let rows = match rows.into_batches::<F::In>(F::NAME)? {
        Ok(batches) => {
            return Ok(Stream::batches(batches.map(|mut batch| {
                call_named(F::NAME, || batch.retain(|row| F::call(row)));
                batch
            })));
        }
        Err(rows) => rows.into_rows::<F::In>(F::NAME)?,
    };
    Ok(Stream::new(Named {
        name: F::NAME,
        inner: rows.filter(|row| F::call(row)),
    }))
}

/// `filter` on a decoded copy of a value.
pub(crate) fn filter_value<F: FilterFn>(value: &Value) -> Result<bool, String> {
    let input = from_value::<F::In>(value.clone())?;
    Ok(call_named(F::NAME, || F::call(&input)))
}

/// `map_partitions`: `f` called once with the whole partition, when the first output record
/// is asked for.
pub(crate) fn map_partitions<F: MapPartitionsFn>(rows: Stream) -> Result<Stream, Error> {
    let rows = rows.into_rows::<F::In>(F::NAME)?;
    Ok(Stream::new(Named {
        name: F::NAME,
        inner: WholePartition::new(move || F::call(rows)),
    }))
}

/// `map_partitions_with_index`: as `map_partitions`, with the partition's index.
pub(crate) fn map_partitions_with_index<F: MapPartitionsWithIndexFn>(
    rows: Stream,
    index: u32,
) -> Result<Stream, Error> {
    let rows = rows.into_rows::<F::In>(F::NAME)?;
    Ok(Stream::new(Named {
        name: F::NAME,
        inner: WholePartition::new(move || F::call(index, rows)),
    }))
}

/// Calls `start` on the first `next()` and then yields what it returned.
struct WholePartition<S, R: IntoIterator> {
    pending: Option<S>,
    running: Option<R::IntoIter>,
}

impl<S: FnOnce() -> R, R: IntoIterator> WholePartition<S, R> {
    fn new(start: S) -> Self {
        WholePartition {
            pending: Some(start),
            running: None,
        }
    }
}

impl<S: FnOnce() -> R, R: IntoIterator> Iterator for WholePartition<S, R> {
    type Item = R::Item;

    fn next(&mut self) -> Option<R::Item> {
        if let Some(start) = self.pending.take() {
            self.running = Some(start().into_iter());
        }
        self.running.as_mut()?.next()
    }
}

/// The author's reduce function as a boxed `fn(V, V) -> V`, for the typed keyed merges of
/// the record type's `PairOps` (which alone know the key type).
pub(crate) fn reduce_typed<F: ReduceFn>() -> Box<dyn Any> {
    let f: fn(F::In, F::In) -> F::In = F::call;
    Box::new(f)
}

/// `reduce_all` (no zero: zero or one output) or `fold_all` (zero: exactly one output).
pub(crate) fn reduce_all<F: ReduceFn>(
    rows: Stream,
    zero: Option<Value>,
    label: Label,
) -> Result<Stream, Error> {
    let rows = rows.into_rows::<F::In>(F::NAME)?;
    Ok(Stream::new(Named {
        name: F::NAME,
        inner: Deferred::new(move || {
            let start = match zero {
                Some(zero) => Some(decode_zero::<F::In>(zero, &label)?),
                None => None,
            };
            let result = rows.fold(start, |acc, x| match acc {
                Some(acc) => Some(F::call(acc, x)),
                None => Some(x),
            });
            Ok(result.into_iter().collect())
        }),
    }))
}

/// Merges a decoded value into a slot of `V`.
pub(crate) fn reduce_slot<F: ReduceFn>(slot: &mut Slot, value: Value) -> Result<(), String> {
    let value = from_value::<F::In>(value)?;
    let acc = slot.take::<F::In>()?;
    slot.put(call_named(F::NAME, || F::call(acc, value)))
}

/// `aggregate_all`: exactly one output, the fold of the partition from the zero.
pub(crate) fn aggregate_all<F: SeqOpFn>(
    rows: Stream,
    zero: Value,
    label: Label,
) -> Result<Stream, Error> {
    let rows = rows.into_rows::<F::In>(F::NAME)?;
    Ok(Stream::new(Named {
        name: F::NAME,
        inner: Deferred::new(move || {
            let zero = decode_zero::<F::Out>(zero, &label)?;
            Ok(vec![rows.fold(zero, F::call)])
        }),
    }))
}

/// Folds a decoded value into a slot of `U`.
pub(crate) fn seq_slot<F: SeqOpFn>(slot: &mut Slot, value: Value) -> Result<(), String> {
    let value = from_value::<F::In>(value)?;
    let acc = slot.take::<F::Out>()?;
    slot.put(call_named(F::NAME, || F::call(acc, value)))
}

/// Decodes a step's zero value into the type the function needs.
pub(crate) fn decode_zero<T: crate::element::Element>(
    zero: Value,
    label: &str,
) -> Result<T, Error> {
    from_value::<T>(zero).map_err(|err| Error::Step {
        at: label.to_owned(),
        element: None,
        message: format!("its zero value: {err}"),
    })
}

/// `key_by`: `x → (f(&x), x)`, typed.
pub(crate) fn key_by<F: KeyFn>(rows: Stream) -> Result<Stream, Error> {
    let rows = rows.into_rows::<F::In>(F::NAME)?;
    Ok(Stream::new(Named {
        name: F::NAME,
        inner: rows.map(|x| (F::call(&x), x)),
    }))
}

/// The key of a decoded copy of a value, encoded.
pub(crate) fn key_value<F: KeyFn>(value: &Value) -> Result<Value, String> {
    let input = from_value::<F::In>(value.clone())?;
    let key = call_named(F::NAME, || F::call(&input));
    Ok(to_value(&key)?)
}

/// The author's partitioner as a boxed `fn(&K) -> u64`.
pub(crate) fn partitioner_typed<F: PartitionerFn>() -> Box<dyn Any> {
    let f: fn(&F::In) -> u64 = F::call;
    Box::new(f)
}

/// The partition (before the modulo) of a decoded copy of a key.
pub(crate) fn partitioner_value<F: PartitionerFn>(key: &Value) -> Result<u64, String> {
    let key = from_value::<F::In>(key.clone())?;
    Ok(call_named(F::NAME, || F::call(&key)))
}

/// `foreach`: `f` on every record when the stream is drained; nothing flows on.
pub(crate) fn foreach<F: ForeachFn>(rows: Stream) -> Result<Stream, Error> {
    let rows = rows.into_rows::<F::In>(F::NAME)?;
    Ok(Stream::new(Named {
        name: F::NAME,
        inner: Deferred::new(move || {
            rows.for_each(F::call);
            Ok(Vec::<Value>::new())
        }),
    }))
}

/// `foreach_partition`: `f` on the whole partition when the stream is drained; nothing flows
/// on.
pub(crate) fn foreach_partition<F: ForeachPartitionFn>(rows: Stream) -> Result<Stream, Error> {
    let rows: Rows<F::In> = rows.into_rows::<F::In>(F::NAME)?;
    Ok(Stream::new(Named {
        name: F::NAME,
        inner: Deferred::new(move || {
            F::call(rows);
            Ok(Vec::<Value>::new())
        }),
    }))
}
