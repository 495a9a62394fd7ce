//! Synthetic-byte tests of the Arrow UDF command section (§8) in every version's layout, and
//! of the SQL task framing around it (group markers, `START_ARROW_STREAM`, an input that
//! ends in `-4` without `-1`).
//!
//! The bytes are assembled field by field from the layouts in `udf.rs`'s docs, independently
//! of the JVM-side encoder ([`jvm::write_task_header`]); the encoder is then checked to
//! write the same bytes, and the decoder to read back the header they describe. Nothing
//! here comes from a capture: captures hold the task secret and cloudpickles.

use std::collections::BTreeMap;

use crate::wire::{write_bool, write_i32, write_i64, write_str};
use crate::*;

/// The 10 pairs `ArrowPythonRunner.getPythonRunnerConfMap` sends (design note §1.2; keys
/// as in the 4.3 capture, values illustrative).
const RUNNER_CONF: [(&str, &str); 10] = [
    ("spark.sql.session.timeZone", "Etc/UTC"),
    ("spark.sql.execution.arrow.useLargeVarTypes", "false"),
    (
        "spark.sql.execution.pandas.convertToArrowArraySafely",
        "true",
    ),
    ("spark.sql.execution.pyspark.binaryAsBytes", "true"),
    (
        "spark.sql.legacy.execution.pandas.groupedMap.assignColumnsByName",
        "true",
    ),
    (
        "spark.sql.legacy.execution.pythonUDF.pandas.conversion.enabled",
        "false",
    ),
    (
        "spark.sql.legacy.execution.pythonUDTF.pandas.conversion.enabled",
        "false",
    ),
    (
        "spark.sql.execution.pythonUDF.pandas.preferIntExtensionDtype",
        "true",
    ),
    (
        "spark.sql.execution.pythonUDF.pandas.intToDecimalCoercionEnabled",
        "false",
    ),
    (
        "spark.sql.execution.pythonUDF.mapInBatch.legacy.acceptAnyIterable.enabled",
        "false",
    ),
];

/// A sparkwasm-shaped command (`SPWASM`, format 3, …); the codec never looks inside.
fn cmd(tag: &str) -> Vec<u8> {
    let mut c = b"SPWASM\x03".to_vec();
    c.extend(tag.as_bytes());
    c
}

