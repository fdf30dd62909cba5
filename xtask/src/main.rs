//! owlpost's development tasks, run as `cargo xtask <task>`:
//!
//! * `ci`: everything CI checks: formatting, clippy (warnings are errors), the whole test
//!   suite with the broker emulators started and the catalogue checks' npm packages installed,
//!   the docs, the README's quickstart, the load suite with small counts, and every fuzz
//!   target for 15 s.
//! * `bless`: rewrites the golden files (generated code of the fixture schemas, the
//!   expected compiler errors of the compile-fail cases, and the CLI's `check`/`compat`
//!   transcripts) after an intended change.
//! * `bench`: the speed benchmarks: owlpost's generated publish and consume paths next to the
//!   hedwig crate, the `serde_json` floor and hedwig-python, with the ratios; then the
//!   pipeline benchmarks of the runtime.
//! * `interop`: only the interop suite against the reference libraries (hedwig-python in
//!   `tests/interop/.venv`, taskhawk-python in `tests/interop/taskhawk/.venv`, installed if
//!   needed), with the emulators started.
//! * `load`: the load suite (`tests/examples/load.rs`, release build) with the emulators
//!   started: 100,000 messages through the in-memory broker, 20,000 through each emulator.
//! * `fuzz [SECONDS] [TARGET...]`: the fuzz targets (cargo-fuzz, nightly; default all) for
//!   SECONDS each (default 60).
//! * `screenshot`: rewrites README's picture of the catalogue of `schemas/example.json`
//!   (`owlpost docs`, then headless Chromium).
//! * `emulators`: starts the broker emulators and keeps them running until Ctrl-C, with
//!   the environment to export for running backend tests (and the interop suite) by hand.

mod bench;
mod catalogue;
mod emulators;
mod fuzz;
mod python;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let result = match std::env::args().nth(1).as_deref() {
        Some("ci") => ci(&root),
        Some("bless") => cargo_steps(BLESS, &[]),
        Some("interop") => interop(&root),
        Some("emulators") => serve_emulators(&root),
        Some("bench") => bench::run(&root),
        Some("screenshot") => catalogue::screenshot(&root),
        Some("load") => load(&root),
        Some("fuzz") => {
            let mut args: Vec<String> = std::env::args().skip(2).collect();
            let seconds = match args.first().map(|s| s.parse::<u64>()) {
                Some(Ok(seconds)) => {
                    args.remove(0);
                    seconds
                }
                _ => 60,
            };
            fuzz::run(&root, seconds, &args, fuzz::Build::Release)
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <ci|interop|bless|bench|load|fuzz|screenshot|emulators>\n  ci         format, lint, test (with emulators and the reference libraries), docs, quickstart\n  interop    the interop suite against hedwig-python and taskhawk-python (with emulators)\n  bless      rewrite golden files\n  bench      owlpost against the hedwig crate, the serde_json floor and hedwig-python\n  load       the load suite: 100,000 messages in memory, 20,000 per emulator\n  fuzz [S] [T..] the fuzz targets (default all) for S seconds each (default 60; nightly)\n  screenshot rewrite README's picture of the catalogue\n  emulators  run the broker emulators until Ctrl-C"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ci(root: &Path) -> Result<(), String> {
    cargo_steps(LINT, &[])?;
    let _emulators = emulators::start(root)?;
    python::interop(root)?;
    catalogue::install(root)?;
    cargo_steps(TEST, &emulators::test_env(root))?;
    // Built with the test build's features (already compiled), then run as the README does.
    let target = target_dir(root);
    let quickstart = target.join("debug/examples/quickstart");
    eprintln!("\n==> {}", quickstart.display());
    let status = Command::new(&quickstart).status().map_err(|e| format!("cannot run {}: {e}", quickstart.display()))?;
    if !status.success() {
        return Err(format!("the quickstart failed ({status})"));
    }
    // The load suite with CI's counts, then every fuzz target for a short, fixed time.
    let load = target.join("debug/examples/load");
    eprintln!("\n==> {}", load.display());
    let counts = [("OWLPOST_LOAD_MEMORY", "10000".to_owned()), ("OWLPOST_LOAD_EMULATORS", "2000".to_owned())];
    python::run(Command::new(&load).envs(emulators::test_env(root)).envs(counts))?;
    fuzz::run(root, CI_FUZZ_SECONDS, &[], fuzz::Build::Quick)
}

/// How long CI runs each fuzz target.
const CI_FUZZ_SECONDS: u64 = 15;

fn load(root: &Path) -> Result<(), String> {
    let _emulators = emulators::start(root)?;
    let args = ["run", "--release", "-p", "owlpost-e2e", "--features", "aws,gcp", "--example", "load"];
    eprintln!("\n==> cargo {}", args.join(" "));
    python::run(cargo().args(args).envs(emulators::test_env(root)))
}

fn interop(root: &Path) -> Result<(), String> {
    let _emulators = emulators::start(root)?;
    python::interop(root)?;
    cargo_steps(INTEROP, &emulators::test_env(root))
}

fn serve_emulators(root: &Path) -> Result<(), String> {
    let _emulators = emulators::start(root)?;
    python::interop(root)?;
    for (name, value) in emulators::test_env(root) {
        println!("export {name}={value}");
    }
    eprintln!("xtask: emulators running; Ctrl-C stops them");
    loop {
        std::thread::park();
    }
}

/// One cargo invocation with extra environment.
struct Step {
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

const LINT: &[Step] = &[
    Step { args: &["fmt", "--all", "--check"], env: &[] },
    Step { args: &["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"], env: &[] },
];

const TEST: &[Step] = &[
    Step { args: &["test", "--workspace", "--all-features", "--no-fail-fast"], env: &[] },
    Step { args: &["doc", "--workspace", "--no-deps", "--all-features"], env: &[("RUSTDOCFLAGS", "-D warnings")] },
    Step { args: &["build", "--workspace", "--all-features", "--examples"], env: &[] },
];

const INTEROP: &[Step] = &[Step {
    // All features, as `ci` builds it: no rebuild between the two.
    args: &["test", "-p", "owlpost-e2e", "--all-features", "--test", "interop", "--", "--nocapture"],
    env: &[],
}];

const BLESS: &[Step] = &[
    Step { args: &["test", "-p", "owlpost-codegen", "--test", "golden"], env: &[("OWLPOST_BLESS", "1")] },
    Step { args: &["test", "-p", "owlpost-e2e", "--test", "compile_fail"], env: &[("TRYBUILD", "overwrite")] },
    Step { args: &["test", "-p", "owlpost-cli", "--test", "cli", "golden"], env: &[("OWLPOST_BLESS", "1")] },
];

fn cargo_steps(steps: &[Step], extra_env: &[(&str, String)]) -> Result<(), String> {
    for step in steps {
        eprintln!("\n==> cargo {}", step.args.join(" "));
        let status = cargo()
            .args(step.args)
            .envs(step.env.iter().copied())
            .envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())))
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("`cargo {}` failed ({status})", step.args.join(" ")));
        }
    }
    Ok(())
}

/// The cargo that runs this task (`$CARGO`), as a command.
fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `target/` in the workspace.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}
