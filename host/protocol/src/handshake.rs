//! Connection setup (§3.3, §3.4, §3.6): the `SocketAuthHelper` secret exchange and the pid.
//!
//! The order differs by mode, so these are separate steps the caller sequences:
//!
//! * non-daemon worker (worker is the client): [`authenticate_to_server`], then
//!   [`write_pid`];
//! * daemon child (JVM is the client): [`write_pid`] right after accept/fork, then
//!   [`accept_client`] once per connection;
//! * Unix domain sockets: no authentication in either mode, the pid is still sent.
//!
//! Every function here flushes, because the peer waits for these bytes before answering.

use std::io::{self, Read, Write};

use crate::wire::{read_str, write_i32, write_str};
use crate::{Limits, ProtocolError};

/// The JVM's success reply.
pub const AUTH_OK: &str = "ok";
/// The JVM's failure reply.
pub const AUTH_ERR: &str = "err";

/// Longest auth reply we accept: the JVM only ever sends `"ok"` or `"err"`.
const MAX_REPLY: usize = 64;

/// Daemon child side (the JVM is the client): reads the `str` secret, compares it with
/// `expected_secret` in constant time, and replies `"ok"`, or `"err"` followed by
/// `Err(ProtocolError::AuthFailed)`.
pub fn accept_client<S: Read + Write + ?Sized>(
    s: &mut S,
    expected_secret: &str,
    limits: &Limits,
) -> Result<(), ProtocolError> {
    let got = read_str(s, limits.max_string, "auth secret")?;
    let ok = constant_time_eq(got.as_bytes(), expected_secret.as_bytes());
    write_str(s, if ok { AUTH_OK } else { AUTH_ERR })?;
    s.flush()?;
    if ok {
        Ok(())
    } else {
        Err(ProtocolError::AuthFailed)
    }
}

/// Non-daemon worker side (the worker is the client; also the barrier and broadcast
/// decryption servers): writes the `str` secret and requires the reply `"ok"`. Any other
/// well-formed reply is [`ProtocolError::AuthFailed`].
pub fn authenticate_to_server<S: Read + Write + ?Sized>(
    s: &mut S,
    secret: &str,
) -> Result<(), ProtocolError> {
    write_str(s, secret)?;
    s.flush()?;
    let reply = read_str(s, MAX_REPLY, "auth reply")?;
    if reply == AUTH_OK {
        Ok(())
    } else {
        Err(ProtocolError::AuthFailed)
    }
}

/// Writes the worker's pid as `i32` and flushes. The JVM uses it to kill and probe the
/// process, so in daemon mode it must be the pid of the process serving this connection.
pub fn write_pid<W: Write + ?Sized>(w: &mut W, pid: i32) -> io::Result<()> {
    write_i32(w, pid)?;
    w.flush()
}

/// Compares without an early exit, so the time taken does not reveal how long a matching
/// prefix was (the length itself is not secret: it is fixed by `Utils.createSecret`).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket stand-in: reads from `input`, writes to `output`.
    struct Duplex<'a> {
        input: &'a [u8],
        output: Vec<u8>,
    }
    impl Read for Duplex<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }
    impl Write for Duplex<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn str_bytes(s: &str) -> Vec<u8> {
        let mut v = Vec::new();
        write_str(&mut v, s).unwrap();
        v
    }

    #[test]
    fn daemon_child_accepts_and_rejects() {
        let secret = "a270".repeat(16);
        let input = str_bytes(&secret);
        let mut s = Duplex {
            input: &input,
            output: Vec::new(),
        };
        accept_client(&mut s, &secret, &Limits::default()).unwrap();
        assert_eq!(s.output, [0, 0, 0, 2, b'o', b'k']);

        let input = str_bytes("wrong");
        let mut s = Duplex {
            input: &input,
            output: Vec::new(),
        };
        let e = accept_client(&mut s, &secret, &Limits::default()).unwrap_err();
        assert!(matches!(e, ProtocolError::AuthFailed));
        assert_eq!(s.output, [0, 0, 0, 3, b'e', b'r', b'r']);
    }

    #[test]
    fn worker_client_side() {
        let input = str_bytes("ok");
        let mut s = Duplex {
            input: &input,
            output: Vec::new(),
        };
        authenticate_to_server(&mut s, "sec").unwrap();
        assert_eq!(s.output, str_bytes("sec"));

        let input = str_bytes("err");
        let mut s = Duplex {
            input: &input,
            output: Vec::new(),
        };
        assert!(matches!(
            authenticate_to_server(&mut s, "sec"),
            Err(ProtocolError::AuthFailed)
        ));
    }

    #[test]
    fn constant_time_eq_semantics() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
