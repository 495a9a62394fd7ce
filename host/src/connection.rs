//! Serving tasks on one JVM connection: read a task header, run the command's pipeline in
//! the sandbox with the data section as input, write the trailer, and go again while the JVM
//! reuses the connection.
//!
//! Phases of one task, as Spark's `PythonRunner` expects them:
//!
//! ```text
//! JVM → header (version-specific) → data records … END_OF_DATA_SECTION → END_OF_STREAM
//! W   → output records … TIMING_DATA → END_OF_DATA_SECTION → accumulators → END_OF_STREAM
//!       or, on any failure: PYTHON_EXCEPTION_THROWN + message, and the connection ends
//! ```

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use sparkwasm_protocol::{
    read_end_of_stream, read_task_header, write_end_of_data, write_end_of_stream, write_exception,
    write_timing, Limits as DecodeLimits, TaskHeader, Timing,
};
use sparkwasm_runtime::Runtime;

use crate::config::WorkerConfig;
use crate::manifest;
use crate::socket_io::SocketIo;
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

impl Connection {
    /// Prepares to serve `stream`. The sandbox is created lazily, on the first task.
    pub fn new(stream: Stream, config: WorkerConfig) -> io::Result<Self> {
        Ok(Connection {
            config,
            runtime: None,
            io: Some(SocketIo::new(stream)?),
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
        let version = match self.config.spark_version.clone() {
            Ok(version) => version,
            Err(why) => {
                let io = self.io();
                write_exception(&mut io.writer, &format!("sparkwasm worker: {why}"))?;
                io.writer.flush()?;
                return Ok(Some(ConnectionEnd::TaskFailed));
            }
        };
        let limits = DecodeLimits::default();
        let header = match read_task_header(&mut self.io().reader, version, &limits) {
            Ok(Some(header)) => header,
            Ok(None) => return Ok(None),
            Err(e) => {
                let message =
                    format!("sparkwasm worker: cannot read the task header ({version}): {e}");
                let io = self.io();
                write_exception(&mut io.writer, &message)?;
                io.writer.flush()?;
                return Ok(Some(ConnectionEnd::TaskFailed));
            }
        };
        let init_ms = now_ms();
        match self.run_task(&header) {
            Ok(()) => {}
            Err(TaskFailure(message)) => {
                let io = self.io();
                write_exception(&mut io.writer, &message)?;
                io.writer.flush()?;
                return Ok(Some(ConnectionEnd::TaskFailed));
            }
        }
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
        write_end_of_data(&mut io.writer, &[])?;
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

    /// Decodes the command, loads the module and runs the pipeline over the data section.
    fn run_task(&mut self, header: &TaskHeader) -> Result<(), TaskFailure> {
        let partition = header.partition_index;
        let where_ = format!(
            "partition {partition}, stage {}, attempt {}",
            header.task_context.stage_id, header.task_context.attempt_number
        );
        let command = manifest::decode(&header.command)
            .map_err(|e| TaskFailure(format!("sparkwasm: {e} ({where_})")))?;
        let digest = command.manifest.module_digest.clone();
        let short_digest = &digest[..12.min(digest.len())];
        let pipeline = command.manifest.pipeline_names().join(" → ");
        let context = |what: &str| {
            format!("sparkwasm: {what} [pipeline `{pipeline}`, module sha256:{short_digest}…, {where_}]")
        };

        if self.runtime.is_none() {
            let runtime = Runtime::new(self.config.limits.clone())
                .map_err(|e| TaskFailure(context(&format!("cannot start the sandbox: {e}"))))?;
            self.runtime = Some(runtime);
        }
        let runtime = self.runtime.as_mut().expect("just created");
        let module = runtime
            .load(command.module, &digest)
            .map_err(|e| TaskFailure(context(&e.to_string())))?;
        let request = command
            .manifest
            .to_request(module.info(), partition)
            .map_err(|e| TaskFailure(context(&e.to_string())))?;

        let mut io = self
            .io
            .take()
            .expect("the connection owns its io between tasks");
        io.begin_task();
        let (io, result) = runtime.run_task(&module, &request, io);
        self.io = Some(io);
        result
            .map(drop)
            .map_err(|e| TaskFailure(context(&e.to_string())))
    }
}
