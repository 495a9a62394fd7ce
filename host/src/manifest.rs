//! The command the driver puts in a `SimplePythonFunction`: a versioned envelope holding a
//! JSON manifest (what to run) and the module bytes (what to run it with).
//!
//! ```text
//! b"SPWASM" | u8 format version (1) | u32 BE manifest length | manifest JSON | module bytes
//! ```
//!
//! The manifest is validated strictly: unknown fields, an unknown format version or a step
//! whose function has the wrong kind are errors, never ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use sparkwasm_abi::{FunctionKind, InputEncoding, OutputSpec, Side, StepKind};
use sparkwasm_runtime::{ModuleInfo, TaskRequest, TaskStep};

/// The envelope's magic bytes.
pub const MAGIC: &[u8; 6] = b"SPWASM";
/// The envelope format this worker understands.
pub const FORMAT_VERSION: u8 = 1;

/// A decoded command: the manifest and the module bytes it travels with.
#[derive(Debug)]
pub struct Command<'a> {
    /// What to run.
    pub manifest: Manifest,
    /// The module's bytes (checked against `manifest.module_digest` by the runtime).
    pub module: &'a [u8],
}

/// Why a command could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not a sparkwasm command at all (for example a pickled Python function).
    #[error("the command is not a sparkwasm command (no SPWASM header); was this RDD built with the sparkwasm driver package?")]
    NotSparkwasm,
    /// A format version this worker does not know.
    #[error("sparkwasm command format version {found} is not supported by this worker (supports {FORMAT_VERSION}); use matching driver and worker versions")]
    UnsupportedVersion {
        /// The version found.
        found: u8,
    },
    /// The envelope is cut short or its length field is wrong.
    #[error("the sparkwasm command is truncated: {0}")]
    Truncated(&'static str),
    /// The manifest JSON does not parse or has unknown fields.
    #[error("invalid sparkwasm manifest: {0}")]
    Invalid(String),
}

/// What to run, as the driver wrote it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Lowercase hex SHA-256 of the module bytes.
    pub module_digest: String,
    /// Encoding of the input records.
    pub input: ManifestInput,
    /// The function whose element type the input records have.
    pub source: ManifestSource,
    /// Steps, in order.
    pub steps: Vec<ManifestStep>,
    /// What to write.
    pub output: ManifestOutput,
    /// Every function the manifest mentions, with the kind the driver saw in the descriptor.
    pub function_names: BTreeMap<String, ManifestKind>,
}

/// Input encodings, as spelled in the manifest.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ManifestInput {
    PickleBatch,
    PickleItem,
    Utf8,
    Binary,
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
    pub kind: ManifestStepKind,
    /// The function it applies.
    pub function: String,
}

/// Step kinds, as spelled in the manifest.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ManifestStepKind {
    Map,
    FlatMap,
    Filter,
    MapPartitions,
    ReduceByKey,
}

/// Function kinds, as spelled in the manifest.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ManifestKind {
    Map,
    FlatMap,
    Filter,
    MapPartitions,
    Reduce,
}

/// Output, as spelled in the manifest.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ManifestOutput {
    /// Pickled lists, for Python.
    Pickle,
    /// sparkwasm binary batches, for a later WASM stage.
    Binary,
    /// Map side of a shuffle.
    Shuffle {
        /// Number of reduce partitions (at least 1).
        partitions: u32,
    },
}

/// Decodes the command envelope and its manifest.
pub fn decode(command: &[u8]) -> Result<Command<'_>, ManifestError> {
    let rest = command
        .strip_prefix(MAGIC.as_slice())
        .ok_or(ManifestError::NotSparkwasm)?;
    let (&version, rest) = rest
        .split_first()
        .ok_or(ManifestError::Truncated("missing format version"))?;
    if version != FORMAT_VERSION {
        return Err(ManifestError::UnsupportedVersion { found: version });
    }
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
    let manifest: Manifest =
        serde_json::from_slice(json).map_err(|e| ManifestError::Invalid(e.to_string()))?;
    if let ManifestOutput::Shuffle { partitions: 0 } = manifest.output {
        return Err(ManifestError::Invalid(
            "a shuffle needs at least one partition".into(),
        ));
    }
    if manifest.module_digest.len() != 64
        || !manifest
            .module_digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ManifestError::Invalid(format!(
            "module_digest must be 64 lowercase hex characters, got {:?}",
            manifest.module_digest
        )));
    }
    Ok(Command { manifest, module })
}

impl ManifestKind {
    fn abi(self) -> FunctionKind {
        match self {
            ManifestKind::Map => FunctionKind::Map,
            ManifestKind::FlatMap => FunctionKind::FlatMap,
            ManifestKind::Filter => FunctionKind::Filter,
            ManifestKind::MapPartitions => FunctionKind::MapPartitions,
            ManifestKind::Reduce => FunctionKind::Reduce,
        }
    }
}

