//! Malformed-input tests through the public API: truncation at every offset, negative and
//! huge lengths, bad UTF-8, bad JSON, init frames whose length disagrees with their content,
//! unknown special lengths in the data section, and bad auth replies.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use sparkwasm_protocol::handshake::authenticate_to_server;
use sparkwasm_protocol::{
    eval_type, jvm, read_record_header, read_str, read_task_header, special, write_i32, write_str,
    BroadcastEntry, BroadcastUpdate, Command, Limits, ProtocolError, RecordHeader, SparkVersion,
    TaskContext, TaskHeader,
};

fn header() -> TaskHeader {
    TaskHeader {
        partition_index: 3,
        python_version: "3.11".into(),
        task_context: TaskContext {
            is_barrier: false,
            barrier_server: None,
            stage_id: 1,
            partition_id: 3,
            attempt_number: 0,
            task_attempt_id: 42,
            cpus: 1,
            resources: BTreeMap::from([("gpu".to_string(), vec!["0".to_string()])]),
            local_properties: BTreeMap::from([("callSite.short".into(), "collect".into())]),
        },
        spark_files_dir: "/tmp/spark-files".into(),
        python_includes: vec!["deps.zip".into()],
        broadcasts: BroadcastUpdate {
            decryption_server: None,
            removed: vec![1],
            added: vec![BroadcastEntry {
                id: 2,
                path: Some("/tmp/b2".into()),
            }],
        },
        eval_type: eval_type::NON_UDF,
        runner_conf: Vec::new(),
        eval_conf: Vec::new(),
        command: Command::Rdd(vec![0xab; 100]),
    }
}

fn encoded(version: SparkVersion) -> Vec<u8> {
    let mut h = header();
    if version.has_conf_sections() {
        h.runner_conf = vec![("spark.sql.x".into(), "1".into())];
    }
    let mut out = Vec::new();
    jvm::write_task_header(&mut out, version, &h).unwrap();
    out
}

fn read(bytes: &[u8], version: SparkVersion) -> Result<Option<TaskHeader>, ProtocolError> {
    read_task_header(&mut &bytes[..], version, &Limits::default())
}

fn assert_malformed(r: Result<impl std::fmt::Debug, ProtocolError>, needle: &str) {
    match r {
        Err(ProtocolError::Malformed { what }) => {
            assert!(what.contains(needle), "expected {needle:?} in {what:?}")
        }
        other => panic!("expected Malformed containing {needle:?}, got {other:?}"),
    }
}

fn be(v: i32) -> [u8; 4] {
    v.to_be_bytes()
}

#[test]
fn truncated_at_every_offset_is_eof() {
    for version in SparkVersion::ALL {
        let bytes = encoded(version);
        assert!(read(&bytes, version).unwrap().is_some());
        assert!(
            read(&[], version).unwrap().is_none(),
            "clean EOF is not an error"
        );
        for cut in 1..bytes.len() {
            match read(&bytes[..cut], version) {
                Err(ProtocolError::Eof) => {}
                other => panic!("{version} cut at {cut}/{}: {other:?}", bytes.len()),
            }
        }
    }
}

#[test]
fn truncated_43_header_from_spec_shape() {
    // The same check on a header with a JSON context as large as the captured one.
    let mut h = header();
    h.task_context.local_properties.insert(
        "spark.rdd.scope".into(),
        r#"{"id":"1","name":"collect"}"#.into(),
    );
    h.command = Command::Rdd(vec![0x80; 1379]);
    let mut bytes = Vec::new();
    jvm::write_task_header(&mut bytes, SparkVersion::V4_3, &h).unwrap();
    for cut in 1..bytes.len() {
        let r = read(&bytes[..cut], SparkVersion::V4_3);
        assert!(
            matches!(r, Err(ProtocolError::Eof | ProtocolError::Malformed { .. })),
            "cut {cut}: {r:?}"
        );
    }
}

