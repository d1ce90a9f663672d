//! A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records every request
//! (path, headers, body, arrival order), answers from a script (then 200), can be stopped
//! and started again on the same port, and notes any two requests to one path in flight
//! at the same moment.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    /// The `traceparent` header ("" when none).
    pub traceparent: String,
    /// What the receiver answered.
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    pub fn seq(&self) -> i64 {
        self.json()["data"]["seq"].as_i64().expect("data.seq")
    }
}

#[derive(Default)]
struct Shared {
    log: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<(u16, Option<String>)>>,
    in_flight: Mutex<HashMap<String, usize>>,
    overlaps: AtomicUsize,
    /// How long each answer takes, so overlapping requests would be seen.
    delay: Mutex<Duration>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        let mut receiver = Self { addr: listener.local_addr().unwrap(), shared: Arc::default(), server: None };
        receiver.serve(listener);
        receiver
    }

    fn serve(&mut self, listener: TcpListener) {
        let app = axum::Router::new().fallback(receive).with_state(self.shared.clone());
        self.server = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next answers, in order (then 200 again).
    pub fn script(&self, statuses: &[u16]) {
        self.shared.script.lock().unwrap().extend(statuses.iter().map(|s| (*s, None)));
    }

    /// The next answer, with a `Retry-After` header.
    pub fn script_retry_after(&self, status: u16, retry_after: &str) {
        self.shared.script.lock().unwrap().push_back((status, Some(retry_after.to_string())));
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    pub fn requests(&self) -> Vec<Received> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Requests to one path that arrived while another to the same path was in flight.
    pub fn overlaps(&self) -> usize {
        self.shared.overlaps.load(Ordering::SeqCst)
    }

    /// Stops listening: connections are refused until `restart`.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    pub async fn restart(&mut self) {
        let addr = self.addr;
        let bound = crate::helpers::eventually(
            Duration::from_millis(2500),
            async || TcpListener::bind(addr).await.ok(),
            Option::is_some,
        );
        let listener = bound.await.ok().flatten().unwrap_or_else(|| panic!("could not listen on {addr} again"));
        self.serve(listener)
    }

    /// Waits until `done` holds for the requests so far (or panics after `within`).
    pub async fn wait_for(&self, within: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let requests = crate::helpers::eventually(within, async || self.requests(), |r| done(r)).await;
        requests.unwrap_or_else(|r| panic!("timed out; the receiver saw {} requests", r.len()))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (status, retry_after) = shared.script.lock().unwrap().pop_front().unwrap_or((200, None));
    {
        let mut in_flight = shared.in_flight.lock().unwrap();
        let count = in_flight.entry(path.clone()).or_default();
        if *count > 0 {
            shared.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        *count += 1;
    }
    shared.log.lock().unwrap().push(Received {
        path: path.clone(),
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
        traceparent: header("traceparent"),
        status,
    });
    let delay = *shared.delay.lock().unwrap();
    // timing: a receiver that takes this long to answer, as the test asked.
    tokio::time::sleep(delay).await;
    *shared.in_flight.lock().unwrap().entry(path).or_default() -= 1;
    let mut response = (StatusCode::from_u16(status).unwrap(), "answer from the test receiver").into_response();
    if let Some(value) = retry_after {
        response.headers_mut().insert("retry-after", value.parse().unwrap());
    }
    response
}
