//! Steps on `(key, value)` pairs: the typed implementations behind [`PairOps`] (instantiated
//! for a concrete `(K, V)`), and the dynamic ones over [`Value`] pairs.
//!
//! Keys are identified by their identity bytes ([`KeyBytes`]: the canonical encoding of the
//! key's `Value` with Python's numeric equality folded in), typed or not: `K` needs no
//! `Eq`/`Hash` (float keys work), `1`, `1.0` and `True` are one key as in Python, and it is
//! exactly what shuffle partitioning hashes. Every keyed step that emits one element per key
//! emits keys in first-seen order, values in arrival order.
//!
//! [`PairOps`]: crate::element::PairOps

use std::any::Any;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use sparkwasm_abi::JoinKind;

use crate::element::{Element, Label, Rows};
use crate::error::Error;
use crate::steps::decode_zero;
use crate::stream::{Deferred, Fallible, Named, Slot, Stream};
use crate::task;
use crate::value::order::py_cmp;
use crate::value::{into_pair, not_a_pair, pair, py_type, text, to_value, KeyBytes, Value};

/// Key identity bytes → index of the key's entry.
type KeyIndex = HashMap<Box<[u8]>, usize, BuildHasherDefault<KeyHasher>>;

fn key_error(label: &Label, element: u64, err: impl std::fmt::Display) -> Error {
    Error::Step {
        at: label.to_string(),
        element: Some(element),
        message: format!("its key: {err}"),
    }
}

/// The identity of a typed key, for a table whose keys are all `K`.
///
/// A `String` key is its own UTF-8 bytes: among keys that are all `str`, those tell keys
/// apart exactly as the canonical encoding does (a tag and a length before the same bytes),
/// without writing it. Word count's keys take this path.
fn typed_identity<'k, K: Element>(
    key_bytes: &'k mut KeyBytes,
    key: &'k K,
) -> Result<&'k [u8], crate::value::ValueError> {
    if let Some(text) = (key as &dyn Any).downcast_ref::<String>() {
        return Ok(text.as_bytes());
    }
    key_bytes.set_typed(key)?;
    Ok(key_bytes.identity())
}

/// Typed `reduce_by_key` (no zero) and `fold_by_key` (zero) on `(K, V)` records with a
/// `fn(V, V) -> V`, keys in first-seen order.
pub(crate) fn merge_by_key<K: Element, V: Element>(
    rows: Stream,
    f: Box<dyn Any>,
    zero: Option<Value>,
    name: &'static str,
    label: Label,
) -> Result<Stream, Error> {
    let Ok(f) = f.downcast::<fn(V, V) -> V>() else {
        return Err(Error::internal(format!(
            "`{name}` is not a fn(V, V) -> V of the record's V"
        )));
    };
    let f = *f;
    let rows = rows.into_rows::<(K, V)>(&label)?;
    Ok(Stream::new(Named {
        name,
        inner: Deferred::new(move || {
            let mut index = KeyIndex::default();
            // Values sit in an `Option` so the old one can move into `f` without a placeholder.
            let mut entries: Vec<(K, Option<V>)> = Vec::new();
            let mut key_bytes = KeyBytes::default();
            for (element, (key, value)) in (0u64..).zip(rows) {
                let identity = typed_identity(&mut key_bytes, &key)
                    .map_err(|e| key_error(&label, element, e))?;
                if let Some(&at) = index.get(identity) {
                    if let Some((_, slot)) = entries.get_mut(at) {
                        *slot = Some(match slot.take() {
                            Some(old) => f(old, value),
                            None => value,
                        });
                    }
                    continue;
                }
                let identity: Box<[u8]> = identity.into();
                let first = match &zero {
                    Some(zero) => f(decode_zero::<V>(zero.clone(), &label)?, value),
                    None => value,
                };
                index.insert(identity, entries.len());
                entries.push((key, Some(first)));
            }
            Ok(entries
                .into_iter()
                .filter_map(|(key, value)| Some((key, value?)))
                .collect())
        }),
    }))
}

/// Typed `first_by_key`: streams each key's first pair as it arrives.
pub(crate) fn first_by_key<K: Element, V: Element>(
    rows: Stream,
    label: Label,
) -> Result<Stream, Error> {
    let mut rows = rows.into_rows::<(K, V)>(&label)?;
    let mut seen: HashSet<Box<[u8]>, BuildHasherDefault<KeyHasher>> = HashSet::default();
    let mut key_bytes = KeyBytes::default();
    let mut element = 0u64;
    let mut failed = false;
    Ok(Stream::new(std::iter::from_fn(move || {
        while !failed {
            let (key, value) = rows.next()?;
            let identity = match typed_identity(&mut key_bytes, &key) {
                Ok(identity) => identity,
                Err(err) => {
                    failed = true;
                    task::fail(key_error(&label, element, err));
                    return None;
                }
            };
            element += 1;
            if !seen.contains(identity) {
                seen.insert(identity.into());
                return Some((key, value));
            }
        }
        None
    })))
}

