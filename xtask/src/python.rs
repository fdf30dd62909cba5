//! Python virtualenvs the test suite needs, created on first use and re-created when what
//! they should hold changes: ministack (the SNS/SQS emulator) in `.venv`, and for the interop
//! suite the reference libraries, each in its own (their dependencies conflict): hedwig-python
//! in `tests/interop/.venv`, taskhawk-python in `tests/interop/taskhawk/.venv`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// ministack's version, checked against the AWS SDK here (see shared/EMULATORS.md).
const MINISTACK: &str = "ministack==1.5.33";
/// A reference library of the interop suite: the directory holding its `requirements.txt`
/// (pinned there) and its virtualenv `.venv`, and the variable the tests find its
/// interpreter by.
pub struct Reference {
    /// Relative to the workspace root.
    dir: &'static str,
    /// The environment variable naming the virtualenv's interpreter.
    pub variable: &'static str,
}

/// hedwig-python, for the Hedwig half of the interop suite.
pub const HEDWIG: Reference = Reference { dir: "tests/interop", variable: "OWLPOST_INTEROP_PYTHON" };
/// taskhawk-python, for the Taskhawk half of the interop suite.
pub const TASKHAWK: Reference = Reference { dir: "tests/interop/taskhawk", variable: "OWLPOST_TASKHAWK_PYTHON" };
/// Every reference library the interop suite runs against.
pub const REFERENCES: [Reference; 2] = [HEDWIG, TASKHAWK];

/// `.venv/bin/ministack`, installed if needed.
pub fn ministack(root: &Path) -> Result<PathBuf, String> {
    let venv = root.join(".venv");
    ensure(&venv, MINISTACK, &[MINISTACK])?;
    Ok(venv.join("bin/ministack"))
}

/// Installs every reference library into its virtualenv if needed ([`Reference::python`]
/// runs it).
pub fn interop(root: &Path) -> Result<(), String> {
    REFERENCES.iter().try_for_each(|reference| reference.install(root))
}

impl Reference {
    /// Installs the library into its virtualenv unless it already holds it.
    pub fn install(&self, root: &Path) -> Result<(), String> {
        let requirements = root.join(self.dir).join("requirements.txt");
        let wanted = std::fs::read_to_string(&requirements).map_err(|e| format!("{}: {e}", requirements.display()))?;
        ensure(&self.venv(root), &wanted, &["-r", requirements.as_os_str().to_str().ok_or("non UTF-8 path")?])
    }

    /// Where [`interop`] puts the library's interpreter.
    pub fn python(&self, root: &Path) -> PathBuf {
        self.venv(root).join("bin/python")
    }

    fn venv(&self, root: &Path) -> PathBuf {
        root.join(self.dir).join(".venv")
    }
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

pub fn run(command: &mut Command) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("{command:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{command:?} failed: {status}")) }
}
