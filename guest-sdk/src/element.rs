//! The type-erased registration of a function and of its element types, and function handles.
//!
//! The macros expand each author function into one `'static` [`Function`]. Everything typed
//! lives behind plain fn pointers that the expansion monomorphized for the author's concrete
//! types, so the task runner (which only sees handles at run time) can chain steps it knows
//! nothing about:
//!
//! * [`ElementType`] knows how to decode input records into `T` and encode `T` as output,
//!   and carries its [`TypeId`] so adjacent steps are checked before any record moves.
//! * [`PairOps`] exist only for `(K, V)` element types (found by autoref specialization on
//!   [`Probe`] where the type is concrete). They hold what needs `K`: `reduceByKey` and shuffle
//!   partitioning.
//! * Between steps, records travel as a [`Stream`]: a `Box<dyn Any>` holding a
//!   `Box<dyn Iterator<Item = T>>`, downcast once per step per partition, never per record.

use std::any::{type_name, Any, TypeId};
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sparkwasm_abi::{FunctionKind, InputEncoding, OutputSpec};

use crate::error::Error;
use crate::output::Output;
use crate::{input, output, steps};

/// What an element type needs: serde both ways, and no borrowed data.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a sparkwasm element type",
    note = "element types must implement serde's `Serialize` and `DeserializeOwned` and be `'static`"
)]
pub trait Element: Serialize + DeserializeOwned + 'static {}

impl<T: Serialize + DeserializeOwned + 'static> Element for T {}

/// A partition's records of one element type, as a boxed iterator.
pub type Rows<T> = Box<dyn Iterator<Item = T>>;

/// The records flowing between two steps, with their element type erased.
pub struct Stream(Box<dyn Any>);

impl Stream {
    /// Erases the element type of `rows`.
    pub(crate) fn new<T: 'static>(rows: impl Iterator<Item = T> + 'static) -> Self {
        let rows: Rows<T> = Box::new(rows);
        Stream(Box::new(rows))
    }

    /// Recovers the records as `T`. The plan checked the types, so a mismatch here is a bug.
    pub(crate) fn into_rows<T: 'static>(self, at: &str) -> Result<Rows<T>, Error> {
        self.0.downcast::<Rows<T>>().map(|rows| *rows).map_err(|_| {
            Error::internal(format!(
                "{at}: the records are not of type {}",
                type_name::<T>()
            ))
        })
    }
}

