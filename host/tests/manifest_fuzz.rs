//! Property tests for the command envelope and manifest decoder ([`manifest::decode`], the
//! job policy's check against the operator's ceilings, and [`Command::to_request`]) on
//! hostile input (issue "Sandbox and multi-tenancy", point 5).
//!
//! The command travels from the driver through the JVM as opaque bytes, so everything in it
//! is untrusted: random bytes, mutated valid envelopes (bit flips, truncation at every
//! offset, inserted and deleted bytes, lying manifest lengths), manifests that are valid by
//! construction and then structurally corrupted, 100 000-deep JSON nesting, huge numbers
//! and unknown fields must all give an `Err` with a message — never a panic, a stack
//! overflow, a hang, or an allocation sized by the envelope's length field. Valid manifests
//! must decode to what was encoded.
//!
//! A counting `#[global_allocator]` (per thread) measures each decode's peak memory. Case
//! counts are explicit so the file runs in a few seconds in release builds, and failures
//! are not persisted to files (the shrunk input is printed instead).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FailurePersistence;
use serde_json::{json, Value};
use sparkwasm_abi::{
    FunctionDescriptor, FunctionKind, StepArg, StepFunctions, StepKind, TaskInfo, ABI_VERSION,
};
use sparkwasm_host::manifest::{self, Command, ManifestError, FORMAT_VERSION, MAGIC};
use sparkwasm_runtime::{ModuleInfo, Policy};

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

/// The most decoding a command of a few KiB (or a 200 KB nesting bomb) may allocate at its
/// peak; observed peaks stay under 64 KiB. The envelope's length field claims up to 4 GiB,
/// so an allocation sized by it (or by any claimed length) blows far past this.
const PEAK_BUDGET: usize = 256 << 10;

/// The longest one decode of a few KiB may take (generous for debug builds on a loaded
/// machine; a loop that consumes nothing would not finish at all).
const TIME_BUDGET: Duration = Duration::from_secs(5);

/// Runs `f` and returns its result with the peak number of bytes it had allocated on this
/// thread at any time (beyond what was live before).
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, PEAK.with(Cell::get).saturating_sub(base))
}

// ---------------------------------------------------------------------------------------
// The seed: the word-count command of manifest.rs's unit tests
// ---------------------------------------------------------------------------------------

const DIGEST: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

/// The header's length: magic, format version, `u32` manifest length.
const HEADER_LEN: usize = MAGIC.len() + 1 + 4;

fn seed_manifest() -> Value {
    json!({
        "module_digest": DIGEST,
        "input": "utf8",
        "source": {"function": "split", "side": "input"},
        "steps": [
            {"kind": "flat_map", "functions": ["split"], "arg": null},
            {"kind": "map", "functions": ["with_one"], "arg": null},
            {"kind": "fold_by_key", "functions": ["add"], "arg": 0},
        ],
        "output": {"kind": "shuffle", "partitions": 4, "partitioner": {"kind": "hash"}},
        "args": ["gARLAC4="],
        "broadcasts": {"stopwords": 3},
        "accumulators": {"lines": 0},
        "spark_files": true,
        "function_names": {"split": "flat_map", "with_one": "map", "add": "reduce"},
    })
}

fn envelope(json: &[u8], module: &[u8]) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    bytes.push(FORMAT_VERSION);
    bytes.extend_from_slice(&u32::try_from(json.len()).unwrap().to_be_bytes());
    bytes.extend_from_slice(json);
    bytes.extend_from_slice(module);
    bytes
}

fn seed_envelope() -> Vec<u8> {
    envelope(seed_manifest().to_string().as_bytes(), b"\0asm")
}

/// The seed's module, as the runtime would describe it.
fn module() -> ModuleInfo {
    let f = |name: &str, kind| FunctionDescriptor {
        abi_version: ABI_VERSION,
        name: name.into(),
        kind,
        input: "i64".into(),
        output: "i64".into(),
        sql: None,
    };
    use FunctionKind as F;
    ModuleInfo {
        digest: DIGEST.into(),
        functions: vec![
            f("split", F::FlatMap),
            f("with_one", F::Map),
            f("add", F::Reduce),
            f("by_len", F::Key),
            f("merge", F::SeqOp),
            f("part", F::Partitioner),
            f("each", F::Foreach),
            f("keep", F::Filter),
            f("parts", F::MapPartitions),
            f("parts_with_index", F::MapPartitionsWithIndex),
            f("each_part", F::ForeachPartition),
        ],
    }
}

