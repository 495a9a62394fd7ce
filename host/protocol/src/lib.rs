//! Byte-exact codec for the socket protocol between Apache Spark's executor JVM and a
//! Python-style worker (`pyspark.daemon` / `pyspark.worker`), for Spark 3.5 and 4.0 – 4.3.
//!
//! The authoritative description is `spark-worker-protocol.md` (the "spec"); section numbers
//! in these docs (§4.2 …) refer to it. This crate is pure `std::io`: it knows nothing about
//! processes, sockets or WebAssembly, so it can be tested with in-memory buffers.
//!
//! # One task on a connection
//!
//! ```text
//! JVM → worker:  header (read_task_header)  record* (read_record_header + read_payload)
//!                i32 -1                     (RecordHeader::EndOfData)
//! worker → JVM:  frame* (write_frame)  write_timing  write_end_of_data(accumulators)
//! JVM → worker:  i32 -4                     (read_end_of_stream)
//! worker → JVM:  i32 -4 (write_end_of_stream: "reuse me") or -1 (write_do_not_reuse)
//! ```
//!
//! On any failure the worker sends [`write_exception`] instead and exits (§5.4).
//!
//! # One SQL Arrow UDF task
//!
//! For the eval types of [`eval_type::udf_kind`] the header's [`TaskHeader::command`] is
//! [`Command::Udfs`] and the data section is Arrow IPC, which the caller reads itself (this
//! crate has no Arrow dependency). There is **no** `END_OF_DATA_SECTION` in the input:
//!
//! ```text
//! JVM → worker:  header  then, scalar (200, 250):        one Arrow IPC stream
//!                        or, grouped aggregate (202, 252): (read_group_marker = Stream,
//!                                                           one Arrow IPC stream)*,
//!                                                          read_group_marker = End
//!                i32 -4                     (read_end_of_stream)
//! worker → JVM:  write_start_arrow_stream + one Arrow IPC stream (omitted with no batch)
//!                write_timing  write_end_of_data(no accumulators)
//!                i32 -4 or -1, as above
//! ```
//!
//! [`pickle`] delimits the pickles the broadcast decryption server streams without lengths
//! (§4.5) and checks accumulator updates before they travel to the driver (§5.3, §7.6).
//!
//! # Robustness
//!
//! Every reader returns an error instead of panicking on hostile input. Lengths are checked
//! against [`Limits`] before anything is allocated, and payloads are read incrementally, so a
//! lying length only costs the bytes that really arrive. A stream that ends in the middle of
//! a message yields [`ProtocolError::Eof`]; a finite reader never makes a reader hang.
//!
//! The readers do many small reads: wrap sockets in [`std::io::BufReader`] /
//! [`std::io::BufWriter`]. The writers never flush (callers batch output and must flush
//! before waiting for the JVM), except the handshake functions, which must flush to make
//! progress.

mod broadcast;
mod error;
pub mod eval_type;
pub mod handshake;
mod header;
mod input;
pub mod jvm;
mod limits;
mod output;
pub mod pickle;
pub mod special;
mod task_context;
#[cfg(test)]
mod transcript_tests;
mod udf;
#[cfg(test)]
mod udf_tests;
mod version;
mod wire;

pub use broadcast::{BroadcastEntry, BroadcastServer, BroadcastUpdate};
pub use error::ProtocolError;
pub use header::{read_task_header, read_task_header_with_broadcast_hook, TaskHeader};
pub use input::{
    read_end_of_stream, read_group_marker, read_payload, read_record_header, GroupMarker,
    RecordHeader,
};
pub use limits::Limits;
pub use output::{
    write_do_not_reuse, write_end_of_data, write_end_of_stream, write_exception, write_frame,
    write_start_arrow_stream, write_timing, Timing,
};
pub use task_context::{ServerAddress, TaskContext};
pub use udf::{ArgOffset, Command, UdfInfo};
pub use version::{SparkVersion, TaskContextEncoding};
pub use wire::{
    read_bool, read_bytes, read_i32, read_i64, read_str, write_bool, write_bytes, write_i32,
    write_i64, write_str,
};
