//! The worker serving Spark SQL Arrow UDF tasks, spoken to in raw protocol bytes with the
//! test playing the executor JVM: scalar UDFs (several per node, chained, with nulls),
//! grouped aggregates, and hostile guests whose result batches break the layout, the
//! declared type, UTF-8 or the row count. Every failure is an exception naming the UDF, the
//! module digest and the partition, and the daemon serves the next task.

use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Write};
use std::net::TcpStream;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{Field, Schema};
use sparkwasm_abi::columnar::{write_batch, NodeHeader, NodeParts, Op, TypeTag};
use sparkwasm_protocol::eval_type::{SQL_GROUPED_AGG_ARROW_UDF, SQL_SCALAR_ARROW_UDF};
use sparkwasm_protocol::{
    jvm, read_i32, read_i64, read_str, special, write_i32, ArgOffset, BroadcastUpdate, Command,
    SparkVersion, TaskContext, TaskHeader, UdfInfo,
};
use sparkwasm_tests::{module_bytes, SQL_GUEST};

mod common;

use common::Daemon;

/// The SQL command (format 3) of `function` in `module`.
fn sql_command(module: &[u8], function: &str, kind: &str, args: &[&str], returns: &str) -> Vec<u8> {
    sql_command_with(module, function, kind, args, returns, serde_json::json!({}))
}

/// [`sql_command`] under a job policy (`spark.sparkwasm.*` settings).
fn sql_command_with(
    module: &[u8],
    function: &str,
    kind: &str,
    args: &[&str],
    returns: &str,
    policy: serde_json::Value,
) -> Vec<u8> {
    let manifest = serde_json::json!({
        "module_digest": sparkwasm_runtime::digest_hex(module),
        "function": function,
        "kind": kind,
        "args": args,
        "returns": returns,
        "policy": policy,
    })
    .to_string();
    let mut bytes = b"SPWASM\x03".to_vec();
    bytes.extend_from_slice(&u32::try_from(manifest.len()).unwrap().to_be_bytes());
    bytes.extend_from_slice(manifest.as_bytes());
    bytes.extend_from_slice(module);
    bytes
}

fn udf(offsets: &[u32], chained: Vec<Vec<u8>>) -> UdfInfo {
    UdfInfo {
        args: offsets.iter().map(|o| ArgOffset::positional(*o)).collect(),
        chained,
        result_id: Some(0),
    }
}

fn header(partition: i32, eval_type: i32, udfs: Vec<UdfInfo>) -> TaskHeader {
    TaskHeader {
        partition_index: partition,
        python_version: "3.11".into(),
        task_context: TaskContext {
            is_barrier: false,
            barrier_server: None,
            stage_id: 3,
            partition_id: partition,
            attempt_number: 0,
            task_attempt_id: 9,
            cpus: 1,
            resources: BTreeMap::new(),
            local_properties: BTreeMap::new(),
        },
        spark_files_dir: "/tmp".into(),
        python_includes: vec![],
        broadcasts: BroadcastUpdate::default(),
        eval_type,
        runner_conf: vec![(
            "spark.sql.execution.arrow.useLargeVarTypes".into(),
            "false".into(),
        )],
        eval_conf: vec![],
        command: Command::Udfs {
            udfs,
            profiler: None,
        },
    }
}