impl ManifestStepKind {
    fn abi(self) -> StepKind {
        match self {
            ManifestStepKind::Map => StepKind::Map,
            ManifestStepKind::FlatMap => StepKind::FlatMap,
            ManifestStepKind::Filter => StepKind::Filter,
            ManifestStepKind::MapPartitions => StepKind::MapPartitions,
            ManifestStepKind::ReduceByKey => StepKind::ReduceByKey,
        }
    }

    /// The function kind a step of this kind needs.
    fn needs(self) -> FunctionKind {
        match self {
            ManifestStepKind::Map => FunctionKind::Map,
            ManifestStepKind::FlatMap => FunctionKind::FlatMap,
            ManifestStepKind::Filter => FunctionKind::Filter,
            ManifestStepKind::MapPartitions => FunctionKind::MapPartitions,
            ManifestStepKind::ReduceByKey => FunctionKind::Reduce,
        }
    }
}

impl Manifest {
    /// Checks the manifest against the module's descriptors and turns it into the runtime's
    /// task request for `partition`.
    pub fn to_request(
        &self,
        module: &ModuleInfo,
        partition: i32,
    ) -> Result<TaskRequest, ManifestError> {
        let describe = |name: &str| {
            module.function(name).ok_or_else(|| {
                let known: Vec<&str> = module.functions.iter().map(|f| f.name.as_str()).collect();
                ManifestError::Invalid(format!(
                    "module has no function `{name}` (it has: {})",
                    known.join(", ")
                ))
            })
        };
        for (name, kind) in &self.function_names {
            let actual = describe(name)?.kind;
            if actual != kind.abi() {
                return Err(ManifestError::Invalid(format!(
                    "the driver saw `{name}` as a {} function but the module says {}",
                    kind.abi().as_str(),
                    actual.as_str()
                )));
            }
        }
        describe(&self.source.function)?;
        let mut steps = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            let actual = describe(&step.function)?.kind;
            if actual != step.kind.needs() {
                return Err(ManifestError::Invalid(format!(
                    "step {:?} needs a {} function but `{}` is a {} function",
                    step.kind,
                    step.kind.needs().as_str(),
                    step.function,
                    actual.as_str()
                )));
            }
            steps.push(TaskStep {
                kind: step.kind.abi(),
                function: step.function.clone(),
            });
        }
        Ok(TaskRequest {
            partition,
            input: match self.input {
                ManifestInput::PickleBatch => InputEncoding::PickleBatch,
                ManifestInput::PickleItem => InputEncoding::PickleItem,
                ManifestInput::Utf8 => InputEncoding::Utf8,
                ManifestInput::Binary => InputEncoding::Binary,
            },
            source: (
                self.source.function.clone(),
                match self.source.side {
                    ManifestSide::Input => Side::Input,
                    ManifestSide::Output => Side::Output,
                },
            ),
            steps,
            output: match self.output {
                ManifestOutput::Pickle => OutputSpec::Pickle,
                ManifestOutput::Binary => OutputSpec::Binary,
                ManifestOutput::Shuffle { partitions } => OutputSpec::Shuffle { partitions },
            },
        })
    }

    /// The names of the functions the pipeline applies, in order, for error messages.
    pub fn pipeline_names(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.function.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn envelope(json: &str, module: &[u8]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.push(FORMAT_VERSION);
        bytes.extend_from_slice(&u32::try_from(json.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(json.as_bytes());
        bytes.extend_from_slice(module);
        bytes
    }

    fn manifest_json(extra: &str) -> String {
        format!(
            r#"{{"module_digest":"{DIGEST}","input":"utf8","source":{{"function":"split","side":"input"}},
            "steps":[{{"kind":"flat_map","function":"split"}},{{"kind":"reduce_by_key","function":"add"}}],
            "output":{{"kind":"shuffle","partitions":4}},"function_names":{{"split":"flat_map","add":"reduce"}}{extra}}}"#
        )
    }

    #[test]
    fn decodes_a_well_formed_command() {
        let bytes = envelope(&manifest_json(""), b"\0asm-module");
        let command = decode(&bytes).unwrap();
        assert_eq!(command.module, b"\0asm-module");
        assert_eq!(command.manifest.input, ManifestInput::Utf8);
        assert_eq!(
            command.manifest.output,
            ManifestOutput::Shuffle { partitions: 4 }
        );
        assert_eq!(command.manifest.pipeline_names(), vec!["split", "add"]);
    }

    #[test]
    fn refuses_unknown_fields() {
        let bytes = envelope(&manifest_json(r#","surprise":true"#), b"");
        assert!(matches!(decode(&bytes), Err(ManifestError::Invalid(m)) if m.contains("surprise")));
    }

    #[test]
    fn refuses_a_pickled_python_function_and_other_versions() {
        assert!(matches!(
            decode(b"\x80\x05\x95"),
            Err(ManifestError::NotSparkwasm)
        ));
        let mut bytes = envelope(&manifest_json(""), b"");
        bytes[6] = 9;
        assert!(matches!(
            decode(&bytes),
            Err(ManifestError::UnsupportedVersion { found: 9 })
        ));
    }

    #[test]
    fn refuses_truncated_envelopes_at_every_length() {
        let bytes = envelope(&manifest_json(""), b"");
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
