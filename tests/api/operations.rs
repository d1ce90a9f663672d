//! What operators rely on: Prometheus metrics that move, a graceful drain on SIGTERM that
//! loses nothing, logs without patient data, and an AsyncAPI document that validates.

use serde_json::json;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{ADMIN_KEY, Backend, fresh_db, spawn_app, test_config, unavailable};
use crate::redis_server::shared;
use crate::replicas::{collect, collect_within, subscriber};

fn scrape(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("/metrics parses as Prometheus text")
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_when_events_flow() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let get = || async { app.http().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap() };
    let before = scrape(&get().await);
    let mut client = subscriber(&app, &f.subscriber, &f.practice, None).await;
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    collect(&mut client, 1).await;
    let after = scrape(&get().await);
    let ws = Some(("transport", "websocket"));
    assert_eq!(
        value(&after, "clinicstream_events_appended_total", None)
            - value(&before, "clinicstream_events_appended_total", None),
        1.0
    );
    assert!(
        value(&after, "clinicstream_events_published_total", None)
            > value(&before, "clinicstream_events_published_total", None)
    );
    assert_eq!(value(&after, "clinicstream_events_delivered_total", ws), 1.0);
    assert_eq!(value(&after, "clinicstream_connections", ws), 1.0);
    assert_eq!(value(&after, "clinicstream_subscriptions", ws), 1.0);
    assert_eq!(value(&after, "clinicstream_event_delivery_latency_seconds_count", None), 1.0);
    assert!(
        value(&after, "clinicstream_graphql_request_duration_seconds_count", Some(("operation", "mutation"))) >= 1.0
    );
    client.close().await;
    let gauges = async || scrape(&get().await);
    let down =
        |m: &_| value(m, "clinicstream_connections", ws) == 0.0 && value(m, "clinicstream_subscriptions", ws) == 0.0;
    let closed = crate::helpers::eventually(Duration::from_secs(5), gauges, down).await.unwrap_or_else(|m| m);
    assert_eq!(value(&closed, "clinicstream_connections", ws), 0.0, "gauges come back down");
    assert_eq!(value(&closed, "clinicstream_subscriptions", ws), 0.0);
}

/// The real binary, started with `env` on a free port.
struct Server {
    child: Child,
    pub addr: std::net::SocketAddr,
}

impl Server {
    fn start(env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_clinicstream"))
            .arg("serve")
            .env("LISTEN_ADDR", addr.to_string())
            .env("ADMIN_KEY", ADMIN_KEY)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        Self { child, addr }
    }

    async fn ready(&self) {
        let http = reqwest::Client::new();
        let url = format!("http://{}/readyz", self.addr);
        let ready = async || http.get(&url).send().await.is_ok_and(|r| r.status() == 200);
        let up = crate::helpers::eventually(Duration::from_secs(10), ready, |up| *up).await;
        assert!(up.is_ok(), "the server did not become ready");
    }

    fn terminate(&self) {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill runs");
    }

