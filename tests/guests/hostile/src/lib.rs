//! Test fixture guest for the hostile-guest suite (`tests/tests/hostile.rs`): functions
//! written the way a malicious or broken tenant would write them, built from source with the
//! real SDK so the suite attacks the sandbox through the same path a real module takes.
//!
//! Two families:
//!
//! - **Probes** try to reach something the sandbox must hide (host files, the executor's
//!   working directory and environment, sockets, writes to the SparkFiles grant). They never
//!   fail: they return, as a `String`, exactly what the sandbox let them observe
//!   (`"ok: ..."` or `"err <io::ErrorKind>: ..."`), so the test can assert that nothing was
//!   seen — a probe that panicked instead would hide what it saw.
//! - **Attacks** try to exhaust or break the worker (spin, recurse, allocate, emit without
//!   end, one enormous record, panic inside `Drop`, abort halfway through a batch). The test
//!   asserts the typed error each one must end in.
//!
//! `double` is the well-behaved function the suite runs after every attack, on the same
//! runtime, to show the worker still serves.

use std::fmt::Debug;
use std::hint::black_box;

use sparkwasm::Bytes;

// ---- the good task ----

/// `x * 2`: the task that must still succeed after every attack.
#[sparkwasm::map]
fn double(x: i64) -> i64 {
    x * 2
}

// ---- probes: what can the guest see? ----

/// What an I/O call gave the guest: `"ok: <value>"` or `"err <kind>: <message>"`.
fn observed<T: Debug>(result: std::io::Result<T>) -> String {
    match result {
        Ok(value) => format!("ok: {value:?}"),
        Err(err) => format!("err {:?}: {err}", err.kind()),
    }
}

