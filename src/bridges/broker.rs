//! What a bridge needs of a broker: a connection (with the stream or exchange declared),
//! and publishing messages in order, each counted only once the broker acknowledged it.

use async_trait::async_trait;

use super::cloudevent::Outgoing;

/// What a publish got done: the first `acked` messages were acknowledged by the broker
/// (their ack times in epoch ms in `acked_at`); `error` says why it stopped before the end.
#[derive(Debug, Default)]
pub struct Published {
    pub acked_at: Vec<i64>,
    pub error: Option<String>,
}

impl Published {
    pub fn acked(&self) -> usize {
        self.acked_at.len()
    }

    pub fn ack(&mut self) {
        self.acked_at.push(chrono::Utc::now().timestamp_millis());
    }

    pub fn failed(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }
}

#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Connects (and declares the stream or exchange) unless connected; the error, in
    /// plain words, names the destination and what the broker or the network said.
    async fn connect(&self) -> Result<(), String>;
    /// Sends `messages` in order and waits for each one's ack; stops at the first failure
    /// (the caller resends from there). A failure drops the connection, so the next call
    /// starts on a fresh one.
    async fn publish(&self, messages: &[Outgoing]) -> Published;
    /// This replica stopped publishing the practice (lease lost or given back): drop
    /// whatever the broker kept for it (Kafka: the practice's transactional producer).
    async fn release(&self, _practice_id: &str) {}
}
