//! The host calls, behind one safe API for every target.
//!
//! On wasm32 they are the `sparkwasm` imports (see `ffi`). Everywhere else an in-process test
//! host stands in, holding queued input records, captured output batches, reported errors,
//! broadcast bytes and captured accumulator updates per thread, so the whole task path
//! (decode, steps, encode, errors, panics, broadcasts, accumulators) runs in native
//! `cargo test` with the same semantics as the real host.

#[cfg(target_arch = "wasm32")]
pub(crate) use crate::ffi::{
    accumulator_update, broadcast_read, input_next, input_next_into, output_write, report_error,
};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::{
    accumulator_update, broadcast_read, input_next, input_next_into, output_write, report_error,
};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native {
    use std::cell::RefCell;
    use std::collections::{HashMap, VecDeque};

    use sparkwasm_abi::BROADCAST_UNKNOWN;

    /// The state of the in-process test host of the current thread.
    #[derive(Default)]
    pub(crate) struct TestHost {
        /// Input records still to hand out, each with its 4-byte length header.
        pub(crate) input: VecDeque<Vec<u8>>,
        /// When set, batches are cut at this many bytes (at least one record per batch), to
        /// exercise the guest's handling of many batches.
        pub(crate) max_batch: Option<usize>,
        /// Output batches received, in order.
        pub(crate) output: Vec<Vec<u8>>,
        /// Error messages received.
        pub(crate) errors: Vec<String>,
        /// When set, `output_write` refuses every batch with this code.
        pub(crate) refuse_output: Option<i32>,
        /// Largest buffer the guest offered to `input_next`.
        pub(crate) largest_input_buffer: usize,
        /// Broadcast bytes (pickles) by broadcast id.
        pub(crate) broadcasts: HashMap<i64, Vec<u8>>,
        /// How many times each broadcast was read.
        pub(crate) broadcast_reads: HashMap<i64, usize>,
        /// Accumulator updates received (pickles of `(id, value)`), in order.
        pub(crate) accumulator_updates: Vec<Vec<u8>>,
        /// When set, `accumulator_update` refuses every update with this code.
        pub(crate) refuse_accumulator: Option<i32>,
        /// Whole batches (columnar, SQL tasks) still to hand out, one per `input_next`.
        pub(crate) batches: VecDeque<Vec<u8>>,
        /// When set, `output_write` counts batches without keeping them (so a test can
        /// count the guest's allocations alone).
        pub(crate) discard_output: bool,
        /// Output batches received (kept or not).
        pub(crate) output_batches: usize,
    }

    thread_local! {
        static HOST: RefCell<TestHost> = RefCell::new(TestHost::default());
    }

    /// Runs `f` on this thread's test host.
    pub(crate) fn with<R>(f: impl FnOnce(&mut TestHost) -> R) -> R {
        HOST.with_borrow_mut(f)
    }

    /// Empties `buf` and copies as many whole queued records as fit in its capacity; 0 when
    /// none are left; `-n` when the next record alone needs `n` bytes.
    pub(crate) fn input_next(buf: &mut Vec<u8>) -> i64 {
        buf.clear();
        let capacity = buf.capacity();
        with(|host| {
            host.largest_input_buffer = host.largest_input_buffer.max(capacity);
            let limit = host.max_batch.unwrap_or(usize::MAX).min(capacity);
            let mut written = 0;
            while let Some(record) = host.input.front() {
                let end = written + record.len();
                let fits = end <= capacity && (written == 0 || end <= limit);
                if !fits {
                    break;
                }
                buf.extend_from_slice(record);
                written = end;
                host.input.pop_front();
            }
            match (written, host.input.front()) {
                (0, Some(record)) => -i64::try_from(record.len()).unwrap_or(i64::MAX),
                _ => i64::try_from(written).unwrap_or(i64::MAX),
            }
        })
    }

    /// Copies the next whole queued batch into `buf`: its length, 0 when none are left, `-n`
    /// when it needs `n` bytes (columnar input: one batch per call, no record framing).
    pub(crate) fn input_next_into(buf: &mut [u8]) -> i64 {
        with(|host| {
            host.largest_input_buffer = host.largest_input_buffer.max(buf.len());
            let Some(batch) = host.batches.front() else {
                return 0;
            };
            let len = i64::try_from(batch.len()).unwrap_or(i64::MAX);
            match buf.get_mut(..batch.len()) {
                Some(dest) => {
                    dest.copy_from_slice(batch);
                    host.batches.pop_front();
                    len
                }
                None => -len,
            }
        })
    }

    /// Captures an output batch, or refuses it when the test asked for that.
    pub(crate) fn output_write(batch: &[u8]) -> i32 {
        with(|host| match host.refuse_output {
            Some(code) => code,
            None => {
                host.output_batches += 1;
                if !host.discard_output {
                    host.output.push(batch.to_vec());
                }
                0
            }
        })
    }

    /// Copies broadcast `id` into `buf`: its length, `-n` when `buf` is too small, or
    /// `BROADCAST_UNKNOWN`.
    pub(crate) fn broadcast_read(id: i64, buf: &mut [u8]) -> i64 {
        with(|host| {
            let Some(bytes) = host.broadcasts.get(&id) else {
                return BROADCAST_UNKNOWN;
            };
            let len = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
            match buf.get_mut(..bytes.len()) {
                Some(dest) => {
                    dest.copy_from_slice(bytes);
                    *host.broadcast_reads.entry(id).or_default() += 1;
                    len
                }
                None => -len,
            }
        })
    }

    /// Captures an accumulator update, or refuses it when the test asked for that.
    pub(crate) fn accumulator_update(update: &[u8]) -> i32 {
        with(|host| match host.refuse_accumulator {
            Some(code) => code,
            None => {
                host.accumulator_updates.push(update.to_vec());
                0
            }
        })
    }

    /// Captures an error message.
    pub(crate) fn report_error(message: &str) {
        // The panic hook may run while the host is borrowed (a panic inside a host call is an
        // SDK bug); never panic again from here.
        let _ = HOST.try_with(|host| {
            if let Ok(mut host) = host.try_borrow_mut() {
                host.errors.push(message.to_owned());
            }
        });
    }
}
