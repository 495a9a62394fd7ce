//! The sandbox policy: every limit and grant a guest instance runs under, with documented,
//! justified defaults.
//!
//! One value, private fields, `with_*` setters. The host builds two: the operator's
//! *ceilings* (from the executor's environment), which create the [`crate::Runtime`]'s
//! engine, and each task's *effective* policy (the job's settings, checked against the
//! ceilings), which [`crate::Runtime::run_task_under`] applies. Engine-wide settings (the
//! stack cap, the epoch tick, the largest memory) come from the ceilings only; the others
//! apply per task. [`setting`] names where each is set, for error messages.

use std::time::Duration;

/// Where each setting is set: the job's Spark conf key, and the operator's ceiling variable
/// in the executor's environment. Error messages name both, so a user can act on them.
pub mod setting {
    /// A setting's names.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Names {
        /// The job's Spark conf key (`spark.sparkwasm.*`), if a job may set it.
        pub conf: Option<&'static str>,
        /// The operator's environment variable (a ceiling, or the value for engine-wide
        /// settings).
        pub env: &'static str,
    }

    const fn both(conf: &'static str, env: &'static str) -> Names {
        Names {
            conf: Some(conf),
            env,
        }
    }

    /// Guest memory cap.
    pub const MEMORY: Names = both("spark.sparkwasm.memoryMb", "SPARKWASM_MAX_MEMORY_MB");
    /// Wall-clock deadline of a task.
    pub const TASK_DEADLINE: Names = both(
        "spark.sparkwasm.taskDeadlineSecs",
        "SPARKWASM_MAX_TASK_DEADLINE_SECS",
    );
    /// Longest stretch of guest code without a call to the host.
    pub const CALL_DEADLINE: Names = both(
        "spark.sparkwasm.callDeadlineSecs",
        "SPARKWASM_MAX_CALL_DEADLINE_SECS",
    );
    /// Largest output record.
    pub const OUTPUT_RECORD: Names = both(
        "spark.sparkwasm.outputRecordMb",
        "SPARKWASM_MAX_OUTPUT_RECORD_MB",
    );
    /// Largest output batch.
    pub const OUTPUT_BATCH: Names = both(
        "spark.sparkwasm.outputBatchMb",
        "SPARKWASM_MAX_OUTPUT_BATCH_MB",
    );
    /// Total output of a task.
    pub const OUTPUT_TASK: Names = both(
        "spark.sparkwasm.outputTaskMb",
        "SPARKWASM_MAX_OUTPUT_TASK_MB",
    );
    /// Fuel budget of a task.
    pub const FUEL: Names = both("spark.sparkwasm.fuel", "SPARKWASM_MAX_FUEL");
    /// Captured stdout/stderr, each.
    pub const CAPTURE: Names = both("spark.sparkwasm.captureKb", "SPARKWASM_MAX_CAPTURE_KB");
    /// The read-only SparkFiles grant.
    pub const SPARK_FILES: Names =
        both("spark.sparkwasm.sparkFiles", "SPARKWASM_ALLOW_SPARK_FILES");
    /// Deterministic or real clocks.
    pub const CLOCK: Names = both("spark.sparkwasm.clock", "SPARKWASM_CLOCK");
    /// Deterministic or real randomness.
    pub const RANDOM: Names = both("spark.sparkwasm.random", "SPARKWASM_RANDOM");
    /// Guest stack cap (engine-wide: operator only).
    pub const STACK: Names = Names {
        conf: None,
        env: "SPARKWASM_STACK_KB",
    };
    /// Longest compilation of a module (engine-wide: operator only).
    pub const COMPILE_DEADLINE: Names = Names {
        conf: None,
        env: "SPARKWASM_MAX_COMPILE_SECS",
    };
    /// Largest module (engine-wide: operator only).
    pub const MODULE: Names = Names {
        conf: None,
        env: "SPARKWASM_MAX_MODULE_MB",
    };

    impl Names {
        /// `spark.sparkwasm.x (ceiling: SPARKWASM_MAX_X)`, or the variable alone.
        pub fn describe(self) -> String {
            match self.conf {
                Some(conf) => format!("{conf}; operator ceiling {}", self.env),
                None => format!("operator setting {}", self.env),
            }
        }
    }
}

/// Whether clocks or randomness are the real ones or a deterministic stand-in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Determinism {
    /// The host's clocks and a cryptographically secure generator (WASI's defaults, what
    /// Python code gets).
    #[default]
    Real,
    /// Clocks that start at the Unix epoch and advance one microsecond per reading; random
    /// bytes from a generator seeded with the stage and partition. A retried task (same
    /// stage and partition, another attempt) sees exactly what the first attempt saw; the
    /// attempt number is left out of the seed on purpose, or a retry would differ.
    Deterministic,
}

