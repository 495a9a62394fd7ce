//! Upper bounds applied to lengths and counts read from the wire, before allocating.

/// Size limits for decoding. A length above its limit is
/// [`ProtocolError::TooLarge`](crate::ProtocolError::TooLarge), reported before anything is
/// allocated for it.
///
/// The JVM is trusted in practice, but a desynchronised stream turns arbitrary payload bytes
/// into lengths; the limits make that a clean error instead of a 2 GiB allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Maximum byte length of any `str` (versions, paths, the JSON task context, secrets,
    /// conf keys and values, local properties, UDF keyword names, the UDF profiler's name).
    /// Default 16 MiB.
    pub max_string: usize,
    /// Maximum byte length of the command: the RDD command, or for UDFs all chained UDF
    /// commands together. Default 1 GiB.
    pub max_command: usize,
    /// Maximum count of any repeated section: python includes, broadcast entries, runner and
    /// eval conf entries, resources, addresses per resource, local properties, UDFs,
    /// arguments per UDF, chained functions per UDF. Default 100 000.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_string: 16 << 20,
            max_command: 1 << 30,
            max_entries: 100_000,
        }
    }
}

impl Limits {
    /// Sets [`Limits::max_string`].
    pub fn with_max_string(mut self, max: usize) -> Self {
        self.max_string = max;
        self
    }

    /// Sets [`Limits::max_command`].
    pub fn with_max_command(mut self, max: usize) -> Self {
        self.max_command = max;
        self
    }

    /// Sets [`Limits::max_entries`].
    pub fn with_max_entries(mut self, max: usize) -> Self {
        self.max_entries = max;
        self
    }
}