/// Operator ceilings for the job policy check: the defaults, and the largest values the
/// setters accept (so the job's settings are compared and scaled near `u64::MAX`).
fn ceilings() -> [Policy; 2] {
    [
        Policy::default(),
        Policy::default()
            .with_memory_bytes(u64::MAX)
            .with_task_deadline(Duration::MAX)
            .with_call_deadline(Duration::MAX)
            .with_output_bytes_per_record(u64::MAX)
            .with_output_bytes_per_batch(u64::MAX)
            .with_output_bytes_per_task(u64::MAX)
            .with_fuel(Some(u64::MAX))
            .with_captured_output_bytes(usize::MAX),
    ]
}

/// Decodes `bytes` and, if that works, applies the job's policy to the operator's
/// ceilings and checks the command against the seed's module, as the worker does. Returns
/// the first error, with the budgets checked.
fn decode_and_check(bytes: &[u8]) -> Result<Result<(), ManifestError>, TestCaseError> {
    let started = Instant::now();
    let (result, peak) = measured(|| {
        let command: Command<'_> = manifest::decode(bytes)?;
        for ceilings in ceilings() {
            if let Err(why) = command.manifest.policy.effective(&ceilings) {
                assert!(!why.trim().is_empty(), "a policy refusal without a message");
            }
        }
        command
            .to_request(&module(), TaskInfo::default(), "/spark/files")
            .map(drop)
    });
    let elapsed = started.elapsed();
    prop_assert!(
        peak <= PEAK_BUDGET,
        "decoding {} bytes allocated {peak} bytes at peak",
        bytes.len()
    );
    prop_assert!(
        elapsed <= TIME_BUDGET,
        "decoding {} bytes took {elapsed:?}",
        bytes.len()
    );
    if let Err(e) = &result {
        check_message(e)?;
    }
    Ok(result)
}

/// A task failure must say what went wrong, and the variant's own text must not be empty.
fn check_message(e: &ManifestError) -> Result<(), TestCaseError> {
    prop_assert!(!e.to_string().trim().is_empty());
    match e {
        ManifestError::Invalid(what) => prop_assert!(!what.trim().is_empty(), "{e:?}"),
        ManifestError::Truncated(what) => prop_assert!(!what.trim().is_empty(), "{e:?}"),
        _ => {}
    }
    Ok(())
}

/// Explicit case count, no failure files (the shrunk input is in the panic message).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None::<Box<dyn FailurePersistence>>,
        ..ProptestConfig::default()
    }
}

/// Test helper outside proptest: `decode_and_check`'s result, failing the test on a
/// budget violation.
fn run(bytes: &[u8]) -> Result<(), ManifestError> {
    decode_and_check(bytes).unwrap_or_else(|e| panic!("{e}"))
}

fn invalid_containing(bytes: &[u8], needle: &str) {
    match run(bytes) {
        Err(ManifestError::Invalid(what)) => {
            assert!(what.contains(needle), "expected {needle:?} in {what:?}")
        }
        other => panic!("expected Invalid containing {needle:?}, got {other:?}"),
    }
}

/// The seed with `patch` applied to its top-level object (`Value::Null` removes a key).
fn patched(patch: Value) -> Vec<u8> {
    let mut m = seed_manifest();
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            m.as_object_mut().unwrap().remove(k);
        } else {
            m[k] = v.clone();
        }
    }
    envelope(m.to_string().as_bytes(), b"\0asm")
}

// ---------------------------------------------------------------------------------------
// Deterministic hostile inputs
// ---------------------------------------------------------------------------------------

#[test]
fn the_seed_is_valid_so_mutations_start_from_a_command_that_decodes() {
    run(&seed_envelope()).unwrap();
}

