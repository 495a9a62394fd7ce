//! The raw ABI surface of a sparkwasm module: its exports, its host imports and the handle
//! check. With `sql::bytes` (the byte views of SQL columns) it is the only file of the SDK
//! with `unsafe`; every shim here forwards to a safe function that returns `Result`.
//!
//! Names and signatures are fixed by `sparkwasm_abi` (see its crate docs for the contract).
//! On wasm32 pointers and `usize` are 32 bits wide, so the `u32` addresses of the ABI are the
//! guest's own pointers.
#![allow(unsafe_code)]

use crate::task;

/// Export `sparkwasm_abi_version() -> u32`: the ABI version the module was built against.
#[no_mangle]
pub(crate) extern "C" fn sparkwasm_abi_version() -> u32 {
    sparkwasm_abi::ABI_VERSION
}

/// Export `sparkwasm_alloc(size) -> u32`: a buffer of `size` bytes for the host to write the
/// task spec into, or 0 when it cannot be allocated.
#[no_mangle]
pub(crate) extern "C" fn sparkwasm_alloc(size: u32) -> u32 {
    task::allocate(size).unwrap_or(0)
}

/// Export `sparkwasm_run_task(ptr, len) -> i32`: runs the task whose postcard-encoded spec the
/// host wrote at `ptr` (a buffer from `sparkwasm_alloc`, whose ownership passes back to the
/// guest). Returns `STATUS_OK`, or `STATUS_ERROR` after reporting the error.
#[no_mangle]
pub(crate) extern "C" fn sparkwasm_run_task(ptr: u32, len: u32) -> i32 {
    task::run_task_at(ptr, len)
}

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "sparkwasm")]
    extern "C" {
        /// `input_next(buf_ptr, buf_cap) -> i64`; see `sparkwasm_abi::IMPORT_INPUT_NEXT`.
        pub(super) fn input_next(buf: *mut u8, cap: u32) -> i64;
        /// `output_write(ptr, len) -> i32`; see `sparkwasm_abi::IMPORT_OUTPUT_WRITE`.
        pub(super) fn output_write(batch: *const u8, len: u32) -> i32;
        /// `report_error(ptr, len)`; see `sparkwasm_abi::IMPORT_REPORT_ERROR`.
        pub(super) fn report_error(message: *const u8, len: u32);
        /// `broadcast_read(id, buf_ptr, buf_cap) -> i64`; see
        /// `sparkwasm_abi::IMPORT_BROADCAST_READ`.
        pub(super) fn broadcast_read(id: i64, buf: *mut u8, cap: u32) -> i64;
        /// `accumulator_update(ptr, len) -> i32`; see
        /// `sparkwasm_abi::IMPORT_ACCUMULATOR_UPDATE`.
        pub(super) fn accumulator_update(update: *const u8, len: u32) -> i32;
    }
}

/// Asks the host for the next input batch; see `sparkwasm_abi::IMPORT_INPUT_NEXT`.
///
/// `buf` is emptied and its capacity offered; on success it holds the batch. The capacity is
/// offered uninitialised: zero-filling it first cost a page fault per 4 KiB of a fresh
/// instance's buffer on every task, where the host writes only the pages a batch needs.
#[cfg(target_arch = "wasm32")]
pub(crate) fn input_next(buf: &mut Vec<u8>) -> i64 {
    buf.clear();
    // A buffer above 4 GiB cannot exist on wasm32; offering less than its capacity is harmless.
    let cap = u32::try_from(buf.capacity()).unwrap_or(u32::MAX);
    // SAFETY: the host writes at most `cap` bytes starting at the spare capacity, which is
    // ours alone for the whole call (no Rust reference to it exists) and at least `cap`
    // bytes long.
    let written = unsafe { imports::input_next(buf.spare_capacity_mut().as_mut_ptr().cast(), cap) };
    if let Ok(len) = usize::try_from(written) {
        if len <= buf.capacity() {
            // SAFETY: the host reports having written `len` bytes from the start of the
            // spare capacity (the ABI's contract), within the capacity as just checked.
            unsafe { buf.set_len(len) };
        }
    }
    written
}

