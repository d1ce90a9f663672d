//! The commands' part of the AsyncAPI document: the command a bus carries in (NATS
//! JetStream, RabbitMQ, Kafka), its reply and its dead letter, each a CloudEvent in structured
//! JSON mode (`inbox`).

use serde_json::{Value, json};

use crate::inbox::{COMMAND_TYPE, DEAD_LETTER_TYPE, RESULT_TYPE};

const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";

/// Adds the brokers, channels, operations and messages of commands to `document`.
pub(super) fn add(document: &mut Value) {
    let entries = [
        (
            "servers",
            "nats",
            json!({
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "NATS with JetStream (BRIDGE_NATS_URL): commands on COMMANDS_NATS_SUBJECT, replies and dead letters."
            }),
        ),
        (
            "servers",
            "amqp",
            json!({
                "host": "127.0.0.1:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "RabbitMQ (BRIDGE_AMQP_URL): commands on COMMANDS_AMQP_QUEUE, replies and dead letters."
            }),
        ),
        (
            "channels",
            "commandsNats",
            json!({
                "address": "clinicstream.commands.{practiceId}",
                "title": "Commands over NATS JetStream",
                "description": "COMMANDS_NATS_SUBJECT (e.g. `clinicstream.commands.>`), read by a durable JetStream consumer one command at a time; one subject per practice keeps its order. A command is acked once its reply or dead letter is published; a redelivery answers the first result.",
                "parameters": { "practiceId": { "description": "The practice the command is about (for order; the API key decides what it may change)." } },
                "servers": [{ "$ref": "#/servers/nats" }],
                "messages": { "command": { "$ref": "#/components/messages/command" } }
            }),
        ),
        (
            "channels",
            "commandsAmqp",
            json!({
                "address": null,
                "title": "Commands over RabbitMQ",
                "description": "The durable queue COMMANDS_AMQP_QUEUE (single active consumer: order holds across replicas). A message's `reply_to` names the queue its reply goes to (through the default exchange).",
                "servers": [{ "$ref": "#/servers/amqp" }],
                "messages": { "command": { "$ref": "#/components/messages/command" } }
            }),
        ),
        (
            "channels",
            "commandsKafka",
            json!({
                "address": "clinicstream.commands",
                "title": "Commands over Kafka",
                "description": "COMMANDS_KAFKA_TOPIC, read by the consumer group COMMANDS_KAFKA_GROUP (from the earliest offset; read_committed). The record key is the practice id: one practice's commands share a partition and apply in order. An offset is committed only after the reply or dead letter was acknowledged; a redelivery answers the first result. Header `content-type: application/cloudevents+json` (structured mode).",
                "servers": [{ "$ref": "#/servers/kafka" }],
                "messages": { "command": { "$ref": "#/components/messages/command" } }
            }),
        ),
        (
            "channels",
            "commandReplies",
            json!({
                "address": "clinicstream.replies",
                "title": "Command replies",
                "description": "COMMANDS_REPLY_SUBJECT (NATS) / the topic exchange COMMANDS_REPLY_EXCHANGE with the command's routing key (RabbitMQ) / the topic COMMANDS_REPLY_TOPIC keyed like the command (Kafka), unless the command names its own `replyto` (a NATS subject, a Kafka topic) or `reply_to` (an AMQP queue).",
                "servers": [{ "$ref": "#/servers/nats" }, { "$ref": "#/servers/amqp" }, { "$ref": "#/servers/kafka" }],
                "messages": { "commandResult": { "$ref": "#/components/messages/commandResult" } }
            }),
        ),
        (
            "channels",
            "commandDeadLetters",
            json!({
                "address": "clinicstream.dead-letter",
                "title": "Commands that could not run",
                "description": "COMMANDS_NATS_DEAD_LETTER (a subject) / COMMANDS_AMQP_DEAD_LETTER (a durable queue) / COMMANDS_KAFKA_DEAD_LETTER (a topic): not JSON, not a CloudEvent, not a mutation, an invalid operation, a refused scope, too large, or a passing failure that outlasted five deliveries.",
                "servers": [{ "$ref": "#/servers/nats" }, { "$ref": "#/servers/amqp" }, { "$ref": "#/servers/kafka" }],
                "messages": { "commandDeadLetter": { "$ref": "#/components/messages/commandDeadLetter" } }
            }),
        ),
        ("operations", "receiveCommandsNats", receive("commandsNats")),
        ("operations", "receiveCommandsAmqp", receive("commandsAmqp")),
        ("operations", "receiveCommandsKafka", receive("commandsKafka")),
        (
            "operations",
            "sendCommandDeadLetters",
            json!({
                "action": "send",
                "title": "Send what could not run to the dead letter, with the error",
                "channel": { "$ref": "#/channels/commandDeadLetters" },
                "messages": [{ "$ref": "#/channels/commandDeadLetters/messages/commandDeadLetter" }]
            }),
        ),
        ("messages", "command", command()),
        ("messages", "commandResult", result()),
        ("messages", "commandDeadLetter", dead_letter()),
    ];
    for (section, name, value) in entries {
        let target = if section == "messages" { &mut document["components"][section] } else { &mut document[section] };
        if let Some(map) = target.as_object_mut() {
            map.insert(name.to_string(), value);
        }
    }
}

