//! The resource limits every guest instance runs under, with documented defaults.
//!
//! One value, private fields, `with_*` setters: the host builds it from its configuration
//! and hands it to [`crate::Runtime::new`]. Engine-wide limits (memory cap, stack) are fixed
//! when the engine is created; per-task limits (deadline, output) apply to every task.

use std::time::Duration;

/// Resource limits for guest instances. See each getter for the default and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    memory_bytes: u64,
    max_wasm_stack: usize,
    task_deadline: Duration,
    epoch_tick: Duration,
    output_bytes_per_task: u64,
    output_bytes_per_batch: u64,
    captured_output_bytes: usize,
    error_message_bytes: usize,
    accumulator_updates_per_task: usize,
    accumulator_bytes_per_task: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 1 << 30,
            max_wasm_stack: 1 << 20,
            task_deadline: Duration::from_secs(30 * 60),
            epoch_tick: Duration::from_millis(10),
            output_bytes_per_task: 64 << 30,
            output_bytes_per_batch: 256 << 20,
            captured_output_bytes: 64 << 10,
            error_message_bytes: 64 << 10,
            accumulator_updates_per_task: 1024,
            accumulator_bytes_per_task: 64 << 20,
        }
    }
}

impl Limits {
    /// Largest linear memory one instance may grow to. Default 1 GiB: room for the hash
    /// table of a map-side combine over a large partition, while four concurrent tasks stay
    /// well inside an executor's memory. Capped at 4 GiB, the wasm32 address space.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    /// Sets [`Self::memory_bytes`] (clamped to 4 GiB).
    pub fn with_memory_bytes(mut self, bytes: u64) -> Self {
        self.memory_bytes = bytes.min(4 << 30);
        self
    }

    /// Largest native stack guest code may use. Default 1 MiB: twice wasmtime's default, so
    /// ordinary recursive serde code fits, while a runaway recursion traps quickly.
    pub fn max_wasm_stack(&self) -> usize {
        self.max_wasm_stack
    }

    /// Sets [`Self::max_wasm_stack`].
    pub fn with_max_wasm_stack(mut self, bytes: usize) -> Self {
        self.max_wasm_stack = bytes;
        self
    }

    /// Wall-clock budget of one task, enforced by epoch interruption. Default 30 minutes:
    /// far above any healthy partition, yet a spinning guest cannot hold an executor core
    /// forever. (Spark's own task killing stops it sooner when a job is cancelled.)
    pub fn task_deadline(&self) -> Duration {
        self.task_deadline
    }

    /// Sets [`Self::task_deadline`].
    pub fn with_task_deadline(mut self, deadline: Duration) -> Self {
        self.task_deadline = deadline;
        self
    }

    /// Granularity of the deadline: the engine's epoch advances once per tick. Default
    /// 10 ms: negligible overhead, and a deadline overshoots by at most one tick.
    pub fn epoch_tick(&self) -> Duration {
        self.epoch_tick
    }

    /// Sets [`Self::epoch_tick`] (at least 1 ms).
    pub fn with_epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = tick.max(Duration::from_millis(1));
        self
    }

    /// Total output bytes one task may hand the host. Default 64 GiB: effectively unbounded
    /// for real jobs, but a guest that emits forever is stopped.
    pub fn output_bytes_per_task(&self) -> u64 {
        self.output_bytes_per_task
    }

    /// Sets [`Self::output_bytes_per_task`].
    pub fn with_output_bytes_per_task(mut self, bytes: u64) -> Self {
        self.output_bytes_per_task = bytes;
        self
    }

    /// Largest single output batch. Default 256 MiB: the SDK hands over ~256 KiB at a time,
    /// so only a broken or hostile guest comes near it.
    pub fn output_bytes_per_batch(&self) -> u64 {
        self.output_bytes_per_batch
    }

    /// Sets [`Self::output_bytes_per_batch`].
    pub fn with_output_bytes_per_batch(mut self, bytes: u64) -> Self {
        self.output_bytes_per_batch = bytes;
        self
    }

    /// How much of the guest's stdout and stderr (each) is kept for error messages; the rest
    /// is counted and dropped. Default 64 KiB.
    pub fn captured_output_bytes(&self) -> usize {
        self.captured_output_bytes
    }

    /// Sets [`Self::captured_output_bytes`].
    pub fn with_captured_output_bytes(mut self, bytes: usize) -> Self {
        self.captured_output_bytes = bytes;
        self
    }

    /// Longest error message a guest may report; longer ones are truncated. Default 64 KiB.
    pub fn error_message_bytes(&self) -> usize {
        self.error_message_bytes
    }

    /// Sets [`Self::error_message_bytes`].
    pub fn with_error_message_bytes(mut self, bytes: usize) -> Self {
        self.error_message_bytes = bytes;
        self
    }

    /// How many accumulator updates one task may send. Default 1024: the SDK sends one per
    /// accumulator the task uses, so only a broken or hostile guest gets near it, and the
    /// updates travel in the task result to the driver, which must not be flooded.
    pub fn accumulator_updates_per_task(&self) -> usize {
        self.accumulator_updates_per_task
    }

    /// Sets [`Self::accumulator_updates_per_task`].
    pub fn with_accumulator_updates_per_task(mut self, count: usize) -> Self {
        self.accumulator_updates_per_task = count;
        self
    }

    /// Total bytes of one task's accumulator updates. Default 64 MiB: room for list or
    /// dict accumulators, while the host (which keeps them until the task ends) and the
    /// driver (which unpickles them) stay safe from a guest that sends without end.
    pub fn accumulator_bytes_per_task(&self) -> usize {
        self.accumulator_bytes_per_task
    }

    /// Sets [`Self::accumulator_bytes_per_task`].
    pub fn with_accumulator_bytes_per_task(mut self, bytes: usize) -> Self {
        self.accumulator_bytes_per_task = bytes;
        self
    }

    /// Deadline in epoch ticks (at least one).
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let ticks = self.task_deadline.as_nanos() / self.epoch_tick.as_nanos().max(1);
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_ticks_round_down_but_never_reach_zero() {
        let limits = Limits::default()
            .with_task_deadline(Duration::from_millis(25))
            .with_epoch_tick(Duration::from_millis(10));
        assert_eq!(limits.deadline_ticks(), 2);
        let tiny = limits.with_task_deadline(Duration::from_micros(1));
        assert_eq!(tiny.deadline_ticks(), 1);
    }

    #[test]
    fn memory_is_clamped_to_the_wasm32_address_space() {
        assert_eq!(
            Limits::default().with_memory_bytes(u64::MAX).memory_bytes(),
            4 << 30
        );
    }
}
