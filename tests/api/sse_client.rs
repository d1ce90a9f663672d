//! A small GraphQL-over-SSE client for asserting exact events: opens `/graphql/stream` and
//! reads `event:`/`id:`/`data:` messages (comments skipped, counted).

use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::TestApp;

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("data is JSON ({e}): {}", self.data))
    }
}

pub struct SseStream {
    response: reqwest::Response,
    buffer: String,
    pub comments: usize,
}

/// POSTs `query` with `variables` to `/graphql/stream` as `key`, with an optional Last-Event-ID.
pub async fn post(
    app: &TestApp,
    key: Option<&str>,
    query: &str,
    variables: Value,
    last_event_id: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .http()
        .post(app.url("/graphql/stream"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.send().await.expect("request sent")
}

impl SseStream {
    /// Opens a stream that must be accepted (200, `text/event-stream`).
    pub async fn open(app: &TestApp, key: &str, query: &str, variables: Value, last_event_id: Option<&str>) -> Self {
        let response = post(app, Some(key), query, variables, last_event_id).await;
        assert_eq!(response.status(), 200, "the stream is accepted");
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        Self::from_response(response)
    }

    pub fn from_response(response: reqwest::Response) -> Self {
        Self { response, buffer: String::new(), comments: 0 }
    }

    /// The next message, or None when the stream ended; panics after 10 s of silence.
    pub async fn next(&mut self) -> Option<SseEvent> {
        self.next_within(Duration::from_secs(10)).await.expect("an SSE message within 10 s")
    }

    /// The next message within `wait` (Err on timeout), Ok(None) when the stream ended.
    pub async fn next_within(&mut self, wait: Duration) -> Result<Option<SseEvent>, ()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = self.parse(&block) {
                    return Ok(Some(event));
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Err(()),
                Ok(Ok(Some(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None)) | Ok(Err(_)) => return Ok(None),
            }
        }
    }

    fn parse(&mut self, block: &str) -> Option<SseEvent> {
        let (mut event, mut id, mut data) = (String::new(), None, Vec::new());
        let mut any = false;
        for line in block.lines() {
            if line.starts_with(':') {
                self.comments += 1;
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            any = true;
            match field {
                "event" => event = value.to_string(),
                "id" => id = Some(value.to_string()),
                "data" => data.push(value.to_string()),
                _ => {}
            }
        }
        any.then(|| SseEvent { event, id, data: data.join("\n") })
    }

    /// The next `next` event's data, asserting its type.
    pub async fn next_data(&mut self) -> (Option<String>, Value) {
        let message = self.next().await.expect("a next event, not the end of the stream");
        assert_eq!(message.event, "next", "{message:?}");
        (message.id.clone(), message.json())
    }
}
