//! The command consumers' settings (flags with environment fallbacks), flattened into
//! `Config`, and their checks. Each consumer is off unless its subject, queue or topic is
//! set; it connects with its bridge's URL (`BRIDGE_NATS_URL`, `BRIDGE_AMQP_URL`) or brokers
//! (`BRIDGE_KAFKA_BROKERS`, with the bridge's SASL settings).

use clap::Args;
use std::time::Duration;

use crate::bridges::BadSetting;
use crate::duration::parse_duration;

#[derive(Debug, Clone, Args)]
pub struct CommandArgs {
    /// NATS subjects commands arrive on (`clinicstream.commands.>`; one subject per
    /// practice keeps its order), read by a durable JetStream consumer; unset: none.
    #[arg(id = "commands_nats_subject", long = "commands-nats-subject", env = "COMMANDS_NATS_SUBJECT")]
    pub nats_subject: Option<String>,
    /// The JetStream stream that holds the commands, created with those subjects if absent.
    #[arg(
        id = "commands_nats_stream",
        long = "commands-nats-stream",
        env = "COMMANDS_NATS_STREAM",
        default_value = "CLINICSTREAM_COMMANDS"
    )]
    pub nats_stream: String,
    /// The durable consumer's name (every replica pulls from the same one).
    #[arg(
        id = "commands_nats_durable",
        long = "commands-nats-durable",
        env = "COMMANDS_NATS_DURABLE",
        default_value = "clinicstream-commands"
    )]
    pub nats_durable: String,
    /// The API key NATS commands run under (a practice key confines them to its practice).
    #[arg(
        id = "commands_nats_api_key",
        long = "commands-nats-api-key",
        env = "COMMANDS_NATS_API_KEY",
        hide_env_values = true
    )]
    pub nats_api_key: Option<String>,
    /// Where NATS replies go when a command names no `replyto`.
    #[arg(
        id = "commands_reply_subject",
        long = "commands-reply-subject",
        env = "COMMANDS_REPLY_SUBJECT",
        default_value = "clinicstream.replies"
    )]
    pub reply_subject: String,
    /// Where NATS commands that cannot run go, with the error.
    #[arg(
        id = "commands_nats_dead_letter",
        long = "commands-nats-dead-letter",
        env = "COMMANDS_NATS_DEAD_LETTER",
        default_value = "clinicstream.dead-letter"
    )]
    pub nats_dead_letter: String,
    /// How long JetStream waits for a command's ack before it redelivers it (to any
    /// replica): a replica that died mid-command is covered after this.
    #[arg(id = "commands_nats_ack_wait", long = "commands-nats-ack-wait", env = "COMMANDS_NATS_ACK_WAIT", default_value = "30s", value_parser = parse_duration)]
    pub nats_ack_wait: Duration,
    /// The RabbitMQ queue commands arrive on (declared durable, single active consumer so
    /// order holds across replicas); unset: none.
    #[arg(id = "commands_amqp_queue", long = "commands-amqp-queue", env = "COMMANDS_AMQP_QUEUE")]
    pub amqp_queue: Option<String>,
    /// The API key AMQP commands run under.
    #[arg(
        id = "commands_amqp_api_key",
        long = "commands-amqp-api-key",
        env = "COMMANDS_AMQP_API_KEY",
        hide_env_values = true
    )]
    pub amqp_api_key: Option<String>,
    /// The durable topic exchange AMQP replies go to (routing key: the command's), when a
    /// command has no `reply_to`.
    #[arg(
        id = "commands_reply_exchange",
        long = "commands-reply-exchange",
        env = "COMMANDS_REPLY_EXCHANGE",
        default_value = "clinicstream.replies"
    )]
    pub reply_exchange: String,
    /// The durable queue AMQP commands that cannot run go to, with the error.
    #[arg(
        id = "commands_amqp_dead_letter",
        long = "commands-amqp-dead-letter",
        env = "COMMANDS_AMQP_DEAD_LETTER",
        default_value = "clinicstream.dead-letter"
    )]
    pub amqp_dead_letter: String,
    /// The Kafka topic commands arrive on (record key: the practice id, so one practice's
    /// commands share a partition and keep their order), created if absent; unset: none.
    #[arg(id = "commands_kafka_topic", long = "commands-kafka-topic", env = "COMMANDS_KAFKA_TOPIC")]
    pub kafka_topic: Option<String>,
    /// The consumer group every replica joins (a new group starts at the earliest offset).
    #[arg(
        id = "commands_kafka_group",
        long = "commands-kafka-group",
        env = "COMMANDS_KAFKA_GROUP",
        default_value = "clinicstream-commands"
    )]
    pub kafka_group: String,
    /// The API key Kafka commands run under (a practice key confines them to its practice).
    #[arg(
        id = "commands_kafka_api_key",
        long = "commands-kafka-api-key",
        env = "COMMANDS_KAFKA_API_KEY",
        hide_env_values = true
    )]
    pub kafka_api_key: Option<String>,
    /// The Kafka topic replies go to (keyed like the command) when a command names no
    /// `replyto`; created if absent.
    #[arg(
        id = "commands_reply_topic",
        long = "commands-reply-topic",
        env = "COMMANDS_REPLY_TOPIC",
        default_value = "clinicstream.replies"
    )]
    pub reply_topic: String,
    /// The Kafka topic commands that cannot run go to, with the error; created if absent.
    #[arg(
        id = "commands_kafka_dead_letter",
        long = "commands-kafka-dead-letter",
        env = "COMMANDS_KAFKA_DEAD_LETTER",
        default_value = "clinicstream.dead-letter"
    )]
    pub kafka_dead_letter: String,
}

