//! The real binary as a replica of its own, for tests that must kill a server outright
//! (SIGKILL) or see what the process does: `serve` on a free port with the environment a
//! test gives, ready once `/readyz` answers; killed and reaped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::bridges::brokers::free_port;
use crate::helpers::{TestApp, eventually};

pub struct Binary(Child);

impl Binary {
    /// Starts the binary with `env` (`LISTEN_ADDR` is its own) and waits up to
    /// `ready_within` for it to be ready; the app it serves, to talk to.
    pub async fn start<'a>(
        env: impl IntoIterator<Item = (&'a str, &'a str)>,
        ready_within: Duration,
    ) -> (Self, TestApp) {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_clinicstream"))
            .arg("serve")
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let binary = Binary(child);
        let app = TestApp::external(format!("127.0.0.1:{port}").parse().unwrap());
        let ready = async || app.http().get(app.url("/readyz")).send().await.is_ok_and(|r| r.status() == 200);
        assert!(eventually(ready_within, ready, |up| *up).await.is_ok(), "the binary became ready");
        (binary, app)
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        self.kill();
    }
}
