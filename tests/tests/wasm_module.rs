//! What a host sees in the built example guests without running them: the
//! `sparkwasm.functions` descriptor section, the exports and the imports, with their wasm
//! signatures. The guests are built from source by this crate's `build.rs`.

use std::collections::BTreeMap;

use sparkwasm_abi::{split_descriptor_section, FunctionDescriptor, FunctionKind, ABI_VERSION};
use wasmparser::{Parser, Payload, TypeRef};

/// What a host reads from a module's metadata.
struct Module {
    descriptors: Vec<FunctionDescriptor>,
    /// `module::name` → signature, in the text format (`(func (param i32) (result i32))`).
    imports: BTreeMap<String, String>,
    /// name → signature (`memory` for the memory).
    exports: BTreeMap<String, String>,
}

fn inspect(path: &str) -> Module {
    let bytes = sparkwasm_tests::module_bytes(path);
    let mut types = Vec::new();
    let mut functions = Vec::new(); // type index of every function, imports first
    let mut descriptors = None;
    let mut imports = BTreeMap::new();
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(&bytes) {
        match payload.expect("valid module") {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    types.push(ty.expect("func type"));
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.expect("import");
                    let TypeRef::Func(ty) = import.ty else {
                        panic!("unexpected non-function import {}", import.name)
                    };
                    functions.push(ty);
                    imports.insert(format!("{}::{}", import.module, import.name), ty);
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    functions.push(ty.expect("function"));
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.expect("export");
                    exports.push((export.name.to_owned(), export.kind, export.index));
                }
            }
            Payload::CustomSection(reader)
                if reader.name() == sparkwasm_abi::DESCRIPTOR_SECTION =>
            {
                assert!(descriptors.is_none(), "one descriptor section");
                let entries = split_descriptor_section(reader.data()).expect("entries add up");
                descriptors = Some(
                    entries
                        .into_iter()
                        .map(|entry| serde_json::from_slice(entry).expect("descriptor JSON"))
                        .collect::<Vec<FunctionDescriptor>>(),
                );
            }
            _ => {}
        }
    }
    let signature = |ty: u32| types[usize::try_from(ty).unwrap()].to_string();
    let exports = exports
        .into_iter()
        .map(|(name, kind, index)| {
            let signature = match kind {
                wasmparser::ExternalKind::Func => {
                    signature(functions[usize::try_from(index).unwrap()])
                }
                other => format!("{other:?}").to_lowercase(),
            };
            (name, signature)
        })
        .collect();
    let imports = imports
        .into_iter()
        .map(|(name, ty)| (name, signature(ty)))
        .collect();
    let mut descriptors = descriptors.expect("a sparkwasm.functions section");
    descriptors.sort_by(|a, b| a.name.cmp(&b.name));
    Module {
        descriptors,
        imports,
        exports,
    }
}

fn descriptor(name: &str, kind: FunctionKind, input: &str, output: &str) -> FunctionDescriptor {
    FunctionDescriptor {
        abi_version: ABI_VERSION,
        name: name.into(),
        kind,
        input: input.into(),
        output: output.into(),
        sql: None,
    }
}

#[test]
fn wordcount_carries_its_descriptors() {
    let module = inspect(sparkwasm_tests::WORDCOUNT);
    assert_eq!(
        module.descriptors,
        vec![
            descriptor("add", FunctionKind::Reduce, "i64", "i64"),
            descriptor("is_long", FunctionKind::Filter, "String", "String"),
            descriptor("split_words", FunctionKind::FlatMap, "String", "String"),
            descriptor("with_one", FunctionKind::Map, "String", "(String,i64)"),
        ]
    );
}

