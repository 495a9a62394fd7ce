//! The spec's §10 transcript (`sc.parallelize([1,2,3], 1).map(lambda x: x*2).collect()`),
//! assembled byte for byte, driven through the public API as a worker would, for every
//! header variant; plus daemon-mode reuse and encoder/decoder round trips.
//!
//! Payloads the spec elides (`…`) are filled with bytes of the captured lengths, so every
//! offset in the transcript is checked.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use crate::handshake::{accept_client, authenticate_to_server, write_pid};
use crate::wire::{write_i32, write_str};
use crate::*;

/// A socket stand-in: reads the JVM's bytes from `input`, collects the worker's in `output`.
struct Duplex {
    input: io::Cursor<Vec<u8>>,
    output: Vec<u8>,
}

impl Duplex {
    fn new(input: Vec<u8>) -> Self {
        Duplex {
            input: io::Cursor::new(input),
            output: Vec::new(),
        }
    }
    fn fully_consumed(&self) -> bool {
        self.input.position() as usize == self.input.get_ref().len()
    }
}
impl Read for Duplex {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}
impl Write for Duplex {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Parses the spec's hex notation (`"00 00 00 11 80 05"`).
fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

fn str_bytes(s: &str) -> Vec<u8> {
    let mut v = Vec::new();
    write_str(&mut v, s).unwrap();
    v
}

/// `PYTHON_WORKER_FACTORY_SECRET`: 64 hex chars starting `a270` (`61 32 37 30`).
fn factory_secret() -> String {
    format!("a270{}", "0123456789abcdef".repeat(4).get(..60).unwrap())
}

/// The runner's secret inside the JSON task context: `3d20…2baa`, 64 hex chars.
const TC_SECRET: &str = "3d20000000000000000000000000000000000000000000000000000000002baa";

const LOCAL_PROPS: [(&str, &str); 3] = [
    ("spark.rdd.scope", r#"{"id":"1","name":"collect"}"#),
    ("callSite.short", "collect at <stdin>:1"),
    ("spark.rdd.scope.noOverride", "true"),
];

/// The captured 4.3 JSON task context, in the captured key order, padded (inside
/// `callSite.short`) to the captured 419 bytes. 4.2 has no `cpuAmount`.
fn task_context_json(with_cpu_amount: bool) -> String {
    let build = |call_site: &str| {
        let cpu_amount = if with_cpu_amount {
            r#""cpuAmount":"1","#
        } else {
            ""
        };
        format!(
            r#"{{"secret":"{TC_SECRET}","stageId":0,"isBarrier":false,"partitionId":0,"connInfo":-1,"attemptNumber":0,"localProperties":{{"resource.maxTasksPerExecutor":"1","spark.rdd.scope":"{{\"id\":\"1\",\"name\":\"collect\"}}","callSite.short":"{call_site}","spark.rdd.scope.noOverride":"true"}},{cpu_amount}"taskAttemptId":0,"resources":{{}},"cpus":1}}"#
        )
    };
    let unpadded = build("collect at ");
    let pad = 419 - unpadded.len();
    let json = build(&format!("collect at {}", "x".repeat(pad)));
    assert_eq!(json.len(), 419);
    json
}

/// SparkFiles root: 108 bytes starting `/tmp`.
fn files_dir() -> String {
    let dir = format!("/tmp/spark-{}", "d".repeat(97));
    assert_eq!(dir.len(), 108);
    dir
}

/// The cloudpickled command: 1379 bytes with the captured prefix.
fn command() -> Vec<u8> {
    let mut c = hex("80 05 95 58 05 00 00 00 00 00 00 28 8c 1f");
    c.extend_from_slice(b"pyspark.cloudpickle.cloudpickle");
    c.resize(1379, 0x2e);
    c
}

/// `pickle([1, 2, 3])` as one input frame.
fn input_frame() -> Vec<u8> {
    hex("00 00 00 16 80 05 95 0b 00 00 00 00 00 00 00 5d 94 28 4b 01 4b 02 4b 03 65 2e")
}
const PICKLE_2: &str = "80 05 95 06 00 00 00 00 00 00 00 5d 94 4b 02 61 2e";
const PICKLE_4_6: &str = "80 05 95 09 00 00 00 00 00 00 00 5d 94 28 4b 04 4b 06 65 2e";

const TIMING: Timing = Timing {
    boot_ms: 0x0000_01a1_fb32_c065,
    init_ms: 0x0000_01a1_fb32_c130,
    finish_ms: 0x0000_01a1_fb32_c130,
    processing_ms: 0,
    memory_bytes_spilled: 0,
    disk_bytes_spilled: 0,
};

/// The JVM → worker task bytes (header, data, `-1`, `-4`) for `version`, built from the
/// transcript and the "same task on other versions" notes.
fn task_request(version: SparkVersion) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend(hex("00 00 00 00")); // split index 0
    h.extend(hex("00 00 00 04 33 2e 31 31")); // "3.11"
    match version.task_context_encoding() {
        TaskContextEncoding::BinaryA | TaskContextEncoding::BinaryB => {
            h.push(0x00); // isBarrier
            if version.task_context_encoding() == TaskContextEncoding::BinaryA {
                h.extend(hex("00 00 00 00")); // port 0
                h.extend(hex("00 00 00 00")); // secret ""
            }
            h.extend(hex("00 00 00 00  00 00 00 00  00 00 00 00")); // stage, partition, attempt
            h.extend(hex("00 00 00 00 00 00 00 00")); // TID
            h.extend(hex("00 00 00 01")); // cpus
            h.extend(hex("00 00 00 00")); // resources
            h.extend(hex("00 00 00 03")); // 3 local properties
            for (k, v) in LOCAL_PROPS {
                h.extend(str_bytes(k));
                h.extend(str_bytes(v));
            }
        }
        TaskContextEncoding::Json => {
            let json = task_context_json(version >= SparkVersion::V4_3);
            h.extend(hex("00 00 01 a3"));
            h.extend(json.as_bytes());
        }
    }
    h.extend(str_bytes(&files_dir()));
    h.extend(hex("00 00 00 00")); // 0 python includes
    h.extend(hex("00")); // no decryption server
    h.extend(hex("00 00 00 00")); // 0 broadcast entries
    h.extend(hex("00 00 00 00")); // eval type NON_UDF
    if version.has_conf_sections() {
        h.extend(hex("00 00 00 00 00 00 00 00")); // runner conf, eval conf
    }
    h.extend(hex("00 00 05 63"));
    h.extend(command());

    let mut req = Vec::new();
    if version.has_init_message() {
        req.extend(hex("ff ff ff f8"));
        req.extend((h.len() as i32).to_be_bytes());
    }
    req.extend(h);
    req.extend(input_frame());
    req.extend(hex("ff ff ff ff")); // END_OF_DATA_SECTION
    req.extend(hex("ff ff ff fc")); // END_OF_STREAM
    req
}

/// The worker → JVM task response for `version`, from the transcript.
fn task_response(version: SparkVersion) -> Vec<u8> {
    let mut w = Vec::new();
    w.extend(hex("00 00 00 11"));
    w.extend(hex(PICKLE_2));
    w.extend(hex("00 00 00 14"));
    w.extend(hex(PICKLE_4_6));
    w.extend(hex("ff ff ff fd"));
    w.extend(hex("00 00 01 a1 fb 32 c0 65"));
    w.extend(hex("00 00 01 a1 fb 32 c1 30"));
    w.extend(hex("00 00 01 a1 fb 32 c1 30"));
    if version >= SparkVersion::V4_2 {
        w.extend(hex("00 00 00 00 00 00 00 00")); // processing ms
    }
    w.extend(hex("00 00 00 00 00 00 00 00")); // memoryBytesSpilled
    w.extend(hex("00 00 00 00 00 00 00 00")); // diskBytesSpilled
    w.extend(hex("ff ff ff ff")); // END_OF_DATA_SECTION
    w.extend(hex("00 00 00 00")); // 0 accumulator updates
    w.extend(hex("ff ff ff fc")); // END_OF_STREAM
    w
}

/// What the worker must decode from [`task_request`].
fn check_header(h: &TaskHeader, version: SparkVersion) {
    assert_eq!(h.partition_index, 0);
    assert_eq!(h.python_version, "3.11");
    let tc = &h.task_context;
    assert!(!tc.is_barrier);
    assert_eq!(tc.barrier_server, None);
    assert_eq!(
        (
            tc.stage_id,
            tc.partition_id,
            tc.attempt_number,
            tc.task_attempt_id,
            tc.cpus
        ),
        (0, 0, 0, 0, 1)
    );
    assert!(tc.resources.is_empty());
    let expected_props = LOCAL_PROPS.len() + usize::from(version >= SparkVersion::V4_2);
    assert_eq!(tc.local_properties.len(), expected_props);
    assert_eq!(tc.local_properties["spark.rdd.scope.noOverride"], "true");
    assert_eq!(h.spark_files_dir, files_dir());
    assert!(h.python_includes.is_empty());
    assert_eq!(h.broadcasts, BroadcastUpdate::default());
    assert_eq!(h.eval_type, eval_type::NON_UDF);
    assert!(h.runner_conf.is_empty() && h.eval_conf.is_empty());
    assert_eq!(h.command, Command::Rdd(command()));
    let dbg = format!("{h:?}");
    assert!(!dbg.contains("3d20"), "secret leaked into Debug: {dbg}");
    assert!(dbg.contains("<1379 bytes>"));
}

/// Plays the worker's side of one task: header, input, output, trailer, reuse signal.
fn serve_task(s: &mut Duplex, version: SparkVersion) {
    let h = read_task_header(s, version, &Limits::default())
        .unwrap()
        .expect("a task, not EOF");
    check_header(&h, version);

    let mut records = Vec::new();
    loop {
        match read_record_header(s).unwrap() {
            RecordHeader::Data(len) => {
                records.push(read_payload(s, len, 1 << 20, "record").unwrap())
            }
            RecordHeader::Null => panic!("no nulls in this input"),
            RecordHeader::EndOfData => break,
        }
    }
    assert_eq!(records, vec![input_frame()[4..].to_vec()]);

    // AutoBatchedSerializer output for [2, 4, 6]: [2], then [4, 6].
    write_frame(s, &hex(PICKLE_2)).unwrap();
    write_frame(s, &hex(PICKLE_4_6)).unwrap();
    write_timing(s, version, &TIMING).unwrap();
    write_end_of_data(s, &[]).unwrap();
    assert!(read_end_of_stream(s).unwrap());
    write_end_of_stream(s).unwrap();
}

/// §10 verbatim: 4.3, non-daemon, TCP, every offset checked.
#[test]
fn transcript_4_3_non_daemon_byte_for_byte() {
    let version = SparkVersion::V4_3;
    let secret = factory_secret();
    assert_eq!(secret.len(), 64);

    // JVM → worker.
    let mut jvm = hex("00 00 00 02 6f 6b"); // "ok"
    let request = task_request(version);
    // Offsets from the transcript, relative to the J→W stream.
    let at = |off: usize, bytes: &str| {
        let want = hex(bytes);
        assert_eq!(
            &request[off - 6..off - 6 + want.len()],
            &want[..],
            "J→W @{off}"
        );
    };
    at(6, "ff ff ff f8");
    at(10, "00 00 07 9f");
    at(14, "00 00 00 00");
    at(18, "00 00 00 04 33 2e 31 31");
    at(26, "00 00 01 a3 7b 22 73 65 63 72 65 74");
    at(449, "00 00 00 6c 2f 74 6d 70");
    at(
        561,
        "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
    );
    at(582, "00 00 05 63 80 05 95 58 05 00 00 00 00 00 00 28 8c 1f");
    at(1965, "00 00 00 16 80 05 95 0b");
    at(1991, "ff ff ff ff ff ff ff fc");
    assert_eq!(request.len() + 6, 1999);
    jvm.extend(&request);

    // Worker → JVM, as captured.
    let mut expected = str_bytes(&secret);
    expected.extend(hex("00 00 41 a2")); // pid 16802
    assert_eq!(expected.len(), 72);
    let response = task_response(version);
    let wat = |off: usize, bytes: &str| {
        let want = hex(bytes);
        assert_eq!(
            &response[off - 72..off - 72 + want.len()],
            &want[..],
            "W→J @{off}"
        );
    };
    wat(72, "00 00 00 11 80 05 95 06");
    wat(93, "00 00 00 14 80 05 95 09");
    wat(117, "ff ff ff fd 00 00 01 a1 fb 32 c0 65");
    wat(145, "00 00 00 00 00 00 00 00");
    wat(169, "ff ff ff ff 00 00 00 00 ff ff ff fc");
    assert_eq!(response.len() + 72, 181);
    expected.extend(response);

    let mut s = Duplex::new(jvm);
    authenticate_to_server(&mut s, &secret).unwrap();
    write_pid(&mut s, 16802).unwrap();
    serve_task(&mut s, version);
    assert!(s.fully_consumed());
    assert_eq!(s.output, expected);
}

/// The same task on 3.5/4.0 (binary A), 4.1 (binary B) and 4.2 (JSON, no init frame).
#[test]
fn transcript_other_versions() {
    for version in SparkVersion::ALL {
        let mut s = Duplex::new(task_request(version));
        serve_task(&mut s, version);
        assert!(s.fully_consumed(), "{version}");
        assert_eq!(s.output, task_response(version), "{version}");
    }
    // The spot checks the spec spells out.
    let a = task_request(SparkVersion::V3_5);
    assert_eq!(a, task_request(SparkVersion::V4_0));
    assert_eq!(&a[12..12 + 9], &hex("00 00 00 00 00 00 00 00 00")[..]);
    let b = task_request(SparkVersion::V4_1);
    assert_eq!(b.len() + 8, a.len(), "4.1 drops port and secret");
    assert_eq!(
        task_response(SparkVersion::V4_1).len() + 8,
        task_response(SparkVersion::V4_2).len()
    );
    let json = task_request(SparkVersion::V4_2);
    assert_eq!(json.len() + 8, task_request(SparkVersion::V4_3).len());
    assert!(!String::from_utf8_lossy(&json).contains("cpuAmount"));
}

/// Daemon mode: pid first, then the JVM's secret and "ok"; a second task follows on the
/// same connection without a handshake and with a broadcast delta; then a clean EOF.
#[test]
fn daemon_mode_reuse_then_clean_eof() {
    for version in SparkVersion::ALL {
        let secret = factory_secret();
        let mut jvm = str_bytes(&secret);
        jvm.extend(task_request(version));

        // Second task: adds broadcast 3 (path mode), then task 3 removes it.
        let mut second = header_for(version);
        second.broadcasts.added.push(BroadcastEntry {
            id: 3,
            path: Some("/b/3".into()),
        });
        let mut third = header_for(version);
        third.broadcasts.removed.push(3);
        for h in [&second, &third] {
            jvm::write_task_header(&mut jvm, version, h).unwrap();
            write_i32(&mut jvm, special::END_OF_DATA_SECTION).unwrap();
            write_i32(&mut jvm, special::END_OF_STREAM).unwrap();
        }

        let mut s = Duplex::new(jvm);
        write_pid(&mut s, 0x425a).unwrap();
        accept_client(&mut s, &secret, &Limits::default()).unwrap();
        let mut expected = hex("00 00 42 5a 00 00 00 02 6f 6b");
        serve_task(&mut s, version);
        expected.extend(task_response(version));

        for want in [&second, &third] {
            let got = read_task_header(&mut s, version, &Limits::default())
                .unwrap()
                .unwrap();
            assert_eq!(&got, want, "{version}");
            assert_eq!(read_record_header(&mut s).unwrap(), RecordHeader::EndOfData);
            write_timing(&mut s, version, &Timing::default()).unwrap();
            write_end_of_data(&mut s, &[b"acc".to_vec()]).unwrap();
            assert!(read_end_of_stream(&mut s).unwrap());
            write_end_of_stream(&mut s).unwrap();
        }
        // The JVM evicted the idle connection.
        assert!(read_task_header(&mut s, version, &Limits::default())
            .unwrap()
            .is_none());
        assert_eq!(&s.output[..expected.len()], &expected[..], "{version}");
    }
}

/// A header exercising every field the version can express.
fn header_for(version: SparkVersion) -> TaskHeader {
    let confs = version.has_conf_sections();
    TaskHeader {
        partition_index: 7,
        python_version: "sparkwasm-1".into(),
        task_context: TaskContext {
            is_barrier: false,
            barrier_server: None,
            stage_id: 1,
            partition_id: 7,
            attempt_number: 2,
            task_attempt_id: 1 << 40,
            cpus: 4,
            resources: BTreeMap::from([("gpu".to_string(), vec!["0".into(), "1".into()])]),
            local_properties: BTreeMap::from([("k".to_string(), "v\u{e9}".to_string())]),
        },
        spark_files_dir: "/files".into(),
        python_includes: vec!["a.zip".into(), "b.py".into()],
        broadcasts: BroadcastUpdate::default(),
        eval_type: eval_type::NON_UDF,
        runner_conf: if confs {
            vec![("r".into(), "1".into())]
        } else {
            Vec::new()
        },
        eval_conf: if confs {
            vec![("e".into(), "2".into())]
        } else {
            Vec::new()
        },
        command: Command::Rdd(b"opaque command".to_vec()),
    }
}

#[test]
fn roundtrip_every_variant() {
    let limits = Limits::default();
    for version in SparkVersion::ALL {
        let mut variants = vec![header_for(version)];

        let mut barrier = header_for(version);
        barrier.task_context.is_barrier = true;
        barrier.task_context.barrier_server = Some(ServerAddress::Tcp {
            port: 40000,
            secret: "bsecret".into(),
        });
        variants.push(barrier.clone());
        if version.supports_unix_sockets() {
            barrier.task_context.barrier_server = Some(ServerAddress::Unix {
                path: "/tmp/.b.sock".into(),
            });
            variants.push(barrier);
        }

        let mut enc = header_for(version);
        enc.broadcasts = BroadcastUpdate {
            decryption_server: Some(ServerAddress::Tcp {
                port: 46245,
                secret: "x".repeat(64),
            }),
            removed: vec![0, 5],
            added: vec![BroadcastEntry { id: 9, path: None }],
        };
        variants.push(enc.clone());
        if version.supports_unix_sockets() {
            enc.broadcasts.decryption_server = Some(ServerAddress::Unix { path: "/d".into() });
            variants.push(enc);
        }

        for h in variants {
            let mut bytes = Vec::new();
            jvm::write_task_header(&mut bytes, version, &h).unwrap();
            let mut r = &bytes[..];
            let got = read_task_header(&mut r, version, &limits).unwrap().unwrap();
            assert_eq!(got, h, "{version}");
            assert!(r.is_empty(), "{version}: unread bytes");
        }
    }
}

#[test]
fn broadcast_hook_runs_before_the_command_is_read() {
    // 3.5 with encryption: the JVM sends nothing after the broadcasts until the worker has
    // drained the decryption server. Simulate by cutting the stream there: the hook must
    // still have been called with the full update.
    let version = SparkVersion::V3_5;
    let mut h = header_for(version);
    h.broadcasts = BroadcastUpdate {
        decryption_server: Some(ServerAddress::Tcp {
            port: 1234,
            secret: "s".into(),
        }),
        removed: vec![],
        added: vec![BroadcastEntry { id: 1, path: None }],
    };
    let mut bytes = Vec::new();
    jvm::write_task_header(&mut bytes, version, &h).unwrap();
    let command_len = h.command.as_rdd().unwrap().len();
    let cut = bytes.len() - (4 + 4 + command_len); // eval type + command
    let mut seen = None;
    let e = read_task_header_with_broadcast_hook(
        &mut &bytes[..cut],
        version,
        &Limits::default(),
        |b| {
            seen = Some(b.clone());
            Ok(())
        },
    )
    .unwrap_err();
    assert!(matches!(e, ProtocolError::Eof));
    assert_eq!(seen, Some(h.broadcasts.clone()));

    // A failing hook aborts the read with its own error.
    let e =
        read_task_header_with_broadcast_hook(&mut &bytes[..], version, &Limits::default(), |_| {
            Err(ProtocolError::AuthFailed)
        })
        .unwrap_err();
    assert!(matches!(e, ProtocolError::AuthFailed));
}

#[test]
fn undecoded_eval_types_are_unsupported() {
    for version in SparkVersion::ALL {
        let mut h = header_for(version);
        h.eval_type = eval_type::SQL_ARROW_BATCHED_UDF;
        let mut bytes = Vec::new();
        jvm::write_task_header(&mut bytes, version, &h).unwrap();
        let e = read_task_header(&mut &bytes[..], version, &Limits::default()).unwrap_err();
        assert!(
            e.to_string()
                .contains("eval type 101 (SQL_ARROW_BATCHED_UDF)"),
            "{version}: {e}"
        );
    }
}

#[test]
fn exception_frame_as_captured() {
    let msg = "Traceback (most recent call last): … ZeroDivisionError: division by zero";
    let mut out = Vec::new();
    write_exception(&mut out, msg).unwrap();
    let mut expected = hex("ff ff ff fe");
    expected.extend(str_bytes(msg));
    assert_eq!(out, expected);
}
