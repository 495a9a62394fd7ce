//! The `sparkwasm-worker` binary spoken to in raw Spark protocol bytes, with the test playing
//! the executor JVM: daemon start-up, handshake, tasks and reuse, broadcasts (path and
//! decryption-server mode, kept across tasks), accumulator updates in the trailer, failures
//! reported as exceptions while the daemon serves on, the kill channel, shutdown on stdin EOF
//! and SIGTERM, and non-daemon mode.

use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_pickle::{DeOptions, SerOptions};
use sparkwasm_protocol::{
    jvm, read_i32, read_i64, read_str, special, write_frame, write_i32, write_i64, write_str,
    BroadcastEntry, BroadcastUpdate, ServerAddress, SparkVersion, TaskContext, TaskHeader,
};
use sparkwasm_tests::{module_bytes, TYPED_GUEST};

mod common;

use common::{Daemon, SECRET, WORKER};

/// A v2 command running `steps` (kind, function) over pickled batches, with pickle output.
fn command(module: &[u8], steps: &[(&str, &str)], kinds: &[(&str, &str)]) -> Vec<u8> {
    command_with(module, steps, kinds, serde_json::json!({}))
}

/// [`command`] with extra manifest fields (`broadcasts`, `accumulators`, ...).
fn command_with(
    module: &[u8],
    steps: &[(&str, &str)],
    kinds: &[(&str, &str)],
    extra: serde_json::Value,
) -> Vec<u8> {
    let digest = sparkwasm_runtime::digest_hex(module);
    let steps: Vec<_> = steps
        .iter()
        .map(|(kind, function)| {
            serde_json::json!({"kind": kind, "functions": [function], "arg": null})
        })
        .collect();
    let names: BTreeMap<_, _> = kinds.iter().cloned().collect();
    let mut manifest = serde_json::json!({
        "module_digest": digest,
        "input": "pickle_batch",
        "source": {"function": steps[0]["functions"][0], "side": "input"},
        "steps": steps,
        "output": {"kind": "pickle"},
        "args": [],
        "broadcasts": {},
        "accumulators": {},
        "spark_files": false,
        "function_names": names,
    });
    for (k, v) in extra.as_object().unwrap() {
        manifest[k] = v.clone();
    }
    let manifest = manifest.to_string();
    let mut bytes = b"SPWASM\x02".to_vec();
    bytes.extend_from_slice(&u32::try_from(manifest.len()).unwrap().to_be_bytes());
    bytes.extend_from_slice(manifest.as_bytes());
    bytes.extend_from_slice(module);
    bytes
}

fn header(partition: i32, command: Vec<u8>) -> TaskHeader {
    TaskHeader {
        partition_index: partition,
        python_version: "3.11".into(),
        task_context: TaskContext {
            is_barrier: false,
            barrier_server: None,
            stage_id: 7,
            partition_id: partition,
            attempt_number: 0,
            task_attempt_id: 42,
            cpus: 1,
            resources: BTreeMap::new(),
            local_properties: BTreeMap::new(),
        },
        spark_files_dir: "/tmp".into(),
        python_includes: vec![],
        broadcasts: BroadcastUpdate::default(),
        eval_type: 0,
        runner_conf: vec![],
        eval_conf: vec![],
        command: sparkwasm_protocol::Command::Rdd(command),
    }
}

/// What the worker answered to one task.
#[derive(Debug, PartialEq)]
enum Answer {
    Values(Vec<i64>),
    Exception(String),
}

/// One JVM-side connection to a worker.
struct Jvm {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
}

impl Jvm {
    fn new(stream: TcpStream) -> Self {
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        Jvm {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: BufWriter::new(stream),
        }
    }

    fn send_task(&mut self, partition: i32, command: Vec<u8>, batches: &[Vec<i64>]) {
        self.send_task_with(&header(partition, command), batches);
    }

