//! The SDK's error type: everything that can fail a task inside the guest.
//!
//! Every variant's message is written for the Spark user reading a failed task, since it
//! travels through `report_error` into the executor's exception. Positions are 0-based:
//! "input record 3, element 17" is the fourth record of the task's input and the eighteenth
//! element of that record's batch.

/// Why a task failed inside the guest.
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
    /// A key could not be encoded for `reduceByKey` or shuffle partitioning.
    #[error("key of record {record}: {message}")]
    Key {
        /// 0-based index of the record at the step.
        record: u64,
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

/// The message of a serde-pickle error without its "decoding error:" wrapper, which adds
/// nothing once the position is named.
pub(crate) fn pickle_message(err: serde_pickle::Error) -> String {
    match err {
        serde_pickle::Error::Syntax(code) => code.to_string(),
        serde_pickle::Error::Eval(code, offset) => format!("{code} (at pickle byte {offset})"),
        serde_pickle::Error::Io(err) => err.to_string(),
    }
}
