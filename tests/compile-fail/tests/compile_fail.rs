//! Misusing a generated endpoint does not compile (trybuild; the expected
//! compiler output is in `tests/ui/*.stderr`).

#[test]
fn endpoint_misuse_does_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
}
