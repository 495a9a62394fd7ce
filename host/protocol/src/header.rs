//! The per-task header the JVM writes before the data section (§4, §4.1, §4.2), in all five
//! variants: binary A (3.5, 4.0), binary B (4.1), JSON (4.2) and JSON inside the
//! `START_OF_INIT_MESSAGE` frame (4.3).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};

use crate::broadcast::read_broadcasts;
use crate::task_context::read_task_context;
use crate::udf::read_udfs;
use crate::wire::{read_bytes, read_count, read_i32, read_str};
use crate::{
    eval_type, special, BroadcastUpdate, Command, Limits, ProtocolError, SparkVersion, TaskContext,
};

/// Everything the JVM sends for one task before the data section.
///
/// `Debug` shows the command's length rather than its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct TaskHeader {
    /// Partition index (`split_index`). Python exits on −1 (a test hook); passed through.
    pub partition_index: i32,
    /// The driver's `pythonVer` string; a non-Python driver may use it as a format tag.
    pub python_version: String,
    /// The task context.
    pub task_context: TaskContext,
    /// `SparkFiles` root directory.
    pub spark_files_dir: String,
    /// Include file names, relative to `spark_files_dir`.
    pub python_includes: Vec<String>,
    /// Broadcast delta for this connection.
    pub broadcasts: BroadcastUpdate,
    /// `PythonEvalType` (see [`crate::eval_type`]).
    pub eval_type: i32,
    /// Runner conf, in wire order: header field 8 in 4.2+; before 4.2 the Arrow UDF eval
    /// types carry it at the start of the command section instead, and RDD work has none.
    /// See [`TaskHeader::runner_conf_map`].
    pub runner_conf: Vec<(String, String)>,
    /// Eval conf, in wire order (4.2+; empty before).
    pub eval_conf: Vec<(String, String)>,
    /// The command: [`Command::Rdd`] for [`eval_type::NON_UDF`], [`Command::Udfs`] for the
    /// eval types of [`eval_type::udf_kind`].
    pub command: Command,
}

impl TaskHeader {
    /// The runner-conf key that selects `large_utf8`/`large_binary` (`i64` offsets) for
    /// strings and binaries in the Arrow batches, both ways.
    pub const USE_LARGE_VAR_TYPES: &'static str = "spark.sql.execution.arrow.useLargeVarTypes";

    /// [`TaskHeader::runner_conf`] as a map. A repeated key keeps its last value, as the
    /// Python worker's `dict` does (the JVM writes a `Map`, so keys do not repeat).
    pub fn runner_conf_map(&self) -> BTreeMap<&str, &str> {
        conf_map(&self.runner_conf)
    }

    /// [`TaskHeader::eval_conf`] as a map, with the same rule as
    /// [`TaskHeader::runner_conf_map`].
    pub fn eval_conf_map(&self) -> BTreeMap<&str, &str> {
        conf_map(&self.eval_conf)
    }

