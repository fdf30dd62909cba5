//! Every fuzz target on every seed of its corpus and on every input that once made it fail
//! (`fuzz/regressions/<target>/`, one file per crash, named after what it found): the
//! fuzzers' findings stay fixed without a nightly toolchain.

use std::path::{Path, PathBuf};

use owlpost_fuzz_targets::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of `dir`, recursively (none if it does not exist).
fn files(dir: &Path, into: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() { files(&path, into) } else { into.push(path) }
    }
}

/// The directories `cargo xtask fuzz` gives a target as its seeds, as the workspace has them.
fn seed_dirs(target: &str) -> Vec<PathBuf> {
    let root = fuzz_dir().join("..");
    let mut dirs = vec![fuzz_dir().join("seeds").join(target), fuzz_dir().join("regressions").join(target)];
    if matches!(target, "schema" | "compat" | "validate") {
        dirs.extend([root.join("schemas"), root.join("codegen/tests/fixtures")]);
    }
    dirs
}

#[test]
fn every_target_passes_on_its_seeds_and_past_crashes() {
    for (target, run) in TARGETS {
        let mut inputs = Vec::new();
        for dir in seed_dirs(target) {
            files(&dir, &mut inputs);
        }
        assert!(inputs.len() >= 5, "{target}: only {} seeds", inputs.len());
        for input in &inputs {
            let bytes = std::fs::read(input).unwrap();
            if let Err(panic) = std::panic::catch_unwind(|| run(&bytes)) {
                let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
                panic!("{target} fails on {}: {message}", input.display());
            }
        }
        println!("{target}: {} inputs", inputs.len());
    }
}
