//! Python virtualenvs the test suite needs, created on first use and re-created when what
//! they should hold changes: ministack (the SNS/SQS emulator) in `.venv`, and the reference
//! Hedwig library (hedwig-python, for the interop suite) in `tests/interop/.venv`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// ministack's version, checked against the AWS SDK here (see shared/EMULATORS.md).
const MINISTACK: &str = "ministack==1.5.33";
/// What the interop suite's virtualenv holds (pinned there).
const INTEROP_REQUIREMENTS: &str = "tests/interop/requirements.txt";

/// `.venv/bin/ministack`, installed if needed.
pub fn ministack(root: &Path) -> Result<PathBuf, String> {
    let venv = root.join(".venv");
    ensure(&venv, MINISTACK, &[MINISTACK])?;
    Ok(venv.join("bin/ministack"))
}

/// Installs hedwig-python into `tests/interop/.venv` if needed ([`interop_python`] runs it).
pub fn interop(root: &Path) -> Result<(), String> {
    let requirements = root.join(INTEROP_REQUIREMENTS);
    let wanted = std::fs::read_to_string(&requirements).map_err(|e| format!("{}: {e}", requirements.display()))?;
    let venv = interop_venv(root);
    ensure(&venv, &wanted, &["-r", requirements.as_os_str().to_str().ok_or("non UTF-8 path")?])
}

/// Where [`interop`] puts the reference library's interpreter.
pub fn interop_python(root: &Path) -> PathBuf {
    interop_venv(root).join("bin/python")
}

fn interop_venv(root: &Path) -> PathBuf {
    root.join("tests/interop/.venv")
}

/// Makes `venv` hold what `pip install <args>` installs, unless its stamp says it already
/// holds `wanted` for the same `python3` (an existing virtualenv is added to, not cleared).
fn ensure(venv: &Path, wanted: &str, args: &[&str]) -> Result<(), String> {
    let python = Command::new("python3").arg("--version").output().map_err(|e| format!("python3: {e}"))?;
    let wanted = format!("{}{wanted}", String::from_utf8_lossy(&python.stdout));
    let stamp = venv.join("owlpost-installed");
    let installed = std::fs::read_to_string(&stamp).is_ok_and(|installed| installed == wanted);
    if installed && venv.join("bin/python").exists() {
        return Ok(());
    }
    eprintln!("xtask: installing {} into {}", args.join(" "), venv.display());
    run(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
    run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check"]).args(args))?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("{}: {e}", stamp.display()))
}

fn run(command: &mut Command) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("{command:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{command:?} failed: {status}")) }
}
