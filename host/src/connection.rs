//! Serving tasks on one JVM connection: read a task header (applying its broadcast delta to
//! the connection's registry), run the command's pipeline in the sandbox with the data
//! section as input, write the trailer with the task's accumulator updates, and go again
//! while the JVM reuses the connection.
//!
//! Phases of one task, as Spark's `PythonRunner` expects them:
//!
//! ```text
//! JVM → header (version-specific) → data records … END_OF_DATA_SECTION → END_OF_STREAM
//! W   → output records … TIMING_DATA → END_OF_DATA_SECTION → accumulators → END_OF_STREAM
//!       or, on any failure: PYTHON_EXCEPTION_THROWN + message, and the connection ends
//! ```

use std::collections::HashSet;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use sparkwasm_abi::TaskInfo;
use sparkwasm_protocol::eval_type::{self, UdfKind};
use sparkwasm_protocol::{
    pickle, read_end_of_stream, read_task_header_with_broadcast_hook, write_end_of_data,
    write_end_of_stream, write_exception, write_timing, Command, Limits as DecodeLimits,
    TaskHeader, Timing, UdfInfo,
};
use sparkwasm_runtime::Runtime;

use crate::broadcasts::BroadcastRegistry;
use crate::config::WorkerConfig;
use crate::manifest;
use crate::socket_io::SocketIo;
use crate::sql::{self, UdfCall};
use crate::stream::Stream;

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ConnectionEnd {
    /// The JVM closed the connection between tasks (idle eviction, shutdown).
    Closed,
    /// A task completed and the connection is not to be reused.
    Done,
    /// A task failed; the failure was reported to the JVM as an exception.
    TaskFailed,
}

/// The worker's state for one connection: its config, its sandbox and its socket.
pub struct Connection {
    config: WorkerConfig,
    runtime: Option<Runtime<SocketIo>>,
    io: Option<SocketIo>,
    boot_ms: i64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Why a task failed, already phrased for the person reading Spark's exception.
struct TaskFailure(String);

/// Longest failure message sent to the JVM. Messages quote what was wrong (a manifest
/// field, a guest's error text), and a hostile input must not make them huge.
const MAX_FAILURE_MESSAGE: usize = 64 << 10;

/// `message`, cut at [`MAX_FAILURE_MESSAGE`] bytes (on a character boundary).
fn bounded(message: &str) -> String {
    if message.len() <= MAX_FAILURE_MESSAGE {
        return message.to_owned();
    }
    let mut end = MAX_FAILURE_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{} [... {} more bytes]",
        &message[..end],
        message.len() - end
    )
}

impl Connection {
    /// Prepares to serve `stream`. The sandbox is created lazily, on the first task.
    pub fn new(stream: Stream, config: WorkerConfig) -> io::Result<Self> {
        // A guest can never hold a broadcast larger than its memory, so none is kept.
        let max_broadcast = usize::try_from(config.ceilings.memory_bytes()).unwrap_or(usize::MAX);
        let broadcasts = BroadcastRegistry::new(max_broadcast, config.prefer_ipv6);
        Ok(Connection {
            io: Some(SocketIo::new(stream, broadcasts)?),
            config,
            runtime: None,
            boot_ms: now_ms(),
        })
    }

    /// Serves tasks until the JVM closes the connection, a task fails, or (without reuse)
    /// one task is done. I/O errors on the socket end the connection with an error.
    pub fn serve(mut self) -> io::Result<ConnectionEnd> {
        loop {
            match self.serve_one()? {
                Some(ConnectionEnd::Done) if self.config.reuse => continue,
                Some(end) => return Ok(end),
                None => return Ok(ConnectionEnd::Closed),
            }
        }
    }

    fn io(&mut self) -> &mut SocketIo {
        self.io
            .as_mut()
            .expect("the connection owns its io between tasks")
    }