#[test]
fn negative_lengths() {
    // python version length -5 (NULL is only meaningful in data sections).
    let mut b = be(0).to_vec();
    b.extend(be(special::NULL));
    assert_malformed(
        read(&b, SparkVersion::V4_0),
        "python version: negative length -5 (NULL)",
    );

    // Negative include count.
    let mut h = header();
    h.python_includes.clear();
    let mut bytes = Vec::new();
    jvm::write_task_header(&mut bytes, SparkVersion::V4_1, &h).unwrap();
    let files = b"/tmp/spark-files";
    let pos = bytes.windows(files.len()).position(|w| w == files).unwrap() + files.len();
    bytes[pos..pos + 4].copy_from_slice(&be(-3));
    assert_malformed(
        read(&bytes, SparkVersion::V4_1),
        "python includes: negative count -3",
    );

    // Negative command length.
    let mut bytes = encoded(SparkVersion::V3_5);
    let cmd = bytes.len() - 100 - 4;
    bytes[cmd..cmd + 4].copy_from_slice(&be(-1));
    assert_malformed(
        read(&bytes, SparkVersion::V3_5),
        "command: negative length -1",
    );

    // Negative init-message length.
    let mut b = be(special::START_OF_INIT_MESSAGE).to_vec();
    b.extend(be(-2));
    assert_malformed(
        read(&b, SparkVersion::V4_3),
        "init message: negative length -2",
    );
}

#[test]
fn huge_lengths_fail_fast_without_allocating() {
    let started = Instant::now();
    let mut b = be(i32::MAX).to_vec();
    b.extend([b'x'; 10]);

    // Default limits: refused before reading anything.
    match read_str(&mut &b[..], Limits::default().max_string, "python version") {
        Err(ProtocolError::TooLarge {
            what: "python version",
            len,
            max,
        }) => {
            assert_eq!(len, i32::MAX as u64);
            assert_eq!(max, 16 << 20);
        }
        other => panic!("{other:?}"),
    }
    // No limit at all: reads the 10 bytes that exist and reports Eof, having grown its
    // buffer only for those.
    assert!(matches!(
        read_str(&mut &b[..], usize::MAX, "s"),
        Err(ProtocolError::Eof)
    ));

    // The same inside a header: a 2 GiB python version and a 2 GiB command.
    let mut h = be(0).to_vec();
    h.extend(&b);
    assert!(matches!(
        read(&h, SparkVersion::V4_2),
        Err(ProtocolError::TooLarge {
            what: "python version",
            ..
        })
    ));
    let mut bytes = encoded(SparkVersion::V4_0);
    let cmd = bytes.len() - 100 - 4;
    bytes[cmd..cmd + 4].copy_from_slice(&be(i32::MAX));
    assert!(matches!(
        read(&bytes, SparkVersion::V4_0),
        Err(ProtocolError::TooLarge {
            what: "command",
            ..
        })
    ));
    let unlimited = Limits::default().with_max_command(usize::MAX);
    assert!(matches!(
        read_task_header(&mut &bytes[..], SparkVersion::V4_0, &unlimited),
        Err(ProtocolError::Eof)
    ));

    // A 4.3 init frame claiming i32::MAX bytes: nothing is buffered up front, the header is
    // parsed from what arrives, and the mismatch is reported.
    let mut b = be(special::START_OF_INIT_MESSAGE).to_vec();
    b.extend(be(i32::MAX));
    b.extend(&encoded(SparkVersion::V4_3)[8..]);
    assert!(matches!(
        read(&b, SparkVersion::V4_3),
        Err(ProtocolError::Malformed { .. })
    ));
    b.truncate(b.len() - 1);
    assert!(matches!(
        read(&b, SparkVersion::V4_3),
        Err(ProtocolError::Eof)
    ));

    // Entry counts.
    let small = Limits::default().with_max_entries(0);
    assert!(matches!(
        read_task_header(
            &mut &encoded(SparkVersion::V4_1)[..],
            SparkVersion::V4_1,
            &small
        ),
        Err(ProtocolError::TooLarge {
            what: "task context: resources",
            len: 1,
            max: 0
        })
    ));

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn bad_utf8() {
    let mut b = be(0).to_vec();
    b.extend(be(2));
    b.extend([0xc3, 0x28]);
    assert_malformed(
        read(&b, SparkVersion::V4_1),
        "python version: invalid UTF-8",
    );
}

/// A 4.2 header whose task context string is `json`.
fn with_json(json: &str) -> Vec<u8> {
    let mut b = be(0).to_vec();
    write_str(&mut b, "3.11").unwrap();
    write_str(&mut b, json).unwrap();
    b
}

#[test]
fn bad_json() {
    for (json, needle) in [
        ("{", "task context JSON: invalid JSON"),
        ("", "task context JSON: invalid JSON"),
        ("null", "task context JSON: not a JSON object"),
        (
            r#"{"isBarrier":false} trailing"#,
            "task context JSON: invalid JSON",
        ),
        (
            r#"{"isBarrier":0}"#,
            "task context JSON: field isBarrier is not a boolean",
        ),
        (
            r#"{"isBarrier":false}"#,
            "task context JSON: missing field stageId",
        ),
        (
            r#"{"isBarrier":false,"stageId":1,"partitionId":2,"attemptNumber":3,"taskAttemptId":4,"cpus":1,"resources":{},"localProperties":{"a":1}}"#,
            "local property \"a\" is not a string",
        ),
        (
            r#"{"isBarrier":false,"stageId":4294967296,"partitionId":2}"#,
            "field stageId is not a 32-bit integer",
        ),
        (
            r#"{"isBarrier":true,"connInfo":[1],"secret":null}"#,
            "connInfo is neither an integer nor a string",
        ),
        (
            r#"{"isBarrier":true,"connInfo":4000,"secret":null}"#,
            "has no secret",
        ),
    ] {
        assert_malformed(read(&with_json(json), SparkVersion::V4_2), needle);
    }
    // Deep nesting hits serde_json's recursion limit instead of the stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_malformed(read(&with_json(&deep), SparkVersion::V4_2), "invalid JSON");
}

#[test]
fn json_tolerates_order_extra_keys_and_conn_info_forms() {
    let json = r#"{"cpus":2,"resources":{"gpu":{"addresses":["0"],"name":"gpu","extra":1}},
        "localProperties":{},"taskAttemptId":9,"attemptNumber":0,"partitionId":1,
        "stageId":5,"connInfo":"/tmp/.s.sock","secret":null,"isBarrier":false,
        "cpuAmount":"1.5","futureKey":{"x":[null]}}"#;
    let mut b = with_json(json);
    write_str(&mut b, "/files").unwrap();
    b.extend(be(0)); // includes
    b.push(0); // no decryption server
    b.extend(be(0)); // broadcasts
    b.extend(be(0)); // eval type
    b.extend(be(0));
    b.extend(be(0)); // confs
    b.extend(be(3));
    b.extend(b"cmd");
    let h = read(&b, SparkVersion::V4_2).unwrap().unwrap();
    assert_eq!(h.task_context.stage_id, 5);
    assert_eq!(h.task_context.cpus, 2);
    assert_eq!(h.task_context.resources["gpu"], vec!["0".to_string()]);
    assert_eq!(h.command.as_rdd(), Some(&b"cmd"[..]));
}

