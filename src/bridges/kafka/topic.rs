//! The bridge's topic: its partition count from the broker's metadata, and the topic
//! created (`BRIDGE_KAFKA_PARTITIONS`) when the broker has none by that name.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::producer::Kafka;

impl Kafka {
    /// Reads the topic's partition count, creating the topic first if it is missing.
    pub(super) async fn open_topic(&self) -> Result<(), String> {
        let admin = self.admin().await?;
        let mut partitions = self.read_partitions(admin.clone()).await;
        if partitions == Ok(0) {
            self.create_topic(&admin).await?;
            partitions = self.read_partitions(admin).await;
        }
        let partitions = partitions?;
        if partitions == 0 {
            return Err(format!("Kafka topic {:?} has no partitions", self.settings.topic));
        }
        self.partitions.store(partitions, Ordering::Relaxed);
        Ok(())
    }

    async fn admin(&self) -> Result<Arc<AdminClient<DefaultClientContext>>, String> {
        let mut held = self.admin.lock().await;
        if let Some(admin) = held.as_ref() {
            return Ok(admin.clone());
        }
        let admin: AdminClient<DefaultClientContext> = self
            .config()
            .create()
            .map_err(|err| format!("cannot create a Kafka client for {}: {err}", self.brokers))?;
        let admin = Arc::new(admin);
        *held = Some(admin.clone());
        Ok(admin)
    }

    /// The topic's partition count from the broker's metadata; 0 when it has no such topic.
    async fn read_partitions(&self, admin: Arc<AdminClient<DefaultClientContext>>) -> Result<i32, String> {
        let topic = self.settings.topic.clone();
        let timeout = self.timeout;
        let brokers = self.brokers.clone();
        tokio::task::spawn_blocking(move || {
            let metadata = admin
                .inner()
                .fetch_metadata(Some(&topic), timeout)
                .map_err(|err| format!("cannot reach Kafka at {brokers}: {err}"))?;
            let count = match metadata.topics().iter().find(|t| t.name() == topic) {
                Some(found) if found.error().is_none() => found.partitions().len() as i32,
                _ => 0,
            };
            Ok(count)
        })
        .await
        .map_err(|err| err.to_string())?
    }

    async fn create_topic(&self, admin: &AdminClient<DefaultClientContext>) -> Result<(), String> {
        create_topics(admin, &[self.settings.topic.as_str()], self.settings.partitions, self.timeout).await?;
        tracing::info!(topic = %self.settings.topic, partitions = self.settings.partitions, "created the Kafka bridge's topic");
        Ok(())
    }

    /// The partition count, connecting first when it is not known.
    pub(super) async fn partitions(&self) -> Result<i32, String> {
        match self.partitions.load(Ordering::Relaxed) {
            0 => {
                self.open_topic().await?;
                Ok(self.partitions.load(Ordering::Relaxed))
            }
            known => Ok(known),
        }
    }
}

/// Creates `names` with `partitions` partitions each (the broker's default replication);
/// a topic that exists already is left as it is. The error names the topics and what the
/// broker or the client said.
pub async fn create_topics(
    admin: &AdminClient<DefaultClientContext>,
    names: &[&str],
    partitions: i32,
    timeout: Duration,
) -> Result<(), String> {
    let topics: Vec<NewTopic<'_>> =
        names.iter().map(|name| NewTopic::new(name, partitions, TopicReplication::Fixed(-1))).collect();
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    let results = admin
        .create_topics(&topics, &options)
        .await
        .map_err(|err| format!("cannot create Kafka topics {names:?}: {err}"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("cannot create Kafka topic {name:?}: {code}")),
        }
    }
    Ok(())
}
