//! The command the driver puts in a `SimplePythonFunction`: a versioned envelope holding a
//! JSON manifest (what to run) and the module bytes (what to run it with).
//!
//! ```text
//! b"SPWASM" | u8 format version (2) | u32 BE manifest length | manifest JSON | module bytes
//! ```
//!
//! The manifest is validated strictly, in two passes: [`decode`] checks everything that does
//! not need the module (the envelope, unknown fields, each step's function count and `arg`,
//! argument indices, output parameters, base64 arguments), and [`Command::to_request`] checks
//! every function against the module's descriptors before building the runtime's
//! [`TaskRequest`]. Nothing is ignored or guessed: a mistake in the driver is a task failure
//! whose message names the step and the function.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use sparkwasm_abi::{
    Binding, FunctionKind, InputEncoding, Side, StepArg, StepFunctions, StepKind, TaskInfo,
};
use sparkwasm_runtime::{
    setting, Determinism, ModuleInfo, Policy, TaskOutput, TaskPartitioner, TaskRequest, TaskStep,
};

/// The envelope's magic bytes.
pub const MAGIC: &[u8; 6] = b"SPWASM";
/// The envelope format of RDD commands.
pub const FORMAT_VERSION: u8 = 2;
/// The envelope format of Spark SQL function commands (`crate::sql::command`).
pub const SQL_FORMAT_VERSION: u8 = 3;

/// A decoded command: the manifest, its decoded arguments and the module bytes.
#[derive(Debug)]
pub struct Command<'a> {
    /// What to run.
    pub manifest: Manifest,
    /// The manifest's `args`, base64-decoded: pickled Python values.
    pub args: Vec<Vec<u8>>,
    /// The module's bytes (checked against `manifest.module_digest` by the runtime).
    pub module: &'a [u8],
}

/// Why a command could not be decoded or does not fit its module.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not a sparkwasm command at all (for example a pickled Python function).
    #[error("the command is not a sparkwasm command (no SPWASM header); was this RDD built with the sparkwasm driver package?")]
    NotSparkwasm,
    /// A format version this worker does not know.
    #[error("sparkwasm command format version {found} is not supported by this worker (it reads version {FORMAT_VERSION} for RDD functions and {SQL_FORMAT_VERSION} for SQL functions); use matching sparkwasm driver and worker versions")]
    UnsupportedVersion {
        /// The version found.
        found: u8,
    },
    /// The envelope is cut short or its length field is wrong.
    #[error("the sparkwasm command is truncated: {0}")]
    Truncated(&'static str),
    /// The manifest JSON does not parse, has unknown fields, or does not validate.
    #[error("invalid sparkwasm manifest: {0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> ManifestError {
    ManifestError::Invalid(message.into())
}

/// What to run, as the driver wrote it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Lowercase hex SHA-256 of the module bytes.
    pub module_digest: String,
    /// Encoding of the input records.
    pub input: InputEncoding,
    /// The function whose element type the input records have; `null` for dynamic
    /// elements. The field must be present.
    #[serde(deserialize_with = "present_or_null")]
    pub source: Option<ManifestSource>,
    /// Steps, in order.
    pub steps: Vec<ManifestStep>,
    /// What to write.
    pub output: ManifestOutput,
    /// Pickled Python values (base64) that steps and the output refer to by index.
    #[serde(default)]
    pub args: Vec<String>,
    /// Broadcasts the guest may read: name → Spark broadcast id.
    #[serde(default)]
    pub broadcasts: BTreeMap<String, i64>,
    /// Accumulators the guest may add to: name → PySpark accumulator id.
    #[serde(default)]
    pub accumulators: BTreeMap<String, i64>,
    /// Whether the guest may read the executor's SparkFiles directory (read-only).
    #[serde(default)]
    pub spark_files: bool,
    /// Every function the manifest mentions, with the kind the driver saw in the descriptor.
    pub function_names: BTreeMap<String, FunctionKind>,
    /// The job's sandbox settings (`spark.sparkwasm.*`); unset ones are the operator's.
    #[serde(default)]
    pub policy: ManifestPolicy,
}

/// The job's sandbox settings, as the driver read them from `spark.sparkwasm.*`. Each is a
/// request within the operator's ceilings: asking for more than a ceiling fails the task
/// with a message naming both, never silently gets less.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ManifestPolicy {
    /// `spark.sparkwasm.memoryMb`.
    pub memory_mb: Option<u64>,
    /// `spark.sparkwasm.taskDeadlineSecs`.
    pub task_deadline_secs: Option<u64>,
    /// `spark.sparkwasm.callDeadlineSecs`.
    pub call_deadline_secs: Option<u64>,
    /// `spark.sparkwasm.outputRecordMb`.
    pub output_record_mb: Option<u64>,
    /// `spark.sparkwasm.outputBatchMb`.
    pub output_batch_mb: Option<u64>,
    /// `spark.sparkwasm.outputTaskMb`.
    pub output_task_mb: Option<u64>,
    /// `spark.sparkwasm.fuel`.
    pub fuel: Option<u64>,
    /// `spark.sparkwasm.captureKb`.
    pub capture_kb: Option<u64>,
    /// `spark.sparkwasm.sparkFiles`.
    pub spark_files: Option<bool>,
    /// `spark.sparkwasm.clock`: `real` or `deterministic`.
    pub clock: Option<ManifestDeterminism>,
    /// `spark.sparkwasm.random`: `real` or `deterministic`.
    pub random: Option<ManifestDeterminism>,
}

