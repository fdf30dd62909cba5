//! `cargo xtask fuzz [SECONDS] [TARGET...]`: the cargo-fuzz targets of `fuzz/libfuzzer`
//! (default all) for SECONDS each (default 60), on the nightly toolchain, from its seeds (`fuzz/seeds/<target>`, the
//! crashes of `fuzz/regressions/<target>`, and for the schema targets the repository's
//! schemas and codegen fixtures) and the corpus earlier runs grew (`target/fuzz-corpus/`).
//! Prints each target's executions; fails on the first crash, naming the input libFuzzer
//! saved, which then belongs in `fuzz/regressions/<target>/` (replayed by the stable test
//! `fuzz/targets/tests/replay.rs`).

use std::path::Path;
use std::process::Command;

use crate::python;

/// The targets, as `fuzz/libfuzzer/Cargo.toml` names them.
const TARGETS: [&str; 4] = ["delivery", "schema", "compat", "validate"];

/// libFuzzer's limits: an input of at most 64 KiB, 10 s per input (a hang), 2 GiB of memory.
const LIMITS: [&str; 3] = ["-max_len=65536", "-timeout=10", "-rss_limit_mb=2048"];

/// How the targets are built.
#[derive(Clone, Copy)]
pub enum Build {
    /// Optimized, with debug assertions: for long runs.
    Release,
    /// Unoptimized and without debug info: builds in about half the time, for CI's short runs.
    Quick,
}

pub fn run(root: &Path, seconds: u64, only: &[String], build: Build) -> Result<(), String> {
    if let Some(unknown) = only.iter().find(|t| !TARGETS.contains(&t.as_str())) {
        return Err(format!("no fuzz target {unknown}; the targets: {}", TARGETS.join(", ")));
    }
    ensure_tools()?;
    let mut report = Vec::new();
    for target in TARGETS.into_iter().filter(|t| only.is_empty() || only.iter().any(|o| o == t)) {
        let corpus = crate::target_dir(root).join("fuzz-corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        let mut seeds = vec![root.join("fuzz/seeds").join(target), root.join("fuzz/regressions").join(target)];
        if matches!(target, "schema" | "compat" | "validate") {
            seeds.extend([root.join("schemas"), root.join("codegen/tests/fixtures")]);
        }
        seeds.retain(|dir| dir.is_dir());
        eprintln!("\n==> fuzz {target} for {seconds} s");
        let mut command = Command::new("cargo");
        command.current_dir(root).args([
            "+nightly",
            "fuzz",
            "run",
            "--fuzz-dir",
            "fuzz/libfuzzer",
            "--sanitizer",
            "none",
        ]);
        if let Build::Quick = build {
            command.arg("--dev").env("CARGO_PROFILE_DEV_DEBUG", "0");
        }
        let output = command
            .arg(target)
            .arg(&corpus)
            .args(&seeds)
            .arg("--")
            .args(LIMITS)
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1")
            .output()
            .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&output.stderr);
        let executions = stat(&log, "stat::number_of_executed_units:").unwrap_or(0);
        if !output.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(format!(
                "fuzz target {target} failed after {executions} executions; libFuzzer's input is under fuzz/libfuzzer/artifacts/{target}/ (copy it into fuzz/regressions/{target}/ with a name saying what it found):\n{}",
                tail.join("\n")
            ));
        }
        report.push((target, executions));
    }
    eprintln!("\nfuzzed {seconds} s per target, no failure:");
    for (target, executions) in report {
        eprintln!("  {target:<9} {executions:>12} executions");
    }
    Ok(())
}

/// A `stat::…: N` line of libFuzzer's final statistics.
fn stat(log: &str, name: &str) -> Option<u64> {
    log.lines().find_map(|line| line.strip_prefix(name)).and_then(|n| n.trim().parse().ok())
}

/// The nightly toolchain (on the machine image; it cannot be downloaded here) and
/// cargo-fuzz (installed from crates.io when missing).
fn ensure_tools() -> Result<(), String> {
    let nightly = Command::new("rustup").args(["run", "nightly", "rustc", "--version"]).output();
    if !nightly.is_ok_and(|o| o.status.success()) {
        return Err("the fuzzers need the nightly toolchain (`rustup toolchain list` shows none)".into());
    }
    let fuzz = Command::new("cargo").args(["fuzz", "--version"]).output();
    if !fuzz.is_ok_and(|o| o.status.success()) {
        eprintln!("xtask: installing cargo-fuzz");
        python::run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked", "--version", "0.13.2"]))?;
    }
    Ok(())
}