fn receive(channel: &str) -> Value {
    json!({
        "action": "receive",
        "title": "Apply a mutation sent on a bus, exactly once, and reply",
        "channel": { "$ref": format!("#/channels/{channel}") },
        "messages": [{ "$ref": format!("#/channels/{channel}/messages/command") }],
        "reply": {
            "channel": { "$ref": "#/channels/commandReplies" },
            "messages": [{ "$ref": "#/channels/commandReplies/messages/commandResult" }]
        }
    })
}

/// The CloudEvents 1.0 context attributes every message here has.
fn envelope(kind: &str, data: Value, subject: &str) -> Value {
    json!({
        "type": "object",
        "required": ["specversion", "id", "source", "type", "data"],
        "properties": {
            "specversion": { "const": "1.0" },
            "id": { "type": "string", "minLength": 1 },
            "source": { "type": "string", "minLength": 1 },
            "type": { "const": kind },
            "subject": { "type": "string", "description": subject },
            "time": { "type": "string", "format": "date-time" },
            "datacontenttype": { "const": "application/json" },
            "data": data
        }
    })
}

fn command() -> Value {
    let mut payload = envelope(
        COMMAND_TYPE,
        json!({
            "type": "object",
            "required": ["query"],
            "additionalProperties": false,
            "properties": {
                "query": { "type": "string", "description": "A GraphQL document whose operation is a mutation." },
                "variables": { "type": ["object", "null"] },
                "operationName": { "type": ["string", "null"] },
                "extensions": { "type": ["object", "null"], "description": "As over HTTP: `persistedQuery` for persisted documents." }
            }
        }),
        "Free for the sender.",
    );
    payload["properties"]["id"]["maxLength"] = json!(200);
    payload["properties"]["id"]["description"] = json!(
        "The idempotency key: the same id (under the same API key) is applied once and answered with its first result."
    );
    payload["properties"]["replyto"] = json!({ "type": "string", "description": "Where the reply goes instead of the default reply subject (NATS), queue (RabbitMQ) or topic (Kafka)." });
    json!({
        "name": "command",
        "title": "command",
        "summary": "A GraphQL mutation to apply, as a CloudEvent",
        "contentType": CLOUDEVENTS_JSON,
        "payload": payload
    })
}

fn result() -> Value {
    let data = json!({
        "type": "object",
        "description": "The GraphQL response, as HTTP would answer it.",
        "properties": { "data": { "type": ["object", "null"] }, "errors": { "type": "array", "items": { "type": "object" } } }
    });
    json!({
        "name": "commandResult",
        "title": "command result",
        "summary": "The first result of a command, the same on every redelivery",
        "contentType": CLOUDEVENTS_JSON,
        "payload": envelope(RESULT_TYPE, data, "The command's id.")
    })
}

fn dead_letter() -> Value {
    let data = json!({
        "type": "object",
        "required": ["error", "message", "messageBytes", "truncated"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": { "enum": ["TOO_LARGE", "BAD_CONTENT_TYPE", "NOT_JSON", "NOT_A_CLOUDEVENT", "NOT_A_COMMAND", "NOT_A_MUTATION", "INVALID_OPERATION", "REFUSED", "CONFLICT", "GAVE_UP"] },
                    "message": { "type": "string" }
                }
            },
            "response": { "type": ["object", "null"], "description": "The GraphQL response, when the operation ran and was refused." },
            "message": { "type": "string", "description": "The message as it came, as text, at most 64 KiB." },
            "messageBytes": { "type": "integer" },
            "truncated": { "type": "boolean" }
        }
    });
    json!({
        "name": "commandDeadLetter",
        "title": "command dead letter",
        "summary": "A message that could not run, with why",
        "contentType": CLOUDEVENTS_JSON,
        "payload": envelope(DEAD_LETTER_TYPE, data, "The command's id, when it had a readable one.")
    })
}