/// `real` or `deterministic`, as spelled in the manifest.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ManifestDeterminism {
    Real,
    Deterministic,
}

impl From<ManifestDeterminism> for Determinism {
    fn from(d: ManifestDeterminism) -> Self {
        match d {
            ManifestDeterminism::Real => Determinism::Real,
            ManifestDeterminism::Deterministic => Determinism::Deterministic,
        }
    }
}

impl ManifestPolicy {
    /// The task's policy: the operator's `ceilings` with the job's settings applied, or why
    /// a setting is not allowed.
    pub fn effective(&self, ceilings: &Policy) -> Result<Policy, String> {
        fn within(
            names: setting::Names,
            asked: u64,
            unit: &str,
            ceiling: u64,
        ) -> Result<u64, String> {
            if asked > ceiling {
                return Err(format!(
                    "{} = {asked} {unit} is above the operator's ceiling of {ceiling} {unit} ({}); \
                     ask for at most {ceiling}",
                    names.conf.unwrap_or(names.env),
                    names.env
                ));
            }
            Ok(asked)
        }
        let mib = |bytes: u64| bytes >> 20;
        let mut policy = ceilings.clone();
        if let Some(mb) = self.memory_mb {
            let mb = within(setting::MEMORY, mb, "MiB", mib(ceilings.memory_bytes()))?;
            policy = policy.with_memory_bytes(mb << 20);
        }
        if let Some(secs) = self.task_deadline_secs {
            let ceiling = ceilings.task_deadline().as_secs();
            let secs = within(setting::TASK_DEADLINE, secs, "s", ceiling)?;
            policy = policy.with_task_deadline(Duration::from_secs(secs));
        }
        if let Some(secs) = self.call_deadline_secs {
            let ceiling = ceilings.call_deadline().as_secs();
            let secs = within(setting::CALL_DEADLINE, secs, "s", ceiling)?;
            policy = policy.with_call_deadline(Duration::from_secs(secs));
        }
        if let Some(mb) = self.output_record_mb {
            let ceiling = mib(ceilings.output_bytes_per_record());
            let mb = within(setting::OUTPUT_RECORD, mb, "MiB", ceiling)?;
            policy = policy.with_output_bytes_per_record(mb << 20);
        }
        if let Some(mb) = self.output_batch_mb {
            let ceiling = mib(ceilings.output_bytes_per_batch());
            let mb = within(setting::OUTPUT_BATCH, mb, "MiB", ceiling)?;
            policy = policy.with_output_bytes_per_batch(mb << 20);
        }
        if let Some(mb) = self.output_task_mb {
            let ceiling = mib(ceilings.output_bytes_per_task());
            let mb = within(setting::OUTPUT_TASK, mb, "MiB", ceiling)?;
            policy = policy.with_output_bytes_per_task(mb << 20);
        }
        if let Some(fuel) = self.fuel {
            let fuel = match ceilings.fuel() {
                Some(ceiling) => within(setting::FUEL, fuel, "units", ceiling)?,
                None => fuel,
            };
            policy = policy.with_fuel(Some(fuel));
        }
        if let Some(kb) = self.capture_kb {
            let ceiling = (ceilings.captured_output_bytes() >> 10) as u64;
            let kb = within(setting::CAPTURE, kb, "KiB", ceiling)?;
            policy =
                policy.with_captured_output_bytes(usize::try_from(kb << 10).unwrap_or(usize::MAX));
        }
        if let Some(granted) = self.spark_files {
            if granted && !ceilings.spark_files() {
                return Err(format!(
                    "{} = true, but the operator withholds SparkFiles from guests ({} = false)",
                    setting::SPARK_FILES.conf.unwrap_or_default(),
                    setting::SPARK_FILES.env
                ));
            }
            policy = policy.with_spark_files(granted);
        }
        for (asked, names, ceiling, set) in [
            (
                self.clock,
                setting::CLOCK,
                ceilings.clock(),
                Policy::with_clock as fn(Policy, Determinism) -> Policy,
            ),
            (
                self.random,
                setting::RANDOM,
                ceilings.random(),
                Policy::with_random,
            ),
        ] {
            let Some(asked) = asked.map(Determinism::from) else {
                continue;
            };
            if asked == Determinism::Real && ceiling == Determinism::Deterministic {
                return Err(format!(
                    "{} = real, but the operator makes it deterministic ({} = deterministic)",
                    names.conf.unwrap_or_default(),
                    names.env
                ));
            }
            policy = set(policy, asked);
        }
        Ok(policy)
    }
}

/// `Option<T>` that must be present in the JSON (as a value or `null`): with
/// `deserialize_with`, serde no longer treats a missing field as `None`.
fn present_or_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

/// The function and side naming the input element type.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ManifestSource {
    /// Function name.
    pub function: String,
    /// `input` or `output`.
    pub side: ManifestSide,
}

/// A side of a function, as spelled in the manifest.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ManifestSide {
    Input,
    Output,
}

