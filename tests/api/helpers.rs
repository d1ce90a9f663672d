//! `spawn_app` and friends: boot the real `App` over a fresh database, talk to it over HTTP.

use clinicstream::clock::SharedClock;
use clinicstream::events::MemoryBus;
use clinicstream::{App, AppState, Config};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

pub use crate::waits::{eventually, until};

pub const ADMIN_KEY: &str = "cs_test_admin_key_0123456789";

/// The tests' `DB_ACQUIRE_TIMEOUT`: what a query that waits for the pool's connection
/// while its own task holds it (a self-wait) waits, and then fails.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the suite finds Postgres; `TEST_POSTGRES_URL` overrides it.
fn postgres_server() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// Whether the Postgres port answers, probed once per test process with a short timeout so
/// a machine without Postgres skips quickly.
fn postgres_reachable() -> Result<(), String> {
    static PROBE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    PROBE
        .get_or_init(|| {
            let server = postgres_server();
            let host = server.rsplit('@').next().unwrap_or(&server).trim_start_matches("postgres://");
            let host = host.split('/').next().unwrap_or(host);
            let addr = std::net::ToSocketAddrs::to_socket_addrs(host)
                .map_err(|e| format!("{host}: {e}"))?
                .next()
                .ok_or_else(|| format!("{host}: no address"))?;
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2))
                .map(|_| ())
                .map_err(|e| format!("{host}: {e}"))
        })
        .clone()
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Reports a missing service: a skip on a bare machine, a failure under CI.
pub fn unavailable(service: &str, why: &str) {
    if in_ci() {
        panic!("{service} is required under CI=true but is unavailable: {why}");
    }
    // Straight to stderr: the test harness captures eprintln! of passing tests.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {service} is not reachable ({why}); start it on 127.0.0.1:5432 to include this test"
    );
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// The in-process app's state; None for a server in another process.
    in_process: Option<AppState>,
    http: reqwest::Client,
    _db: Option<TestDb>,
    /// Whether dropping this handle stops the app.
    owner: bool,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A fresh database, shared by the apps (replicas) that run on it; removed with the last.
#[derive(Clone)]
pub struct TestDb {
    pub url: String,
    _cleanup: Arc<Cleanup>,
}

enum Cleanup {
    SqliteFile(std::path::PathBuf),
    PostgresDb(String),
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if self.owner
            && let Some(state) = &self.in_process
        {
            state.shutdown.cancel();
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::PostgresDb(name) => {
                let name = name.clone();
                // Drop runs inside the test's runtime: do the async cleanup on a thread of its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                    rt.block_on(async {
                        let admin = Database::connect(format!("{}/postgres", postgres_server())).await.ok()?;
                        admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await.ok()
                    })
                })
                .join();
            }
        }
    }
}

/// A fresh, empty database of `backend`, or None (skipped).
pub async fn fresh_db(backend: Backend) -> Option<TestDb> {
    let (url, cleanup) = fresh_database(backend).await?;
    Some(TestDb { url, _cleanup: Arc::new(cleanup) })
}

async fn fresh_database(backend: Backend) -> Option<(String, Cleanup)> {
    let id = uuid::Uuid::now_v7().simple().to_string();
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("clinicstream-test-{id}.sqlite"));
            Some((format!("sqlite://{}?mode=rwc", path.display()), Cleanup::SqliteFile(path)))
        }
        Backend::Postgres => {
            if let Err(why) = postgres_reachable() {
                unavailable("PostgreSQL", &why);
                return None;
            }
            let name = format!("cs_test_{id}");
            let admin = match Database::connect(format!("{}/postgres", postgres_server())).await {
                Ok(db) => db,
                Err(err) => {
                    unavailable("PostgreSQL", &err.to_string());
                    return None;
                }
            };
            admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
            let _ = admin.close().await;
            Some((format!("{}/{name}", postgres_server()), Cleanup::PostgresDb(name)))
        }
    }
}

