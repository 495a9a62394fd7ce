//! Non-daemon mode (`-m pyspark.worker`, `spark.python.use.daemon=false`): connect back to
//! the JVM, authenticate, send our pid, serve one task, exit — the order of `worker.py`.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, TcpStream};
use std::os::unix::net::UnixStream;

use anyhow::Context;
use sparkwasm_protocol::handshake;

use crate::config::WorkerConfig;
use crate::daemon::serve;
use crate::stream::Stream;

/// Connects to the JVM named by the environment and serves it.
pub fn run(config: WorkerConfig) -> anyhow::Result<i32> {
    let mut stream = if let Ok(path) = std::env::var("PYTHON_WORKER_FACTORY_SOCK_PATH") {
        Stream::Unix(UnixStream::connect(&path).with_context(|| format!("connecting to {path}"))?)
    } else {
        let port: u16 = std::env::var("PYTHON_WORKER_FACTORY_PORT")
            .context("PYTHON_WORKER_FACTORY_PORT is not set")?
            .parse()
            .context("PYTHON_WORKER_FACTORY_PORT is not a port number")?;
        let tcp = if config.prefer_ipv6 {
            TcpStream::connect((Ipv6Addr::LOCALHOST, port))
        } else {
            TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        }
        .with_context(|| format!("connecting back to the JVM on port {port}"))?;
        tcp.set_nodelay(true)?;
        Stream::Tcp(tcp)
    };
    if stream.needs_auth() {
        let secret = config
            .secret
            .clone()
            .context("TCP mode without PYTHON_WORKER_FACTORY_SECRET")?;
        handshake::authenticate_to_server(&mut stream, &secret)
            .context("authenticating to the JVM")?;
    }
    handshake::write_pid(
        &mut stream,
        i32::try_from(std::process::id()).unwrap_or(i32::MAX),
    )?;
    stream.flush()?;
    // One process, one task: a non-daemon worker is never reused.
    let config = WorkerConfig {
        reuse: false,
        ..config
    };
    Ok(serve(stream, config))
}
