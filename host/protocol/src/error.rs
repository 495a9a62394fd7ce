//! The single error type of the codec.

use std::io;

/// Everything that can go wrong while decoding (or handshaking on) the worker protocol.
///
/// Messages name the field that was being read, so a log line is enough to tell where a
/// stream desynchronised. They never contain secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The stream ended in the middle of a message: more bytes were needed.
    ///
    /// A clean end of stream *between* tasks is not an error; see
    /// [`read_task_header`](crate::read_task_header). An [`io::ErrorKind::UnexpectedEof`]
    /// converted with `?` also becomes this variant.
    #[error("stream ended in the middle of a message")]
    Eof,
    /// The bytes do not follow the protocol (bad special length, negative length, bad UTF-8,
    /// bad JSON, wrong marker, …).
    #[error("malformed input: {what}")]
    Malformed {
        /// What was being read and what was wrong with it.
        what: String,
    },
    /// A length or count is well-formed but exceeds the configured [`Limits`](crate::Limits).
    #[error("{what} too large: {len} exceeds the limit of {max}")]
    TooLarge {
        /// The field whose length or count was too large.
        what: &'static str,
        /// The length (bytes) or count (entries) announced on the wire.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// Valid protocol that this codec does not (yet) decode, or an unsupported Spark version.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What is unsupported.
        what: String,
    },
    /// The peer rejected our secret, or sent a wrong one.
    #[error("authentication failed")]
    AuthFailed,
    /// Any other I/O error of the underlying stream.
    #[error("I/O error: {0}")]
    Io(#[source] io::Error),
}

impl ProtocolError {
    /// Builds a [`ProtocolError::Malformed`].
    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        ProtocolError::Malformed { what: what.into() }
    }
}

impl From<io::Error> for ProtocolError {
    /// `UnexpectedEof` (what `read_exact` reports on a short stream) maps to
    /// [`ProtocolError::Eof`] so callers see a single "need more bytes" signal.
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            ProtocolError::Eof
        } else {
            ProtocolError::Io(e)
        }
    }
}
