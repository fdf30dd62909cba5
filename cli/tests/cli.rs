//! The `owlpost` command as users run it: golden outputs of `check` and `compat` on the
//! fixtures in `schemas/`, the standalone crates (messages and tasks) built and doc-tested,
//! the catalogues (a task catalogue and the task dry-run plans golden in `cli/tests/golden/`),
//! help and failure paths. `OWLPOST_BLESS=1` rewrites the golden files.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs `owlpost` in the workspace root (paths in its output are then relative).
fn owlpost(args: &[&str]) -> Output {
    Command::cargo_bin("owlpost").unwrap().current_dir(root()).args(args).output().unwrap()
}

fn transcript(args: &[&str], output: &Output) -> String {
    format!(
        "$ owlpost {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        output.status.code().map_or_else(|| "signal".into(), |c| c.to_string()),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Compares (or, with `OWLPOST_BLESS=1`, writes) a golden transcript.
fn golden(args: &[&str], expected: &Path) -> Result<(), String> {
    matches_golden(&transcript(args, &owlpost(args)), expected)
}

/// Compares (or, with `OWLPOST_BLESS=1`, writes) a golden file.
fn matches_golden(actual: &str, expected: &Path) -> Result<(), String> {
    if std::env::var_os("OWLPOST_BLESS").is_some() {
        std::fs::write(expected, actual).unwrap();
        return Ok(());
    }
    let wanted = std::fs::read_to_string(expected).unwrap_or_default();
    if wanted == actual {
        Ok(())
    } else {
        Err(format!("{}:\n--- expected\n{wanted}--- actual\n{actual}", expected.display()))
    }
}

fn run_goldens(cases: Vec<(Vec<String>, PathBuf)>) {
    assert!(!cases.is_empty());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(args, expected)| golden(&args.iter().map(String::as_str).collect::<Vec<_>>(), expected).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} golden transcripts differ (OWLPOST_BLESS=1 rewrites them):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn check_golden_outputs() {
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(root().join("schemas/check")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let relative = format!("schemas/check/{}", path.file_name().unwrap().to_string_lossy());
            cases.push((vec!["check".into(), relative], path.with_extension("out")));
        }
    }
    cases.push((
        vec![
            "check".into(),
            "--deny-warnings".into(),
            "schemas/check/lint.json".into(),
            "schemas/check/clean.json".into(),
        ],
        root().join("schemas/check/deny-warnings.out"),
    ));
    cases.sort();
    run_goldens(cases);
}

#[test]
fn compat_golden_outputs() {
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(root().join("schemas/compat")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (old, new) = (format!("schemas/compat/{name}/old.json"), format!("schemas/compat/{name}/new.json"));
        cases.push((vec!["compat".into(), old, new], dir.join("expected.out")));
    }
    cases.sort();
    assert!(cases.len() >= 15, "the compat rules need their fixture pairs");
    run_goldens(cases);
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for command in ["generate", "check", "compat", "provision", "requeue-dlq", "docs"] {
        let output = owlpost(&[command, "--help"]);
        assert!(output.status.success(), "{command} --help failed");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("Example:") && help.contains(&format!("owlpost {command} ")), "{command}: {help}");
    }
}

#[test]
fn user_errors_are_one_line_and_details_without_panics() {
    let cases: &[&[&str]] = &[
        &["check", "schemas/check/missing.json"],
        &["compat", "schemas/check/missing.json", "schemas/example.json"],
        &["compat", "schemas/check/layout.json", "schemas/example.json"],
        &["generate", "--schema", "schemas/check/layout.json", "--out", "target/never-written"],
        &["generate", "--schema", "schemas/example.json", "--out", "target/never-written", "--name", "9lives"],
        &["docs", "schemas/check/not-json.json", "--out", "target/never-written"],
        &["provision", "--backend", "aws", "--queue", "q", "--dry-run", "--max-deliveries", "many"],
        &["requeue-dlq", "--backend", "pigeon", "--queue", "q"],
        &["generate", "--schema", "schemas/example.json", "--out", "target/never-written", "--publisher", "a\"b"],
        &[
            "docs",
            "schemas/example.json",
            "schemas/compat/new-major/../../example.json",
            "--out",
            "target/never-written",
        ],
        &["provision", "--backend", "aws", "--tasks", "t", "--consume", "x", "--dry-run"],
        &["provision", "--backend", "aws", "--queue", "q", "--priority", "high", "--dry-run"],
        &["requeue-dlq", "--backend", "aws", "--tasks", "t", "--priority", "urgent"],
        &["frobnicate"],
    ];
    for args in cases {
        let output = owlpost(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE") && !stderr.contains("crashed"),
            "{args:?}: {stderr}"
        );
        assert!(output.stdout.is_empty() || args[0] == "check" || args[0] == "compat", "{args:?}");
    }
    assert!(!root().join("target/never-written").exists());
}