#[test]
fn init_frame_length_disagrees_with_content() {
    let good = encoded(SparkVersion::V4_3);
    let len = i32::from_be_bytes(good[4..8].try_into().unwrap());

    // Declared too short: the header overruns the frame.
    let mut short = good.clone();
    short[4..8].copy_from_slice(&be(len - 1));
    assert_malformed(
        read(&short, SparkVersion::V4_3),
        "needs more than the declared",
    );
    let mut tiny = good.clone();
    tiny[4..8].copy_from_slice(&be(3));
    assert_malformed(
        read(&tiny, SparkVersion::V4_3),
        "needs more than the declared 3 bytes",
    );

    // Declared too long, and the bytes are there (the data section follows): leftover.
    let mut long = good.clone();
    long[4..8].copy_from_slice(&be(len + 4));
    long.extend(be(special::END_OF_DATA_SECTION));
    assert_malformed(read(&long, SparkVersion::V4_3), "4 of the declared");

    // Declared too long and the stream ends right after the header: still a disagreement
    // between content and length. Deliberately not drained to find out whether the bytes
    // exist: on a live socket that could block forever on a lying length.
    let mut long_eof = good.clone();
    long_eof[4..8].copy_from_slice(&be(len + 4));
    assert_malformed(read(&long_eof, SparkVersion::V4_3), "left over");

    // Declared longer than what arrives, and the header itself is cut: truncated.
    let mut cut = good.clone();
    cut[4..8].copy_from_slice(&be(len + 4));
    cut.truncate(good.len() - 1);
    assert!(matches!(
        read(&cut, SparkVersion::V4_3),
        Err(ProtocolError::Eof)
    ));

    // Wrong message id, e.g. a 4.2 stream read as 4.3.
    assert_malformed(
        read(&encoded(SparkVersion::V4_2), SparkVersion::V4_3),
        "expected START_OF_INIT_MESSAGE (-8), got 3",
    );
    let mut eos = be(special::END_OF_STREAM).to_vec();
    eos.extend(be(0));
    assert_malformed(read(&eos, SparkVersion::V4_3), "got -4 (END_OF_STREAM)");
}

