//! External programs the browser and SSE tests drive (curl, node, chromium): a missing one
//! is a skip on a bare machine and a failure under CI, like a missing service.

use crate::helpers::in_ci;

pub fn missing(tool: &str, install: &str) {
    if in_ci() {
        panic!("{tool} is required under CI=true but is missing; .ci/run installs it ({install})");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {tool} is not installed; `{install}` to include this test");
}