    fn send_task_with(&mut self, header: &TaskHeader, batches: &[Vec<i64>]) {
        jvm::write_task_header(&mut self.writer, SparkVersion::V4_3, header).unwrap();
        for batch in batches {
            let frame = serde_pickle::to_vec(batch, SerOptions::new()).unwrap();
            write_frame(&mut self.writer, &frame).unwrap();
        }
        write_i32(&mut self.writer, special::END_OF_DATA_SECTION).unwrap();
        write_i32(&mut self.writer, special::END_OF_STREAM).unwrap();
        self.writer.flush().unwrap();
    }

    /// Reads a task's answer through END_OF_STREAM (or the exception); a successful task
    /// must have sent no accumulator updates.
    fn read_answer(&mut self) -> Answer {
        let (answer, updates) = self.read_answer_with_updates();
        assert!(updates.is_empty(), "no accumulator updates");
        answer
    }

    /// Reads a task's answer and its accumulator updates.
    fn read_answer_with_updates(&mut self) -> (Answer, Vec<Vec<u8>>) {
        let mut values = Vec::new();
        loop {
            let len = read_i32(&mut self.reader).unwrap();
            match len {
                special::TIMING_DATA => break,
                special::PYTHON_EXCEPTION_THROWN => {
                    let message = read_str(&mut self.reader, 1 << 20, "exception").unwrap();
                    return (Answer::Exception(message), Vec::new());
                }
                n => {
                    let mut frame = vec![0; usize::try_from(n).expect("a data frame")];
                    self.reader.read_exact(&mut frame).unwrap();
                    values.extend(
                        serde_pickle::from_slice::<Vec<i64>>(&frame, DeOptions::new()).unwrap(),
                    );
                }
            }
        }
        for _ in 0..6 {
            read_i64(&mut self.reader).unwrap();
        }
        assert_eq!(
            read_i32(&mut self.reader).unwrap(),
            special::END_OF_DATA_SECTION
        );
        let count = read_i32(&mut self.reader).unwrap();
        let updates = (0..count)
            .map(|_| {
                let len = usize::try_from(read_i32(&mut self.reader).unwrap()).unwrap();
                let mut update = vec![0; len];
                self.reader.read_exact(&mut update).unwrap();
                update
            })
            .collect();
        assert_eq!(
            read_i32(&mut self.reader).unwrap(),
            special::END_OF_STREAM,
            "reusable"
        );
        (Answer::Values(values), updates)
    }
}

/// Connects like PythonWorkerFactory (see `common::Daemon::connect_stream`).
fn connect(daemon: &Daemon) -> (Jvm, i32) {
    let (stream, pid) = daemon.connect_stream();
    (Jvm::new(stream), pid)
}

fn triple_then_filter(module: &[u8]) -> Vec<u8> {
    command(
        module,
        &[
            ("map", "triple_plus_one"),
            ("filter", "is_multiple_of_four"),
        ],
        &[
            ("triple_plus_one", "map"),
            ("is_multiple_of_four", "filter"),
        ],
    )
}

fn expected(batches: &[Vec<i64>]) -> Vec<i64> {
    batches
        .iter()
        .flatten()
        .map(|x| x * 3 + 1)
        .filter(|x| x % 4 == 0)
        .collect()
}

#[test]
fn daemon_serves_several_tasks_on_one_connection() {
    let module = module_bytes(TYPED_GUEST);
    let daemon = Daemon::start();
    let (mut jvm, pid) = connect(&daemon);
    for partition in 0..3 {
        let batches = vec![
            (0..100).map(|x| x * i64::from(partition + 1)).collect(),
            vec![-5, 17, 1001],
        ];
        jvm.send_task(partition, triple_then_filter(&module), &batches);
        assert_eq!(
            jvm.read_answer(),
            Answer::Values(expected(&batches)),
            "task {partition}"
        );
    }
    // A second connection gets its own process.
    let (mut other, other_pid) = connect(&daemon);
    assert_ne!(pid, other_pid);
    other.send_task(0, triple_then_filter(&module), &[vec![1, 5]]);
    assert_eq!(other.read_answer(), Answer::Values(vec![4, 16]));
}