/// Settings for a test app: port 0, the test admin key, fast websocket init timeout.
pub fn test_config(database_url: &str) -> Config {
    let mut config = Config::with_database(database_url);
    config.listen_addr = "127.0.0.1:0".into();
    config.admin_key = Some(ADMIN_KEY.into());
    config.db.db_max_connections = 10;
    // Code that holds the pool's connection and asks for another waits for itself (on
    // SQLite's one connection): short, so that such a wait fails the test that takes it
    // (an error, or a mutation slower than the timeout) instead of stalling it for 30 s.
    config.db.db_acquire_timeout = ACQUIRE_TIMEOUT;
    // Tests that measure limits set their own; the rest must not trip over them.
    config.rate_limit_per_sec = 1_000_000;
    config.rate_limit_burst = 1_000_000;
    config
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Boots the app with `adjust` applied to its settings; None when the backend is unavailable.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
    // The server's errors show in a failing test's output (RUST_LOG for more).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "error".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    let db = fresh_db(backend).await?;
    let mut config = test_config(&db.url);
    adjust(&mut config);
    let app = App::build(config).await.expect("app builds");
    Some(TestApp::run(app, db))
}

/// Boots the app over `db` (which others may share) with `adjust` applied to its settings.
pub async fn spawn_app_on(db: &TestDb, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config(&db.url);
    adjust(&mut config);
    let app = App::build(config).await.expect("app builds");
    TestApp::run(app, db.clone())
}

/// Boots one replica over `db` (which others may share) with `clock` and a bus of its own.
pub async fn spawn_replica(db: &TestDb, clock: SharedClock) -> TestApp {
    spawn_replica_with(db, clock, |_| {}).await
}

/// Like `spawn_replica`, with `adjust` applied to its settings.
pub async fn spawn_replica_with(db: &TestDb, clock: SharedClock, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config(&db.url);
    config.db.db_max_connections = 5;
    adjust(&mut config);
    let conn = clinicstream::db::connect(&config.db).await.expect("database connects");
    let bus = Arc::new(MemoryBus::new(config.bus.bus_capacity));
    let app = App::build_with(config, conn, bus, clock).await.expect("app builds");
    TestApp::run(app, db.clone())
}

impl TestApp {
    pub fn run(app: App, db: TestDb) -> Self {
        let addr = app.local_addr();
        let state = app.state().clone();
        let task = tokio::spawn(app.run_until(std::future::pending()));
        TestApp {
            addr,
            in_process: Some(state),
            http: reqwest::Client::new(),
            _db: Some(db),
            owner: true,
            task: Some(task),
        }
    }

    /// Stops the app the way a signal does and waits until it has (its workers included).
    pub async fn stop(mut self) {
        self.state().shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("the app task ends").expect("the app stops cleanly");
        }
    }
}

impl TestApp {
    /// Another handle on the same running app, for spawned tasks (it cleans nothing up).
    pub fn clone_handle(&self) -> TestApp {
        TestApp {
            addr: self.addr,
            in_process: self.in_process.clone(),
            http: self.http.clone(),
            _db: self._db.clone(),
            owner: false,
            task: None,
        }
    }

    /// A handle on a server running in another process (the real binary) at `addr`.
    pub fn external(addr: SocketAddr) -> TestApp {
        TestApp { addr, in_process: None, http: reqwest::Client::new(), _db: None, owner: false, task: None }
    }