#[test]
fn wordcount_exports_and_imports_are_the_abi() {
    let module = inspect(sparkwasm_tests::WORDCOUNT);
    println!(
        "exports: {:#?}\nimports: {:#?}",
        module.exports, module.imports
    );
    let expected_exports: BTreeMap<String, String> = [
        ("memory", "memory"),
        ("sparkwasm_abi_version", "(func (result i32))"),
        ("sparkwasm_alloc", "(func (param i32) (result i32))"),
        ("sparkwasm_run_task", "(func (param i32 i32) (result i32))"),
        ("sparkwasm_fn_add", "(func (result i32))"),
        ("sparkwasm_fn_is_long", "(func (result i32))"),
        ("sparkwasm_fn_split_words", "(func (result i32))"),
        ("sparkwasm_fn_with_one", "(func (result i32))"),
    ]
    .into_iter()
    .map(|(name, sig)| (name.to_owned(), sig.to_owned()))
    .collect();
    // `_initialize` is optional in the ABI; nothing else may be exported.
    let mut exports = module.exports.clone();
    exports.remove("_initialize");
    assert_eq!(exports, expected_exports);

    let sparkwasm_imports: BTreeMap<&str, &str> = module
        .imports
        .iter()
        .filter(|(name, _)| name.starts_with("sparkwasm::"))
        .map(|(name, sig)| (name.as_str(), sig.as_str()))
        .collect();
    // The data path is always imported; broadcasts and accumulators only if the SDK links
    // them in, but then with exactly the ABI's signatures.
    let abi = BTreeMap::from([
        (
            "sparkwasm::input_next",
            "(func (param i32 i32) (result i64))",
        ),
        (
            "sparkwasm::output_write",
            "(func (param i32 i32) (result i32))",
        ),
        ("sparkwasm::report_error", "(func (param i32 i32))"),
        (
            "sparkwasm::broadcast_read",
            "(func (param i64 i32 i32) (result i64))",
        ),
        (
            "sparkwasm::accumulator_update",
            "(func (param i32 i32) (result i32))",
        ),
    ]);
    for required in [
        "sparkwasm::input_next",
        "sparkwasm::output_write",
        "sparkwasm::report_error",
    ] {
        assert!(
            sparkwasm_imports.contains_key(required),
            "{required} missing"
        );
    }
    for (name, signature) in &sparkwasm_imports {
        assert_eq!(abi.get(name), Some(signature), "import {name}");
    }
    for name in module.imports.keys() {
        assert!(
            name.starts_with("sparkwasm::") || name.starts_with("wasi_snapshot_preview1::"),
            "unexpected import {name}"
        );
    }
}

#[test]
fn typed_guest_carries_its_descriptors() {
    let module = inspect(sparkwasm_tests::TYPED_GUEST);
    let by_name: BTreeMap<&str, (FunctionKind, &str, &str)> = module
        .descriptors
        .iter()
        .map(|d| {
            (
                d.name.as_str(),
                (d.kind, d.input.as_str(), d.output.as_str()),
            )
        })
        .collect();
    use FunctionKind::*;
    let expected = BTreeMap::from([
        ("add_i64", (Reduce, "i64", "i64")),
        ("explode", (Map, "i64", "i64")),
        ("half", (Map, "f64", "f64")),
        ("is_multiple_of_four", (Filter, "i64", "i64")),
        ("maybe_len", (Map, "Option<String>", "Option<i64>")),
        ("negate", (Map, "bool", "bool")),
        ("pair_sum", (Map, "(i64,i64)", "i64")),
        ("range_to", (FlatMap, "i64", "i64")),
        ("running_sum", (MapPartitions, "i64", "i64")),
        ("small_double", (Map, "u8", "u8")),
        ("swap", (Map, "(String,i64)", "(i64,String)")),
        ("triple_plus_one", (Map, "i64", "i64")),
        ("upper", (Map, "String", "String")),
        ("word_len", (Map, "String", "(String,i64)")),
        ("add_broadcast_offset", (Map, "i64", "i64")),
        ("count_into_acc", (Foreach, "i64", "()")),
    ]);
    // The fixture keeps every v1 function and gains v2 ones; new additions must not break
    // this test, but none of these may change.
    for (name, descriptor) in &expected {
        assert_eq!(by_name.get(name), Some(descriptor), "{name}");
    }
    for d in &module.descriptors {
        let export = sparkwasm_abi::function_export_name(&d.name);
        assert_eq!(
            module.exports.get(&export).map(String::as_str),
            Some("(func (result i32))")
        );
    }
}