#[test]
fn a_failing_task_is_reported_and_the_daemon_keeps_serving() {
    let module = module_bytes(TYPED_GUEST);
    let daemon = Daemon::start();
    let (mut jvm, _) = connect(&daemon);
    jvm.send_task(
        5,
        command(&module, &[("map", "explode")], &[("explode", "map")]),
        &[vec![1, 13]],
    );
    let Answer::Exception(message) = jvm.read_answer() else {
        panic!("expected an exception")
    };
    let digest = sparkwasm_runtime::digest_hex(&module);
    for needle in ["boom at 13", "explode", "partition 5", &digest[..12]] {
        assert!(
            message.contains(needle),
            "{needle:?} missing from: {message}"
        );
    }
    let (mut next, _) = connect(&daemon);
    next.send_task(0, triple_then_filter(&module), &[vec![1]]);
    assert_eq!(next.read_answer(), Answer::Values(vec![4]));
}

#[test]
fn tampered_module_bytes_are_refused() {
    let module = module_bytes(TYPED_GUEST);
    let mut cmd = triple_then_filter(&module);
    // Flip a byte of the module after the digest was computed.
    let last = cmd.len() - 1;
    cmd[last] ^= 0xff;
    let daemon = Daemon::start();
    let (mut jvm, _) = connect(&daemon);
    jvm.send_task(0, cmd, &[vec![1]]);
    let Answer::Exception(message) = jvm.read_answer() else {
        panic!("expected an exception")
    };
    assert!(message.contains("digest mismatch"), "{message}");
}

#[test]
fn a_malformed_data_section_fails_the_task_without_hanging() {
    let module = module_bytes(TYPED_GUEST);
    let daemon = Daemon::start();
    let (mut jvm, _) = connect(&daemon);
    jvm::write_task_header(
        &mut jvm.writer,
        SparkVersion::V4_3,
        &header(0, triple_then_filter(&module)),
    )
    .unwrap();
    write_i32(&mut jvm.writer, -7).unwrap(); // no such special length
    jvm.writer.flush().unwrap();
    let Answer::Exception(message) = jvm.read_answer() else {
        panic!("expected an exception")
    };
    assert!(message.contains("sparkwasm"), "{message}");
}

#[test]
fn the_kill_channel_kills_the_named_worker_only() {
    let module = module_bytes(TYPED_GUEST);
    let mut daemon = Daemon::start();
    let (_victim, pid) = connect(&daemon);
    let stdin = daemon.stdin.as_mut().unwrap();
    stdin.write_all(&pid.to_be_bytes()).unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    // Gone, or a zombie until the daemon reaps it.
    while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z")) {
        assert!(Instant::now() < deadline, "worker {pid} still alive");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (mut jvm, _) = connect(&daemon);
    jvm.send_task(0, triple_then_filter(&module), &[vec![5]]);
    assert_eq!(jvm.read_answer(), Answer::Values(vec![16]));
    assert!(
        !daemon.wait_exit(Duration::from_millis(100)),
        "the daemon survives"
    );
}

#[test]
fn the_daemon_exits_when_stdin_closes() {
    let mut daemon = Daemon::start();
    drop(daemon.stdin.take());
    assert!(daemon.wait_exit(Duration::from_secs(5)));
}