/// `--priority` belongs to `--tasks`: alone, the error says so (not that `--queue` is missing).
#[test]
fn a_priority_without_tasks_asks_for_tasks() {
    let output = owlpost(&["provision", "--backend", "aws", "--account-id", "1", "--priority", "high", "--dry-run"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("--tasks <QUEUE>") && !stderr.contains("--queue"), "{stderr}");
}

#[test]
fn generated_crate_builds_passes_its_doc_tests_and_regenerates_to_the_same_files() {
    standalone_crate(
        "example.json",
        "example-messages",
        "signup",
        &["| `user-created` | 2 | 2.0 | `UserCreatedV2` | `user-created-v2` |", "Publisher::new(\"signup\""],
    );
}

#[test]
fn generated_task_crate_builds_passes_its_doc_tests_and_regenerates_to_the_same_files() {
    standalone_crate(
        "tasks.json",
        "billing-tasks",
        "billing",
        &[
            "| `billing.tasks.charge_card` | high | 1.0 | `ChargeCustomerCardInput` | `dispatch_charge_customer_card` |",
            "| `billing.tasks.send_invoice` | `SendInvoiceHandler` | `register_send_invoice(&mut router, handler)` |",
            "Dispatcher::new(\"billing\"",
            "Typed [Taskhawk]",
        ],
    );
}

/// Generates the crate `name` for `schemas/<schema>`, checks its README holds `readme`,
/// regenerates it (nothing changes), builds it and runs its doc test (publishing or
/// dispatching on the in-memory broker).
fn standalone_crate(schema: &str, name: &str, publisher: &str, readme: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(name);
    let runtime = root().join("runtime");
    let schema_path = format!("schemas/{schema}");
    let args = [
        "generate",
        "--schema",
        &schema_path,
        "--out",
        out.to_str().unwrap(),
        "--name",
        name,
        "--runtime-path",
        runtime.to_str().unwrap(),
        "--publisher",
        publisher,
    ];
    let files = ["Cargo.toml", "README.md", "src/lib.rs", &format!("schema/{schema}")];
    let first = owlpost(&args);
    assert!(first.status.success(), "{}", transcript(&args, &first));
    for file in files {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let text = std::fs::read_to_string(out.join("README.md")).unwrap();
    for expected in readme {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }
    let snapshot = |dir: &Path| -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
        files
            .iter()
            .map(|f| {
                let path = dir.join(f);
                (path.clone(), std::fs::read(&path).unwrap(), std::fs::metadata(&path).unwrap().modified().unwrap())
            })
            .collect()
    };
    let before = snapshot(&out);
    let again = owlpost(&args);
    assert!(again.status.success());
    assert_eq!(String::from_utf8_lossy(&again.stdout).matches("unchanged").count(), 4, "{}", transcript(&args, &again));
    assert_eq!(snapshot(&out), before, "a second run changed files");

    // The crate builds and its doc test (on the in-memory broker) passes. A target
    // directory under the workspace's keeps rebuilds fast.
    let target = root().join("target/standalone-crate");
    for cargo_args in [&["build"][..], &["test", "--doc"][..]] {
        let output = std::process::Command::new(env!("CARGO"))
            .args(cargo_args)
            .current_dir(&out)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "cargo {cargo_args:?} failed in {name}:\n{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        if cargo_args[0] == "test" {
            assert!(stdout.contains("test result: ok. 1 passed"), "the crate's doc example did not run:\n{stdout}");
        }
    }
}

#[test]
fn generate_does_not_overwrite_files_it_did_not_write() {
    for foreign in ["Cargo.toml", "README.md"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(foreign), "mine\n").unwrap();
        let out = dir.path().to_str().unwrap();
        let output = owlpost(&["generate", "--schema", "schemas/example.json", "--out", out]);
        assert_eq!(output.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&output.stderr).contains("refusing to overwrite"));
        assert_eq!(std::fs::read_to_string(dir.path().join(foreign)).unwrap(), "mine\n");
        let written: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(written, [foreign], "nothing else is written");
    }
}

