//! The JVM's side of the task header: an encoder that writes a [`TaskHeader`] the way
//! Spark's `BasePythonRunner` does for each version.
//!
//! A worker never needs this. It exists so tests (here and in downstream crates) can play
//! the JVM without a JVM, and so the decoder can be checked by round trips. The data section
//! and trailer need no special encoder: they are [`write_frame`](crate::write_frame),
//! `write_i32(special::NULL)`, `write_i32(special::END_OF_DATA_SECTION)` and
//! [`write_end_of_stream`](crate::write_end_of_stream).
//!
//! Where the decoder drops information the encoder fills in what Spark would send: a
//! resource's `name` is its key, and a non-barrier task context carries no secret
//! (binary A: port 0 and `""`; JSON: `connInfo` −1 and `secret` null).

use std::io::{self, Write};

use serde_json::{json, Map, Value};

use crate::wire::{write_bool, write_bytes, write_i32, write_i64, write_str};
use crate::{special, ServerAddress, SparkVersion, TaskContext, TaskContextEncoding, TaskHeader};

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

fn write_len<W: Write + ?Sized>(w: &mut W, n: usize) -> io::Result<()> {
    write_i32(
        w,
        i32::try_from(n).map_err(|_| invalid("count exceeds i32::MAX"))?,
    )
}

/// Writes `h` as the JVM of `version` would, including the 4.3 init-message framing.
///
/// Fails with [`io::ErrorKind::InvalidInput`] if `h` cannot be expressed in that version:
/// Unix socket addresses before 4.1, non-empty confs before 4.2, negative broadcast ids, a
/// missing broadcast path without a decryption server, or `is_barrier` disagreeing with
/// `barrier_server`.
pub fn write_task_header<W: Write + ?Sized>(
    w: &mut W,
    version: SparkVersion,
    h: &TaskHeader,
) -> io::Result<()> {
    // Encode into a buffer first so an invalid header writes nothing; 4.3 needs the length
    // up front anyway.
    let mut buf = Vec::new();
    write_body(&mut buf, version, h)?;
    if version.has_init_message() {
        write_i32(w, special::START_OF_INIT_MESSAGE)?;
        write_len(w, buf.len())?;
    }
    w.write_all(&buf)
}

fn write_body(w: &mut Vec<u8>, version: SparkVersion, h: &TaskHeader) -> io::Result<()> {
    write_i32(w, h.partition_index)?;
    write_str(w, &h.python_version)?;
    write_task_context(w, version, &h.task_context)?;
    write_str(w, &h.spark_files_dir)?;
    write_len(w, h.python_includes.len())?;
    for inc in &h.python_includes {
        write_str(w, inc)?;
    }

    let b = &h.broadcasts;
    write_bool(w, b.decryption_server.is_some())?;
    write_len(w, b.removed.len() + b.added.len())?;
    if let Some(server) = &b.decryption_server {
        write_server(w, version, server)?;
    }
    for &id in &b.removed {
        if id < 0 {
            return Err(invalid("negative broadcast id in removed"));
        }
        write_i64(w, !id)?;
    }
    for e in &b.added {
        if e.id < 0 {
            return Err(invalid("negative broadcast id in added"));
        }
        write_i64(w, e.id)?;
        match (&b.decryption_server, &e.path) {
            (Some(_), _) => {}
            (None, Some(path)) => write_str(w, path)?,
            (None, None) => return Err(invalid("broadcast path missing in path mode")),
        }
    }

    write_i32(w, h.eval_type)?;
    if version.has_conf_sections() {
        for conf in [&h.runner_conf, &h.eval_conf] {
            write_len(w, conf.len())?;
            for (k, v) in conf {
                write_str(w, k)?;
                write_str(w, v)?;
            }
        }
    } else if !h.runner_conf.is_empty() || !h.eval_conf.is_empty() {
        return Err(invalid(format!("Spark {version} has no conf sections")));
    }
    write_bytes(w, &h.command)
}