/// Decodes the task's input records as a stream of this element type.
pub(crate) type SourceFn = fn(InputEncoding, &'static str) -> Stream;
/// Encodes a stream of this element type as pickle or binary output.
pub(crate) type SinkFn = fn(Stream, OutputSpec, &'static str, &mut Output) -> Result<(), Error>;
/// Merges the values of equal keys with a reduce function (a `&fn(V, V) -> V` as `Any`).
pub(crate) type ReduceByKeyFn =
    fn(Stream, &'static (dyn Any + Sync), &'static str) -> Result<Stream, Error>;
/// Writes a stream of pairs as shuffle output for the given number of partitions.
pub(crate) type ShuffleFn = fn(Stream, u32, &mut Output) -> Result<(), Error>;

/// The run-time description of one element type.
#[derive(Clone, Copy)]
pub struct ElementType {
    /// The type as the author spelled it (`(String,i64)`), for messages.
    pub(crate) name: &'static str,
    pub(crate) id: TypeId,
    pub(crate) source: SourceFn,
    pub(crate) sink: SinkFn,
    /// Present when the type is a pair `(K, V)`.
    pub(crate) pair: Option<PairOps>,
}

impl ElementType {
    /// Describes `T`, spelled `name` by the author.
    pub fn of<T: Element>(name: &'static str, pair: Option<PairOps>) -> Self {
        ElementType {
            name,
            id: TypeId::of::<T>(),
            source: input::source::<T>,
            sink: output::sink::<T>,
            pair,
        }
    }
}

/// The operations that need a pair type's key type `K`.
#[derive(Clone, Copy)]
pub struct PairOps {
    /// `TypeId` of `V`, checked against the reduce function's value type.
    pub(crate) value_id: TypeId,
    pub(crate) reduce_by_key: ReduceByKeyFn,
    pub(crate) shuffle: ShuffleFn,
}

impl PairOps {
    fn of<K: Element, V: Element>() -> Self {
        PairOps {
            value_id: TypeId::of::<V>(),
            reduce_by_key: steps::reduce_by_key::<K, V>,
            shuffle: output::shuffle::<K, V>,
        }
    }
}

/// Autoref-specialization probe: `(&Probe::<T>::NEW).pair_ops()` picks [`PairProbe`] when `T`
/// is a pair and [`NotPairProbe`] otherwise. Only works where `T` is concrete (the expansion).
pub struct Probe<T>(PhantomData<fn() -> T>);

impl<T> Probe<T> {
    /// The probe value.
    pub const NEW: Self = Probe(PhantomData);
}

/// Chosen for pair types (by-value match on `&Probe<(K, V)>`).
pub trait PairProbe {
    /// The pair operations of the probed type.
    fn pair_ops(&self) -> Option<PairOps>;
}

impl<K: Element, V: Element> PairProbe for Probe<(K, V)> {
    fn pair_ops(&self) -> Option<PairOps> {
        Some(PairOps::of::<K, V>())
    }
}

/// Chosen for every other type (needs one more autoref, so it loses to [`PairProbe`]).
pub trait NotPairProbe {
    /// No pair operations.
    fn pair_ops(&self) -> Option<PairOps>;
}

impl<T> NotPairProbe for &Probe<T> {
    fn pair_ops(&self) -> Option<PairOps> {
        None
    }
}

/// What a step does with a function, by kind.
#[derive(Clone, Copy)]
pub enum Apply {
    /// Map, flat_map, filter, map_partitions: wraps the stream in the function's adapter.
    Rows(fn(Stream) -> Result<Stream, Error>),
    /// Reduce: a `&'static fn(V, V) -> V`, applied by the record type's [`PairOps`].
    Reduce(&'static (dyn Any + Sync)),
}

/// Marks a [`Function`] in memory, so a wrong handle is refused instead of misread.
pub(crate) const FUNCTION_MAGIC: u64 = u64::from_le_bytes(*b"sprkwsmF");

/// The `'static` registration of one author function; its address is the function's handle.
pub struct Function {
    pub(crate) magic: u64,
    pub(crate) name: &'static str,
    pub(crate) kind: FunctionKind,
    pub(crate) input: fn() -> ElementType,
    pub(crate) output: fn() -> ElementType,
    pub(crate) apply: Apply,
}

impl Function {
    /// Registers a function; used in a `static` by the expansion.
    pub const fn new(
        name: &'static str,
        kind: FunctionKind,
        input: fn() -> ElementType,
        output: fn() -> ElementType,
        apply: Apply,
    ) -> Self {
        Function {
            magic: FUNCTION_MAGIC,
            name,
            kind,
            input,
            output,
            apply,
        }
    }
}

/// The handle of `function`: on wasm32 its address (stable across instances of a module, so
/// hosts may cache it); natively an index into a registry, so native tests work.
#[cfg(target_arch = "wasm32")]
pub fn handle_of(function: &'static Function) -> u32 {
    let address = (function as *const Function).expose_provenance();
    // Addresses are 32-bit on wasm32; 0 is never a valid handle.
    u32::try_from(address).unwrap_or(0)
}

/// Resolves a handle from the host, refusing anything that is not a registered function.
#[cfg(target_arch = "wasm32")]
pub(crate) fn resolve(handle: u32) -> Option<&'static Function> {
    crate::ffi::resolve_handle(handle)
}

#[cfg(not(target_arch = "wasm32"))]
static REGISTRY: std::sync::Mutex<Vec<&'static Function>> = std::sync::Mutex::new(Vec::new());

/// The handle of `function`: on wasm32 its address (stable across instances of a module, so
/// hosts may cache it); natively an index into a registry, so native tests work.
#[cfg(not(target_arch = "wasm32"))]
pub fn handle_of(function: &'static Function) -> u32 {
    let mut registry = REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let index = match registry
        .iter()
        .position(|known| std::ptr::eq(*known, function))
    {
        Some(index) => index,
        None => {
            registry.push(function);
            registry.len() - 1
        }
    };
    u32::try_from(index + 1).unwrap_or(0)
}

/// Resolves a handle from the host, refusing anything that is not a registered function.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn resolve(handle: u32) -> Option<&'static Function> {
    let index = usize::try_from(handle).ok()?.checked_sub(1)?;
    let registry = REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    registry
        .get(index)
        .copied()
        .filter(|function| function.magic == FUNCTION_MAGIC)
}