fn bad(setting: &'static str, reason: impl Into<String>) -> BadSetting {
    BadSetting { setting, reason: reason.into() }
}

impl CommandArgs {
    /// Checks the settings of the configured consumers against the bridges' URLs.
    pub fn validate(
        &self,
        nats_url: Option<&str>,
        amqp_url: Option<&str>,
        kafka_brokers: Option<&str>,
    ) -> Result<(), BadSetting> {
        if let Some(subject) = &self.nats_subject {
            if nats_url.is_none() {
                return Err(bad("COMMANDS_NATS_SUBJECT", "needs BRIDGE_NATS_URL (the NATS server)"));
            }
            if self.nats_api_key.as_deref().is_none_or(str::is_empty) {
                return Err(bad(
                    "COMMANDS_NATS_API_KEY",
                    "must be set with COMMANDS_NATS_SUBJECT (the key commands run under)",
                ));
            }
            subject_ok("COMMANDS_NATS_SUBJECT", subject, true)?;
            subject_ok("COMMANDS_REPLY_SUBJECT", &self.reply_subject, false)?;
            subject_ok("COMMANDS_NATS_DEAD_LETTER", &self.nats_dead_letter, false)?;
            let stream = &self.nats_stream;
            if stream.is_empty()
                || stream.chars().any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
            {
                return Err(bad("COMMANDS_NATS_STREAM", format!("{stream:?} is not a JetStream stream name")));
            }
            if self.nats_durable.is_empty()
                || !self.nats_durable.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            {
                return Err(bad("COMMANDS_NATS_DURABLE", "letters, digits, '-' and '_' only"));
            }
            if self.nats_ack_wait < Duration::from_secs(1) {
                return Err(bad("COMMANDS_NATS_ACK_WAIT", "must be at least 1s"));
            }
        }
        if let Some(queue) = &self.amqp_queue {
            if amqp_url.is_none() {
                return Err(bad("COMMANDS_AMQP_QUEUE", "needs BRIDGE_AMQP_URL (the RabbitMQ server)"));
            }
            if self.amqp_api_key.as_deref().is_none_or(str::is_empty) {
                return Err(bad(
                    "COMMANDS_AMQP_API_KEY",
                    "must be set with COMMANDS_AMQP_QUEUE (the key commands run under)",
                ));
            }
            amqp_name_ok("COMMANDS_AMQP_QUEUE", queue)?;
            amqp_name_ok("COMMANDS_REPLY_EXCHANGE", &self.reply_exchange)?;
            amqp_name_ok("COMMANDS_AMQP_DEAD_LETTER", &self.amqp_dead_letter)?;
        }
        if let Some(topic) = &self.kafka_topic {
            self.validate_kafka(topic, kafka_brokers)?;
        }
        Ok(())
    }

    fn validate_kafka(&self, topic: &str, brokers: Option<&str>) -> Result<(), BadSetting> {
        if !cfg!(feature = "kafka") {
            return Err(bad("COMMANDS_KAFKA_TOPIC", "this build has no Kafka (cargo feature `kafka`)"));
        }
        if brokers.is_none() {
            return Err(bad("COMMANDS_KAFKA_TOPIC", "needs BRIDGE_KAFKA_BROKERS (the Kafka brokers)"));
        }
        if self.kafka_api_key.as_deref().is_none_or(str::is_empty) {
            return Err(bad(
                "COMMANDS_KAFKA_API_KEY",
                "must be set with COMMANDS_KAFKA_TOPIC (the key commands run under)",
            ));
        }
        topic_ok("COMMANDS_KAFKA_TOPIC", topic)?;
        topic_ok("COMMANDS_REPLY_TOPIC", &self.reply_topic)?;
        topic_ok("COMMANDS_KAFKA_DEAD_LETTER", &self.kafka_dead_letter)?;
        if self.reply_topic == topic || self.kafka_dead_letter == topic {
            return Err(bad(
                "COMMANDS_KAFKA_TOPIC",
                "must differ from COMMANDS_REPLY_TOPIC and COMMANDS_KAFKA_DEAD_LETTER",
            ));
        }
        let group = &self.kafka_group;
        if group.is_empty() || group.len() > 255 || !group.chars().all(|c| c.is_ascii_graphic()) {
            return Err(bad("COMMANDS_KAFKA_GROUP", "must be 1 to 255 printable ASCII characters, without spaces"));
        }
        Ok(())
    }
}

