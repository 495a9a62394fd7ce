//! Property tests: arbitrary and mutated bytes fed to every reader must produce a value or a
//! protocol error, never a panic, a hang or an I/O error (the readers are in-memory).

use std::collections::BTreeMap;

use proptest::prelude::*;
use sparkwasm_protocol::{
    eval_type, jvm, pickle, read_end_of_stream, read_payload, read_record_header, read_task_header,
    BroadcastEntry, BroadcastUpdate, Command, Limits, ProtocolError, RecordHeader, ServerAddress,
    SparkVersion, TaskContext, TaskHeader,
};

/// Errors a finite in-memory reader may produce; `Io` or `AuthFailed` would be a bug.
fn acceptable(e: &ProtocolError) -> bool {
    matches!(
        e,
        ProtocolError::Eof
            | ProtocolError::Malformed { .. }
            | ProtocolError::TooLarge { .. }
            | ProtocolError::Unsupported { .. }
    )
}

/// Small limits so random lengths are often *within* limits and the payload paths run.
fn limits() -> Limits {
    Limits::default()
        .with_max_string(4096)
        .with_max_command(4096)
        .with_max_entries(64)
}

fn version() -> impl Strategy<Value = SparkVersion> {
    prop::sample::select(SparkVersion::ALL.to_vec())
}

/// A valid encoded header for `v`, exercising barrier and broadcast fields.
fn valid_header(v: SparkVersion, barrier: bool, encrypted: bool) -> Vec<u8> {
    let h = TaskHeader {
        partition_index: 1,
        python_version: "3.11".into(),
        task_context: TaskContext {
            is_barrier: barrier,
            barrier_server: barrier.then(|| ServerAddress::Tcp {
                port: 4321,
                secret: "s".repeat(16),
            }),
            stage_id: 2,
            partition_id: 1,
            attempt_number: 0,
            task_attempt_id: 77,
            cpus: 1,
            resources: BTreeMap::from([("gpu".into(), vec!["0".into(), "1".into()])]),
            local_properties: BTreeMap::from([("a".into(), "b".into())]),
        },
        spark_files_dir: "/f".into(),
        python_includes: vec!["x.zip".into()],
        broadcasts: BroadcastUpdate {
            decryption_server: encrypted.then(|| ServerAddress::Tcp {
                port: 999,
                secret: "t".repeat(8),
            }),
            removed: vec![4],
            added: vec![BroadcastEntry {
                id: 5,
                path: (!encrypted).then(|| "/b/5".into()),
            }],
        },
        eval_type: eval_type::NON_UDF,
        runner_conf: if v.has_conf_sections() {
            vec![("k".into(), "v".into())]
        } else {
            vec![]
        },
        eval_conf: Vec::new(),
        command: Command::Rdd(vec![7; 32]),
    };
    let mut out = Vec::new();
    jvm::write_task_header(&mut out, v, &h).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn header_arbitrary_bytes(v in version(), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = read_task_header(&mut &bytes[..], v, &limits()) {
            prop_assert!(acceptable(&e), "{e:?}");
        }
        if let Err(e) = read_task_header(&mut &bytes[..], v, &Limits::default()) {
            prop_assert!(acceptable(&e), "{e:?}");
        }
    }

    /// Random bytes rarely get past the first field; mutating a valid header reaches every
    /// field's error paths.
    #[test]
    fn header_mutated(
        v in version(),
        barrier in any::<bool>(),
        encrypted in any::<bool>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = valid_header(v, barrier, encrypted);
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Err(e) = read_task_header(&mut &bytes[..], v, &limits()) {
            prop_assert!(acceptable(&e), "{e:?}");
        }
    }

    /// The header of one version read as another.
    #[test]
    fn header_wrong_version(written in version(), read_as in version(), barrier in any::<bool>()) {
        let bytes = valid_header(written, barrier, false);
        match read_task_header(&mut &bytes[..], read_as, &limits()) {
            Ok(_) => {}
            Err(e) => prop_assert!(acceptable(&e), "{e:?}"),
        }
    }

    #[test]
    fn data_section_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut r = &bytes[..];
        // Consume records until the section ends or an error; every step must make progress,
        // so this terminates on a finite input.
        loop {
            match read_record_header(&mut r) {
                Ok(RecordHeader::Data(len)) => match read_payload(&mut r, len, 256, "record") {
                    Ok(p) => prop_assert_eq!(p.len(), len as usize),
                    Err(e) => { prop_assert!(acceptable(&e), "{e:?}"); break; }
                },
                Ok(RecordHeader::Null) => {}
                Ok(RecordHeader::EndOfData) => {
                    if let Err(e) = read_end_of_stream(&mut r) {
                        prop_assert!(matches!(e, ProtocolError::Eof));
                    }
                    break;
                }
                Err(e) => { prop_assert!(acceptable(&e), "{e:?}"); break; }
            }
        }
    }
}

/// Pickle-shaped bytes: mostly opcodes and small arguments, so the walk gets deep.
fn pickle_bytes() -> impl Strategy<Value = Vec<u8>> {
    let opcodes = b"()0.12FIJKLMNPQRSTUVXabcdeghijlopqrstu}]GBC".to_vec();
    let byte = prop_oneof![
        3 => prop::sample::select(opcodes),
        2 => 0x80u8..=0x98,
        2 => any::<u8>(),
        1 => Just(b'\n'),
    ];
    prop::collection::vec(byte, 0..256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn pickle_skipper_never_panics_and_never_overreads(
        bytes in prop_oneof![pickle_bytes(), prop::collection::vec(any::<u8>(), 0..256)],
        max in 0usize..512,
    ) {
        let mut r = &bytes[..];
        match pickle::read_pickle(&mut r, max) {
            Ok(p) => {
                // What it returns is exactly what it consumed, ending in STOP.
                prop_assert_eq!(p.len() + r.len(), bytes.len());
                prop_assert_eq!(&bytes[..p.len()], &p[..]);
                prop_assert_eq!(p.last(), Some(&b'.'));
                prop_assert!(p.len() <= max);
                prop_assert_eq!(pickle::pickle_len(&bytes).ok(), Some(p.len()));
            }
            Err(e) => prop_assert!(acceptable(&e), "{e:?}"),
        }
    }

    #[test]
    fn accumulator_check_never_panics(bytes in pickle_bytes(), bound in any::<i64>()) {
        match pickle::check_accumulator_update(&bytes, |id| id == bound || id < 256) {
            Ok(id) => prop_assert!(id == bound || id < 256),
            Err(e) => prop_assert!(acceptable(&e), "{e:?}"),
        }
    }
}