    /// Waits for exit (at most `limit`), returning the stderr log.
    fn wait(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut log = String::new();
                let _ = self.child.stderr.take().unwrap().read_to_string(&mut log);
                return (status, log);
            }
            assert!(started.elapsed() < limit, "the server did not exit within {limit:?}");
            // timing: the pause between two looks at the child (a blocking wait, no runtime).
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_commits_in_flight_mutations_and_clients_resume_elsewhere() {
    let Some(redis) = shared() else { return };
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let prefix = format!("cs-test-{}", uuid::Uuid::now_v7().simple());
    let server = Server::start(&[
        ("DATABASE_URL", &db.url),
        ("REDIS_URL", &redis),
        ("REDIS_PREFIX", &prefix),
        ("SHUTDOWN_DEADLINE_SECS", "5"),
    ]);
    server.ready().await;
    // Replica B, in process, on the same database and Redis.
    let mut config = test_config(&db.url);
    config.bus.redis_url = Some(redis.clone());
    config.bus.redis_prefix = prefix.clone();
    let b = clinicstream::App::build(config).await.unwrap();
    let b_addr = b.local_addr();
    let b_state = b.state().clone();
    tokio::spawn(b.run_until(std::future::pending()));
    let a = crate::helpers::TestApp::external(server.addr);
    let f = a.fixture().await;

    let from_start = clinicstream::events::Cursor { practice_id: f.practice.clone(), seq: 1 }.encode();
    let mut client = subscriber(&a, &f.subscriber, &f.practice, Some(&from_start)).await;
    let http = reqwest::Client::new();
    let mutations: Vec<_> = (0..40)
        .map(|_| {
            let (http, url, key, patient) = (http.clone(), a.url("/graphql"), f.backoffice.clone(), f.patient.clone());
            tokio::spawn(async move {
                let body = json!({ "query": "mutation($p: ID!) { postPayment(input: {patientId: $p, amountCents: 1, method: CASH}) { id } }", "variables": { "p": patient } });
                let response = http.post(url).bearer_auth(key).json(&body).send().await.ok()?;
                let body: serde_json::Value = response.json().await.ok()?;
                body["data"]["postPayment"]["id"].as_str().map(|_| Instant::now())
            })
        })
        .collect();
    // timing: SIGTERM lands while the mutations are in flight, a window no state shows
    // from outside (group commit answers a batch at once, so a first commit is too late).
    tokio::time::sleep(Duration::from_millis(30)).await;
    let terminated = Instant::now();
    server.terminate();
    let (mut committed, mut after_sigterm) = (0, 0);
    for m in mutations {
        if let Some(answered) = m.await.unwrap() {
            committed += 1;
            after_sigterm += usize::from(answered > terminated);
        }
    }
    assert!(after_sigterm > 0, "some mutations were still in flight when SIGTERM arrived");
    // The client is told to go elsewhere, after what it was sent.
    let mut seen = collect_within(&mut client, 1000, Duration::from_secs(3)).await;
    assert_eq!(client.closed().await, Some(1001), "websocket clients get 1001 Going Away");
    let (status, _log) = tokio::task::spawn_blocking(move || server.wait(Duration::from_secs(8))).await.unwrap();
    assert!(status.success(), "clean exit: {status:?}");
    assert!(terminated.elapsed() < Duration::from_secs(8));
    // Every answered mutation committed, and nothing else did.
    let b_app = crate::helpers::TestApp::external(b_addr);
    let _b = b_state;
    let log = b_app.log(&f.practice).await;
    let payments = log.iter().filter(|(_, t)| t == "PAYMENT_POSTED").count();
    assert_eq!(payments, committed, "answered mutations are exactly the committed ones");
    assert!(committed > 0);
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "sigterm: {committed} of 40 concurrent mutations answered and committed ({after_sigterm} after SIGTERM), {} events streamed before 1001, exit after {:.2} s",
        seen.len(),
        terminated.elapsed().as_secs_f64()
    );
    // Resuming on B misses nothing.
    let last = seen.last().map(|(_, c)| c.clone()).unwrap_or(from_start);
    let mut resumed = subscriber(&b_app, &f.subscriber, &f.practice, Some(&last)).await;
    let rest = log.len() - 1 - seen.len();
    seen.extend(collect(&mut resumed, rest).await);
    assert_eq!(seen.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (2..=log.len() as i64).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_patient_data_or_keys() {
    let Some(db) = fresh_db(Backend::Sqlite).await else { return };
    let server = Server::start(&[("DATABASE_URL", &db.url), ("RUST_LOG", "debug"), ("LOG_FORMAT", "json")]);
    server.ready().await;
    let app = crate::helpers::TestApp::external(server.addr);
    let f = app.fixture().await;
    let created = app
        .ok(&f.backoffice, "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"Zebulon\", lastName: \"Quixotic\", email: \"zq.private@example.org\", phone: \"+1 555 867 5309\"}) { id } }", json!({ "p": f.practice }))
        .await;
    let id = created["createPatient"]["id"].as_str().unwrap().to_string();
    app.ok(
        &f.backoffice,
        "mutation($id: ID!) { updatePatient(input: {id: $id, lastName: \"Quixotically\"}) { id } }",
        json!({ "id": id }),
    )
    .await;
    let search =
        app.http()
            .get(app.url(
                "/graphql?query=%7Bpatients(practiceId%3A%22x%22%2Csearch%3A%22Zebulon%22)%7Bedges%7Bcursor%7D%7D%7D",
            ))
            .bearer_auth(&f.backoffice)
            .send()
            .await
            .unwrap();
    assert_eq!(search.status(), 200);
    server.terminate();
    let (_, log) = tokio::task::spawn_blocking(move || server.wait(Duration::from_secs(15))).await.unwrap();
    let lines: Vec<serde_json::Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(lines.len() > 10, "the server logged JSON lines:\n{log}");
    assert!(lines.iter().any(|l| l["span"]["request_id"].is_string()), "requests carry a request id");
    for secret in ["Zebulon", "Quixotic", "zq.private", "867 5309", ADMIN_KEY, &f.backoffice, &f.subscriber] {
        assert!(!log.contains(secret), "the log contains {secret:?}");
    }
}

#[tokio::test]
async fn the_asyncapi_document_validates_with_the_official_parser() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let served: serde_json::Value =
        app.http().get(app.url("/asyncapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(served["asyncapi"], "3.0.0");
    assert_eq!(served, clinicstream::asyncapi::document().await, "the endpoint serves the generated document");
    for event_type in clinicstream::vocab::EventType::ALL {
        assert!(served["components"]["messages"][event_type.as_str()].is_object(), "{event_type:?} is documented");
        let webhook = format!("webhook_{}", event_type.as_str());
        assert!(served["components"]["messages"][&webhook].is_object(), "{webhook} is documented");
    }
    for message in ["command", "commandResult", "commandDeadLetter"] {
        assert!(served["components"]["messages"][message].is_object(), "{message} (commands in) is documented");
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/asyncapi");
    if Command::new("node").arg("--version").output().is_err() {
        unavailable("node", "not on PATH; the AsyncAPI parser check needs Node.js");
        return;
    }
    if !std::path::Path::new(dir).join("node_modules/@asyncapi/parser").exists() {
        let installed =
            Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--silent"]).current_dir(dir).status();
        assert!(installed.is_ok_and(|s| s.success()), "npm ci of @asyncapi/parser failed");
    }
    let file = std::env::temp_dir().join(format!("asyncapi-{}.json", uuid::Uuid::now_v7().simple()));
    std::fs::write(&file, served.to_string()).unwrap();
    let output = Command::new("node").arg("validate.mjs").arg(&file).current_dir(dir).output().unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid AsyncAPI 3.0.0"));
}