/// Tries to read the file at `path` (absolute, relative, through `..` or a symlink): its
/// content if the sandbox leaks it.
#[sparkwasm::map]
fn read_file(path: String) -> String {
    observed(std::fs::read(&path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

/// Tries to list the directory at `path`: the names of its entries if the sandbox shows it.
#[sparkwasm::map]
fn list_dir(path: String) -> String {
    observed(std::fs::read_dir(&path).and_then(|entries| {
        entries
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<Vec<String>>>()
    }))
}

/// Tries to create or truncate the file at `path` and write to it.
#[sparkwasm::map]
fn write_file(path: String) -> String {
    observed(std::fs::write(&path, b"written by a guest"))
}

/// Tries every other way of changing the directory holding the file at `path`: appending to
/// it, making a directory next to it, renaming it, hard-linking it and deleting it. One
/// `name=outcome` per attempt, `; `-separated.
#[sparkwasm::map]
fn mutate_file(path: String) -> String {
    let append = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map(|_| ());
    let mkdir = std::fs::create_dir(format!("{path}.dir"));
    let rename = std::fs::rename(&path, format!("{path}.moved"));
    let link = std::fs::hard_link(&path, format!("{path}.link"));
    let remove = std::fs::remove_file(&path);
    format!(
        "append={}; mkdir={}; rename={}; link={}; remove={}",
        observed(append),
        observed(mkdir),
        observed(rename),
        observed(link),
        observed(remove)
    )
}

/// Reads the whole environment, the arguments and, by name, Spark's auth secret
/// `PYTHON_WORKER_FACTORY_SECRET` (which the executor's worker process holds), whatever the
/// input.
#[sparkwasm::map]
fn environment(_ignored: String) -> String {
    let vars: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let secret = std::env::var_os("PYTHON_WORKER_FACTORY_SECRET");
    format!("vars={vars:?}; args={args:?}; secret={secret:?}")
}

/// Tries to carry state from one task to the next: adds its input to a global and returns
/// the total. A fresh instance per task means every task starts from zero.
#[sparkwasm::map]
fn remember(x: i64) -> i64 {
    static TOTAL: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    TOTAL.fetch_add(x, std::sync::atomic::Ordering::Relaxed) + x
}

/// What the guest's clock and random source say: microseconds since the Unix epoch, and a
/// hash keyed by std's `RandomState` (seeded from WASI `random_get` once per instance).
#[sparkwasm::map]
fn entropy(_ignored: String) -> String {
    use std::hash::BuildHasher;
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    let random = std::collections::hash_map::RandomState::new().hash_one(42u64);
    format!("{micros} {random}")
}

/// Looks for the executor's working directory: what `current_dir` says, what listing `.`
/// shows, and whether `name` (a file the test knows is in the host's working directory) can
/// be read by its relative path.
#[sparkwasm::map]
fn working_dir(name: String) -> String {
    let cwd = observed(std::env::current_dir());
    let listing = observed(std::fs::read_dir(".").and_then(|entries| {
        entries
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<Vec<String>>>()
    }));
    let read = observed(std::fs::read(&name).map(|bytes| bytes.len()));
    format!("cwd={cwd}; list .={listing}; read {name}={read}")
}

/// Tries the network: a TCP connection to `addr`, a UDP socket and a TCP listener.
#[sparkwasm::map]
fn connect(addr: String) -> String {
    let tcp = std::net::TcpStream::connect(&addr).map(|_| ());
    let udp = std::net::UdpSocket::bind("0.0.0.0:0").map(|_| ());
    let listen = std::net::TcpListener::bind("127.0.0.1:0").map(|_| ());
    format!(
        "tcp={}; udp={}; listen={}",
        observed(tcp),
        observed(udp),
        observed(listen)
    )
}

// ---- attacks: exhaust or break the worker ----

/// Never returns: counts forever, opaquely, so the loop cannot be optimised away.
#[sparkwasm::map]
fn spin(x: i64) -> i64 {
    let mut n = x;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Recurses `depth` levels (pass `i64::MAX` to recurse until the stack gives out).
#[sparkwasm::map]
fn recurse(depth: i64) -> i64 {
    i64::from_ne_bytes(nested(depth.unsigned_abs()).to_ne_bytes())
}

/// One level of [`recurse`]: the result of the call below is combined by two different
/// operations, so the compiler can neither turn it into a loop nor drop it. No local has its
/// address taken, so the recursion uses the wasm (native) stack, not the shadow stack in
/// linear memory.
#[inline(never)]
fn nested(n: u64) -> u64 {
    if n == 0 {
        return 1;
    }
    nested(n - 1).wrapping_mul(n) ^ n.rotate_left(7)
}

/// Allocates `mib` MiB blocks, fills them (so the pages are really touched) and keeps them,
/// forever: a heap that only grows.
#[sparkwasm::map]
fn hoard(mib: i64) -> i64 {
    let block = usize::try_from(mib).unwrap_or(1).max(1) << 20;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        kept.push(black_box(vec![0xa5u8; block]));
    }
}

/// Emits `x` again and again, without end: output that never stops.
#[sparkwasm::flat_map]
fn emit_forever(x: i64) -> impl Iterator<Item = i64> {
    std::iter::repeat(x)
}

/// One output record of `mib` MiB: a single enormous element.
#[sparkwasm::map]
fn giant_record(mib: i64) -> Bytes {
    let len = usize::try_from(mib).unwrap_or(0) << 20;
    Bytes::from(vec![b'x'; len])
}

/// A value whose destructor panics.
struct PanicsOnDrop(i64);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("panic in Drop of {}", self.0);
    }
}

/// Returns `x`, but for `x == 3` a value whose destructor panics goes out of scope on the
/// way out: a panic inside `Drop` on an ordinary return.
#[sparkwasm::map]
fn panic_in_drop(x: i64) -> i64 {
    // Built only for 3: every value of `PanicsOnDrop` panics when dropped.
    let guard = if x == 3 { Some(PanicsOnDrop(x)) } else { None };
    drop(black_box(guard));
    x
}

/// Returns `x`, but for `x == 3` panics while a value whose destructor panics too is alive:
/// with unwinding that would be a panic inside `Drop` during unwinding (a double panic);
/// wasm guests abort on the first panic, so only its message can reach the host.
#[sparkwasm::map]
fn panic_during_unwind(x: i64) -> i64 {
    let _guard = if x == 3 { Some(PanicsOnDrop(x)) } else { None };
    if black_box(x) == 3 {
        panic!("first panic at {x}");
    }
    x
}

/// A 1000-character string for each `x`, until `x == 1000`, where the guest aborts (a bare
/// trap: no panic, no message) halfway through the task, after several output batches have
/// already been handed to the host.
#[sparkwasm::map]
fn abort_at_1000(x: i64) -> String {
    if x == 1000 {
        std::process::abort();
    }
    format!("{x:0>1000}")
}