/// Typed `keys`.
pub(crate) fn keys<K: Element, V: Element>(rows: Stream) -> Result<Stream, Error> {
    let rows = rows.into_rows::<(K, V)>("keys")?;
    Ok(Stream::new(rows.map(|(key, _)| key)))
}

/// Typed `values`.
pub(crate) fn values<K: Element, V: Element>(rows: Stream) -> Result<Stream, Error> {
    let rows = rows.into_rows::<(K, V)>("values")?;
    Ok(Stream::new(rows.map(|(_, value)| value)))
}

/// Typed `sort_by_key`: stable, by the keys' Python order; the pairs stay typed.
pub(crate) fn sort_by_key<K: Element, V: Element>(
    rows: Stream,
    ascending: bool,
    label: Label,
) -> Result<Stream, Error> {
    let rows = rows.into_rows::<(K, V)>(&label)?;
    Ok(Stream::new(Deferred::new(move || {
        let mut keyed = Vec::new();
        for (element, row) in (0u64..).zip(rows) {
            let key = to_value(&row.0).map_err(|err| key_error(&label, element, err))?;
            keyed.push((key, row));
        }
        sort_stable(&mut keyed, ascending, |(key, _)| key);
        Ok(keyed.into_iter().map(|(_, row)| row).collect())
    })))
}

/// Sorts stably by Python order of `key`; descending keeps equal elements in arrival order,
/// as Python's `sorted(..., reverse=True)` does.
pub(crate) fn sort_stable<T>(items: &mut [T], ascending: bool, key: impl Fn(&T) -> &Value) {
    if ascending {
        items.sort_by(|a, b| py_cmp(key(a), key(b)));
    } else {
        items.sort_by(|a, b| py_cmp(key(b), key(a)));
    }
}

/// How a dynamic keyed aggregation starts a key's accumulator.
pub(crate) enum Init {
    /// The key's first value becomes the accumulator (reduceByKey, combineByKey).
    First(Box<dyn Fn(Value) -> Result<Slot, String>>),
    /// Every key starts from a fresh zero; its first value is then merged in (foldByKey,
    /// aggregateByKey).
    Zero(Box<dyn Fn() -> Result<Slot, String>>),
}

/// A keyed aggregation over dynamic pairs with typed accumulators.
pub(crate) struct Aggregation {
    pub(crate) init: Init,
    /// Merges a value into the accumulator.
    pub(crate) merge: fn(&mut Slot, Value) -> Result<(), String>,
    /// Encodes the final accumulator.
    pub(crate) finish: fn(&Slot) -> Result<Value, String>,
}

/// Dynamic `reduce_by_key`, `fold_by_key`, `aggregate_by_key`, `combine_by_key`: one
/// `(k, accumulator)` per key.
pub(crate) fn aggregate_by_key(
    rows: Stream,
    aggregation: Aggregation,
    label: Label,
) -> Result<Stream, Error> {
    let rows = rows.into_values(&label)?;
    Ok(Stream::new(Deferred::new(move || {
        let at = |element: u64| {
            let label = label.clone();
            move |message: String| Error::Step {
                at: label.to_string(),
                element: Some(element),
                message,
            }
        };
        let mut groups = Groups::default();
        let mut accumulators: Vec<Slot> = Vec::new();
        for (element, row) in (0u64..).zip(rows) {
            let (key, value) = into_pair(row).map_err(at(element))?;
            let (index, new) = groups.entry(key).map_err(at(element))?;
            if new {
                let slot = match &aggregation.init {
                    Init::First(first) => {
                        accumulators.push(first(value).map_err(at(element))?);
                        continue;
                    }
                    Init::Zero(zero) => zero().map_err(|message| Error::Step {
                        at: label.to_string(),
                        element: None,
                        message: format!("its zero value: {message}"),
                    })?,
                };
                accumulators.push(slot);
            }
            let Some(slot) = accumulators.get_mut(index) else {
                return Err(Error::internal("keyed accumulator out of range"));
            };
            (aggregation.merge)(slot, value).map_err(at(element))?;
        }
        groups
            .keys
            .into_iter()
            .zip(&accumulators)
            .map(|(key, slot)| {
                let value = (aggregation.finish)(slot).map_err(|message| Error::Step {
                    at: label.to_string(),
                    element: None,
                    message,
                })?;
                Ok(pair(key, value))
            })
            .collect()
    })))
}

