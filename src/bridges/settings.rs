//! The bridge settings (flags with environment fallbacks), flattened into `Config`, and
//! their checks: a malformed URL, name or event type stops the start with a message
//! naming the setting; a broker that cannot be reached is only logged (bridges retry).

use clap::{ArgAction, Args};
use std::time::Duration;

use crate::duration::parse_duration;
use crate::vocab::EventType;

/// What `data` carries: the whole webhook `data` (with the snapshot), or ids and types only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PayloadMode {
    Full,
    Thin,
}

#[derive(Debug, Clone, Args)]
pub struct BridgeArgs {
    /// NATS server for the JetStream bridge (`nats://host:4222`); unset: no NATS bridge.
    #[arg(id = "bridge_nats_url", long = "bridge-nats-url", env = "BRIDGE_NATS_URL")]
    pub nats_url: Option<String>,
    /// The JetStream stream, created with subjects `<prefix>.>` if it does not exist.
    #[arg(
        id = "bridge_nats_stream",
        long = "bridge-nats-stream",
        env = "BRIDGE_NATS_STREAM",
        default_value = "CLINICSTREAM"
    )]
    pub nats_stream: String,
    /// Subjects are `<prefix>.<practiceId>.<TYPE>`.
    #[arg(
        id = "bridge_nats_prefix",
        long = "bridge-nats-prefix",
        env = "BRIDGE_NATS_PREFIX",
        default_value = "clinicstream"
    )]
    pub nats_prefix: String,
    /// Event types the NATS bridge sends, comma-separated; empty: every type.
    #[arg(id = "bridge_nats_types", long = "bridge-nats-types", env = "BRIDGE_NATS_TYPES", default_value = "")]
    pub nats_types: String,
    /// RabbitMQ for the AMQP 0-9-1 bridge (`amqp://user:pass@host:5672/vhost`); unset: none.
    #[arg(id = "bridge_amqp_url", long = "bridge-amqp-url", env = "BRIDGE_AMQP_URL", hide_env_values = true)]
    pub amqp_url: Option<String>,
    /// The durable topic exchange, declared at connect; routing keys `<practiceId>.<TYPE>`.
    #[arg(
        id = "bridge_amqp_exchange",
        long = "bridge-amqp-exchange",
        env = "BRIDGE_AMQP_EXCHANGE",
        default_value = "clinicstream.events"
    )]
    pub amqp_exchange: String,
    /// Event types the AMQP bridge sends, comma-separated; empty: every type.
    #[arg(id = "bridge_amqp_types", long = "bridge-amqp-types", env = "BRIDGE_AMQP_TYPES", default_value = "")]
    pub amqp_types: String,
    /// MQTT broker for the MQTT bridge (`mqtt://[user:pass@]host:1883`); unset: none.
    #[arg(id = "bridge_mqtt_url", long = "bridge-mqtt-url", env = "BRIDGE_MQTT_URL", hide_env_values = true)]
    pub mqtt_url: Option<String>,
    /// Topics are `<prefix>/<practiceId>/<TYPE>`.
    #[arg(
        id = "bridge_mqtt_prefix",
        long = "bridge-mqtt-prefix",
        env = "BRIDGE_MQTT_PREFIX",
        default_value = "clinicstream"
    )]
    pub mqtt_prefix: String,
    /// Event types the MQTT bridge sends, comma-separated; empty: every type.
    #[arg(id = "bridge_mqtt_types", long = "bridge-mqtt-types", env = "BRIDGE_MQTT_TYPES", default_value = "")]
    pub mqtt_types: String,
    /// `full`: `data` is the webhook `data` with the snapshot; `thin`: ids and types only
    /// (for buses that must not carry health data).
    #[arg(id = "bridge_payload", long = "bridge-payload", env = "BRIDGE_PAYLOAD", value_enum, default_value = "full")]
    pub payload: PayloadMode,
    /// How long a replica holds a practice of a bridge without renewing it; a replica that
    /// died loses its practices to the others after this.
    #[arg(id = "bridge_lease", long = "bridge-lease", env = "BRIDGE_LEASE", default_value = "15s", value_parser = parse_duration)]
    pub lease: Duration,
    /// How often an idle practice's publisher checks the log for events the bus did not
    /// bring (live events come from the bus at once).
    #[arg(id = "bridge_poll", long = "bridge-poll", env = "BRIDGE_POLL", default_value = "1s", value_parser = parse_duration)]
    pub poll: Duration,
    /// Events read from the log per batch (the cursor is written once per batch).
    #[arg(id = "bridge_batch", long = "bridge-batch", env = "BRIDGE_BATCH", default_value_t = 256)]
    pub batch: u64,
    /// Messages of one practice awaiting their broker ack at once (NATS and AMQP; MQTT
    /// is always 1). 1 keeps strict order even when a broker refuses one message and takes
    /// the next; more pipelines, at that risk.
    #[arg(
        id = "bridge_max_in_flight",
        long = "bridge-max-in-flight",
        env = "BRIDGE_MAX_IN_FLIGHT",
        default_value_t = 1
    )]
    pub max_in_flight: usize,
    /// The longest wait between retries while a broker is down (the first is 200 ms).
    #[arg(id = "bridge_backoff_max", long = "bridge-backoff-max", env = "BRIDGE_BACKOFF_MAX", default_value = "10s", value_parser = parse_duration)]
    pub backoff_max: Duration,
    /// How long one publish may wait for its broker ack before it counts as failed.
    #[arg(id = "bridge_ack_timeout", long = "bridge-ack-timeout", env = "BRIDGE_ACK_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub ack_timeout: Duration,
    #[command(flatten)]
    pub kafka: super::kafka_settings::KafkaArgs,
    /// Run the configured bridges on this replica.
    #[arg(id = "bridge_worker", long = "bridge-worker", env = "BRIDGE_WORKER", default_value_t = true, action = ArgAction::Set)]
    pub worker: bool,
}

