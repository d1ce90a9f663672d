//! One websocket per task: bound to its loopback source address, connected to its target
//! (round-robin over `--target`), on its practice (round-robin over the fixture's
//! practices) and initialised with that practice's SUBSCRIBER key (or, in the patient
//! scenario, a PATIENT token of a patient of its own), running
//! `--subs-per-conn` `events` subscriptions of it (more when told to, for the S1 memory
//! step), and counting every delivery until the run stops.

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::fixture::{Practice, patient_of, practice_of};
use crate::frame::Frame;
use crate::mutator::REFERENCE_PREFIX;
use crate::stats::{Shared, SubTrack};
use crate::tokens::Tokens;
use crate::{Args, source_addr};

const SUBSCRIPTION: &str = "subscription($p: ID!) { events(practiceId: $p) { seq occurredAt \
                            ... on PaymentEvent { payment { reference } } } }";

pub type Socket = WebSocketStream<TcpStream>;

/// A socket's subscriptions once the run stops.
pub struct Tracks {
    /// Its index into `--target`.
    pub target: usize,
    /// Its index into the fixture's practices: the payments its subscriptions are owed.
    pub practice: usize,
    /// In the patient scenario, its index into the practice's patients: only that
    /// patient's payments are owed.
    pub patient: Option<usize>,
    pub subs: Vec<SubTrack>,
}

/// The index into `--target` of steady connection `index`.
pub fn target_of(index: usize, targets: usize) -> usize {
    index % targets
}

/// Opens every connection (`--connect-concurrency` at a time) and returns their tasks.
/// `wanted` is how many subscriptions every socket should run: raising it makes each
/// socket subscribe the missing ids.
pub async fn open_all(
    args: &Args,
    practices: &[Practice],
    tokens: Option<&Tokens>,
    wanted: &watch::Sender<usize>,
    shared: Arc<Shared>,
) -> anyhow::Result<Vec<JoinHandle<Tracks>>> {
    let mut tasks = Vec::with_capacity(args.connections);
    let mut opening = futures_util::stream::iter((0..args.connections).map(|index| {
        let on = &practices[practice_of(index, practices.len())];
        let practice = on.practice_id.clone();
        let patient = tokens.map(|tokens| (tokens, &on.patients[patient_of(index, practices.len())]));
        let credential = match patient {
            Some((tokens, patient)) => tokens.patient(&practice, patient),
            None => Ok(on.subscriber_key.clone()),
        };
        let target = target_of(index, args.target.len());
        let (addr, source, subs) = (args.target[target], source_addr(index, args.source_addrs), args.subs_per_conn);
        async move {
            let key = credential?;
            let mut socket =
                connect(addr, source, &key).await.with_context(|| format!("connection {index} from {source}"))?;
            subscribe(&mut socket, &practice, 0..subs).await?;
            anyhow::Ok((index, target, socket))
        }
    }))
    .buffer_unordered(args.connect_concurrency.max(1));
    while let Some(opened) = opening.next().await {
        let (index, target, socket) = opened?;
        let practice = practice_of(index, practices.len());
        let practice_id = practices[practice].practice_id.clone();
        let patient = tokens.map(|_| patient_of(index, practices.len()));
        let reader = Reader { index, target, practice, patient, practice_id, shared: shared.clone() };
        tasks.push(tokio::spawn(reader.read(socket, args.subs_per_conn, wanted.subscribe())));
    }
    Ok(tasks)
}

/// A graphql-transport-ws connection from `source` to `target`, acknowledged.
pub async fn connect(target: SocketAddr, source: SocketAddr, key: &str) -> anyhow::Result<Socket> {
    let tcp = TcpSocket::new_v4()?;
    tcp.bind(source)?;
    let stream = tcp.connect(target).await?;
    stream.set_nodelay(true)?;
    let mut request = format!("ws://{target}/graphql").into_client_request()?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
    let (mut socket, _) = tokio_tungstenite::client_async(request, stream).await?;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}") } });
    socket.send(Message::Text(init.to_string().into())).await?;
    let ack = tokio::time::timeout(Duration::from_secs(30), socket.next()).await?.context("closed before ack")??;
    match ack {
        Message::Text(text) if text.contains("connection_ack") => Ok(socket),
        other => bail!("expected connection_ack, got {other:?}"),
    }
}

async fn subscribe(socket: &mut Socket, practice: &str, ids: std::ops::Range<usize>) -> anyhow::Result<()> {
    for id in ids {
        let start = json!({ "id": id.to_string(), "type": "subscribe",
            "payload": { "query": SUBSCRIPTION, "variables": { "p": practice } } });
        socket.send(Message::Text(start.to_string().into())).await?;
    }
    Ok(())
}

struct Reader {
    index: usize,
    target: usize,
    practice: usize,
    patient: Option<usize>,
    practice_id: String,
    shared: Arc<Shared>,
}

impl Reader {
    async fn read(self, mut socket: Socket, subs: usize, mut wanted: watch::Receiver<usize>) -> Tracks {
        let shared = &self.shared;
        let mut tracks = vec![SubTrack::default(); subs];
        let mut growing = true;
        loop {
            let message = tokio::select! {
                _ = shared.stopped() => break,
                changed = wanted.changed(), if growing => {
                    // The sender is dropped once no more subscriptions will be asked for.
                    growing = changed.is_ok();
                    let more = *wanted.borrow_and_update();
                    if more > tracks.len() {
                        if subscribe(&mut socket, &self.practice_id, tracks.len()..more).await.is_err() {
                            shared.error();
                        }
                        tracks.resize(more, SubTrack::default());
                    }
                    continue;
                }
                message = socket.next() => message,
            };
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    shared.error();
                    break;
                }
                Some(Ok(_)) => continue,
            };
            let now_micros = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as u64;
            let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
                shared.error();
                continue;
            };
            match frame.kind {
                "next" => {}
                "ping" => {
                    let _ = socket.send(Message::Text(r#"{"type":"pong"}"#.into())).await;
                    continue;
                }
                "pong" => continue,
                _ => {
                    if shared.error_count() < 3 {
                        eprintln!("connection {}: {text}", self.index);
                    }
                    shared.error();
                    continue;
                }
            }
            let sub = frame.id.and_then(|id| id.parse::<usize>().ok()).filter(|&id| id < tracks.len());
            let (Some(sub), Some(event)) = (sub, frame.event()) else {
                shared.error();
                continue;
            };
            // Only payments loadgen posted count: the fixture's own events came before.
            let Some(sent) = event.payment.and_then(|p| p.reference).and_then(|r| r.strip_prefix(REFERENCE_PREFIX))
            else {
                continue;
            };
            if !tracks[sub].deliver(event.seq) {
                continue;
            }
            shared.count_delivery(self.practice);
            if let Ok(sent) = sent.parse::<u64>() {
                let micros = now_micros.saturating_sub(sent);
                shared.end_to_end.record(self.index, micros);
                shared.end_to_end_by_target[self.target].record(self.index, micros);
            }
            if let Some(Ok(at)) = event.occurred_at.map(chrono::DateTime::parse_from_rfc3339) {
                let at = at.timestamp_micros().max(0) as u64;
                shared.commit_to_delivery.record(self.index, now_micros.saturating_sub(at));
            }
        }
        let _ = socket.close(None).await;
        Tracks { target: self.target, practice: self.practice, patient: self.patient, subs: tracks }
    }
}