fn conf(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A UDF header with everything but the command section filled in.
fn base(version: SparkVersion, eval_type: i32) -> TaskHeader {
    TaskHeader {
        partition_index: 1,
        python_version: "3.11".into(),
        task_context: TaskContext {
            is_barrier: false,
            barrier_server: None,
            stage_id: 4,
            partition_id: 1,
            attempt_number: 0,
            task_attempt_id: 17,
            cpus: 1,
            resources: BTreeMap::new(),
            local_properties: BTreeMap::from([("callSite.short".into(), "collect".into())]),
        },
        spark_files_dir: "/tmp/files".into(),
        python_includes: Vec::new(),
        broadcasts: BroadcastUpdate::default(),
        eval_type,
        runner_conf: conf(&RUNNER_CONF),
        // Empty for 200/202/250/252 (design note §1.2); one pair on 4.2+ to show where it goes.
        eval_conf: if version.has_conf_sections() {
            conf(&[("k", "v")])
        } else {
            Vec::new()
        },
        command: Command::Rdd(Vec::new()),
    }
}

/// Header fields 1–6 of `h` (no 4.3 framing), from the encoder: those fields are tested
/// elsewhere, byte for byte against the captures.
fn fields_1_to_6(version: SparkVersion, h: &TaskHeader) -> Vec<u8> {
    let mut rdd = h.clone();
    rdd.eval_type = eval_type::NON_UDF;
    rdd.runner_conf.clear();
    rdd.eval_conf.clear();
    rdd.command = Command::Rdd(Vec::new());
    let mut b = Vec::new();
    jvm::write_task_header(&mut b, version, &rdd).unwrap();
    let framing = if version.has_init_message() { 8 } else { 0 };
    let tail = 4 + if version.has_conf_sections() { 8 } else { 0 } + 4;
    b[framing..b.len() - tail].to_vec()
}

/// Bytes under construction, with named positions to patch in the malformed-input tests.
#[derive(Default)]
struct Wire {
    bytes: Vec<u8>,
    marks: BTreeMap<String, usize>,
}

impl Wire {
    fn mark(&mut self, name: impl Into<String>) {
        self.marks.insert(name.into(), self.bytes.len());
    }
    fn i32(&mut self, v: i32) {
        write_i32(&mut self.bytes, v).unwrap();
    }
    fn i64(&mut self, v: i64) {
        write_i64(&mut self.bytes, v).unwrap();
    }
    fn bool(&mut self, v: bool) {
        write_bool(&mut self.bytes, v).unwrap();
    }
    fn str(&mut self, s: &str) {
        write_str(&mut self.bytes, s).unwrap();
    }
    fn conf(&mut self, name: &str, c: &[(String, String)]) {
        self.mark(name);
        self.i32(c.len() as i32);
        for (k, v) in c {
            self.str(k);
            self.str(v);
        }
    }
}

/// The full task header as the JVM of `version` writes it, built from the layout in
/// `udf.rs` rather than by the encoder. Marks (offsets into the returned bytes):
/// `eval_type`, `runner_conf`, `profiling`, `profiler`, `n_udfs`, and per UDF `u`:
/// `u.n_args`, `u.a.offset`, `u.a.kw_flag`, `u.a.kw_name`, `u.n_chained`, `u.c.len`,
/// `u.result_id`.
fn hand_built(version: SparkVersion, h: &TaskHeader) -> Wire {
    let Command::Udfs { udfs, profiler } = &h.command else {
        panic!("a UDF header")
    };
    let mut w = Wire {
        bytes: fields_1_to_6(version, h),
        marks: BTreeMap::new(),
    };
    w.mark("eval_type");
    w.i32(h.eval_type);
    if version >= SparkVersion::V4_2 {
        w.conf("runner_conf", &h.runner_conf);
        w.conf("eval_conf", &h.eval_conf);
    } else {
        // 3.5 – 4.1: the runner conf opens the command section.
        w.conf("runner_conf", &h.runner_conf);
    }
    if matches!(version, SparkVersion::V4_0 | SparkVersion::V4_1) {
        w.mark("profiling");
        w.bool(profiler.is_some());
        if let Some(p) = profiler {
            w.mark("profiler");
            w.str(p);
        }
    }
    w.mark("n_udfs");
    w.i32(udfs.len() as i32);
    for (u, udf) in udfs.iter().enumerate() {
        w.mark(format!("{u}.n_args"));
        w.i32(udf.args.len() as i32);
        for (a, arg) in udf.args.iter().enumerate() {
            w.mark(format!("{u}.{a}.offset"));
            w.i32(arg.offset as i32);
            if version >= SparkVersion::V4_0 {
                w.mark(format!("{u}.{a}.kw_flag"));
                w.bool(arg.keyword.is_some());
                if let Some(k) = &arg.keyword {
                    w.mark(format!("{u}.{a}.kw_name"));
                    w.str(k);
                }
            }
        }
        w.mark(format!("{u}.n_chained"));
        w.i32(udf.chained.len() as i32);
        for (c, bytes) in udf.chained.iter().enumerate() {
            w.mark(format!("{u}.{c}.len"));
            w.i32(bytes.len() as i32);
            w.bytes.extend(bytes);
        }
        if let Some(id) = udf.result_id {
            w.mark(format!("{u}.result_id"));
            w.i64(id);
        }
    }
    if version.has_init_message() {
        let mut framed = Vec::new();
        write_i32(&mut framed, special::START_OF_INIT_MESSAGE).unwrap();
        write_i32(&mut framed, w.bytes.len() as i32).unwrap();
        framed.extend(&w.bytes);
        w.bytes = framed;
        for at in w.marks.values_mut() {
            *at += 8;
        }
    }
    w
}

/// Whether UDFs of `version` carry result ids, given the profiler.
fn has_result_id(version: SparkVersion, profiler: Option<&str>) -> bool {
    version >= SparkVersion::V4_2 || profiler.is_some()
}

fn udf(args: Vec<ArgOffset>, chained: Vec<Vec<u8>>, id: i64, with_id: bool) -> UdfInfo {
    UdfInfo {
        args,
        chained,
        result_id: with_id.then_some(id),
    }
}

fn kw(offset: u32, name: &str) -> ArgOffset {
    ArgOffset {
        offset,
        keyword: Some(name.into()),
    }
}

/// The eval types this crate decodes that `version` has.
fn eval_types(version: SparkVersion) -> Vec<i32> {
    let mut v = vec![
        eval_type::SQL_SCALAR_PANDAS_UDF,
        eval_type::SQL_GROUPED_AGG_PANDAS_UDF,
    ];
    if version >= SparkVersion::V4_1 {
        v.extend([
            eval_type::SQL_SCALAR_ARROW_UDF,
            eval_type::SQL_GROUPED_AGG_ARROW_UDF,
        ]);
    }
    v
}

/// The named cases for `version`: one UDF, two UDFs (`select(f(x,s), f(x+1,k))`: offsets
/// `[0,1]` and `[2,3]`), shared columns, a chained `f(g(x))`, keyword arguments (4.0+) and
/// profiling (4.0/4.1).
fn cases(version: SparkVersion, eval_type: i32) -> Vec<(&'static str, TaskHeader)> {
    let mut out = Vec::new();
    let mut add = |name, udfs: Vec<UdfInfo>, profiler: Option<&str>| {
        let mut h = base(version, eval_type);
        h.command = Command::Udfs {
            udfs,
            profiler: profiler.map(str::to_string),
        };
        out.push((name, h));
    };
    let ids = has_result_id(version, None);
    let p = ArgOffset::positional;
    add(
        "one UDF",
        vec![udf(vec![p(0)], vec![cmd("f")], 7, ids)],
        None,
    );
    add(
        "two UDFs",
        vec![
            udf(vec![p(0), p(1)], vec![cmd("f")], 1, ids),
            udf(vec![p(2), p(3)], vec![cmd("f")], 2, ids),
        ],
        None,
    );
    add(
        "shared column, no arguments",
        vec![
            udf(vec![p(0)], vec![cmd("g")], 1, ids),
            udf(vec![p(0)], vec![cmd("h")], 2, ids),
            udf(vec![], vec![cmd("k")], 3, ids),
        ],
        None,
    );
    add(
        "chained",
        vec![udf(
            vec![p(0)],
            vec![cmd("inner g"), cmd("outer f"), Vec::new()],
            -9,
            ids,
        )],
        None,
    );
    if version.udf_args_have_keyword_flags() {
        add(
            "keyword arguments",
            vec![
                udf(vec![p(0), kw(1, "weight")], vec![cmd("f")], 1, ids),
                udf(
                    vec![kw(2, "x"), kw(0, "ñame")],
                    vec![cmd("a"), cmd("b")],
                    2,
                    ids,
                ),
            ],
            None,
        );
    }
    if version.udf_section_has_profiler() {
        for profiler in ["perf", "memory"] {
            add(
                "profiling",
                vec![
                    udf(vec![p(0)], vec![cmd("f")], i64::MAX, true),
                    udf(vec![kw(1, "k")], vec![cmd("g")], 0, true),
                ],
                Some(profiler),
            );
        }
    }
    out
}

fn read(bytes: &[u8], version: SparkVersion) -> Result<Option<TaskHeader>, ProtocolError> {
    read_task_header(&mut &bytes[..], version, &Limits::default())
}

#[test]
fn every_version_layout_decodes_and_the_encoder_agrees() {
    let mut seen = 0;
    for version in SparkVersion::ALL {
        for et in eval_types(version) {
            for (name, h) in cases(version, et) {
                let w = hand_built(version, &h);
                let mut encoded = Vec::new();
                jvm::write_task_header(&mut encoded, version, &h).unwrap();
                assert_eq!(encoded, w.bytes, "{version} {et} {name}: encoder");
                let mut r = &w.bytes[..];
                let got = read_task_header(&mut r, version, &Limits::default())
                    .unwrap_or_else(|e| panic!("{version} {et} {name}: {e}"))
                    .unwrap();
                assert!(r.is_empty(), "{version} {et} {name}: unread bytes");
                assert_eq!(got, h, "{version} {et} {name}");
                assert_eq!(got.runner_conf_map().len(), 10);
                assert!(!got.use_large_var_types());
                seen += 1;
            }
        }
    }
    // 3.5: 2 types × 4 cases; 4.0: 2 × 7; 4.1: 4 × 7; 4.2, 4.3: 4 × 5 each.
    assert_eq!(seen, 8 + 14 + 28 + 20 + 20);
}

/// The 4.3 layout spelled out byte by byte (design note §1.2, *measured*), for one UDF with
/// two positional arguments: nothing between the confs and `numUDFs`, a keyword flag per
/// argument and a result id per UDF.
#[test]
fn layout_4_3_byte_by_byte() {
    let version = SparkVersion::V4_3;
    let mut h = base(version, eval_type::SQL_SCALAR_ARROW_UDF);
    h.runner_conf = conf(&[("spark.sql.execution.arrow.useLargeVarTypes", "TRUE")]);
    h.eval_conf.clear();
    h.command = Command::Udfs {
        udfs: vec![udf(
            vec![ArgOffset::positional(0), ArgOffset::positional(1)],
            vec![b"C".to_vec()],
            0x0102_0304_0506_0708,
            true,
        )],
        profiler: None,
    };
    let w = hand_built(version, &h);
    let tail = &w.bytes[w.marks["eval_type"]..];
    let mut expected = vec![0, 0, 0, 250]; // eval type
    expected.extend([0, 0, 0, 1, 0, 0, 0, 42]); // 1 runner conf pair, key
    expected.extend(b"spark.sql.execution.arrow.useLargeVarTypes");
    expected.extend([0, 0, 0, 4]);
    expected.extend(b"TRUE");
    expected.extend([0, 0, 0, 0]); // eval conf
    expected.extend([0, 0, 0, 1]); // numUDFs
    expected.extend([0, 0, 0, 2]); // numArgs
    expected.extend([0, 0, 0, 0, 0]); // offset 0, not a keyword
    expected.extend([0, 0, 0, 1, 0]); // offset 1, not a keyword
    expected.extend([0, 0, 0, 1, 0, 0, 0, 1, b'C']); // numChained 1, "C"
    expected.extend([1, 2, 3, 4, 5, 6, 7, 8]); // resultId
    assert_eq!(tail, &expected[..]);
    let got = read(&w.bytes, version).unwrap().unwrap();
    assert_eq!(got, h);
    assert!(got.use_large_var_types(), "TRUE is true, as in PySpark");
}

/// 3.5 spelled out: the runner conf opens the command section, offsets are bare `i32`s,
/// no profiler field and no result id.
#[test]
fn layout_3_5_byte_by_byte() {
    let version = SparkVersion::V3_5;
    let mut h = base(version, eval_type::SQL_GROUPED_AGG_PANDAS_UDF);
    h.runner_conf = conf(&[("a", "b")]);
    h.command = Command::Udfs {
        udfs: vec![udf(
            vec![ArgOffset::positional(3), ArgOffset::positional(0)],
            vec![b"C".to_vec(), b"DE".to_vec()],
            0,
            false,
        )],
        profiler: None,
    };
    let w = hand_built(version, &h);
    let tail = &w.bytes[w.marks["eval_type"]..];
    let mut expected = vec![0, 0, 0, 202];
    expected.extend([0, 0, 0, 1, 0, 0, 0, 1, b'a', 0, 0, 0, 1, b'b']); // runner conf
    expected.extend([0, 0, 0, 1]); // numUDFs
    expected.extend([0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0]); // numArgs, offsets 3 and 0
    expected.extend([0, 0, 0, 2, 0, 0, 0, 1, b'C', 0, 0, 0, 2, b'D', b'E']);
    assert_eq!(tail, &expected[..]);
    assert_eq!(read(&w.bytes, version).unwrap().unwrap(), h);
}

/// 4.0/4.1 spelled out: runner conf, then `bool isProfiling` + `str` profiler, keyword
/// flags, and result ids only when profiling.
#[test]
fn layout_4_0_and_4_1_byte_by_byte() {
    for version in [SparkVersion::V4_0, SparkVersion::V4_1] {
        for profiler in [None, Some("perf")] {
            let mut h = base(version, eval_type::SQL_SCALAR_PANDAS_UDF);
            h.runner_conf.clear();
            h.command = Command::Udfs {
                udfs: vec![udf(
                    vec![kw(5, "n")],
                    vec![b"C".to_vec()],
                    3,
                    profiler.is_some(),
                )],
                profiler: profiler.map(str::to_string),
            };
            let w = hand_built(version, &h);
            let tail = &w.bytes[w.marks["eval_type"]..];
            let mut expected = vec![0, 0, 0, 200, 0, 0, 0, 0]; // eval type, empty runner conf
            match profiler {
                None => expected.push(0),
                Some(_) => expected.extend([1, 0, 0, 0, 4, b'p', b'e', b'r', b'f']),
            }
            expected.extend([0, 0, 0, 1, 0, 0, 0, 1]); // numUDFs, numArgs
            expected.extend([0, 0, 0, 5, 1, 0, 0, 0, 1, b'n']); // offset 5, keyword "n"
            expected.extend([0, 0, 0, 1, 0, 0, 0, 1, b'C']);
            if profiler.is_some() {
                expected.extend([0, 0, 0, 0, 0, 0, 0, 3]);
            }
            assert_eq!(tail, &expected[..], "{version} {profiler:?}");
            assert_eq!(read(&w.bytes, version).unwrap().unwrap(), h);
        }
    }
}

/// Every cut of every case is `Eof` (the empty stream is a clean close), and in 4.3 every
/// init-frame length other than the right one is `Malformed`.
#[test]
fn truncation_at_every_cut_point_is_an_error() {
    for version in SparkVersion::ALL {
        for et in eval_types(version) {
            for (name, h) in cases(version, et) {
                let bytes = hand_built(version, &h).bytes;
                assert!(read(&[], version).unwrap().is_none());
                for cut in 1..bytes.len() {
                    match read(&bytes[..cut], version) {
                        Err(ProtocolError::Eof) => {}
                        other => panic!("{version} {et} {name}: cut {cut}: {other:?}"),
                    }
                }
                if version.has_init_message() {
                    let len = bytes.len() as i32 - 8;
                    for wrong in (0..len).chain([len + 1, len + 100]) {
                        let mut b = bytes.clone();
                        b[4..8].copy_from_slice(&wrong.to_be_bytes());
                        if wrong > len {
                            b.extend(vec![0; (wrong - len) as usize]);
                        }
                        match read(&b, version) {
                            Err(ProtocolError::Malformed { what }) => {
                                assert!(what.contains("init message"), "{what}")
                            }
                            other => panic!("{name}: frame length {wrong}/{len}: {other:?}"),
                        }
                    }
                }
            }
        }
    }
}

/// A header for the per-field tests: two UDFs, the second chained, with a keyword argument
/// where the version has them and a profiler in 4.0/4.1.
fn rich(version: SparkVersion) -> TaskHeader {
    let profiler = version
        .udf_section_has_profiler()
        .then(|| "perf".to_string());
    let ids = has_result_id(version, profiler.as_deref());
    let second_arg = if version.udf_args_have_keyword_flags() {
        kw(1, "w")
    } else {
        ArgOffset::positional(1)
    };
    let mut h = base(version, eval_type::SQL_GROUPED_AGG_PANDAS_UDF);
    h.command = Command::Udfs {
        udfs: vec![
            udf(
                vec![ArgOffset::positional(0), second_arg],
                vec![cmd("f")],
                1,
                ids,
            ),
            udf(
                vec![ArgOffset::positional(2)],
                vec![cmd("g"), cmd("h")],
                2,
                ids,
            ),
        ],
        profiler,
    };
    h
}

/// `rich(version)` hand-built, with the `i32` at `mark` replaced by `value`.
fn patched_i32(version: SparkVersion, mark: &str, value: i32) -> Vec<u8> {
    let w = hand_built(version, &rich(version));
    let at = w.marks[mark];
    let mut b = w.bytes;
    b[at..at + 4].copy_from_slice(&value.to_be_bytes());
    b
}

/// `rich(version)` hand-built, with the byte at `mark` replaced by `value`.
fn patched_u8(version: SparkVersion, mark: &str, value: u8) -> Vec<u8> {
    let w = hand_built(version, &rich(version));
    let mut b = w.bytes;
    b[w.marks[mark]] = value;
    b
}

fn assert_malformed(r: Result<Option<TaskHeader>, ProtocolError>, needle: &str, case: &str) {
    match r {
        Err(ProtocolError::Malformed { what }) => {
            assert!(what.contains(needle), "{case}: {needle:?} not in {what:?}")
        }
        other => panic!("{case}: expected Malformed with {needle:?}, got {other:?}"),
    }
}

fn assert_too_large(r: Result<Option<TaskHeader>, ProtocolError>, field: &str, case: &str) {
    match r {
        Err(ProtocolError::TooLarge { what, .. }) => assert_eq!(what, field, "{case}"),
        other => panic!("{case}: expected TooLarge {field:?}, got {other:?}"),
    }
}

#[test]
fn malformed_fields() {
    for version in SparkVersion::ALL {
        let v = |what: &str| format!("{version} {what}");
        let rd = |b: Vec<u8>| read(&b, version);
        assert_eq!(
            rd(hand_built(version, &rich(version)).bytes)
                .unwrap()
                .unwrap(),
            rich(version)
        );

        // Runner conf: in the command section before 4.2, in the header after.
        let conf_field = if version.runner_conf_in_command() {
            "runner conf (command section)"
        } else {
            "runner conf"
        };
        assert_malformed(
            rd(patched_i32(version, "runner_conf", -2)),
            &format!("{conf_field}: negative count -2"),
            &v("runner conf count"),
        );
        assert_too_large(
            rd(patched_i32(version, "runner_conf", i32::MAX)),
            conf_field,
            &v("runner conf count"),
        );

        // The 4.0/4.1 profiler field.
        if version.udf_section_has_profiler() {
            assert_malformed(
                rd(patched_u8(version, "profiling", 2)),
                "UDF profiling flag: boolean byte must be 0 or 1, got 0x02",
                &v("profiling flag"),
            );
            assert_malformed(
                rd(patched_i32(version, "profiler", -5)),
                "UDF profiler: negative length -5 (NULL)",
                &v("profiler"),
            );
            // Not profiling after all: the result ids are read as the next fields.
            assert!(
                rd(patched_u8(version, "profiling", 0)).is_err(),
                "{version}"
            );
        }

        // numUDFs.
        assert_malformed(
            rd(patched_i32(version, "n_udfs", -1)),
            "UDFs: negative count -1",
            &v("n_udfs"),
        );
        assert_malformed(
            rd(patched_i32(version, "n_udfs", 0)),
            "lists no UDF",
            &v("n_udfs 0"),
        );
        assert_too_large(
            rd(patched_i32(version, "n_udfs", 100_001)),
            "UDFs",
            &v("n_udfs"),
        );
        // One UDF announced, two sent: bytes are left over (4.3's frame notices; the others
        // leave them to the data section, which is where the JVM would have put the next
        // thing).
        if version.has_init_message() {
            assert_malformed(
                rd(patched_i32(version, "n_udfs", 1)),
                "left over",
                &v("n_udfs 1"),
            );
        }

        // numArgs.
        assert_malformed(
            rd(patched_i32(version, "0.n_args", -3)),
            "UDF arguments: negative count -3",
            &v("n_args"),
        );
        assert_too_large(
            rd(patched_i32(version, "1.n_args", i32::MAX)),
            "UDF arguments",
            &v("n_args"),
        );

        // Argument offsets.
        assert_malformed(
            rd(patched_i32(version, "1.0.offset", -1)),
            "UDF 1 argument 0: negative column offset -1",
            &v("offset"),
        );
        assert_malformed(
            rd(patched_i32(version, "0.0.offset", i32::MIN)),
            "UDF 0 argument 0: negative column offset -2147483648",
            &v("offset"),
        );

        // Keyword flags and names.
        if version.udf_args_have_keyword_flags() {
            assert_malformed(
                rd(patched_u8(version, "0.0.kw_flag", 0xff)),
                "UDF keyword-argument flag: boolean byte must be 0 or 1, got 0xff",
                &v("keyword flag"),
            );
            assert_malformed(
                rd(patched_i32(version, "0.1.kw_name", -1)),
                "UDF keyword-argument name: negative length -1 (END_OF_DATA_SECTION)",
                &v("keyword name"),
            );
            // The name is "w": make it invalid UTF-8.
            let w = hand_built(version, &rich(version));
            let mut b = w.bytes;
            b[w.marks["0.1.kw_name"] + 4] = 0xff;
            assert_malformed(
                rd(b),
                "UDF keyword-argument name: invalid UTF-8",
                &v("kw utf8"),
            );
        }

        // numChained.
        assert_malformed(
            rd(patched_i32(version, "1.n_chained", 0)),
            "UDF 1: no function (0 chained commands)",
            &v("n_chained 0"),
        );
        assert_malformed(
            rd(patched_i32(version, "0.n_chained", -7)),
            "chained UDF functions: negative count -7",
            &v("n_chained"),
        );
        assert_too_large(
            rd(patched_i32(version, "0.n_chained", 1 << 30)),
            "chained UDF functions",
            &v("n_chained"),
        );

        // Command lengths.
        assert_malformed(
            rd(patched_i32(version, "1.1.len", special::NULL)),
            "chained UDF command: negative length -5 (NULL)",
            &v("command length"),
        );
        assert_malformed(
            rd(patched_i32(
                version,
                "0.0.len",
                special::END_OF_DATA_SECTION,
            )),
            "chained UDF command: negative length -1 (END_OF_DATA_SECTION)",
            &v("command length"),
        );
        assert_too_large(
            rd(patched_i32(version, "0.0.len", i32::MAX)),
            "chained UDF command",
            &v("command length"),
        );
    }
}

#[test]
fn limits_apply_to_the_udf_section() {
    for version in SparkVersion::ALL {
        let h = rich(version);
        let bytes = hand_built(version, &h).bytes;
        let with = |limits: Limits| read_task_header(&mut &bytes[..], version, &limits);
        // The runner conf (10 pairs) is the largest count in `rich`.
        assert!(with(Limits::default().with_max_entries(10)).is_ok());
        let conf_field = if version.runner_conf_in_command() {
            "runner conf (command section)"
        } else {
            "runner conf"
        };
        assert_too_large(
            with(Limits::default().with_max_entries(9)),
            conf_field,
            &format!("{version}"),
        );

        // Three chained commands of 8 bytes: each fits in 8, together they need 24.
        assert!(with(Limits::default().with_max_command(24)).is_ok());
        match with(Limits::default().with_max_command(23)) {
            Err(ProtocolError::TooLarge { what, len, max }) => {
                assert_eq!(what, "UDF commands (all chained functions together)");
                assert_eq!((len, max), (24, 23), "{version}");
            }
            other => panic!("{version}: {other:?}"),
        }
        assert_too_large(
            with(Limits::default().with_max_command(7)),
            "chained UDF command",
            &format!("{version}"),
        );
    }

    // Counts beyond the limit are refused before anything is read behind them.
    let version = SparkVersion::V4_2;
    let b = patched_i32(version, "0.n_args", 65);
    assert_too_large(
        read_task_header(
            &mut &b[..],
            version,
            &Limits::default().with_max_entries(64),
        ),
        "UDF arguments",
        "n_args over a small limit",
    );
    // A keyword name over the string limit (4.1: no JSON task context, whose string would
    // be longer than the name).
    let version = SparkVersion::V4_1;
    let mut h = rich(version);
    if let Command::Udfs { udfs, .. } = &mut h.command {
        udfs[0].args[1].keyword = Some("k".repeat(100));
    }
    let b = hand_built(version, &h).bytes;
    assert_too_large(
        read_task_header(&mut &b[..], version, &Limits::default().with_max_string(99)),
        "UDF keyword-argument name",
        "keyword name",
    );
    // The 4.0/4.1 profiler name over the string limit.
    let mut h = rich(version);
    if let Command::Udfs { profiler, .. } = &mut h.command {
        *profiler = Some("p".repeat(100));
    }
    let b = hand_built(version, &h).bytes;
    assert_too_large(
        read_task_header(&mut &b[..], version, &Limits::default().with_max_string(99)),
        "UDF profiler",
        "profiler name",
    );
}

#[test]
fn other_eval_types_are_unsupported_by_name() {
    for version in SparkVersion::ALL {
        for (et, name) in [
            (eval_type::SQL_BATCHED_UDF, "SQL_BATCHED_UDF"),
            (eval_type::SQL_ARROW_BATCHED_UDF, "SQL_ARROW_BATCHED_UDF"),
            (201, "SQL_GROUPED_MAP_PANDAS_UDF"),
            (203, "SQL_WINDOW_AGG_PANDAS_UDF"),
            (204, "SQL_SCALAR_PANDAS_ITER_UDF"),
            (251, "SQL_SCALAR_ARROW_ITER_UDF"),
            (253, "SQL_WINDOW_AGG_ARROW_UDF"),
            (254, "SQL_GROUPED_AGG_ARROW_ITER_UDF"),
            (eval_type::SQL_TABLE_UDF, "SQL_TABLE_UDF"),
            (12345, "unknown"),
            (-1, "unknown"),
        ] {
            let mut h = rich(version);
            h.eval_type = et;
            // The command bytes do not matter: the eval type is refused first.
            h.command = Command::Rdd(b"whatever".to_vec());
            h.runner_conf.clear();
            let mut b = Vec::new();
            jvm::write_task_header(&mut b, version, &h).unwrap();
            match read(&b, version) {
                Err(ProtocolError::Unsupported { what }) => {
                    assert!(
                        what.contains(&format!("eval type {et} ({name})")),
                        "{version}: {what}"
                    );
                    assert!(what.contains("200, 202, 250, 252"), "{what}");
                }
                other => panic!("{version} {et}: {other:?}"),
            }
        }
    }

    // The Arrow UDF types do not exist before 4.1.
    for version in [SparkVersion::V3_5, SparkVersion::V4_0] {
        for et in [
            eval_type::SQL_SCALAR_ARROW_UDF,
            eval_type::SQL_GROUPED_AGG_ARROW_UDF,
        ] {
            let b = patched_i32(version, "eval_type", et);
            match read(&b, version) {
                Err(ProtocolError::Unsupported { what }) => assert!(
                    what.contains(&format!("does not exist in Spark {version} (added in 4.1)")),
                    "{what}"
                ),
                other => panic!("{version} {et}: {other:?}"),
            }
        }
    }
}

#[test]
fn encoder_refuses_what_the_version_cannot_express() {
    let invalid = |version, h: &TaskHeader| {
        let e = jvm::write_task_header(&mut Vec::new(), version, h).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{version}: {e}");
        e.to_string()
    };
    let mut h = rich(SparkVersion::V3_5);
    if let Command::Udfs { udfs, .. } = &mut h.command {
        udfs[0].args[0].keyword = Some("x".into());
    }
    assert!(invalid(SparkVersion::V3_5, &h).contains("no keyword arguments"));

    let mut h = rich(SparkVersion::V4_2);
    if let Command::Udfs { profiler, .. } = &mut h.command {
        *profiler = Some("perf".into());
    }
    assert!(invalid(SparkVersion::V4_2, &h).contains("no UDF profiler field"));

    let mut h = rich(SparkVersion::V4_3);
    if let Command::Udfs { udfs, .. } = &mut h.command {
        udfs[1].result_id = None;
    }
    assert!(invalid(SparkVersion::V4_3, &h).contains("needs a UDF result id"));

    let mut h = rich(SparkVersion::V4_0);
    if let Command::Udfs { profiler, .. } = &mut h.command {
        *profiler = None;
    }
    assert!(invalid(SparkVersion::V4_0, &h).contains("sends no UDF result id"));

    let mut h = rich(SparkVersion::V4_3);
    h.eval_type = eval_type::SQL_ARROW_BATCHED_UDF;
    assert!(invalid(SparkVersion::V4_3, &h).contains("eval type 101"));

    let mut h = rich(SparkVersion::V4_1);
    h.command = Command::Rdd(b"rdd".to_vec());
    h.eval_type = eval_type::NON_UDF;
    assert!(invalid(SparkVersion::V4_1, &h).contains("runner conf only with UDFs"));
    h.runner_conf.clear();
    h.eval_conf = conf(&[("k", "v")]);
    assert!(invalid(SparkVersion::V4_1, &h).contains("no eval conf"));
}

#[test]
fn conf_accessors() {
    let mut h = base(SparkVersion::V4_3, eval_type::SQL_SCALAR_ARROW_UDF);
    assert_eq!(
        h.runner_conf_value("spark.sql.session.timeZone"),
        Some("Etc/UTC")
    );
    assert_eq!(h.runner_conf_value("absent"), None);
    assert_eq!(
        h.runner_conf_map()[TaskHeader::USE_LARGE_VAR_TYPES],
        "false"
    );
    assert_eq!(h.eval_conf_map(), BTreeMap::from([("k", "v")]));
    assert!(!h.use_large_var_types());
    // The last occurrence wins, as in Python's dict.
    h.runner_conf
        .push((TaskHeader::USE_LARGE_VAR_TYPES.into(), "True".into()));
    assert!(h.use_large_var_types());
    assert_eq!(h.runner_conf_map()[TaskHeader::USE_LARGE_VAR_TYPES], "True");
    h.runner_conf.clear();
    assert!(!h.use_large_var_types(), "absent means false");
    h.runner_conf
        .push((TaskHeader::USE_LARGE_VAR_TYPES.into(), "yes".into()));
    assert!(!h.use_large_var_types(), "only \"true\" is true");
}

#[test]
fn debug_shows_no_command_bytes() {
    let h = rich(SparkVersion::V4_3);
    let d = format!("{h:?}");
    assert!(!d.contains("SPWASM") && !d.contains("83, 80"), "{d}");
    assert!(
        d.contains("<8 bytes>") && d.contains("keyword: Some(\"w\")"),
        "{d}"
    );
}

/// Plays a whole grouped-aggregate task and a scalar task on one connection, as a worker
/// does: the input has no `END_OF_DATA_SECTION`, the JVM's `-4` follows the `0` group
/// marker (or the Arrow stream) directly, and the worker's answer is `-6`, its stream,
/// then the RDD trailer.
#[test]
fn sql_task_framing_without_end_of_data() {
    // Stand-in Arrow IPC streams: the worker reads them with an Arrow reader that stops at
    // the stream's end-of-stream marker; here their lengths are known.
    let eos = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    let stream = |body: &[u8]| [body, &eos[..]].concat();
    let groups = [stream(b"group one"), stream(b"group two")];
    let scalar_input = stream(b"rows");

    for version in SparkVersion::ALL {
        let mut jvm_bytes = Vec::new();
        // Task 1: grouped aggregate, two groups.
        jvm::write_task_header(&mut jvm_bytes, version, &rich(version)).unwrap();
        for g in &groups {
            write_i32(&mut jvm_bytes, 1).unwrap();
            jvm_bytes.extend(g);
        }
        write_i32(&mut jvm_bytes, 0).unwrap();
        write_end_of_stream(&mut jvm_bytes).unwrap();
        // Task 2 on the same connection: scalar.
        let mut scalar = rich(version);
        scalar.eval_type = eval_type::SQL_SCALAR_PANDAS_UDF;
        jvm::write_task_header(&mut jvm_bytes, version, &scalar).unwrap();
        jvm_bytes.extend(&scalar_input);
        write_end_of_stream(&mut jvm_bytes).unwrap();

        let mut r = &jvm_bytes[..];
        let mut out = Vec::new();
        let limits = Limits::default();

        let h = read_task_header(&mut r, version, &limits).unwrap().unwrap();
        assert_eq!(
            eval_type::udf_kind(h.eval_type),
            Some(eval_type::UdfKind::GroupedAggregate)
        );
        let mut seen = Vec::new();
        while read_group_marker(&mut r).unwrap() == GroupMarker::Stream {
            let len = groups[seen.len()].len();
            seen.push(r[..len].to_vec());
            r = &r[len..];
        }
        assert_eq!(seen, groups);
        write_start_arrow_stream(&mut out).unwrap();
        out.extend(stream(b"two result rows"));
        write_timing(&mut out, version, &Timing::default()).unwrap();
        write_end_of_data(&mut out, &[]).unwrap();
        assert!(read_end_of_stream(&mut r).unwrap(), "{version}");
        write_end_of_stream(&mut out).unwrap();

        let h = read_task_header(&mut r, version, &limits).unwrap().unwrap();
        assert_eq!(
            eval_type::udf_kind(h.eval_type),
            Some(eval_type::UdfKind::Scalar)
        );
        assert_eq!(&r[..scalar_input.len()], &scalar_input[..]);
        r = &r[scalar_input.len()..];
        assert!(read_end_of_stream(&mut r).unwrap(), "{version}");
        // Then a clean close.
        assert!(read_task_header(&mut r, version, &limits)
            .unwrap()
            .is_none());

        // What the worker wrote for task 1: -6, the stream, -3 + longs, -1, 0, -4.
        let timing = 4 + 8 * (version.timing_longs() + 2);
        let mut expected = vec![0xff, 0xff, 0xff, 0xfa];
        expected.extend(stream(b"two result rows"));
        assert_eq!(&out[..expected.len()], &expected[..]);
        assert_eq!(
            out[expected.len()..expected.len() + 4],
            [0xff, 0xff, 0xff, 0xfd]
        );
        assert_eq!(
            out[expected.len() + timing..],
            [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc]
        );
    }
}

/// Once a SQL task's input has been read (the Arrow stream, or the groups through the `0`
/// marker), the JVM's `-4` is next. Draining an RDD data section through `-1` there, as
/// the RDD path's `drain_input` does, trips on it: the SQL path must not drain.
#[test]
fn rdd_draining_does_not_fit_sql_input() {
    let mut b = Vec::new();
    write_end_of_stream(&mut b).unwrap();
    let e = read_record_header(&mut &b[..]).unwrap_err();
    assert!(
        e.to_string()
            .contains("unexpected special length -4 (END_OF_STREAM)"),
        "{e}"
    );
    assert!(read_end_of_stream(&mut &b[..]).unwrap());
}
