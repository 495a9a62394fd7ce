//! The registration of a SQL function: what `#[udf]` and `#[udaf]` generate and the SQL loop
//! calls, plus the [`Udaf`] trait authors implement.
//!
//! A `udf` registers one monomorphic batch function: given a batch's argument columns, it
//! appends one result per row to its result column. A `udaf` registers an initializer (the
//! author's function, boxed), an update over a batch of a group's rows and a finisher that
//! appends the group's result. Everything typed stays in the generated code; the loop sees
//! column views, `dyn ResultColumn`s and `Box<dyn Any>` accumulators.

use std::any::Any;

use sparkwasm_abi::columnar::ColumnView;

use crate::sql::builder::{ResultColumn, ResultType};
use crate::sql::column::Scratch;

/// A Spark SQL aggregate function (`#[sparkwasm::udaf]`): an accumulator made per group,
/// updated with each of the group's rows and finished into the group's result.
///
/// `Args` is the type of one row's arguments: the argument itself for one argument
/// (`Udaf<i64>`), a tuple for several (`Udaf<(Option<f64>, Option<f64>)>`), `()` for none.
/// Argument and output types are those `#[sparkwasm::udf]` takes and returns; a borrowed
/// argument (`&str`, `&[u8]`) needs a lifetime on the impl (`impl<'a> Udaf<&'a str> for ...`).
///
/// ```ignore
/// #[derive(Default)]
/// struct WeightedMean { sum: f64, weight: f64 }
///
/// impl sparkwasm::Udaf<(Option<f64>, Option<f64>)> for WeightedMean {
///     type Output = Option<f64>;
///     fn update(&mut self, (x, w): (Option<f64>, Option<f64>)) {
///         if let (Some(x), Some(w)) = (x, w) {
///             self.sum += x * w;
///             self.weight += w;
///         }
///     }
///     fn merge(&mut self, other: Self) {
///         self.sum += other.sum;
///         self.weight += other.weight;
///     }
///     fn finish(self) -> Option<f64> {
///         (self.weight != 0.0).then(|| self.sum / self.weight)
///     }
/// }
///
/// #[sparkwasm::udaf]
/// fn weighted_mean() -> impl sparkwasm::Udaf<(Option<f64>, Option<f64>), Output = Option<f64>> {
///     WeightedMean::default()
/// }
/// ```
pub trait Udaf<Args>: Sized + 'static {
    /// The group's result type.
    type Output;
    /// Folds one row into the accumulator.
    fn update(&mut self, args: Args);
    /// Folds another accumulator of the same group into this one. Spark hands all rows of a
    /// group to one task, so sparkwasm itself never calls it; it makes the aggregate
    /// complete (and testable) as a combinable one.
    fn merge(&mut self, other: Self);
    /// The group's result.
    fn finish(self) -> Self::Output;
}

/// One call of a SQL function over a batch: its argument columns, and a scratch vector per
/// argument for values that cannot be viewed in place.
pub struct Call<'c, 'b> {
    /// The argument columns, in order.
    pub columns: &'c [ColumnView<'b>],
    /// Rows in the batch (every column has this many).
    pub rows: usize,
    /// One per argument.
    pub scratch: &'c mut [Scratch],
}

/// Why a call over a batch failed; the SQL loop adds the function and the task's row.
#[derive(Debug, PartialEq, Eq)]
pub enum CallError {
    /// A null in a non-`Option` argument of a function with `nulls = "reject"`.
    Null {
        /// 0-based argument index.
        argument: usize,
        /// 0-based row in the batch.
        row: usize,
    },
    /// An argument column cannot be read as the argument's type.
    Column {
        /// 0-based argument index.
        argument: usize,
        /// What is wrong.
        message: String,
    },
    /// The call got another number of columns than the function takes.
    Arity {
        /// Arguments the function takes.
        expected: usize,
    },
    /// A result column or accumulator of an unexpected type (an SDK bug).
    Internal(&'static str),
}

impl CallError {
    /// A column error of argument `argument`.
    pub fn column(argument: usize, message: String) -> Self {
        CallError::Column { argument, message }
    }
}

/// A `udf`'s batch function: appends one result per row of `call` to the result column.
pub type ScalarCall = fn(&mut Call<'_, '_>, &mut dyn ResultColumn) -> Result<(), CallError>;
/// A `udaf`'s initializer: the author's function, its accumulator boxed.
pub type AggregateInit = fn() -> Box<dyn Any>;
/// A `udaf`'s update over the rows of `call`.
pub type AggregateUpdate = fn(&mut dyn Any, &mut Call<'_, '_>) -> Result<(), CallError>;
/// A `udaf`'s finisher: appends the accumulator's result to the result column.
pub type AggregateFinish = fn(Box<dyn Any>, &mut dyn ResultColumn) -> Result<(), CallError>;

/// The SQL side of a registered function.
#[derive(Clone, Copy)]
pub struct SqlFunction {
    /// The Spark types of the arguments (as in the descriptor), checked against each batch.
    pub args: &'static [&'static str],
    /// The Spark type of the result.
    pub returns: &'static str,
    /// The entry points.
    pub entry: SqlEntry,
}

/// The entry points of a SQL function, by kind.
#[derive(Clone, Copy)]
pub enum SqlEntry {
    /// A `udf`.
    Scalar {
        /// An empty result column of the function's result type.
        new_result: fn() -> Box<dyn ResultColumn>,
        /// The batch function.
        call: ScalarCall,
    },
    /// A `udaf`.
    Aggregate {
        /// An empty result column of the function's result type.
        new_result: fn() -> Box<dyn ResultColumn>,
        /// A new accumulator.
        init: AggregateInit,
        /// Folds a batch of rows into an accumulator.
        update: AggregateUpdate,
        /// Finishes an accumulator into a result row.
        finish: AggregateFinish,
    },
}

/// An empty result column for results of type `R`.
pub fn new_result<R: ResultType>() -> Box<dyn ResultColumn> {
    Box::new(R::new_builder())
}

/// The result column of a call as the builder of `R`.
pub fn builder<R: ResultType>(out: &mut dyn ResultColumn) -> Result<&mut R::Builder, CallError> {
    out.as_any_mut()
        .downcast_mut::<R::Builder>()
        .ok_or(CallError::Internal("a result column of another type"))
}

/// Boxes a new accumulator.
pub fn boxed_state<T: 'static>(state: T) -> Box<dyn Any> {
    Box::new(state)
}

/// The accumulator `init` (the author's `#[udaf]` function) makes, borrowed from its box.
/// Taking `init` lets the generated code name a type it cannot spell (`impl Udaf<...>`).
pub fn state_mut<T: 'static>(
    _init: impl FnOnce() -> T,
    state: &mut dyn Any,
) -> Result<&mut T, CallError> {
    state
        .downcast_mut::<T>()
        .ok_or(CallError::Internal("an accumulator of another type"))
}

/// The accumulator `init` makes, taken out of its box.
pub fn state_take<T: 'static>(
    _init: impl FnOnce() -> T,
    state: Box<dyn Any>,
) -> Result<T, CallError> {
    state
        .downcast::<T>()
        .map(|state| *state)
        .map_err(|_| CallError::Internal("an accumulator of another type"))
}
