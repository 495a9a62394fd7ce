//! The hostile-guest suite: guests that try to escape the sandbox (host files, the executor's
//! working directory and environment, sockets, writes to the SparkFiles grant) or to exhaust
//! or break the worker (spinning, recursion, memory, output, lies to the ABI, panics and
//! traps, tampered, malformed, mis-linked and very large modules).
//!
//! Every case runs on the one `Runtime` of the test process ([`sandbox`]), as every task of
//! a worker process does, and asserts three things: (a) the exact `ErrorKind` the attempt
//! ends in — or, for "can it see X" probes, that the guest observed nothing; (b) that the
//! failing task (or refused module) ended within [`BOUND`], a bounded-time property, not a
//! benchmark; (c) that a good task then succeeds on the same runtime
//! ([`Sandbox::assert_still_serves`]).
//!
//! Rust attackers live in `tests/guests/hostile` (built from source by `build.rs`); attacks
//! the SDK would never let a Rust guest make (lying exports, bad pointers, odd imports,
//! start functions) are hand-written WAT, built here by [`Wat`].

use std::io::ErrorKind as IoErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_pickle::{DeOptions, SerOptions};
use sparkwasm_abi::{Binding, InputEncoding, Side, StepKind, TaskInfo, ABI_VERSION};
use sparkwasm_runtime::{
    digest_hex, Determinism, Error, ErrorKind, InputBatch, LoadedModule, Policy, Runtime, TaskIo,
    TaskOutput, TaskReport, TaskRequest, TaskStep,
};
use sparkwasm_tests::module_bytes;

/// The hostile guest, built from `tests/guests/hostile` by `build.rs`.
const HOSTILE_GUEST: &str = env!("SPARKWASM_FIXTURE_HOSTILE_GUEST");

/// Every failing task, and every refused module, must end within this. Generous against the
/// deadline below so a loaded CI machine does not flake, yet far below "hung".
const BOUND: Duration = Duration::from_secs(5);

/// The suite's task deadline: short, so runaway guests end fast.
const DEADLINE: Duration = Duration::from_secs(1);

/// The suite's guest memory cap: room for the SDK and a 64 MiB data segment, small enough
/// that exhausting it is quick.
const MEMORY_CAP: u64 = 128 << 20;

/// The suite's module size cap: above the 64 MiB module it must handle.
const MODULE_CAP: u64 = 96 << 20;

/// A policy small enough that every exhaustion case ends quickly. The runtime is created
/// with it as its ceilings, and tasks run under it.
fn policy() -> Policy {
    Policy::default()
        .with_memory_bytes(MEMORY_CAP)
        .with_task_deadline(DEADLINE)
        .with_max_wasm_stack(512 << 10)
        .with_output_bytes_per_task(16 << 20)
        .with_output_bytes_per_batch(4 << 20)
        .with_output_bytes_per_record(2 << 20)
        .with_module_bytes(MODULE_CAP)
}

// ---- the host side: one in-memory TaskIo for Rust and WAT guests alike ----

/// Input records served from memory (as many whole records as fit the guest's buffer, at
/// most 64 per batch), output collected, no broadcasts (the attacks on `broadcast_read`
/// never get past its bounds check).
#[derive(Default)]
struct MemoryIo {
    records: Vec<Option<Vec<u8>>>,
    next: usize,
    output: Vec<u8>,
}

impl MemoryIo {
    fn new(records: Vec<Option<Vec<u8>>>) -> Self {
        MemoryIo {
            records,
            ..MemoryIo::default()
        }
    }

    /// One pickled batch (a Python list) per 100 ints, as PySpark batches them.
    fn ints(values: impl IntoIterator<Item = i64>) -> Self {
        let values: Vec<i64> = values.into_iter().collect();
        Self::new(
            values
                .chunks(100)
                .map(|c| Some(pickle(&c.to_vec())))
                .collect(),
        )
    }

    /// One UTF-8 record per string, as `textFile` sends them.
    fn lines(lines: &[&str]) -> Self {
        Self::new(lines.iter().map(|l| Some(l.as_bytes().to_vec())).collect())
    }

    /// The output records, split by their length headers (the runtime only lets whole,
    /// non-negative records through, so this must never fail).
    fn output_records(&self) -> Vec<Vec<u8>> {
        let mut rest = &self.output[..];
        let mut records = Vec::new();
        while !rest.is_empty() {
            let (header, tail) = rest.split_first_chunk::<4>().expect("a whole header");
            let len = usize::try_from(i32::from_be_bytes(*header)).expect("no negative length");
            records.push(tail[..len].to_vec());
            rest = &tail[len..];
        }
        records
    }

    /// The output as pickled lists of `T`, flattened.
    fn unpickled<T: serde::de::DeserializeOwned>(&self) -> Vec<T> {
        self.output_records()
            .iter()
            .flat_map(|r| serde_pickle::from_slice::<Vec<T>>(r, DeOptions::new()).unwrap())
            .collect()
    }
}

impl TaskIo for MemoryIo {
    fn next_input(&mut self, buf: &mut [u8]) -> std::io::Result<InputBatch> {
        let mut filled = 0;
        let mut taken = 0;
        while self.next < self.records.len() && taken < 64 {
            let record = &self.records[self.next];
            let needed = 4 + record.as_ref().map_or(0, Vec::len);
            if filled + needed > buf.len() {
                if filled == 0 {
                    return Ok(InputBatch::NeedCapacity(needed));
                }
                break;
            }
            match record {
                Some(bytes) => {
                    buf[filled..filled + 4]
                        .copy_from_slice(&i32::try_from(bytes.len()).unwrap().to_be_bytes());
                    buf[filled + 4..filled + needed].copy_from_slice(bytes);
                }
                None => buf[filled..filled + 4].copy_from_slice(&(-5i32).to_be_bytes()),
            }
            filled += needed;
            taken += 1;
            self.next += 1;
        }
        Ok(if filled == 0 {
            InputBatch::End
        } else {
            InputBatch::Filled(filled)
        })
    }

    fn write_output(&mut self, records: &[u8]) -> std::io::Result<()> {
        self.output.extend_from_slice(records);
        Ok(())
    }
}

fn pickle<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_pickle::to_vec(value, SerOptions::new()).unwrap()
}

// ---- tasks ----

/// A one-step task applying `function` (of `kind`) to records of `input`, pickled output.
fn task(kind: StepKind, function: &str, input: InputEncoding) -> TaskRequest {
    TaskRequest {
        info: TaskInfo::default(),
        input,
        source: Some((function.into(), Side::Input)),
        steps: vec![TaskStep {
            kind,
            functions: vec![function.into()],
            arg: None,
        }],
        output: TaskOutput::Pickle,
        args: vec![],
        broadcasts: vec![],
        accumulators: vec![],
        spark_files_dir: None,
        sql: None,
    }
}

/// `function` of the hostile guest as a map over pickled ints.
fn map_ints(function: &str) -> TaskRequest {
    task(StepKind::Map, function, InputEncoding::PickleBatch)
}

/// The task every WAT module runs: its map `f` over pickled ints.
fn wat_task() -> TaskRequest {
    map_ints("f")
}

/// What one task did, and how long it took.
struct Outcome {
    io: MemoryIo,
    result: Result<TaskReport, Error>,
    elapsed: Duration,
}

impl Outcome {
    /// Asserts the task failed with `kind` within [`BOUND`]; returns the error and the io.
    #[track_caller]
    fn fails_with(self, kind: ErrorKind) -> (Error, MemoryIo) {
        let err = match self.result {
            Ok(report) => panic!("expected {kind:?}, the task succeeded: {report:?}"),
            Err(err) => err,
        };
        assert_eq!(err.kind(), kind, "{err}");
        assert_within_bound(self.elapsed, &err);
        (err, self.io)
    }

