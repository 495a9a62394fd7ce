//! Guest fixtures for the integration tests, built from source by `build.rs`.

/// Path of the typed test guest module (`tests/guests/typed`).
pub const TYPED_GUEST: &str = env!("SPARKWASM_FIXTURE_TYPED_GUEST");

/// Path of the word-count example module (`examples/wordcount/guest`).
pub const WORDCOUNT: &str = env!("SPARKWASM_FIXTURE_WORDCOUNT");

/// Path of the Spark SQL UDF test guest module (`tests/guests/sql`).
pub const SQL_GUEST: &str = env!("SPARKWASM_FIXTURE_SQL_GUEST");

/// Reads a fixture module's bytes.
pub fn module_bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading fixture {path}: {e}"))
}
