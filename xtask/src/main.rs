//! owlpost's development tasks, run as `cargo xtask <task>`:
//!
//! * `ci`: everything CI checks: formatting, clippy (warnings are errors), the whole test
//!   suite, the docs, and the README's quickstart.
//! * `bless`: rewrites the golden files (generated code of the fixture schemas, and the
//!   expected compiler errors of the compile-fail cases) after an intended change.

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    let steps: &[Step] = match task.as_deref() {
        Some("ci") => CI,
        Some("bless") => BLESS,
        _ => {
            eprintln!(
                "usage: cargo xtask <ci|bless>\n  ci     format, lint, test, docs, quickstart\n  bless  rewrite golden files"
            );
            return ExitCode::from(2);
        }
    };
    for step in steps {
        eprintln!("\n==> {}", step.args.join(" "));
        let mut command = Command::new(env_or("CARGO", "cargo"));
        command.args(step.args).envs(step.env.iter().copied());
        match command.status() {
            Ok(status) if status.success() => {}
            Ok(status) => {
                eprintln!("xtask: `cargo {}` failed ({status})", step.args.join(" "));
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("xtask: cannot run cargo: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

struct Step {
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

const CI: &[Step] = &[
    Step { args: &["fmt", "--all", "--check"], env: &[] },
    Step { args: &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"], env: &[] },
    Step { args: &["test", "--workspace", "--no-fail-fast"], env: &[] },
    Step { args: &["doc", "--workspace", "--no-deps"], env: &[("RUSTDOCFLAGS", "-D warnings")] },
    Step { args: &["run", "-p", "owlpost-e2e", "--example", "quickstart"], env: &[] },
];

const BLESS: &[Step] = &[
    Step { args: &["test", "-p", "owlpost-codegen", "--test", "golden"], env: &[("OWLPOST_BLESS", "1")] },
    Step { args: &["test", "-p", "owlpost-e2e", "--test", "compile_fail"], env: &[("TRYBUILD", "overwrite")] },
];

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}