    /// Asserts the task succeeded within [`BOUND`]; returns its io.
    #[track_caller]
    fn succeeds(self) -> MemoryIo {
        if let Err(err) = self.result {
            panic!("the task failed: {err}");
        }
        assert!(self.elapsed < BOUND, "took {:?}", self.elapsed);
        self.io
    }
}

#[track_caller]
fn assert_within_bound(elapsed: Duration, what: &dyn std::fmt::Display) {
    assert!(
        elapsed < BOUND,
        "took {elapsed:?}, more than {BOUND:?}, to end with: {what}"
    );
}

/// The runtime every test of this file shares, as every task of a worker process does, with
/// the hostile guest loaded; tests take turns. One per process on purpose: each `Runtime`
/// keeps its engine alive for the life of the process (its epoch ticker thread holds it),
/// with the engine's pooling reservations and memory mappings, so a process cannot create
/// one per test (after about thirty, `Runtime::new` fails: "failed to protect stack guard
/// page", the mapping count limit). Sharing it also makes the suite's point stronger: every
/// attack in this file hits the same runtime, and it still serves after each.
fn sandbox() -> MutexGuard<'static, Sandbox> {
    static SANDBOX: OnceLock<Mutex<Sandbox>> = OnceLock::new();
    SANDBOX
        .get_or_init(|| Mutex::new(Sandbox::new()))
        .lock()
        // A failed assertion in another test leaves the runtime as usable as before.
        .unwrap_or_else(PoisonError::into_inner)
}

/// One runtime, as in one worker process, with the hostile guest loaded.
struct Sandbox {
    runtime: Runtime<MemoryIo>,
    hostile: Arc<LoadedModule<MemoryIo>>,
}

impl Sandbox {
    fn new() -> Self {
        let mut runtime = Runtime::new(policy()).expect("the engine starts");
        let bytes = module_bytes(HOSTILE_GUEST);
        let hostile = runtime
            .load(&bytes, &digest_hex(&bytes))
            .expect("the hostile guest loads");
        Sandbox { runtime, hostile }
    }

    /// Runs `request` on the hostile guest.
    fn run(&self, request: &TaskRequest, io: MemoryIo) -> Outcome {
        self.run_on(&self.hostile, request, io)
    }

    fn run_on(
        &self,
        module: &LoadedModule<MemoryIo>,
        request: &TaskRequest,
        io: MemoryIo,
    ) -> Outcome {
        let started = Instant::now();
        let (io, result) = self.runtime.run_task(module, request, io);
        Outcome {
            io,
            result,
            elapsed: started.elapsed(),
        }
    }

    /// Loads `bytes` under their own digest; returns the outcome and how long it took.
    fn load(&mut self, bytes: &[u8]) -> (Result<Arc<LoadedModule<MemoryIo>>, Error>, Duration) {
        let started = Instant::now();
        let loaded = self.runtime.load(bytes, &digest_hex(bytes));
        (loaded, started.elapsed())
    }

    /// Asserts `bytes` are refused with `kind` within [`BOUND`]; returns the error.
    #[track_caller]
    fn refuses(&mut self, bytes: &[u8], kind: ErrorKind) -> Error {
        let (loaded, elapsed) = self.load(bytes);
        let err = loaded.err().expect("the module is refused");
        assert_eq!(err.kind(), kind, "{err}");
        assert_within_bound(elapsed, &err);
        err
    }

    /// Loads the WAT module (it must load) and runs [`wat_task`] with `io`.
    #[track_caller]
    fn run_wat(&mut self, wat: &Wat, io: MemoryIo) -> Outcome {
        self.run_wat_task(wat, &wat_task(), io)
    }

    #[track_caller]
    fn run_wat_task(&mut self, wat: &Wat, request: &TaskRequest, io: MemoryIo) -> Outcome {
        let (loaded, elapsed) = self.load(&wat.bytes());
        let module = loaded.unwrap_or_else(|e| panic!("the WAT module loads: {e}"));
        assert_within_bound(elapsed, &"loading");
        self.run_on(&module, request, io)
    }

    /// Runs the probe `function` on the single UTF-8 record `input`, with `spark_files`
    /// granted when given; returns what the guest observed.
    #[track_caller]
    fn probe(&self, function: &str, input: &str, spark_files: Option<&Path>) -> String {
        let mut request = task(StepKind::Map, function, InputEncoding::Utf8);
        request.spark_files_dir = spark_files.map(Path::to_path_buf);
        let io = self.run(&request, MemoryIo::lines(&[input])).succeeds();
        let mut observed: Vec<String> = io.unpickled();
        assert_eq!(observed.len(), 1, "one answer per probe");
        observed.remove(0)
    }

    /// The good task: `double` over a few ints gives the right answer, on this runtime,
    /// after whatever ran before.
    #[track_caller]
    fn assert_still_serves(&self) {
        let io = self
            .run(&map_ints("double"), MemoryIo::ints(1..=5))
            .succeeds();
        assert_eq!(io.unpickled::<i64>(), vec![2, 4, 6, 8, 10]);
    }
}

/// Asserts a probe observed an error, not content.
#[track_caller]
fn assert_denied(observed: &str) {
    assert!(observed.starts_with("err "), "the guest saw: {observed}");
}

// ---- WAT modules ----

/// A sparkwasm module in WAT: one map function `f` (handle 8) described in its
/// `sparkwasm.functions` section, every sparkwasm import and some WASI ones, and a helper
/// `$emit(ptr, n)` that writes the record header at `ptr - 4` and hands the record to the
/// host. Each field can be replaced to build a hostile variant. The spec is written at 1024
/// (where `sparkwasm_alloc` points); scratch memory starts at 0x8000.
struct Wat {
    /// Extra imports (they must precede every definition).
    imports: String,
    /// Extra module fields (functions, data, `start`).
    fields: String,
    /// The body of `sparkwasm_run_task(spec, len) -> status`.
    body: String,
    /// The memory's limits, in pages (`"1"`, `"1 2"`).
    memory: String,
    /// The ABI version in the descriptor section.
    descriptor_abi: u32,
    /// The whole `sparkwasm_abi_version` export.
    abi_export: String,
    /// The body of `sparkwasm_alloc(size) -> ptr`.
    alloc: String,
}

impl Wat {
    fn new(body: &str) -> Self {
        Wat {
            imports: String::new(),
            fields: String::new(),
            body: body.to_owned(),
            memory: "1".into(),
            descriptor_abi: ABI_VERSION,
            abi_export: format!(
                r#"(func (export "sparkwasm_abi_version") (result i32) i32.const {ABI_VERSION})"#
            ),
            alloc: "i32.const 1024".into(),
        }
    }

