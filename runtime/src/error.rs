//! The runtime's error type: an [`ErrorKind`] callers match on, a message for people, and
//! the guest's captured output (bounded) for context.

use std::fmt;

/// What went wrong, for callers to act on. Match on this, never on message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not a usable sparkwasm module (not wasm, invalid, no descriptor, bad
    /// descriptor, missing exports, imports we do not provide).
    InvalidModule,
    /// The module bytes do not hash to the digest the command names.
    DigestMismatch,
    /// The module was built against another ABI version.
    AbiVersion,
    /// The task names a function the module does not have, or uses it as the wrong kind.
    UnknownFunction,
    /// The guest panicked.
    GuestPanic,
    /// The guest reported an error (bad input record, type mismatch, ...).
    GuestError,
    /// The task ran past its wall-clock deadline.
    Deadline,
    /// The guest tried to grow its memory past the cap.
    MemoryLimit,
    /// The guest used up its fuel budget.
    FuelExhausted,
    /// The guest overflowed its stack.
    StackOverflow,
    /// The guest wrote more output than allowed, or malformed output.
    OutputLimit,
    /// The guest violated the ABI (bad pointers, malformed output batch, wrong status).
    GuestFault,
    /// Any other trap (out-of-bounds access, division by zero, ...).
    Trap,
    /// Reading input or writing output on the host side failed.
    Io,
    /// Engine set-up or another internal failure; a bug in sparkwasm or its configuration.
    Internal,
}

impl ErrorKind {
    /// A short human name for the kind, used as the message prefix.
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::InvalidModule => "invalid module",
            ErrorKind::DigestMismatch => "module digest mismatch",
            ErrorKind::AbiVersion => "unsupported ABI version",
            ErrorKind::UnknownFunction => "unknown function",
            ErrorKind::GuestPanic => "guest panicked",
            ErrorKind::GuestError => "guest error",
            ErrorKind::Deadline => "deadline exceeded",
            ErrorKind::MemoryLimit => "memory limit exceeded",
            ErrorKind::FuelExhausted => "fuel exhausted",
            ErrorKind::StackOverflow => "stack overflow",
            ErrorKind::OutputLimit => "output limit exceeded",
            ErrorKind::GuestFault => "guest broke the ABI",
            ErrorKind::Trap => "guest trapped",
            ErrorKind::Io => "I/O error",
            ErrorKind::Internal => "internal error",
        }
    }
}

/// An error from loading a module or running a task.
#[derive(Clone, Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    guest_stderr: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            guest_stderr: String::new(),
        }
    }

    pub(crate) fn with_guest_stderr(mut self, stderr: String) -> Self {
        self.guest_stderr = stderr;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The detail, without the kind prefix or the guest's stderr.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What the guest wrote to stderr before failing (bounded; empty if nothing).
    pub fn guest_stderr(&self) -> &str {
        &self.guest_stderr
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.describe(), self.message)?;
        if !self.guest_stderr.trim().is_empty() {
            write!(
                f,
                "\n--- guest stderr ---\n{}",
                self.guest_stderr.trim_end()
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