/// Keys in first-seen order, indexed by their identity.
#[derive(Default)]
struct Groups {
    index: KeyIndex,
    keys: Vec<Value>,
    bytes: KeyBytes,
}

impl Groups {
    /// The index of `key`'s group, and whether it is new.
    fn entry(&mut self, key: Value) -> Result<(usize, bool), String> {
        self.bytes
            .set_value(&key)
            .map_err(|err| format!("its key: {err}"))?;
        if let Some(&at) = self.index.get(self.bytes.identity()) {
            return Ok((at, false));
        }
        let at = self.keys.len();
        self.index.insert(self.bytes.identity().into(), at);
        self.keys.push(key);
        Ok((at, true))
    }
}

/// Builds a [`Deferred`] over the pairs of a dynamic stream, grouped by key: `finish` gets the
/// keys in first-seen order and, per key, the values folded by `add`.
fn grouped<S: Default + 'static>(
    rows: Stream,
    label: Label,
    add: impl Fn(&mut S, Value) -> Result<(), String> + 'static,
    finish: impl Fn(Value, S, &mut Vec<Value>) -> Result<(), String> + 'static,
) -> Result<Stream, Error> {
    let rows = rows.into_values(&label)?;
    Ok(Stream::new(Deferred::new(move || {
        let at = |element: Option<u64>, message: String| Error::Step {
            at: label.to_string(),
            element,
            message,
        };
        let mut groups = Groups::default();
        let mut states: Vec<S> = Vec::new();
        for (element, row) in (0u64..).zip(rows) {
            let (key, value) = into_pair(row).map_err(|m| at(Some(element), m))?;
            let (index, new) = groups.entry(key).map_err(|m| at(Some(element), m))?;
            if new {
                states.push(S::default());
            }
            match states.get_mut(index) {
                Some(state) => add(state, value).map_err(|m| at(Some(element), m))?,
                None => return Err(Error::internal("keyed group out of range")),
            }
        }
        let mut out = Vec::new();
        for (key, state) in groups.keys.into_iter().zip(states) {
            finish(key, state, &mut out).map_err(|m| at(None, m))?;
        }
        Ok(out)
    })))
}

/// Dynamic `group_by_key`: `(k, [v...])` per key.
pub(crate) fn group_by_key(rows: Stream, label: Label) -> Result<Stream, Error> {
    grouped(
        rows,
        label,
        |values: &mut Vec<Value>, value| {
            values.push(value);
            Ok(())
        },
        |key, values, out| {
            out.push(pair(key, Value::List(values)));
            Ok(())
        },
    )
}

/// Dynamic `count_by_key`: `(k, n)` per key.
pub(crate) fn count_by_key(rows: Stream, label: Label) -> Result<Stream, Error> {
    grouped(
        rows,
        label,
        |count: &mut i64, _| {
            *count += 1;
            Ok(())
        },
        |key, count, out| {
            out.push(pair(key, Value::Int(count)));
            Ok(())
        },
    )
}

/// The left (tag 0) and right (tag 1) values of one key of a join.
#[derive(Default)]
struct Sides {
    left: Vec<Value>,
    right: Vec<Value>,
}

/// Dynamic `join` of tagged pairs `(k, (tag, v))`, per [`JoinKind`].
pub(crate) fn join(rows: Stream, kind: JoinKind, label: Label) -> Result<Stream, Error> {
    grouped(
        rows,
        label,
        |sides: &mut Sides, tagged| {
            let (tag, value) = into_pair(tagged).map_err(|_| {
                "a join step needs (key, (tag, value)) elements from tag steps".to_owned()
            })?;
            match tag {
                Value::Int(0) => sides.left.push(value),
                Value::Int(1) => sides.right.push(value),
                other => {
                    return Err(format!(
                        "a join tag must be 0 or 1, got {} {}",
                        py_type(&other),
                        text::repr_truncated(&other, 40)
                    ))
                }
            }
            Ok(())
        },
        move |key, sides, out| {
            let Sides { left, right } = sides;
            let both = |out: &mut Vec<Value>, left: &[Value], right: &[Value]| {
                for v in left {
                    for w in right {
                        out.push(pair(key.clone(), pair(v.clone(), w.clone())));
                    }
                }
            };
            let none = [Value::None];
            match kind {
                JoinKind::Inner => both(out, &left, &right),
                JoinKind::LeftOuter => {
                    let right = if right.is_empty() { &none[..] } else { &right };
                    both(out, &left, right);
                }
                JoinKind::RightOuter => {
                    let left = if left.is_empty() { &none[..] } else { &left };
                    both(out, left, &right);
                }
                JoinKind::FullOuter => {
                    let left_or_none = if left.is_empty() { &none[..] } else { &left };
                    let right_or_none = if right.is_empty() { &none[..] } else { &right };
                    both(out, left_or_none, right_or_none);
                }
                JoinKind::Cogroup => out.push(pair(
                    key,
                    Value::Tuple(vec![Value::List(left), Value::List(right)]),
                )),
                JoinKind::SubtractByKey => {
                    if right.is_empty() {
                        out.extend(left.into_iter().map(|v| pair(key.clone(), v)));
                    }
                }
            }
            Ok(())
        },
    )
}

