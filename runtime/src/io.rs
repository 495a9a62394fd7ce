//! The host's side of a task's data path, as the runtime sees it: where input batches come
//! from and where output batches go. The host crate implements it over Spark's socket; tests
//! implement it over memory.

/// Result of asking for the next input batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputBatch {
    /// This many bytes of complete records (ABI batch layout) were written to the buffer.
    Filled(usize),
    /// The input is exhausted.
    End,
    /// The next record alone needs a buffer of this many bytes.
    NeedCapacity(usize),
}

/// Input and output of one task. Owned by the task's store while the guest runs, then handed
/// back to the caller.
pub trait TaskIo: Send + 'static {
    /// Copies the next batch of whole input records (each an `i32` big-endian length and its
    /// bytes, or a null marker) into `buf`.
    fn next_input(&mut self, buf: &mut [u8]) -> std::io::Result<InputBatch>;

    /// Takes a batch of whole output records, already validated by the runtime.
    fn write_output(&mut self, records: &[u8]) -> std::io::Result<()>;
}
