//! Hostile websocket clients: a client that floods pings (GraphQL `ping`s or websocket Ping
//! frames) or operations and never reads is closed as a slow consumer (1013) while the
//! server's memory stays bounded; a text frame that is not UTF-8 is closed with 1007.

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::raw_ws::{CLOSE, PING, RawWs, TEXT, fragment, frame};
use crate::ws_client::{LEGACY_WS, TRANSPORT_WS};

const MIB: u64 = 1024 * 1024;
/// Generous: the server holds a few socket buffers' worth per flooding client.
const MAX_GROWTH: u64 = 64 * MIB;

/// The process's resident memory (the app runs in-process).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
    pages * 4096
}

/// An app whose slow consumers are closed after a second.
async fn app() -> Option<TestApp> {
    spawn_app_with(Backend::Sqlite, |c| c.slow_consumer_timeout_secs = 1).await
}

/// Writes chunks of whole frames from `next_chunk` without reading anything until the
/// server closes the connection as a slow consumer (or 20 s pass); then reads up to the
/// close frame and returns its code. Asserts that memory grew by less than `MAX_GROWTH`.
async fn flood(
    app: &TestApp,
    mut ws: RawWs,
    what: &str,
    mut next_chunk: impl FnMut() -> Vec<u8> + Send + 'static,
) -> Option<u16> {
    let slow_consumers = || app.state().services.domain.counters.slow_consumers.get();
    let (before, baseline) = (slow_consumers(), rss_bytes());
    let sent = Arc::new(AtomicU64::new(0));
    let mut writer = ws.take_writer();
    let flooding = tokio::spawn({
        let sent = sent.clone();
        async move {
            loop {
                let chunk = next_chunk();
                if writer.write_all(&chunk).await.is_err() {
                    return;
                }
                sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
    });
    let started = Instant::now();
    let mut peak = 0;
    while slow_consumers() == before && started.elapsed() < Duration::from_secs(20) && peak < 4 * MAX_GROWTH {
        peak = peak.max(rss_bytes().saturating_sub(baseline));
        // timing: how often memory is sampled while the flood runs; the loop ends on the close.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let closed = slow_consumers() > before;
    flooding.abort();
    let sent = sent.load(Ordering::Relaxed);
    println!(
        "{what}: sent {} KiB in {:?}; RSS {} MiB at start, peak growth {} KiB; closed as slow: {closed}",
        sent / 1024,
        started.elapsed(),
        baseline / MIB,
        peak / 1024
    );
    assert!(peak < MAX_GROWTH, "{what}: memory grew by {} MiB while flooding", peak / MIB);
    if !closed {
        return None;
    }
    ws.close_code(Duration::from_secs(10)).await
}

/// `count` copies of one frame.
fn repeated(frame: Vec<u8>, count: usize) -> impl FnMut() -> Vec<u8> + Send + 'static {
    let chunk = frame.repeat(count);
    move || chunk.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_flooding_pings_without_reading_is_closed_as_a_slow_consumer_with_memory_bounded() {
    let Some(app) = app().await else { return };
    let f = app.fixture().await;
    let ws = RawWs::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    // Pings carry a payload the pong echoes: each costs the server as much as it costs the client.
    let ping = json!({ "type": "ping", "payload": { "pad": "p".repeat(2000) } }).to_string();
    let code = flood(&app, ws, "graphql-transport-ws ping", repeated(frame(TEXT, ping.as_bytes()), 64)).await;
    assert_eq!(code, Some(1013), "closed as a slow consumer: try again later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_flooding_websocket_ping_frames_without_reading_is_closed_as_a_slow_consumer() {
    let Some(app) = app().await else { return };
    let f = app.fixture().await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let ws = RawWs::connect(app.addr, protocol, &f.subscriber).await;
        let ping = frame(PING, &[b'p'; 125]);
        let code = flood(&app, ws, &format!("{protocol} Ping frames"), repeated(ping, 1000)).await;
        assert_eq!(code, Some(1013), "{protocol}: closed as a slow consumer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_client_flooding_operations_without_reading_is_closed_as_a_slow_consumer() {
    let Some(app) = app().await else { return };
    let f = app.fixture().await;
    let ws = RawWs::connect(app.addr, LEGACY_WS, &f.subscriber).await;
    // Every `start` is answered (a result or a refusal, then `complete`), each echoing the long id.
    let pad = "i".repeat(1000);
    let mut n = 0u64;
    let starts = move || {
        let mut chunk = Vec::new();
        for _ in 0..32 {
            n += 1;
            let start = json!({ "id": format!("{n}{pad}"), "type": "start", "payload": { "query": "{ __typename }" } });
            chunk.extend(frame(TEXT, start.to_string().as_bytes()));
        }
        chunk
    };
    let code = flood(&app, ws, "graphql-ws start", starts).await;
    assert_eq!(code, Some(1013), "closed as a slow consumer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_frame_that_is_not_utf8_is_closed_with_1007_on_both_protocols() {
    let Some(app) = app().await else { return };
    let f = app.fixture().await;
    let invalid: &[u8] = b"{\"type\":\"ping\",\"payload\":{\"x\":\"\xff\xfe\"}}";
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        // Whole, before and after the handshake, and split over two fragments.
        let mut before_init = RawWs::open(app.addr, protocol).await;
        before_init.send(TEXT, invalid).await;
        let mut after_init = RawWs::connect(app.addr, protocol, &f.subscriber).await;
        after_init.send(TEXT, invalid).await;
        let mut fragmented = RawWs::connect(app.addr, protocol, &f.subscriber).await;
        let mut parts = fragment(false, TEXT, &invalid[..30]);
        parts.extend(fragment(true, 0x0, &invalid[30..]));
        fragmented.send_raw(&parts).await;
        for (what, ws) in
            [("before init", &mut before_init), ("after init", &mut after_init), ("fragmented", &mut fragmented)]
        {
            let code = ws.close_code(Duration::from_secs(5)).await;
            assert_eq!(code, Some(1007), "{protocol} {what}: invalid frame payload data");
        }
        // A close frame from the client still ends it the ordinary way.
        let mut polite = RawWs::connect(app.addr, protocol, &f.subscriber).await;
        polite.send(CLOSE, &1000u16.to_be_bytes()).await;
        assert_eq!(polite.close_code(Duration::from_secs(5)).await, Some(1000), "{protocol}");
    }
}
