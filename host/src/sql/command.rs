//! The command of one Spark SQL function, as the driver writes it (format version 3 of the
//! `SPWASM` envelope, `crate::manifest`):
//!
//! ```text
//! b"SPWASM" | u8 3 | u32 BE manifest length | manifest JSON | module bytes
//! {"module_digest": "<sha256 hex>", "function": "str_len", "kind": "udf",
//!  "args": ["string"], "returns": "int", "policy": {...}}
//! ```
//!
//! The types are Spark's simple strings, as the function's descriptor declares them; the
//! worker checks both against the module before running anything.

use serde::Deserialize;
use sparkwasm_abi::columnar::SqlType;
use sparkwasm_abi::{FunctionKind, SqlSignature};

use crate::manifest::{
    check_digest, split_envelope, ManifestError, ManifestPolicy, SQL_FORMAT_VERSION,
};

/// What a SQL function command says.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct SqlManifest {
    /// Lowercase hex SHA-256 of the module bytes.
    pub(crate) module_digest: String,
    /// The function's name in the module.
    pub(crate) function: String,
    /// `udf` or `udaf`.
    pub(crate) kind: FunctionKind,
    /// Argument types, as Spark simple strings.
    pub(crate) args: Vec<String>,
    /// Result type, as a Spark simple string.
    pub(crate) returns: String,
    /// The job's sandbox settings.
    #[serde(default)]
    pub(crate) policy: ManifestPolicy,
}

/// A decoded SQL function command.
#[derive(Debug)]
pub(crate) struct SqlCommand<'a> {
    /// The manifest.
    pub(crate) manifest: SqlManifest,
    /// The argument types, parsed.
    pub(crate) args: Vec<SqlType>,
    /// The result type, parsed.
    pub(crate) returns: SqlType,
    /// The module bytes.
    pub(crate) module: &'a [u8],
}

/// Decodes a SQL function command.
pub(crate) fn decode(command: &[u8]) -> Result<SqlCommand<'_>, ManifestError> {
    let (version, json, module) = split_envelope(command)?;
    if version != SQL_FORMAT_VERSION {
        return Err(ManifestError::Invalid(format!(
            "a Spark SQL function needs a SQL command (format {SQL_FORMAT_VERSION}), this one \
             has format {version}; build SQL functions with the driver's udf()/udaf()"
        )));
    }
    let manifest: SqlManifest =
        serde_json::from_slice(json).map_err(|e| ManifestError::Invalid(e.to_string()))?;
    check_digest(&manifest.module_digest)?;
    if !matches!(manifest.kind, FunctionKind::Udf | FunctionKind::Udaf) {
        return Err(ManifestError::Invalid(format!(
            "a SQL command names `{}`, a {} function; SQL commands run udf and udaf functions",
            manifest.function,
            manifest.kind.as_str()
        )));
    }
    let parse =
        |text: &str| SqlType::parse(text).map_err(|e| ManifestError::Invalid(e.to_string()));
    let args = manifest
        .args
        .iter()
        .map(|a| parse(a))
        .collect::<Result<_, _>>()?;
    let returns = parse(&manifest.returns)?;
    Ok(SqlCommand {
        manifest,
        args,
        returns,
        module,
    })
}

impl SqlCommand<'_> {
    /// Checks the command against the function's descriptor: kind and types as declared.
    pub(crate) fn check_against(
        &self,
        kind: FunctionKind,
        signature: Option<&SqlSignature>,
    ) -> Result<(), String> {
        let name = &self.manifest.function;
        if kind != self.manifest.kind {
            return Err(format!(
                "`{name}` is a {} function, the command runs it as a {}",
                kind.as_str(),
                self.manifest.kind.as_str()
            ));
        }
        let Some(signature) = signature else {
            return Err(format!("`{name}` declares no SQL signature"));
        };
        let declared = |text: &str| SqlType::parse(text).map_err(|e| format!("`{name}`: {e}"));
        let args = signature
            .args
            .iter()
            .map(|a| declared(a))
            .collect::<Result<Vec<_>, _>>()?;
        let returns = declared(&signature.returns)?;
        if args != self.args || returns != self.returns {
            return Err(format!(
                "the command runs `{name}` as ({}) -> {}, the module declares ({}) -> {}",
                join(&self.args),
                self.returns,
                join(&args),
                returns
            ));
        }
        Ok(())
    }
}

fn join(types: &[SqlType]) -> String {
    types
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(json: &str) -> Vec<u8> {
        let mut bytes = b"SPWASM".to_vec();
        bytes.push(SQL_FORMAT_VERSION);
        bytes.extend_from_slice(&(json.len() as u32).to_be_bytes());
        bytes.extend_from_slice(json.as_bytes());
        bytes.extend_from_slice(b"\0asm");
        bytes
    }

    const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_sql_command_decodes_with_its_types() {
        let bytes = command(&format!(
            r#"{{"module_digest":"{DIGEST}","function":"ratio","kind":"udf","args":["double","DOUBLE"],"returns":"double","policy":{{}}}}"#
        ));
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.args, vec![SqlType::Double, SqlType::Double]);
        assert_eq!(decoded.returns, SqlType::Double);
        assert_eq!(decoded.module, b"\0asm");
        let signature = SqlSignature {
            args: vec!["double".into(), "double".into()],
            nullable_args: vec![true, true],
            returns: "double".into(),
            returns_nullable: true,
            nulls: sparkwasm_abi::NullPolicy::Skip,
        };
        decoded
            .check_against(FunctionKind::Udf, Some(&signature))
            .unwrap();
        let error = decoded
            .check_against(FunctionKind::Udaf, Some(&signature))
            .unwrap_err();
        assert!(error.contains("is a udaf function"), "{error}");
        let narrower = SqlSignature {
            returns: "float".into(),
            ..signature
        };
        let error = decoded
            .check_against(FunctionKind::Udf, Some(&narrower))
            .unwrap_err();
        assert!(error.contains("(double, double) -> float"), "{error}");
    }

    #[test]
    fn bad_sql_commands_are_refused_with_the_reason() {
        let rdd_kind = command(&format!(
            r#"{{"module_digest":"{DIGEST}","function":"f","kind":"map","args":[],"returns":"int"}}"#
        ));
        assert!(decode(&rdd_kind)
            .unwrap_err()
            .to_string()
            .contains("a map function"));
        let bad_type = command(&format!(
            r#"{{"module_digest":"{DIGEST}","function":"f","kind":"udf","args":["map<int,int>"],"returns":"int"}}"#
        ));
        assert!(decode(&bad_type)
            .unwrap_err()
            .to_string()
            .contains("supported:"));
        let unknown_field = command(&format!(
            r#"{{"module_digest":"{DIGEST}","function":"f","kind":"udf","args":[],"returns":"int","extra":1}}"#
        ));
        assert!(decode(&unknown_field)
            .unwrap_err()
            .to_string()
            .contains("unknown field"));
        let mut rdd_format = command("{}");
        rdd_format[6] = 2;
        assert!(decode(&rdd_format)
            .unwrap_err()
            .to_string()
            .contains("has format 2"));
    }
}
