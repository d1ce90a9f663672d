//! Checking signatures with an independent implementation: the `standardwebhooks` package
//! from PyPI, run in a Python subprocess (installed with pip when missing).

use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

use super::receiver::Received;
use crate::helpers::unavailable;

const SCRIPT: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
cases = json.load(sys.stdin)
for i, case in enumerate(cases):
    headers = {"webhook-id": case["id"], "webhook-timestamp": case["timestamp"], "webhook-signature": case["signature"]}
    try:
        Webhook(case["secret"]).verify(case["body"], headers)
        ok = True
    except WebhookVerificationError as err:
        ok, why = False, str(err)
    if ok != case["expect"]:
        sys.exit(f"case {i}: expected {'a valid' if case['expect'] else 'an invalid'} signature, got {'valid' if ok else why}")
print(f"verified {len(cases)}")
"#;

fn python_has_the_package() -> bool {
    Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure `standardwebhooks` can be imported; false (skipped, or failed under CI) if not.
pub fn ready() -> bool {
    if python_has_the_package() {
        return true;
    }
    let _ = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "standardwebhooks"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if python_has_the_package() {
        return true;
    }
    unavailable("python3 with the standardwebhooks package", "`python3 -m pip install standardwebhooks` failed");
    false
}

/// One verification: the request, the secret to verify it with, and whether it must pass.
pub fn case(request: &Received, secret: &str, expect: bool) -> Value {
    json!({
        "id": request.id,
        "timestamp": request.timestamp,
        "signature": request.signature,
        "body": request.body,
        "secret": secret,
        "expect": expect,
    })
}

/// Runs every case through the Python library; panics with its complaint if one differs.
pub fn check(cases: &[Value]) {
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(Value::from(cases.to_vec()).to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "standardwebhooks disagrees: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.trim(), format!("verified {}", cases.len()));
}
