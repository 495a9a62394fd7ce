//! The worker's configuration, read once at start-up from the environment the JVM gives it
//! (`PythonWorkerFactory` merges the function's env vars into the executor's environment).
//!
//! | variable | meaning |
//! |---|---|
//! | `SPARKWASM_SPARK_VERSION` | Spark version of the driver (set by the sparkwasm driver package); selects the header format |
//! | `PYTHON_WORKER_FACTORY_SECRET` | Spark's auth secret (TCP mode) |
//! | `PYTHON_WORKER_FACTORY_PORT` / `PYTHON_WORKER_FACTORY_SOCK_PATH` | non-daemon mode: where to connect back |
//! | `PYTHON_UNIX_DOMAIN_ENABLED`, `PYTHON_WORKER_FACTORY_SOCK_DIR` | daemon UDS mode (Spark 4.1+) |
//! | `SPARK_PREFER_IPV6` | listen/connect on `::1` instead of `127.0.0.1` |
//! | `SPARK_REUSE_WORKER` | serve further tasks on a connection after one completes |
//! | `SPARKWASM_MEMORY_LIMIT_MB` | guest memory cap (default 1024) |
//! | `SPARKWASM_TASK_DEADLINE_SECS` | wall-clock deadline per task (default 1800) |

use std::time::Duration;

use sparkwasm_protocol::SparkVersion;
use sparkwasm_runtime::Limits;

/// Everything the worker reads from its environment.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The driver's Spark version, or why it is unknown.
    pub spark_version: Result<SparkVersion, String>,
    /// Spark's auth secret (None in UDS mode).
    pub secret: Option<String>,
    /// Serve more than one task per connection.
    pub reuse: bool,
    /// Use IPv6 loopback.
    pub prefer_ipv6: bool,
    /// Guest limits.
    pub limits: Limits,
}

impl WorkerConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let spark_version = match lookup("SPARKWASM_SPARK_VERSION") {
            Some(v) => v.parse::<SparkVersion>().map_err(|e| e.to_string()),
            None => Err(
                "SPARKWASM_SPARK_VERSION is not set; the sparkwasm driver package sets it \
                         on every function, so this worker was not launched through it"
                    .to_owned(),
            ),
        };
        let mut limits = Limits::default();
        if let Some(mb) = lookup("SPARKWASM_MEMORY_LIMIT_MB") {
            let mb: u64 = mb.parse().map_err(|_| {
                format!("SPARKWASM_MEMORY_LIMIT_MB must be a whole number of MiB, got {mb:?}")
            })?;
            limits = limits.with_memory_bytes(mb << 20);
        }
        if let Some(secs) = lookup("SPARKWASM_TASK_DEADLINE_SECS") {
            let secs: u64 = secs.parse().map_err(|_| {
                format!(
                    "SPARKWASM_TASK_DEADLINE_SECS must be a whole number of seconds, got {secs:?}"
                )
            })?;
            limits = limits.with_task_deadline(Duration::from_secs(secs));
        }
        Ok(WorkerConfig {
            spark_version,
            secret: lookup("PYTHON_WORKER_FACTORY_SECRET"),
            reuse: lookup("SPARK_REUSE_WORKER").is_some(),
            prefer_ipv6: lookup("SPARK_PREFER_IPV6")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<WorkerConfig, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        WorkerConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn reads_version_secret_reuse_and_limits() {
        let c = config(&[
            ("SPARKWASM_SPARK_VERSION", "4.3.0"),
            ("PYTHON_WORKER_FACTORY_SECRET", "s3cret"),
            ("SPARK_REUSE_WORKER", "1"),
            ("SPARKWASM_MEMORY_LIMIT_MB", "64"),
        ])
        .unwrap();
        assert_eq!(c.spark_version, Ok(SparkVersion::V4_3));
        assert_eq!(c.secret.as_deref(), Some("s3cret"));
        assert!(c.reuse);
        assert_eq!(c.limits.memory_bytes(), 64 << 20);
    }

    #[test]
    fn a_missing_version_is_reported_not_guessed() {
        let c = config(&[]).unwrap();
        assert!(c
            .spark_version
            .unwrap_err()
            .contains("SPARKWASM_SPARK_VERSION"));
        assert!(!c.reuse);
    }

    #[test]
    fn bad_limits_are_errors() {
        assert!(config(&[("SPARKWASM_MEMORY_LIMIT_MB", "lots")]).is_err());
    }
}