/// The sandbox policy of guest instances. See each getter for the default and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    memory_bytes: u64,
    max_wasm_stack: usize,
    task_deadline: Duration,
    call_deadline: Duration,
    epoch_tick: Duration,
    output_bytes_per_task: u64,
    output_bytes_per_batch: u64,
    output_bytes_per_record: u64,
    fuel: Option<u64>,
    captured_output_bytes: usize,
    error_message_bytes: usize,
    accumulator_updates_per_task: usize,
    accumulator_bytes_per_task: usize,
    module_bytes: u64,
    compile_deadline: Duration,
    spark_files: bool,
    clock: Determinism,
    random: Determinism,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            memory_bytes: 1 << 30,
            max_wasm_stack: 1 << 20,
            task_deadline: Duration::from_secs(30 * 60),
            call_deadline: Duration::from_secs(10 * 60),
            epoch_tick: Duration::from_millis(10),
            output_bytes_per_task: 64 << 30,
            output_bytes_per_batch: 256 << 20,
            output_bytes_per_record: 256 << 20,
            fuel: None,
            captured_output_bytes: 64 << 10,
            error_message_bytes: 64 << 10,
            accumulator_updates_per_task: 1024,
            accumulator_bytes_per_task: 64 << 20,
            module_bytes: 256 << 20,
            compile_deadline: Duration::from_secs(60),
            spark_files: true,
            clock: Determinism::Real,
            random: Determinism::Real,
        }
    }
}

impl Policy {
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

    /// Longest stretch the guest may run without calling the host (reading input, writing
    /// output, reading a broadcast...). Default 10 minutes: the SDK calls the host at least
    /// once per batch of a few hundred KiB, so only a step that chews on one partition for
    /// minutes without emitting (a huge in-guest sort) comes near it, while a guest stuck in
    /// a loop is stopped long before the task deadline. Time the host spends waiting for the
    /// JVM does not count.
    pub fn call_deadline(&self) -> Duration {
        self.call_deadline
    }

    /// Sets [`Self::call_deadline`].
    pub fn with_call_deadline(mut self, deadline: Duration) -> Self {
        self.call_deadline = deadline;
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

    /// Largest single output record. Default 256 MiB: a record becomes one JVM byte array
    /// (at most 2 GiB) and is often copied there, so a record far larger than any sane
    /// element is refused before it reaches the executor.
    pub fn output_bytes_per_record(&self) -> u64 {
        self.output_bytes_per_record
    }

    /// Sets [`Self::output_bytes_per_record`].
    pub fn with_output_bytes_per_record(mut self, bytes: u64) -> Self {
        self.output_bytes_per_record = bytes;
        self
    }

    /// Fuel budget of a task (about one unit per WebAssembly instruction), or `None`.
    /// Default `None`: the deadlines already bound a task, and metering costs speed; a job
    /// sets a budget when it wants a bound that does not depend on machine speed.
    pub fn fuel(&self) -> Option<u64> {
        self.fuel
    }

    /// Sets [`Self::fuel`].
    pub fn with_fuel(mut self, fuel: Option<u64>) -> Self {
        self.fuel = fuel;
        self
    }

    /// Largest module the worker compiles. Default 256 MiB: far above real modules (a few
    /// MiB), while compiling a bigger one could hold a core for minutes.
    pub fn module_bytes(&self) -> u64 {
        self.module_bytes
    }

    /// Sets [`Self::module_bytes`].
    pub fn with_module_bytes(mut self, bytes: u64) -> Self {
        self.module_bytes = bytes;
        self
    }

    /// Longest a module may take to compile. Default 60 s: real modules compile in a few
    /// seconds, while a small module made of one enormous function can take minutes (the
    /// compiler's cost grows faster than the function).
    pub fn compile_deadline(&self) -> Duration {
        self.compile_deadline
    }

    /// Sets [`Self::compile_deadline`].
    pub fn with_compile_deadline(mut self, deadline: Duration) -> Self {
        self.compile_deadline = deadline;
        self
    }

    /// Whether the task's SparkFiles directory is visible, read-only. Default yes: files a
    /// job adds with `sc.addFile` are its own data. Nothing else of the file system is ever
    /// visible.
    pub fn spark_files(&self) -> bool {
        self.spark_files
    }

    /// Sets [`Self::spark_files`].
    pub fn with_spark_files(mut self, granted: bool) -> Self {
        self.spark_files = granted;
        self
    }

    /// The guest's clocks. Default [`Determinism::Real`], as Python workers have.
    pub fn clock(&self) -> Determinism {
        self.clock
    }

    /// Sets [`Self::clock`].
    pub fn with_clock(mut self, clock: Determinism) -> Self {
        self.clock = clock;
        self
    }

    /// The guest's random bytes. Default [`Determinism::Real`], as Python workers have.
    pub fn random(&self) -> Determinism {
        self.random
    }

    /// Sets [`Self::random`].
    pub fn with_random(mut self, random: Determinism) -> Self {
        self.random = random;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_clamped_to_the_wasm32_address_space() {
        assert_eq!(
            Policy::default().with_memory_bytes(u64::MAX).memory_bytes(),
            4 << 30
        );
    }

    #[test]
    fn settings_name_the_conf_key_and_the_ceiling() {
        assert_eq!(
            setting::MEMORY.describe(),
            "spark.sparkwasm.memoryMb; operator ceiling SPARKWASM_MAX_MEMORY_MB"
        );
        assert_eq!(
            setting::STACK.describe(),
            "operator setting SPARKWASM_STACK_KB"
        );
    }
}