    /// The value of `key` in the runner conf (its last occurrence).
    pub fn runner_conf_value(&self, key: &str) -> Option<&str> {
        self.runner_conf
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether [`TaskHeader::USE_LARGE_VAR_TYPES`] is `true` (case-insensitively, absent
    /// meaning `false`), exactly as PySpark's `use_large_var_types(runner_conf)` decides.
    pub fn use_large_var_types(&self) -> bool {
        self.runner_conf_value(Self::USE_LARGE_VAR_TYPES)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

fn conf_map(conf: &[(String, String)]) -> BTreeMap<&str, &str> {
    conf.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

impl fmt::Debug for TaskHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHeader")
            .field("partition_index", &self.partition_index)
            .field("python_version", &self.python_version)
            .field("task_context", &self.task_context)
            .field("spark_files_dir", &self.spark_files_dir)
            .field("python_includes", &self.python_includes)
            .field("broadcasts", &self.broadcasts)
            .field("eval_type", &self.eval_type)
            .field("runner_conf", &self.runner_conf)
            .field("eval_conf", &self.eval_conf)
            .field("command", &self.command)
            .finish()
    }
}

/// Reads one task header.
///
/// Returns `Ok(None)` if the stream is at a clean EOF before the first byte: the JVM closed
/// an idle pooled connection, and the worker should exit quietly. EOF anywhere later is
/// [`ProtocolError::Eof`].
///
/// In 4.3 the header is parsed from exactly the `len` bytes of the init message: needing
/// more, or leaving some unread, is [`ProtocolError::Malformed`]. Nothing beyond `len` is
/// consumed, so the data section can be read from `r` afterwards.
///
/// Eval types other than `NON_UDF` and those of [`eval_type::udf_kind`] are
/// [`ProtocolError::Unsupported`], reported as soon as the eval type has been read; so is an
/// Arrow UDF eval type from a Spark line that does not have it (250 and 252 before 4.1).
///
/// For Spark 3.5 with `spark.io.encryption.enabled` use
/// [`read_task_header_with_broadcast_hook`] instead: this function would block forever.
pub fn read_task_header<R: Read + ?Sized>(
    r: &mut R,
    version: SparkVersion,
    limits: &Limits,
) -> Result<Option<TaskHeader>, ProtocolError> {
    read_task_header_with_broadcast_hook(r, version, limits, |_| Ok(()))
}

/// [`read_task_header`], calling `on_broadcasts` as soon as the broadcast section has been
/// read and before the eval type and command are read.
///
/// This exists for Spark 3.5: there the JVM writes nothing after the broadcast section
/// until the worker has drained the broadcast decryption server
/// ([`SparkVersion::waits_for_broadcast_drain`]), so the hook must connect to
/// [`BroadcastUpdate::decryption_server`] and consume the values. In 4.x calling it at this
/// point is still correct. An error from the hook aborts reading and is returned as is.
pub fn read_task_header_with_broadcast_hook<R, F>(
    r: &mut R,
    version: SparkVersion,
    limits: &Limits,
    on_broadcasts: F,
) -> Result<Option<TaskHeader>, ProtocolError>
where
    R: Read + ?Sized,
    F: FnMut(&BroadcastUpdate) -> Result<(), ProtocolError>,
{
    let Some(first) = read_first_i32(r)? else {
        return Ok(None);
    };
    if !version.has_init_message() {
        return read_body(r, version, limits, first, on_broadcasts).map(Some);
    }

    if first != special::START_OF_INIT_MESSAGE {
        return Err(ProtocolError::malformed(format!(
            "init message: expected START_OF_INIT_MESSAGE (-8), got {}",
            special::describe(first)
        )));
    }
    let len = read_i32(r)?;
    if len < 0 {
        return Err(ProtocolError::malformed(format!(
            "init message: negative length {len}"
        )));
    }
    // Parse straight from the stream, bounded by `len`, instead of buffering `len` bytes:
    // a lying length then costs nothing, and the bound gives the same overrun detection as
    // Python's parse-from-buffer.
    let mut framed = r.take(len as u64);
    let result = read_i32(&mut framed)
        .and_then(|partition| read_body(&mut framed, version, limits, partition, on_broadcasts));
    match result {
        // The frame ran out, not the stream: the content disagrees with the length.
        Err(ProtocolError::Eof) if framed.limit() == 0 => Err(ProtocolError::malformed(format!(
            "init message: header needs more than the declared {len} bytes"
        ))),
        Err(e) => Err(e),
        Ok(_) if framed.limit() != 0 => Err(ProtocolError::malformed(format!(
            "init message: {} of the declared {len} bytes left over after the header",
            framed.limit()
        ))),
        Ok(header) => Ok(Some(header)),
    }
}

/// Reads the first `i32` of a header, distinguishing a clean EOF (no byte at all) from a
/// truncated integer.
fn read_first_i32<R: Read + ?Sized>(r: &mut R) -> Result<Option<i32>, ProtocolError> {
    let mut b = [0u8; 4];
    let mut got = 0;
    while got < b.len() {
        match r.read(&mut b[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(ProtocolError::Eof),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(i32::from_be_bytes(b)))
}

/// Header fields 2–10, after the partition index.
fn read_body<R, F>(
    r: &mut R,
    version: SparkVersion,
    limits: &Limits,
    partition_index: i32,
    mut on_broadcasts: F,
) -> Result<TaskHeader, ProtocolError>
where
    R: Read + ?Sized,
    F: FnMut(&BroadcastUpdate) -> Result<(), ProtocolError>,
{
    let python_version = read_str(r, limits.max_string, "python version")?;
    let task_context = read_task_context(r, version, limits)?;
    let spark_files_dir = read_str(r, limits.max_string, "spark files dir")?;

    let n_includes = read_count(r, limits.max_entries, "python includes")?;
    let mut python_includes = Vec::new();
    for _ in 0..n_includes {
        python_includes.push(read_str(r, limits.max_string, "python include")?);
    }

    let broadcasts = read_broadcasts(r, version, limits)?;
    on_broadcasts(&broadcasts)?;

    let eval_type = read_i32(r)?;
    check_eval_type(eval_type, version)?;
    let (mut runner_conf, eval_conf) = if version.has_conf_sections() {
        (
            read_conf(r, limits, "runner conf")?,
            read_conf(r, limits, "eval conf")?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let command = if eval_type == eval_type::NON_UDF {
        Command::Rdd(read_bytes(r, limits.max_command, "command")?)
    } else {
        if version.runner_conf_in_command() {
            runner_conf = read_conf(r, limits, "runner conf (command section)")?;
        }
        read_udfs(r, version, limits)?
    };

    Ok(TaskHeader {
        partition_index,
        python_version,
        task_context,
        spark_files_dir,
        python_includes,
        broadcasts,
        eval_type,
        runner_conf,
        eval_conf,
        command,
    })
}

/// `i32 n` + n × (`str` key, `str` value), in wire order.
fn read_conf<R: Read + ?Sized>(
    r: &mut R,
    limits: &Limits,
    what: &'static str,
) -> Result<Vec<(String, String)>, ProtocolError> {
    let n = read_count(r, limits.max_entries, what)?;
    let mut conf = Vec::new();
    for _ in 0..n {
        let k = read_str(r, limits.max_string, what)?;
        let v = read_str(r, limits.max_string, what)?;
        conf.push((k, v));
    }
    Ok(conf)
}

/// Refuses the eval types whose command section (header field 10, §4.4, §8) this crate
/// does not decode, naming them.
fn check_eval_type(value: i32, version: SparkVersion) -> Result<(), ProtocolError> {
    let name = eval_type::name(value).unwrap_or("unknown");
    if value != eval_type::NON_UDF && eval_type::udf_kind(value).is_none() {
        return Err(ProtocolError::Unsupported {
            what: format!(
                "eval type {value} ({name}): sparkwasm decodes NON_UDF (0) and the Arrow \
                 scalar and grouped-aggregate UDF types (200, 202, 250, 252) only"
            ),
        });
    }
    let first = eval_type::first_version(value);
    if version < first {
        return Err(ProtocolError::Unsupported {
            what: format!(
                "eval type {value} ({name}) does not exist in Spark {version} (added in {first})"
            ),
        });
    }
    Ok(())
}
