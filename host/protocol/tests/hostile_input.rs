//! Property tests for hostile input from the JVM side (issue "Sandbox and multi-tenancy",
//! point 5): every decoding entry point of the codec is fed random bytes and mutated valid
//! streams, and must return a value or a protocol error — never panic, hang, or allocate
//! memory sized by a length field before the bytes behind it have arrived.
//!
//! Valid streams come from the crate's own JVM-side encoder ([`jvm::write_task_header`])
//! with random headers for every Spark version (RDD commands and the Arrow UDF command
//! sections), followed by random data sections (RDD-style for every eval type: the codec
//! never reads the Arrow data of SQL tasks, its callers do); they must
//! decode back to what was encoded, and every truncation of them must be reported as
//! [`ProtocolError::Eof`]. Valid pickles come from a small pickler in this file.
//!
//! A counting `#[global_allocator]` (per thread, so the test harness's parallel tests do not
//! disturb each other) measures the peak memory each decode needs: with lengths of up to
//! 2 GiB planted in inputs of a few KiB, the peak must stay below [`PEAK_BUDGET`].
//!
//! Case counts are explicit and small enough for CI (the whole file runs in a few seconds
//! with `cargo test --release`); failures are not persisted to files (the failing input is
//! printed instead), so test runs never write into the source tree.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FailurePersistence;
use sparkwasm_protocol::handshake::{accept_client, authenticate_to_server};
use sparkwasm_protocol::{
    eval_type, jvm, pickle, read_bool, read_bytes, read_end_of_stream, read_i32, read_i64,
    read_payload, read_record_header, read_str, read_task_header,
    read_task_header_with_broadcast_hook, special, write_end_of_stream, write_frame, write_i32,
    ArgOffset, BroadcastEntry, BroadcastUpdate, Command, Limits, ProtocolError, RecordHeader,
    ServerAddress, SparkVersion, TaskContext, TaskHeader, UdfInfo,
};

// ---------------------------------------------------------------------------------------
// Allocation accounting
// ---------------------------------------------------------------------------------------

/// Forwards to the system allocator and counts the bytes live on the calling thread, so a
/// test can measure the peak memory one decode needs. This is the only `unsafe` in the
/// file: a global allocator cannot be written without it.
struct CountingAllocator;

