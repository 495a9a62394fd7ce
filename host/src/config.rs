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
//! | `SPARKWASM_MAX_*`, `SPARKWASM_STACK_KB`, ... | the operator's policy ceilings ([`setting`]) |
//! | `SPARKWASM_ALLOWED_DIGESTS` | the only module digests this worker runs (comma-separated SHA-256 hex) |
//! | `SPARKWASM_MODULE_CACHE` | directory of the compiled-module cache, or `off` (default `$XDG_CACHE_HOME/sparkwasm/modules`, else `$HOME/.cache/sparkwasm/modules`) |
//! | `SPARKWASM_PROFILER` | `perfmap`: write `/tmp/perf-<pid>.map` so `perf` names guest functions (default `none`) |
//!
//! Every `SPARKWASM_*` variable must be one of these (or `SPARKWASM_WORKER`, the driver's):
//! a misspelt ceiling is an error, never silently ignored. Such an error does not stop the
//! worker: it fails every task with the message ([`WorkerConfig::invalid`]), which is how it
//! reaches the person reading Spark's exception.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use sparkwasm_protocol::SparkVersion;
use sparkwasm_runtime::{setting, Determinism, EngineOptions, Policy};

/// Variables of the `SPARKWASM_` family that are not policy settings.
const OTHER_VARIABLES: &[&str] = &[
    "SPARKWASM_SPARK_VERSION",
    "SPARKWASM_ALLOWED_DIGESTS",
    "SPARKWASM_MODULE_CACHE",
    "SPARKWASM_PROFILER",
    // The driver's (where the worker binary is); executors in local mode inherit the
    // driver's environment, so it may be present.
    "SPARKWASM_WORKER",
];

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
    /// The operator's ceilings: the engine is built with them, and no job may go past them.
    pub ceilings: Policy,
    /// The only module digests allowed, when the operator pinned them.
    pub allowed_digests: Option<BTreeSet<String>>,
    /// The engine's module cache and profiling.
    pub engine: EngineOptions,
    /// Why the operator's settings are unusable (then every task fails with it, and
    /// `ceilings` are the defaults, used only to size what is read before failing).
    pub invalid: Option<String>,
}

impl WorkerConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Reads the configuration from `vars` (the environment, or a list in tests).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars: HashMap<String, String> = vars.into_iter().collect();
        let lookup = |name: &str| vars.get(name).cloned();
        let spark_version = match lookup("SPARKWASM_SPARK_VERSION") {
            Some(v) => v.parse::<SparkVersion>().map_err(|e| e.to_string()),
            None => Err(
                "SPARKWASM_SPARK_VERSION is not set; the sparkwasm driver package sets it \
                         on every function, so this worker was not launched through it"
                    .to_owned(),
            ),
        };
        let operator = operator_settings(&vars)
            .and_then(|(ceilings, digests)| Ok((ceilings, digests, engine_options(&lookup)?)));
        let (ceilings, allowed_digests, engine, invalid) = match operator {
            Ok((ceilings, digests, engine)) => (ceilings, digests, engine, None),
            Err(why) => (Policy::default(), None, EngineOptions::default(), Some(why)),
        };
        WorkerConfig {
            spark_version,
            secret: lookup("PYTHON_WORKER_FACTORY_SECRET"),
            reuse: lookup("SPARK_REUSE_WORKER").is_some(),
            prefer_ipv6: lookup("SPARK_PREFER_IPV6")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            ceilings,
            allowed_digests,
            engine,
            invalid,
        }
    }
}