    fn text(&self) -> String {
        let descriptor = format!(
            r#"{{"abi_version":{},"name":"f","kind":"map","input":"i64","output":"i64"}}"#,
            self.descriptor_abi
        );
        let mut section = u32::try_from(descriptor.len())
            .unwrap()
            .to_le_bytes()
            .to_vec();
        section.extend_from_slice(descriptor.as_bytes());
        let escaped: String = section.iter().map(|b| format!("\\{b:02x}")).collect();
        let Wat {
            imports,
            fields,
            body,
            memory,
            abi_export,
            alloc,
            ..
        } = self;
        format!(
            r#"(module
            (import "sparkwasm" "input_next" (func $input_next (param i32 i32) (result i64)))
            (import "sparkwasm" "output_write" (func $output (param i32 i32) (result i32)))
            (import "sparkwasm" "report_error" (func $report_error (param i32 i32)))
            (import "sparkwasm" "broadcast_read" (func $broadcast_read (param i64 i32 i32) (result i64)))
            (import "sparkwasm" "accumulator_update" (func $accumulator_update (param i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "sock_send" (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
            {imports}
            (@custom "sparkwasm.functions" "{escaped}")
            (memory (export "memory") {memory})
            {abi_export}
            (func (export "sparkwasm_alloc") (param i32) (result i32) {alloc})
            (func (export "sparkwasm_fn_f") (result i32) i32.const 8)
            (func $recurse (param i32) (result i32) local.get 0 call $recurse)
            (func $emit (param $p i32) (param $n i32) (result i32)
                (i32.store8 (i32.sub (local.get $p) (i32.const 4)) (i32.shr_u (local.get $n) (i32.const 24)))
                (i32.store8 (i32.sub (local.get $p) (i32.const 3)) (i32.shr_u (local.get $n) (i32.const 16)))
                (i32.store8 (i32.sub (local.get $p) (i32.const 2)) (i32.shr_u (local.get $n) (i32.const 8)))
                (i32.store8 (i32.sub (local.get $p) (i32.const 1)) (local.get $n))
                (call $output (i32.sub (local.get $p) (i32.const 4)) (i32.add (local.get $n) (i32.const 4))))
            {fields}
            (func (export "sparkwasm_run_task") (param $spec i32) (param $len i32) (result i32) {body}))"#
        )
    }

    fn bytes(&self) -> Vec<u8> {
        wat::parse_str(self.text()).expect("valid wat")
    }

    fn imports(mut self, imports: &str) -> Self {
        self.imports = imports.into();
        self
    }

    fn fields(mut self, fields: &str) -> Self {
        self.fields = fields.into();
        self
    }

    fn memory(mut self, memory: &str) -> Self {
        self.memory = memory.into();
        self
    }
}

/// A body that emits the 3 bytes at 0x8000 as one record and succeeds.
const EMIT_ONE: &str = "(drop (call $emit (i32.const 0x8000) (i32.const 3))) i32.const 0";

/// `(ptr, len)` buffers that are not inside a one-page (64 KiB) memory: past the end, across
/// the end, wrapping around the 32-bit address space, and huge.
const BAD_BUFFERS: [(u32, u32); 5] = [
    (0x1_0000, 1),
    (0xffff, 2),
    (0, 0x1_0001),
    (0xffff_ffff, 1),
    (0x8000_0000, 0xffff_ffff),
];

/// For each of [`BAD_BUFFERS`], a WAT guest whose `call(ptr, len)` hands the host that
/// buffer: the task is a `GuestFault` within the bound, nothing reaches the output, and the
/// runtime serves on.
#[track_caller]
fn assert_bad_buffers_are_faults(call: impl Fn(u32, u32) -> String, request: &TaskRequest) {
    let mut sandbox = sandbox();
    for (ptr, len) in BAD_BUFFERS {
        let wat = Wat::new(&call(ptr, len));
        let outcome = sandbox.run_wat_task(&wat, request, MemoryIo::ints(1..=3));
        let (err, io) = outcome.fails_with(ErrorKind::GuestFault);
        assert!(err.message().contains("outside its memory"), "{err}");
        assert!(io.output.is_empty());
    }
    sandbox.assert_still_serves();
}

// ---- a SparkFiles grant to attack ----

/// `<tmp>/<name>/files/` (the grant) holding `data.txt`, `sub/`, a symlink `etc` to `/etc`
/// and a symlink `escape` to `../outside.txt`; `<tmp>/<name>/outside.txt` beside it.
struct SparkFiles {
    root: PathBuf,
}

impl SparkFiles {
    fn new(name: &str) -> Self {
        let root =
            std::env::temp_dir().join(format!("sparkwasm-hostile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("files/sub")).unwrap();
        std::fs::write(root.join("files/data.txt"), "spark files!").unwrap();
        std::fs::write(root.join("outside.txt"), "not for guests").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("files/etc")).unwrap();
        std::os::unix::fs::symlink("../outside.txt", root.join("files/escape")).unwrap();
        SparkFiles { root }
    }

    fn dir(&self) -> PathBuf {
        self.root.join("files")
    }

    /// The names in the granted directory, sorted.
    fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for SparkFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

// ================================================================================
// Escapes: files, the working directory, the environment, sockets
// ================================================================================

#[test]
fn reading_etc_passwd_is_denied_with_or_without_the_grant() {
    let sandbox = sandbox();
    let files = SparkFiles::new("passwd");
    assert!(Path::new("/etc/passwd").exists(), "the host has the file");
    for grant in [None, Some(files.dir())] {
        let started = Instant::now();
        assert_denied(&sandbox.probe("read_file", "/etc/passwd", grant.as_deref()));
        assert_within_bound(started.elapsed(), &"the probe");
    }
    // Positive control: the probe does read what it is granted.
    let seen = sandbox.probe("read_file", "/sparkfiles/data.txt", Some(&files.dir()));
    assert_eq!(seen, r#"ok: "spark files!""#);
    sandbox.assert_still_serves();
}

#[test]
fn reading_proc_self_environ_and_proc_self_cwd_is_denied() {
    let sandbox = sandbox();
    for path in [
        "/proc/self/environ",
        "/proc/self/cwd/Cargo.toml",
        "/proc/1/environ",
        "/dev/mem",
    ] {
        assert_denied(&sandbox.probe("read_file", path, None));
    }
    sandbox.assert_still_serves();
}

#[test]
fn the_executor_working_directory_is_invisible() {
    let sandbox = sandbox();
    let files = SparkFiles::new("cwd");
    let host_cwd = std::env::current_dir().unwrap();
    // Cargo runs the test in the crate's directory, which has this file.
    assert!(host_cwd.join("Cargo.toml").exists());
    for grant in [None, Some(files.dir())] {
        let seen = sandbox.probe("working_dir", "Cargo.toml", grant.as_deref());
        assert!(
            !seen.contains(host_cwd.to_str().unwrap()),
            "the guest learnt the host's cwd: {seen}"
        );
        assert!(seen.contains("list .=err "), "{seen}");
        assert!(seen.contains("read Cargo.toml=err "), "{seen}");
        assert_denied(&sandbox.probe("read_file", "./Cargo.toml", grant.as_deref()));
        assert_denied(&sandbox.probe("list_dir", ".", grant.as_deref()));
    }
    sandbox.assert_still_serves();
}

#[test]
fn listing_the_root_directory_shows_nothing_but_the_grant_shows_its_files() {
    let sandbox = sandbox();
    let files = SparkFiles::new("root");
    for grant in [None, Some(files.dir())] {
        for dir in ["/", "/etc", "/tmp", "/home", "//"] {
            assert_denied(&sandbox.probe("list_dir", dir, grant.as_deref()));
        }
    }
    // Without the grant, not even the SparkFiles mount point.
    assert_denied(&sandbox.probe("list_dir", "/sparkfiles", None));
    // Positive control: with the grant, exactly the granted directory's entries.
    let seen = sandbox.probe("list_dir", "/sparkfiles", Some(&files.dir()));
    let mut listed: Vec<String> = seen
        .strip_prefix("ok: [")
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or_else(|| panic!("not a listing: {seen}"))
        .split(", ")
        .map(|n| n.trim_matches('"').to_owned())
        .collect();
    listed.sort();
    assert_eq!(listed, files.listing());
    sandbox.assert_still_serves();
}

#[test]
fn walking_dot_dot_out_of_the_granted_directory_is_denied() {
    let sandbox = sandbox();
    let files = SparkFiles::new("dotdot");
    for path in [
        "/sparkfiles/../outside.txt",
        "/sparkfiles/../../../../../../etc/passwd",
        "/sparkfiles/sub/../../outside.txt",
        "/sparkfiles/./sub/./../../outside.txt",
        "/sparkfiles/..",
    ] {
        assert_denied(&sandbox.probe("read_file", path, Some(&files.dir())));
    }
    for dir in [
        "/sparkfiles/..",
        "/sparkfiles/sub/../..",
        "/sparkfiles/../..",
    ] {
        assert_denied(&sandbox.probe("list_dir", dir, Some(&files.dir())));
    }
    // `..` that stays inside the grant is fine (positive control).
    let seen = sandbox.probe(
        "read_file",
        "/sparkfiles/sub/../data.txt",
        Some(&files.dir()),
    );
    assert_eq!(seen, r#"ok: "spark files!""#);
    sandbox.assert_still_serves();
}

#[test]
fn a_symlink_in_the_granted_directory_cannot_lead_outside() {
    let sandbox = sandbox();
    let files = SparkFiles::new("symlink");
    // On the host both links resolve.
    assert!(files.dir().join("etc/passwd").exists());
    assert!(files.dir().join("escape").exists());
    for path in [
        "/sparkfiles/etc/passwd",
        "/sparkfiles/escape",
        "/sparkfiles/sub/../escape",
    ] {
        assert_denied(&sandbox.probe("read_file", path, Some(&files.dir())));
    }
    assert_denied(&sandbox.probe("list_dir", "/sparkfiles/etc", Some(&files.dir())));
    sandbox.assert_still_serves();
}

#[test]
fn the_granted_directory_is_read_only() {
    let sandbox = sandbox();
    let files = SparkFiles::new("readonly");
    let before = files.listing();
    for path in [
        "/sparkfiles/new.txt",
        "/sparkfiles/data.txt",
        "/sparkfiles/sub/new.txt",
    ] {
        assert_denied(&sandbox.probe("write_file", path, Some(&files.dir())));
    }
    for path in ["/sparkfiles/data.txt", "/sparkfiles/sub"] {
        let seen = sandbox.probe("mutate_file", path, Some(&files.dir()));
        assert!(!seen.contains("=ok"), "a change went through: {seen}");
    }
    // Nothing changed on the host.
    assert_eq!(files.listing(), before);
    assert_eq!(
        std::fs::read_to_string(files.dir().join("data.txt")).unwrap(),
        "spark files!"
    );
    assert!(std::fs::read_dir(files.dir().join("sub"))
        .unwrap()
        .next()
        .is_none());
    sandbox.assert_still_serves();
}

#[test]
fn the_guest_environment_is_empty_and_holds_no_spark_secret() {
    const SECRET_VAR: &str = "PYTHON_WORKER_FACTORY_SECRET";
    // The executor's worker process holds Spark's auth secret in its environment; put one in
    // this process's, once. (Another test thread reading the environment meanwhile goes
    // through std's environment lock, as every read in this process does.)
    if std::env::var_os(SECRET_VAR).is_none() {
        std::env::set_var(SECRET_VAR, "0123456789abcdef-hostile-suite-secret");
    }
    assert!(std::env::var_os(SECRET_VAR).is_some());
    assert!(std::env::var_os("PATH").is_some(), "the host has a PATH");
    let sandbox = sandbox();
    let files = SparkFiles::new("env");
    for grant in [None, Some(files.dir())] {
        let seen = sandbox.probe("environment", "", grant.as_deref());
        assert_eq!(seen, "vars=[]; args=[]; secret=None");
    }
    sandbox.assert_still_serves();
}

#[test]
fn nothing_a_guest_writes_survives_into_the_next_task() {
    let sandbox = sandbox();
    for _ in 0..3 {
        let io = sandbox
            .run(&map_ints("remember"), MemoryIo::ints([5]))
            .succeeds();
        assert_eq!(
            io.unpickled::<i64>(),
            vec![5],
            "a fresh instance starts from zero"
        );
    }
    sandbox.assert_still_serves();
}

#[test]
fn deterministic_clocks_and_randomness_repeat_for_a_retried_task() {
    let sandbox = sandbox();
    let observe = |policy: &Policy, partition: i32, attempt: i32| -> (u128, u64) {
        let mut request = task(StepKind::Map, "entropy", InputEncoding::Utf8);
        request.info.partition_id = partition;
        request.info.attempt_number = attempt;
        request.info.stage_id = 7;
        let (io, result) = sandbox.runtime.run_task_under(
            policy,
            &sandbox.hostile,
            &request,
            MemoryIo::lines(&[""]),
        );
        result.expect("the probe succeeds");
        let seen: Vec<String> = io.unpickled();
        let (micros, random) = seen[0].split_once(' ').expect("two numbers");
        (micros.parse().unwrap(), random.parse().unwrap())
    };
    let deterministic = policy()
        .with_clock(Determinism::Deterministic)
        .with_random(Determinism::Deterministic);
    let first = observe(&deterministic, 3, 0);
    // A retry (another attempt of the same stage and partition) sees exactly the same.
    assert_eq!(observe(&deterministic, 3, 1), first);
    // The clock starts at the epoch; another partition gets other random bytes.
    assert!(first.0 < 1_000_000, "{first:?}");
    assert_ne!(observe(&deterministic, 4, 0).1, first.1);
    // The real ones are the host's: now, and different every time.
    let real = observe(&policy(), 3, 0);
    assert!(real.0 > 1_600_000_000_000_000, "{real:?}");
    assert_ne!(observe(&policy(), 3, 0).1, real.1);
    sandbox.assert_still_serves();
}

#[test]
fn the_guest_cannot_open_a_socket() {
    let sandbox = sandbox();
    // A real listener the guest is told about: nothing may ever connect to it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let seen = sandbox.probe("connect", &addr, None);
    assert_within_bound(started.elapsed(), &seen);
    for part in seen.split("; ") {
        assert!(part.contains("=err "), "{part} (all: {seen})");
    }
    listener.set_nonblocking(true).unwrap();
    let accepted = listener.accept();
    assert_eq!(
        accepted.map(|(_, peer)| peer).unwrap_err().kind(),
        IoErrorKind::WouldBlock,
        "the guest reached the listener"
    );
    sandbox.assert_still_serves();
}

#[test]
fn wasi_sockets_have_nothing_to_accept_or_send_on_any_fd() {
    const EBADF: i32 = 8;
    const ENOTSOCK: i32 = 57;
    let mut sandbox = sandbox();
    let files = SparkFiles::new("sockets");
    // For fds 0..64: sock_accept's errno at 0x8000 + 4 fd, sock_send's (an iovec of 4 bytes
    // at 0xa000) at 0x8100 + 4 fd; both tables as one record.
    let body = r#"
        (local $fd i32)
        (i32.store (i32.const 0xa000) (i32.const 0xa100))
        (i32.store (i32.const 0xa004) (i32.const 4))
        (loop $next
            (i32.store (i32.add (i32.const 0x8000) (i32.shl (local.get $fd) (i32.const 2)))
                (call $sock_accept (local.get $fd) (i32.const 0) (i32.const 0x9000)))
            (i32.store (i32.add (i32.const 0x8100) (i32.shl (local.get $fd) (i32.const 2)))
                (call $sock_send (local.get $fd) (i32.const 0xa000) (i32.const 1) (i32.const 0) (i32.const 0x9004)))
            (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
            (br_if $next (i32.lt_u (local.get $fd) (i32.const 64))))
        (drop (call $emit (i32.const 0x8000) (i32.const 512)))
        i32.const 0"#;
    for grant in [None, Some(files.dir())] {
        let mut request = wat_task();
        request.spark_files_dir = grant;
        let io = sandbox
            .run_wat_task(&Wat::new(body), &request, MemoryIo::default())
            .succeeds();
        let record = &io.output_records()[0];
        for (i, errno) in record.chunks(4).enumerate() {
            let errno = i32::from_le_bytes(errno.try_into().unwrap());
            let (call, fd) = if i < 64 {
                ("sock_accept", i)
            } else {
                ("sock_send", i - 64)
            };
            assert!(
                errno == EBADF || errno == ENOTSOCK,
                "{call} on fd {fd} gave errno {errno}"
            );
        }
    }
    sandbox.assert_still_serves();
}

#[test]
fn wasi_offers_no_preopens_environment_or_arguments() {
    const EBADF: i32 = 8;
    let mut sandbox = sandbox();
    let files = SparkFiles::new("prestat");
    // fd_prestat_get's errno for fds 0..64 at 0x8000 + 4 fd; then environ_sizes_get and
    // args_sizes_get: errno, count, size each, at 0x8100.
    let body = r#"
        (local $fd i32)
        (loop $next
            (i32.store (i32.add (i32.const 0x8000) (i32.shl (local.get $fd) (i32.const 2)))
                (call $fd_prestat_get (local.get $fd) (i32.const 0x9000)))
            (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
            (br_if $next (i32.lt_u (local.get $fd) (i32.const 64))))
        (i32.store (i32.const 0x8104) (i32.const -1))
        (i32.store (i32.const 0x8108) (i32.const -1))
        (i32.store (i32.const 0x8100) (call $environ_sizes_get (i32.const 0x8104) (i32.const 0x8108)))
        (i32.store (i32.const 0x8110) (i32.const -1))
        (i32.store (i32.const 0x8114) (i32.const -1))
        (i32.store (i32.const 0x810c) (call $args_sizes_get (i32.const 0x8110) (i32.const 0x8114)))
        (drop (call $emit (i32.const 0x8000) (i32.const 0x118)))
        i32.const 0"#;
    for grant in [None, Some(files.dir())] {
        let granted = grant.is_some();
        let mut request = wat_task();
        request.spark_files_dir = grant;
        let io = sandbox
            .run_wat_task(&Wat::new(body), &request, MemoryIo::default())
            .succeeds();
        let record = &io.output_records()[0];
        let word = |i: usize| i32::from_le_bytes(record[i * 4..i * 4 + 4].try_into().unwrap());
        for fd in 0..64 {
            let expected = if granted && fd == 3 { 0 } else { EBADF };
            assert_eq!(word(fd), expected, "fd_prestat_get({fd}), grant: {granted}");
        }
        assert_eq!(
            (64..70).map(word).collect::<Vec<_>>(),
            vec![0, 0, 0, 0, 0, 0],
            "environ and args: (errno, count, bytes) twice"
        );
    }
    sandbox.assert_still_serves();
}

// ================================================================================
// Exhaustion: time, stack, memory, output
// ================================================================================

#[test]
fn an_infinite_loop_hits_the_deadline() {
    let sandbox = sandbox();
    let (err, _) = sandbox
        .run(&map_ints("spin"), MemoryIo::ints([1]))
        .fails_with(ErrorKind::Deadline);
    assert!(err.message().contains("deadline"), "{err}");
    sandbox.assert_still_serves();
}

#[test]
fn exhausting_a_fuel_budget_is_a_typed_error() {
    let mut sandbox = sandbox();
    // Loading under a budget compiles the module for the metering engine (not what the
    // bound below is about); a budget large enough for the good task lets it through.
    let roomy = policy().with_fuel(Some(1 << 40));
    let bytes = module_bytes(HOSTILE_GUEST);
    sandbox
        .runtime
        .load_under(&roomy, &bytes, &digest_hex(&bytes))
        .expect("the hostile guest loads for the metering engine");
    let (_, result) = sandbox.runtime.run_task_under(
        &roomy,
        &sandbox.hostile,
        &map_ints("double"),
        MemoryIo::ints([1, 2]),
    );
    result.expect("a good task within its fuel budget succeeds");
    let metered = policy().with_fuel(Some(100_000));
    let started = Instant::now();
    let (_, result) = sandbox.runtime.run_task_under(
        &metered,
        &sandbox.hostile,
        &map_ints("spin"),
        MemoryIo::ints([1]),
    );
    let err = result.expect_err("the fuel runs out");
    assert_eq!(err.kind(), ErrorKind::FuelExhausted, "{err}");
    assert!(
        err.message()
            .contains("fuel budget of 100000 (spark.sparkwasm.fuel"),
        "{err}"
    );
    assert_within_bound(started.elapsed(), &"fuel");
    sandbox.assert_still_serves();
}

#[test]
fn the_call_deadline_stops_a_guest_that_stops_calling_the_host() {
    let sandbox = sandbox();
    // A task deadline far away, a call deadline near: the call deadline fires.
    let strict = policy()
        .with_task_deadline(Duration::from_secs(600))
        .with_call_deadline(Duration::from_millis(300));
    let started = Instant::now();
    let (_, result) = sandbox.runtime.run_task_under(
        &strict,
        &sandbox.hostile,
        &map_ints("spin"),
        MemoryIo::ints([1]),
    );
    let err = result.expect_err("the call deadline fires");
    assert_eq!(err.kind(), ErrorKind::Deadline, "{err}");
    assert!(err.message().contains("call deadline"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    sandbox.assert_still_serves();
}

#[test]
fn a_start_function_that_never_returns_hits_the_deadline() {
    let mut sandbox = sandbox();
    // The start function runs during instantiation, before any export is called.
    let wat = Wat::new(EMIT_ONE).fields("(func $spin (loop (br 0))) (start $spin)");
    sandbox
        .run_wat(&wat, MemoryIo::default())
        .fails_with(ErrorKind::Deadline);
    sandbox.assert_still_serves();
}

#[test]
fn an_initialize_export_that_never_returns_hits_the_deadline() {
    let mut sandbox = sandbox();
    let wat = Wat::new(EMIT_ONE).fields(r#"(func (export "_initialize") (loop (br 0)))"#);
    sandbox
        .run_wat(&wat, MemoryIo::default())
        .fails_with(ErrorKind::Deadline);
    sandbox.assert_still_serves();
}

#[test]
fn deep_recursion_is_a_stack_overflow() {
    let sandbox = sandbox();
    let (err, _) = sandbox
        .run(&map_ints("recurse"), MemoryIo::ints([i64::MAX]))
        .fails_with(ErrorKind::StackOverflow);
    assert!(err.message().contains("512 KiB"), "{err}");
    // Recursion within the stack is fine.
    let io = sandbox
        .run(&map_ints("recurse"), MemoryIo::ints([1000]))
        .succeeds();
    assert_eq!(io.unpickled::<i64>().len(), 1);
    sandbox.assert_still_serves();
}

#[test]
fn recursion_in_a_start_function_is_a_stack_overflow() {
    let mut sandbox = sandbox();
    let wat = Wat::new(EMIT_ONE)
        .fields("(func $start (drop (call $recurse (i32.const 0)))) (start $start)");
    sandbox
        .run_wat(&wat, MemoryIo::default())
        .fails_with(ErrorKind::StackOverflow);
    sandbox.assert_still_serves();
}

#[test]
fn a_memory_grow_bomb_is_a_memory_limit() {
    let mut sandbox = sandbox();
    for body in [
        // All of the 4 GiB address space at once.
        "(drop (memory.grow (i32.const 65535))) unreachable",
        // A page at a time until refused, then trap.
        "(loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) unreachable",
    ] {
        let (err, _) = sandbox
            .run_wat(&Wat::new(body), MemoryIo::default())
            .fails_with(ErrorKind::MemoryLimit);
        assert!(err.message().contains("128 MiB"), "{err}");
    }
    sandbox.assert_still_serves();
}

#[test]
fn allocating_in_a_loop_is_a_memory_limit() {
    let sandbox = sandbox();
    for mib in [1, 16] {
        sandbox
            .run(&map_ints("hoard"), MemoryIo::ints([mib]))
            .fails_with(ErrorKind::MemoryLimit);
    }
    sandbox.assert_still_serves();
}

#[test]
fn a_module_asking_for_more_initial_memory_than_the_cap_is_refused() {
    let mut sandbox = sandbox();
    // 40000 pages = 2.5 GiB, beyond the 128 MiB cap: refused when the module is loaded (the
    // pooling allocator cannot hold it), before any guest code runs. The kind is
    // `InvalidModule` (the module is unusable under this worker's limits), not
    // `MemoryLimit`, which is what a guest growing past the cap gets.
    for memory in ["40000", "2049", "65536"] {
        let err = sandbox.refuses(
            &Wat::new(EMIT_ONE).memory(memory).bytes(),
            ErrorKind::InvalidModule,
        );
        assert!(err.message().contains("minimum byte size"), "{err}");
    }
    // Exactly the cap is fine.
    sandbox
        .run_wat(&Wat::new(EMIT_ONE).memory("2048"), MemoryIo::default())
        .succeeds();
    sandbox.assert_still_serves();
}

#[test]
fn endless_output_is_an_output_limit() {
    let sandbox = sandbox();
    let request = task(
        StepKind::FlatMap,
        "emit_forever",
        InputEncoding::PickleBatch,
    );
    let (err, io) = sandbox
        .run(&request, MemoryIo::ints([7]))
        .fails_with(ErrorKind::OutputLimit);
    assert!(err.message().contains("per-task limit"), "{err}");
    // Output up to the limit was handed over, in whole records, and no more.
    assert!(!io.output.is_empty());
    assert!(io.output.len() <= 16 << 20);
    assert!(io.unpickled::<i64>().iter().all(|x| *x == 7));
    sandbox.assert_still_serves();
}

#[test]
fn a_single_enormous_output_record_is_an_output_limit() {
    let sandbox = sandbox();
    // One element of 8 MiB: over the 4 MiB batch limit and the 2 MiB record limit. One of
    // 3 MiB: a batch the host would take, but a record it will not.
    for mib in [8, 3] {
        let (err, io) = sandbox
            .run(&map_ints("giant_record"), MemoryIo::ints([mib]))
            .fails_with(ErrorKind::OutputLimit);
        assert!(err.message().contains("limit"), "{err}");
        assert!(io.output.is_empty());
    }
    // A record under the limits goes through (positive control).
    let io = sandbox
        .run(&map_ints("giant_record"), MemoryIo::ints([1]))
        .succeeds();
    assert_eq!(io.output_records().len(), 1);
    sandbox.assert_still_serves();
}

#[test]
fn a_single_input_record_larger_than_the_memory_cap_is_a_memory_limit() {
    let sandbox = sandbox();
    // 200 MiB in one record, with a 128 MiB memory cap: the guest cannot take it. (It fails
    // within the bound and the runtime serves on today; only the kind and message are wrong.)
    let huge = vec![b'a'; 200 << 20];
    let request = task(StepKind::Map, "read_file", InputEncoding::Utf8);
    sandbox
        .run(&request, MemoryIo::new(vec![Some(huge)]))
        .fails_with(ErrorKind::MemoryLimit);
    sandbox.assert_still_serves();
}

// ================================================================================
// Lies to the ABI: output, pointers, exports
// ================================================================================

#[test]
fn output_that_lies_about_its_length_never_leaves_the_sandbox() {
    let mut sandbox = sandbox();
    // Each hands the host one 8-byte batch: a lying big-endian record header, then "abcd".
    for (header, what) in [
        (0x0000_03e8_u32, "claims 1000 bytes, has 4"),
        (0xffff_ffff, "negative length -1"),
        (0x8000_0000, "negative length i32::MIN"),
        (0xffff_fffb, "the null marker -5, which only input may use"),
        (0x7fff_ffff, "claims 2 GiB"),
        (0x0000_0002, "claims 2 bytes, 2 stray bytes follow"),
    ] {
        // `i32.store` is little-endian: store the swapped value to get big-endian bytes.
        let body = format!(
            r#"(i32.store (i32.const 0x8000) (i32.const {:#x}))
               (i32.store (i32.const 0x8004) (i32.const 0x64636261))
               (drop (call $output (i32.const 0x8000) (i32.const 8)))
               i32.const 0"#,
            header.swap_bytes()
        );
        let (err, io) = sandbox
            .run_wat(&Wat::new(&body), MemoryIo::default())
            .fails_with(ErrorKind::GuestFault);
        assert!(io.output.is_empty(), "{what}: something reached the host");
        assert!(err.message().contains("output"), "{what}: {err}");
    }
    sandbox.assert_still_serves();
}

#[test]
fn a_guest_that_ignores_a_refused_batch_and_reports_success_still_fails() {
    let mut sandbox = sandbox();
    // A malformed batch (a 3-byte header), its refusal ignored, status 0.
    let body = "(drop (call $output (i32.const 0x8000) (i32.const 3))) i32.const 0";
    let (_, io) = sandbox
        .run_wat(&Wat::new(body), MemoryIo::default())
        .fails_with(ErrorKind::GuestFault);
    assert!(io.output.is_empty());
    sandbox.assert_still_serves();
}

#[test]
fn out_of_bounds_buffers_for_input_next_are_guest_faults() {
    assert_bad_buffers_are_faults(
        |p, l| format!("(drop (call $input_next (i32.const {p}) (i32.const {l}))) i32.const 0"),
        &wat_task(),
    );
}

#[test]
fn out_of_bounds_buffers_for_output_write_are_guest_faults() {
    assert_bad_buffers_are_faults(
        |p, l| format!("(drop (call $output (i32.const {p}) (i32.const {l}))) i32.const 0"),
        &wat_task(),
    );
}

#[test]
fn out_of_bounds_buffers_for_report_error_are_guest_faults() {
    assert_bad_buffers_are_faults(
        |p, l| format!("(call $report_error (i32.const {p}) (i32.const {l})) i32.const 1"),
        &wat_task(),
    );
}

#[test]
fn out_of_bounds_buffers_for_broadcast_read_are_guest_faults() {
    let mut request = wat_task();
    request.broadcasts = vec![Binding {
        name: "b".into(),
        id: 1,
    }];
    assert_bad_buffers_are_faults(
        |p, l| {
            format!(
                "(drop (call $broadcast_read (i64.const 1) (i32.const {p}) (i32.const {l}))) i32.const 0"
            )
        },
        &request,
    );
}

#[test]
fn out_of_bounds_buffers_for_accumulator_update_are_guest_faults() {
    let mut request = wat_task();
    request.accumulators = vec![Binding {
        name: "a".into(),
        id: 0,
    }];
    assert_bad_buffers_are_faults(
        |p, l| {
            format!("(drop (call $accumulator_update (i32.const {p}) (i32.const {l}))) i32.const 0")
        },
        &request,
    );
}

#[test]
fn lying_alloc_and_run_task_exports_are_typed_errors() {
    let mut sandbox = sandbox();
    // `sparkwasm_alloc` pointing outside memory, or across its end: the spec cannot be
    // written.
    for alloc in ["i32.const 0xfffffff0", "i32.const 0xfffc", "i32.const -1"] {
        let mut wat = Wat::new(EMIT_ONE);
        wat.alloc = alloc.into();
        let (err, _) = sandbox
            .run_wat(&wat, MemoryIo::default())
            .fails_with(ErrorKind::GuestFault);
        assert!(
            err.message().contains("outside the guest's memory"),
            "{err}"
        );
    }
    // `sparkwasm_alloc` saying it has no memory.
    let mut wat = Wat::new(EMIT_ONE);
    wat.alloc = "i32.const 0".into();
    sandbox
        .run_wat(&wat, MemoryIo::default())
        .fails_with(ErrorKind::MemoryLimit);
    // A status that is neither ok nor error.
    for status in [2, -1, 0x7fff_ffff] {
        let (err, _) = sandbox
            .run_wat(
                &Wat::new(&format!("i32.const {status}")),
                MemoryIo::default(),
            )
            .fails_with(ErrorKind::GuestFault);
        assert!(err.message().contains("unknown status"), "{err}");
    }
    sandbox.assert_still_serves();
}

#[test]
fn wasi_calls_with_bad_pointers_trap_the_guest_only() {
    let mut sandbox = sandbox();
    // fd_write to stdout with the iovec array, an iovec's buffer, or the result pointer
    // outside memory: wasmtime-wasi bounds-checks them and traps the guest (a `Trap`, where
    // the sparkwasm imports report a `GuestFault`).
    for (iovs, buf, nwritten) in [
        (0xffff_fff0_u32, 0x9000_u32, 0x8100_u32),
        (0xa000, 0xffff_0000, 0x8100),
        (0xa000, 0x9000, 0xffff_fffc),
    ] {
        let body = format!(
            r#"(i32.store (i32.const 0xa000) (i32.const {buf}))
               (i32.store (i32.const 0xa004) (i32.const 4096))
               (drop (call $fd_write (i32.const 1) (i32.const {iovs}) (i32.const 1) (i32.const {nwritten})))
               i32.const 0"#
        );
        let (err, _) = sandbox
            .run_wat(&Wat::new(&body), MemoryIo::default())
            .fails_with(ErrorKind::Trap);
        assert!(err.message().contains("out of bounds"), "{err}");
    }
    sandbox.assert_still_serves();
}

// ================================================================================
// Panics and traps
// ================================================================================

#[test]
fn a_panic_in_drop_is_a_guest_panic_naming_the_function() {
    let sandbox = sandbox();
    let (err, _) = sandbox
        .run(&map_ints("panic_in_drop"), MemoryIo::ints(1..=5))
        .fails_with(ErrorKind::GuestPanic);
    assert!(err.message().contains("panic in Drop of 3"), "{err}");
    assert!(err.message().contains("panic_in_drop"), "{err}");
    sandbox.assert_still_serves();
}

#[test]
fn a_panic_while_a_panicking_drop_is_pending_is_a_guest_panic_with_the_first_message() {
    let sandbox = sandbox();
    let (err, _) = sandbox
        .run(&map_ints("panic_during_unwind"), MemoryIo::ints(1..=5))
        .fails_with(ErrorKind::GuestPanic);
    // wasm guests abort on the first panic: its message is the one reported, and the
    // destructor never runs.
    assert!(err.message().contains("first panic at 3"), "{err}");
    assert!(!err.message().contains("panic in Drop"), "{err}");
    sandbox.assert_still_serves();
}

#[test]
fn an_abort_halfway_through_a_batch_is_a_trap_after_whole_records() {
    let sandbox = sandbox();
    // Two input batches of 1000 ints; the guest aborts at the first element of the second,
    // after ~1 MB of output (whole 256 KiB records of the first batch's strings) was
    // handed over. (A `map` runs a PySpark batch at a time, so the abort comes before any
    // output of its own batch.)
    let io = MemoryIo::new(vec![
        Some(pickle(&(0..1000).collect::<Vec<i64>>())),
        Some(pickle(&(1000..2000).collect::<Vec<i64>>())),
    ]);
    let (err, io) = sandbox
        .run(&map_ints("abort_at_1000"), io)
        .fails_with(ErrorKind::Trap);
    assert!(!err.message().is_empty());
    let written: Vec<String> = io.unpickled();
    assert!(!written.is_empty(), "output was written before the trap");
    assert!(written.len() < 1000);
    for (i, s) in written.iter().enumerate() {
        assert_eq!(*s, format!("{i:0>1000}"), "whole, correct elements only");
    }
    sandbox.assert_still_serves();
}

#[test]
fn a_trap_in_the_middle_of_a_batch_keeps_only_whole_records() {
    let mut sandbox = sandbox();
    for trap in [
        "(drop (i32.div_u (i32.const 1) (i32.const 0)))",
        "(drop (i32.load (i32.const 0xfffffff0)))",
        "unreachable",
    ] {
        // Emit one whole record, then a batch whose header is written but never handed
        // over, then trap.
        let body = format!(
            r#"(drop (call $emit (i32.const 0x8000) (i32.const 3)))
               (i32.store (i32.const 0x9000) (i32.const 0x10000000))
               {trap}
               i32.const 0"#
        );
        let (_, io) = sandbox
            .run_wat(&Wat::new(&body), MemoryIo::default())
            .fails_with(ErrorKind::Trap);
        assert_eq!(io.output_records(), vec![vec![0u8; 3]], "{trap}");
    }
    sandbox.assert_still_serves();
}

// ================================================================================
// Modules: tampered, malformed, mis-linked, wrong ABI, very large
// ================================================================================

#[test]
fn tampered_module_bytes_are_a_digest_mismatch() {
    let mut sandbox = sandbox();
    // A module no other test loads: the runtime's cache must not know its digest yet.
    let genuine = Wat::new(EMIT_ONE)
        .fields("(func $only_in_the_tamper_test)")
        .bytes();
    let digest = digest_hex(&genuine);
    let mut tampered = genuine.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    for bytes in [tampered, genuine[..genuine.len() - 1].to_vec(), Vec::new()] {
        let started = Instant::now();
        let err = sandbox
            .runtime
            .load(&bytes, &digest)
            .err()
            .expect("refused");
        assert_eq!(err.kind(), ErrorKind::DigestMismatch, "{err}");
        assert_within_bound(started.elapsed(), &err);
    }
    // The genuine bytes still load and run.
    let module = sandbox.runtime.load(&genuine, &digest).expect("loads");
    sandbox
        .run_on(&module, &wat_task(), MemoryIo::default())
        .succeeds();
    sandbox.assert_still_serves();
}

#[test]
fn tampered_bytes_are_refused_even_when_their_digest_is_cached() {
    let mut sandbox = sandbox();
    let genuine = module_bytes(HOSTILE_GUEST);
    let digest = digest_hex(&genuine);
    let mut tampered = genuine.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let err = sandbox
        .runtime
        .load(&tampered, &digest)
        .err()
        .expect("tampered bytes are refused");
    assert_eq!(err.kind(), ErrorKind::DigestMismatch, "{err}");
    sandbox.assert_still_serves();
}

#[test]
fn garbage_empty_and_component_bytes_are_invalid_modules() {
    let mut sandbox = sandbox();
    let component = wat::parse_str("(component)").unwrap();
    for bytes in [
        Vec::new(),
        b"#!/bin/sh\nrm -rf /\n".to_vec(),
        b"\0asm".to_vec(),
        b"\0asm\x01\0\0\0\x7f\xff\xff\xff\xff".to_vec(),
        vec![0xff; 1 << 20],
        component,
    ] {
        sandbox.refuses(&bytes, ErrorKind::InvalidModule);
    }
    sandbox.assert_still_serves();
}

#[test]
fn a_truncated_module_is_an_invalid_module() {
    let mut sandbox = sandbox();
    let whole = module_bytes(HOSTILE_GUEST);
    for len in [8, 100, whole.len() / 2, whole.len() - 1] {
        sandbox.refuses(&whole[..len], ErrorKind::InvalidModule);
    }
    sandbox.assert_still_serves();
}

#[test]
fn a_module_that_fails_validation_or_lies_in_its_descriptor_is_an_invalid_module() {
    let mut sandbox = sandbox();
    // Well-formed but ill-typed code: parses, does not validate.
    let ill_typed = Wat::new(EMIT_ONE).fields("(func $bad (result i32) i64.const 0)");
    sandbox.refuses(&ill_typed.bytes(), ErrorKind::InvalidModule);
    // A descriptor entry whose length runs past the section.
    let mut truncated = Wat::new(EMIT_ONE).text();
    truncated = truncated.replacen(
        r#""sparkwasm.functions" "\"#,
        r#""sparkwasm.functions" "\ff\"#,
        1,
    );
    let err = sandbox.refuses(
        &wat::parse_str(&truncated).unwrap(),
        ErrorKind::InvalidModule,
    );
    assert!(err.message().contains("sparkwasm.functions"), "{err}");
    sandbox.assert_still_serves();
}

#[test]
fn a_module_importing_env_functions_or_memory_is_refused() {
    let mut sandbox = sandbox();
    for import in [
        r#"(import "env" "foo" (func))"#,
        r#"(import "env" "memory" (memory 1))"#,
        r#"(import "sparkwasm" "host_secret" (func (result i64)))"#,
        r#"(import "sparkwasm" "input_next" (global i32))"#,
    ] {
        let err = sandbox.refuses(
            &Wat::new(EMIT_ONE).imports(import).bytes(),
            ErrorKind::InvalidModule,
        );
        assert!(err.message().contains("imports"), "{import}: {err}");
    }
    sandbox.assert_still_serves();
}

#[test]
fn a_module_importing_wasi_functions_we_do_not_link_is_refused() {
    let mut sandbox = sandbox();
    for import in [
        // WASI's older snapshot, not linked.
        r#"(import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
        // Not part of WASI preview 1 (WASIX's).
        r#"(import "wasi_snapshot_preview1" "sock_open" (func (param i32 i32 i32 i32) (result i32)))"#,
        // A preview 1 function with the wrong signature.
        r#"(import "wasi_snapshot_preview1" "fd_read" (func (param i64) (result i64)))"#,
        // A sparkwasm import with the wrong signature.
        r#"(import "sparkwasm" "output_write" (func (param i64 i64) (result i32)))"#,
    ] {
        sandbox.refuses(
            &Wat::new(EMIT_ONE).imports(import).bytes(),
            ErrorKind::InvalidModule,
        );
    }
    sandbox.assert_still_serves();
}

#[test]
fn a_module_built_for_another_abi_version_is_refused() {
    let mut sandbox = sandbox();
    for version in [0, 1, 2, ABI_VERSION + 1, u32::MAX] {
        let mut wat = Wat::new(EMIT_ONE);
        wat.descriptor_abi = version;
        let err = sandbox.refuses(&wat.bytes(), ErrorKind::AbiVersion);
        assert!(err.message().contains(&version.to_string()), "{err}");
    }
    sandbox.assert_still_serves();
}

#[test]
fn a_module_whose_abi_export_disagrees_with_its_descriptor_is_refused_at_run() {
    let mut sandbox = sandbox();
    // The descriptor says this ABI; the export says another.
    for version in [ABI_VERSION - 1, ABI_VERSION + 1, 0xffff_ffff] {
        let mut wat = Wat::new(EMIT_ONE);
        wat.abi_export =
            format!(r#"(func (export "sparkwasm_abi_version") (result i32) i32.const {version})"#);
        sandbox
            .run_wat(&wat, MemoryIo::default())
            .fails_with(ErrorKind::AbiVersion);
    }
    // The export has the wrong signature.
    let mut wat = Wat::new(EMIT_ONE);
    wat.abi_export = r#"(func (export "sparkwasm_abi_version") (result i64) i64.const 3)"#.into();
    sandbox
        .run_wat(&wat, MemoryIo::default())
        .fails_with(ErrorKind::InvalidModule);
    sandbox.assert_still_serves();
}

#[test]
fn a_module_with_a_64_mib_data_segment_loads_and_runs_within_the_bound() {
    let mut sandbox = sandbox();
    // 64 MiB of 'x' at 64 KiB; the task emits its last 3 bytes. There is no module-size
    // limit: such a module must be handled (hashed, parsed, compiled, its memory image
    // built) within the bound, and fit the memory cap.
    let data = format!(r#"(data (i32.const 0x10000) "{}")"#, "x".repeat(64 << 20));
    let body = "(drop (call $emit (i32.sub (i32.const 0x4010000) (i32.const 3)) (i32.const 3))) i32.const 0";
    let wat = Wat::new(body).memory("1040").fields(&data);
    let bytes = wat.bytes();
    assert!(bytes.len() > 64 << 20);
    let (loaded, elapsed) = sandbox.load(&bytes);
    let module = loaded.expect("loads");
    assert_within_bound(elapsed, &"loading a 64 MiB module");
    let io = sandbox
        .run_on(&module, &wat_task(), MemoryIo::default())
        .succeeds();
    // The record header overwrote the byte before: the last 3 bytes are intact.
    assert_eq!(io.output_records(), vec![b"xxx".to_vec()]);
    sandbox.assert_still_serves();
}

#[test]
fn a_data_segment_outside_memory_fails_instantiation_with_a_trap() {
    let mut sandbox = sandbox();
    // 16 bytes at the very end of a one-page memory, 8 of them past it.
    let wat = Wat::new(EMIT_ONE).fields(r#"(data (i32.const 0xfff8) "0123456789abcdef")"#);
    sandbox
        .run_wat(&wat, MemoryIo::default())
        .fails_with(ErrorKind::Trap);
    sandbox.assert_still_serves();
}

#[test]
fn compiling_a_few_mib_of_hostile_code_ends_within_the_bound() {
    let sandbox = sandbox();
    // One function of 150 000 trivial instructions (1.3 MB), and 50 000 tiny functions
    // (1 MB): each must be compiled, or refused with a typed error (the compile deadline),
    // within the bound. (Sizes keep the abandoned compilations short for the rest of the
    // suite.)
    let straight: String = (0..150_000)
        .map(|i| format!("(local.set 0 (i32.add (local.get 0) (i32.const {i})))"))
        .collect();
    let many: String = (0..50_000)
        .map(|i| {
            format!("(func $f{i} (param i32) (result i32) (i32.add (local.get 0) (i32.const {i})))")
        })
        .collect();
    for fields in [
        format!("(func $huge (param i32) (result i32) {straight} local.get 0)"),
        many,
    ] {
        let bytes = Wat::new(EMIT_ONE).fields(&fields).bytes();
        assert!((bytes.len() as u64) < MODULE_CAP);
        // Its own runtime, with a compile deadline well inside the bound (the shared one
        // keeps the default, so that compiling the suite's modules on a loaded machine
        // never trips it).
        let mut strict =
            Runtime::<MemoryIo>::new(policy().with_compile_deadline(Duration::from_secs(1)))
                .expect("the engine starts");
        let started = Instant::now();
        let loaded = strict.load(&bytes, &digest_hex(&bytes)).map(|_| ());
        let elapsed = started.elapsed();
        let outcome = match &loaded {
            Ok(_) => "loaded".to_owned(),
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::Deadline, "{err}");
                assert!(
                    err.message().contains("SPARKWASM_MAX_COMPILE_SECS"),
                    "{err}"
                );
                err.to_string()
            }
        };
        assert_within_bound(elapsed, &format!("{} bytes: {outcome}", bytes.len()));
    }
    sandbox.assert_still_serves();
}

#[test]
fn a_module_over_the_size_cap_is_refused_before_it_is_hashed_or_compiled() {
    let mut sandbox = sandbox();
    // A valid module header and one custom section just over the cap.
    let payload_len = usize::try_from(MODULE_CAP).unwrap();
    let mut bytes = b"\0asm\x01\0\0\0\0".to_vec();
    let mut size = payload_len + 2; // name length byte + 1-byte name
    loop {
        let byte = u8::try_from(size & 0x7f).unwrap();
        size >>= 7;
        bytes.push(if size == 0 { byte } else { byte | 0x80 });
        if size == 0 {
            break;
        }
    }
    bytes.extend_from_slice(b"\x01x");
    bytes.resize(bytes.len() + payload_len, 0);
    let err = sandbox.refuses(&bytes, ErrorKind::InvalidModule);
    assert!(err.message().contains("module cap"), "{err}");
    sandbox.assert_still_serves();
}