/// Asks the host for the next columnar batch (SQL tasks), written into `buf` (whose start the
/// caller keeps 8-byte aligned); see `sparkwasm_abi::IMPORT_INPUT_NEXT`. Returns the host's
/// answer: the batch length, 0 at the end, or `-n` when `buf` needs `n` bytes.
#[cfg(target_arch = "wasm32")]
pub(crate) fn input_next_into(buf: &mut [u8]) -> i64 {
    // A buffer above 4 GiB cannot exist on wasm32; offering less than its length is harmless.
    let cap = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    // SAFETY: the host writes at most `cap` bytes starting at `buf`, a live, exclusively
    // borrowed, initialized slice of at least `cap` bytes for the whole call, so no Rust
    // reference observes the write. Any byte pattern is a valid `u8`.
    unsafe { imports::input_next(buf.as_mut_ptr(), cap) }
}

/// Hands the host a batch of complete output records; see `sparkwasm_abi::IMPORT_OUTPUT_WRITE`.
#[cfg(target_arch = "wasm32")]
pub(crate) fn output_write(batch: &[u8]) -> i32 {
    let Ok(len) = u32::try_from(batch.len()) else {
        return -1;
    };
    // SAFETY: the host only reads `len` bytes from `batch`, a live slice of exactly that
    // length that is not mutated during the call.
    unsafe { imports::output_write(batch.as_ptr(), len) }
}

/// Sends the host the error message of the current task; see
/// `sparkwasm_abi::IMPORT_REPORT_ERROR`.
#[cfg(target_arch = "wasm32")]
pub(crate) fn report_error(message: &str) {
    let bytes = message.as_bytes();
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    // SAFETY: the host only reads `len` (at most `bytes.len()`) bytes from `bytes`, a live
    // UTF-8 slice that is not mutated during the call.
    unsafe { imports::report_error(bytes.as_ptr(), len) }
}

/// Copies broadcast `id` into `buf`; see `sparkwasm_abi::IMPORT_BROADCAST_READ`. Only code
/// that reads broadcasts calls it, so modules that never do keep the import out.
#[cfg(target_arch = "wasm32")]
pub(crate) fn broadcast_read(id: i64, buf: &mut [u8]) -> i64 {
    // A buffer above 4 GiB cannot exist on wasm32; offering less than its length is harmless.
    let cap = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    // SAFETY: the host writes at most `cap` bytes starting at `buf`, a live, exclusively
    // borrowed slice of at least `cap` bytes for the whole call, so no Rust reference
    // observes the write. Any byte pattern is a valid `u8`.
    unsafe { imports::broadcast_read(id, buf.as_mut_ptr(), cap) }
}

/// Sends one accumulator update; see `sparkwasm_abi::IMPORT_ACCUMULATOR_UPDATE`. Only code
/// instantiated for an accumulator type calls it, so modules without accumulators keep the
/// import out.
#[cfg(target_arch = "wasm32")]
pub(crate) fn accumulator_update(update: &[u8]) -> i32 {
    let Ok(len) = u32::try_from(update.len()) else {
        return -1;
    };
    // SAFETY: the host only reads `len` bytes from `update`, a live slice of exactly that
    // length that is not mutated during the call.
    unsafe { imports::accumulator_update(update.as_ptr(), len) }
}

/// Turns a handle from the host back into the function registration at that address, or
/// `None` when the address cannot hold one.
#[cfg(target_arch = "wasm32")]
pub(crate) fn resolve_handle(handle: u32) -> Option<&'static crate::element::Function> {
    use crate::element::{Function, FUNCTION_MAGIC};

    const WASM_PAGE: usize = 65536;
    let address = usize::try_from(handle).ok()?;
    let memory_end = core::arch::wasm32::memory_size(0).checked_mul(WASM_PAGE)?;
    let in_bounds = address
        .checked_add(core::mem::size_of::<Function>())
        .is_some_and(|end| end <= memory_end);
    if address == 0 || address % core::mem::align_of::<Function>() != 0 || !in_bounds {
        return None;
    }
    let function: *const Function = core::ptr::with_exposed_provenance(address);
    // SAFETY: `address` is non-null, aligned for `Function` and the whole `Function` lies
    // inside linear memory, so reading its `magic` field (a plain u64, valid for any bits)
    // is a read of initialized, in-bounds memory. Handles are addresses of `'static`
    // `Function` statics (see `element::handle_of`); the volatile read keeps the compiler from
    // assuming anything about memory it did not see written.
    let magic = unsafe { core::ptr::addr_of!((*function).magic).read_volatile() };
    if magic != FUNCTION_MAGIC {
        return None;
    }
    // SAFETY: the magic marks a `Function` written by `Function::new` into a `static`, which
    // lives for the whole instance and is never mutated. A host that forges the magic in
    // other memory can only make its own sandboxed guest call wrong table entries, which wasm
    // traps on.
    Some(unsafe { &*function })
}
