//! The MQTT bridge: topic `<prefix>/<practiceId>/<TYPE>`, QoS 1, the CloudEvent as the
//! payload (MQTT 3.1.1 is structured mode only). rumqttc's `publish` returns no packet id
//! and its PUBACKs arrive only as events of the event loop (rumqtt issues #349, #805), so
//! this bridge keeps exactly one publish in flight per connection: the next `Outgoing::
//! Publish(pkid)` after our publish is ours, and the PUBACK with that pkid acknowledges it.
//! Any error drops the connection (and rumqttc's own retransmission state with it); the
//! runner resends from the cursor on a fresh one.

use async_trait::async_trait;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing as MqttOutgoing, Packet, QoS};
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use super::broker::{Broker, Published};
use super::cloudevent::Outgoing;
use super::settings::redact;

/// What the event loop's driver reports.
#[derive(Debug)]
enum Seen {
    Connected,
    Sent(u16),
    Acked(u16),
    Lost(String),
}

/// A live connection: the client, the driver polling its event loop, and what it saw.
struct Session {
    client: AsyncClient,
    seen: mpsc::UnboundedReceiver<Seen>,
    driver: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

pub struct Mqtt {
    url: String,
    prefix: String,
    client_id: String,
    ack_timeout: Duration,
    session: Mutex<Option<Session>>,
}

/// Host, port and credentials from `mqtt://[user[:password]@]host[:port]`.
fn options(url: &str, client_id: &str) -> Result<MqttOptions, String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((credentials, host_port)) => (Some(credentials), host_port),
        None => (None, authority),
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().map_err(|_| format!("{port:?} is not a port"))?),
        None => (host_port, 1883),
    };
    let mut options = MqttOptions::new(client_id, host.trim_start_matches('[').trim_end_matches(']'), port);
    options.set_keep_alive(Duration::from_secs(30)).set_clean_session(true);
    if let Some(credentials) = credentials {
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        options.set_credentials(user, password);
    }
    Ok(options)
}

async fn drive(mut events: EventLoop, seen: mpsc::UnboundedSender<Seen>) {
    loop {
        let report = match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => Seen::Connected,
            Ok(Event::Outgoing(MqttOutgoing::Publish(pkid))) => Seen::Sent(pkid),
            Ok(Event::Incoming(Packet::PubAck(ack))) => Seen::Acked(ack.pkid),
            Ok(_) => continue,
            Err(err) => {
                let _ = seen.send(Seen::Lost(err.to_string()));
                return;
            }
        };
        if seen.send(report).is_err() {
            return;
        }
    }
}

impl Mqtt {
    pub fn new(url: String, prefix: String, client_id: String, ack_timeout: Duration) -> Self {
        Self { url, prefix, client_id, ack_timeout, session: Mutex::new(None) }
    }

    async fn open(&self) -> Result<Session, String> {
        let url = redact(&self.url);
        let options = options(&self.url, &self.client_id)?;
        let (client, events) = AsyncClient::new(options, 16);
        let (tx, seen) = mpsc::unbounded_channel();
        let mut session = Session { client, seen, driver: tokio::spawn(drive(events, tx)) };
        match tokio::time::timeout(Duration::from_secs(10), session.seen.recv()).await {
            Ok(Some(Seen::Connected)) => {
                tracing::info!(prefix = %self.prefix, "MQTT bridge connected to {url}");
                Ok(session)
            }
            Ok(Some(Seen::Lost(err))) => Err(format!("cannot connect to the MQTT broker at {url}: {err}")),
            Ok(_) => Err(format!("cannot connect to the MQTT broker at {url}: the connection ended")),
            Err(_) => Err(format!("cannot connect to the MQTT broker at {url}: no CONNACK within 10s")),
        }
    }

    /// Publishes one message and waits for its PUBACK (the only publish in flight).
    async fn publish_one(&self, session: &mut Session, message: &Outgoing) -> Result<(), String> {
        let topic = format!("{}/{}/{}", self.prefix, message.practice_id, message.event_type.as_str());
        session
            .client
            .publish(topic, QoS::AtLeastOnce, false, message.body.clone())
            .await
            .map_err(|err| format!("publishing to the MQTT broker failed: {err}"))?;
        let wait = async {
            let mut ours = None;
            loop {
                match session.seen.recv().await {
                    Some(Seen::Sent(pkid)) if ours.is_none() => ours = Some(pkid),
                    Some(Seen::Acked(pkid)) if Some(pkid) == ours => return Ok(()),
                    Some(Seen::Lost(err)) => return Err(format!("the MQTT connection was lost: {err}")),
                    None => return Err("the MQTT connection ended".to_string()),
                    Some(_) => {}
                }
            }
        };
        tokio::time::timeout(self.ack_timeout, wait)
            .await
            .unwrap_or_else(|_| Err(format!("no PUBACK within {:?}", self.ack_timeout)))
    }
}

#[async_trait]
impl Broker for Mqtt {
    async fn connect(&self) -> Result<(), String> {
        let mut held = self.session.lock().await;
        if held.as_ref().is_some_and(|s| !s.driver.is_finished()) {
            return Ok(());
        }
        *held = Some(self.open().await?);
        Ok(())
    }

    async fn publish(&self, messages: &[Outgoing]) -> Published {
        let mut done = Published::default();
        // Held for the whole batch: one publish in flight on this connection.
        let mut held = self.session.lock().await;
        if held.as_ref().is_none_or(|s| s.driver.is_finished()) {
            match self.open().await {
                Ok(session) => *held = Some(session),
                Err(err) => return done.failed(err),
            }
        }
        let Some(session) = held.as_mut() else { return done.failed("no MQTT connection") };
        for message in messages {
            if let Err(err) = self.publish_one(session, message).await {
                held.take();
                return done.failed(err);
            }
            done.ack();
        }
        done
    }
}
