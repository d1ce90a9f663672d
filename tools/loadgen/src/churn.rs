//! Churning clients for the S5 soak: each connects, subscribes to `events` after the
//! cursor of the last event it received, stays a random 1–10 s, closes cleanly and
//! comes back, for the whole payment phase. Across all its incarnations a client must
//! see every event exactly once and in order, which is what resuming by cursor promises.
//! Successive incarnations go to the targets in turn, so with replicas a client resumes
//! on a different server than the one it left.

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::eventlog::Tail;
use crate::frame::Frame;
use crate::stats::{Shared, SubTrack};
use crate::subscriber::{Socket, connect};
use crate::{Args, source_addr};

const SUBSCRIPTION: &str = "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq cursor \
                            ... on PaymentEvent { payment { reference } } } }";
/// How long a clean close may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// One client's account over all its incarnations.
#[derive(Default)]
pub struct ChurnTrack {
    pub events: SubTrack,
    /// Events whose seq jumped past the one after the last seen (each may hide several).
    pub gaps: u64,
    pub connects: u64,
    pub failed_connects: u64,
    /// `error` or `complete` frames, and frames loadgen could not read.
    pub errors: u64,
}

/// What every client shares with the run: where it starts and where it is.
pub struct Start {
    pub key: String,
    pub practice: String,
    pub cursor: String,
}

/// Starts `--churn` clients; each publishes the last seq it has seen in `progress`.
pub fn start_all(args: &Args, start: Start, shared: Arc<Shared>) -> (Vec<JoinHandle<ChurnTrack>>, Vec<Arc<AtomicU64>>) {
    let start = Arc::new(start);
    let (hold_min, hold_max) = args.churn_hold_ms;
    (0..args.churn)
        .map(|client| {
            let progress = Arc::new(AtomicU64::new(0));
            let churner = Churner {
                targets: args.target.clone(),
                client,
                source: source_addr(args.connections + client, args.source_addrs),
                hold_ms: (hold_min, hold_max.max(hold_min)),
                start: start.clone(),
                shared: shared.clone(),
                progress: progress.clone(),
            };
            (tokio::spawn(churner.run()), progress)
        })
        .unzip()
}

struct Churner {
    targets: Vec<std::net::SocketAddr>,
    client: usize,
    source: std::net::SocketAddr,
    hold_ms: (u64, u64),
    start: Arc<Start>,
    shared: Arc<Shared>,
    progress: Arc<AtomicU64>,
}

/// The client's place in the log: its account and the cursor it resumes after.
struct Place {
    track: ChurnTrack,
    cursor: String,
}

impl Churner {
    async fn run(self) -> ChurnTrack {
        let mut place = Place { track: ChurnTrack::default(), cursor: self.start.cursor.clone() };
        let mut incarnation = 0;
        while !self.shared.is_stopped() {
            let target = self.targets[(self.client + incarnation) % self.targets.len()];
            incarnation += 1;
            place.track.connects += 1;
            let connected = tokio::select! {
                _ = self.shared.stopped() => break,
                connected = connect(target, self.source, &self.start.key) => connected,
            };
            let Ok(mut socket) = connected else {
                place.track.failed_connects += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let hold = rand::rng().random_range(self.hold_ms.0..=self.hold_ms.1);
            if self.stay(&mut socket, &mut place, Duration::from_millis(hold)).await {
                self.close(socket, &mut place).await;
            } else {
                // The server ended it: do not hammer a server that is refusing.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        place.track
    }

    /// Subscribes after the cursor and reads until the hold ends or the run stops;
    /// false when the server closed the socket first.
    async fn stay(&self, socket: &mut Socket, place: &mut Place, hold: Duration) -> bool {
        let start = json!({ "id": "0", "type": "subscribe", "payload": { "query": SUBSCRIPTION,
            "variables": { "p": self.start.practice, "a": place.cursor } } });
        if socket.send(Message::Text(start.to_string().into())).await.is_err() {
            place.track.errors += 1;
            return false;
        }
        let until = Instant::now() + hold;
        loop {
            let message = tokio::select! {
                _ = self.shared.stopped() => return true,
                _ = tokio::time::sleep_until(until) => return true,
                message = socket.next() => message,
            };
            match message {
                Some(Ok(Message::Text(text))) => {
                    if !self.take(&text, socket, place).await {
                        return true;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    place.track.errors += 1;
                    return false;
                }
            }
        }
    }

    /// Closes cleanly, still counting events that arrive before the server's close.
    async fn close(&self, mut socket: Socket, place: &mut Place) {
        let _ = socket.close(None).await;
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message {
                    self.take(&text, &mut socket, place).await;
                }
            }
        })
        .await;
    }

    /// Counts one frame; false when the subscription has ended (error or complete).
    async fn take(&self, text: &str, socket: &mut Socket, place: &mut Place) -> bool {
        let Ok(frame) = serde_json::from_str::<Frame>(text) else {
            place.track.errors += 1;
            return true;
        };
        match frame.kind {
            "next" => {}
            "ping" => {
                let _ = socket.send(Message::Text(r#"{"type":"pong"}"#.into())).await;
                return true;
            }
            "pong" => return true,
            _ => {
                if self.shared.error_count() < 3 {
                    eprintln!("churning client {}: {text}", self.client);
                }
                self.shared.error();
                place.track.errors += 1;
                return false;
            }
        }
        let Some(event) = frame.event() else {
            place.track.errors += 1;
            return true;
        };
        let last = place.track.events.last();
        if last > 0 && event.seq > last + 1 {
            place.track.gaps += 1;
        }
        place.track.events.deliver(event.seq);
        if event.seq > last {
            if let Some(cursor) = event.cursor {
                place.cursor = cursor.into_owned();
            }
            self.progress.store(event.seq, Ordering::Relaxed);
        }
        true
    }
}

/// The clients' accounts against the log: `lost` is what the log holds after the start
/// cursor that a client never received; `behind_at_end` counts clients whose last seq is
/// not the log's last.
pub fn summary(tracks: &[ChurnTrack], tail: &Tail, hold_ms: (u64, u64)) -> Value {
    let sum = |f: fn(&ChurnTrack) -> u64| tracks.iter().map(f).sum::<u64>();
    let lost = |t: &ChurnTrack| tail.events.saturating_sub(t.events.distinct);
    json!({
        "clients": tracks.len(),
        "hold_ms": [hold_ms.0, hold_ms.1],
        "log_events": tail.events,
        "last_event_seq": tail.last_seq,
        "connects": sum(|t| t.connects),
        "failed_connects": sum(|t| t.failed_connects),
        "delivered": sum(|t| t.events.distinct),
        "lost": tracks.iter().map(lost).sum::<u64>(),
        "clients_with_loss": tracks.iter().filter(|t| lost(t) > 0).count(),
        "gaps": sum(|t| t.gaps),
        "duplicates": sum(|t| t.events.duplicates),
        "out_of_order": sum(|t| t.events.out_of_order),
        "behind_at_end": tracks.iter().filter(|t| t.events.last() != tail.last_seq).count(),
        "errors": sum(|t| t.errors),
    })
}
