//! The Spark release lines the codec speaks, and what differs between them (§9).
//!
//! The version cannot be detected reliably from the bytes (§9 "Detecting the version"), so
//! the caller must be told it (by the driver, via an environment variable or `pythonVer`).

use std::fmt;
use std::str::FromStr;

use crate::ProtocolError;

/// A supported Spark release line. Ordered oldest to newest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SparkVersion {
    /// Spark 3.5.x: binary task context A, no UDS, JVM waits for the broadcast drain.
    V3_5,
    /// Spark 4.0.x: binary task context A.
    V4_0,
    /// Spark 4.1.x: binary task context B, Unix domain sockets.
    V4_1,
    /// Spark 4.2.x: JSON task context, conf sections in the header, 4 timing longs.
    V4_2,
    /// Spark 4.3.x: as 4.2, with the header wrapped in a `START_OF_INIT_MESSAGE` frame.
    V4_3,
}

/// How header field 3, the task context, is encoded (§4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskContextEncoding {
    /// 3.5, 4.0: barrier port and secret always present.
    BinaryA,
    /// 4.1: barrier connection info only when `isBarrier`.
    BinaryB,
    /// 4.2, 4.3: one `str` holding a JSON object.
    Json,
}

impl SparkVersion {
    /// Every supported version, oldest first.
    pub const ALL: [SparkVersion; 5] = [
        SparkVersion::V3_5,
        SparkVersion::V4_0,
        SparkVersion::V4_1,
        SparkVersion::V4_2,
        SparkVersion::V4_3,
    ];

    /// `"3.5"`, `"4.0"`, …
    pub fn as_str(self) -> &'static str {
        match self {
            SparkVersion::V3_5 => "3.5",
            SparkVersion::V4_0 => "4.0",
            SparkVersion::V4_1 => "4.1",
            SparkVersion::V4_2 => "4.2",
            SparkVersion::V4_3 => "4.3",
        }
    }

    /// Number of timing longs after `TIMING_DATA` and before the two spill longs (§5.2):
    /// 3 up to 4.1 (boot, init, finish), 4 from 4.2 (+ processing ms).
    pub fn timing_longs(self) -> usize {
        if self >= SparkVersion::V4_2 {
            4
        } else {
            3
        }
    }

    /// Whether the header is wrapped in `-8` + `i32 len` (§4.1; 4.3 only).
    pub fn has_init_message(self) -> bool {
        self >= SparkVersion::V4_3
    }

    /// The task context encoding of this version (§4.2).
    pub fn task_context_encoding(self) -> TaskContextEncoding {
        match self {
            SparkVersion::V3_5 | SparkVersion::V4_0 => TaskContextEncoding::BinaryA,
            SparkVersion::V4_1 => TaskContextEncoding::BinaryB,
            SparkVersion::V4_2 | SparkVersion::V4_3 => TaskContextEncoding::Json,
        }
    }

    /// Whether the header carries the runner conf and eval conf sections (fields 8–9; 4.2+).
    pub fn has_conf_sections(self) -> bool {
        self >= SparkVersion::V4_2
    }

    /// Whether the runner conf of the Arrow UDF eval types travels at the start of the
    /// command section (§8; 3.5 – 4.1) rather than in header field 8 (4.2+).
    pub fn runner_conf_in_command(self) -> bool {
        !self.has_conf_sections()
    }

    /// Whether the UDF command section starts with `bool isProfiling [str profiler]`
    /// (§8; 4.0 and 4.1).
    pub fn udf_section_has_profiler(self) -> bool {
        matches!(self, SparkVersion::V4_0 | SparkVersion::V4_1)
    }

    /// Whether each UDF argument offset is followed by `bool isKeyword [str name]` (§8):
    /// from 4.0 for the eval types this crate decodes (200, 202, 250, 252; 4.0 and 4.1
    /// send the flag only for some eval types, these among them); 3.5 sends bare offsets.
    pub fn udf_args_have_keyword_flags(self) -> bool {
        self >= SparkVersion::V4_0
    }

    /// Whether every UDF ends with `i64 resultId` (§8; 4.2+). In 4.0 and 4.1 it is there only
    /// when profiling, in 3.5 never.
    pub fn udf_result_id_always(self) -> bool {
        self >= SparkVersion::V4_2
    }

    /// Whether the JVM stops writing the header after the broadcast section until the worker
    /// has drained the broadcast decryption server (§4.5; 3.5 only). See
    /// [`read_task_header_with_broadcast_hook`](crate::read_task_header_with_broadcast_hook).
    pub fn waits_for_broadcast_drain(self) -> bool {
        self == SparkVersion::V3_5
    }

    /// Whether server addresses may be Unix domain socket paths (port `-1` + `str path`;
    /// 4.1+).
    pub fn supports_unix_sockets(self) -> bool {
        self >= SparkVersion::V4_1
    }

    /// Whether the daemon is launched as `-m pyspark.daemon pyspark.worker` (4.0+) rather
    /// than `-m pyspark.daemon` (§3.1).
    pub fn daemon_has_worker_module_arg(self) -> bool {
        self >= SparkVersion::V4_0
    }
}