/// A setting that cannot work, named as the operator set it.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct BadSetting {
    pub setting: &'static str,
    pub reason: String,
}

fn bad(setting: &'static str, reason: impl Into<String>) -> BadSetting {
    BadSetting { setting, reason: reason.into() }
}

impl BridgeArgs {
    /// Checks every setting of the configured bridges (those whose URL is set).
    pub fn validate(&self) -> Result<(), BadSetting> {
        if let Some(url) = &self.nats_url {
            check_url("BRIDGE_NATS_URL", url, &["nats"])?;
            check_stream_name(&self.nats_stream)?;
            check_nats_prefix(&self.nats_prefix)?;
            parse_types("BRIDGE_NATS_TYPES", &self.nats_types)?;
        }
        if let Some(url) = &self.amqp_url {
            check_url("BRIDGE_AMQP_URL", url, &["amqp"])?;
            check_exchange_name(&self.amqp_exchange)?;
            parse_types("BRIDGE_AMQP_TYPES", &self.amqp_types)?;
        }
        if let Some(url) = &self.mqtt_url {
            check_url("BRIDGE_MQTT_URL", url, &["mqtt", "tcp"])?;
            check_mqtt_prefix(&self.mqtt_prefix)?;
            parse_types("BRIDGE_MQTT_TYPES", &self.mqtt_types)?;
        }
        if self.kafka.brokers.is_some() {
            self.kafka.check().map_err(|(setting, reason)| bad(setting, reason))?;
            parse_types("BRIDGE_KAFKA_TYPES", &self.kafka.types)?;
        }
        if self.batch == 0 || self.batch > 10_000 {
            return Err(bad("BRIDGE_BATCH", "must be between 1 and 10000"));
        }
        if self.max_in_flight == 0 || self.max_in_flight > 1024 {
            return Err(bad("BRIDGE_MAX_IN_FLIGHT", "must be between 1 and 1024"));
        }
        if self.lease < Duration::from_secs(1) {
            return Err(bad("BRIDGE_LEASE", "must be at least 1s"));
        }
        if self.poll.is_zero() || self.ack_timeout.is_zero() || self.backoff_max.is_zero() {
            return Err(bad("BRIDGE_POLL, BRIDGE_ACK_TIMEOUT, BRIDGE_BACKOFF_MAX", "must not be zero"));
        }
        Ok(())
    }

    /// Whether any bridge is configured.
    pub fn any(&self) -> bool {
        self.nats_url.is_some() || self.amqp_url.is_some() || self.mqtt_url.is_some() || self.kafka.brokers.is_some()
    }
}

/// `PAYMENT_POSTED,PATIENT_CREATED` → those types; empty → None (every type).
pub fn parse_types(setting: &'static str, text: &str) -> Result<Option<Vec<EventType>>, BadSetting> {
    let mut types = Vec::new();
    for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let parsed = EventType::parse(&name.to_ascii_uppercase()).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            bad(setting, format!("{name:?} is not an event type (one of {})", known.join(", ")))
        })?;
        if !types.contains(&parsed) {
            types.push(parsed);
        }
    }
    Ok((!types.is_empty()).then_some(types))
}

