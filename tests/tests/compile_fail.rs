//! Misuse of the generated API does not compile (trybuild; `.stderr` files hold the
//! expected errors: `TRYBUILD=overwrite cargo test -p owlpost-e2e --test compile_fail`
//! rewrites them, via `cargo xtask bless`).

#[test]
fn generated_api_misuse_does_not_compile() {
    trybuild::TestCases::new().compile_fail("ui/*.rs");
}