impl fmt::Display for SparkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SparkVersion {
    type Err = ProtocolError;

    /// Accepts `"major.minor"` optionally followed by `.` and anything (`"3.5"`, `"3.5.9"`,
    /// `"4.3.0"`, `"4.1.0-SNAPSHOT"`); surrounding whitespace is ignored. Anything else is
    /// [`ProtocolError::Unsupported`] naming the supported lines.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        for v in SparkVersion::ALL {
            let line = v.as_str();
            if let Some(rest) = t.strip_prefix(line) {
                // "4.10" must not match "4.1": only the end or a '.' may follow the line.
                if rest.is_empty() || (rest.len() > 1 && rest.starts_with('.')) {
                    return Ok(v);
                }
            }
        }
        let supported: Vec<&str> = SparkVersion::ALL.iter().map(|v| v.as_str()).collect();
        Err(ProtocolError::Unsupported {
            what: format!(
                "Spark version {t:?} (supported release lines: {})",
                supported.join(", ")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_lines() {
        assert_eq!("3.5.9".parse::<SparkVersion>().unwrap(), SparkVersion::V3_5);
        assert_eq!("4.0".parse::<SparkVersion>().unwrap(), SparkVersion::V4_0);
        assert_eq!(
            " 4.1.4 ".parse::<SparkVersion>().unwrap(),
            SparkVersion::V4_1
        );
        assert_eq!("4.2.1".parse::<SparkVersion>().unwrap(), SparkVersion::V4_2);
        assert_eq!(
            "4.3.0-SNAPSHOT".parse::<SparkVersion>().unwrap(),
            SparkVersion::V4_3
        );
        for bad in ["3.4.1", "4.10.0", "4.1x", "4.", "4.3.", "", "5.0.0"] {
            let e = bad.parse::<SparkVersion>().unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("3.5, 4.0, 4.1, 4.2, 4.3"), "{bad}: {msg}");
        }
    }

    #[test]
    fn per_version_facts() {
        use SparkVersion::*;
        assert_eq!(SparkVersion::ALL.map(|v| v.timing_longs()), [3, 3, 3, 4, 4]);
        assert_eq!(
            SparkVersion::ALL.map(|v| v.has_init_message()),
            [false, false, false, false, true]
        );
        assert_eq!(V4_0.task_context_encoding(), TaskContextEncoding::BinaryA);
        assert_eq!(V4_1.task_context_encoding(), TaskContextEncoding::BinaryB);
        assert_eq!(V4_2.task_context_encoding(), TaskContextEncoding::Json);
        assert!(!V4_1.has_conf_sections() && V4_2.has_conf_sections());
        assert!(V3_5.waits_for_broadcast_drain() && !V4_0.waits_for_broadcast_drain());
        assert!(!V4_0.supports_unix_sockets() && V4_1.supports_unix_sockets());
        assert_eq!(V4_2.to_string(), "4.2");
        assert_eq!(
            SparkVersion::ALL.map(|v| v.runner_conf_in_command()),
            [true, true, true, false, false]
        );
        assert_eq!(
            SparkVersion::ALL.map(|v| v.udf_section_has_profiler()),
            [false, true, true, false, false]
        );
        assert_eq!(
            SparkVersion::ALL.map(|v| v.udf_args_have_keyword_flags()),
            [false, true, true, true, true]
        );
        assert_eq!(
            SparkVersion::ALL.map(|v| v.udf_result_id_always()),
            [false, false, false, true, true]
        );
    }
}