    /// The in-process app's state.
    pub fn state(&self) -> &AppState {
        self.in_process.as_ref().expect("an in-process app")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// POSTs a GraphQL request with `key` (None: no Authorization header).
    pub async fn gql(&self, key: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self.http.post(self.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("request sent");
        assert_eq!(response.status(), 200, "GraphQL over HTTP with application/json answers 200");
        response.json().await.expect("JSON body")
    }

    pub async fn admin(&self, query: &str, variables: Value) -> Value {
        self.gql(Some(ADMIN_KEY), query, variables).await
    }

    /// Like `gql`, but the response must have no errors; returns `data`.
    pub async fn ok(&self, key: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(Some(key), query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// One practice with a provider, a patient and a key of each scoped role.
    pub async fn fixture(&self) -> Fixture {
        let practice = self
            .ok(
                ADMIN_KEY,
                "mutation($n: String!) { createPractice(input: {name: $n, timezone: \"America/New_York\", currency: \"USD\"}) { id } }",
                json!({ "n": format!("Practice {}", uuid::Uuid::now_v7().simple()) }),
            )
            .await["createPractice"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let provider = self
            .ok(
                ADMIN_KEY,
                "mutation($p: ID!) { createProvider(input: {practiceId: $p, name: \"Dr. Ada Park\", kind: DENTIST}) { id } }",
                json!({ "p": practice }),
            )
            .await["createProvider"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut keys = Vec::new();
        for role in ["BACKOFFICE", "SUBSCRIBER", "ADMIN"] {
            let data = self
                .ok(
                    ADMIN_KEY,
                    "mutation($p: ID!, $r: Role!) { createApiKey(input: {practiceId: $p, role: $r, name: \"test\"}) { key } }",
                    json!({ "p": practice, "r": role }),
                )
                .await;
            keys.push(data["createApiKey"]["key"].as_str().unwrap().to_string());
        }
        let patient = self
            .ok(
                &keys[0],
                "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"Maria\", lastName: \"Lopez\", email: \"maria@example.com\"}) { id } }",
                json!({ "p": practice }),
            )
            .await["createPatient"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        Fixture {
            practice,
            provider,
            patient,
            backoffice: keys[0].clone(),
            subscriber: keys[1].clone(),
            practice_admin: keys[2].clone(),
        }
    }

    /// Posts a payment as `key` and returns the response body.
    pub async fn post_payment(&self, key: &str, patient: &str, cents: i64) -> Value {
        self.gql(
            Some(key),
            "mutation($p: ID!, $a: Int!) { postPayment(input: {patientId: $p, amountCents: $a, method: CARD}) { id amountCents } }",
            json!({ "p": patient, "a": cents }),
        )
        .await
    }

    /// Deletes the practice's events up to `seq`, as retention would have pruned them.
    pub async fn prune_log_through(&self, practice: &str, seq: i64) {
        use clinicstream::db::entities::event;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        event::Entity::delete_many()
            .filter(event::Column::PracticeId.eq(practice))
            .filter(event::Column::Seq.lte(seq))
            .exec(&self.state().services.domain.db)
            .await
            .unwrap();
    }

    /// The practice's whole log as (seq, type) pairs, via the `events` query.
    pub async fn log(&self, practice: &str) -> Vec<(i64, String)> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let data = self
                .ok(
                    ADMIN_KEY,
                    "query($p: ID!, $a: String) { events(practiceId: $p, after: $a, first: 200) { edges { cursor node { seq type } } pageInfo { hasNextPage } } }",
                    json!({ "p": practice, "a": after }),
                )
                .await;
            let edges = data["events"]["edges"].as_array().unwrap().clone();
            for edge in &edges {
                out.push((edge["node"]["seq"].as_i64().unwrap(), edge["node"]["type"].as_str().unwrap().to_string()));
                after = Some(edge["cursor"].as_str().unwrap().to_string());
            }
            if !data["events"]["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                return out;
            }
        }
    }
}

pub struct Fixture {
    pub practice: String,
    pub provider: String,
    pub patient: String,
    pub backoffice: String,
    pub subscriber: String,
    pub practice_admin: String,
}

/// The `extensions.code` of the first error in a response body.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| {
        let text = body.to_string();
        panic!("expected an error with a code: {}", &text[..text.len().min(500)])
    })
}

/// Declares a test for each backend: `name::sqlite` and `name::postgres`, each running the
/// async fn `name(app: TestApp)` of the enclosing module.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::{Backend, spawn_app};

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = spawn_app(Backend::Sqlite).await {
                        super::$name(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = spawn_app(Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            }
        )+
    };
}

/// `n` replicas sharing one fresh Postgres database and the Redis at `redis_url`, under a
/// channel prefix of their own. None when Postgres is unavailable (skipped).
pub async fn spawn_replicas(n: usize, redis_url: &str, adjust: impl Fn(&mut Config)) -> Option<Vec<TestApp>> {
    let db = fresh_db(Backend::Postgres).await?;
    let prefix = format!("cs-test-{}", uuid::Uuid::now_v7().simple());
    let mut replicas = Vec::new();
    // Built one after another: each runs the migrations, which must not race.
    for _ in 0..n {
        let mut config = test_config(&db.url);
        config.bus.redis_url = Some(redis_url.to_string());
        config.bus.redis_prefix = prefix.clone();
        adjust(&mut config);
        let app = App::build(config).await.expect("replica builds");
        replicas.push(TestApp::run(app, db.clone()));
    }
    // The database goes with the last replica dropped.
    Some(replicas)
}