/// The Arrow IPC stream of `batches` (columns `_0…`).
fn arrow_stream(batches: &[Vec<ArrayRef>]) -> Vec<u8> {
    let fields: Vec<Field> = batches[0]
        .iter()
        .enumerate()
        .map(|(i, c)| Field::new(format!("_{i}"), c.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let mut writer = StreamWriter::try_new(Vec::new(), &schema).unwrap();
    for columns in batches {
        writer
            .write(&RecordBatch::try_new(Arc::clone(&schema), columns.clone()).unwrap())
            .unwrap();
    }
    writer.into_inner().unwrap()
}

/// What the worker answered.
#[derive(Debug)]
enum Answer {
    Batches(Vec<RecordBatch>),
    Exception(String),
}

impl Answer {
    fn column(&self, i: usize) -> Vec<ArrayRef> {
        match self {
            Answer::Batches(batches) => batches.iter().map(|b| Arc::clone(b.column(i))).collect(),
            Answer::Exception(message) => panic!("the task failed: {message}"),
        }
    }

    fn exception(&self) -> &str {
        match self {
            Answer::Exception(message) => message,
            Answer::Batches(b) => panic!("the task succeeded with {b:?}"),
        }
    }
}

struct Jvm {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
}

impl Jvm {
    /// Sends a task: the header, then the scalar stream or the groups, then END_OF_STREAM.
    fn send(&mut self, header: &TaskHeader, data: &[u8]) {
        jvm::write_task_header(&mut self.writer, SparkVersion::V4_3, header).unwrap();
        self.writer.write_all(data).unwrap();
        write_i32(&mut self.writer, special::END_OF_STREAM).unwrap();
        self.writer.flush().unwrap();
    }

    fn answer(&mut self) -> Answer {
        let mut batches = Vec::new();
        let mut marker = read_i32(&mut self.reader).unwrap();
        if marker == special::START_ARROW_STREAM {
            let stream = StreamReader::try_new(&mut self.reader, None).unwrap();
            for batch in stream {
                batches.push(batch.unwrap());
            }
            marker = read_i32(&mut self.reader).unwrap();
        }
        if marker == special::PYTHON_EXCEPTION_THROWN {
            return Answer::Exception(read_str(&mut self.reader, 1 << 20, "exception").unwrap());
        }
        assert_eq!(marker, special::TIMING_DATA);
        for _ in 0..6 {
            read_i64(&mut self.reader).unwrap();
        }
        assert_eq!(
            read_i32(&mut self.reader).unwrap(),
            special::END_OF_DATA_SECTION
        );
        assert_eq!(
            read_i32(&mut self.reader).unwrap(),
            0,
            "no accumulator updates"
        );
        assert_eq!(read_i32(&mut self.reader).unwrap(), special::END_OF_STREAM);
        Answer::Batches(batches)
    }
}

fn connect(daemon: &Daemon) -> Jvm {
    let (stream, _) = daemon.connect_stream();
    Jvm {
        reader: BufReader::new(stream.try_clone().unwrap()),
        writer: BufWriter::new(stream),
    }
}

fn longs(values: &[Option<i64>]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

fn concat_longs(arrays: &[ArrayRef]) -> Vec<Option<i64>> {
    arrays
        .iter()
        .flat_map(|a| {
            a.as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .iter()
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `affine` over two batches with nulls, run as a node of three UDFs: `affine(x)`,
/// `str_len(s)` and the chain `affine(affine(x))`.
fn scalar_task(module: &[u8], partition: i32) -> (TaskHeader, Vec<u8>) {
    let affine = || sql_command(module, "affine", "udf", &["bigint"], "bigint");
    let str_len = sql_command(module, "str_len", "udf", &["string"], "int");
    let udfs = vec![
        udf(&[0], vec![affine()]),
        udf(&[1], vec![str_len]),
        udf(&[0], vec![affine(), affine()]),
    ];
    let strings = |v: Vec<Option<&str>>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let data = arrow_stream(&[
        vec![
            longs(&[Some(1), None, Some(-4)]),
            strings(vec![Some("héllo"), Some(""), None]),
        ],
        vec![longs(&[Some(i64::MAX)]), strings(vec![Some("x")])],
    ]);
    (header(partition, SQL_SCALAR_ARROW_UDF, udfs), data)
}

#[test]
fn a_scalar_node_answers_every_udf_row_for_row_and_the_daemon_serves_on() {
    let module = module_bytes(SQL_GUEST);
    let daemon = Daemon::start();
    let mut jvm = connect(&daemon);
    for partition in 0..2 {
        let (header, data) = scalar_task(&module, partition);
        jvm.send(&header, &data);
        let answer = jvm.answer();
        let affine = |x: i64| x.wrapping_mul(2).wrapping_add(1);
        assert_eq!(
            concat_longs(&answer.column(0)),
            vec![Some(3), None, Some(-7), Some(affine(i64::MAX))]
        );
        let lengths: Vec<Option<i32>> = answer
            .column(1)
            .iter()
            .flat_map(|a| {
                a.as_any()
                    .downcast_ref::<arrow_array::Int32Array>()
                    .unwrap()
                    .iter()
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(lengths, vec![Some(5), Some(0), None, Some(1)]);
        assert_eq!(
            concat_longs(&answer.column(2)),
            vec![Some(7), None, Some(-13), Some(affine(affine(i64::MAX)))]
        );
    }
}

#[test]
fn a_grouped_aggregate_answers_one_row_per_group_with_rows() {
    let module = module_bytes(SQL_GUEST);
    let mean = sql_command(
        &module,
        "weighted_mean",
        "udaf",
        &["double", "double"],
        "double",
    );
    let header = header(0, SQL_GROUPED_AGG_ARROW_UDF, vec![udf(&[0, 1], vec![mean])]);
    let doubles = |v: &[Option<f64>]| -> ArrayRef { Arc::new(Float64Array::from(v.to_vec())) };
    let mut data = Vec::new();
    let groups = [
        // Two batches: (1*1 + 3*3 + 5*1) / (1 + 3 + 1) = 3.
        vec![
            vec![
                doubles(&[Some(1.0), Some(3.0)]),
                doubles(&[Some(1.0), Some(3.0)]),
            ],
            vec![
                doubles(&[Some(5.0), None]),
                doubles(&[Some(1.0), Some(7.0)]),
            ],
        ],
        // Only nulls: no weight, a null mean.
        vec![vec![doubles(&[None]), doubles(&[None])]],
    ];
    for group in &groups {
        write_i32(&mut data, 1).unwrap();
        data.extend_from_slice(&arrow_stream(group));
    }
    write_i32(&mut data, 0).unwrap();
    let daemon = Daemon::start();
    let mut jvm = connect(&daemon);
    jvm.send(&header, &data);
    let answer = jvm.answer();
    // The JVM reads only the first row of each batch of an aggregate's answer.
    let column = answer.column(0);
    assert!(
        column.iter().all(|batch| batch.len() == 1),
        "one batch per group"
    );
    let means: Vec<Option<f64>> = column
        .iter()
        .flat_map(|a| {
            a.as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .iter()
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(means, vec![Some(3.0), None]);
}

/// A hand-written guest with one udf `f(bigint) -> returns` that reads all its input and
/// then answers with `result`, whatever it is: what a hostile guest could send.
fn hostile_guest(result: &[u8], returns: &str) -> Vec<u8> {
    let descriptor = format!(
        r#"{{"abi_version":{},"name":"f","kind":"udf","input":"i64","output":"R","sql":{{"args":["bigint"],"nullable_args":[false],"returns":"{returns}","returns_nullable":false,"nulls":"skip"}}}}"#,
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
            (import "sparkwasm" "input_next" (func $next (param i32 i32) (result i64)))
            (import "sparkwasm" "output_write" (func $write (param i32 i32) (result i32)))
            (@custom "sparkwasm.functions" "{section}")
            (memory (export "memory") 4)
            (data (i32.const 0x8000) "{result}")
            (func (export "sparkwasm_abi_version") (result i32) i32.const {abi})
            (func (export "sparkwasm_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "sparkwasm_fn_f") (result i32) i32.const 1)
            (func (export "sparkwasm_run_task") (param i32 i32) (result i32)
                (block $done
                    (loop $read
                        (br_if $done (i64.le_s (call $next (i32.const 0x10000) (i32.const 0x20000)) (i64.const 0)))
                        (br $read)))
                (if (call $write (i32.const 0x8000) (i32.const {len})) (then (return (i32.const 1))))
                i32.const 0))"#,
        section = hex(&section),
        result = hex(result),
        abi = sparkwasm_abi::ABI_VERSION,
        len = result.len(),
    ))
    .unwrap()
}

fn long_result(rows: u32, values: &[i64], tag: TypeTag) -> Vec<u8> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut out = Vec::new();
    let header = NodeHeader {
        tag,
        precision: 0,
        scale: 0,
        children: 0,
        len: values.len() as u32,
    };
    write_batch(
        &mut out,
        Op::Rows,
        rows,
        1,
        &[NodeParts {
            header,
            validity: None,
            offsets: &[],
            values: &bytes,
        }],
    );
    out
}

#[test]
fn hostile_results_fail_the_task_with_the_udf_digest_and_partition_and_the_daemon_serves_on() {
    let good = module_bytes(SQL_GUEST);
    let mut invalid_utf8 = Vec::new();
    let offsets: Vec<u8> = [0i32, 2].iter().flat_map(|o| o.to_le_bytes()).collect();
    write_batch(
        &mut invalid_utf8,
        Op::Rows,
        1,
        1,
        &[NodeParts {
            header: NodeHeader {
                tag: TypeTag::String,
                precision: 0,
                scale: 0,
                children: 0,
                len: 1,
            },
            validity: None,
            offsets: &offsets,
            values: b"\xff\xfe",
        }],
    );
    let mut truncated = long_result(3, &[1, 2, 3], TypeTag::Long);
    truncated.truncate(truncated.len() - 4);
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "too many rows",
            long_result(4, &[1, 2, 3, 4], TypeTag::Long),
            "bigint",
            "4 result rows after receiving 3 rows",
        ),
        (
            "too few rows",
            long_result(2, &[1, 2], TypeTag::Long),
            "bigint",
            "2 result rows for 3 rows",
        ),
        (
            "wrong type",
            long_result(3, &[1, 2, 3], TypeTag::Double),
            "bigint",
            "where bigint was declared",
        ),
        ("invalid utf-8", invalid_utf8, "string", "invalid"),
        ("out of bounds", truncated, "bigint", "outside the batch"),
        (
            "not a batch",
            b"garbage!".to_vec(),
            "bigint",
            "malformed columnar batch",
        ),
    ];
    let daemon = Daemon::start();
    for (name, result, returns, expected) in cases {
        let module = hostile_guest(&result, returns);
        let digest = sparkwasm_runtime::digest_hex(&module);
        let command = sql_command(&module, "f", "udf", &["bigint"], returns);
        let header = header(5, SQL_SCALAR_ARROW_UDF, vec![udf(&[0], vec![command])]);
        let rows = if name == "invalid utf-8" {
            vec![Some(1)]
        } else {
            vec![Some(1), Some(2), Some(3)]
        };
        let data = arrow_stream(&[vec![longs(&rows)]]);
        let mut jvm = connect(&daemon);
        jvm.send(&header, &data);
        let answer = jvm.answer();
        let message = answer.exception();
        assert!(message.contains(expected), "{name}: {message}");
        assert!(message.contains("UDF `f`"), "{name}: {message}");
        assert!(message.contains(&digest[..12]), "{name}: {message}");
        assert!(message.contains("partition 5"), "{name}: {message}");
    }
    // The daemon still serves a good task on a new connection.
    let mut jvm = connect(&daemon);
    let (header, data) = scalar_task(&good, 0);
    jvm.send(&header, &data);
    assert_eq!(concat_longs(&jvm.answer().column(0)).len(), 4);
}

#[test]
fn a_python_udf_in_a_sparkwasm_node_and_mismatched_types_are_named() {
    let module = module_bytes(SQL_GUEST);
    let daemon = Daemon::start();
    let data = arrow_stream(&[vec![longs(&[Some(1)])]]);
    let cases = [
        (b"\x80\x05python pickle".to_vec(), "not a sparkwasm UDF"),
        (
            sql_command(&module, "affine", "udf", &["int"], "bigint"),
            "the module declares (bigint) -> bigint",
        ),
        (
            sql_command(
                &module,
                "weighted_mean",
                "udaf",
                &["double", "double"],
                "double",
            ),
            "this Spark node evaluates udfs",
        ),
        (
            sql_command(&module, "str_len", "udf", &["string"], "int"),
            "argument 1 of `str_len` is an Arrow Int64 column",
        ),
    ];
    for (command, expected) in cases {
        let mut jvm = connect(&daemon);
        jvm.send(
            &header(0, SQL_SCALAR_ARROW_UDF, vec![udf(&[0], vec![command])]),
            &data,
        );
        let answer = jvm.answer();
        assert!(
            answer.exception().contains(expected),
            "{}",
            answer.exception()
        );
    }
}

#[test]
fn the_sandbox_policy_and_digest_pinning_hold_for_sql_functions() {
    let module = module_bytes(SQL_GUEST);
    let daemon = Daemon::start();
    let data = arrow_stream(&[vec![longs(&[Some(1), Some(7), Some(64)])]]);
    let udf_of = |command: Vec<u8>| header(2, SQL_SCALAR_ARROW_UDF, vec![udf(&[0], vec![command])]);
    let spin = sql_command_with(
        &module,
        "spin",
        "udf",
        &["bigint"],
        "bigint",
        serde_json::json!({"call_deadline_secs": 1}),
    );
    let hog = sql_command_with(
        &module,
        "hog",
        "udf",
        &["bigint"],
        "bigint",
        serde_json::json!({"memory_mb": 16}),
    );
    let mut tampered = sql_command(&module, "affine", "udf", &["bigint"], "bigint");
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    for (command, expected) in [
        (spin, "spark.sparkwasm.callDeadlineSecs"),
        (hog, "spark.sparkwasm.memoryMb"),
        (tampered, "but its bytes hash to"),
    ] {
        let mut jvm = connect(&daemon);
        jvm.send(&udf_of(command), &data);
        let answer = jvm.answer();
        let message = answer.exception();
        assert!(message.contains(expected), "{message}");
        assert!(message.contains("partition 2"), "{message}");
    }
}
