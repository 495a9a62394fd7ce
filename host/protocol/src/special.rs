//! `SpecialLengths` (§2): negative `i32` values that appear where a frame length is expected.

/// End of a data section, in both directions. In the worker's final position it means
/// "do not reuse me".
pub const END_OF_DATA_SECTION: i32 = -1;
/// Worker → JVM: a `str` traceback follows and the task fails.
pub const PYTHON_EXCEPTION_THROWN: i32 = -2;
/// Worker → JVM: timing longs follow (see [`crate::write_timing`]).
pub const TIMING_DATA: i32 = -3;
/// JVM → worker: no more messages for this task. Worker → JVM: "task done, reuse me".
pub const END_OF_STREAM: i32 = -4;
/// JVM → worker: a null element in the input. Must never be sent by the worker in RDD output.
pub const NULL: i32 = -5;
/// Worker → JVM (SQL Arrow eval types): an Arrow IPC stream follows.
pub const START_ARROW_STREAM: i32 = -6;
/// JVM-internal (streaming runners); never seen on an RDD worker socket.
pub const END_OF_MICRO_BATCH: i32 = -7;
/// JVM → worker (4.3 only): the per-task init message follows, as `i32 len` + `len` bytes.
pub const START_OF_INIT_MESSAGE: i32 = -8;

/// The constant's name for a special length, for error messages.
pub fn name(value: i32) -> Option<&'static str> {
    Some(match value {
        END_OF_DATA_SECTION => "END_OF_DATA_SECTION",
        PYTHON_EXCEPTION_THROWN => "PYTHON_EXCEPTION_THROWN",
        TIMING_DATA => "TIMING_DATA",
        END_OF_STREAM => "END_OF_STREAM",
        NULL => "NULL",
        START_ARROW_STREAM => "START_ARROW_STREAM",
        END_OF_MICRO_BATCH => "END_OF_MICRO_BATCH",
        START_OF_INIT_MESSAGE => "START_OF_INIT_MESSAGE",
        _ => return None,
    })
}

/// `value` plus its constant name if it has one, e.g. `-4 (END_OF_STREAM)`.
pub(crate) fn describe(value: i32) -> String {
    match name(value) {
        Some(n) => format!("{value} ({n})"),
        None => value.to_string(),
    }
}
