//! The control channel `{prefix}:control`: every replica subscribes, so a key revoked on
//! one replica closes its sockets on all of them at once (the 1 s credential sweep stays
//! as the backstop), and a changed quota is reread at once. Classic pub/sub reaches every
//! node of a Redis Cluster.

use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::redis::SharedRedis;

/// A message on the control channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// An API key was revoked: close its connections, forget it.
    Revoked(String),
    /// A practice's quota changed: reread it.
    QuotaChanged(String),
    /// The identity provider logged a person or session out (at `at`, in seconds): close
    /// their connections, refuse their tokens.
    LoggedOut { session_id: Option<String>, subject: Option<String>, at: i64 },
}

impl Control {
    pub fn encode(&self) -> String {
        match self {
            Self::Revoked(id) => format!("revoked {id}"),
            Self::QuotaChanged(id) => format!("quota {id}"),
            Self::LoggedOut { session_id, subject, at } => {
                format!("logout {}", serde_json::json!({ "sid": session_id, "sub": subject, "at": at }))
            }
        }
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (kind, id) = text.split_once(' ')?;
        if kind == "logout" && id.len() <= 1024 {
            #[derive(serde::Deserialize)]
            struct Logout {
                sid: Option<String>,
                sub: Option<String>,
                at: i64,
            }
            let logout: Logout = serde_json::from_str(id).ok()?;
            return Some(Self::LoggedOut { session_id: logout.sid, subject: logout.sub, at: logout.at });
        }
        if id.is_empty() || id.len() > 200 {
            return None;
        }
        match kind {
            "revoked" => Some(Self::Revoked(id.to_string())),
            "quota" => Some(Self::QuotaChanged(id.to_string())),
            _ => None,
        }
    }
}

pub fn channel(prefix: &str) -> String {
    format!("{prefix}:control")
}

pub type Handler = Arc<dyn Fn(Control) + Send + Sync>;

/// Listens on the control channel until `stop`, reconnecting (to the next node of a
/// cluster, so a dead master is not waited for).
pub async fn listen(redis: SharedRedis, prefix: String, handler: Handler, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(50);
    for client in redis.clients().iter().cycle() {
        let connected = tokio::select! {
            _ = stop.cancelled() => return,
            pubsub = tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub()) => pubsub,
        };
        if let Ok(Ok(mut pubsub)) = connected
            && pubsub.subscribe(channel(&prefix)).await.is_ok()
        {
            backoff = Duration::from_millis(50);
            let mut messages = pubsub.on_message();
            loop {
                let message = tokio::select! {
                    _ = stop.cancelled() => return,
                    message = messages.next() => message,
                };
                let Some(message) = message else { break };
                match std::str::from_utf8(message.get_payload_bytes()).ok().and_then(Control::decode) {
                    Some(control) => handler(control),
                    None => tracing::warn!("undecodable control message; ignored"),
                }
            }
            tracing::warn!("redis control channel closed; reconnecting");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_junk_is_refused() {
        let logout = Control::LoggedOut { session_id: Some("s 1".into()), subject: None, at: 7 };
        for control in [Control::Revoked("k1".into()), Control::QuotaChanged("p1".into()), logout] {
            assert_eq!(Control::decode(&control.encode()), Some(control));
        }
        for junk in ["", "revoked", "revoked ", "other k", &format!("revoked {}", "x".repeat(201))] {
            assert_eq!(Control::decode(junk), None, "{junk:?}");
        }
    }
}