/// The [`JoinKind`] a join step's argument names.
pub(crate) fn join_kind(number: u64) -> Option<JoinKind> {
    Some(match number {
        0 => JoinKind::Inner,
        1 => JoinKind::LeftOuter,
        2 => JoinKind::RightOuter,
        3 => JoinKind::FullOuter,
        4 => JoinKind::Cogroup,
        5 => JoinKind::SubtractByKey,
        _ => return None,
    })
}

/// Dynamic `first_by_key`: streams each key's first pair as it arrives.
pub(crate) fn first_by_key_values(rows: Stream, label: Label) -> Result<Stream, Error> {
    let rows = rows.into_values(&label)?;
    let mut seen = Groups::default();
    Ok(Stream::new(Fallible::new(rows, label, move |row, out| {
        let (key, value) = into_pair(row)?;
        let (_, new) = seen.entry(key.clone())?;
        if new {
            out.push_back(pair(key, value));
        }
        Ok(())
    })))
}

/// Dynamic `sort_by_key`: stable, by the keys' Python order; elements pass through unchanged.
pub(crate) fn sort_by_key_values(
    rows: Stream,
    ascending: bool,
    label: Label,
) -> Result<Stream, Error> {
    let rows = rows.into_values(&label)?;
    Ok(Stream::new(Deferred::new(move || {
        let mut keyed = Vec::new();
        for (element, row) in (0u64..).zip(rows) {
            let key = pair_key(&row).map_err(|message| Error::Step {
                at: label.to_string(),
                element: Some(element),
                message,
            })?;
            keyed.push((key.clone(), row));
        }
        sort_stable(&mut keyed, ascending, |(key, _)| key);
        Ok(keyed.into_iter().map(|(_, row)| row).collect())
    })))
}

/// The key of a pair, borrowed.
pub(crate) fn pair_key(row: &Value) -> Result<&Value, String> {
    match row {
        Value::Tuple(items) | Value::List(items) if items.len() == 2 => {
            items.first().ok_or_else(|| "a pair lost its key".into())
        }
        other => Err(not_a_pair(other)),
    }
}

/// A streaming step on dynamic pairs: `f(key, value, out)`.
pub(crate) fn map_pairs(
    rows: Stream,
    label: Label,
    mut f: impl FnMut(Value, Value, &mut VecDeque<Value>) -> Result<(), String> + 'static,
) -> Result<Stream, Error> {
    let rows = rows.into_values(&label)?;
    Ok(Stream::new(Fallible::new(rows, label, move |row, out| {
        let (key, value) = into_pair(row)?;
        f(key, value, out)
    })))
}

/// A streaming step on dynamic elements: `f(element, out)`.
pub(crate) fn map_elements(
    rows: Stream,
    label: Label,
    f: impl FnMut(Value, &mut VecDeque<Value>) -> Result<(), String> + 'static,
) -> Result<Stream, Error> {
    let rows: Rows<Value> = rows.into_values(&label)?;
    Ok(Stream::new(Fallible::new(rows, label, f)))
}

/// A fast, deterministic hasher for encoded keys (FxHash-style over 8-byte words, with a
/// final mix). Determinism keeps output order independent of the run; not needing WASI's
/// `random_get` keeps the module's imports small.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl KeyHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // Byte by byte: a copy of variable length would be a `memory.copy`, which leaves
            // compiled wasm for the runtime; that cost more than the hashing itself.
            let word = rest
                .iter()
                .rev()
                .fold(0u64, |word, &byte| (word << 8) | u64::from(byte));
            self.add(word ^ (rest.len() as u64) << 59);
        }
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weak; the table indexes with them.
        let mut hash = self.0;
        hash ^= hash >> 29;
        hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        hash ^ (hash >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hasher_spreads_similar_keys() {
        use std::hash::Hash;
        let hash = |bytes: &[u8]| {
            let mut hasher = KeyHasher::default();
            bytes.hash(&mut hasher);
            hasher.finish()
        };
        assert_ne!(hash(b"a"), hash(b"b"));
        assert_ne!(hash(b"a"), hash(b"a\0"));
        assert_ne!(hash(b"abcdefgh1"), hash(b"abcdefgh2"));
    }
}
