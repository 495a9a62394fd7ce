//! The type-erased registration of a function and of its element types, and function handles.
//!
//! The macros expand each author function into a zero-sized type implementing one of the
//! `*Fn` traits below, and one `'static` [`Function`] built from it by a `const` constructor.
//! Everything typed lives behind plain fn pointers to generic SDK functions instantiated for
//! that type, so the planner (which only sees handles at run time) can chain steps it knows
//! nothing about:
//!
//! * [`ElementType`] knows how to decode input records into `T`, encode `T` as output, and
//!   convert `T` to and from [`Value`]s; its [`TypeId`] tells the planner whether two adjacent
//!   steps line up (then elements stay typed) or must meet through `Value`s.
//! * [`PairOps`] exist only for `(K, V)` element types (found by autoref specialization on
//!   [`Probe`] where the type is concrete). They hold what needs `K`: typed `reduce_by_key`,
//!   `first_by_key`, `sort_by_key`, `keys`, `values` and shuffle partitioning.
//! * [`Ops`] are a function's entry points by kind: the typed one, over a stream of its own
//!   input type, and the dynamic ones, over `Value`s (decode, call, encode), which keyed
//!   steps on dynamic pairs and type bridges use.

use std::any::{type_name, Any, TypeId};
use std::marker::PhantomData;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sparkwasm_abi::{FunctionKind, InputEncoding};

use crate::error::Error;
use crate::output::{Output, TypedSink};
use crate::stream::{Slot, Stream};
use crate::value::Value;
use crate::{input, keyed, output, steps, stream};

/// What an element type needs: serde both ways, and no borrowed data.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a sparkwasm element type",
    note = "element types must implement serde's `Serialize` and `DeserializeOwned` and be `'static`"
)]
pub trait Element: Serialize + DeserializeOwned + 'static {}

impl<T: Serialize + DeserializeOwned + 'static> Element for T {}

/// A label for errors: which step (or output) of the task, and what it was doing.
pub(crate) type Label = Rc<str>;

/// The run-time description of one element type.
#[derive(Clone, Copy)]
pub struct ElementType {
    /// The type as the author spelled it (`(String,i64)`), for messages.
    pub(crate) name: &'static str,
    pub(crate) id: TypeId,
    /// Decodes the task's input records as this type (a batch at a time when asked).
    pub(crate) source: fn(InputEncoding, &'static str, bool) -> Stream,
    /// Writes a stream of this type.
    pub(crate) sink: fn(Stream, TypedSink, &'static str, &mut Output) -> Result<(), Error>,
    /// Turns a stream of this type into a stream of `Value`s.
    pub(crate) to_values: fn(Stream, Label) -> Result<Stream, Error>,
    /// Turns a stream of `Value`s into a stream of this type.
    pub(crate) from_values: fn(Stream, Label) -> Result<Stream, Error>,
    /// Decodes one `Value` into a [`Slot`] of this type.
    pub(crate) slot_from_value: fn(Value) -> Result<Slot, String>,
    /// Encodes the content of a [`Slot`] of this type.
    pub(crate) slot_to_value: fn(&Slot) -> Result<Value, String>,
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
            to_values: stream::to_values::<T>,
            from_values: stream::from_values::<T>,
            slot_from_value: Slot::from_value::<T>,
            slot_to_value: Slot::to_value::<T>,
            pair,
        }
    }

    /// Describes `T`, a type no function declares (the key or value type of a pair).
    fn unnamed<T: Element>() -> Self {
        ElementType::of::<T>(type_name::<T>(), None)
    }
}

