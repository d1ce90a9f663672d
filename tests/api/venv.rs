//! A Python virtualenv under `target/` with pinned PyPI packages, made and filled with pip
//! on first use: the tests' Python clients (gRPC, the OTLP receiver) run in one of these.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `target/<name>`'s python with `packages` installed (checked by running `imports`), or
/// why it cannot be had.
pub fn install(name: &str, packages: &[&str], imports: &str) -> Result<PathBuf, String> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join(name);
    let python = venv.join("bin").join("python");
    let ready = |python: &Path| {
        Command::new(python).args(["-c", imports]).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return Ok(python);
    }
    if !python.exists() {
        let made = Command::new("python3").arg("-m").arg("venv").arg(&venv).status();
        if !made.is_ok_and(|s| s.success()) {
            return Err(format!("`python3 -m venv target/{name}` failed (is python3 with venv installed?)"));
        }
    }
    let pip = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(packages)
        .stdout(Stdio::null())
        .status();
    if !pip.is_ok_and(|s| s.success()) || !ready(&python) {
        return Err(format!("`pip install {}` into target/{name} failed", packages.join(" ")));
    }
    Ok(python)
}
