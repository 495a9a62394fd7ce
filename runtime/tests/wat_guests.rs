//! The sandbox with hand-written WAT guests, so every host-side guarantee is tested without
//! the guest SDK: typed errors for runaway guests, output validation, the task spec the
//! guest receives, `broadcast_read`, `accumulator_update`, and the read-only SparkFiles
//! mount (and its absence), and the on-disk module cache.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sparkwasm_abi::{
    Binding, InputEncoding, OutputSpec, Partitioner, Side, Source, StepKind, TaskInfo, TaskSpec,
    TypeRef, ABI_VERSION, BROADCAST_UNKNOWN, SPARK_FILES_GUEST_DIR,
};
use sparkwasm_runtime::{
    BroadcastRead, EngineOptions, Error, ErrorKind, InputBatch, ModuleSource, Policy, Runtime,
    TaskIo, TaskOutput, TaskPartitioner, TaskReport, TaskRequest, TaskStep,
};

/// No input; output collected; broadcasts served from memory, counting the host's reads.
#[derive(Default)]
struct MemoryIo {
    output: Vec<u8>,
    broadcasts: HashMap<i64, Vec<u8>>,
    broadcast_calls: usize,
}

impl MemoryIo {
    fn with_broadcasts(broadcasts: &[(i64, &[u8])]) -> Self {
        MemoryIo {
            broadcasts: broadcasts.iter().map(|(id, v)| (*id, v.to_vec())).collect(),
            ..MemoryIo::default()
        }
    }

    fn records(&self) -> Vec<Vec<u8>> {
        let mut rest = &self.output[..];
        let mut records = Vec::new();
        while !rest.is_empty() {
            let len = i32::from_be_bytes(rest[..4].try_into().unwrap());
            let len = usize::try_from(len).expect("the runtime never lets a negative length out");
            records.push(rest[4..4 + len].to_vec());
            rest = &rest[4 + len..];
        }
        records
    }
}

impl TaskIo for MemoryIo {
    fn next_input(&mut self, _buf: &mut [u8]) -> std::io::Result<InputBatch> {
        Ok(InputBatch::End)
    }

    fn write_output(&mut self, records: &[u8]) -> std::io::Result<()> {
        self.output.extend_from_slice(records);
        Ok(())
    }

    fn read_broadcast(&mut self, id: i64, buf: &mut [u8]) -> std::io::Result<BroadcastRead> {
        self.broadcast_calls += 1;
        let Some(value) = self.broadcasts.get(&id) else {
            return Ok(BroadcastRead::Unknown);
        };
        if value.len() > buf.len() {
            return Ok(BroadcastRead::NeedCapacity(value.len() as u64));
        }
        buf[..value.len()].copy_from_slice(value);
        Ok(BroadcastRead::Copied(value.len()))
    }
}