/// Typed `reduce_by_key`/`fold_by_key`: the records, the boxed `fn(V, V) -> V`, the zero,
/// the function's name and the step's label.
pub(crate) type MergeByKeyFn =
    fn(Stream, Box<dyn Any>, Option<Value>, &'static str, Label) -> Result<Stream, Error>;

/// The operations that need a pair type's key type `K`.
#[derive(Clone, Copy)]
pub struct PairOps {
    /// `TypeId` of `K`, checked against partitioner functions' key type.
    pub(crate) key_id: TypeId,
    /// `TypeId` of `V`, checked against reduce functions' value type.
    pub(crate) value_id: TypeId,
    pub(crate) key: fn() -> ElementType,
    pub(crate) value: fn() -> ElementType,
    /// Per key, merges values with a typed `fn(V, V) -> V` (boxed as `Any`), starting from
    /// the decoded zero when there is one (foldByKey) or from the first value (reduceByKey).
    pub(crate) merge_by_key: MergeByKeyFn,
    pub(crate) first_by_key: fn(Stream, Label) -> Result<Stream, Error>,
    pub(crate) keys: fn(Stream) -> Result<Stream, Error>,
    pub(crate) values: fn(Stream) -> Result<Stream, Error>,
    pub(crate) sort_by_key: fn(Stream, bool, Label) -> Result<Stream, Error>,
    pub(crate) shuffle: fn(Stream, u32, &output::KeyPartitioner, &mut Output) -> Result<(), Error>,
}

impl PairOps {
    fn of<K: Element, V: Element>() -> Self {
        PairOps {
            key_id: TypeId::of::<K>(),
            value_id: TypeId::of::<V>(),
            key: ElementType::unnamed::<K>,
            value: ElementType::unnamed::<V>,
            merge_by_key: keyed::merge_by_key::<K, V>,
            first_by_key: keyed::first_by_key::<K, V>,
            keys: keyed::keys::<K, V>,
            values: keyed::values::<K, V>,
            sort_by_key: keyed::sort_by_key::<K, V>,
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

/// `#[sparkwasm::map]`: `fn(T) -> U`.
pub trait MapFn: 'static {
    /// `T`.
    type In: Element;
    /// `U`.
    type Out: Element;
    /// The function's name.
    const NAME: &'static str;
    /// Calls the author's function.
    fn call(x: Self::In) -> Self::Out;
}

/// `#[sparkwasm::flat_map]`: `fn(T) -> impl IntoIterator<Item = U>`.
pub trait FlatMapFn: 'static {
    /// `T`.
    type In: Element;
    /// `U`.
    type Out: Element;
    /// The function's name.
    const NAME: &'static str;
    /// Calls the author's function.
    fn call(x: Self::In) -> impl IntoIterator<Item = Self::Out, IntoIter: 'static> + 'static;
}

/// `#[sparkwasm::filter]`: `fn(&T) -> bool`.
pub trait FilterFn: 'static {
    /// `T`.
    type In: Element;
    /// The function's name.
    const NAME: &'static str;
    /// Calls the author's function.
    fn call(x: &Self::In) -> bool;
}

/// `#[sparkwasm::map_partitions]`: `fn(impl Iterator<Item = T>) -> impl Iterator<Item = U>`.
pub trait MapPartitionsFn: 'static {
    /// `T`.
    type In: Element;
    /// `U`.
    type Out: Element;
    /// The function's name.
    const NAME: &'static str;
    /// Calls the author's function.
    fn call(
        rows: Rows<Self::In>,
    ) -> impl IntoIterator<Item = Self::Out, IntoIter: 'static> + 'static;
}

/// `#[sparkwasm::map_partitions_with_index]`:
/// `fn(u32, impl Iterator<Item = T>) -> impl Iterator<Item = U>`.
pub trait MapPartitionsWithIndexFn: 'static {
    /// `T`.
    type In: Element;
    /// `U`.
    type Out: Element;
    /// The function's name.
    const NAME: &'static str;
    /// Calls the author's function.
    fn call(
        index: u32,
        rows: Rows<Self::In>,
    ) -> impl IntoIterator<Item = Self::Out, IntoIter: 'static> + 'static;
}

/// `#[sparkwasm::reduce]`: `fn(V, V) -> V`.
pub trait ReduceFn: 'static {
    /// `V`.
    type In: Element;
    /// The function's name.
    const NAME: &'static str;
    /// Calls the author's function.
    fn call(a: Self::In, b: Self::In) -> Self::In;
}

/// `#[sparkwasm::key]`: `fn(&T) -> K`.
pub trait KeyFn: 'static {
    /// `T`.
    type In: Element;
    /// `K`.
    type Out: Element;
    /// The function's name.
    const NAME: &'static str;
    /// Calls the author's function.
    fn call(x: &Self::In) -> Self::Out;
}

/// `#[sparkwasm::seq_op]`: `fn(U, V) -> U`.
pub trait SeqOpFn: 'static {
    /// `V`, the values folded in.
    type In: Element;
    /// `U`, the accumulator.
    type Out: Element;
    /// The function's name.
    const NAME: &'static str;
    /// Calls the author's function.
    fn call(acc: Self::Out, v: Self::In) -> Self::Out;
}

/// `#[sparkwasm::partitioner]`: `fn(&K) -> u64`.
pub trait PartitionerFn: 'static {
    /// `K`.
    type In: Element;
    /// The function's name.
    const NAME: &'static str;
    /// Calls the author's function.
    fn call(key: &Self::In) -> u64;
}

