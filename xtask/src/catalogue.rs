//! The catalogue checks' npm packages (@asyncapi/parser, playwright-core; pinned by
//! `cli/tests/catalogue/package-lock.json`), installed with `npm ci` when the lock file
//! changed, and `cargo xtask screenshot`: the README's picture of the catalogue.

use std::path::Path;
use std::process::Command;

use crate::python::run;

/// Relative to the workspace root.
const DIR: &str = "cli/tests/catalogue";
/// What `cargo xtask screenshot` writes, relative to the workspace root.
pub const SCREENSHOT: &str = "cli/catalogue.png";

/// `npm ci` in [`DIR`], unless its `node_modules` already holds what the lock file pins.
pub fn install(root: &Path) -> Result<(), String> {
    let dir = root.join(DIR);
    let lock =
        std::fs::read_to_string(dir.join("package-lock.json")).map_err(|e| format!("{DIR}/package-lock.json: {e}"))?;
    let stamp = dir.join("node_modules/owlpost-installed");
    if std::fs::read_to_string(&stamp).is_ok_and(|installed| installed == lock) {
        return Ok(());
    }
    eprintln!("xtask: npm ci in {DIR}");
    run(Command::new("npm").current_dir(&dir).args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]))?;
    std::fs::write(&stamp, lock).map_err(|e| format!("{}: {e}", stamp.display()))
}

/// Writes the catalogue of `schemas/example.json` (with a publisher and a consumer queue
/// declared, as a team would) and photographs its first screen into [`SCREENSHOT`].
pub fn screenshot(root: &Path) -> Result<(), String> {
    install(root)?;
    let out = crate::target_dir(root).join("catalogue");
    let declared = [
        "--publisher",
        "accounts=user-created-v2",
        "--consumer",
        "billing=user-created-v1",
        "--consumer",
        "billing=order.placed-v1",
    ];
    run(crate::cargo()
        .current_dir(root)
        .args(["run", "--quiet", "-p", "owlpost-cli", "--", "docs", "schemas/example.json", "--out"])
        .arg(&out)
        .args(declared))?;
    run(Command::new("node")
        .current_dir(root.join(DIR))
        .arg("browser.mjs")
        .arg(out.join("example.html"))
        .arg(root.join(SCREENSHOT))
        .arg("user"))?;
    eprintln!("xtask: wrote {SCREENSHOT}");
    Ok(())
}
