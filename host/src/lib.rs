//! `sparkwasm-worker`, the process Spark launches where it would launch
//! `python -m pyspark.daemon`: it speaks Spark's worker protocol (through
//! `sparkwasm-protocol`) and runs each task's pipeline in the WASM sandbox (through
//! `sparkwasm-runtime`).
//!
//! * [`daemon`]: daemon mode — one forked process per JVM connection, kill channel, shutdown.
//! * [`worker`]: non-daemon mode — connect back, one task.
//! * [`connection`]: the task loop on one connection.
//! * [`manifest`]: the command format the driver package writes.
//! * [`broadcasts`]: the connection's broadcast registry (path and decryption-server mode).
//! * `sql`: Spark SQL UDFs and UDAFs over the Arrow eval path.

pub mod broadcasts;
pub mod config;
pub mod connection;
pub mod daemon;
pub mod manifest;
pub mod socket_io;
mod sql;
pub mod stream;
pub mod worker;