/// `#[sparkwasm::foreach]`: `fn(T)`.
pub trait ForeachFn: 'static {
    /// `T`.
    type In: Element;
    /// The function's name.
    const NAME: &'static str;
    /// Calls the author's function.
    fn call(x: Self::In);
}

/// `#[sparkwasm::foreach_partition]`: `fn(impl Iterator<Item = T>)`.
pub trait ForeachPartitionFn: 'static {
    /// `T`.
    type In: Element;
    /// The function's name.
    const NAME: &'static str;
    /// Calls the author's function.
    fn call(rows: Rows<Self::In>);
}

/// A partition's records of one element type, as a boxed iterator.
pub type Rows<T> = Box<dyn Iterator<Item = T>>;

/// A step over a whole stream of the function's input type.
pub(crate) type RowsFn = fn(Stream) -> Result<Stream, Error>;

/// A function's entry points, by kind.
#[derive(Clone, Copy)]
pub(crate) enum Ops {
    Map {
        rows: RowsFn,
        /// Decode, call, encode (map_values on dynamic pairs).
        value: fn(Value) -> Result<Value, String>,
        /// Decode, call, keep the result typed (combineByKey's createCombiner).
        slot: fn(Value) -> Result<Slot, String>,
    },
    FlatMap {
        rows: RowsFn,
        /// Decode, call, encode each item (flat_map_values on dynamic pairs).
        values: fn(Value) -> Result<Vec<Value>, String>,
    },
    Filter {
        rows: RowsFn,
        /// Decodes a copy and calls, so the element itself passes through unchanged.
        value: fn(&Value) -> Result<bool, String>,
    },
    MapPartitions {
        rows: RowsFn,
    },
    MapPartitionsWithIndex {
        rows: fn(Stream, u32) -> Result<Stream, Error>,
    },
    Reduce {
        /// The author's function as a boxed `fn(V, V) -> V`, for typed keyed merges.
        typed: fn() -> Box<dyn Any>,
        /// Reduces (no zero) or folds (zero) a whole stream of `V`.
        all: fn(Stream, Option<Value>, Label) -> Result<Stream, Error>,
        /// Merges a decoded value into a slot of `V`.
        slot: fn(&mut Slot, Value) -> Result<(), String>,
    },
    Key {
        /// `x → (f(&x), x)`, typed.
        key_by: RowsFn,
        /// The element type `(K, T)` of `key_by`'s output.
        keyed: fn() -> ElementType,
        /// The key of a decoded copy of the element, encoded.
        value: fn(&Value) -> Result<Value, String>,
    },
    SeqOp {
        /// Folds a whole stream of `V` into `U`, from the zero.
        all: fn(Stream, Value, Label) -> Result<Stream, Error>,
        /// Folds a decoded `V` into a slot of `U`.
        slot: fn(&mut Slot, Value) -> Result<(), String>,
    },
    Partitioner {
        /// The author's function as a boxed `fn(&K) -> u64`, for typed shuffles.
        typed: fn() -> Box<dyn Any>,
        /// The partition of a decoded copy of the key.
        value: fn(&Value) -> Result<u64, String>,
    },
    Foreach {
        rows: RowsFn,
    },
    ForeachPartition {
        rows: RowsFn,
    },
    /// A Spark SQL `udf` or `udaf`, which the SQL loop (not the planner) runs.
    Sql(crate::sql::SqlFunction),
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
    pub(crate) ops: Ops,
}

/// The element type of a function: its input, its output.
type TypeFn = fn() -> ElementType;

impl Function {
    const fn new(
        name: &'static str,
        kind: FunctionKind,
        input: TypeFn,
        output: TypeFn,
        ops: Ops,
    ) -> Self {
        Function {
            magic: FUNCTION_MAGIC,
            name,
            kind,
            input,
            output,
            ops,
        }
    }

    /// Registers a `map` function.
    pub const fn map<F: MapFn>(input: TypeFn, output: TypeFn) -> Self {
        let ops = Ops::Map {
            rows: steps::map::<F>,
            value: steps::map_value::<F>,
            slot: steps::map_slot::<F>,
        };
        Function::new(F::NAME, FunctionKind::Map, input, output, ops)
    }

    /// Registers a `flat_map` function.
    pub const fn flat_map<F: FlatMapFn>(input: TypeFn, output: TypeFn) -> Self {
        let ops = Ops::FlatMap {
            rows: steps::flat_map::<F>,
            values: steps::flat_map_values::<F>,
        };
        Function::new(F::NAME, FunctionKind::FlatMap, input, output, ops)
    }