    /// Serves one task. `Ok(None)`: the JVM closed the connection before a new task.
    fn serve_one(&mut self) -> io::Result<Option<ConnectionEnd>> {
        let usable = match &self.config.invalid {
            Some(why) => Err(why.clone()),
            None => self.config.spark_version.clone(),
        };
        let version = match usable {
            Ok(version) => version,
            Err(why) => {
                let io = self.io();
                write_exception(&mut io.writer, &format!("sparkwasm worker: {why}"))?;
                io.writer.flush()?;
                return Ok(Some(ConnectionEnd::TaskFailed));
            }
        };
        let limits = DecodeLimits::default();
        let io = self.io();
        // The broadcast delta is applied inside the header read: Spark 3.5 sends the rest of
        // the header only after the decryption server (if any) has been drained.
        let header =
            match read_task_header_with_broadcast_hook(&mut io.reader, version, &limits, |update| {
                io.broadcasts.apply(update)
            }) {
                Ok(Some(header)) => header,
                Ok(None) => return Ok(None),
                Err(e) => {
                    let message =
                        format!("sparkwasm worker: cannot read the task header ({version}): {e}");
                    let io = self.io();
                    write_exception(&mut io.writer, &bounded(&message))?;
                    io.writer.flush()?;
                    return Ok(Some(ConnectionEnd::TaskFailed));
                }
            };
        let init_ms = now_ms();
        let accumulator_updates = match self.run_task(&header) {
            Ok(updates) => updates,
            Err(TaskFailure(message)) => {
                let io = self.io();
                // A SQL task may fail after its Arrow output began: end that stream first, so
                // the JVM reads the exception rather than a broken Arrow message.
                io.end_sql_output()?;
                write_exception(&mut io.writer, &bounded(&message))?;
                io.writer.flush()?;
                return Ok(Some(ConnectionEnd::TaskFailed));
            }
        };
        let finish_ms = now_ms();
        let io = self.io();
        io.drain_input()?;
        let timing = Timing {
            boot_ms: self.boot_ms,
            init_ms,
            finish_ms,
            processing_ms: finish_ms - init_ms,
            memory_bytes_spilled: 0,
            disk_bytes_spilled: 0,
        };
        let io = self.io.as_mut().expect("io present");
        write_timing(&mut io.writer, version, &timing)?;
        write_end_of_data(&mut io.writer, &accumulator_updates)?;
        io.writer.flush()?;
        if read_end_of_stream(&mut io.reader)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
        {
            write_end_of_stream(&mut io.writer)?;
            io.writer.flush()?;
            Ok(Some(ConnectionEnd::Done))
        } else {
            // The JVM did not finish the stream properly: tell it not to reuse us.
            sparkwasm_protocol::write_i32(
                &mut io.writer,
                sparkwasm_protocol::special::END_OF_DATA_SECTION,
            )?;
            io.writer.flush()?;
            Ok(Some(ConnectionEnd::TaskFailed))
        }
    }

    /// Decodes the command, loads the module and runs the pipeline (or the SQL functions)
    /// over the data section. Returns the task's accumulator updates, checked.
    fn run_task(&mut self, header: &TaskHeader) -> Result<Vec<Vec<u8>>, TaskFailure> {
        let partition = header.partition_index;
        let context = &header.task_context;
        let where_ = format!(
            "partition {partition}, stage {}, attempt {}",
            context.stage_id, context.attempt_number
        );
        let command = match &header.command {
            Command::Rdd(bytes) => bytes,
            Command::Udfs { udfs, .. } => {
                return self
                    .run_sql_task(header, udfs, &where_)
                    .map(|()| Vec::new())
            }
        };
        let command = manifest::decode(command)
            .map_err(|e| TaskFailure(format!("sparkwasm: {e} ({where_})")))?;
        let digest = command.manifest.module_digest.clone();
        let short_digest = &digest[..12.min(digest.len())];
        let pipeline = command.manifest.pipeline_names().join(" → ");
        let context_of = |what: &str| {
            format!("sparkwasm: {what} [pipeline `{pipeline}`, module sha256:{short_digest}…, {where_}]")
        };
        self.check_allowed(&digest)
            .map_err(|e| TaskFailure(context_of(&e)))?;
        let policy = command
            .manifest
            .policy
            .effective(&self.config.ceilings)
            .map_err(|e| TaskFailure(context_of(&format!("sandbox policy: {e}"))))?;
        let runtime = ensure_runtime(&mut self.runtime, &self.config)
            .map_err(|e| TaskFailure(context_of(&e)))?;
        let module = runtime
            .load_under(&policy, command.module, &digest)
            .map_err(|e| TaskFailure(context_of(&e.to_string())))?;
        let info = task_info(header);
        let request = command
            .to_request(module.info(), info, &header.spark_files_dir)
            .map_err(|e| TaskFailure(context_of(&e.to_string())))?;

        let mut io = self
            .io
            .take()
            .expect("the connection owns its io between tasks");
        io.begin_task();
        let (io, result) = runtime.run_task_under(&policy, &module, &request, io);
        self.io = Some(io);
        let report = result.map_err(|e| TaskFailure(context_of(&e.to_string())))?;
        // The updates are unpickled by PySpark on the driver: only plain data for the
        // task's own accumulators may leave this process.
        let bound: HashSet<i64> = request.accumulators.iter().map(|b| b.id).collect();
        for update in &report.accumulator_updates {
            pickle::check_accumulator_update(update, |id| bound.contains(&id)).map_err(|e| {
                TaskFailure(context_of(&format!(
                    "the guest sent a bad accumulator update: {e}"
                )))
            })?;
        }
        Ok(report.accumulator_updates)
    }