/// A sparkwasm module in WAT with functions `f` (map, handle 8) and `g` (partitioner,
/// handle 9), every sparkwasm import, WASI `path_open`/`fd_read`, a helper `$emit(ptr, n)`
/// that writes the big-endian record header at `ptr - 4` and hands the record to the host,
/// `data` as extra module fields and `body` as the body of `sparkwasm_run_task(spec, len)`.
/// The spec is copied to 1024; scratch memory starts at 0x8000.
fn wat_module(data: &str, body: &str) -> Vec<u8> {
    let mut section = Vec::new();
    for descriptor in [
        format!(
            r#"{{"abi_version":{ABI_VERSION},"name":"f","kind":"map","input":"i64","output":"i64"}}"#
        ),
        format!(
            r#"{{"abi_version":{ABI_VERSION},"name":"g","kind":"partitioner","input":"i64","output":"u64"}}"#
        ),
    ] {
        section.extend_from_slice(&u32::try_from(descriptor.len()).unwrap().to_le_bytes());
        section.extend_from_slice(descriptor.as_bytes());
    }
    let escaped: String = section.iter().map(|b| format!("\\{b:02x}")).collect();
    wat::parse_str(format!(
        r#"(module
            (import "sparkwasm" "output_write" (func $output (param i32 i32) (result i32)))
            (import "sparkwasm" "broadcast_read" (func $broadcast_read (param i64 i32 i32) (result i64)))
            (import "sparkwasm" "accumulator_update" (func $accumulator_update (param i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "path_open"
                (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
            (@custom "sparkwasm.functions" "{escaped}")
            (memory (export "memory") 1)
            (func (export "sparkwasm_abi_version") (result i32) i32.const {ABI_VERSION})
            (func (export "sparkwasm_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "sparkwasm_fn_f") (result i32) i32.const 8)
            (func (export "sparkwasm_fn_g") (result i32) i32.const 9)
            (func $recurse (param i32) (result i32) local.get 0 call $recurse)
            (func $emit (param $p i32) (param $n i32) (result i32)
                (i32.store8 (i32.sub (local.get $p) (i32.const 4)) (i32.shr_u (local.get $n) (i32.const 24)))
                (i32.store8 (i32.sub (local.get $p) (i32.const 3)) (i32.shr_u (local.get $n) (i32.const 16)))
                (i32.store8 (i32.sub (local.get $p) (i32.const 2)) (i32.shr_u (local.get $n) (i32.const 8)))
                (i32.store8 (i32.sub (local.get $p) (i32.const 1)) (local.get $n))
                (call $output (i32.sub (local.get $p) (i32.const 4)) (i32.add (local.get $n) (i32.const 4))))
            {data}
            (func (export "sparkwasm_run_task") (param $spec i32) (param $len i32) (result i32) {body}))"#
    ))
    .expect("valid wat")
}

fn request() -> TaskRequest {
    TaskRequest {
        info: TaskInfo {
            partition_id: 3,
            stage_id: 11,
            attempt_number: 1,
            task_attempt_id: 77,
            local_properties: vec![("a".into(), "1".into()), ("b".into(), "2".into())],
            spark_files: true, // ignored: the runtime decides
        },
        input: InputEncoding::PickleBatch,
        source: Some(("f".into(), Side::Input)),
        steps: vec![TaskStep {
            kind: StepKind::Map,
            functions: vec!["f".into()],
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

fn runtime(policy: Policy) -> Runtime<MemoryIo> {
    Runtime::new(policy).expect("engine starts")
}

/// Runs `body` (with `data`) as a task.
fn run(
    rt: &mut Runtime<MemoryIo>,
    data: &str,
    body: &str,
    req: &TaskRequest,
    io: MemoryIo,
) -> (MemoryIo, Result<TaskReport, Error>) {
    let bytes = wat_module(data, body);
    let digest = sparkwasm_runtime::digest_hex(&bytes);
    let module = rt.load(&bytes, &digest).expect("wat module loads");
    rt.run_task(&module, req, io)
}

fn run_failing(rt: &mut Runtime<MemoryIo>, body: &str) -> (MemoryIo, Error) {
    let (io, result) = run(rt, "", body, &request(), MemoryIo::default());
    (io, result.expect_err("the task fails"))
}

/// A body that emits the task spec it was given as one record.
const ECHO_SPEC: &str = r#"
    (drop (call $emit (local.get $spec) (local.get $len)))
    i32.const 0"#;

// ---- runaway guests and output validation ----

#[test]
fn an_infinite_loop_hits_the_deadline_quickly() {
    let mut rt = runtime(Policy::default().with_task_deadline(Duration::from_millis(200)));
    let started = Instant::now();
    let (_, err) = run_failing(&mut rt, "(loop (br 0)) i32.const 0");
    assert_eq!(err.kind(), ErrorKind::Deadline, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn runaway_recursion_is_a_stack_overflow() {
    let mut rt = runtime(Policy::default());
    let (_, err) = run_failing(&mut rt, "i32.const 0 call $recurse");
    assert_eq!(err.kind(), ErrorKind::StackOverflow, "{err}");
}

#[test]
fn growing_memory_past_the_cap_is_a_memory_limit() {
    let mut rt = runtime(Policy::default().with_memory_bytes(8 << 20));
    let (_, err) = run_failing(
        &mut rt,
        "(loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable",
    );
    assert_eq!(err.kind(), ErrorKind::MemoryLimit, "{err}");
}

#[test]
fn output_that_lies_about_its_length_never_leaves_the_sandbox() {
    let mut rt = runtime(Policy::default());
    // A record header claiming 1000 bytes (big-endian 0x3e8) with 4 bytes behind it.
    let (io, err) = run_failing(
        &mut rt,
        r#"(i32.store (i32.const 0x8000) (i32.const 0xe8030000))
           (i32.store (i32.const 0x8004) (i32.const 0x64636261))
           (drop (call $output (i32.const 0x8000) (i32.const 8)))
           i32.const 0"#,
    );
    assert_eq!(err.kind(), ErrorKind::GuestFault, "{err}");
    assert!(io.output.is_empty(), "nothing malformed reached the host");
}

#[test]
fn a_buffer_outside_guest_memory_is_a_fault_not_a_host_crash() {
    let mut rt = runtime(Policy::default());
    for body in [
        "(drop (call $output (i32.const 65000) (i32.const 100000))) i32.const 0",
        "(drop (call $broadcast_read (i64.const 1) (i32.const 65000) (i32.const 100000))) i32.const 0",
        "(drop (call $accumulator_update (i32.const -1) (i32.const 2))) i32.const 0",
    ] {
        let (_, err) = run_failing(&mut rt, body);
        assert_eq!(err.kind(), ErrorKind::GuestFault, "{body}: {err}");
    }
}

#[test]
fn shuffle_output_must_name_partitions_in_range() {
    let mut rt = runtime(Policy::default());
    let mut req = request();
    req.output = TaskOutput::Shuffle {
        partitions: 3,
        partitioner: TaskPartitioner::Hash,
    };
    // Partition 5 (8 bytes, big-endian) of 3.
    let body = r#"(i64.store (i32.const 0x8000) (i64.const 0x0500000000000000))
        (drop (call $emit (i32.const 0x8000) (i32.const 8))) i32.const 0"#;
    let (io, result) = run(&mut rt, "", body, &req, MemoryIo::default());
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GuestFault, "{err}");
    assert!(err.message().contains("partition 5, outside 0..3"), "{err}");
    assert!(io.output.is_empty());
    // Partition 2, then the guest stops without the batch.
    let body = r#"(i64.store (i32.const 0x8000) (i64.const 0x0200000000000000))
        (drop (call $emit (i32.const 0x8000) (i32.const 8))) i32.const 0"#;
    let (_, result) = run(&mut rt, "", body, &req, MemoryIo::default());
    assert!(result.unwrap_err().message().contains("without its batch"));
}

#[test]
fn count_output_is_exactly_one_record() {
    let mut rt = runtime(Policy::default());
    let mut req = request();
    req.output = TaskOutput::Count;
    let one = "(drop (call $emit (i32.const 0x8000) (i32.const 3)))";
    let (io, result) = run(
        &mut rt,
        "",
        &format!("{one} i32.const 0"),
        &req,
        MemoryIo::default(),
    );
    assert_eq!(result.unwrap().output_records, 1);
    assert_eq!(io.records().len(), 1);
    for body in [format!("{one} {one} i32.const 0"), "i32.const 0".to_owned()] {
        let (_, result) = run(&mut rt, "", &body, &req, MemoryIo::default());
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::GuestFault, "{err}");
        assert!(err.message().contains("single record"), "{err}");
    }
    // Take, Text and SampleKeys take any number of whole records.
    for output in [
        TaskOutput::Take { n: 3 },
        TaskOutput::Text,
        TaskOutput::SampleKeys {
            fraction: 0.5,
            seed: 1,
        },
    ] {
        req.output = output;
        let (io, result) = run(
            &mut rt,
            "",
            &format!("{one} {one} i32.const 0"),
            &req,
            MemoryIo::default(),
        );
        result.unwrap();
        assert_eq!(io.records().len(), 2);
    }
}

// ---- the task spec ----

#[test]
fn the_guest_gets_a_v2_spec_with_handles_info_args_and_bindings() {
    let mut rt = runtime(Policy::default());
    let mut req = request();
    req.steps.push(TaskStep {
        kind: StepKind::FoldAll,
        functions: vec!["f".into()],
        arg: Some(1),
    });
    req.output = TaskOutput::Shuffle {
        partitions: 4,
        partitioner: TaskPartitioner::Function("g".into()),
    };
    req.args = vec![b"\x80\x04K\x00.".to_vec(), b"\x80\x04K\x07.".to_vec()];
    req.broadcasts = vec![Binding {
        name: "lookup".into(),
        id: 12,
    }];
    req.accumulators = vec![Binding {
        name: "seen".into(),
        id: 0,
    }];
    // An echoed spec is not a shuffle record pair; check it under a pickle output first.
    let mut echo = req.clone();
    echo.output = TaskOutput::Pickle;
    let (io, result) = run(&mut rt, "", ECHO_SPEC, &echo, MemoryIo::default());
    result.unwrap();
    let spec: TaskSpec = postcard::from_bytes(&io.records()[0]).unwrap();
    assert_eq!(spec.abi_version, ABI_VERSION);
    assert_eq!(
        spec.source,
        Source::Typed(TypeRef {
            function: 8,
            side: Side::Input
        })
    );
    assert_eq!(spec.steps[1].functions, vec![8]);
    assert_eq!(spec.steps[1].arg, Some(1));
    assert_eq!(spec.args, req.args);
    assert_eq!(spec.broadcasts, req.broadcasts);
    assert_eq!(spec.accumulators, req.accumulators);
    assert_eq!(
        spec.info,
        TaskInfo {
            spark_files: false,
            ..req.info.clone()
        }
    );
    assert_eq!(spec.output, OutputSpec::Pickle);

    // The partitioner function's handle and a dynamic source: echo the spec as the batch
    // of a (partition 0, batch) shuffle pair.
    let mut dynamic = req.clone();
    dynamic.source = None;
    let body = r#"(i64.store (i32.const 0x8000) (i64.const 0))
        (drop (call $emit (i32.const 0x8000) (i32.const 8)))
        (drop (call $emit (local.get $spec) (local.get $len)))
        i32.const 0"#;
    let (io, result) = run(&mut rt, "", body, &dynamic, MemoryIo::default());
    assert_eq!(result.unwrap().output_records, 2);
    let records = io.records();
    assert_eq!(records[0], [0u8; 8]);
    let spec: TaskSpec = postcard::from_bytes(&records[1]).unwrap();
    assert_eq!(spec.source, Source::Dynamic);
    assert_eq!(
        spec.output,
        OutputSpec::Shuffle {
            partitions: 4,
            partitioner: Partitioner::Function { function: 9 },
        }
    );
}

#[test]
fn an_unknown_function_anywhere_is_a_typed_error() {
    let mut rt = runtime(Policy::default());
    let mut unknown_step = request();
    unknown_step.steps[0].functions = vec!["nope".into()];
    let mut unknown_source = request();
    unknown_source.source = Some(("ghost".into(), Side::Output));
    let mut unknown_partitioner = request();
    unknown_partitioner.output = TaskOutput::Shuffle {
        partitions: 2,
        partitioner: TaskPartitioner::Function("part".into()),
    };
    for (req, name) in [
        (unknown_step, "nope"),
        (unknown_source, "ghost"),
        (unknown_partitioner, "part"),
    ] {
        let (_, result) = run(&mut rt, "", ECHO_SPEC, &req, MemoryIo::default());
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownFunction, "{err}");
        assert!(err.message().contains(name), "{err}");
    }
}

// ---- broadcast_read ----

/// Calls `broadcast_read(id, 0x9000, cap)` and emits two records: the i64 result
/// (little-endian) and the 64 bytes of the buffer.
fn broadcast_body(id: i64, cap: u32) -> String {
    format!(
        r#"(i64.store (i32.const 0x8000) (call $broadcast_read (i64.const {id}) (i32.const 0x9000) (i32.const {cap})))
           (drop (call $emit (i32.const 0x8000) (i32.const 8)))
           (drop (call $emit (i32.const 0x9000) (i32.const 64)))
           i32.const 0"#
    )
}

fn broadcast_result(io: &MemoryIo) -> (i64, Vec<u8>) {
    let records = io.records();
    let result = i64::from_le_bytes(records[0].clone().try_into().unwrap());
    (result, records[1].clone())
}

#[test]
fn broadcast_read_copies_a_bound_value_into_guest_memory() {
    let value = b"\x80\x05\x95hello broadcast.";
    let mut rt = runtime(Policy::default());
    let mut req = request();
    req.broadcasts = vec![Binding {
        name: "lookup".into(),
        id: 3,
    }];
    let (io, result) = run(
        &mut rt,
        "",
        &broadcast_body(3, 64),
        &req,
        MemoryIo::with_broadcasts(&[(3, value)]),
    );
    result.unwrap();
    let (n, buffer) = broadcast_result(&io);
    assert_eq!(n, value.len() as i64);
    assert_eq!(&buffer[..value.len()], value);
    assert!(buffer[value.len()..].iter().all(|b| *b == 0));
}

#[test]
fn broadcast_read_into_a_small_buffer_asks_for_more_and_writes_nothing() {
    let value = [7u8; 40];
    let mut rt = runtime(Policy::default());
    let mut req = request();
    req.broadcasts = vec![Binding {
        name: "b".into(),
        id: 3,
    }];
    let (io, result) = run(
        &mut rt,
        "",
        &broadcast_body(3, 39),
        &req,
        MemoryIo::with_broadcasts(&[(3, &value)]),
    );
    result.unwrap();
    let (n, buffer) = broadcast_result(&io);
    assert_eq!(n, -40);
    assert!(buffer.iter().all(|b| *b == 0), "nothing was written");
}

#[test]
fn broadcast_read_of_an_unknown_or_unbound_id_is_broadcast_unknown() {
    let mut rt = runtime(Policy::default());
    let mut req = request();
    req.broadcasts = vec![Binding {
        name: "b".into(),
        id: 9,
    }];
    // Bound, but the host does not have it.
    let (io, result) = run(
        &mut rt,
        "",
        &broadcast_body(9, 64),
        &req,
        MemoryIo::default(),
    );
    result.unwrap();
    assert_eq!(broadcast_result(&io).0, BROADCAST_UNKNOWN);
    assert_eq!(io.broadcast_calls, 1);
    // The host has 5 (another task's broadcast on this connection), but it is not bound to
    // this task: the guest gets nothing, and the host is not even asked.
    let (io, result) = run(
        &mut rt,
        "",
        &broadcast_body(5, 64),
        &req,
        MemoryIo::with_broadcasts(&[(5, b"secret")]),
    );
    result.unwrap();
    let (n, buffer) = broadcast_result(&io);
    assert_eq!(n, BROADCAST_UNKNOWN);
    assert!(buffer.iter().all(|b| *b == 0));
    assert_eq!(io.broadcast_calls, 0);
}

// ---- accumulator_update ----

const UPDATES: &str = r#"(data (i32.const 0xa000) "\80\04K\00K\06\86\94.")
    (data (i32.const 0xa100) "second update")"#;

/// Sends the two updates of `UPDATES` and emits their return codes (two i32, LE).
const UPDATE_BODY: &str = r#"
    (i32.store (i32.const 0x8000) (call $accumulator_update (i32.const 0xa000) (i32.const 9)))
    (i32.store (i32.const 0x8004) (call $accumulator_update (i32.const 0xa100) (i32.const 13)))
    (drop (call $emit (i32.const 0x8000) (i32.const 8)))
    i32.const 0"#;

#[test]
fn accumulator_updates_are_collected_in_order_and_returned() {
    let mut rt = runtime(Policy::default());
    let (io, result) = run(
        &mut rt,
        UPDATES,
        UPDATE_BODY,
        &request(),
        MemoryIo::default(),
    );
    let report = result.unwrap();
    assert_eq!(io.records()[0], [0u8; 8], "both accepted");
    assert_eq!(
        report.accumulator_updates,
        vec![
            b"\x80\x04K\x00K\x06\x86\x94.".to_vec(),
            b"second update".to_vec()
        ]
    );
}

#[test]
fn accumulator_updates_past_the_limits_are_refused_and_fail_the_task() {
    for limits in [
        Policy::default().with_accumulator_updates_per_task(1),
        Policy::default().with_accumulator_bytes_per_task(20),
    ] {
        let mut rt = runtime(limits);
        let (io, result) = run(
            &mut rt,
            UPDATES,
            UPDATE_BODY,
            &request(),
            MemoryIo::default(),
        );
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutputLimit, "{err}");
        assert!(err.message().contains("accumulator"), "{err}");
        // The guest was told: the second call returned non-zero.
        let codes = &io.records()[0];
        assert_eq!(codes[..4], [0, 0, 0, 0]);
        assert_ne!(codes[4..], [0, 0, 0, 0]);
    }
}

// ---- SparkFiles ----

/// Opens `path` relative to fd 3 with `oflags` and `rights`, reads up to 64 bytes, and
/// emits one record: open errno, read errno, bytes read (three i32, LE), then the buffer.
fn open_and_read(path: &str, oflags: u32, rights: u64) -> (String, String) {
    let escaped: String = path.bytes().map(|b| format!("\\{b:02x}")).collect();
    let data = format!(r#"(data (i32.const 0xb000) "{escaped}")"#);
    let body = format!(
        r#"(i32.store (i32.const 0x8000)
              (call $path_open (i32.const 3) (i32.const 0) (i32.const 0xb000) (i32.const {len})
                  (i32.const {oflags}) (i64.const {rights}) (i64.const 0) (i32.const 0) (i32.const 0xc000)))
           (i32.store (i32.const 0x8004) (i32.const -1))
           (if (i32.eqz (i32.load (i32.const 0x8000)))
             (then
               (i32.store (i32.const 0xc100) (i32.const 0x800c))
               (i32.store (i32.const 0xc104) (i32.const 64))
               (i32.store (i32.const 0x8004)
                 (call $fd_read (i32.load (i32.const 0xc000)) (i32.const 0xc100) (i32.const 1) (i32.const 0x8008)))))
           (drop (call $emit (i32.const 0x8000) (i32.const 76)))
           i32.const 0"#,
        len = path.len()
    );
    (data, body)
}

/// What the guest saw: (open errno, read errno, content).
fn sparkfiles_result(io: &MemoryIo) -> (i32, i32, Vec<u8>) {
    let record = &io.records()[0];
    let field = |i: usize| i32::from_le_bytes(record[i * 4..i * 4 + 4].try_into().unwrap());
    let n = usize::try_from(field(2).max(0)).unwrap();
    (field(0), field(1), record[12..12 + n].to_vec())
}

struct SparkFiles {
    root: PathBuf,
}

impl SparkFiles {
    /// `<tmp>/<name>/files/data.txt`, a sibling `<tmp>/<name>/outside.txt`, and a symlink
    /// `files/etc` to `/etc`.
    fn new(name: &str) -> Self {
        let root = std::env::temp_dir().join(format!("sparkwasm-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("files")).unwrap();
        std::fs::write(root.join("files/data.txt"), "spark files!").unwrap();
        std::fs::write(root.join("outside.txt"), "not for guests").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("files/etc")).unwrap();
        SparkFiles { root }
    }

    fn dir(&self) -> PathBuf {
        self.root.join("files")
    }
}

impl Drop for SparkFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

const FD_READ: u64 = 1 << 1;
const FD_WRITE: u64 = 1 << 6;
const O_CREAT: u32 = 1;

fn run_sparkfiles(dir: Option<&Path>, path: &str, oflags: u32, rights: u64) -> (i32, i32, Vec<u8>) {
    let mut rt = runtime(Policy::default());
    let mut req = request();
    req.spark_files_dir = dir.map(Path::to_path_buf);
    let (data, body) = open_and_read(path, oflags, rights);
    let (io, result) = run(&mut rt, &data, &body, &req, MemoryIo::default());
    result.unwrap();
    sparkfiles_result(&io)
}

#[test]
fn spark_files_are_readable_at_fd_3_and_the_spec_says_so() {
    let files = SparkFiles::new("sf-read");
    let (open, read, content) = run_sparkfiles(Some(&files.dir()), "data.txt", 0, FD_READ);
    assert_eq!((open, read), (0, 0));
    assert_eq!(content, b"spark files!");

    let mut rt = runtime(Policy::default());
    let mut req = request();
    req.spark_files_dir = Some(files.dir());
    let (io, result) = run(&mut rt, "", ECHO_SPEC, &req, MemoryIo::default());
    result.unwrap();
    let spec: TaskSpec = postcard::from_bytes(&io.records()[0]).unwrap();
    assert!(spec.info.spark_files);
    assert_eq!(SPARK_FILES_GUEST_DIR, "/sparkfiles");
}

#[test]
fn nothing_outside_spark_files_can_be_opened_and_nothing_written() {
    let files = SparkFiles::new("sf-escape");
    for path in [
        "../outside.txt",
        "/etc/passwd",
        "etc/passwd",
        "./../files/../outside.txt",
    ] {
        let (open, _, content) = run_sparkfiles(Some(&files.dir()), path, 0, FD_READ);
        assert_ne!(
            open,
            0,
            "{path} was opened: {:?}",
            String::from_utf8_lossy(&content)
        );
    }
    let (open, _, _) = run_sparkfiles(Some(&files.dir()), "new.txt", O_CREAT, FD_READ | FD_WRITE);
    assert_ne!(open, 0, "created a file");
    assert!(!files.dir().join("new.txt").exists());
    let (open, _, _) = run_sparkfiles(Some(&files.dir()), "data.txt", 0, FD_READ | FD_WRITE);
    assert_ne!(open, 0, "opened for writing");
}

#[test]
fn without_the_grant_there_is_no_preopen() {
    const EBADF: i32 = 8;
    let files = SparkFiles::new("sf-none");
    let (open, _, _) = run_sparkfiles(None, "data.txt", 0, FD_READ);
    assert_eq!(open, EBADF);
    // A granted directory that does not exist is no mount either.
    let missing = files.root.join("missing");
    let (open, _, _) = run_sparkfiles(Some(&missing), "data.txt", 0, FD_READ);
    assert_eq!(open, EBADF);
    let mut rt = runtime(Policy::default());
    let (io, result) = run(&mut rt, "", ECHO_SPEC, &request(), MemoryIo::default());
    result.unwrap();
    let spec: TaskSpec = postcard::from_bytes(&io.records()[0]).unwrap();
    assert!(!spec.info.spark_files, "the request's flag is not trusted");
}

// ---- the on-disk module cache ----

/// A fresh cache directory under the system temp dir, removed on drop.
struct CacheDir(PathBuf);

impl CacheDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("sparkwasm-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        CacheDir(dir)
    }

    fn runtime(&self) -> Runtime<MemoryIo> {
        let options = EngineOptions {
            module_cache: Some(self.0.join("modules")),
            perf_map: false,
        };
        Runtime::with_options(Policy::default(), options).expect("engine starts")
    }

    fn artifacts(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.0.join("modules"))
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for CacheDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Loads the echo module in `rt` and runs it once; where its code came from.
fn load_and_run(rt: &mut Runtime<MemoryIo>) -> ModuleSource {
    let bytes = wat_module("", ECHO_SPEC);
    let module = rt
        .load(&bytes, &sparkwasm_runtime::digest_hex(&bytes))
        .expect("loads");
    let (io, result) = rt.run_task(&module, &request(), MemoryIo::default());
    result.expect("the cached module runs");
    assert_eq!(io.records().len(), 1, "the echo task wrote its spec");
    module.source()
}

#[test]
fn a_second_process_loads_the_compiled_module_from_the_disk_cache() {
    let cache = CacheDir::new("second");
    assert_eq!(load_and_run(&mut cache.runtime()), ModuleSource::Compiled);
    assert_eq!(
        cache.artifacts().len(),
        1,
        "the compiled module was written"
    );
    // A new runtime stands for a new worker process: nothing in memory, the disk has it.
    assert_eq!(load_and_run(&mut cache.runtime()), ModuleSource::DiskCache);
    let mode = std::fs::metadata(cache.0.join("modules"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the cache directory is private");
    let mode = std::fs::metadata(&cache.artifacts()[0])
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "artifacts are private");
}

#[test]
fn a_tampered_or_truncated_artifact_is_compiled_again_never_loaded() {
    let cache = CacheDir::new("tampered");
    load_and_run(&mut cache.runtime());
    let artifact = cache.artifacts().remove(0);
    let original = std::fs::read(&artifact).unwrap();
    let mut flipped = original.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    for bad in [
        flipped,
        original[..original.len() - 1].to_vec(),
        b"\x7fELF".to_vec(),
    ] {
        std::fs::write(&artifact, &bad).unwrap();
        assert_eq!(load_and_run(&mut cache.runtime()), ModuleSource::Compiled);
        // ... and the good artifact is back for the next process.
        assert_eq!(load_and_run(&mut cache.runtime()), ModuleSource::DiskCache);
    }
}

#[test]
fn an_artifact_from_another_cache_key_is_not_loaded() {
    // Two caches, two random keys: a tag made under one key does not verify under the other,
    // and without a tag an artifact is never loaded.
    let (one, two) = (CacheDir::new("key-one"), CacheDir::new("key-two"));
    load_and_run(&mut one.runtime());
    load_and_run(&mut two.runtime());
    let (from, to) = (one.artifacts().remove(0), two.artifacts().remove(0));
    let (from_tag, to_tag) = (from.with_extension("tag"), to.with_extension("tag"));
    assert_ne!(
        std::fs::read(&from_tag).unwrap(),
        std::fs::read(&to_tag).unwrap()
    );
    std::fs::copy(&from_tag, &to_tag).unwrap();
    assert_eq!(load_and_run(&mut two.runtime()), ModuleSource::Compiled);
    std::fs::remove_file(&to_tag).unwrap();
    assert_eq!(load_and_run(&mut two.runtime()), ModuleSource::Compiled);
    assert!(to_tag.exists(), "the tag was written again");
}

#[test]
fn a_cache_directory_others_can_write_turns_the_cache_off() {
    let cache = CacheDir::new("shared");
    std::fs::create_dir_all(cache.0.join("modules")).unwrap();
    std::fs::set_permissions(
        cache.0.join("modules"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let mut rt = cache.runtime();
    let why = rt
        .module_cache_error()
        .expect("the cache is off")
        .to_owned();
    assert!(why.contains("writable by others"), "{why}");
    assert_eq!(load_and_run(&mut rt), ModuleSource::Compiled);
    assert!(cache.artifacts().is_empty(), "nothing was written to it");
}

#[test]
fn an_artifact_others_can_write_is_not_loaded() {
    let cache = CacheDir::new("loose-file");
    load_and_run(&mut cache.runtime());
    let artifact = cache.artifacts().remove(0);
    std::fs::set_permissions(&artifact, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(load_and_run(&mut cache.runtime()), ModuleSource::Compiled);
}

#[test]
fn a_fuel_budget_needs_the_module_loaded_under_it() {
    let mut rt = Runtime::<MemoryIo>::new(Policy::default()).unwrap();
    let bytes = wat_module("", ECHO_SPEC);
    let digest = sparkwasm_runtime::digest_hex(&bytes);
    let module = rt.load(&bytes, &digest).unwrap();
    let metered = Policy::default().with_fuel(Some(1_000_000));
    let (_, result) = rt.run_task_under(&metered, &module, &request(), MemoryIo::default());
    let err = result.expect_err("not compiled for the metering engine");
    assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
    assert!(err.message().contains("load_under"), "{err}");
    // Loading it again under the budget makes the same module ready for it.
    let again = rt.load_under(&metered, &bytes, &digest).unwrap();
    assert!(std::sync::Arc::ptr_eq(&module, &again));
    let (_, result) = rt.run_task_under(&metered, &module, &request(), MemoryIo::default());
    result.expect("runs under fuel");
}

#[test]
fn fuel_metered_tasks_use_their_own_cache_entry() {
    let cache = CacheDir::new("metered");
    let mut rt = cache.runtime();
    let bytes = wat_module("", ECHO_SPEC);
    let metered = Policy::default().with_fuel(Some(1_000_000));
    let module = rt
        .load_under(&metered, &bytes, &sparkwasm_runtime::digest_hex(&bytes))
        .unwrap();
    let (_, result) = rt.run_task_under(&metered, &module, &request(), MemoryIo::default());
    result.expect("runs under fuel");
    assert_eq!(
        cache.artifacts().len(),
        2,
        "one artifact per engine configuration"
    );
}