thread_local! {
    // `const` initialisers and `Cell<usize>` (no destructor) keep these on the native TLS
    // fast path: touching them never allocates, so the allocator cannot recurse.
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn record_alloc(size: usize) {
    // `try_with`: never panic inside the allocator, even during thread teardown.
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(size);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn record_free(size: usize) {
    // Saturating: memory freed here may have been allocated by another thread.
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(size)));
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the bookkeeping only touches allocation-free thread-locals.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's (non-zero size layout).
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            record_alloc(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            record_alloc(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        record_free(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr`/`layout` come from this allocator; `new_size` is the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            record_free(layout.size());
            record_alloc(new_size);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The most a single decode of an input of at most a few KiB may allocate at its peak.
/// Payload buffers start at up to 64 KiB (`read_exact_vec`'s initial capacity) and JSON
/// parsing multiplies small inputs by a constant; observed peaks stay under 96 KiB.
/// Planted lengths go up to 2 GiB, so any allocation sized by a claimed length (even one
/// capped at a mere MiB) blows past this.
const PEAK_BUDGET: usize = 256 << 10;

/// The longest a single decode of a few KiB may take: generous for a loaded CI machine and
/// debug builds, and far below what a hang (a loop that consumes nothing) would need to be
/// noticed.
const TIME_BUDGET: Duration = Duration::from_secs(5);

/// Runs `f` and returns its result with the peak number of bytes it had allocated on this
/// thread at any time (beyond what was live before), including its result.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get);
    (out, peak.saturating_sub(base))
}

/// Runs a decode of `input` and checks both budgets.
fn bounded<T>(input: &[u8], f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let started = Instant::now();
    let (out, peak) = measured(f);
    let elapsed = started.elapsed();
    prop_assert!(
        peak <= PEAK_BUDGET,
        "decoding {} input bytes allocated {peak} bytes at peak",
        input.len()
    );
    prop_assert!(
        elapsed <= TIME_BUDGET,
        "decoding {} input bytes took {elapsed:?}",
        input.len()
    );
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

/// Explicit case count, no failure files (the shrunk input is in the panic message).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None::<Box<dyn FailurePersistence>>,
        ..ProptestConfig::default()
    }
}

/// Errors an in-memory reader may produce on bad input. `Io` (the slice never fails) or
/// `AuthFailed` (only the handshake may say that) would be a bug.
fn acceptable(e: &ProtocolError) -> bool {
    matches!(
        e,
        ProtocolError::Eof
            | ProtocolError::Malformed { .. }
            | ProtocolError::TooLarge { .. }
            | ProtocolError::Unsupported { .. }
    )
}

/// An error that fails the task must say what went wrong.
fn check_error(e: &ProtocolError) -> Result<(), TestCaseError> {
    prop_assert!(acceptable(e), "unexpected error kind: {e:?}");
    let message = e.to_string();
    prop_assert!(!message.trim().is_empty());
    if let ProtocolError::Malformed { what } = e {
        prop_assert!(!what.trim().is_empty(), "{e:?}");
    }
    Ok(())
}

fn version() -> impl Strategy<Value = SparkVersion> {
    prop::sample::select(SparkVersion::ALL.to_vec())
}

/// Short strings of arbitrary Unicode scalars (control characters, quotes, non-BMP…), so
/// the JSON task context's escaping is exercised too.
fn text(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..max_chars).prop_map(String::from_iter)
}

/// The decoder's limits: the defaults, small ones (so random lengths often fall *within*
/// the limits and the payload paths run), or none at all (so only the incremental reads
/// stand between a planted 2 GiB length and a 2 GiB allocation).
fn limits() -> impl Strategy<Value = (Limits, usize)> {
    prop_oneof![
        Just((Limits::default(), 1 << 30)),
        Just((
            Limits::default()
                .with_max_string(4096)
                .with_max_command(4096)
                .with_max_entries(64),
            4096
        )),
        Just((unlimited(), usize::MAX)),
    ]
}

fn unlimited() -> Limits {
    Limits::default()
        .with_max_string(usize::MAX)
        .with_max_command(usize::MAX)
        .with_max_entries(usize::MAX)
}

// ---------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------

/// Values planted where a length or count is expected: the largest `i32`, −1 and the other
/// special lengths, `i32::MIN`, and values just below and at the default limits.
const HOSTILE_I32: [i32; 12] = [
    i32::MAX,
    -1,
    i32::MIN,
    -4,
    -5,
    -8,
    0x4000_0000,
    0x3fff_ffff,
    0x0100_0000,
    0x00ff_ffff,
    0x7fff_fff0,
    0x0001_0000,
];

/// One edit of an encoded stream.
#[derive(Clone, Debug)]
enum Mutation {
    /// Flip bit `1 << bit` of one byte.
    FlipBit(Index, u8),
    /// Overwrite one byte.
    SetByte(Index, u8),
    /// Insert bytes at a position.
    Insert(Index, Vec<u8>),
    /// Delete up to `n` bytes from a position.
    Delete(Index, usize),
    /// Cut the stream at a position.
    Truncate(Index),
    /// Replace a big-endian `i32` that looks like a length (non-negative and no larger than
    /// what follows it) with a hostile value; any position if none looks like one.
    HugeLength(Index, i32),
    /// Overwrite bytes at a position (little-endian huge lengths for pickles, …).
    Overwrite(Index, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let huge_le = prop::sample::select(vec![
        vec![0xff, 0xff, 0xff, 0x7f],
        vec![0xff, 0xff, 0xff, 0xff],
        vec![0x00, 0x00, 0x00, 0x80],
        vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
        vec![0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40],
        vec![0xff; 8],
    ]);
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        3 => (any::<Index>(), prop::sample::select(HOSTILE_I32.to_vec()))
            .prop_map(|(i, v)| Mutation::HugeLength(i, v)),
        1 => (any::<Index>(), huge_le).prop_map(|(i, b)| Mutation::Overwrite(i, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        if let Mutation::Insert(_, b) = m {
            bytes.extend_from_slice(b);
        }
        return;
    }
    let len = bytes.len();
    match m {
        Mutation::FlipBit(i, bit) => bytes[i.index(len)] ^= 1 << bit,
        Mutation::SetByte(i, b) => bytes[i.index(len)] = *b,
        Mutation::Insert(i, b) => {
            let at = i.index(len + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let at = i.index(len);
            bytes.drain(at..(at + n).min(len));
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(len)),
        Mutation::HugeLength(i, v) => {
            if len < 4 {
                return;
            }
            let looks_like_length = |at: usize| {
                let n = i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
                n >= 0 && n as usize <= len - at - 4
            };
            let candidates: Vec<usize> =
                (0..=len - 4).filter(|&at| looks_like_length(at)).collect();
            let at = if candidates.is_empty() {
                i.index(len - 3)
            } else {
                candidates[i.index(candidates.len())]
            };
            bytes[at..at + 4].copy_from_slice(&v.to_be_bytes());
        }
        Mutation::Overwrite(i, b) => {
            let at = i.index(len);
            let end = (at + b.len()).min(len);
            bytes[at..end].copy_from_slice(&b[..end - at]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Valid JVM streams
// ---------------------------------------------------------------------------------------

/// A barrier or broadcast-decryption server: a valid TCP port and secret, or (where the
/// version has them) a Unix socket path.
fn server(unix: bool) -> BoxedStrategy<ServerAddress> {
    let tcp =
        (1..=65535i32, text(12)).prop_map(|(port, secret)| ServerAddress::Tcp { port, secret });
    if unix {
        prop_oneof![tcp, text(12).prop_map(|path| ServerAddress::Unix { path })].boxed()
    } else {
        tcp.boxed()
    }
}

fn task_context(v: SparkVersion) -> impl Strategy<Value = TaskContext> {
    (
        prop::option::of(server(v.supports_unix_sockets())),
        (
            any::<i32>(),
            any::<i32>(),
            any::<i32>(),
            any::<i64>(),
            any::<i32>(),
        ),
        prop::collection::btree_map(text(6), prop::collection::vec(text(4), 0..3), 0..3),
        prop::collection::btree_map(text(8), text(8), 0..4),
    )
        .prop_map(
            |(
                barrier_server,
                (stage_id, partition_id, attempt_number, task_attempt_id, cpus),
                resources,
                local_properties,
            )| TaskContext {
                is_barrier: barrier_server.is_some(),
                barrier_server,
                stage_id,
                partition_id,
                attempt_number,
                task_attempt_id,
                cpus,
                resources,
                local_properties,
            },
        )
}

fn broadcasts(v: SparkVersion) -> impl Strategy<Value = BroadcastUpdate> {
    (
        prop::option::of(server(v.supports_unix_sockets())),
        prop::collection::vec(0..=i64::MAX, 0..3),
        prop::collection::vec((0..=i64::MAX, text(8)), 0..3),
    )
        .prop_map(|(decryption_server, removed, added)| {
            let added = added
                .into_iter()
                .map(|(id, path)| BroadcastEntry {
                    id,
                    // Decryption-server mode streams the values instead of naming files.
                    path: decryption_server.is_none().then_some(path),
                })
                .collect();
            BroadcastUpdate {
                decryption_server,
                removed,
                added,
            }
        })
}

fn conf(v: SparkVersion) -> BoxedStrategy<Vec<(String, String)>> {
    if v.has_conf_sections() {
        prop::collection::vec((text(6), text(6)), 0..3).boxed()
    } else {
        Just(Vec::new()).boxed()
    }
}

/// A UDF argument, with a keyword where the version has them.
fn udf_arg(v: SparkVersion) -> BoxedStrategy<ArgOffset> {
    let keyword = if v.udf_args_have_keyword_flags() {
        prop::option::of(text(6)).boxed()
    } else {
        Just(None).boxed()
    };
    (0..=i32::MAX as u32, keyword)
        .prop_map(|(offset, keyword)| ArgOffset { offset, keyword })
        .boxed()
}

/// The UDF section of an Arrow UDF eval type in `v`'s layout: one to three UDFs of one to
/// three chained commands, with a profiler (and then result ids) sometimes in 4.0/4.1.
fn udfs(v: SparkVersion) -> BoxedStrategy<Command> {
    let profiler = if v.udf_section_has_profiler() {
        prop::option::of(text(6)).boxed()
    } else {
        Just(None).boxed()
    };
    profiler
        .prop_flat_map(move |profiler| {
            let ids = v.udf_result_id_always() || profiler.is_some();
            let udf = (
                prop::collection::vec(udf_arg(v), 0..3),
                prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), 1..4),
                any::<i64>(),
            )
                .prop_map(move |(args, chained, id)| UdfInfo {
                    args,
                    chained,
                    result_id: ids.then_some(id),
                });
            (prop::collection::vec(udf, 1..4), Just(profiler))
        })
        .prop_map(|(udfs, profiler)| Command::Udfs { udfs, profiler })
        .boxed()
}

/// An eval type and its command: RDD work, or an Arrow UDF type that `v` has.
fn command(v: SparkVersion) -> BoxedStrategy<(i32, Command)> {
    let rdd = prop::collection::vec(any::<u8>(), 0..48)
        .prop_map(|c| (eval_type::NON_UDF, Command::Rdd(c)));
    let mut types = vec![
        eval_type::SQL_SCALAR_PANDAS_UDF,
        eval_type::SQL_GROUPED_AGG_PANDAS_UDF,
    ];
    if v >= SparkVersion::V4_1 {
        types.extend([
            eval_type::SQL_SCALAR_ARROW_UDF,
            eval_type::SQL_GROUPED_AGG_ARROW_UDF,
        ]);
    }
    let udf = (prop::sample::select(types), udfs(v));
    prop_oneof![rdd, udf].boxed()
}

/// A random header that `v` can express.
fn header(v: SparkVersion) -> impl Strategy<Value = TaskHeader> {
    (
        any::<i32>(),
        text(6),
        task_context(v),
        text(10),
        prop::collection::vec(text(6), 0..3),
        broadcasts(v),
        prop::collection::vec((text(6), text(6)), 0..3),
        conf(v),
        command(v),
    )
        .prop_map(
            move |(
                partition_index,
                python_version,
                task_context,
                spark_files_dir,
                python_includes,
                broadcasts,
                runner_conf,
                eval_conf,
                (eval_type, command),
            )| TaskHeader {
                partition_index,
                python_version,
                task_context,
                spark_files_dir,
                python_includes,
                broadcasts,
                eval_type,
                // Before 4.2 only UDF commands carry a runner conf (inside the command).
                runner_conf: if v.has_conf_sections() || command.udfs().is_some() {
                    runner_conf
                } else {
                    Vec::new()
                },
                eval_conf,
                command,
            },
        )
}

/// One task as the JVM sends it: header, data section (`None` is a null element), and
/// whether it ends with `END_OF_STREAM` (reuse) or something else.
#[derive(Clone, Debug, PartialEq)]
struct Task {
    header: TaskHeader,
    records: Vec<Option<Vec<u8>>>,
    reuse: bool,
}

fn task(v: SparkVersion) -> impl Strategy<Value = Task> {
    (
        header(v),
        prop::collection::vec(
            prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
            0..6,
        ),
        any::<bool>(),
    )
        .prop_map(|(header, records, reuse)| Task {
            header,
            records,
            reuse,
        })
}

/// A version and one or two tasks on the same connection (daemon-mode reuse).
fn connection() -> impl Strategy<Value = (SparkVersion, Vec<Task>)> {
    version().prop_flat_map(|v| (Just(v), prop::collection::vec(task(v), 1..3)))
}

fn encode(v: SparkVersion, tasks: &[Task]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in tasks {
        jvm::write_task_header(&mut out, v, &t.header).unwrap();
        for r in &t.records {
            match r {
                Some(bytes) => write_frame(&mut out, bytes).unwrap(),
                None => write_i32(&mut out, special::NULL).unwrap(),
            }
        }
        write_i32(&mut out, special::END_OF_DATA_SECTION).unwrap();
        if t.reuse {
            write_end_of_stream(&mut out).unwrap();
        } else {
            write_i32(&mut out, special::END_OF_DATA_SECTION).unwrap();
        }
    }
    out
}

/// Reads tasks as a worker does until the JVM closes the connection cleanly between tasks.
/// Checks on the way that the broadcast hook runs exactly once per header, with the
/// broadcasts the header ends up holding.
fn decode(
    bytes: &[u8],
    v: SparkVersion,
    limits: &Limits,
    max_record: usize,
) -> Result<Vec<Task>, ProtocolError> {
    let mut r = bytes;
    let mut tasks = Vec::new();
    loop {
        let mut seen = Vec::new();
        let hook = |b: &BroadcastUpdate| {
            seen.push(b.clone());
            Ok(())
        };
        let Some(header) = read_task_header_with_broadcast_hook(&mut r, v, limits, hook)? else {
            return Ok(tasks);
        };
        assert_eq!(
            seen,
            std::slice::from_ref(&header.broadcasts),
            "the hook sees the header's broadcasts once"
        );
        let mut records = Vec::new();
        // Every iteration consumes at least the 4-byte length, so a finite input ends it.
        loop {
            match read_record_header(&mut r)? {
                RecordHeader::Data(len) => {
                    records.push(Some(read_payload(&mut r, len, max_record, "record")?))
                }
                RecordHeader::Null => records.push(None),
                RecordHeader::EndOfData => break,
            }
        }
        let reuse = read_end_of_stream(&mut r)?;
        tasks.push(Task {
            header,
            records,
            reuse,
        });
    }
}

proptest! {
    #![proptest_config(config(2048))]

    /// Encoder → decoder is the identity for every version, on a connection reused for
    /// several tasks, and a clean EOF between tasks ends the connection.
    #[test]
    fn valid_streams_decode_to_what_was_encoded((v, tasks) in connection()) {
        let bytes = encode(v, &tasks);
        let decoded = bounded(&bytes, || decode(&bytes, v, &Limits::default(), 1 << 30))?;
        prop_assert_eq!(decoded.unwrap(), tasks);
    }

    /// Bit flips, byte edits, insertions, deletions, truncations and huge planted lengths:
    /// whatever the result, no panic, no `Io`/`AuthFailed`, bounded time and memory.
    #[test]
    fn mutated_streams_never_panic_hang_or_overallocate(
        (v, tasks) in connection(),
        mutations in prop::collection::vec(mutation(), 1..5),
        (limits, max_record) in limits(),
        read_as in prop::option::of(version()),
    ) {
        let mut bytes = encode(v, &tasks);
        for m in &mutations {
            apply(&mut bytes, m);
        }
        // Sometimes read as another version: a misconfigured worker sees a valid stream of
        // the wrong layout.
        let v = read_as.unwrap_or(v);
        match bounded(&bytes, || decode(&bytes, v, &limits, max_record))? {
            Ok(decoded) => prop_assert!(decoded.len() <= tasks.len() + bytes.len() / 8),
            Err(e) => check_error(&e)?,
        }
    }

    /// Random bytes into the header and data-section readers of every version.
    #[test]
    fn random_bytes_into_the_stream_readers(
        v in version(),
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        (limits, max_record) in limits(),
    ) {
        if let Err(e) = bounded(&bytes, || decode(&bytes, v, &limits, max_record))? {
            check_error(&e)?;
        }
        // The same bytes as a bare data section.
        let mut r = &bytes[..];
        let result = bounded(&bytes, || -> Result<(), ProtocolError> {
            loop {
                match read_record_header(&mut r)? {
                    RecordHeader::Data(len) => {
                        read_payload(&mut r, len, max_record, "record")?;
                    }
                    RecordHeader::Null => {}
                    RecordHeader::EndOfData => return read_end_of_stream(&mut r).map(drop),
                }
            }
        })?;
        if let Err(e) = result {
            check_error(&e)?;
        }
    }

    /// Random bytes with a plausible start: the right first `i32` for the version (the 4.3
    /// init marker and a length, or a partition index), so decoding gets past the first
    /// field.
    #[test]
    fn random_bytes_after_a_plausible_start(
        v in version(),
        frame_len in prop_oneof![0i32..4096, prop::sample::select(HOSTILE_I32.to_vec())],
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        (limits, max_record) in limits(),
    ) {
        let mut input = Vec::new();
        if v.has_init_message() {
            input.extend(special::START_OF_INIT_MESSAGE.to_be_bytes());
            input.extend(frame_len.to_be_bytes());
        }
        input.extend(0i32.to_be_bytes());
        input.extend(&bytes);
        if let Err(e) = bounded(&input, || decode(&input, v, &limits, max_record))? {
            check_error(&e)?;
        }
    }

    /// The primitive readers and the other entry points that read JVM bytes: the auth
    /// exchange (both sides) and the version string.
    #[test]
    fn random_bytes_into_primitives_handshake_and_version(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        max in prop_oneof![0usize..600, Just(usize::MAX)],
        version_text in ".{0,24}",
    ) {
        let r = bounded(&bytes, || {
            [
                read_i32(&mut &bytes[..]).map(drop),
                read_i64(&mut &bytes[..]).map(drop),
                read_bool(&mut &bytes[..], "flag").map(drop),
                read_str(&mut &bytes[..], max, "field").map(drop),
                read_bytes(&mut &bytes[..], max, "field").map(drop),
                read_record_header(&mut &bytes[..]).map(drop),
                read_end_of_stream(&mut &bytes[..]).map(drop),
            ]
        })?;
        for e in r.into_iter().filter_map(Result::err) {
            check_error(&e)?;
        }

        let limits = Limits::default().with_max_string(max);
        let mut s = Duplex { input: &bytes, output: Vec::new() };
        match bounded(&bytes, || accept_client(&mut s, "the-secret", &limits))? {
            Ok(()) | Err(ProtocolError::AuthFailed) => {}
            Err(e) => check_error(&e)?,
        }
        let mut s = Duplex { input: &bytes, output: Vec::new() };
        match bounded(&bytes, || authenticate_to_server(&mut s, "the-secret"))? {
            Ok(()) | Err(ProtocolError::AuthFailed) => {}
            Err(e) => check_error(&e)?,
        }

        match version_text.parse::<SparkVersion>() {
            Ok(v) => prop_assert!(version_text.trim().starts_with(v.as_str())),
            Err(e) => check_error(&e)?,
        }
    }
}

proptest! {
    // Each case decodes every prefix of its stream (hundreds), so fewer cases.
    #![proptest_config(config(256))]

    /// Every proper prefix of a valid stream (other than the empty one, a clean close) is a
    /// truncated stream, reported as `Eof` — never as a value, a hang or a different error.
    #[test]
    fn every_truncation_of_a_valid_stream_is_eof((v, tasks) in connection()) {
        let bytes = encode(v, &tasks);
        prop_assert_eq!(decode(&[], v, &Limits::default(), 1 << 30).unwrap(), vec![]);
        let first_task_end = encode(v, &tasks[..1]).len();
        for cut in 1..bytes.len() {
            let prefix = &bytes[..cut];
            let r = bounded(prefix, || decode(prefix, v, &Limits::default(), 1 << 30))?;
            match r {
                Err(e @ ProtocolError::Eof) => {
                    prop_assert!(e.to_string().contains("stream ended"), "{e}");
                }
                // A cut exactly between two tasks is a clean close after the first.
                Ok(t) if cut == first_task_end => prop_assert_eq!(t, tasks[..1].to_vec()),
                other => prop_assert!(false, "cut at {cut}/{}: {other:?}", bytes.len()),
            }
        }
    }
}

/// A socket stand-in for the auth exchange: reads `input`, collects what is written.
struct Duplex<'a> {
    input: &'a [u8],
    output: Vec<u8>,
}

impl Read for Duplex<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Duplex<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Pickles (the broadcast decryption server's unframed values, accumulator updates)
// ---------------------------------------------------------------------------------------

/// A plain Python value, as the pickler below writes it.
#[derive(Clone, Debug)]
enum Py {
    None,
    Bool(bool),
    Int(i64),
    /// The float's bits.
    Float(u64),
    Bytes(Vec<u8>),
    Str(String),
    List(Vec<Py>),
    Tuple(Vec<Py>),
    Dict(Vec<(Py, Py)>),
}

fn py() -> impl Strategy<Value = Py> {
    let leaf = prop_oneof![
        Just(Py::None),
        any::<bool>().prop_map(Py::Bool),
        any::<i64>().prop_map(Py::Int),
        (-300i64..70_000).prop_map(Py::Int),
        any::<u64>().prop_map(Py::Float),
        // Up to 300 bytes: both the 1-byte and the 4-byte length forms.
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Py::Bytes),
        text(8).prop_map(Py::Str),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Py::List),
            prop::collection::vec(inner.clone(), 0..5).prop_map(Py::Tuple),
            prop::collection::vec((inner.clone(), inner), 0..3).prop_map(Py::Dict),
        ]
    })
}

/// Writes `v` with the opcodes CPython's pickler uses for protocols 2–5; `wide` picks the
/// 8-byte length forms (protocol 4+) for bytes and strings.
fn emit(out: &mut Vec<u8>, v: &Py, wide: bool) {
    const MEMOIZE: u8 = 0x94;
    let with_len = |out: &mut Vec<u8>, short: u8, long: u8, eight: u8, payload: &[u8]| {
        if wide {
            out.push(eight);
            out.extend((payload.len() as u64).to_le_bytes());
        } else if let Ok(n) = u8::try_from(payload.len()) {
            out.extend([short, n]);
        } else {
            out.push(long);
            out.extend((payload.len() as u32).to_le_bytes());
        }
        out.extend(payload);
    };
    match v {
        Py::None => out.push(b'N'),
        Py::Bool(b) => out.push(if *b { 0x88 } else { 0x89 }),
        Py::Int(i) => {
            if let Ok(b) = u8::try_from(*i) {
                out.extend([b'K', b]);
            } else if let Ok(h) = u16::try_from(*i) {
                out.push(b'M');
                out.extend(h.to_le_bytes());
            } else if let Ok(w) = i32::try_from(*i) {
                out.push(b'J');
                out.extend(w.to_le_bytes());
            } else {
                out.extend([0x8a, 8]);
                out.extend(i.to_le_bytes());
            }
        }
        Py::Float(bits) => {
            out.push(b'G');
            out.extend(bits.to_be_bytes());
        }
        Py::Bytes(b) => with_len(out, b'C', b'B', 0x8e, b),
        Py::Str(s) => with_len(out, 0x8c, b'X', 0x8d, s.as_bytes()),
        Py::List(items) => {
            out.extend([b']', MEMOIZE]);
            if !items.is_empty() {
                out.push(b'(');
                items.iter().for_each(|i| emit(out, i, wide));
                out.push(b'e');
            }
        }
        Py::Tuple(items) => match items.len() {
            0 => out.push(b')'),
            n @ 1..=3 => {
                items.iter().for_each(|i| emit(out, i, wide));
                out.push(0x85 + n as u8 - 1);
            }
            _ => {
                out.push(b'(');
                items.iter().for_each(|i| emit(out, i, wide));
                out.push(b't');
            }
        },
        Py::Dict(pairs) => {
            out.extend([b'}', MEMOIZE]);
            if !pairs.is_empty() {
                out.push(b'(');
                for (k, v) in pairs {
                    emit(out, k, wide);
                    emit(out, v, wide);
                }
                out.push(b'u');
            }
        }
    }
}

/// `PROTO p`, a `FRAME` for protocol 4+, the value, `STOP`.
fn pickle_of(v: &Py, protocol: u8, wide: bool) -> Vec<u8> {
    let mut body = Vec::new();
    emit(&mut body, v, wide && protocol >= 4);
    body.push(b'.');
    let mut out = vec![0x80, protocol];
    if protocol >= 4 {
        out.push(0x95);
        out.extend((body.len() as u64).to_le_bytes());
    }
    out.extend(body);
    out
}

fn protocol() -> impl Strategy<Value = u8> {
    2u8..=5
}

proptest! {
    #![proptest_config(config(1024))]

    /// The skipper delimits a valid pickle exactly, leaves what follows it unread, and
    /// reports every truncation as `Eof`.
    #[test]
    fn pickles_are_delimited_exactly_and_truncation_is_eof(
        v in py(),
        protocol in protocol(),
        wide in any::<bool>(),
        trailing in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let p = pickle_of(&v, protocol, wide);
        let mut stream = p.clone();
        stream.extend(&trailing);
        let mut r = &stream[..];
        let got = bounded(&stream, || pickle::read_pickle(&mut r, 1 << 20))?;
        prop_assert_eq!(got.as_ref().ok(), Some(&p));
        prop_assert_eq!(r, &trailing[..]);
        prop_assert_eq!(pickle::pickle_len(&stream).ok(), Some(p.len()));
        for cut in 0..p.len() {
            let r = bounded(&p[..cut], || pickle::read_pickle(&mut &p[..cut], usize::MAX))?;
            prop_assert!(matches!(r, Err(ProtocolError::Eof)), "cut at {cut}: {r:?}");
        }
    }

    /// Mutated pickles, read with no length bound at all: no panic, and a pickle that is
    /// accepted is exactly the prefix that was consumed.
    #[test]
    fn mutated_pickles_never_panic_hang_or_overallocate(
        v in py(),
        protocol in protocol(),
        wide in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..4),
        max_len in prop_oneof![Just(usize::MAX), 0usize..512],
    ) {
        let mut bytes = pickle_of(&v, protocol, wide);
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let mut r = &bytes[..];
        match bounded(&bytes, || pickle::read_pickle(&mut r, max_len))? {
            Ok(p) => {
                prop_assert_eq!(p.len() + r.len(), bytes.len());
                prop_assert_eq!(&bytes[..p.len()], &p[..]);
                prop_assert!(p.len() <= max_len);
            }
            Err(e) => check_error(&e)?,
        }
    }

    /// A plain `(id, value)` update for a bound id is accepted with that id; mutated
    /// updates never panic, and an accepted one always names a bound id.
    #[test]
    fn accumulator_updates_valid_and_mutated(
        id in prop_oneof![0i64..300, any::<i64>()],
        value in py(),
        protocol in protocol(),
        wide in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let update = pickle_of(&Py::Tuple(vec![Py::Int(id), value]), protocol, wide);
        let r = bounded(&update, || pickle::check_accumulator_update(&update, |x| x == id))?;
        prop_assert_eq!(r.ok(), Some(id));

        let mut bytes = update;
        for m in &mutations {
            apply(&mut bytes, m);
        }
        match bounded(&bytes, || pickle::check_accumulator_update(&bytes, |x| x == id))? {
            Ok(got) => prop_assert_eq!(got, id),
            Err(e) => check_error(&e)?,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Lengths claiming 2 GiB with a few bytes behind them
// ---------------------------------------------------------------------------------------

/// Asserts that `f` (a decode of `input`) fails with `Eof` while allocating far less than
/// the length planted in `input`.
fn assert_eof_small<T: std::fmt::Debug>(
    what: &str,
    input: &[u8],
    f: impl FnOnce() -> Result<T, ProtocolError>,
) {
    let (r, peak) = measured(f);
    assert!(matches!(r, Err(ProtocolError::Eof)), "{what}: {r:?}");
    assert!(
        peak <= PEAK_BUDGET,
        "{what}: {} input bytes, {peak} bytes allocated at peak",
        input.len()
    );
}

#[test]
fn two_gib_lengths_with_a_few_bytes_behind_them_are_eof_without_allocating_them() {
    let claim = i32::MAX.to_be_bytes();
    let mut short_str = claim.to_vec();
    short_str.extend(b"only a few bytes");

    // Primitive readers with no limit.
    assert_eof_small("read_bytes", &short_str, || {
        read_bytes(&mut &short_str[..], usize::MAX, "x")
    });
    assert_eof_small("read_str", &short_str, || {
        read_str(&mut &short_str[..], usize::MAX, "x")
    });
    assert_eof_small("read_payload", &short_str, || {
        let mut r = &short_str[..];
        let RecordHeader::Data(len) = read_record_header(&mut r)? else {
            panic!("not data")
        };
        read_payload(&mut r, len, usize::MAX, "record")
    });

    // Headers of every version with no limits: a 2 GiB python version, a 2 GiB command,
    // a 2^31 - 1 include count, and (4.3) a 2 GiB init frame.
    for v in SparkVersion::ALL {
        let h = TaskHeader {
            partition_index: 0,
            python_version: "3.11".into(),
            task_context: TaskContext {
                is_barrier: false,
                barrier_server: None,
                stage_id: 0,
                partition_id: 0,
                attempt_number: 0,
                task_attempt_id: 0,
                cpus: 1,
                resources: BTreeMap::new(),
                local_properties: BTreeMap::new(),
            },
            spark_files_dir: "/f".into(),
            python_includes: Vec::new(),
            broadcasts: BroadcastUpdate::default(),
            eval_type: eval_type::NON_UDF,
            runner_conf: Vec::new(),
            eval_conf: Vec::new(),
            command: Command::Rdd(b"cmd".to_vec()),
        };
        let mut good = Vec::new();
        jvm::write_task_header(&mut good, v, &h).unwrap();
        let body = if v.has_init_message() { 8 } else { 0 };
        let read = |bytes: &[u8]| read_task_header(&mut &bytes[..], v, &unlimited());

        // Python version length (right after the partition index).
        let mut b = good.clone();
        b[body + 4..body + 8].copy_from_slice(&claim);
        if v.has_init_message() {
            // The frame is shorter than the claimed string: the content overruns it.
            assert!(
                matches!(read(&b), Err(ProtocolError::Malformed { .. })),
                "{v}"
            );
            b[4..8].copy_from_slice(&claim);
        }
        assert_eof_small(&format!("{v} python version"), &b, || read(&b));

        // Command length (the last field): cut the command off so only the claim is there.
        let mut b = good.clone();
        let at = b.len() - 3 - 4;
        b[at..at + 4].copy_from_slice(&claim);
        b.truncate(at + 4 + 1);
        if v.has_init_message() {
            b[4..8].copy_from_slice(&claim);
        }
        assert_eof_small(&format!("{v} command"), &b, || read(&b));

        // Include count: 2^31 - 1 entries announced, none sent.
        let dir = b"/f";
        let at = good.windows(dir.len()).position(|w| w == dir).unwrap() + dir.len();
        let mut b = good[..at].to_vec();
        b.extend(claim);
        if v.has_init_message() {
            b[4..8].copy_from_slice(&claim);
        }
        assert_eof_small(&format!("{v} include count"), &b, || read(&b));

        // A 4.3 frame claiming 2 GiB in front of a truncated header.
        if v.has_init_message() {
            let mut b = good.clone();
            b[4..8].copy_from_slice(&claim);
            b.truncate(20);
            assert_eof_small(&format!("{v} init frame"), &b, || read(&b));
        }
    }

    // Pickle lengths: BINBYTES8 claiming 2^62 bytes, BINUNICODE claiming 4 GiB - 1 and
    // BINSTRING claiming 2 GiB - 1, with no length bound on the pickle.
    for claim in [
        [&[0x80, 5, 0x8e][..], &(1u64 << 62).to_le_bytes()[..]].concat(),
        [&[0x80, 5, b'X'][..], &u32::MAX.to_le_bytes()[..]].concat(),
        [&[b'T'][..], &(i32::MAX as u32).to_le_bytes()[..]].concat(),
    ] {
        let mut b = claim.clone();
        b.extend(b"abc");
        assert_eof_small("pickle", &b, || {
            pickle::read_pickle(&mut &b[..], usize::MAX)
        });
    }
}