#[test]
fn docs_write_a_catalogue_and_an_asyncapi_document() {
    let dir = tempfile::tempdir().unwrap();
    let output = owlpost(&["docs", "schemas/example.json", "--out", dir.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let html = std::fs::read_to_string(dir.path().join("example.html")).unwrap();
    let markdown = std::fs::read_to_string(dir.path().join("example.md")).unwrap();
    for page in [&html, &markdown] {
        for expected in [
            "user-created",
            "order.placed",
            "user_deleted",
            "user-created-v2",
            "UserCreatedV2",
            "ord_000000",
            "Primary e-mail address.",
            "pattern: ^U_[0-9]+$",
        ] {
            assert!(page.contains(expected), "{expected} missing");
        }
        assert!(!page.contains("not valid"), "an example payload failed its schema");
    }
    assert!(markdown.contains("| `name.given` | string | yes |  | minLength: 1 |"), "{markdown}");
    assert!(html.contains("<td><code>lines[].sku</code></td>"), "{html}");
    assert!(markdown.contains("```mermaid\nflowchart LR\n"), "{markdown}");
    // One self-contained page: the diagram is drawn inline, nothing is fetched.
    assert!(html.contains(r#"<g class="node channel" data-node="topic:user-created-v2">"#), "{html}");
    assert!(html.contains(r#"data-from="major:user-created-v2" data-to="topic:user-created-v2""#), "{html}");
    for external in ["<script src", "<link", "@import", "url(http", "cdn"] {
        assert!(!html.contains(external), "{external} in the page");
    }
    // A `$ref` links to its definition, which the page holds; the version history is listed.
    assert!(html.contains(r##"<a href="#definition-Address-1-0">Address/1.0</a>"##), "{html}");
    assert!(html.contains(r#"<h3 id="definition-Address-1-0">"#), "{html}");
    assert!(html.contains(r#"<ol class="versions"><li>1.0</li><li>1.1</li></ol>"#), "{html}");

    let asyncapi: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("example.asyncapi.json")).unwrap()).unwrap();
    let yaml: Value =
        yaml_serde::from_str(&std::fs::read_to_string(dir.path().join("example.asyncapi.yaml")).unwrap()).unwrap();
    assert_eq!(yaml, asyncapi, "the YAML document is the JSON one");
    assert_eq!(asyncapi["asyncapi"], "3.0.0");
    assert_eq!(asyncapi["channels"]["user-created-v2"]["address"], "user-created-v2");
    assert_eq!(asyncapi["operations"].as_object().unwrap().len(), 4);
    let message = &asyncapi["components"]["messages"]["user-created.v1"];
    assert_eq!(message["payload"]["schemaFormat"], "application/schema+json;version=draft-04");
    assert!(message["examples"][0]["payload"]["email"].is_string());
    // Every reference resolves inside the document.
    let mut refs = Vec::new();
    collect_refs(&asyncapi, &mut refs);
    assert!(refs.len() > 10);
    for reference in refs {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {reference}"));
        assert!(asyncapi.pointer(pointer).is_some(), "unresolved $ref {reference}");
    }
}

#[test]
fn docs_draw_the_declared_publishers_and_consumer_queues() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let declared = ["--publisher", "accounts=user-created-v2", "--consumer", "billing=user-created-v2"];
    let output = owlpost(&[&["docs", "schemas/example.json", "--out", out][..], &declared].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let html = std::fs::read_to_string(dir.path().join("example.html")).unwrap();
    for (from, to) in [("service:accounts", "topic:user-created-v2"), ("topic:user-created-v2", "queue:billing")] {
        assert!(html.contains(&format!(r#"data-from="{from}" data-to="{to}""#)), "{from} → {to} missing: {html}");
    }
    assert!(!html.contains(r#"data-node="major:user-created-v2""#), "a declared publisher takes the major's place");
    assert!(html.contains(r#"data-node="major:user-created-v1""#), "the undeclared ones keep theirs");

    let output = owlpost(&["docs", "schemas/example.json", "--out", out, "--consumer", "billing=user-created-v9"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--consumer billing=user-created-v9") && stderr.contains("user-created-v2"), "{stderr}");
}

/// Every in-page link of every catalogue page lands on an element of the page, including a
/// `$ref` that is not to a definition (`naming.json` refers to another message's schema),
/// and the AsyncAPI links are relative and percent-encoded.
#[test]
fn docs_links_all_land_on_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let files = ["schemas/example.json", "schemas/tasks.json", "codegen/tests/fixtures/naming.json"];
    let output = owlpost(&[&["docs"][..], &files, &["--out", out]].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for stem in ["example", "tasks", "naming"] {
        let html = std::fs::read_to_string(dir.path().join(format!("{stem}.html"))).unwrap();
        let links: Vec<&str> = html.split("href=\"#").skip(1).filter_map(|rest| rest.split('"').next()).collect();
        assert!(links.len() > 5, "{stem}: {links:?}");
        for link in links {
            assert!(html.contains(&format!("id=\"{link}\"")), "{stem}: #{link} lands nowhere");
        }
        assert!(html.contains(&format!("href=\"./{stem}.asyncapi.json\"")), "{stem}");
    }
    let naming = std::fs::read_to_string(dir.path().join("naming.html")).unwrap();
    assert!(naming.contains("(/schemas/trip_created/1.*)"), "a $ref outside definitions is named, not linked");
}

/// `cli/tests/catalogue`: the npm packages of the catalogue checks, which `cargo xtask ci`
/// installs (`npm ci`).
fn catalogue_checks() -> PathBuf {
    let dir = root().join("cli/tests/catalogue");
    assert!(
        dir.join("node_modules").is_dir(),
        "{} has no node_modules: `cargo xtask ci` installs them (or `npm ci` there)",
        dir.display()
    );
    dir
}

/// `node SCRIPT ARGS` in [`catalogue_checks`].
fn node(script: &str, args: &[&Path]) -> Output {
    let dir = catalogue_checks();
    std::process::Command::new("node").current_dir(&dir).arg(script).args(args).output().expect("node runs")
}

/// Both catalogues written in one run (messages, and tasks for the service queue `billing`).
fn both_catalogues() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let args = ["docs", "schemas/example.json", "schemas/tasks.json", "--queue", "billing", "--publisher"];
    let output = owlpost(&[&args[..], &["accounts=user-created-v2", "--out", dir.path().to_str().unwrap()]].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    dir
}

/// The AsyncAPI initiative's own parser (@asyncapi/parser, pinned in
/// `cli/tests/catalogue/package-lock.json`) finds no error and no warning in any of the
/// four documents, JSON or YAML. It does report one piece of information: 3.1.0 exists (the
/// documents are 3.0.0 on purpose; README).
#[test]
fn docs_asyncapi_documents_pass_the_asyncapi_parser() {
    let dir = both_catalogues();
    let files: Vec<PathBuf> =
        ["example.asyncapi.json", "example.asyncapi.yaml", "tasks.asyncapi.json", "tasks.asyncapi.yaml"]
            .iter()
            .map(|name| dir.path().join(name))
            .collect();
    let output = node("validate.mjs", &files.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let reports: Vec<Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(reports.len(), 4, "{stdout}");
    for report in reports {
        let codes: Vec<&str> =
            report["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["asyncapi-latest-version"], "{report}");
    }
}

/// The page works from disk with the network off, in headless Chromium (Debian's, driven by
/// playwright-core): the diagram is drawn, the filter narrows the index, a `$ref` link lands
/// on its definition, nothing is fetched and no script fails. Screenshots are kept in
/// `target/catalogue-screenshots/` for a person to look at.
#[test]
fn docs_page_works_offline_in_chromium() {
    let dir = both_catalogues();
    let screenshots = root().join("target/catalogue-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let cases = [
        ("example", "user-created", ["major:order-placed-v1", "service:accounts", "topic:user-created-v2"]),
        ("tasks", "charge", ["task:billing.tasks.charge_card", "schedule:late-sweep", "worker:billing"]),
    ];
    for (stem, filter, expected_nodes) in cases {
        let page = dir.path().join(format!("{stem}.html"));
        let screenshot = screenshots.join(format!("{stem}.png"));
        let output = node("browser.mjs", &[&page, &screenshot, Path::new(filter)]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stem}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        let seen: Value = serde_json::from_str(&stdout).unwrap();
        let nodes: Vec<&str> = seen["nodes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
        for node in expected_nodes {
            assert!(nodes.contains(&node), "{stem}: no node {node} in {nodes:?}");
        }
        let shapes = nodes.len() + seen["edges"].as_array().unwrap().len();
        assert_eq!(seen["drawn"], shapes, "{stem}: every node and edge is drawn with a size: {seen}");
        let (before, after) =
            (seen["entries"]["before"].as_array().unwrap(), seen["entries"]["after"].as_array().unwrap());
        assert!(!after.is_empty() && after.len() < before.len(), "{stem}: the filter narrows the index: {seen}");
        assert!(after.iter().all(|e| e.as_str().unwrap().contains(filter)), "{stem}: {seen}");
        let reference = &seen["ref"];
        let target = reference["href"].as_str().unwrap().trim_start_matches('#');
        assert!(target.starts_with("definition-"), "{reference}");
        assert_eq!(
            (reference["target"].as_str(), reference["in_view"].as_bool()),
            (Some(target), Some(true)),
            "{reference}"
        );
        assert_eq!(seen["requests"], serde_json::json!([]), "{stem}: nothing fetched");
        assert_eq!(seen["errors"], serde_json::json!([]), "{stem}: no script error");
        assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000, "{stem}: a screenshot");
    }
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                refs.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

#[test]
fn provision_dry_run_prints_the_plan_without_connecting() {
    let args = [
        "provision",
        "--backend",
        "aws",
        "--account-id",
        "123456789012",
        "--queue",
        "mailer",
        "--consume",
        "user-created-v1",
        "--publish",
        "email-sent-v1",
        "--dry-run",
    ];
    let output = Command::cargo_bin("owlpost")
        .unwrap()
        .current_dir(root())
        .args(args)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", transcript(&args, &output));
    for expected in [
        "SNS topic hedwig-email-sent-v1",
        "SNS topic hedwig-user-created-v1",
        "SQS queue HEDWIG-mailer-DLQ",
        "SQS queue HEDWIG-mailer (visibility timeout 30 s; after 5 receives to HEDWIG-mailer-DLQ)",
        "SNS subscription hedwig-user-created-v1 → HEDWIG-mailer (raw delivery on)",
    ] {
        assert!(stdout.contains(expected), "{expected} missing:\n{stdout}");
    }
    let args = [
        "provision",
        "--backend",
        "gcp",
        "--project",
        "shop",
        "--queue",
        "mailer",
        "--consume",
        "user-created-v1",
        "--consume",
        "billing/invoice-sent-v1",
        "--dry-run",
    ];
    let output = Command::cargo_bin("owlpost")
        .unwrap()
        .current_dir(root())
        .args(args)
        .env("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", transcript(&args, &output));
    for expected in [
        "topic projects/shop/topics/hedwig-user-created-v1",
        "topic projects/shop/topics/hedwig-mailer-dlq",
        "subscription projects/shop/subscriptions/hedwig-mailer-billing-invoice-sent-v1 on projects/billing/topics/hedwig-invoice-sent-v1",
        "subscription projects/shop/subscriptions/hedwig-mailer on projects/shop/topics/hedwig-mailer (ack deadline",
    ] {
        assert!(stdout.contains(expected), "{expected} missing:\n{stdout}");
    }
    assert!(!stdout.contains("billing/topics/hedwig-invoice-sent-v1\n"), "another project's topic is not created");
}

fn golden_dir() -> PathBuf {
    root().join("cli/tests/golden")
}

#[test]
fn task_catalogue_golden_markdown_and_asyncapi() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    // Messages and tasks in one run: each file gets its own catalogue.
    let output = owlpost(&["docs", "schemas/example.json", "schemas/tasks.json", "--queue", "billing", "--out", out]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let (markdown, html, asyncapi_text) = (read("tasks.md"), read("tasks.html"), read("tasks.asyncapi.json"));
    let failures: Vec<String> = [
        matches_golden(&markdown, &golden_dir().join("tasks.md")),
        matches_golden(&asyncapi_text, &golden_dir().join("tasks.asyncapi.json")),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    assert!(failures.is_empty(), "golden catalogue differs (OWLPOST_BLESS=1 rewrites it):\n{}", failures.join("\n"));

    assert!(
        read("example.md").starts_with("<!-- @generated by owlpost docs from `example.json`. -->\n# Message catalogue")
    );
    assert!(read("example.md").contains("| `name.given` | string | yes |  | minLength: 1 |"));
    for page in [&markdown, &html] {
        for expected in [
            "Task catalogue",
            "billing.tasks.charge_card",
            "ChargeCustomerCardInput",
            "dispatch_charge_customer_card",
            "ChargeCustomerCardHandler",
            "TASKHAWK-BILLING-HIGH-PRIORITY",
            "taskhawk-billing-bulk",
            "may choose another priority",
            "What to charge, in cents.",
            "pattern: ^INV-[0-9]+$",
        ] {
            assert!(page.contains(expected), "{expected} missing");
        }
        assert!(!page.contains("not valid"), "an example input failed its schema");
    }
    assert!(
        html.contains(
            r##"<td><code>invoice_id</code></td><td>string (<a href="#definition-InvoiceId-1-0">InvoiceId/1.0</a>)</td><td>yes</td>"##
        ),
        "{html}"
    );
    // Dispatchers and schedules → priority queues → the workers.
    for (from, to) in [
        ("task:billing.tasks.charge_card", "queue:high"),
        ("schedule:late-sweep", "queue:bulk"),
        ("schedule:weekday-reminders", "queue:low"),
        ("queue:high", "worker:billing"),
    ] {
        assert!(html.contains(&format!(r#"data-from="{from}" data-to="{to}""#)), "{from} → {to} missing: {html}");
    }
    assert!(
        html.contains(
            r##"<a href="#task-billing-tasks-remind-overdue"><code>billing.tasks.remind_overdue</code></a>"##
        )
    );
    assert!(html.contains("<li>when: <code>every 6 hours</code>, time zone UTC</li>"), "{html}");

    let asyncapi: Value = serde_json::from_str(&asyncapi_text).unwrap();
    let channels = asyncapi["channels"].as_object().unwrap();
    let used: Vec<&str> = channels.keys().map(String::as_str).collect();
    assert_eq!(
        used,
        ["priority-bulk", "priority-default", "priority-high", "priority-low"],
        "a channel per priority used"
    );
    assert_eq!(asyncapi["channels"]["priority-high"]["address"], "taskhawk-billing-high-priority");
    let operations: Vec<&str> = asyncapi["operations"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(operations.len(), 6, "a send operation per task and per schedule: {operations:?}");
    let sweep = &asyncapi["operations"]["schedule-late-sweep"];
    assert_eq!(sweep["channel"]["$ref"], "#/channels/priority-bulk");
    assert_eq!(sweep["x-owlpost-schedule"]["input"], serde_json::json!({"days": 90}));
    // Every example is a valid input of its task, and every reference resolves.
    let schema =
        owlpost::Schema::from_json("tasks.json", &std::fs::read_to_string(root().join("schemas/tasks.json")).unwrap())
            .unwrap();
    for (key, message) in asyncapi["components"]["messages"].as_object().unwrap() {
        let example = &message["examples"][0]["payload"];
        schema.validate_task(key, example).unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    let mut refs = Vec::new();
    collect_refs(&asyncapi, &mut refs);
    assert!(refs.len() > 8);
    for reference in refs {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {reference}"));
        assert!(asyncapi.pointer(pointer).is_some(), "unresolved $ref {reference}");
    }
}

#[test]
fn task_dry_run_golden_plans() {
    let cases = [
        ("provision-tasks-aws.out", "provision --backend aws --account-id 123456789012 --tasks billing --dry-run"),
        (
            "provision-tasks-gcp.out",
            "provision --backend gcp --project shop --tasks billing --priority bulk --priority high --max-deliveries 7 --dry-run",
        ),
        (
            "provision-schedules-aws.out",
            "provision --backend aws --account-id 123456789012 --tasks billing --priority low --schedules schemas/tasks.json --scheduler-role arn:aws:iam::123456789012:role/scheduler --dry-run",
        ),
        (
            "provision-schedules-gcp.out",
            "provision --backend gcp --project shop --tasks billing --priority low --schedules schemas/tasks.json --scheduler-location europe-west1 --dry-run",
        ),
        (
            "provision-schedules-invalid.out",
            "provision --backend aws --account-id 123456789012 --tasks billing --schedules schemas/check/schedules-input.json --dry-run",
        ),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(file, command)| {
            let args: Vec<&str> = command.split(' ').collect();
            // An endpoint nothing listens on: a dry run never connects.
            let output = Command::cargo_bin("owlpost")
                .unwrap()
                .current_dir(root())
                .args(&args)
                .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
                .env("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")
                .env("AWS_REGION", "eu-west-1")
                .output()
                .unwrap();
            matches_golden(&transcript(&args, &output), &golden_dir().join(file)).err()
        })
        .collect();
    assert!(failures.is_empty(), "golden plans differ (OWLPOST_BLESS=1 rewrites them):\n{}", failures.join("\n"));
}
