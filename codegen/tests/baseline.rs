//! `Config::compat_baseline`: the build fails when a schema changed incompatibly since its
//! committed baseline, and generates code when the change follows the rules.

use std::path::PathBuf;

fn fixture(case: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/compat").join(case).join(file)
}

fn compile(case: &str, out: &std::path::Path) -> owlpost_codegen::Result<PathBuf> {
    owlpost_codegen::Config::new()
        .schema(fixture(case, "new.json"))
        .compat_baseline(fixture(case, "old.json"))
        .out_dir(out)
        .skip_rerun_if_changed()
        .compile()
}

#[test]
fn a_breaking_change_fails_the_build_with_every_failing_change() {
    let out = tempfile::tempdir().unwrap();
    let error = compile("remove-property", out.path()).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, owlpost_codegen::Error::Incompatible { ref changes, .. } if changes.len() == 2), "{text}");
    assert!(text.contains("/schemas/account.opened/1.*/properties/note: property `note` removed"), "{text}");
    assert!(text.contains("publish them as a new major `2.*`"), "{text}");
    assert!(std::fs::read_dir(out.path()).unwrap().next().is_none(), "nothing generated");
}

#[test]
fn a_missing_minor_bump_fails_the_build() {
    let out = tempfile::tempdir().unwrap();
    let text = compile("add-optional-property-without-bump", out.path()).unwrap_err().to_string();
    assert!(text.contains("compatible changes need a minor bump"), "{text}");
}

#[test]
fn a_compatible_change_with_its_bump_builds() {
    let out = tempfile::tempdir().unwrap();
    let path = compile("add-optional-property", out.path()).unwrap();
    assert!(std::fs::read_to_string(path).unwrap().contains("pub locale:"));
}
