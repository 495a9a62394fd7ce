//! The sparkwasm sandbox: runs functions of sparkwasm guest modules in wasmtime, a fresh
//! instance per task, under a [`Policy`] (memory, stack, deadlines, output, fuel and accumulator limits,
//! clocks and randomness), with
//! nothing of the host granted but what the task names: its broadcasts (read through
//! [`TaskIo::read_broadcast`]) and, when granted, its SparkFiles directory read-only. It
//! knows nothing of Spark: the host crate feeds it batches of records through [`TaskIo`] and
//! reads typed [`Error`]s and [`TaskReport`]s (with the accumulator updates) back.
//!
//! ```text
//! Runtime::new(ceilings) ──load_under(policy, bytes, digest)──▶ LoadedModule ──run_task_under(policy, request, io)──▶ TaskReport
//! ```

mod capture;
mod error;
mod inspect;
mod io;
mod module_cache;
mod policy;
mod sandbox;

pub use error::{Error, ErrorKind};
pub use inspect::{digest_hex, inspect, ModuleInfo};
pub use io::{BroadcastRead, InputBatch, TaskIo};
pub use policy::{setting, Determinism, Policy};
pub use sandbox::{
    EngineOptions, LoadedModule, ModuleSource, Runtime, SqlRequest, TaskOutput, TaskPartitioner,
    TaskReport, TaskRequest, TaskState, TaskStep,
};
pub use sparkwasm_abi::{
    Binding, FunctionDescriptor, FunctionKind, InputEncoding, OutputSpec, Side, StepKind, TaskInfo,
};