    /// Runs the UDFs of one Spark SQL Arrow eval node: one guest instance evaluates every
    /// UDF over the node's Arrow batches (`crate::sql`).
    fn run_sql_task(
        &mut self,
        header: &TaskHeader,
        udfs: &[UdfInfo],
        where_: &str,
    ) -> Result<(), TaskFailure> {
        let aggregate = match eval_type::udf_kind(header.eval_type) {
            Some(UdfKind::GroupedAggregate) => true,
            Some(UdfKind::Scalar) | None => false,
        };
        let calls: Vec<UdfCall<'_>> = udfs
            .iter()
            .map(|udf| UdfCall {
                arg_offsets: udf.args.iter().map(|a| a.offset as usize).collect(),
                commands: udf.chained.iter().map(Vec::as_slice).collect(),
            })
            .collect();
        let plan = sql::plan(&calls, aggregate)
            .map_err(|e| TaskFailure(format!("sparkwasm: {e} ({where_})")))?;
        let digest = plan.digest.clone();
        let short_digest = &digest[..12.min(digest.len())];
        let what = if aggregate { "UDAF" } else { "UDF" };
        let context_of = |message: &str| {
            format!(
                "sparkwasm: {message} [{what} `{}`, module sha256:{short_digest}…, {where_}]",
                plan.description
            )
        };
        self.check_allowed(&digest)
            .map_err(|e| TaskFailure(context_of(&e)))?;
        let policy = plan
            .policy
            .effective(&self.config.ceilings)
            .map_err(|e| TaskFailure(context_of(&format!("sandbox policy: {e}"))))?;
        let large_var_types = header.use_large_var_types();
        let runtime = ensure_runtime(&mut self.runtime, &self.config)
            .map_err(|e| TaskFailure(context_of(&e)))?;
        let module = runtime
            .load_under(&policy, plan.module, &digest)
            .map_err(|e| TaskFailure(context_of(&e.to_string())))?;
        let (request, section) = plan
            .prepare(module.info(), task_info(header), large_var_types)
            .map_err(|e| TaskFailure(context_of(&e)))?;
        let mut io = self
            .io
            .take()
            .expect("the connection owns its io between tasks");
        io.begin_sql_task(section);
        let (mut io, result) = runtime.run_task_under(&policy, &module, &request, io);
        let finished = result.map_err(|e| e.to_string()).and_then(|_| {
            io.finish_sql_task()
                .map_err(|e| format!("ending the task: {e}"))
                .and_then(|answered| answered)
        });
        self.io = Some(io);
        finished.map_err(|e| TaskFailure(context_of(&e)))
    }

    /// Refuses a module that is not on the operator's allow-list, when there is one.
    fn check_allowed(&self, digest: &str) -> Result<(), String> {
        match &self.config.allowed_digests {
            Some(allowed) if !allowed.contains(digest) => Err(format!(
                "module sha256:{digest} is not on this cluster's allow-list \
                 (SPARKWASM_ALLOWED_DIGESTS, {} digest(s)); ask the operator to add it",
                allowed.len()
            )),
            _ => Ok(()),
        }
    }
}

/// The connection's sandbox, started on first use.
fn ensure_runtime<'a>(
    slot: &'a mut Option<Runtime<SocketIo>>,
    config: &WorkerConfig,
) -> Result<&'a mut Runtime<SocketIo>, String> {
    if slot.is_none() {
        let runtime = Runtime::with_options(config.ceilings.clone(), config.engine.clone())
            .map_err(|e| format!("cannot start the sandbox: {e}"))?;
        if let Some(why) = runtime.module_cache_error() {
            // The executor's log; tasks run on, compiling each module once per process.
            eprintln!("sparkwasm worker: {why}");
        }
        *slot = Some(runtime);
    }
    Ok(slot.as_mut().expect("just created"))
}

/// The task's context as the guest sees it. The split index is what PySpark hands
/// mapPartitionsWithIndex; the task context's partition id only differs when the RDD is not
/// the stage's last one.
fn task_info(header: &TaskHeader) -> TaskInfo {
    let context = &header.task_context;
    TaskInfo {
        partition_id: header.partition_index,
        stage_id: context.stage_id,
        attempt_number: context.attempt_number,
        task_attempt_id: context.task_attempt_id,
        local_properties: context
            .local_properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        spark_files: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_messages_are_bounded_on_a_character_boundary() {
        assert_eq!(bounded("short"), "short");
        let long = "é".repeat(MAX_FAILURE_MESSAGE); // two bytes each
        let cut = bounded(&long);
        assert!(cut.len() < MAX_FAILURE_MESSAGE + 64, "{}", cut.len());
        assert!(cut.ends_with(&format!(
            "[... {} more bytes]",
            long.len() - MAX_FAILURE_MESSAGE
        )));
    }
}
