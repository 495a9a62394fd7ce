//! The sparkwasm sandbox: runs functions of sparkwasm guest modules in wasmtime, a fresh
//! instance per task, under memory, stack, deadline and output limits, with nothing of the
//! host granted. It knows nothing of Spark: the host crate feeds it batches of records
//! through [`TaskIo`] and reads typed [`Error`]s back.
//!
//! ```text
//! Runtime::new(limits) ──load(bytes, digest)──▶ LoadedModule ──run_task(request, io)──▶ TaskReport
//! ```

mod capture;
mod error;
mod inspect;
mod io;
mod limits;
mod sandbox;

pub use error::{Error, ErrorKind};
pub use inspect::{digest_hex, inspect, ModuleInfo};
pub use io::{InputBatch, TaskIo};
pub use limits::Limits;
pub use sandbox::{LoadedModule, Runtime, TaskReport, TaskRequest, TaskState, TaskStep};
pub use sparkwasm_abi::{
    FunctionDescriptor, FunctionKind, InputEncoding, OutputSpec, Side, StepKind,
};