#[test]
fn truncation_at_every_offset_is_an_error_that_says_truncated() {
    let bytes = seed_envelope();
    let json_end = bytes.len() - 4;
    for cut in 0..bytes.len() {
        let r = run(&bytes[..cut]);
        match (cut, &r) {
            // A prefix of the magic is not recognisable as a sparkwasm command.
            (0..6, Err(ManifestError::NotSparkwasm)) => {}
            (6.., Err(e @ ManifestError::Truncated(_))) if cut < json_end => {
                assert!(e.to_string().contains("truncated"), "{e}")
            }
            // Only the module bytes are cut: the module's digest check catches that later.
            (_, Ok(())) if cut >= json_end => {}
            _ => panic!("cut at {cut}/{}: {r:?}", bytes.len()),
        }
    }
}

#[test]
fn lying_manifest_lengths_are_errors_without_allocating_them() {
    let good = seed_envelope();
    let json_len = good.len() - HEADER_LEN - 4;
    for (claim, needle) in [
        (u32::MAX, "runs past the end"),
        (i32::MAX as u32, "runs past the end"),
        (0x8000_0000, "runs past the end"),
        (json_len as u32 + 5, "runs past the end"),
        // Shorter than the JSON: the JSON is cut, then the rest is taken as the module.
        (json_len as u32 - 1, "EOF while parsing"),
        (0, "EOF while parsing"),
    ] {
        let mut b = good.clone();
        b[7..11].copy_from_slice(&claim.to_be_bytes());
        let r = run(&b);
        assert!(
            r.as_ref().is_err_and(|e| e.to_string().contains(needle)),
            "length {claim:#x}: {r:?}"
        );
    }
    // A 4 GiB claim with nothing behind it at all.
    let mut b = MAGIC.to_vec();
    b.push(FORMAT_VERSION);
    b.extend(u32::MAX.to_be_bytes());
    assert!(matches!(run(&b), Err(ManifestError::Truncated(_))));
}

