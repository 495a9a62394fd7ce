//! The socket to the JVM: TCP on loopback, or a Unix domain socket (Spark 4.1+ UDS mode).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;

/// A connected socket to the executor JVM.
#[derive(Debug)]
pub enum Stream {
    /// Loopback TCP (the default; authenticated with Spark's secret).
    Tcp(TcpStream),
    /// Unix domain socket (no authentication: the file's permissions guard it).
    Unix(UnixStream),
}

impl Stream {
    /// A second handle to the same socket, so reads and writes can be buffered separately.
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }

    /// Whether the connection needs Spark's secret handshake.
    pub fn needs_auth(&self) -> bool {
        matches!(self, Stream::Tcp(_))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}
