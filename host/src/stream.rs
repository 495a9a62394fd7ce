//! The socket to the JVM: TCP on loopback, or a Unix domain socket (Spark 4.1+ UDS mode).
//!
//! Reads from TCP acknowledge at once (`TCP_QUICKACK`). The JVM does not set `TCP_NODELAY` on
//! its end, so while a task's input is arriving and the worker has nothing to send back,
//! each small segment after the first waits in the JVM's kernel (Nagle) for the worker's
//! delayed ACK, up to 40 ms: most of a small task's time, for Python workers too. Linux drops
//! out of quick-ACK mode by itself, so the option is set again after every read.

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
            Stream::Tcp(s) => {
                let read = s.read(buf)?;
                // Best effort: a socket that refuses the option only loses the speed-up.
                let _ = socket2::SockRef::from(&*s).set_tcp_quickack(true);
                Ok(read)
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener};

    #[test]
    fn tcp_reads_leave_the_socket_acknowledging_at_once() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let mut jvm = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        // Delayed ACKs, as on a connection that has been in use for a while.
        socket2::SockRef::from(&accepted)
            .set_tcp_quickack(false)
            .unwrap();
        assert!(!socket2::SockRef::from(&accepted).tcp_quickack().unwrap());

        let mut worker = Stream::Tcp(accepted);
        jvm.write_all(b"task").unwrap();
        let mut buf = [0u8; 4];
        worker.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"task");
        let Stream::Tcp(socket) = &worker else {
            unreachable!()
        };
        assert!(socket2::SockRef::from(socket).tcp_quickack().unwrap());
    }
}
