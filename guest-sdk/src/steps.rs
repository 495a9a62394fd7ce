//! The pipeline steps: each wraps the incoming stream in an iterator adapter that applies one
//! author function, lazily.
//!
//! The generic step builders are instantiated by the macro expansion with the author's
//! concrete types and function item, so the per-record call is a direct (inlinable) call; the
//! only dynamic dispatch is one `dyn Iterator::next` per step per record. Every adapter is
//! wrapped in [`Named`], which records the running function's name for the panic hook.

use std::any::Any;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::element::{Element, Rows, Stream};
use crate::error::Error;
use crate::output::postcard_append;
use crate::task;

/// An iterator adapter that marks `name` as the running function while it produces a record.
///
/// Upstream steps pulled from inside mark themselves in turn and restore this name when they
/// return, so a panic is always attributed to the innermost function running.
struct Named<I> {
    name: &'static str,
    inner: I,
}

impl<I: Iterator> Iterator for Named<I> {
    type Item = I::Item;

    #[inline]
    fn next(&mut self) -> Option<I::Item> {
        let previous = task::enter(self.name);
        let item = self.inner.next();
        task::leave(previous);
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// A `map` step: `f` applied to every record.
pub fn map<T, U, F>(name: &'static str, f: F, rows: Stream) -> Result<Stream, Error>
where
    T: 'static,
    U: 'static,
    F: Fn(T) -> U + 'static,
{
    let rows = rows.into_rows::<T>(name)?;
    Ok(Stream::new(Named {
        name,
        inner: rows.map(f),
    }))
}

/// A `flat_map` step: the items of `f(record)` for every record.
pub fn flat_map<T, U, F, I>(name: &'static str, f: F, rows: Stream) -> Result<Stream, Error>
where
    T: 'static,
    U: 'static,
    F: Fn(T) -> I + 'static,
    I: IntoIterator<Item = U> + 'static,
    I::IntoIter: 'static,
{
    let rows = rows.into_rows::<T>(name)?;
    Ok(Stream::new(Named {
        name,
        inner: rows.flat_map(f),
    }))
}

/// A `filter` step: the records for which `f` returns true.
pub fn filter<T, F>(name: &'static str, f: F, rows: Stream) -> Result<Stream, Error>
where
    T: 'static,
    F: Fn(&T) -> bool + 'static,
{
    let rows = rows.into_rows::<T>(name)?;
    Ok(Stream::new(Named {
        name,
        inner: rows.filter(move |row| f(row)),
    }))
}

/// A `map_partitions` step: `f` called once with the whole partition, when the first output
/// record is asked for.
pub fn map_partitions<T, U, F, R>(name: &'static str, f: F, rows: Stream) -> Result<Stream, Error>
where
    T: 'static,
    U: 'static,
    F: FnOnce(Rows<T>) -> R + 'static,
    R: IntoIterator<Item = U> + 'static,
    R::IntoIter: 'static,
{
    let rows = rows.into_rows::<T>(name)?;
    let inner = MapPartitions::<T, F, R> {
        pending: Some((rows, f)),
        running: None,
    };
    Ok(Stream::new(Named { name, inner }))
}

struct MapPartitions<T, F, R: IntoIterator> {
    pending: Option<(Rows<T>, F)>,
    running: Option<R::IntoIter>,
}

impl<T, F, R> Iterator for MapPartitions<T, F, R>
where
    F: FnOnce(Rows<T>) -> R,
    R: IntoIterator,
{
    type Item = R::Item;

    fn next(&mut self) -> Option<R::Item> {
        if let Some((rows, f)) = self.pending.take() {
            self.running = Some(f(rows).into_iter());
        }
        self.running.as_mut()?.next()
    }
}

/// A `reduceByKey` step on `(K, V)` records: the values of equal keys merged with the reduce
/// function `f` (a `&'static fn(V, V) -> V`), keys in first-seen order.
///
/// Keys are compared by their postcard encoding, so `K` needs no `Eq`/`Hash` (float keys
/// work) and equality is exactly "encodes the same", which is also what shuffle partitioning
/// hashes.
pub(crate) fn reduce_by_key<K: Element, V: Element>(
    rows: Stream,
    f: &'static (dyn Any + Sync),
    name: &'static str,
) -> Result<Stream, Error> {
    let f: &'static dyn Any = f;
    let Some(f) = f.downcast_ref::<fn(V, V) -> V>() else {
        return Err(Error::internal(format!(
            "`{name}` is not a fn(V, V) -> V of the record's V"
        )));
    };
    let rows = rows.into_rows::<(K, V)>(name)?;
    Ok(Stream::new(Named {
        name,
        inner: ReduceByKey {
            input: Some(rows),
            f: *f,
            output: Vec::new().into_iter(),
        },
    }))
}

struct ReduceByKey<K, V> {
    input: Option<Rows<(K, V)>>,
    f: fn(V, V) -> V,
    output: std::vec::IntoIter<(K, Option<V>)>,
}

impl<K: Element, V: Element> Iterator for ReduceByKey<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        if let Some(input) = self.input.take() {
            self.output = combine(input, self.f).into_iter();
        }
        // Every entry holds a value between merges; `None` is only a transient state.
        self.output.find_map(|(key, value)| Some((key, value?)))
    }
}

/// Drains `rows`, merging values per key. Values sit in an `Option` so the old one can be
/// moved into `f` without a placeholder `V`.
fn combine<K: Element, V>(rows: Rows<(K, V)>, f: fn(V, V) -> V) -> Vec<(K, Option<V>)> {
    let mut index: HashMap<Box<[u8]>, usize, BuildHasherDefault<KeyHasher>> = HashMap::default();
    let mut entries: Vec<(K, Option<V>)> = Vec::new();
    let mut key_bytes = Vec::new();
    for (record, (key, value)) in (0u64..).zip(rows) {
        key_bytes.clear();
        if let Err(err) = postcard_append(&key, &mut key_bytes) {
            task::fail(Error::Key {
                record,
                message: err.to_string(),
            });
            return Vec::new();
        }
        match index.get(key_bytes.as_slice()) {
            Some(&at) => {
                if let Some((_, slot)) = entries.get_mut(at) {
                    *slot = Some(match slot.take() {
                        Some(old) => f(old, value),
                        None => value,
                    });
                }
            }
            None => {
                index.insert(key_bytes.as_slice().into(), entries.len());
                entries.push((key, Some(value)));
            }
        }
    }
    entries
}

/// A fast, deterministic hasher for encoded keys (FxHash-style over 8-byte words, with a
/// final mix). Determinism keeps output order independent of the run; not needing WASI's
/// `random_get` keeps the module's imports small.
#[derive(Default)]
struct KeyHasher(u64);

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
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ (rest.len() as u64) << 59);
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
    fn combine_merges_in_first_seen_order_and_float_keys_work() {
        let rows: Rows<(f64, i64)> =
            Box::new(vec![(1.5, 1), (-0.5, 10), (1.5, 2), (f64::NAN, 5), (-0.5, 20)].into_iter());
        let combined = combine(rows, |a, b| a + b);
        let combined: Vec<(f64, i64)> =
            combined.into_iter().map(|(k, v)| (k, v.unwrap())).collect();
        assert_eq!(combined.len(), 3);
        assert_eq!(combined[0], (1.5, 3));
        assert_eq!(combined[1], (-0.5, 30));
        assert!(combined[2].0.is_nan());
    }

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