/// The module cache directory and the profiler, from `SPARKWASM_MODULE_CACHE` and
/// `SPARKWASM_PROFILER`.
fn engine_options(lookup: &impl Fn(&str) -> Option<String>) -> Result<EngineOptions, String> {
    let module_cache = match lookup("SPARKWASM_MODULE_CACHE") {
        Some(dir) if dir.trim().eq_ignore_ascii_case("off") => None,
        Some(dir) if dir.trim().is_empty() => {
            return Err("SPARKWASM_MODULE_CACHE is empty; give a directory or `off`".into())
        }
        Some(dir) => Some(PathBuf::from(dir)),
        None => lookup("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                lookup("HOME")
                    .filter(|d| !d.is_empty())
                    .map(|home| PathBuf::from(home).join(".cache"))
            })
            .map(|base| base.join("sparkwasm").join("modules")),
    };
    let perf_map = match lookup("SPARKWASM_PROFILER").as_deref().map(str::trim) {
        None | Some("none") => false,
        Some("perfmap") => true,
        Some(other) => {
            return Err(format!(
                "SPARKWASM_PROFILER must be none or perfmap, got {other:?}"
            ))
        }
    };
    Ok(EngineOptions {
        module_cache,
        perf_map,
    })
}

/// The operator's ceilings and digest allow-list, or why they are unusable.
fn operator_settings(
    vars: &HashMap<String, String>,
) -> Result<(Policy, Option<BTreeSet<String>>), String> {
    let lookup = |name: &str| vars.get(name).cloned();
    let known: Vec<&str> = POLICY_VARIABLES
        .iter()
        .copied()
        .chain(OTHER_VARIABLES.iter().copied())
        .collect();
    let mut unknown: Vec<&str> = vars
        .keys()
        .map(String::as_str)
        .filter(|name| name.starts_with("SPARKWASM_") && !known.contains(name))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(format!(
            "unknown sparkwasm setting(s) in the executor's environment: {}; known: {}",
            unknown.join(", "),
            known.join(", ")
        ));
    }
    let digests = lookup("SPARKWASM_ALLOWED_DIGESTS")
        .map(|list| allowed_digests(&list))
        .transpose()?;
    Ok((ceilings(&lookup)?, digests))
}

/// The policy variables, as [`setting`] names them.
const POLICY_VARIABLES: &[&str] = &[
    setting::MEMORY.env,
    setting::TASK_DEADLINE.env,
    setting::CALL_DEADLINE.env,
    setting::OUTPUT_RECORD.env,
    setting::OUTPUT_BATCH.env,
    setting::OUTPUT_TASK.env,
    setting::FUEL.env,
    setting::CAPTURE.env,
    setting::SPARK_FILES.env,
    setting::CLOCK.env,
    setting::RANDOM.env,
    setting::STACK.env,
    setting::MODULE.env,
    setting::COMPILE_DEADLINE.env,
];

/// A whole number from a variable, or a message naming it.
fn number(name: &str, text: &str, unit: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .map_err(|_| format!("{name} must be a whole number of {unit}, got {text:?}"))
}

/// `true`/`false` from a variable.
pub(crate) fn flag(name: &str, text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("{name} must be true or false, got {text:?}")),
    }
}

/// `real`/`deterministic` from a variable.
pub(crate) fn determinism(name: &str, text: &str) -> Result<Determinism, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "real" => Ok(Determinism::Real),
        "deterministic" => Ok(Determinism::Deterministic),
        _ => Err(format!(
            "{name} must be real or deterministic, got {text:?}"
        )),
    }
}