/// `i32 port` + `str secret`, or (4.1+) `i32 -1` + `str path`.
fn write_server(w: &mut Vec<u8>, version: SparkVersion, s: &ServerAddress) -> io::Result<()> {
    match s {
        ServerAddress::Tcp { port, secret } => {
            write_i32(w, *port)?;
            write_str(w, secret)
        }
        ServerAddress::Unix { path } if version.supports_unix_sockets() => {
            write_i32(w, -1)?;
            write_str(w, path)
        }
        ServerAddress::Unix { .. } => Err(invalid(format!(
            "Spark {version} has no Unix domain sockets"
        ))),
    }
}

fn write_task_context(w: &mut Vec<u8>, version: SparkVersion, tc: &TaskContext) -> io::Result<()> {
    if tc.is_barrier != tc.barrier_server.is_some() {
        return Err(invalid("is_barrier disagrees with barrier_server"));
    }
    match version.task_context_encoding() {
        TaskContextEncoding::BinaryA => {
            write_bool(w, tc.is_barrier)?;
            match &tc.barrier_server {
                None => {
                    write_i32(w, 0)?;
                    write_str(w, "")?;
                }
                Some(ServerAddress::Tcp { port, secret }) => {
                    write_i32(w, *port)?;
                    write_str(w, secret)?;
                }
                Some(ServerAddress::Unix { .. }) => {
                    return Err(invalid(format!(
                        "Spark {version} has no Unix domain sockets"
                    )))
                }
            }
            write_binary_tail(w, tc)
        }
        TaskContextEncoding::BinaryB => {
            write_bool(w, tc.is_barrier)?;
            if let Some(s) = &tc.barrier_server {
                write_server(w, version, s)?;
            }
            write_binary_tail(w, tc)
        }
        TaskContextEncoding::Json => write_str(w, &task_context_json(version, tc)),
    }
}

fn write_binary_tail(w: &mut Vec<u8>, tc: &TaskContext) -> io::Result<()> {
    write_i32(w, tc.stage_id)?;
    write_i32(w, tc.partition_id)?;
    write_i32(w, tc.attempt_number)?;
    write_i64(w, tc.task_attempt_id)?;
    write_i32(w, tc.cpus)?;
    write_len(w, tc.resources.len())?;
    for (key, addrs) in &tc.resources {
        write_str(w, key)?;
        write_str(w, key)?;
        write_len(w, addrs.len())?;
        for a in addrs {
            write_str(w, a)?;
        }
    }
    write_len(w, tc.local_properties.len())?;
    for (k, v) in &tc.local_properties {
        write_str(w, k)?;
        write_str(w, v)?;
    }
    Ok(())
}

/// The JSON task context of 4.2/4.3 (4.3 adds `cpuAmount`).
fn task_context_json(version: SparkVersion, tc: &TaskContext) -> String {
    let (conn_info, secret) = match &tc.barrier_server {
        None => (json!(-1), Value::Null),
        Some(ServerAddress::Tcp { port, secret }) => (json!(port), json!(secret)),
        Some(ServerAddress::Unix { path }) => (json!(path), Value::Null),
    };
    let resources: Map<String, Value> = tc
        .resources
        .iter()
        .map(|(k, addrs)| (k.clone(), json!({ "name": k, "addresses": addrs })))
        .collect();
    let mut obj = json!({
        "isBarrier": tc.is_barrier,
        "connInfo": conn_info,
        "secret": secret,
        "stageId": tc.stage_id,
        "partitionId": tc.partition_id,
        "attemptNumber": tc.attempt_number,
        "taskAttemptId": tc.task_attempt_id,
        "cpus": tc.cpus,
        "resources": resources,
        "localProperties": tc.local_properties,
    });
    if version >= SparkVersion::V4_3 {
        obj["cpuAmount"] = json!(tc.cpus.to_string());
    }
    obj.to_string()
}
