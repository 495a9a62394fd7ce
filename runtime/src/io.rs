//! The host's side of a task's data path, as the runtime sees it: where input batches come
//! from, where output batches go, and where broadcast values are read from. The host crate
//! implements it over Spark's socket and its broadcast registry; tests implement it over
//! memory.

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

/// Result of asking for a broadcast's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BroadcastRead {
    /// The whole value, this many bytes, was copied to the start of the buffer.
    Copied(usize),
    /// The value has this many bytes, more than the buffer holds; nothing was copied.
    NeedCapacity(u64),
    /// The host has no broadcast with this id.
    Unknown,
}

/// Input and output of one task. Owned by the task's store while the guest runs, then handed
/// back to the caller.
pub trait TaskIo: Send + 'static {
    /// Copies the next batch of whole input records (each an `i32` big-endian length and its
    /// bytes, or a null marker) into `buf`.
    fn next_input(&mut self, buf: &mut [u8]) -> std::io::Result<InputBatch>;

    /// Takes a batch of whole output records, already validated by the runtime.
    fn write_output(&mut self, records: &[u8]) -> std::io::Result<()>;

    /// Copies the bytes of broadcast `id` into `buf` when they fit, or says how many bytes
    /// they need. Implementations copy straight into `buf` (guest memory) and must not
    /// allocate by the value's length. The runtime only asks for ids bound to the task, so
    /// this need not check bindings. The default has no broadcasts.
    fn read_broadcast(&mut self, id: i64, buf: &mut [u8]) -> std::io::Result<BroadcastRead> {
        let _ = (id, buf);
        Ok(BroadcastRead::Unknown)
    }
}
