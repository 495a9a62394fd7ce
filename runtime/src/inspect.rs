//! Reading what a module says about itself without running it: its SHA-256 digest, its
//! function descriptors (custom section) and whether it has the exports the ABI requires.

use sha2::{Digest, Sha256};
use sparkwasm_abi::{
    FunctionDescriptor, ABI_VERSION, DESCRIPTOR_SECTION, EXPORT_ABI_VERSION, EXPORT_ALLOC,
    EXPORT_MEMORY, EXPORT_RUN_TASK,
};
use wasmparser::{Parser, Payload};

use crate::error::{Error, ErrorKind};

/// The lowercase hex SHA-256 of `bytes`: how modules are identified everywhere.
pub fn digest_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What a module declares, read statically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleInfo {
    /// Lowercase hex SHA-256 of the module bytes.
    pub digest: String,
    /// The functions the module exports for Spark, in declaration order.
    pub functions: Vec<FunctionDescriptor>,
}

impl ModuleInfo {
    /// The descriptor of `name`, if the module has such a function.
    pub fn function(&self, name: &str) -> Option<&FunctionDescriptor> {
        self.functions.iter().find(|f| f.name == name)
    }
}

/// Parses the module's descriptor section and export section and checks them against the
/// ABI. Does not compile the code.
pub fn inspect(bytes: &[u8]) -> Result<ModuleInfo, Error> {
    let invalid = |message: String| Error::new(ErrorKind::InvalidModule, message);
    if !bytes.starts_with(b"\0asm") {
        return Err(invalid(
            "not a WebAssembly module (missing \\0asm magic)".into(),
        ));
    }
    let mut descriptor_sections = Vec::new();
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| invalid(format!("malformed module: {e}")))?;
        match payload {
            Payload::Version {
                encoding: wasmparser::Encoding::Component,
                ..
            } => {
                return Err(invalid(
                    "this is a WebAssembly component; sparkwasm runs core modules built for \
                     wasm32-wasip1"
                        .into(),
                ))
            }
            Payload::CustomSection(section) if section.name() == DESCRIPTOR_SECTION => {
                descriptor_sections.push(section.data().to_vec());
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|e| invalid(format!("malformed exports: {e}")))?;
                    exports.push(export.name.to_owned());
                }
            }
            _ => {}
        }
    }
    if descriptor_sections.is_empty() {
        return Err(invalid(format!(
            "no `{DESCRIPTOR_SECTION}` custom section: the module was not built with the \
             sparkwasm guest SDK"
        )));
    }
    let mut functions: Vec<FunctionDescriptor> = Vec::new();
    for section in &descriptor_sections {
        let entries = sparkwasm_abi::split_descriptor_section(section)
            .ok_or_else(|| invalid(format!("`{DESCRIPTOR_SECTION}` section is truncated")))?;
        for entry in entries {
            let descriptor: FunctionDescriptor = serde_json::from_slice(entry)
                .map_err(|e| invalid(format!("bad function descriptor: {e}")))?;
            if descriptor.abi_version != ABI_VERSION {
                return Err(Error::new(
                    ErrorKind::AbiVersion,
                    format!(
                        "function `{}` was built against sparkwasm ABI version {}, this worker \
                         speaks version {ABI_VERSION}; rebuild the module with a matching SDK",
                        descriptor.name, descriptor.abi_version
                    ),
                ));
            }
            if functions.iter().any(|f| f.name == descriptor.name) {
                return Err(invalid(format!(
                    "function `{}` is described twice",
                    descriptor.name
                )));
            }
            functions.push(descriptor);
        }
    }
    for required in [
        EXPORT_MEMORY,
        EXPORT_ALLOC,
        EXPORT_RUN_TASK,
        EXPORT_ABI_VERSION,
    ] {
        if !exports.iter().any(|e| e == required) {
            return Err(invalid(format!("missing required export `{required}`")));
        }
    }
    for function in &functions {
        let export = sparkwasm_abi::function_export_name(&function.name);
        if !exports.contains(&export) {
            return Err(invalid(format!(
                "function `{}` is described but its export `{export}` is missing",
                function.name
            )));
        }
    }
    Ok(ModuleInfo {
        digest: digest_hex(bytes),
        functions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_with(descriptors: &[&str], exports: &[&str]) -> Vec<u8> {
        let mut section = Vec::new();
        for d in descriptors {
            section.extend_from_slice(&u32::try_from(d.len()).unwrap().to_le_bytes());
            section.extend_from_slice(d.as_bytes());
        }
        let funcs: String = exports
            .iter()
            .filter(|e| **e != "memory")
            .map(|e| format!("(func (export \"{e}\") (result i32) i32.const 0)"))
            .collect();
        let wat = format!("(module (memory (export \"memory\") 1) {funcs})");
        let mut bytes = wat::parse_str(wat).unwrap();
        // Append a custom section: id 0, size, name, data.
        let name = DESCRIPTOR_SECTION.as_bytes();
        let mut payload = vec![u8::try_from(name.len()).unwrap()];
        payload.extend_from_slice(name);
        payload.extend_from_slice(&section);
        bytes.push(0);
        let mut len = payload.len();
        loop {
            let byte = u8::try_from(len & 0x7f).unwrap();
            len >>= 7;
            bytes.push(if len == 0 { byte } else { byte | 0x80 });
            if len == 0 {
                break;
            }
        }
        bytes.extend_from_slice(&payload);
        bytes
    }

    const REQUIRED: [&str; 4] = [
        "memory",
        "sparkwasm_alloc",
        "sparkwasm_run_task",
        "sparkwasm_abi_version",
    ];

    fn descriptor(name: &str, abi: u32) -> String {
        format!(
            r#"{{"abi_version":{abi},"name":"{name}","kind":"map","input":"i64","output":"i64"}}"#
        )
    }

    #[test]
    fn reads_descriptors_of_a_well_formed_module() {
        let mut exports = REQUIRED.to_vec();
        exports.push("sparkwasm_fn_double");
        let info = inspect(&module_with(
            &[&descriptor("double", ABI_VERSION)],
            &exports,
        ))
        .unwrap();
        assert_eq!(info.functions.len(), 1);
        assert_eq!(info.function("double").unwrap().input, "i64");
        assert_eq!(info.digest.len(), 64);
    }

    #[test]
    fn refuses_bytes_that_are_not_wasm() {
        let err = inspect(b"#!/bin/sh\necho hi\n").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidModule);
    }

    #[test]
    fn refuses_a_module_without_descriptors() {
        let bytes = wat::parse_str("(module)").unwrap();
        assert_eq!(
            inspect(&bytes).unwrap_err().kind(),
            ErrorKind::InvalidModule
        );
    }

    #[test]
    fn refuses_another_abi_version() {
        let mut exports = REQUIRED.to_vec();
        exports.push("sparkwasm_fn_double");
        let bytes = module_with(&[&descriptor("double", 99)], &exports);
        assert_eq!(inspect(&bytes).unwrap_err().kind(), ErrorKind::AbiVersion);
    }

    #[test]
    fn refuses_a_described_function_without_its_export() {
        let bytes = module_with(&[&descriptor("double", ABI_VERSION)], &REQUIRED);
        let err = inspect(&bytes).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidModule);
        assert!(err.message().contains("sparkwasm_fn_double"), "{err}");
    }

    #[test]
    fn digest_is_sha256() {
        assert_eq!(
            digest_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