    /// Registers a `filter` function.
    pub const fn filter<F: FilterFn>(input: TypeFn, output: TypeFn) -> Self {
        let ops = Ops::Filter {
            rows: steps::filter::<F>,
            value: steps::filter_value::<F>,
        };
        Function::new(F::NAME, FunctionKind::Filter, input, output, ops)
    }

    /// Registers a `map_partitions` function.
    pub const fn map_partitions<F: MapPartitionsFn>(input: TypeFn, output: TypeFn) -> Self {
        let ops = Ops::MapPartitions {
            rows: steps::map_partitions::<F>,
        };
        Function::new(F::NAME, FunctionKind::MapPartitions, input, output, ops)
    }

    /// Registers a `map_partitions_with_index` function.
    pub const fn map_partitions_with_index<F: MapPartitionsWithIndexFn>(
        input: TypeFn,
        output: TypeFn,
    ) -> Self {
        let ops = Ops::MapPartitionsWithIndex {
            rows: steps::map_partitions_with_index::<F>,
        };
        Function::new(
            F::NAME,
            FunctionKind::MapPartitionsWithIndex,
            input,
            output,
            ops,
        )
    }

    /// Registers a `reduce` function.
    pub const fn reduce<F: ReduceFn>(input: TypeFn, output: TypeFn) -> Self {
        let ops = Ops::Reduce {
            typed: steps::reduce_typed::<F>,
            all: steps::reduce_all::<F>,
            slot: steps::reduce_slot::<F>,
        };
        Function::new(F::NAME, FunctionKind::Reduce, input, output, ops)
    }

    /// Registers a `key` function; `keyed` describes `(K, T)`.
    pub const fn key<F: KeyFn>(input: TypeFn, output: TypeFn, keyed: TypeFn) -> Self {
        let ops = Ops::Key {
            key_by: steps::key_by::<F>,
            keyed,
            value: steps::key_value::<F>,
        };
        Function::new(F::NAME, FunctionKind::Key, input, output, ops)
    }

    /// Registers a `seq_op` function (input `V`, output `U`).
    pub const fn seq_op<F: SeqOpFn>(input: TypeFn, output: TypeFn) -> Self {
        let ops = Ops::SeqOp {
            all: steps::aggregate_all::<F>,
            slot: steps::seq_slot::<F>,
        };
        Function::new(F::NAME, FunctionKind::SeqOp, input, output, ops)
    }

    /// Registers a `partitioner` function.
    pub const fn partitioner<F: PartitionerFn>(input: TypeFn, output: TypeFn) -> Self {
        let ops = Ops::Partitioner {
            typed: steps::partitioner_typed::<F>,
            value: steps::partitioner_value::<F>,
        };
        Function::new(F::NAME, FunctionKind::Partitioner, input, output, ops)
    }

    /// Registers a `foreach` function.
    pub const fn foreach<F: ForeachFn>(input: TypeFn, output: TypeFn) -> Self {
        let ops = Ops::Foreach {
            rows: steps::foreach::<F>,
        };
        Function::new(F::NAME, FunctionKind::Foreach, input, output, ops)
    }

    /// Registers a Spark SQL `udf` (`sql.entry` is `SqlEntry::Scalar`).
    pub const fn udf(name: &'static str, sql: crate::sql::SqlFunction) -> Self {
        Function::new(
            name,
            FunctionKind::Udf,
            sql_columns,
            sql_columns,
            Ops::Sql(sql),
        )
    }

    /// Registers a Spark SQL `udaf` (`sql.entry` is `SqlEntry::Aggregate`).
    pub const fn udaf(name: &'static str, sql: crate::sql::SqlFunction) -> Self {
        Function::new(
            name,
            FunctionKind::Udaf,
            sql_columns,
            sql_columns,
            Ops::Sql(sql),
        )
    }

    /// Registers a `foreach_partition` function.
    pub const fn foreach_partition<F: ForeachPartitionFn>(input: TypeFn, output: TypeFn) -> Self {
        let ops = Ops::ForeachPartition {
            rows: steps::foreach_partition::<F>,
        };
        Function::new(F::NAME, FunctionKind::ForeachPartition, input, output, ops)
    }
}

/// The element type standing for a SQL function's columns: SQL functions have no RDD element
/// type, and the planner refuses them before it would ask for one.
fn sql_columns() -> ElementType {
    ElementType::of::<()>("(the columns of a SQL function)", None)
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
