//! The SDK's error type: everything that can fail a task inside the guest.
//!
//! Every variant's message is written for the Spark user reading a failed task, since it
//! travels through `report_error` into the executor's exception. Positions are 0-based:
//! "input record 3, element 17" is the fourth record of the task's input and the eighteenth
//! element of that record's batch; "step 2 (map with `f`), element 5" is the sixth element
//! that reached step 2.

/// Why a task failed inside the guest, or why a guest API call (broadcast, accumulator,
/// SparkFiles) could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The task spec the host sent could not be decoded.
    #[error("malformed task spec: {0}")]
    Spec(String),
    /// The host speaks another ABI version.
    #[error(
        "the host sent a task for sparkwasm ABI version {host}, but this module was built \
         for version {module}"
    )]
    AbiVersion {
        /// Version in the task spec.
        host: u32,
        /// Version this SDK implements.
        module: u32,
    },
    /// A function handle in the task spec names no function of this module.
    #[error("{what}: no function of this module has handle {handle}")]
    UnknownHandle {
        /// Where the handle appeared (`step 2`, `the input type`).
        what: String,
        /// The handle.
        handle: u32,
    },
    /// The steps of the task do not fit together (wrong kind, mismatched element types).
    #[error("{0}")]
    Plan(String),
    /// An input batch violates the batch layout.
    #[error("malformed input batch: {0}")]
    Batch(String),
    /// An input record as a whole could not be decoded.
    #[error("input record {record}: {message}")]
    Record {
        /// 0-based index of the record in the task's input.
        record: u64,
        /// What went wrong.
        message: String,
    },
    /// One element of an input record could not be decoded into the expected type.
    #[error("input record {record}, element {element}: {message}")]
    Element {
        /// 0-based index of the record in the task's input.
        record: u64,
        /// 0-based index of the element within the record.
        element: u64,
        /// What went wrong.
        message: String,
    },
    /// An output element could not be encoded.
    #[error("output element {element} (of type {type_name}): {message}")]
    Encode {
        /// 0-based index of the element in the task's output.
        element: u64,
        /// The element type, as the author spelled it.
        type_name: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The host refused an output batch (for example because an output limit was hit).
    #[error("the host refused an output batch (output_write returned {0})")]
    OutputRefused(i32),
    /// The host's `input_next` returned more bytes than the buffer holds.
    #[error("the host reported {written} input bytes for a buffer of {capacity}")]
    InputOverrun {
        /// Bytes the host reported.
        written: i64,
        /// Capacity of the buffer.
        capacity: usize,
    },
    /// A step (or the output) failed, on one element or as a whole.
    #[error("{at}{}: {message}", element_suffix(*element))]
    Step {
        /// The step (`step 2 (map with \`f\`)`) or the output.
        at: String,
        /// 0-based index of the element at that step, when one element is to blame.
        element: Option<u64>,
        /// What went wrong.
        message: String,
    },
    /// A guest API that needs a running task was called outside one.
    #[error("{0} is only available while a sparkwasm task runs")]
    NoTask(&'static str),
    /// The task carries no broadcast of that name.
    #[error("no broadcast named {name:?} was given to this task (available: {available})")]
    UnknownBroadcast {
        /// The name asked for.
        name: String,
        /// The names the task carries.
        available: String,
    },
    /// The host has no data for a broadcast the task names.
    #[error("the host has no data for broadcast {name:?} (id {id})")]
    BroadcastUnavailable {
        /// The name asked for.
        name: String,
        /// Its Spark broadcast id.
        id: i64,
    },
    /// A broadcast's pickle could not be decoded into the requested type.
    #[error("broadcast {name:?} cannot be read as {type_name}: {message}")]
    BroadcastDecode {
        /// The name asked for.
        name: String,
        /// The requested Rust type.
        type_name: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The task carries no accumulator of that name.
    #[error("no accumulator named {name:?} was given to this task (available: {available})")]
    UnknownAccumulator {
        /// The name asked for.
        name: String,
        /// The names the task carries.
        available: String,
    },
    /// An accumulator was asked for with two different value types in one task.
    #[error("accumulator {name:?} is used as {first} and as {second} in the same task")]
    AccumulatorType {
        /// The accumulator's name.
        name: String,
        /// The type it was first asked for with.
        first: &'static str,
        /// The type asked for now.
        second: &'static str,
    },
    /// An accumulator's total could not be sent.
    #[error("the update of accumulator {name:?} failed: {message}")]
    AccumulatorUpdate {
        /// The accumulator's name.
        name: String,
        /// What went wrong (encoding, or the host's refusal).
        message: String,
    },
    /// `spark_file` was called although the task does not grant SparkFiles.
    #[error(
        "SparkFiles are not granted to this task, so {name:?} cannot be read (the worker \
         mounts them only when configured to)"
    )]
    SparkFilesNotGranted {
        /// The file asked for.
        name: String,
    },
    /// `spark_file` was called with a name that is not a plain relative path.
    #[error("{name:?} is not a SparkFiles name (a relative path without `..`)")]
    SparkFileName {
        /// The file asked for.
        name: String,
    },
    /// A SQL function with `nulls = "reject"` got a null in a non-`Option` argument.
    #[error(
        "function `{function}` got a null in argument {argument} at row {row} of the task's \
         input, but it rejects nulls (`nulls = \"reject\"`); take an `Option` to handle them"
    )]
    NullArgument {
        /// The function.
        function: &'static str,
        /// 0-based argument index.
        argument: usize,
        /// 0-based row of the task's input.
        row: u64,
    },
    /// A SQL function's argument column or result cannot be used.
    #[error("function `{function}`: {message}")]
    SqlFunction {
        /// The function.
        function: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A broken invariant inside the SDK: a bug, reported rather than panicking.
    #[error("internal error in the sparkwasm guest SDK: {0}")]
    Internal(String),
}

impl Error {
    /// A broken SDK invariant.
    pub(crate) fn internal(what: impl Into<String>) -> Self {
        Error::Internal(what.into())
    }
}

/// `, element N` when an element is named.
fn element_suffix(element: Option<u64>) -> String {
    match element {
        Some(element) => format!(", element {element}"),
        None => String::new(),
    }
}

/// The message of a serde-pickle error without its "decoding error:" wrapper, which adds
/// nothing once the position is named.
pub(crate) fn pickle_message(err: serde_pickle::Error) -> String {
    match err {
        serde_pickle::Error::Syntax(code) => code.to_string(),
        serde_pickle::Error::Eval(code, offset) => format!("{code} (at pickle byte {offset})"),
        serde_pickle::Error::Io(err) => err.to_string(),
    }
}
