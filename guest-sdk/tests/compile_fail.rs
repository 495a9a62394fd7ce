//! Compile-fail tests of the attribute macros: a signature that does not fit its kind must
//! stop the build with one error that states the expected signature, at the offending tokens
//! (for `#[udf]`/`#[udaf]`, an unknown type lists the SQL types allowed there).
//! The expected compiler output is in `tests/ui/*.stderr` (regenerate with
//! `TRYBUILD=overwrite` after reviewing a change).

#[test]
fn wrong_signatures_are_compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