/// The operator's ceilings: the defaults, lowered (or, for engine-wide settings, set) by the
/// `SPARKWASM_*` variables present.
fn ceilings(lookup: &impl Fn(&str) -> Option<String>) -> Result<Policy, String> {
    let mut policy = Policy::default();
    let get = |names: setting::Names| lookup(names.env).map(|v| (names.env, v));
    if let Some((name, v)) = get(setting::MEMORY) {
        policy = policy.with_memory_bytes(number(name, &v, "MiB")?.saturating_mul(1 << 20));
    }
    if let Some((name, v)) = get(setting::TASK_DEADLINE) {
        policy = policy.with_task_deadline(Duration::from_secs(number(name, &v, "seconds")?));
    }
    if let Some((name, v)) = get(setting::CALL_DEADLINE) {
        policy = policy.with_call_deadline(Duration::from_secs(number(name, &v, "seconds")?));
    }
    if let Some((name, v)) = get(setting::OUTPUT_RECORD) {
        policy = policy.with_output_bytes_per_record(mib(name, &v)?);
    }
    if let Some((name, v)) = get(setting::OUTPUT_BATCH) {
        policy = policy.with_output_bytes_per_batch(mib(name, &v)?);
    }
    if let Some((name, v)) = get(setting::OUTPUT_TASK) {
        policy = policy.with_output_bytes_per_task(mib(name, &v)?);
    }
    if let Some((name, v)) = get(setting::FUEL) {
        policy = policy.with_fuel(Some(number(name, &v, "fuel units")?));
    }
    if let Some((name, v)) = get(setting::CAPTURE) {
        let kib = number(name, &v, "KiB")?.saturating_mul(1 << 10);
        policy = policy.with_captured_output_bytes(usize::try_from(kib).unwrap_or(usize::MAX));
    }
    if let Some((name, v)) = get(setting::SPARK_FILES) {
        policy = policy.with_spark_files(flag(name, &v)?);
    }
    if let Some((name, v)) = get(setting::CLOCK) {
        policy = policy.with_clock(determinism(name, &v)?);
    }
    if let Some((name, v)) = get(setting::RANDOM) {
        policy = policy.with_random(determinism(name, &v)?);
    }
    if let Some((name, v)) = get(setting::STACK) {
        let kib = number(name, &v, "KiB")?.saturating_mul(1 << 10);
        policy = policy.with_max_wasm_stack(usize::try_from(kib).unwrap_or(usize::MAX));
    }
    if let Some((name, v)) = get(setting::MODULE) {
        policy = policy.with_module_bytes(mib(name, &v)?);
    }
    if let Some((name, v)) = get(setting::COMPILE_DEADLINE) {
        policy = policy.with_compile_deadline(Duration::from_secs(number(name, &v, "seconds")?));
    }
    Ok(policy)
}

fn mib(name: &str, text: &str) -> Result<u64, String> {
    Ok(number(name, text, "MiB")?.saturating_mul(1 << 20))
}

