//! `cargo xtask bench`: owlpost's typed paths, the hedwig crate, the `serde_json` floor and
//! hedwig-python measured on one machine in one run, and the ratios that the speed goals
//! are stated in.

use std::path::Path;
use std::process::Command;

use crate::{emulators, python};

/// The criterion benchmarks: owlpost's publish and consume paths next to their peers.
const STEPS: &[crate::Step] = &[
    crate::Step { args: &["bench", "-p", "owlpost-bench", "--bench", "speed"], env: &[] },
    crate::Step { args: &["bench", "-p", "owlpost", "--bench", "pipeline"], env: &[] },
];

/// Schemas of the speed benchmarks (`bench/benches/speed.rs`, `bench/hedwig_python.py`).
const SCHEMAS: [&str; 2] = ["reference", "example"];

/// P4: the code generator on 500 message types, in the dev profile (what a build script
/// runs in by default) and in release (what `[profile.dev.build-override] opt-level = 3`
/// gives it).
const CODEGEN: [(&str, &[&str]); 2] = [
    ("dev", &["run", "-q", "-p", "owlpost-bench", "--example", "codegen"]),
    ("release", &["run", "-q", "--release", "-p", "owlpost-bench", "--example", "codegen"]),
];

/// P3: messages per second through the emulators, owlpost and hedwig-python.
const THROUGHPUT: &[&str] =
    &["run", "-q", "--release", "-p", "owlpost-e2e", "--features", "aws,gcp", "--example", "throughput"];

/// The callgrind loop over the speed suite's operations (`bench/examples/profile.rs`).
const PROFILE: &[&str] = &["build", "-q", "--release", "-p", "owlpost-bench", "--example", "profile"];

/// The operations the loop counts, as it names them.
const OPERATIONS: [&str; 4] = ["floor", "publish", "hedwig", "consume"];

/// Calls per callgrind run (and twice as many in the second).
const CALLS: u64 = 2_000;

/// P5: the peak resident set of a consumer with 1,000 messages in flight.
const MEMORY: &[&str] = &["run", "-q", "--release", "-p", "owlpost-bench", "--example", "memory"];

/// Runs `cargo <args>` and reads the number its output prints after `key`.
fn example(args: &[&str], key: &str) -> Result<f64, String> {
    let text = cargo_output(args, &[])?;
    number_after(&text, key).ok_or(format!("`cargo {}` printed {text:?}", args.join(" ")))
}