#[test]
fn deep_json_nesting_is_an_error_not_a_stack_overflow() {
    // Far past serde_json's recursion limit (128): without it, parsing this would overflow
    // the 2 MiB stack of a test thread and abort the whole binary.
    const DEPTH: usize = 100_000;
    let arrays = format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH));
    let objects = format!("{}1{}", r#"{"a":"#.repeat(DEPTH), "}".repeat(DEPTH));
    for deep in [&arrays, &objects] {
        // As the whole manifest.
        let r = run(&envelope(deep.as_bytes(), b""));
        assert!(matches!(r, Err(ManifestError::Invalid(_))), "{r:?}");
        // As the value of every field (and of an unknown one), inside the internally tagged
        // `output` (serde buffers its whole value before looking at the tag), inside the
        // partitioner, and as a step's `arg`.
        let mut places: Vec<(&str, String)> = [
            "module_digest",
            "input",
            "source",
            "steps",
            "output",
            "args",
            "broadcasts",
            "accumulators",
            "spark_files",
            "function_names",
            "unknown_field",
        ]
        .into_iter()
        .map(|field| (field, deep.clone()))
        .collect();
        places.push((
            "output",
            format!(r#"{{"kind":"shuffle","partitions":2,"partitioner":{deep}}}"#),
        ));
        places.push((
            "output",
            format!(r#"{{"partitions":{deep},"kind":"shuffle"}}"#),
        ));
        places.push((
            "steps",
            format!(r#"[{{"kind":"map","functions":["with_one"],"arg":{deep}}}]"#),
        ));
        for (field, value) in places {
            let r = run(&with_raw(field, &value));
            assert!(
                matches!(r, Err(ManifestError::Invalid(_))),
                "{field}: {r:?}"
            );
        }
    }
    // Nesting within the limit is parsed and refused for what it is.
    let shallow = format!("{}{}", "[".repeat(100), "]".repeat(100));
    invalid_containing(&with_raw("unknown_field", &shallow), "unknown field");
    invalid_containing(&with_raw("args", &shallow), "invalid type");
}

/// The seed's text with `field` replaced by the raw JSON `value` (raw, because numbers
/// like `1e999` or 400-digit integers cannot be represented in a `serde_json::Value`).
fn with_raw(field: &str, value: &str) -> Vec<u8> {
    let mut seed = seed_manifest();
    // Remove the original first: a duplicate key would be an error of its own.
    seed.as_object_mut().unwrap().remove(field);
    let mut json = seed.to_string();
    json.pop(); // the closing brace
    json.push_str(&format!(r#","{field}":{value}}}"#));
    envelope(json.as_bytes(), b"\0asm")
}

#[test]
fn huge_and_odd_numbers_are_errors_with_a_message() {
    let huge = "1".repeat(400);
    let step = |arg: &str| format!(r#"[{{"kind":"fold_by_key","functions":["add"],"arg":{arg}}}]"#);
    let shuffle = |partitions: &str, partitioner: &str| {
        format!(r#"{{"kind":"shuffle","partitions":{partitions},"partitioner":{partitioner}}}"#)
    };
    let cases = [
        ("steps", step(&huge), "number out of range"),
        ("steps", step("1e999"), "number out of range"),
        (
            "steps",
            step("-1"),
            "invalid value: integer `-1`, expected u64",
        ),
        (
            "steps",
            step("0.5"),
            "invalid type: floating point `0.5`, expected u64",
        ),
        // Above u64::MAX: serde_json reads it as a float.
        (
            "steps",
            step("18446744073709551616"),
            "invalid type: floating point",
        ),
        (
            "steps",
            step("18446744073709551615"),
            "refers to args[18446744073709551615]",
        ),
        (
            "output",
            shuffle("4294967296", r#"{"kind":"hash"}"#),
            "4294967296",
        ),
        ("output", shuffle("-1", r#"{"kind":"hash"}"#), "-1"),
        (
            "output",
            shuffle(&huge, r#"{"kind":"hash"}"#),
            "number out of range",
        ),
        (
            "output",
            shuffle(
                "2",
                r#"{"kind":"range","bounds_arg":4294967295,"ascending":true}"#,
            ),
            "refers to args[4294967295]",
        ),
        (
            "output",
            shuffle(
                "2",
                r#"{"kind":"range","bounds_arg":4294967296,"ascending":true}"#,
            ),
            "4294967296",
        ),
        (
            "output",
            r#"{"kind":"sample_keys","fraction":1e400,"seed":1}"#.into(),
            "number out of range",
        ),
        (
            "output",
            r#"{"kind":"sample_keys","fraction":-1e-300,"seed":1}"#.into(),
            "fraction in 0..=1",
        ),
        (
            "output",
            r#"{"kind":"sample_keys","fraction":0.5,"seed":-1}"#.into(),
            "-1",
        ),
        (
            "output",
            r#"{"kind":"take","n":1e3}"#.into(),
            "floating point",
        ),
        (
            "broadcasts",
            r#"{"b":9223372036854775808}"#.into(),
            "expected i64",
        ),
        (
            "accumulators",
            r#"{"a":-9223372036854775808}"#.into(),
            "id >= 0",
        ),
        ("spark_files", "1".into(), "expected a boolean"),
    ];
    for (field, value, needle) in cases {
        invalid_containing(&with_raw(field, &value), needle);
    }
}

#[test]
fn unknown_fields_at_every_level_are_refused() {
    for patch in [
        json!({"surprise": 1}),
        json!({"source": {"function": "split", "side": "input", "x": 1}}),
        json!({"steps": [{"kind": "map", "functions": ["with_one"], "x": 1}]}),
        json!({"output": {"kind": "pickle", "x": 1}}),
        json!({"output": {"kind": "take", "n": 1, "x": 1}}),
        json!({"output": {"kind": "shuffle", "partitions": 2,
            "partitioner": {"kind": "function", "function": "part", "x": 1}}}),
    ] {
        invalid_containing(&patched(patch.clone()), "unknown field");
    }
}

// ---------------------------------------------------------------------------------------
// Random and mutated input
// ---------------------------------------------------------------------------------------

/// One edit of an encoded command.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Truncate(Index),
    /// Replace the envelope's manifest length.
    Length(u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        // JSON punctuation and keywords make insertions reach the parser's other paths.
        1 => (any::<Index>(), prop_oneof![
                prop::collection::vec(any::<u8>(), 1..8),
                prop::sample::select(vec![
                    b"[".to_vec(), b"{".to_vec(), b"\"".to_vec(), b",".to_vec(), b"null".to_vec(),
                    b"-1".to_vec(), b"1e999".to_vec(), b"\\u0000".to_vec(), b"\xff".to_vec(),
                ]),
            ]).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => prop_oneof![
                Just(u32::MAX), Just(i32::MAX as u32), Just(0x8000_0000), Just(0), any::<u32>(),
            ].prop_map(Mutation::Length),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match m {
        Mutation::Insert(i, b) => {
            let at = i.index(len + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        _ if bytes.is_empty() => {}
        Mutation::FlipBit(i, bit) => bytes[i.index(len)] ^= 1 << bit,
        Mutation::SetByte(i, b) => bytes[i.index(len)] = *b,
        Mutation::Delete(i, n) => {
            let at = i.index(len);
            bytes.drain(at..(at + n).min(len));
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(len)),
        Mutation::Length(n) => {
            if len >= HEADER_LEN {
                bytes[7..11].copy_from_slice(&n.to_be_bytes());
            }
        }
    }
}

/// Mutations aimed at the JSON text, re-framed with a correct length so the parser (not
/// the envelope check) sees them.
fn mutate_json(json: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut text = json.to_vec();
    for m in mutations {
        if !matches!(m, Mutation::Length(_)) {
            apply(&mut text, m);
        }
    }
    envelope(&text, b"\0asm")
}

/// Standard base64 with padding, as Python's `b64encode` writes it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn text(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..max_chars).prop_map(String::from_iter)
}

/// The module's function of each kind (see [`module`]).
fn name_of(kind: FunctionKind) -> &'static str {
    use FunctionKind as F;
    match kind {
        F::Map => "with_one",
        F::FlatMap => "split",
        F::Filter => "keep",
        F::MapPartitions => "parts",
        F::Reduce => "add",
        F::MapPartitionsWithIndex => "parts_with_index",
        F::Key => "by_len",
        F::SeqOp => "merge",
        F::Partitioner => "part",
        F::Foreach => "each",
        F::ForeachPartition => "each_part",
        // SQL functions have no place in an RDD manifest; the module has none.
        F::Udf => "sql_udf",
        F::Udaf => "sql_udaf",
    }
}

/// Any JSON scalar, for values of the wrong type or out of range.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![u64::MAX, 1 << 32, 1 << 63]).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text(6).prop_map(Value::from),
    ]
}

/// A step of a random kind with the functions and `arg` that kind takes (`n_args` is how
/// many `args` the manifest has).
fn step(n_args: usize) -> impl Strategy<Value = Value> {
    prop::sample::select(StepKind::ALL.to_vec()).prop_flat_map(move |kind| {
        let functions: BoxedStrategy<Vec<&str>> = match kind.functions() {
            StepFunctions::Exactly(kinds) => {
                Just(kinds.iter().map(|k| name_of(*k)).collect()).boxed()
            }
            StepFunctions::OptionalKey => {
                prop_oneof![Just(vec![]), Just(vec![name_of(FunctionKind::Key)])].boxed()
            }
        };
        let arg: BoxedStrategy<Option<u64>> = match kind.arg() {
            StepArg::None => Just(None).boxed(),
            StepArg::Index => (0..n_args as u64).prop_map(Some).boxed(),
            StepArg::Number { max, .. } => (0..=max).prop_map(Some).boxed(),
            StepArg::AnyNumber => any::<u64>().prop_map(Some).boxed(),
        };
        let kind = serde_json::to_value(kind).unwrap();
        (functions, arg).prop_map(
            move |(functions, arg)| json!({ "kind": kind, "functions": functions, "arg": arg }),
        )
    })
}

fn output(n_args: usize) -> impl Strategy<Value = Value> {
    let partitioner = prop_oneof![
        Just(json!({"kind": "hash"})),
        Just(json!({"kind": "function", "function": name_of(FunctionKind::Partitioner)})),
        (0..n_args as u32, any::<bool>())
            .prop_map(|(b, a)| json!({"kind": "range", "bounds_arg": b, "ascending": a})),
    ];
    prop_oneof![
        prop::sample::select(vec!["pickle", "binary", "count", "text"])
            .prop_map(|k| json!({ "kind": k })),
        any::<u64>().prop_map(|n| json!({"kind": "take", "n": n})),
        (0.0f64..=1.0, any::<u64>())
            .prop_map(|(f, s)| json!({"kind": "sample_keys", "fraction": f, "seed": s})),
        (1u32..8, partitioner)
            .prop_map(|(p, part)| json!({"kind": "shuffle", "partitions": p, "partitioner": part})),
    ]
}

/// The job's sandbox settings: a random subset, with small values or values near
/// `u64::MAX` (which the ceilings check must compare and scale without overflowing).
fn policy() -> impl Strategy<Value = Value> {
    const NUMERIC: [&str; 8] = [
        "memory_mb",
        "task_deadline_secs",
        "call_deadline_secs",
        "output_record_mb",
        "output_batch_mb",
        "output_task_mb",
        "fuel",
        "capture_kb",
    ];
    let number = prop_oneof![
        3 => 0u64..4096,
        1 => prop::sample::select(vec![u64::MAX, u64::MAX >> 10, u64::MAX >> 20, 1 << 44]),
        1 => any::<u64>(),
    ];
    let mode = prop::sample::select(vec!["real", "deterministic"]);
    (
        prop::collection::btree_map(prop::sample::select(NUMERIC.to_vec()), number, 0..4),
        prop::option::of(any::<bool>()),
        prop::option::of(mode.clone()),
        prop::option::of(mode),
    )
        .prop_map(|(numbers, spark_files, clock, random)| {
            let mut p = json!(numbers);
            if let Some(v) = spark_files {
                p["spark_files"] = json!(v);
            }
            if let Some(v) = clock {
                p["clock"] = json!(v);
            }
            if let Some(v) = random {
                p["random"] = json!(v);
            }
            p
        })
}

/// A manifest that is valid for [`module`] by construction: every step has the functions
/// and `arg` its kind takes, every function used is listed with its kind, indices point
/// into `args`.
fn valid_manifest() -> impl Strategy<Value = Value> {
    (1usize..4).prop_flat_map(|n_args| {
        let inputs = vec![
            "pickle_batch",
            "pickle_item",
            "utf8",
            "binary",
            "utf8_pairs",
        ];
        let kinds = vec![FunctionKind::Map, FunctionKind::FlatMap, FunctionKind::Key];
        let bindings = || prop::collection::btree_map("[a-z]{1,6}", 0..=i64::MAX, 0..3);
        (
            prop::collection::vec(step(n_args), 0..5),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), n_args),
            output(n_args),
            prop::option::of((prop::sample::select(kinds), any::<bool>())),
            prop::sample::select(inputs),
            (bindings(), bindings()),
            (prop::option::of(any::<bool>()), prop::option::of(policy())),
        )
            .prop_map(
                |(
                    steps,
                    args,
                    output,
                    source,
                    input,
                    (broadcasts, accumulators),
                    (spark_files, policy),
                )| {
                    // Every function the manifest uses, listed with its kind.
                    let mut used: Vec<String> = steps
                        .iter()
                        .flat_map(|s| s["functions"].as_array().unwrap().clone())
                        .map(|f| f.as_str().unwrap().to_owned())
                        .collect();
                    if let Some(f) = output["partitioner"]["function"].as_str() {
                        used.push(f.to_owned());
                    }
                    let source = source.map(|(kind, input_side)| {
                        used.push(name_of(kind).to_owned());
                        let side = if input_side { "input" } else { "output" };
                        json!({"function": name_of(kind), "side": side})
                    });
                    let module = module();
                    let function_names: serde_json::Map<String, Value> = used
                        .into_iter()
                        .map(|name| {
                            let kind = module.function(&name).unwrap().kind;
                            (name, serde_json::to_value(kind).unwrap())
                        })
                        .collect();
                    let mut m = json!({
                        "module_digest": DIGEST,
                        "input": input,
                        "source": source,
                        "steps": steps,
                        "output": output,
                        "args": args.iter().map(|a| base64(a)).collect::<Vec<_>>(),
                        "broadcasts": broadcasts,
                        "accumulators": accumulators,
                        "function_names": function_names,
                    });
                    if let Some(v) = spark_files {
                        m["spark_files"] = json!(v);
                    }
                    if let Some(p) = policy {
                        m["policy"] = p;
                    }
                    m
                },
            )
    })
}

/// A structural edit of a manifest's JSON tree, at a node picked at random.
#[derive(Clone, Debug)]
enum Corruption {
    /// Replace the node with a scalar (wrong type, negative, huge, …).
    Replace(Value),
    /// Remove the node from its object or array (missing required fields, fewer
    /// functions than the step takes, dangling references).
    Remove,
    /// Add a key the decoder does not know (to an object; otherwise replace with null).
    UnknownKey(String),
    /// Rename an object's key (a typo in a field name or a function name).
    RenameKey(String),
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        3 => scalar().prop_map(Corruption::Replace),
        2 => Just(Corruption::Remove),
        1 => text(6).prop_map(Corruption::UnknownKey),
        1 => text(6).prop_map(Corruption::RenameKey),
    ]
}

/// JSON pointers (RFC 6901) of every node of `v`, in pre-order.
fn pointers(v: &Value, prefix: &str, out: &mut Vec<String>) {
    out.push(prefix.to_owned());
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                let token = k.replace('~', "~0").replace('/', "~1");
                pointers(child, &format!("{prefix}/{token}"), out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                pointers(child, &format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn corrupt(m: &mut Value, at: &Index, c: &Corruption) {
    let mut all = Vec::new();
    pointers(m, "", &mut all);
    let pointer = &all[at.index(all.len())];
    let (parent, token) = match pointer.rfind('/') {
        Some(i) => (
            &pointer[..i],
            pointer[i + 1..].replace("~1", "/").replace("~0", "~"),
        ),
        None => ("", String::new()),
    };
    match c {
        Corruption::Replace(v) => *m.pointer_mut(pointer).unwrap() = v.clone(),
        Corruption::Remove | Corruption::RenameKey(_) if pointer.is_empty() => *m = Value::Null,
        Corruption::Remove => match m.pointer_mut(parent).unwrap() {
            Value::Object(o) => drop(o.remove(&token)),
            Value::Array(a) => drop(a.remove(token.parse::<usize>().unwrap())),
            _ => unreachable!("a parent is a container"),
        },
        Corruption::RenameKey(new) => match m.pointer_mut(parent).unwrap() {
            Value::Object(o) => {
                let v = o.remove(&token).unwrap();
                o.insert(new.clone(), v);
            }
            Value::Array(a) => a[token.parse::<usize>().unwrap()] = Value::from(new.clone()),
            _ => unreachable!("a parent is a container"),
        },
        Corruption::UnknownKey(key) => match m.pointer_mut(pointer).unwrap() {
            Value::Object(o) => drop(o.insert(key.clone(), json!(1))),
            other => *other = Value::Null,
        },
    }
}

/// Valid manifests, two thirds of them with up to two structural corruptions, so decoding
/// and validation reach both their successes and their deeper error paths.
fn manifest_json() -> impl Strategy<Value = Value> {
    (
        valid_manifest(),
        prop::collection::vec((any::<Index>(), corruption()), 0..3),
    )
        .prop_map(|(mut m, corruptions)| {
            for (at, c) in &corruptions {
                corrupt(&mut m, at, c);
            }
            m
        })
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn random_bytes_are_ok_or_an_error_with_a_message(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        let _ = decode_and_check(&bytes)?;
    }

    /// Random bytes behind a valid header, with a length that may or may not match.
    #[test]
    fn random_bytes_behind_a_valid_header(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        length in prop_oneof![Just(None), any::<u32>().prop_map(Some), (0u32..4096).prop_map(Some)],
    ) {
        let mut b = envelope(&bytes, b"");
        if let Some(n) = length {
            b[7..11].copy_from_slice(&n.to_be_bytes());
        }
        let _ = decode_and_check(&b)?;
    }

    /// Mutations of the whole seed envelope (header included) and of its JSON text alone.
    #[test]
    fn mutated_seed_commands_never_panic(mutations in prop::collection::vec(mutation(), 1..5)) {
        let mut bytes = seed_envelope();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let _ = decode_and_check(&bytes)?;
        let _ = decode_and_check(&mutate_json(seed_manifest().to_string().as_bytes(), &mutations))?;
    }
}

proptest! {
    #![proptest_config(config(1024))]

    /// Manifests that are valid by construction decode, validate against the module and
    /// become a request, with their module bytes, arguments and steps intact.
    #[test]
    fn valid_manifests_decode_to_what_was_encoded(
        m in valid_manifest(),
        module_bytes in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let bytes = envelope(m.to_string().as_bytes(), &module_bytes);
        let command = manifest::decode(&bytes)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{m}")))?;
        prop_assert_eq!(command.module, &module_bytes[..]);
        let args: Vec<String> = command.args.iter().map(|a| base64(a)).collect();
        prop_assert_eq!(json!(args), m["args"].clone());
        let request = command
            .to_request(&module(), TaskInfo::default(), "/spark/files")
            .map_err(|e| TestCaseError::fail(format!("{e}\n{m}")))?;
        prop_assert_eq!(request.steps.len(), m["steps"].as_array().unwrap().len());
        for (step, json) in request.steps.iter().zip(m["steps"].as_array().unwrap()) {
            prop_assert_eq!(serde_json::to_value(step.kind).unwrap(), json["kind"].clone());
            prop_assert_eq!(json!(step.functions), json["functions"].clone());
            prop_assert_eq!(json!(step.arg), json["arg"].clone());
        }
        prop_assert_eq!(request.args, command.args);
    }

    /// Randomly assembled manifests, as they are and mutated: decode and `to_request`
    /// either succeed or fail with a message; a command that decodes keeps the module bytes
    /// behind the manifest.
    #[test]
    fn random_manifests_decode_validate_or_fail_with_a_message(
        m in manifest_json(),
        module_bytes in prop::collection::vec(any::<u8>(), 0..8),
        mutations in prop::collection::vec(mutation(), 0..3),
    ) {
        let json = m.to_string();
        let bytes = envelope(json.as_bytes(), &module_bytes);
        let _ = decode_and_check(&bytes)?;
        if let Ok(command) = manifest::decode(&bytes) {
            prop_assert_eq!(command.module, &module_bytes[..]);
            prop_assert_eq!(command.args.len(), command.manifest.args.len());
        }
        if !mutations.is_empty() {
            let _ = decode_and_check(&mutate_json(json.as_bytes(), &mutations))?;
        }
    }
}

/// The generator is only useful if its manifests get past parsing, and some all the way to
/// a request: otherwise the properties above would only ever see the first error path.
#[test]
fn random_manifests_reach_validation_and_success() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    const N: usize = 1000;
    let mut runner = TestRunner::deterministic();
    let strategy = manifest_json();
    let (mut decoded, mut requested) = (0, 0);
    for _ in 0..N {
        let m = strategy.new_tree(&mut runner).unwrap().current();
        if let Ok(command) = manifest::decode(&envelope(m.to_string().as_bytes(), b"")) {
            decoded += 1;
            let request = command.to_request(&module(), TaskInfo::default(), "/spark/files");
            requested += usize::from(request.is_ok());
        }
    }
    eprintln!("{decoded}/{N} decoded, {requested}/{N} became requests");
    assert!(decoded >= N / 4, "{decoded}/{N} decoded");
    assert!(requested >= N / 5, "{requested}/{N} became requests");
}
