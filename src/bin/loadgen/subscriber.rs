//! One websocket per task: bound to its loopback source address, initialised with the
//! practice's SUBSCRIBER key, running `--subs-per-conn` `events` subscriptions, and
//! counting every delivery until the run stops.

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::fixture::Fixture;
use crate::mutator::REFERENCE_PREFIX;
use crate::stats::{Shared, SubTrack};
use crate::{Args, source_addr};

const SUBSCRIPTION: &str = "subscription($p: ID!) { events(practiceId: $p) { seq occurredAt \
                            ... on PaymentEvent { payment { reference } } } }";

type Socket = WebSocketStream<TcpStream>;

/// Opens every connection (`--connect-concurrency` at a time) and returns their tasks,
/// each of which yields its subscriptions' accounting once the run stops.
pub async fn open_all(
    args: &Args,
    fixture: &Fixture,
    shared: Arc<Shared>,
) -> anyhow::Result<Vec<JoinHandle<Vec<SubTrack>>>> {
    let mut tasks = Vec::with_capacity(args.connections);
    let mut opening = futures_util::stream::iter((0..args.connections).map(|index| {
        let (key, practice) = (fixture.subscriber_key.clone(), fixture.practice_id.clone());
        let (target, source, subs) = (args.target, source_addr(index, args.source_addrs), args.subs_per_conn);
        async move {
            let socket =
                connect(target, source, &key).await.with_context(|| format!("connection {index} from {source}"))?;
            subscribe(socket, &practice, subs).await.map(|s| (index, s))
        }
    }))
    .buffer_unordered(args.connect_concurrency.max(1));
    while let Some(opened) = opening.next().await {
        let (index, socket) = opened?;
        tasks.push(tokio::spawn(read(socket, index, args.subs_per_conn, shared.clone())));
    }
    Ok(tasks)
}

async fn connect(target: std::net::SocketAddr, source: std::net::SocketAddr, key: &str) -> anyhow::Result<Socket> {
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

async fn subscribe(mut socket: Socket, practice: &str, subs: usize) -> anyhow::Result<Socket> {
    for id in 0..subs {
        let start = json!({ "id": id.to_string(), "type": "subscribe",
            "payload": { "query": SUBSCRIPTION, "variables": { "p": practice } } });
        socket.send(Message::Text(start.to_string().into())).await?;
    }
    Ok(socket)
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: Option<&'a str>,
    payload: Option<Payload<'a>>,
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    data: Option<Data<'a>>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow)]
    events: EventFields<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventFields<'a> {
    seq: u64,
    occurred_at: &'a str,
    #[serde(borrow)]
    payment: Option<PaymentFields<'a>>,
}

#[derive(Deserialize)]
struct PaymentFields<'a> {
    reference: Option<&'a str>,
}

async fn read(mut socket: Socket, index: usize, subs: usize, shared: Arc<Shared>) -> Vec<SubTrack> {
    let mut tracks = vec![SubTrack::default(); subs];
    loop {
        let message = tokio::select! {
            _ = shared.stopped() => break,
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
                    eprintln!("connection {index}: {text}");
                }
                shared.error();
                continue;
            }
        }
        let sub = frame.id.and_then(|id| id.parse::<usize>().ok()).filter(|&id| id < subs);
        let event = frame.payload.and_then(|p| p.data).map(|d| d.events);
        let (Some(sub), Some(event)) = (sub, event) else {
            shared.error();
            continue;
        };
        // Only payments loadgen posted count: the fixture's own events came before.
        let Some(sent) = event.payment.and_then(|p| p.reference).and_then(|r| r.strip_prefix(REFERENCE_PREFIX)) else {
            continue;
        };
        if !tracks[sub].deliver(event.seq) {
            continue;
        }
        shared.count_delivery();
        if let Ok(sent) = sent.parse::<u64>() {
            shared.end_to_end.record(index, now_micros.saturating_sub(sent));
        }
        if let Ok(at) = chrono::DateTime::parse_from_rfc3339(event.occurred_at) {
            let at = at.timestamp_micros().max(0) as u64;
            shared.commit_to_delivery.record(index, now_micros.saturating_sub(at));
        }
    }
    let _ = socket.close(None).await;
    tracks
}