/// What `cargo <args>` prints, with `env` added to its environment.
fn cargo_output(args: &[&str], env: &[(&str, String)]) -> Result<String, String> {
    eprintln!("\n==> cargo {}", args.join(" "));
    let out = crate::cargo()
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("`cargo {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn run(root: &Path) -> Result<(), String> {
    crate::cargo_steps(STEPS, &[])?;
    let instructions = instructions(root)?;
    let mut codegen = Vec::new();
    for (profile, args) in CODEGEN {
        codegen.push((profile, example(args, "messages:")?));
    }
    let memory = example(MEMORY, "in flight:")?;
    let throughput = {
        let _emulators = emulators::start(root)?;
        python::interop(root)?;
        cargo_output(THROUGHPUT, &emulators::test_env(root))?
    };
    python::HEDWIG.install(root)?;
    eprintln!("\n==> hedwig-python: bench/hedwig_python.py");
    let out = Command::new(python::HEDWIG.python(root))
        .arg(root.join("bench/hedwig_python.py"))
        .arg(root)
        .output()
        .map_err(|e| format!("cannot run hedwig-python: {e}"))?;
    if !out.status.success() {
        return Err(format!("bench/hedwig_python.py failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let python = String::from_utf8_lossy(&out.stdout).into_owned();
    let criterion = crate::target_dir(root).join("criterion");
    let median = |id: &str| -> Result<f64, String> {
        if id.ends_with("hedwig-python") {
            return number_after(&python, &format!("\"{id}\":")).ok_or(format!("hedwig-python printed no {id}"));
        }
        // criterion names a group's directory with its `/` as `_`: `p1_reference/owlpost`.
        let (group, function) = id.rsplit_once('/').unwrap_or(("", id));
        let path = criterion.join(group.replace('/', "_")).join(function).join("new/estimates.json");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let median = text.find("\"median\"").map(|at| &text[at..]).ok_or(format!("{}: no median", path.display()))?;
        number_after(median, "\"point_estimate\":").ok_or(format!("{}: no point estimate", path.display()))
    };
    println!("\n| goal | schema | owlpost | peer | ratio | goal |");
    println!("|---|---|---|---|---|---|");
    for schema in SCHEMAS {
        let ours = median(&format!("p1/{schema}/owlpost"))?;
        let floor = median(&format!("p1/{schema}/floor"))?;
        let hedwig = median(&format!("p1/{schema}/hedwig"))?;
        let python = median(&format!("p1/{schema}/hedwig-python"))?;
        row("P1 publish", schema, ours, "hedwig crate", hedwig, "≥ 10× faster");
        row("P1 publish", schema, ours, "floor", floor, "≤ 3× the floor");
        row("P1 publish", schema, ours, "hedwig-python", python, "");
        let ours = median(&format!("p2/{schema}/owlpost"))?;
        let python = median(&format!("p2/{schema}/hedwig-python"))?;
        row("P2 consume", schema, ours, "hedwig-python", python, "≥ 100× faster");
    }
    for (profile, ms) in codegen {
        println!("| P4 codegen | 500 messages | {ms:.0} ms ({profile} profile) | | | < 1 s |");
    }
    for broker in ["sns-sqs", "pubsub"] {
        for op in ["publish", "consume"] {
            let rate = |library: &str| {
                let key = format!("p3/{broker}/{library}/{op}:");
                number_after(&throughput, &key).ok_or(format!("the throughput example printed no {key}"))
            };
            let (ours, theirs) = (rate("owlpost")?, rate("hedwig-python")?);
            println!(
                "| P3 {op} | {broker} | {ours:.0} msg/s | hedwig-python {theirs:.0} msg/s | {:.1}× | ≥ 5× |",
                ours / theirs
            );
            if (broker, op) == ("pubsub", "consume") {
                let key = "p3/pubsub/owlpost/consume-4-streams:";
                let ours = number_after(&throughput, key).ok_or(format!("the throughput example printed no {key}"))?;
                println!(
                    "| P3 {op} | {broker}, 4 streams | {ours:.0} msg/s | hedwig-python {theirs:.0} msg/s | {:.1}× | ≥ 5× |",
                    ours / theirs
                );
            }
        }
    }
    println!("| P5 memory | 1,000 in flight | {memory:.1} MiB peak RSS | | | ≤ 50 MiB |");
    match instructions {
        None => eprintln!("\nvalgrind is not installed: no instruction counts"),
        Some(counts) => {
            let count = |schema: &str, operation: &str| counts[&(schema, operation)];
            println!("\nInstructions per operation (callgrind: {CALLS} and {} calls, the difference):\n", 2 * CALLS);
            println!("| goal | schema | owlpost | peer | ratio |");
            println!("|---|---|---|---|---|");
            for schema in SCHEMAS {
                let ours = count(schema, "publish");
                for (peer, theirs) in [("floor", count(schema, "floor")), ("hedwig crate", count(schema, "hedwig"))] {
                    let ratio = if theirs >= ours {
                        format!("{:.1}× fewer", theirs as f64 / ours as f64)
                    } else {
                        format!("{:.1}× the {peer}", ours as f64 / theirs as f64)
                    };
                    println!("| P1 publish | {schema} | {ours} | {peer} {theirs} | {ratio} |");
                }
                println!("| P2 consume | {schema} | {} | | |", count(schema, "consume"));
            }
        }
    }
    Ok(())
}

/// Instructions per call, by (schema, operation).
type Counts = std::collections::HashMap<(&'static str, &'static str), u64>;

/// Instructions per call of each operation on each schema, counted by callgrind in
/// `profile::measured` only; `None` without valgrind. The difference of a run of `CALLS`
/// and one of twice as many, so that the first call's one-time work (compiling the
/// schema) cancels out.
fn instructions(root: &Path) -> Result<Option<Counts>, String> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        return Ok(None);
    }
    cargo_output(PROFILE, &[])?;
    let profile = crate::target_dir(root).join("release/examples/profile");
    let collected = |operation: &str, schema: &str, calls: u64| -> Result<u64, String> {
        let out = Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null", "--toggle-collect=profile::measured*"])
            .arg(&profile)
            .args([operation, schema, &calls.to_string()])
            .output()
            .map_err(|e| format!("cannot run valgrind: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("callgrind of `profile {operation} {schema}` failed: {log}"));
        }
        number_after(&log, "Collected :").map(|n| n as u64).ok_or(format!("callgrind printed no count: {log}"))
    };
    let mut counts = std::collections::HashMap::new();
    for schema in SCHEMAS {
        for operation in OPERATIONS {
            eprintln!("==> callgrind: profile {operation} {schema}");
            let (once, twice) = (collected(operation, schema, CALLS)?, collected(operation, schema, 2 * CALLS)?);
            counts.insert((schema, operation), twice.saturating_sub(once) / CALLS);
        }
    }
    Ok(Some(counts))
}

fn row(goal: &str, schema: &str, ours: f64, peer: &str, theirs: f64, target: &str) {
    let ratio = if theirs >= ours {
        format!("{:.1}× faster", theirs / ours)
    } else {
        format!("{:.1}× the {peer}", ours / theirs)
    };
    println!("| {goal} | {schema} | {} | {peer} {} | {ratio} | {target} |", time(ours), time(theirs));
}

fn time(ns: f64) -> String {
    if ns >= 1000.0 { format!("{:.2} µs", ns / 1000.0) } else { format!("{ns:.0} ns") }
}

/// The number that follows `key` in `text` (a JSON number, as criterion and the Python
/// script print them).
fn number_after(text: &str, key: &str) -> Option<f64> {
    let rest = text[text.find(key)? + key.len()..].trim_start();
    let end = rest.find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c))).unwrap_or(rest.len());
    rest[..end].parse().ok()
}