/// One step, as spelled in the manifest.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ManifestStep {
    /// What the step does.
    pub kind: StepKind,
    /// The functions it applies, in the order the ABI's `StepKind` gives.
    #[serde(default)]
    pub functions: Vec<String>,
    /// The step's argument (an index into `args`, or a number), `null` when it takes none.
    #[serde(default)]
    pub arg: Option<u64>,
}

/// Output, as spelled in the manifest. (Variants without parameters are written as empty
/// struct variants: serde ignores unknown fields of internally tagged unit variants, and a
/// typo must not pass silently.)
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ManifestOutput {
    /// Pickled lists, for Python.
    Pickle {},
    /// sparkwasm binary batches, for a later WASM pass.
    Binary {},
    /// One pickled count.
    Count {},
    /// A pickled list of the first `n` elements.
    Take {
        /// How many elements at most.
        n: u64,
    },
    /// One UTF-8 record per element.
    Text {},
    /// Pickled lists of a Bernoulli sample of the keys.
    SampleKeys {
        /// Probability of keeping each element, in `0..=1`.
        fraction: f64,
        /// Seed.
        seed: u64,
    },
    /// Map side of a shuffle.
    Shuffle {
        /// Number of reduce partitions (at least 1).
        partitions: u32,
        /// How keys map to partitions.
        partitioner: ManifestPartitioner,
    },
}

/// A shuffle's partitioner, as spelled in the manifest.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ManifestPartitioner {
    /// Stable hash of the key's canonical encoding.
    Hash {},
    /// A `partitioner` function.
    Function {
        /// Its name.
        function: String,
    },
    /// Range partitioning (sortByKey).
    Range {
        /// Index into `args` of the pickled list of bounds.
        bounds_arg: u32,
        /// Ascending order.
        ascending: bool,
    },
}

/// Decodes the command envelope and its manifest, and checks everything that does not need
/// the module.
pub fn decode(command: &[u8]) -> Result<Command<'_>, ManifestError> {
    let (version, json, module) = split_envelope(command)?;
    if version != FORMAT_VERSION {
        return Err(ManifestError::UnsupportedVersion { found: version });
    }
    let manifest: Manifest = serde_json::from_slice(json).map_err(|e| invalid(e.to_string()))?;
    let args = manifest.validate()?;
    Ok(Command {
        manifest,
        args,
        module,
    })
}

/// Splits a command's envelope into its format version, manifest JSON and module bytes.
pub fn split_envelope(command: &[u8]) -> Result<(u8, &[u8], &[u8]), ManifestError> {
    let rest = command
        .strip_prefix(MAGIC.as_slice())
        .ok_or(ManifestError::NotSparkwasm)?;
    let (&version, rest) = rest
        .split_first()
        .ok_or(ManifestError::Truncated("missing format version"))?;
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or(ManifestError::Truncated("missing manifest length"))?;
    let len = usize::try_from(u32::from_be_bytes(*len))
        .map_err(|_| ManifestError::Truncated("manifest length does not fit"))?;
    if len > rest.len() {
        return Err(ManifestError::Truncated(
            "manifest length runs past the end of the command",
        ));
    }
    let (json, module) = rest.split_at(len);
    Ok((version, json, module))
}

/// Checks that `digest` is a SHA-256 in lowercase hex.
pub(crate) fn check_digest(digest: &str) -> Result<(), ManifestError> {
    if digest.len() != 64
        || !digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(invalid(format!(
            "module_digest must be 64 lowercase hex characters, got {digest:?}"
        )));
    }
    Ok(())
}

