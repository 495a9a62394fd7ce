//! Running one task: the spec buffer, the version check, the plan (see `plan`) or the SQL loop
//! (see `sql`), the execution, the accumulator updates of a successful task, and the
//! task-scoped state the panic hook reads.
//!
//! Task-scoped state is thread-local. On wasm32 (no threads) that is a plain static; natively
//! it keeps parallel unit tests apart.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

use sparkwasm_abi::{TaskSpec, ABI_VERSION, STATUS_ERROR, STATUS_OK};

use crate::error::Error;
use crate::output::Output;
use crate::{context, host, plan, sql};

thread_local! {
    /// The author function currently running, for the panic message.
    static CURRENT: Cell<Option<&'static str>> = const { Cell::new(None) };
    /// The first error of the running task that surfaced inside an iterator (which can only
    /// end the stream, not return it).
    static FAILURE: RefCell<Option<Error>> = const { RefCell::new(None) };
    /// Whether a task is running, so the panic hook reports to the host only then.
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    /// Buffers handed out by `sparkwasm_alloc` and not yet taken back by `sparkwasm_run_task`.
    static ALLOCATIONS: RefCell<Vec<(u32, Box<[u8]>)>> = const { RefCell::new(Vec::new()) };
}

/// Marks `name` as the running function; returns the previous one for [`leave`].
#[inline]
pub(crate) fn enter(name: &'static str) -> Option<&'static str> {
    CURRENT.replace(Some(name))
}

/// Restores the running function saved by [`enter`].
#[inline]
pub(crate) fn leave(previous: Option<&'static str>) {
    CURRENT.set(previous);
}

/// Records a task failure found inside an iterator; the first one wins.
pub(crate) fn fail(err: Error) {
    FAILURE.with_borrow_mut(|failure| {
        failure.get_or_insert(err);
    });
}

/// Takes the recorded failure, if any.
pub(crate) fn take_failure() -> Option<Error> {
    FAILURE.take()
}

/// Clears the task-scoped state.
pub(crate) fn reset() {
    CURRENT.set(None);
    FAILURE.take();
    context::end();
}

/// `sparkwasm_alloc`: a zeroed buffer of `size` bytes, kept until `sparkwasm_run_task` takes
/// it back. Owning it in a table (rather than leaking a raw pointer) means taking it back is
/// a lookup, not an `unsafe` reconstruction. `None` when it cannot be allocated.
pub(crate) fn allocate(size: u32) -> Option<u32> {
    let size = usize::try_from(size).ok()?.max(1);
    let mut buf = Vec::new();
    buf.try_reserve_exact(size).ok()?;
    buf.resize(size, 0);
    let buf = buf.into_boxed_slice();
    let address = allocation_address(&buf)?;
    ALLOCATIONS.with_borrow_mut(|allocations| allocations.push((address, buf)));
    Some(address)
}

/// The address the host writes to: the buffer's own address on wasm32.
#[cfg(target_arch = "wasm32")]
fn allocation_address(buf: &[u8]) -> Option<u32> {
    u32::try_from(buf.as_ptr().expose_provenance()).ok()
}

/// Natively addresses do not fit the ABI's `u32`, and the test host never writes through
/// them: a counter stands in.
#[cfg(not(target_arch = "wasm32"))]
fn allocation_address(_buf: &[u8]) -> Option<u32> {
    thread_local!(static NEXT: Cell<u32> = const { Cell::new(1) });
    let address = NEXT.get();
    NEXT.set(address.checked_add(1)?);
    Some(address)
}

/// Takes back the buffer at `address` from the allocation table.
fn take_allocation(address: u32) -> Option<Box<[u8]>> {
    ALLOCATIONS.with_borrow_mut(|allocations| {
        let at = allocations
            .iter()
            .position(|(known, _)| *known == address)?;
        Some(allocations.swap_remove(at).1)
    })
}

/// `sparkwasm_run_task`: runs the task whose spec the host wrote into the buffer at `address`.
pub(crate) fn run_task_at(address: u32, len: u32) -> i32 {
    let Some(buf) = take_allocation(address) else {
        host::report_error(&format!(
            "sparkwasm_run_task: no buffer from sparkwasm_alloc at address {address}"
        ));
        return STATUS_ERROR;
    };
    match usize::try_from(len).ok().and_then(|len| buf.get(..len)) {
        Some(spec) => run_task(spec),
        None => {
            host::report_error(&format!(
                "sparkwasm_run_task: spec length {len} exceeds its {}-byte buffer",
                buf.len()
            ));
            STATUS_ERROR
        }
    }
}

/// Runs one task from its postcard-encoded spec; returns the ABI status after reporting any
/// error to the host.
pub(crate) fn run_task(spec: &[u8]) -> i32 {
    install_panic_hook();
    reset();
    IN_TASK.set(true);
    // With `panic = abort` (wasm) a panic never returns here: the hook has reported it and
    // the instance traps. Natively the unwind is caught so tests see the same outcome.
    let result = panic::catch_unwind(AssertUnwindSafe(|| execute(spec)));
    IN_TASK.set(false);
    reset();
    match result {
        Ok(Ok(())) => STATUS_OK,
        Ok(Err(err)) => {
            host::report_error(&err.to_string());
            STATUS_ERROR
        }
        Err(_) => STATUS_ERROR,
    }
}

fn execute(spec: &[u8]) -> Result<(), Error> {
    // The version leads the spec: check it first, so a host speaking another version gets
    // that message rather than a decoding error about fields it does not know.
    let (version, _) =
        postcard::take_from_bytes::<u32>(spec).map_err(|err| Error::Spec(err.to_string()))?;
    if version != ABI_VERSION {
        return Err(Error::AbiVersion {
            host: version,
            module: ABI_VERSION,
        });
    }
    let spec: TaskSpec = postcard::from_bytes(spec).map_err(|err| Error::Spec(err.to_string()))?;
    context::begin(&spec);
    let result = run_plan(&spec);
    context::end();
    result
}

fn run_plan(spec: &TaskSpec) -> Result<(), Error> {
    if let Some(sql) = &spec.sql {
        sql::run(spec, sql)?;
        return context::send_accumulators();
    }
    let plan = plan::build(spec)?;
    let mut out = Output::new();
    let written = plan.run(&mut out);
    // An error inside the stream (bad input, an element a step cannot take) ended it early:
    // it, not the truncated output, is the outcome.
    if let Some(failure) = take_failure() {
        return Err(failure);
    }
    written?;
    out.flush()?;
    // Only a task that handed over all its output counts its accumulators.
    context::send_accumulators()
}

/// Installs, once, the hook that reports panics during a task to the host.
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let in_task = IN_TASK.try_with(Cell::get).unwrap_or(false);
            if in_task {
                host::report_error(&panic_message(info));
            }
            // Natively keep the usual stderr report (test output); on wasm the report above
            // is the message, and stderr would only repeat it.
            if !in_task || cfg!(not(target_arch = "wasm32")) {
                previous(info);
            }
        }));
    });
}

/// The task error of a panic: ``function `NAME` panicked at FILE:LINE: MESSAGE``.
fn panic_message(info: &PanicHookInfo<'_>) -> String {
    let location = match info.location() {
        Some(location) => format!("{}:{}", location.file(), location.line()),
        None => "an unknown location".to_owned(),
    };
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic payload that is not a string)");
    match CURRENT.try_with(Cell::get).ok().flatten() {
        Some(name) => format!("function `{name}` panicked at {location}: {message}"),
        None => format!("the sparkwasm guest panicked at {location}: {message}"),
    }
}

/// Writes `bytes` into the start of an allocation, as the host does.
#[cfg(test)]
pub(crate) fn write_allocation_for_test(address: u32, bytes: &[u8]) {
    ALLOCATIONS.with_borrow_mut(|allocations| {
        let (_, buf) = allocations
            .iter_mut()
            .find(|(known, _)| *known == address)
            .expect("allocated");
        buf[..bytes.len()].copy_from_slice(bytes);
    });
}