/// Kafka topic names: 1 to 249 of letters, digits, `.`, `_`, `-`; not `.` or `..`.
pub fn kafka_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn topic_ok(setting: &'static str, name: &str) -> Result<(), BadSetting> {
    let shown: String = name.chars().take(80).collect();
    kafka_topic_name(name)
        .then_some(())
        .ok_or_else(|| bad(setting, format!("{shown:?} is not a topic name (1-249 of letters, digits, '.', '_', '-')")))
}

/// Dot-separated tokens without whitespace; wildcards only where a subscription is meant.
fn subject_ok(setting: &'static str, subject: &str, wildcards: bool) -> Result<(), BadSetting> {
    let ok = !subject.is_empty()
        && subject.split('.').all(|token| {
            !token.is_empty()
                && !token.chars().any(|c| c.is_whitespace() || c.is_control())
                && (wildcards || !token.contains(['*', '>']))
        });
    ok.then_some(()).ok_or_else(|| bad(setting, format!("{subject:?} is not a NATS subject (dot-separated tokens)")))
}

/// AMQP 0-9-1 names: letters, digits, `-`, `_`, `.`, `:`; at most 255 bytes.
fn amqp_name_ok(setting: &'static str, name: &str) -> Result<(), BadSetting> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    ok.then_some(())
        .ok_or_else(|| bad(setting, format!("{name:?} is not a name (letters, digits, '-', '_', '.', ':')")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_names_are_checked() {
        assert!(subject_ok("X", "clinicstream.commands.>", true).is_ok());
        assert!(subject_ok("X", "clinicstream.replies.>", false).is_err());
        assert!(subject_ok("X", "a..b", true).is_err());
        assert!(subject_ok("X", "a b", true).is_err());
        assert!(amqp_name_ok("X", "clinicstream.commands").is_ok());
        assert!(amqp_name_ok("X", "bad name!").is_err());
        assert!(topic_ok("X", "clinicstream.commands").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", &"t".repeat(250)] {
            assert!(topic_ok("X", bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[cfg(feature = "kafka")]
    #[test]
    fn a_kafka_consumer_needs_the_brokers_its_key_and_distinct_topics() {
        let mut args = crate::Config::with_env().commands;
        args.kafka_topic = Some("clinicstream.commands".into());
        let brokers = Some("k:9092");
        assert_eq!(args.validate(None, None, None).unwrap_err().setting, "COMMANDS_KAFKA_TOPIC");
        assert_eq!(args.validate(None, None, brokers).unwrap_err().setting, "COMMANDS_KAFKA_API_KEY");
        args.kafka_api_key = Some("cs_key".into());
        assert!(args.validate(None, None, brokers).is_ok());
        args.reply_topic = "clinicstream.commands".into();
        assert_eq!(args.validate(None, None, brokers).unwrap_err().setting, "COMMANDS_KAFKA_TOPIC");
        args.reply_topic = "bad topic".into();
        assert_eq!(args.validate(None, None, brokers).unwrap_err().setting, "COMMANDS_REPLY_TOPIC");
        args.reply_topic = "clinicstream.replies".into();
        args.kafka_group = "a group".into();
        assert_eq!(args.validate(None, None, brokers).unwrap_err().setting, "COMMANDS_KAFKA_GROUP");
    }

    #[test]
    fn a_consumer_needs_its_broker_and_its_key() {
        let mut args = crate::Config::with_env().commands;
        args.nats_subject = Some("clinicstream.commands.>".into());
        assert_eq!(args.validate(None, None, None).unwrap_err().setting, "COMMANDS_NATS_SUBJECT");
        assert_eq!(args.validate(Some("nats://h:4222"), None, None).unwrap_err().setting, "COMMANDS_NATS_API_KEY");
        args.nats_api_key = Some("cs_key".into());
        assert!(args.validate(Some("nats://h:4222"), None, None).is_ok());
        args.reply_subject = "replies.>".into();
        assert_eq!(args.validate(Some("nats://h:4222"), None, None).unwrap_err().setting, "COMMANDS_REPLY_SUBJECT");
        args.amqp_queue = Some("commands".into());
        args.reply_subject = "replies".into();
        assert_eq!(
            args.validate(Some("nats://h:4222"), Some("amqp://h"), None).unwrap_err().setting,
            "COMMANDS_AMQP_API_KEY"
        );
    }
}
