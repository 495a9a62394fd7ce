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
use crate::{
    eval_type, special, Command, ServerAddress, SparkVersion, TaskContext, TaskContextEncoding,
    TaskHeader, UdfInfo,
};

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
/// [`Command::Rdd`] is written as `bytes` whatever the eval type (so tests can send an eval
/// type the decoder refuses); [`Command::Udfs`] in the version's UDF layout (§8), with the
/// runner conf inside the command section before 4.2. The encoder writes what the wire can
/// carry even where the decoder refuses it (no UDF, a UDF without a function), so tests can
/// produce such input.
///
/// Fails with [`io::ErrorKind::InvalidInput`] if `h` cannot be expressed in that version:
/// Unix socket addresses before 4.1, a non-empty eval conf before 4.2, a non-empty runner
/// conf before 4.2 without UDFs, negative broadcast ids, a missing broadcast path without a
/// decryption server, `is_barrier` disagreeing with `barrier_server`, UDFs with an eval type
/// other than those of [`eval_type::udf_kind`], keyword arguments in 3.5, a profiler outside
/// 4.0/4.1, or a result id whose presence disagrees with the version (and profiler).
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
        write_conf(w, &h.runner_conf)?;
        write_conf(w, &h.eval_conf)?;
    } else if !h.eval_conf.is_empty() {
        return Err(invalid(format!("Spark {version} has no eval conf")));
    }
    match &h.command {
        Command::Rdd(bytes) => {
            if version.runner_conf_in_command() && !h.runner_conf.is_empty() {
                return Err(invalid(format!(
                    "Spark {version} sends a runner conf only with UDFs"
                )));
            }
            write_bytes(w, bytes)
        }
        Command::Udfs { udfs, profiler } => {
            if eval_type::udf_kind(h.eval_type).is_none() {
                return Err(invalid(format!(
                    "UDFs with eval type {}: only the Arrow scalar and grouped-aggregate \
                     types carry this layout",
                    h.eval_type
                )));
            }
            if version.runner_conf_in_command() {
                write_conf(w, &h.runner_conf)?;
            }
            write_udfs(w, version, udfs, profiler.as_deref())
        }
    }
}

/// `i32 n` + n × (`str` key, `str` value).
fn write_conf(w: &mut Vec<u8>, conf: &[(String, String)]) -> io::Result<()> {
    write_len(w, conf.len())?;
    for (k, v) in conf {
        write_str(w, k)?;
        write_str(w, v)?;
    }
    Ok(())
}

/// The UDF section from the profiler field on (§8; layout in [`crate::udf`]'s docs).
fn write_udfs(
    w: &mut Vec<u8>,
    version: SparkVersion,
    udfs: &[UdfInfo],
    profiler: Option<&str>,
) -> io::Result<()> {
    if version.udf_section_has_profiler() {
        write_bool(w, profiler.is_some())?;
        if let Some(p) = profiler {
            write_str(w, p)?;
        }
    } else if profiler.is_some() {
        return Err(invalid(format!(
            "Spark {version} has no UDF profiler field"
        )));
    }
    write_len(w, udfs.len())?;
    for udf in udfs {
        write_len(w, udf.args.len())?;
        for arg in &udf.args {
            let offset = i32::try_from(arg.offset)
                .map_err(|_| invalid("UDF argument offset exceeds i32::MAX"))?;
            write_i32(w, offset)?;
            if version.udf_args_have_keyword_flags() {
                write_bool(w, arg.keyword.is_some())?;
                if let Some(k) = &arg.keyword {
                    write_str(w, k)?;
                }
            } else if arg.keyword.is_some() {
                return Err(invalid(format!("Spark {version} has no keyword arguments")));
            }
        }
        write_len(w, udf.chained.len())?;
        for c in &udf.chained {
            write_bytes(w, c)?;
        }
        let has_result_id = version.udf_result_id_always() || profiler.is_some();
        match (has_result_id, udf.result_id) {
            (true, Some(id)) => write_i64(w, id)?,
            (false, None) => {}
            (true, None) => {
                return Err(invalid(format!(
                    "Spark {version} needs a UDF result id here"
                )))
            }
            (false, Some(_)) => {
                return Err(invalid(format!(
                    "Spark {version} sends no UDF result id here"
                )))
            }
        }
    }
    Ok(())
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