/// The URL parses and has one of `schemes`; TLS schemes are refused with the reason (this
/// build has no TLS for the broker clients).
fn check_url(setting: &'static str, url: &str, schemes: &[&str]) -> Result<(), BadSetting> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad(setting, format!("{} is not a URL like {}://host:port", redact(url), schemes[0])))?;
    if !schemes.contains(&scheme) {
        let tls = matches!(scheme, "tls" | "amqps" | "mqtts" | "ssl");
        let reason = if tls {
            format!("{scheme}:// (TLS) is not supported by this build; use {}://", schemes[0])
        } else {
            format!("the scheme must be {}://, not {scheme}://", schemes.join(":// or "))
        };
        return Err(bad(setting, reason));
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    if host_port.is_empty() {
        return Err(bad(setting, format!("{} has no host", redact(url))));
    }
    if let Some((_, port)) = host_port.rsplit_once(':')
        && !host_port.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err(bad(setting, format!("{port:?} is not a port number")));
    }
    Ok(())
}

/// The URL without its password, for logs and the `bridges` query.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// JetStream stream names: no whitespace, `.`, `*`, `>`, path separators; at most 255.
fn check_stream_name(name: &str) -> Result<(), BadSetting> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.chars().any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_control());
    ok.then_some(()).ok_or_else(|| {
        bad("BRIDGE_NATS_STREAM", format!("{name:?} is not a JetStream stream name (no spaces, '.', '*', '>', '/')"))
    })
}

/// NATS subject tokens separated by dots, without wildcards or whitespace.
fn check_nats_prefix(prefix: &str) -> Result<(), BadSetting> {
    let ok = !prefix.is_empty()
        && prefix.split('.').all(|token| {
            !token.is_empty() && !token.chars().any(|c| c.is_whitespace() || matches!(c, '*' | '>') || c.is_control())
        });
    ok.then_some(()).ok_or_else(|| {
        bad("BRIDGE_NATS_PREFIX", format!("{prefix:?} is not a subject prefix (dot-separated tokens, no '*' or '>')"))
    })
}

/// AMQP 0-9-1 exchange names: letters, digits, `-`, `_`, `.`, `:`; at most 255 bytes; and
/// not the default exchange (empty), which cannot be a topic exchange.
fn check_exchange_name(name: &str) -> Result<(), BadSetting> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    ok.then_some(()).ok_or_else(|| {
        bad("BRIDGE_AMQP_EXCHANGE", format!("{name:?} is not an exchange name (letters, digits, '-', '_', '.', ':')"))
    })
}

/// MQTT topic levels separated by `/`, without the wildcards `+` and `#`.
fn check_mqtt_prefix(prefix: &str) -> Result<(), BadSetting> {
    let ok = !prefix.is_empty()
        && !prefix.starts_with('$')
        && !prefix.chars().any(|c| matches!(c, '+' | '#' | '\0'))
        && prefix.split('/').all(|level| !level.is_empty());
    ok.then_some(()).ok_or_else(|| {
        bad("BRIDGE_MQTT_PREFIX", format!("{prefix:?} is not a topic prefix (levels split by '/', no '+', '#' or '$')"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_names_and_types_are_checked() {
        assert!(check_url("X", "nats://127.0.0.1:4222", &["nats"]).is_ok());
        assert!(check_url("X", "amqp://guest:guest@127.0.0.1:5672/%2f", &["amqp"]).is_ok());
        assert!(check_url("X", "127.0.0.1:4222", &["nats"]).is_err());
        assert!(check_url("X", "amqps://h:1", &["amqp"]).unwrap_err().reason.contains("TLS"));
        assert!(check_url("X", "nats://h:port", &["nats"]).is_err());
        assert!(check_url("X", "nats://", &["nats"]).is_err());
        assert!(check_exchange_name("clinicstream.events").is_ok());
        assert!(check_exchange_name("bad exchange!").is_err());
        assert!(check_exchange_name("").is_err());
        assert!(check_stream_name("CLINICSTREAM").is_ok());
        assert!(check_stream_name("a.b").is_err());
        assert!(check_nats_prefix("acme.clinic").is_ok());
        assert!(check_nats_prefix("acme.*").is_err());
        assert!(check_nats_prefix("a..b").is_err());
        assert!(check_mqtt_prefix("acme/clinic").is_ok());
        assert!(check_mqtt_prefix("acme/#").is_err());
        assert_eq!(parse_types("X", "").unwrap(), None);
        assert_eq!(parse_types("X", "payment_posted, PATIENT_CREATED").unwrap().unwrap().len(), 2);
        assert!(parse_types("X", "PAYMENT").unwrap_err().reason.contains("PAYMENT_POSTED"));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("amqp://guest:secret@h:5672/v"), "amqp://guest:***@h:5672/v");
        assert_eq!(redact("nats://h:4222"), "nats://h:4222");
    }
}