#[test]
fn the_daemon_exits_on_sigterm() {
    let mut daemon = Daemon::start();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(daemon.child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(daemon.wait_exit(Duration::from_secs(5)));
}

#[test]
fn non_daemon_mode_connects_back_authenticates_and_serves_one_task() {
    let module = module_bytes(TYPED_GUEST);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut child = Command::new(WORKER)
        .args(["-m", "pyspark.worker"])
        .env_clear()
        .env("SPARKWASM_SPARK_VERSION", "4.3.0")
        .env("PYTHON_WORKER_FACTORY_SECRET", SECRET)
        .env("PYTHON_WORKER_FACTORY_PORT", port.to_string())
        .spawn()
        .unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    // Non-daemon order: the worker sends the secret, we answer ok, then it sends its pid.
    assert_eq!(read_str(&mut stream, 128, "secret").unwrap(), SECRET);
    write_str(&mut stream, "ok").unwrap();
    let pid = read_i32(&mut stream).unwrap();
    assert_eq!(u32::try_from(pid).unwrap(), child.id());
    let mut jvm = Jvm::new(stream);
    jvm.send_task(0, triple_then_filter(&module), &[vec![1, 2, 5]]);
    assert_eq!(jvm.read_answer(), Answer::Values(vec![4, 16]));
    drop(jvm);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the non-daemon worker exits after its task"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `(kind, function)` of the broadcast test: map with `add_broadcast_offset`.
fn add_offset_command(module: &[u8], offset_id: i64) -> Vec<u8> {
    command_with(
        module,
        &[("map", "add_broadcast_offset")],
        &[("add_broadcast_offset", "map")],
        serde_json::json!({"broadcasts": {"offset": offset_id}}),
    )
}

fn with_broadcasts(mut header: TaskHeader, broadcasts: BroadcastUpdate) -> TaskHeader {
    header.broadcasts = broadcasts;
    header
}

#[test]
fn path_mode_broadcasts_are_read_lazily_and_kept_across_tasks_on_a_connection() {
    let module = module_bytes(TYPED_GUEST);
    let dir = std::env::temp_dir().join(format!("sparkwasm-wp-bc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broadcast_3");
    std::fs::write(
        &path,
        serde_pickle::to_vec(&100i64, SerOptions::new()).unwrap(),
    )
    .unwrap();

    let daemon = Daemon::start();
    let (mut jvm, _) = connect(&daemon);
    // Task 1 adds broadcast 3.
    let added = BroadcastUpdate {
        decryption_server: None,
        removed: vec![],
        added: vec![BroadcastEntry {
            id: 3,
            path: Some(path.display().to_string()),
        }],
    };
    jvm.send_task_with(
        &with_broadcasts(header(0, add_offset_command(&module, 3)), added),
        &[vec![1, 2, 3]],
    );
    assert_eq!(jvm.read_answer(), Answer::Values(vec![101, 102, 103]));
    // Task 2 on the same connection: the JVM sends no delta, the worker still has it.
    jvm.send_task(1, add_offset_command(&module, 3), &[vec![-100]]);
    assert_eq!(jvm.read_answer(), Answer::Values(vec![0]));
    // Task 3 removes it: the guest asks for it and fails, naming it.
    let removed = BroadcastUpdate {
        decryption_server: None,
        removed: vec![3],
        added: vec![],
    };
    jvm.send_task_with(
        &with_broadcasts(header(2, add_offset_command(&module, 3)), removed),
        &[vec![1]],
    );
    let Answer::Exception(message) = jvm.read_answer() else {
        panic!("a removed broadcast cannot be read")
    };
    assert!(message.contains("offset"), "{message}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn decryption_server_broadcasts_are_fetched_during_the_header() {
    let module = module_bytes(TYPED_GUEST);
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = i32::from(server.local_addr().unwrap().port());
    let value = serde_pickle::to_vec(&7i64, SerOptions::new()).unwrap();
    let jvm_server = std::thread::spawn(move || {
        let (mut s, _) = server.accept().unwrap();
        assert_eq!(read_str(&mut s, 128, "secret").unwrap(), SECRET);
        write_str(&mut s, "ok").unwrap();
        write_i64(&mut s, 12).unwrap();
        s.write_all(&value).unwrap();
        s.flush().unwrap();
        let mut ack = [0u8; 1];
        s.read_exact(&mut ack).unwrap();
        ack[0]
    });
    let daemon = Daemon::start();
    let (mut jvm, _) = connect(&daemon);
    let update = BroadcastUpdate {
        decryption_server: Some(ServerAddress::Tcp {
            port,
            secret: SECRET.into(),
        }),
        removed: vec![],
        added: vec![BroadcastEntry { id: 12, path: None }],
    };
    jvm.send_task_with(
        &with_broadcasts(header(0, add_offset_command(&module, 12)), update),
        &[vec![1, 35]],
    );
    assert_eq!(jvm.read_answer(), Answer::Values(vec![8, 42]));
    assert_eq!(jvm_server.join().unwrap(), b'1');
}

#[test]
fn accumulator_updates_reach_the_trailer_once_per_task() {
    let module = module_bytes(TYPED_GUEST);
    let daemon = Daemon::start();
    let (mut jvm, _) = connect(&daemon);
    let count = command_with(
        &module,
        &[("foreach", "count_into_acc")],
        &[("count_into_acc", "foreach")],
        serde_json::json!({"accumulators": {"seen": 5, "total": 6}}),
    );
    jvm.send_task(0, count.clone(), &[vec![1, 2, 3], vec![10]]);
    let (answer, updates) = jvm.read_answer_with_updates();
    assert_eq!(answer, Answer::Values(vec![]));
    let mut updates: Vec<(i64, i64)> = updates
        .iter()
        .map(|u| serde_pickle::from_slice(u, DeOptions::new()).unwrap())
        .collect();
    updates.sort();
    assert_eq!(updates, vec![(5, 4), (6, 16)]);
    // Every task sends its own totals, not the connection's.
    jvm.send_task(1, count, &[vec![5]]);
    let (_, updates) = jvm.read_answer_with_updates();
    let mut updates: Vec<(i64, i64)> = updates
        .iter()
        .map(|u| serde_pickle::from_slice(u, DeOptions::new()).unwrap())
        .collect();
    updates.sort();
    assert_eq!(updates, vec![(5, 1), (6, 5)]);
}

/// A hand-written guest whose `foreach` function `f` ignores its input and sends `update` as
/// its one accumulator update: what a hostile guest could send.
fn accumulator_guest(update: &[u8]) -> Vec<u8> {
    let descriptor = format!(
        r#"{{"abi_version":{},"name":"f","kind":"foreach","input":"i64","output":"()"}}"#,
        sparkwasm_abi::ABI_VERSION
    );
    let mut section = u32::try_from(descriptor.len())
        .unwrap()
        .to_le_bytes()
        .to_vec();
    section.extend_from_slice(descriptor.as_bytes());
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("\\{b:02x}")).collect() };
    wat::parse_str(format!(
        r#"(module
            (import "sparkwasm" "accumulator_update" (func $update (param i32 i32) (result i32)))
            (@custom "sparkwasm.functions" "{section}")
            (memory (export "memory") 1)
            (data (i32.const 0x8000) "{update}")
            (func (export "sparkwasm_abi_version") (result i32) i32.const {abi})
            (func (export "sparkwasm_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "sparkwasm_fn_f") (result i32) i32.const 1)
            (func (export "sparkwasm_run_task") (param i32 i32) (result i32)
                (drop (call $update (i32.const 0x8000) (i32.const {len})))
                i32.const 0))"#,
        section = hex(&section),
        update = hex(update),
        abi = sparkwasm_abi::ABI_VERSION,
        len = update.len(),
    ))
    .unwrap()
}

#[test]
fn accumulator_updates_that_could_harm_the_driver_fail_the_task() {
    let daemon = Daemon::start();
    let send = |update: &[u8]| {
        let module = accumulator_guest(update);
        let command = command_with(
            &module,
            &[("foreach", "f")],
            &[("f", "foreach")],
            serde_json::json!({"accumulators": {"acc": 1}}),
        );
        let (mut jvm, _) = connect(&daemon);
        jvm.send_task(0, command, &[vec![1]]);
        jvm.read_answer_with_updates()
    };
    // pickle.dumps((1, 5), 4): plain data for a bound accumulator goes through as is.
    let good = b"\x80\x04K\x01K\x05\x86\x94.";
    let (answer, updates) = send(good);
    assert_eq!(answer, Answer::Values(vec![]));
    assert_eq!(updates, vec![good.to_vec()]);
    // (1, os.system): unpickling it would import os on the driver.
    let (answer, updates) = send(b"\x80\x04K\x01cos\nsystem\n\x86.");
    let Answer::Exception(message) = answer else {
        panic!("a code-loading update was sent: {updates:?}")
    };
    assert!(message.contains("bad accumulator update"), "{message}");
    assert!(message.contains("plain data"), "{message}");
    // Plain data, but for an accumulator the task does not bind.
    let (answer, _) = send(b"\x80\x04K\x02K\x05\x86.");
    let Answer::Exception(message) = answer else {
        panic!("an update for a foreign accumulator was sent")
    };
    assert!(message.contains("accumulator id 2"), "{message}");
}
