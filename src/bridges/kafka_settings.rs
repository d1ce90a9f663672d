//! The Kafka bridge's settings (`BRIDGE_KAFKA_*`), flattened into `BridgeArgs`, and their
//! checks: a broker list, topic, client id or SASL pair that cannot work stops the start
//! with a message naming the setting (`super::settings` turns it into a `Bad`).

use clap::Args;

/// The setting at fault and why.
pub type Bad = (&'static str, String);

#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers for the Kafka bridge, comma-separated `host:port`; unset: no
    /// Kafka bridge.
    #[arg(id = "bridge_kafka_brokers", long = "bridge-kafka-brokers", env = "BRIDGE_KAFKA_BROKERS")]
    pub brokers: Option<String>,
    /// The topic, created (with `BRIDGE_KAFKA_PARTITIONS`) if it does not exist; the record
    /// key is the practice id.
    #[arg(
        id = "bridge_kafka_topic",
        long = "bridge-kafka-topic",
        env = "BRIDGE_KAFKA_TOPIC",
        default_value = "clinicstream.events"
    )]
    pub topic: String,
    /// The Kafka `client.id` (broker logs and quotas); the transactional ids are
    /// `clinicstream.<topic>.<practiceId>` whatever it is, so a takeover fences the old owner.
    #[arg(
        id = "bridge_kafka_client_id",
        long = "bridge-kafka-client-id",
        env = "BRIDGE_KAFKA_CLIENT_ID",
        default_value = "clinicstream"
    )]
    pub client_id: String,
    /// SASL/PLAIN user name (over plaintext: this build has no TLS); set with the password.
    #[arg(id = "bridge_kafka_sasl_username", long = "bridge-kafka-sasl-username", env = "BRIDGE_KAFKA_SASL_USERNAME")]
    pub sasl_username: Option<String>,
    /// SASL/PLAIN password.
    #[arg(
        id = "bridge_kafka_sasl_password",
        long = "bridge-kafka-sasl-password",
        env = "BRIDGE_KAFKA_SASL_PASSWORD",
        hide_env_values = true
    )]
    pub sasl_password: Option<String>,
    /// Partitions of the topic when the bridge creates it (an existing topic keeps its own).
    #[arg(
        id = "bridge_kafka_partitions",
        long = "bridge-kafka-partitions",
        env = "BRIDGE_KAFKA_PARTITIONS",
        default_value_t = 6
    )]
    pub partitions: i32,
    /// Event types the Kafka bridge sends, comma-separated; empty: every type.
    #[arg(id = "bridge_kafka_types", long = "bridge-kafka-types", env = "BRIDGE_KAFKA_TYPES", default_value = "")]
    pub types: String,
}

fn bad(setting: &'static str, reason: impl Into<String>) -> Bad {
    (setting, reason.into())
}

/// The longest list of bootstrap servers taken (librdkafka needs only one that answers).
const MAX_BROKERS: usize = 64;

impl KafkaArgs {
    /// Checks the settings when the bridge is configured (`BRIDGE_KAFKA_BROKERS` set); the
    /// event types are `super::settings`'s to check.
    pub fn check(&self) -> Result<(), Bad> {
        let Some(brokers) = &self.brokers else { return Ok(()) };
        if !cfg!(feature = "kafka") {
            return Err(bad("BRIDGE_KAFKA_BROKERS", "this build has no Kafka bridge (cargo feature `kafka`)"));
        }
        check_brokers(brokers)?;
        check_topic(&self.topic)?;
        check_client_id(&self.client_id)?;
        match (&self.sasl_username, &self.sasl_password) {
            (Some(user), Some(_)) if user.is_empty() || user.len() > 255 || user.chars().any(char::is_control) => {
                Err(bad("BRIDGE_KAFKA_SASL_USERNAME", "must be 1 to 255 characters, without control characters"))
            }
            (Some(_), None) => Err(bad("BRIDGE_KAFKA_SASL_PASSWORD", "is required with BRIDGE_KAFKA_SASL_USERNAME")),
            (None, Some(_)) => Err(bad("BRIDGE_KAFKA_SASL_USERNAME", "is required with BRIDGE_KAFKA_SASL_PASSWORD")),
            _ => Ok(()),
        }?;
        if !(1..=10_000).contains(&self.partitions) {
            return Err(bad("BRIDGE_KAFKA_PARTITIONS", "must be between 1 and 10000"));
        }
        Ok(())
    }
}

/// `host:port[,host:port…]`: each a host name or IP literal and a port; no URL schemes.
pub fn check_brokers(list: &str) -> Result<(), Bad> {
    let setting = "BRIDGE_KAFKA_BROKERS";
    let shown: String = list.chars().take(80).collect();
    if list.contains("://") {
        return Err(bad(setting, format!("{shown:?} is a URL; give host:port pairs like kafka1:9092,kafka2:9092")));
    }
    let entries: Vec<&str> = list.split(',').map(str::trim).collect();
    if entries.len() > MAX_BROKERS {
        return Err(bad(setting, format!("more than {MAX_BROKERS} servers")));
    }
    for entry in entries {
        let (host, port) = entry
            .rsplit_once(':')
            .ok_or_else(|| bad(setting, format!("{:?} is not host:port (like kafka:9092)", short(entry))))?;
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
        if !host_ok {
            return Err(bad(setting, format!("{:?} is not a host name", short(host))));
        }
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(bad(setting, format!("{:?} is not a port number", short(port))));
        }
    }
    Ok(())
}

fn short(text: &str) -> String {
    text.chars().take(80).collect()
}

/// Kafka topic names: 1 to 249 of letters, digits, `.`, `_`, `-`; not `.` or `..`.
fn check_topic(name: &str) -> Result<(), Bad> {
    let ok = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    ok.then_some(()).ok_or_else(|| {
        bad("BRIDGE_KAFKA_TOPIC", format!("{:?} is not a topic name (1-249 of letters, digits, '.', '_', '-')", short(name)))
    })
}

/// Client ids as librdkafka takes them: printable ASCII without spaces, at most 255.
fn check_client_id(id: &str) -> Result<(), Bad> {
    let ok = !id.is_empty() && id.len() <= 255 && id.chars().all(|c| c.is_ascii_graphic());
    ok.then_some(()).ok_or_else(|| {
        bad("BRIDGE_KAFKA_CLIENT_ID", format!("{:?} must be 1-255 printable ASCII characters", short(id)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_lists_are_checked() {
        assert!(check_brokers("kafka:9092").is_ok());
        assert!(check_brokers("k1:9092, 10.0.0.2:9093,[::1]:9094").is_ok());
        for bad in ["", "kafka", "kafka:", "kafka:0", "kafka:99999", "kafka://k:9092", "k:9092,", "ka fka:9092", ":9092"] {
            assert!(check_brokers(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(check_brokers(&vec!["k:1"; 65].join(",")).is_err());
    }

    #[test]
    fn topics_and_client_ids_are_checked() {
        assert!(check_topic("clinicstream.events").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", &"t".repeat(250)] {
            assert!(check_topic(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(check_client_id("clinicstream-1").is_ok());
        assert!(check_client_id("a b").is_err());
    }
}