impl Manifest {
    /// The checks that need no module; returns the decoded arguments.
    fn validate(&self) -> Result<Vec<Vec<u8>>, ManifestError> {
        check_digest(&self.module_digest)?;
        let args = self
            .args
            .iter()
            .enumerate()
            .map(|(i, text)| {
                base64_decode(text)
                    .ok_or_else(|| invalid(format!("args[{i}] is not valid standard base64")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let arg_exists = |index: u64, what: &str| {
            if index < args.len() as u64 {
                Ok(())
            } else {
                Err(invalid(format!(
                    "{what} refers to args[{index}], but the manifest has {} args",
                    args.len()
                )))
            }
        };
        for (index, step) in self.steps.iter().enumerate() {
            let what = format!("step {index} (`{}`)", step.kind.as_str());
            match step.kind.functions() {
                StepFunctions::Exactly(kinds) if step.functions.len() != kinds.len() => {
                    let expected: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                    return Err(invalid(format!(
                        "{what} takes {} function(s) [{}], got {} [{}]",
                        kinds.len(),
                        expected.join(", "),
                        step.functions.len(),
                        step.functions.join(", ")
                    )));
                }
                StepFunctions::OptionalKey if step.functions.len() > 1 => {
                    return Err(invalid(format!(
                        "{what} takes no function or one key function, got [{}]",
                        step.functions.join(", ")
                    )));
                }
                _ => {}
            }
            match (step.kind.arg(), step.arg) {
                (StepArg::None, None) => {}
                (StepArg::None, Some(value)) => {
                    return Err(invalid(format!("{what} takes no arg, got {value}")))
                }
                (StepArg::Index, None) => {
                    return Err(invalid(format!(
                        "{what} needs `arg`, the index of its zero value in `args`"
                    )))
                }
                (StepArg::Index, Some(index)) => arg_exists(index, &what)?,
                (StepArg::Number { what: meaning, .. }, None) => {
                    return Err(invalid(format!("{what} needs `arg`: {meaning}")))
                }
                (StepArg::Number { max, what: meaning }, Some(value)) if value > max => {
                    return Err(invalid(format!("{what}: `arg` is {meaning}, got {value}")))
                }
                (StepArg::AnyNumber, None) => {
                    return Err(invalid(format!(
                        "{what} needs `arg` (n * 2 + 1 for largest first, n * 2 for smallest first)"
                    )))
                }
                (StepArg::Number { .. } | StepArg::AnyNumber, Some(_)) => {}
            }
        }
        match &self.output {
            ManifestOutput::Shuffle { partitions: 0, .. } => {
                return Err(invalid("a shuffle needs at least one partition"))
            }
            ManifestOutput::Shuffle {
                partitioner: ManifestPartitioner::Range { bounds_arg, .. },
                ..
            } => arg_exists(u64::from(*bounds_arg), "the range partitioner's bounds_arg")?,
            ManifestOutput::SampleKeys { fraction, .. }
                if !(fraction.is_finite() && (0.0..=1.0).contains(fraction)) =>
            {
                return Err(invalid(format!(
                    "sample_keys needs a fraction in 0..=1, got {fraction}"
                )))
            }
            _ => {}
        }
        for (kind, map) in [
            ("broadcast", &self.broadcasts),
            ("accumulator", &self.accumulators),
        ] {
            for (name, id) in map {
                if name.is_empty() || *id < 0 {
                    return Err(invalid(format!(
                        "{kind} {name:?} needs a non-empty name and an id >= 0, got id {id}"
                    )));
                }
            }
        }
        Ok(args)
    }

    /// A short description of the pipeline for error messages: each step's functions, or
    /// its kind when it has none (`split_words → with_one → add`).
    pub fn pipeline_names(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| {
                if s.functions.is_empty() {
                    s.kind.as_str().to_owned()
                } else {
                    s.functions.join("+")
                }
            })
            .collect()
    }
}

impl Command<'_> {
    /// Checks the manifest against the module's descriptors and builds the runtime's task
    /// request. `spark_files_dir` is the header's SparkFiles root; it is passed on only
    /// when the manifest grants it.
    pub fn to_request(
        &self,
        module: &ModuleInfo,
        info: TaskInfo,
        spark_files_dir: &str,
    ) -> Result<TaskRequest, ManifestError> {
        let manifest = &self.manifest;
        let describe = |name: &str| {
            module.function(name).ok_or_else(|| {
                let known: Vec<&str> = module.functions.iter().map(|f| f.name.as_str()).collect();
                invalid(format!(
                    "module has no function `{name}` (it has: {})",
                    known.join(", ")
                ))
            })
        };
        for (name, kind) in &manifest.function_names {
            let actual = describe(name)?.kind;
            if actual != *kind {
                return Err(invalid(format!(
                    "the driver saw `{name}` as a {} function but the module says {}",
                    kind.as_str(),
                    actual.as_str()
                )));
            }
        }
        // A function used but not listed means the driver and this worker disagree about
        // what the manifest says; refuse rather than guess.
        let listed = |name: &str, used_by: &str| {
            if manifest.function_names.contains_key(name) {
                Ok(())
            } else {
                Err(invalid(format!(
                    "{used_by} uses `{name}`, which is missing from function_names"
                )))
            }
        };

        let source = match &manifest.source {
            Some(source) => {
                listed(&source.function, "the source")?;
                describe(&source.function)?;
                Some((
                    source.function.clone(),
                    match source.side {
                        ManifestSide::Input => Side::Input,
                        ManifestSide::Output => Side::Output,
                    },
                ))
            }
            None => None,
        };
        let mut steps = Vec::with_capacity(manifest.steps.len());
        for (index, step) in manifest.steps.iter().enumerate() {
            let kind = step.kind;
            let what = format!("step {index} (`{}`)", kind.as_str());
            let needs: &[FunctionKind] = match kind.functions() {
                StepFunctions::Exactly(kinds) => kinds,
                StepFunctions::OptionalKey => &[FunctionKind::Key],
            };
            for (function, need) in step.functions.iter().zip(needs) {
                listed(function, &what)?;
                let actual = describe(function)?.kind;
                if actual != *need {
                    return Err(invalid(format!(
                        "{what} needs a {} function but `{function}` is a {} function",
                        need.as_str(),
                        actual.as_str()
                    )));
                }
            }
            steps.push(TaskStep {
                kind,
                functions: step.functions.clone(),
                arg: step.arg,
            });
        }
        let output = match &manifest.output {
            ManifestOutput::Pickle {} => TaskOutput::Pickle,
            ManifestOutput::Binary {} => TaskOutput::Binary,
            ManifestOutput::Count {} => TaskOutput::Count,
            ManifestOutput::Take { n } => TaskOutput::Take { n: *n },
            ManifestOutput::Text {} => TaskOutput::Text,
            ManifestOutput::SampleKeys { fraction, seed } => TaskOutput::SampleKeys {
                fraction: *fraction,
                seed: *seed,
            },
            ManifestOutput::Shuffle {
                partitions,
                partitioner,
            } => TaskOutput::Shuffle {
                partitions: *partitions,
                partitioner: match partitioner {
                    ManifestPartitioner::Hash {} => TaskPartitioner::Hash,
                    ManifestPartitioner::Function { function } => {
                        listed(function, "the partitioner")?;
                        let actual = describe(function)?.kind;
                        if actual != FunctionKind::Partitioner {
                            return Err(invalid(format!(
                                "the shuffle's partitioner needs a partitioner function but \
                                 `{function}` is a {} function",
                                actual.as_str()
                            )));
                        }
                        TaskPartitioner::Function(function.clone())
                    }
                    ManifestPartitioner::Range {
                        bounds_arg,
                        ascending,
                    } => TaskPartitioner::Range {
                        bounds_arg: *bounds_arg,
                        ascending: *ascending,
                    },
                },
            },
        };
        let bindings = |map: &BTreeMap<String, i64>| {
            map.iter()
                .map(|(name, id)| Binding {
                    name: name.clone(),
                    id: *id,
                })
                .collect()
        };
        Ok(TaskRequest {
            info,
            input: manifest.input,
            source,
            steps,
            output,
            args: self.args.clone(),
            broadcasts: bindings(&manifest.broadcasts),
            accumulators: bindings(&manifest.accumulators),
            spark_files_dir: (manifest.spark_files && !spark_files_dir.is_empty())
                .then(|| PathBuf::from(spark_files_dir)),
            sql: None,
        })
    }
}

/// Decodes standard base64 (RFC 4648 alphabet, `=` padding, as Python's `b64encode`
/// writes it). Anything else, including non-canonical trailing bits, is `None`.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.chunks_exact(4);
    let last = quads.len().saturating_sub(1);
    for (i, quad) in quads.enumerate() {
        let padding = quad.iter().rev().take_while(|c| **c == b'=').count();
        if padding > 2 || (padding > 0 && i != last) {
            return None;
        }
        let mut n = 0u32;
        for c in &quad[..4 - padding] {
            n = (n << 6) | value(*c)?;
        }
        n <<= 6 * padding as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        // Bits beyond the last byte must be zero, or two texts would decode alike.
        if decoded[3 - padding..].iter().any(|b| *b != 0) {
            return None;
        }
        out.extend_from_slice(&decoded[..3 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparkwasm_abi::{FunctionDescriptor, ABI_VERSION};

    const DIGEST: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn envelope(json: &str, module: &[u8]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.push(FORMAT_VERSION);
        bytes.extend_from_slice(&u32::try_from(json.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(json.as_bytes());
        bytes.extend_from_slice(module);
        bytes
    }

    /// The word-count manifest, with `patch` applied to its JSON object.
    fn manifest(patch: serde_json::Value) -> String {
        let mut m = serde_json::json!({
            "module_digest": DIGEST,
            "input": "utf8",
            "source": {"function": "split", "side": "input"},
            "steps": [
                {"kind": "flat_map", "functions": ["split"], "arg": null},
                {"kind": "map", "functions": ["with_one"], "arg": null},
                {"kind": "fold_by_key", "functions": ["add"], "arg": 0},
            ],
            "output": {"kind": "shuffle", "partitions": 4, "partitioner": {"kind": "hash"}},
            "args": ["gARLAC4="],
            "broadcasts": {"stopwords": 3},
            "accumulators": {"lines": 0},
            "spark_files": true,
            "function_names": {"split": "flat_map", "with_one": "map", "add": "reduce"},
        });
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() && k != "source" {
                m.as_object_mut().unwrap().remove(k);
            } else {
                m[k] = v.clone();
            }
        }
        m.to_string()
    }

    fn module() -> ModuleInfo {
        let f = |name: &str, kind| FunctionDescriptor {
            abi_version: ABI_VERSION,
            name: name.into(),
            kind,
            input: "i64".into(),
            output: "i64".into(),
            sql: None,
        };
        use FunctionKind as F;
        ModuleInfo {
            digest: DIGEST.into(),
            functions: vec![
                f("split", F::FlatMap),
                f("with_one", F::Map),
                f("add", F::Reduce),
                f("by_len", F::Key),
                f("merge", F::SeqOp),
                f("part", F::Partitioner),
                f("each", F::Foreach),
            ],
        }
    }

    fn info() -> TaskInfo {
        TaskInfo {
            partition_id: 2,
            stage_id: 5,
            ..TaskInfo::default()
        }
    }

    fn request(json: &str) -> Result<TaskRequest, ManifestError> {
        let bytes = envelope(json, b"\0asm");
        let command = decode(&bytes)?;
        command.to_request(&module(), info(), "/spark/files")
    }

    fn error(json: &str) -> String {
        match request(json) {
            Ok(r) => panic!("accepted: {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn decodes_a_well_formed_command_into_a_request() {
        let json = manifest(serde_json::json!({}));
        let bytes = envelope(&json, b"\0asm-module");
        let command = decode(&bytes).unwrap();
        assert_eq!(command.module, b"\0asm-module");
        assert_eq!(command.args, vec![b"\x80\x04K\x00.".to_vec()]);
        assert_eq!(
            command.manifest.pipeline_names(),
            ["split", "with_one", "add"]
        );
        let req = command
            .to_request(&module(), info(), "/spark/files")
            .unwrap();
        assert_eq!(req.input, InputEncoding::Utf8);
        assert_eq!(req.source, Some(("split".into(), Side::Input)));
        assert_eq!(
            req.steps[2],
            TaskStep {
                kind: StepKind::FoldByKey,
                functions: vec!["add".into()],
                arg: Some(0)
            }
        );
        assert_eq!(
            req.output,
            TaskOutput::Shuffle {
                partitions: 4,
                partitioner: TaskPartitioner::Hash
            }
        );
        assert_eq!(req.args, command.args);
        assert_eq!(
            req.broadcasts,
            vec![Binding {
                name: "stopwords".into(),
                id: 3
            }]
        );
        assert_eq!(req.accumulators[0].id, 0);
        assert_eq!(req.info, info());
        assert_eq!(req.spark_files_dir, Some(PathBuf::from("/spark/files")));
    }

    #[test]
    fn every_step_kind_and_output_is_understood() {
        let steps = serde_json::json!([
            {"kind": "map", "functions": ["with_one"]},
            {"kind": "key_by", "functions": ["by_len"]},
            {"kind": "map_values", "functions": ["with_one"]},
            {"kind": "flat_map_values", "functions": ["split"]},
            {"kind": "combine_by_key", "functions": ["with_one", "merge"]},
            {"kind": "aggregate_by_key", "functions": ["merge"], "arg": 0},
            {"kind": "group_by_key", "functions": []},
            {"kind": "first_by_key"}, {"kind": "pair_with_none"}, {"kind": "keys"},
            {"kind": "values"}, {"kind": "tag", "arg": 1}, {"kind": "join", "arg": 5},
            {"kind": "count_by_key"}, {"kind": "sort_by_key", "arg": 0},
            {"kind": "reduce_all", "functions": ["add"]},
            {"kind": "fold_all", "functions": ["add"], "arg": 0},
            {"kind": "aggregate_all", "functions": ["merge"], "arg": 0},
            {"kind": "max_by", "arg": 1}, {"kind": "max_by", "functions": ["by_len"], "arg": 0},
            {"kind": "top", "arg": 21}, {"kind": "top", "functions": ["by_len"], "arg": 6},
            {"kind": "sum"}, {"kind": "foreach", "functions": ["each"]},
        ]);
        let names = serde_json::json!({
            "split": "flat_map", "with_one": "map", "add": "reduce", "by_len": "key",
            "merge": "seq_op", "each": "foreach", "part": "partitioner"});
        for output in [
            serde_json::json!({"kind": "pickle"}),
            serde_json::json!({"kind": "binary"}),
            serde_json::json!({"kind": "count"}),
            serde_json::json!({"kind": "take", "n": 10}),
            serde_json::json!({"kind": "text"}),
            serde_json::json!({"kind": "sample_keys", "fraction": 0.25, "seed": 7}),
            serde_json::json!({"kind": "shuffle", "partitions": 3,
                "partitioner": {"kind": "function", "function": "part"}}),
            serde_json::json!({"kind": "shuffle", "partitions": 3,
                "partitioner": {"kind": "range", "bounds_arg": 0, "ascending": false}}),
        ] {
            let json = manifest(serde_json::json!({
                "steps": steps, "output": output, "function_names": names,
                "source": null, "input": "utf8_pairs"}));
            let req = request(&json).unwrap_or_else(|e| panic!("{output}: {e}"));
            assert_eq!(req.steps.len(), 24);
            assert_eq!(req.source, None);
            assert_eq!(req.input, InputEncoding::Utf8Pairs);
        }
        let json = manifest(serde_json::json!({
            "steps": steps, "function_names": names, "source": null,
            "output": {"kind": "shuffle", "partitions": 3,
                "partitioner": {"kind": "function", "function": "part"}}}));
        assert_eq!(
            request(&json).unwrap().output,
            TaskOutput::Shuffle {
                partitions: 3,
                partitioner: TaskPartitioner::Function("part".into())
            }
        );
    }

    fn policy_of(settings: serde_json::Value) -> Result<ManifestPolicy, ManifestError> {
        let json = manifest(serde_json::json!({ "policy": settings }));
        decode(&envelope(&json, b"")).map(|c| c.manifest.policy)
    }

    #[test]
    fn the_job_policy_applies_within_the_ceilings() {
        let ceilings = Policy::default()
            .with_memory_bytes(256 << 20)
            .with_fuel(Some(1_000_000));
        let job = policy_of(serde_json::json!({
            "memory_mb": 64, "task_deadline_secs": 60, "call_deadline_secs": 5,
            "output_record_mb": 1, "output_batch_mb": 2, "output_task_mb": 3, "fuel": 500,
            "capture_kb": 4, "spark_files": false, "clock": "deterministic", "random": "real"
        }))
        .unwrap();
        let p = job.effective(&ceilings).unwrap();
        assert_eq!(p.memory_bytes(), 64 << 20);
        assert_eq!(p.task_deadline(), Duration::from_secs(60));
        assert_eq!(p.call_deadline(), Duration::from_secs(5));
        assert_eq!(
            (
                p.output_bytes_per_record(),
                p.output_bytes_per_batch(),
                p.output_bytes_per_task()
            ),
            (1 << 20, 2 << 20, 3 << 20)
        );
        assert_eq!(p.fuel(), Some(500));
        assert_eq!(p.captured_output_bytes(), 4 << 10);
        assert!(!p.spark_files());
        assert_eq!(
            (p.clock(), p.random()),
            (Determinism::Deterministic, Determinism::Real)
        );
        // Nothing set: the ceilings themselves.
        let none = policy_of(serde_json::json!({})).unwrap();
        assert_eq!(none.effective(&ceilings).unwrap(), ceilings);
    }

    #[test]
    fn no_job_setting_can_raise_a_ceiling() {
        let ceilings = Policy::default()
            .with_memory_bytes(256 << 20)
            .with_fuel(Some(1000))
            .with_spark_files(false)
            .with_random(Determinism::Deterministic);
        for (settings, names) in [
            (serde_json::json!({"memory_mb": 257}), "spark.sparkwasm.memoryMb = 257 MiB is above the operator's ceiling of 256 MiB (SPARKWASM_MAX_MEMORY_MB)"),
            (serde_json::json!({"fuel": 1001}), "SPARKWASM_MAX_FUEL"),
            (serde_json::json!({"task_deadline_secs": 1_000_000}), "SPARKWASM_MAX_TASK_DEADLINE_SECS"),
            (serde_json::json!({"spark_files": true}), "SPARKWASM_ALLOW_SPARK_FILES = false"),
            (serde_json::json!({"random": "real"}), "SPARKWASM_RANDOM = deterministic"),
        ] {
            let err = policy_of(settings).unwrap().effective(&ceilings).unwrap_err();
            assert!(err.contains(names), "{err}");
        }
    }

    #[test]
    fn unknown_or_mistyped_policy_settings_are_errors() {
        for settings in [
            serde_json::json!({"memory": 64}),
            serde_json::json!({"memory_mb": -1}),
            serde_json::json!({"clock": "fast"}),
            serde_json::json!({"spark_files": "yes"}),
        ] {
            let err = policy_of(settings.clone()).unwrap_err().to_string();
            assert!(
                err.starts_with("invalid sparkwasm manifest"),
                "{settings}: {err}"
            );
        }
    }

    #[test]
    fn optional_fields_default_and_spark_files_needs_the_grant() {
        let json = manifest(serde_json::json!({
            "args": null, "broadcasts": null, "accumulators": null, "spark_files": null,
            "steps": [{"kind": "map", "functions": ["with_one"]}],
            "function_names": {"split": "flat_map", "with_one": "map"}}));
        let req = request(&json).unwrap();
        assert!(req.args.is_empty() && req.broadcasts.is_empty() && req.accumulators.is_empty());
        assert_eq!(req.spark_files_dir, None);
    }

    #[test]
    fn structural_errors_name_the_step() {
        let cases = [
            (
                serde_json::json!({"steps": [{"kind": "map", "functions": []}]}),
                "step 0 (`map`) takes 1 function(s) [map], got 0",
            ),
            (
                serde_json::json!({"steps": [{"kind": "combine_by_key", "functions": ["with_one"]}]}),
                "step 0 (`combine_by_key`) takes 2 function(s) [map, seq_op]",
            ),
            (
                serde_json::json!({"steps": [{"kind": "group_by_key", "functions": ["add"]}]}),
                "step 0 (`group_by_key`) takes 0 function(s)",
            ),
            (
                serde_json::json!({"steps": [{"kind": "top", "functions": ["a", "b"], "arg": 1}]}),
                "step 0 (`top`) takes no function or one key function",
            ),
            (
                serde_json::json!({"steps": [{"kind": "fold_all", "functions": ["add"]}]}),
                "step 0 (`fold_all`) needs `arg`, the index of its zero value",
            ),
            (
                serde_json::json!({"steps": [{"kind": "fold_by_key", "functions": ["add"], "arg": 1}]}),
                "step 0 (`fold_by_key`) refers to args[1], but the manifest has 1 args",
            ),
            (
                serde_json::json!({"steps": [{"kind": "map", "functions": ["with_one"], "arg": 0}]}),
                "step 0 (`map`) takes no arg, got 0",
            ),
            (
                serde_json::json!({"steps": [{"kind": "tag"}]}),
                "step 0 (`tag`) needs `arg`: the side tag",
            ),
            (
                serde_json::json!({"steps": [{"kind": "tag", "arg": 2}]}),
                "step 0 (`tag`): `arg` is the side tag (0 or 1), got 2",
            ),
            (
                serde_json::json!({"steps": [{"kind": "join", "arg": 6}]}),
                "step 0 (`join`): `arg` is the join kind",
            ),
            (
                serde_json::json!({"steps": [{"kind": "sort_by_key"}]}),
                "step 0 (`sort_by_key`) needs `arg`",
            ),
            (
                serde_json::json!({"steps": [{"kind": "max_by", "arg": 3}]}),
                "step 0 (`max_by`): `arg` is 1 for max, 0 for min",
            ),
            (
                serde_json::json!({"steps": [{"kind": "top"}]}),
                "step 0 (`top`) needs `arg`",
            ),
            (
                serde_json::json!({"steps": [{"kind": "reduce_keys"}]}),
                "unknown variant `reduce_keys`",
            ),
            (
                serde_json::json!({"output": {"kind": "shuffle", "partitions": 0,
                    "partitioner": {"kind": "hash"}}}),
                "at least one partition",
            ),
            (
                serde_json::json!({"output": {"kind": "shuffle", "partitions": 2,
                    "partitioner": {"kind": "range", "bounds_arg": 4, "ascending": true}}}),
                "bounds_arg refers to args[4]",
            ),
            (
                serde_json::json!({"output": {"kind": "shuffle", "partitions": 2}}),
                "missing field `partitioner`",
            ),
            (
                serde_json::json!({"output": {"kind": "sample_keys", "fraction": 1.5, "seed": 1}}),
                "fraction in 0..=1, got 1.5",
            ),
            (
                serde_json::json!({"output": {"kind": "take"}}),
                "missing field `n`",
            ),
            (
                serde_json::json!({"output": {"kind": "count", "n": 1}}),
                "unknown field `n`",
            ),
            (
                serde_json::json!({"output": {"kind": "shuffle", "partitions": 2,
                    "partitioner": {"kind": "hash", "seed": 1}}}),
                "unknown field `seed`",
            ),
            (
                serde_json::json!({"output": {"kind": "parquet"}}),
                "unknown variant `parquet`",
            ),
            (
                serde_json::json!({"args": ["gARLAC4"]}),
                "args[0] is not valid standard base64",
            ),
            (
                serde_json::json!({"args": ["gA*="]}),
                "args[0] is not valid standard base64",
            ),
            (
                serde_json::json!({"broadcasts": {"b": -1}}),
                "broadcast \"b\" needs a non-empty name and an id >= 0",
            ),
            (
                serde_json::json!({"accumulators": {"": 1}}),
                "accumulator \"\" needs a non-empty name",
            ),
            (
                serde_json::json!({"module_digest": "ABC"}),
                "64 lowercase hex",
            ),
            (
                serde_json::json!({"surprise": true}),
                "unknown field `surprise`",
            ),
            (serde_json::json!({"input": "csv"}), "unknown variant `csv`"),
        ];
        for (patch, needle) in cases {
            let message = error(&manifest(patch.clone()));
            assert!(message.contains(needle), "{patch}: {message}");
        }
        // `source` must be present (null means dynamic).
        let mut m: serde_json::Value =
            serde_json::from_str(&manifest(serde_json::json!({}))).unwrap();
        m.as_object_mut().unwrap().remove("source");
        assert!(error(&m.to_string()).contains("missing field `source`"));
    }

    #[test]
    fn errors_against_the_module_name_the_function() {
        let cases = [
            (
                serde_json::json!({"function_names": {"split": "flat_map", "with_one": "map", "add": "map"}}),
                "the driver saw `add` as a map function but the module says reduce",
            ),
            (
                serde_json::json!({"steps": [{"kind": "reduce_by_key", "functions": ["with_one"]}]}),
                "step 0 (`reduce_by_key`) needs a reduce function but `with_one` is a map function",
            ),
            (
                serde_json::json!({"steps": [{"kind": "max_by", "functions": ["add"], "arg": 1}],
                    "function_names": {"split": "flat_map", "add": "reduce"}}),
                "step 0 (`max_by`) needs a key function but `add` is a reduce function",
            ),
            (
                serde_json::json!({"steps": [{"kind": "map", "functions": ["nope"]}],
                    "function_names": {"split": "flat_map", "nope": "map"}}),
                "module has no function `nope` (it has: split, with_one",
            ),
            (
                serde_json::json!({"steps": [{"kind": "key_by", "functions": ["by_len"]}]}),
                "step 0 (`key_by`) uses `by_len`, which is missing from function_names",
            ),
            (
                serde_json::json!({"source": {"function": "ghost", "side": "output"}}),
                "the source uses `ghost`, which is missing from function_names",
            ),
            (
                serde_json::json!({"output": {"kind": "shuffle", "partitions": 2,
                    "partitioner": {"kind": "function", "function": "add"}}}),
                "partitioner needs a partitioner function but `add` is a reduce function",
            ),
            (
                serde_json::json!({"output": {"kind": "shuffle", "partitions": 2,
                    "partitioner": {"kind": "function", "function": "part"}}}),
                "the partitioner uses `part`, which is missing from function_names",
            ),
        ];
        for (patch, needle) in cases {
            let message = error(&manifest(patch.clone()));
            assert!(message.contains(needle), "{patch}: {message}");
        }
    }

    #[test]
    fn refuses_a_pickled_python_function_and_other_versions() {
        assert!(matches!(
            decode(b"\x80\x05\x95"),
            Err(ManifestError::NotSparkwasm)
        ));
        for version in [1, 4, 9] {
            let mut bytes = envelope(&manifest(serde_json::json!({})), b"");
            bytes[6] = version;
            let err = decode(&bytes).unwrap_err();
            assert!(matches!(err, ManifestError::UnsupportedVersion { found } if found == version));
            assert!(
                err.to_string()
                    .contains("reads version 2 for RDD functions"),
                "{err}"
            );
        }
    }

    #[test]
    fn refuses_truncated_envelopes_at_every_length() {
        let bytes = envelope(&manifest(serde_json::json!({})), b"");
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn base64_is_strict_and_round_trips_python_output() {
        // Python: base64.b64encode(b"") / b"f" / b"fo" / b"foo" / b"foob" / bytes(range(256))
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("Zm9vYg==").unwrap(), b"foob");
        assert_eq!(base64_decode("+/8=").unwrap(), [0xfb, 0xff]);
        for bad in [
            "Zg", "Zg=", "Z===", "Zh==", "Zg==Zg==", "Zm9v\n", "Zm-v", "Zm_v",
        ] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
    }
}
