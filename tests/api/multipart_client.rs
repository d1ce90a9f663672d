//! A small client for Apollo's multipart HTTP subscriptions: POSTs with
//! `Accept: multipart/mixed;subscriptionSpec="1.0"` and reads the JSON parts.

use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::TestApp;

pub const ACCEPT: &str = "multipart/mixed;boundary=\"graphql\";subscriptionSpec=\"1.0\",application/json";
const DELIMITER: &str = "\r\n--graphql";

pub async fn post(app: &TestApp, key: Option<&str>, query: &str, variables: Value) -> reqwest::Response {
    let mut request = app
        .http()
        .post(app.url("/graphql"))
        .header("accept", ACCEPT)
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("request sent")
}

pub struct Parts {
    response: reqwest::Response,
    buffer: String,
    /// Whether the closing delimiter (`--graphql--`) came.
    pub closed: bool,
}

/// What the next read found.
#[derive(Debug)]
pub enum Next {
    Part(Value),
    /// The closing delimiter.
    Closed,
    /// The body ended without one.
    Cut,
}

impl Parts {
    pub async fn open(app: &TestApp, key: &str, query: &str, variables: Value) -> Self {
        let response = post(app, Some(key), query, variables).await;
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!(content_type, "multipart/mixed;boundary=\"graphql\";subscriptionSpec=\"1.0\"");
        Self { response, buffer: String::new(), closed: false }
    }

    /// The next part (heartbeats included), within 10 s.
    pub async fn next(&mut self) -> Next {
        tokio::time::timeout(Duration::from_secs(10), self.read()).await.expect("a part within 10 s")
    }

    /// The next part that is not a heartbeat.
    pub async fn next_payload(&mut self) -> Value {
        loop {
            match self.next().await {
                Next::Part(part) if part == json!({}) => continue,
                Next::Part(part) => return part,
                other => panic!("expected a part, got {other:?}"),
            }
        }
    }

    async fn read(&mut self) -> Next {
        loop {
            // A part is complete when the delimiter after it has arrived.
            if let Some(start) = self.buffer.find(DELIMITER) {
                let rest = &self.buffer[start + DELIMITER.len()..];
                if rest.starts_with("--") {
                    self.closed = true;
                    return Next::Closed;
                }
                if let Some(end) = rest.find(DELIMITER) {
                    let part = rest[..end].to_string();
                    self.buffer = self.buffer[start + DELIMITER.len() + end..].to_string();
                    let (headers, body) = part.split_once("\r\n\r\n").expect("a part has headers and a body");
                    assert!(headers.to_ascii_lowercase().contains("content-type: application/json"), "{headers}");
                    return Next::Part(serde_json::from_str(body).expect("the part is JSON"));
                }
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8")),
                _ => return Next::Cut,
            }
        }
    }
}
