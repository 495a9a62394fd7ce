//! Builds the guest fixtures (the typed, hostile and SQL test guests and the word-count example)
//! from source for wasm32-wasip1, so tests never depend on a stale or committed `.wasm`. They
//! are built in their own target directory: the outer cargo holds the lock on the main one.

use std::path::PathBuf;
use std::process::Command;

const GUESTS: &[(&str, &str)] = &[
    ("typed-guest", "typed_guest"),
    ("hostile-guest", "hostile_guest"),
    ("sql_guest", "sql_guest"),
    ("wordcount", "wordcount"),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .expect("tests/ lives in the workspace root")
        .to_path_buf();
    let target_dir = workspace.join("target").join("guest-fixtures");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args(["build", "--release", "--target", "wasm32-wasip1"])
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _) in GUESTS {
        command.args(["-p", package]);
    }
    // Don't let the outer build's settings (for the host target) leak into the guest build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        command.env_remove(var);
    }
    let status = command
        .status()
        .expect("running cargo to build the guest fixtures");
    assert!(
        status.success(),
        "building the guest fixtures failed (is the wasm32-wasip1 target installed?)"
    );

    for (_, artifact) in GUESTS {
        let path = target_dir
            .join("wasm32-wasip1")
            .join("release")
            .join(format!("{artifact}.wasm"));
        assert!(path.exists(), "missing {}", path.display());
        println!(
            "cargo:rustc-env=SPARKWASM_FIXTURE_{}={}",
            artifact.to_uppercase(),
            path.display()
        );
    }
    for dir in ["guest-sdk", "tests/guests", "examples/wordcount/guest"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
}