/// A comma- or whitespace-separated list of SHA-256 hex digests.
fn allowed_digests(list: &str) -> Result<BTreeSet<String>, String> {
    let digests: BTreeSet<String> = list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_start_matches("sha256:").to_ascii_lowercase())
        .collect();
    if let Some(bad) = digests
        .iter()
        .find(|d| d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(format!(
            "SPARKWASM_ALLOWED_DIGESTS holds {bad:?}, not a SHA-256 hex digest (64 hex digits)"
        ));
    }
    if digests.is_empty() {
        return Err("SPARKWASM_ALLOWED_DIGESTS is set but lists no digest".into());
    }
    Ok(digests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<WorkerConfig, String> {
        let c = WorkerConfig::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        match c.invalid {
            Some(why) => Err(why),
            None => Ok(c),
        }
    }

    #[test]
    fn reads_version_secret_reuse_and_ceilings() {
        let c = config(&[
            ("SPARKWASM_SPARK_VERSION", "4.3.0"),
            ("PYTHON_WORKER_FACTORY_SECRET", "s3cret"),
            ("SPARK_REUSE_WORKER", "1"),
            ("SPARKWASM_MAX_MEMORY_MB", "64"),
            ("SPARKWASM_MAX_CALL_DEADLINE_SECS", "5"),
            ("SPARKWASM_MAX_FUEL", "1000"),
            ("SPARKWASM_ALLOW_SPARK_FILES", "false"),
            ("SPARKWASM_RANDOM", "deterministic"),
            ("SPARKWASM_STACK_KB", "512"),
        ])
        .unwrap();
        assert_eq!(c.spark_version, Ok(SparkVersion::V4_3));
        assert_eq!(c.secret.as_deref(), Some("s3cret"));
        assert!(c.reuse);
        assert_eq!(c.ceilings.memory_bytes(), 64 << 20);
        assert_eq!(c.ceilings.call_deadline(), Duration::from_secs(5));
        assert_eq!(c.ceilings.fuel(), Some(1000));
        assert!(!c.ceilings.spark_files());
        assert_eq!(c.ceilings.random(), Determinism::Deterministic);
        assert_eq!(c.ceilings.clock(), Determinism::Real);
        assert_eq!(c.ceilings.max_wasm_stack(), 512 << 10);
        assert_eq!(c.allowed_digests, None);
    }

    #[test]
    fn the_module_cache_defaults_under_the_user_cache_and_can_be_moved_or_turned_off() {
        let home = config(&[("HOME", "/home/spark")]).unwrap();
        assert_eq!(
            home.engine.module_cache,
            Some(PathBuf::from("/home/spark/.cache/sparkwasm/modules"))
        );
        assert!(!home.engine.perf_map);
        let xdg = config(&[("HOME", "/home/spark"), ("XDG_CACHE_HOME", "/var/cache/u")]).unwrap();
        assert_eq!(
            xdg.engine.module_cache,
            Some(PathBuf::from("/var/cache/u/sparkwasm/modules"))
        );
        let moved = config(&[("SPARKWASM_MODULE_CACHE", "/srv/wasm")]).unwrap();
        assert_eq!(moved.engine.module_cache, Some(PathBuf::from("/srv/wasm")));
        let off = config(&[("HOME", "/home/spark"), ("SPARKWASM_MODULE_CACHE", "off")]).unwrap();
        assert_eq!(off.engine.module_cache, None);
        assert_eq!(
            config(&[]).unwrap().engine.module_cache,
            None,
            "no HOME, no cache"
        );
        let profiled = config(&[("SPARKWASM_PROFILER", "perfmap")]).unwrap();
        assert!(profiled.engine.perf_map);
        let bad = config(&[("SPARKWASM_PROFILER", "vtune")]).unwrap_err();
        assert!(bad.contains("SPARKWASM_PROFILER"), "{bad}");
        let empty = config(&[("SPARKWASM_MODULE_CACHE", " ")]).unwrap_err();
        assert!(empty.contains("SPARKWASM_MODULE_CACHE"), "{empty}");
    }

    #[test]
    fn a_missing_version_is_reported_not_guessed() {
        let c = config(&[]).unwrap();
        assert!(c
            .spark_version
            .unwrap_err()
            .contains("SPARKWASM_SPARK_VERSION"));
        assert!(!c.reuse);
        assert_eq!(c.ceilings, Policy::default());
    }

    #[test]
    fn bad_values_are_errors_naming_the_variable() {
        for (name, value) in [
            ("SPARKWASM_MAX_MEMORY_MB", "lots"),
            ("SPARKWASM_ALLOW_SPARK_FILES", "maybe"),
            ("SPARKWASM_CLOCK", "fast"),
            ("SPARKWASM_ALLOWED_DIGESTS", "abc"),
            ("SPARKWASM_ALLOWED_DIGESTS", " , "),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn unknown_sparkwasm_variables_are_errors() {
        let err = config(&[("SPARKWASM_MAX_MEMORY", "64")]).unwrap_err();
        assert!(err.contains("unknown sparkwasm setting(s)"), "{err}");
        assert!(err.contains("SPARKWASM_MAX_MEMORY") && err.contains("SPARKWASM_MAX_MEMORY_MB"));
        // Other families are not ours to judge.
        assert!(config(&[("SPARK_HOME", "/x"), ("SPARKWASM_WORKER", "/w")]).is_ok());
    }

    #[test]
    fn allowed_digests_are_a_set_of_hex_digests() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let c = config(&[("SPARKWASM_ALLOWED_DIGESTS", &format!("sha256:{a}, {b}\n"))]).unwrap();
        let expected: BTreeSet<String> = [a, "b".repeat(64)].into_iter().collect();
        assert_eq!(c.allowed_digests, Some(expected));
    }
}