#[test]
fn init_frame_does_not_consume_the_data_section() {
    let mut b = encoded(SparkVersion::V4_3);
    b.extend(be(2));
    b.extend(b"hi");
    b.extend(be(special::END_OF_DATA_SECTION));
    let mut r = &b[..];
    read_task_header(&mut r, SparkVersion::V4_3, &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(read_record_header(&mut r).unwrap(), RecordHeader::Data(2));
}

#[test]
fn unknown_special_length_in_data_section() {
    for v in [-2, -3, -4, -6, -7, -8, -9, i32::MIN] {
        let r = read_record_header(&mut &be(v)[..]);
        assert_malformed(r, "data section: unexpected special length");
    }
    assert_eq!(
        read_record_header(&mut &be(-5)[..]).unwrap(),
        RecordHeader::Null
    );
    assert_eq!(
        read_record_header(&mut &be(-1)[..]).unwrap(),
        RecordHeader::EndOfData
    );
    assert_eq!(
        read_record_header(&mut &be(i32::MAX)[..]).unwrap(),
        RecordHeader::Data(i32::MAX as u32)
    );
    assert!(matches!(
        read_record_header(&mut &[0u8, 0][..]),
        Err(ProtocolError::Eof)
    ));
}

#[test]
fn bad_booleans_and_ports() {
    // isBarrier byte 2 in binary A.
    let mut b = be(0).to_vec();
    write_str(&mut b, "3.11").unwrap();
    b.push(2);
    assert_malformed(read(&b, SparkVersion::V3_5), "task context: isBarrier");

    // Barrier task with port 0.
    let mut b = be(0).to_vec();
    write_str(&mut b, "3.11").unwrap();
    b.push(1);
    b.extend(be(0));
    write_str(&mut b, "secret").unwrap();
    b.extend([0; 64]);
    assert_malformed(read(&b, SparkVersion::V4_0), "barrier boundPort: port 0");
}

/// A socket stand-in for the auth exchange.
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

#[test]
fn bad_auth_reply() {
    let auth = |reply: &[u8]| {
        let mut s = Duplex {
            input: reply,
            output: Vec::new(),
        };
        authenticate_to_server(&mut s, "secret")
    };
    let mut ok = Vec::new();
    write_str(&mut ok, "ok").unwrap();
    auth(&ok).unwrap();

    for bad in ["err", "OK", "ok ", ""] {
        let mut b = Vec::new();
        write_str(&mut b, bad).unwrap();
        assert!(
            matches!(auth(&b), Err(ProtocolError::AuthFailed)),
            "{bad:?}"
        );
    }
    assert!(matches!(auth(&[]), Err(ProtocolError::Eof)));
    assert!(matches!(auth(&[0, 0, 0, 2, b'o']), Err(ProtocolError::Eof)));
    let mut neg = Vec::new();
    write_i32(&mut neg, -1).unwrap();
    assert_malformed(auth(&neg), "auth reply: negative length");
    let mut huge = Vec::new();
    write_i32(&mut huge, i32::MAX).unwrap();
    assert!(matches!(
        auth(&huge),
        Err(ProtocolError::TooLarge {
            what: "auth reply",
            ..
        })
    ));
    let invalid = [0, 0, 0, 2, 0xff, 0xfe];
    assert_malformed(auth(&invalid), "auth reply: invalid UTF-8");
}

#[test]
fn unsupported_version_string() {
    let e = "3.4.1".parse::<SparkVersion>().unwrap_err();
    assert!(matches!(e, ProtocolError::Unsupported { .. }));
    assert!(e.to_string().contains("3.5, 4.0, 4.1, 4.2, 4.3"), "{e}");
}
