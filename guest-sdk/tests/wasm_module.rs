//! Builds the example guests for `wasm32-wasip1` and checks what a host sees in the module
//! without running it: the `sparkwasm.functions` descriptor section, the exports and the
//! imports, with their wasm signatures.
//!
//! The guests are built from source by a nested `cargo build` into a target directory of its
//! own (beside this test's), so it never waits on the lock of the build running this test.
//! The first run compiles the guests' dependencies for wasm32 (a minute or two); later runs
//! reuse them. Needs the `wasm32-wasip1` target (`rustup target add wasm32-wasip1`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sparkwasm_abi::{split_descriptor_section, FunctionDescriptor, FunctionKind, ABI_VERSION};
use wasmparser::{Parser, Payload, TypeRef};

/// Builds both guest crates once per test run; returns the directory holding the `.wasm`s.
fn guest_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // current_exe is <target>/<profile>/deps/<test binary>.
        let exe = std::env::current_exe().expect("test binary path");
        let target = exe
            .ancestors()
            .nth(3)
            .expect("target directory")
            .to_path_buf();
        let target = target.join("sparkwasm-guest-wasm");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(workspace)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip1",
                "-p",
                "wordcount",
            ])
            .args(["-p", "typed-guest", "--target-dir"])
            .arg(&target)
            .status()
            .expect("run cargo");
        assert!(
            status.success(),
            "building the guests for wasm32-wasip1 failed"
        );
        target.join("wasm32-wasip1").join("release")
    })
}

/// What a host reads from a module's metadata.
struct Module {
    descriptors: Vec<FunctionDescriptor>,
    /// `module::name` → signature, in the text format (`(func (param i32) (result i32))`).
    imports: BTreeMap<String, String>,
    /// name → signature (`memory` for the memory).
    exports: BTreeMap<String, String>,
}

fn inspect(file: &str) -> Module {
    let bytes = std::fs::read(guest_dir().join(file)).expect("read the built module");
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
    }
}

#[test]
fn wordcount_carries_its_descriptors() {
    let module = inspect("wordcount.wasm");
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
    let module = inspect("wordcount.wasm");
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
    assert_eq!(
        sparkwasm_imports,
        BTreeMap::from([
            (
                "sparkwasm::input_next",
                "(func (param i32 i32) (result i64))"
            ),
            (
                "sparkwasm::output_write",
                "(func (param i32 i32) (result i32))"
            ),
            ("sparkwasm::report_error", "(func (param i32 i32))"),
        ])
    );
    for name in module.imports.keys() {
        assert!(
            name.starts_with("sparkwasm::") || name.starts_with("wasi_snapshot_preview1::"),
            "unexpected import {name}"
        );
    }
}

#[test]
fn typed_guest_carries_its_descriptors() {
    let module = inspect("typed_guest.wasm");
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
    ]);
    assert_eq!(by_name, expected);
    for d in &module.descriptors {
        let export = sparkwasm_abi::function_export_name(&d.name);
        assert_eq!(
            module.exports.get(&export).map(String::as_str),
            Some("(func (result i32))")
        );
    }
}
