//! The AsyncAPI 3.0 document of the event API, generated from the code's own catalog: the
//! event types (`EventType::ALL`), the object each is delivered as (`event_object`), and
//! the JSON Schemas of those objects read from the GraphQL schema itself (by
//! introspection), so the document cannot drift from what is served. The commands a bus
//! carries in, their replies and dead letters are `commands`'.

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

mod commands;

use crate::graphql::types::event_object;
use crate::vocab::EventType;

const INTROSPECTION: &str = "{ __schema { types { name kind enumValues { name } \
    fields { name args { name } type { ...T } } } } } \
    fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// Builds the document.
pub async fn document() -> Value {
    let schema = crate::graphql::introspection_schema();
    let response = schema.execute(INTROSPECTION).await;
    let types =
        response.data.into_json().unwrap_or_default()["__schema"]["types"].as_array().cloned().unwrap_or_default();
    let mut schemas = Map::new();
    let mut pending: Vec<String> = EventType::ALL.iter().map(|t| event_object(*t).to_string()).collect();
    let mut done = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !done.insert(name.clone()) {
            continue;
        }
        let Some(ty) = types.iter().find(|t| t["name"] == name.as_str()) else { continue };
        schemas.insert(name.clone(), type_schema(ty, &mut pending));
    }
    let mut messages = Map::new();
    let mut channel_messages = Map::new();
    for event_type in EventType::ALL {
        let name = event_type.as_str();
        messages.insert(
            name.to_string(),
            json!({
                "name": name,
                "title": name.replace('_', " ").to_lowercase(),
                "contentType": "application/json",
                "payload": {
                    "allOf": [
                        { "$ref": format!("#/components/schemas/{}", event_object(*event_type)) },
                        { "type": "object", "properties": { "type": { "const": name } } }
                    ]
                }
            }),
        );
        channel_messages.insert(name.to_string(), json!({ "$ref": format!("#/components/messages/{name}") }));
    }
    // Webhooks: the same events, POSTed as `{type, timestamp, data}` with `data` the full
    // event object (Standard Webhooks).
    let mut webhook_channel_messages = Map::new();
    for event_type in EventType::ALL {
        let name = format!("webhook_{}", event_type.as_str());
        messages.insert(
            name.clone(),
            json!({
                "name": name,
                "title": format!("webhook: {}", event_type.as_str().replace('_', " ").to_lowercase()),
                "contentType": "application/json",
                "headers": {
                    "type": "object",
                    "required": ["webhook-id", "webhook-timestamp", "webhook-signature"],
                    "properties": {
                        "webhook-id": { "type": "string", "description": "The event's cursor: stable across retries; dedupe on it." },
                        "webhook-timestamp": { "type": "string", "description": "Unix seconds of this attempt." },
                        "webhook-signature": { "type": "string", "description": "`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, space-separated during a secret rotation." }
                    }
                },
                "payload": {
                    "type": "object",
                    "required": ["type", "timestamp", "data"],
                    "properties": {
                        "type": { "const": event_type.as_str() },
                        "timestamp": { "type": "string", "format": "date-time" },
                        "data": { "$ref": format!("#/components/schemas/{}", event_object(*event_type)) }
                    }
                }
            }),
        );
        webhook_channel_messages.insert(name.clone(), json!({ "$ref": format!("#/components/messages/{name}") }));
    }
    let webhook_operation_messages: Vec<Value> = EventType::ALL
        .iter()
        .map(|t| json!({ "$ref": format!("#/channels/webhooks/messages/webhook_{}", t.as_str()) }))
        .collect();
    let operation_messages: Vec<Value> = EventType::ALL
        .iter()
        .map(|t| json!({ "$ref": format!("#/channels/practiceEvents/messages/{}", t.as_str()) }))
        .collect();
    let event_objects: BTreeSet<&str> = EventType::ALL.iter().map(|t| event_object(*t)).collect();
    let event_objects: Vec<Value> =
        event_objects.into_iter().map(|o| json!({ "$ref": format!("#/components/schemas/{o}") })).collect();
    messages.insert("websubDistribution".into(), websub_distribution(&event_objects));
    messages.insert("kafkaCloudEvent".into(), kafka_cloudevent(&event_objects));
    messages.insert("longPollAnswer".into(), long_poll_answer(event_objects));
    let mut document = json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "clinicstream",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Business events of dental and veterinary practices. Each practice's events carry a gapless `seq` and an opaque `cursor`; every subscription takes `after: cursor` to replay what was missed, then continues live. Over websockets, events are the `next` payloads of GraphQL subscriptions (`events`, `appointmentScheduled`, `paymentPosted`, …) in the fields the client selects; the schemas below are the full objects. The same events (each the webhook body's `data`) also stream over gRPC as `clinicstream.v1.Events/Subscribe` on `GRPC_LISTEN_ADDR`, described by its checked-in `proto/clinicstream/v1/events.proto` rather than here."
        },
        "servers": {
            "local": {
                "host": "127.0.0.1:8080",
                "protocol": "ws",
                "pathname": "/graphql",
                "description": "GraphQL over WebSocket: subprotocols graphql-transport-ws and graphql-ws. Authenticate in connection_init: {\"authorization\": \"Bearer <key>\"}."
            },
            "http": {
                "host": "127.0.0.1:8080",
                "protocol": "http",
                "description": "Plain HTTP: long polling. Authenticate with Authorization: Bearer <key or access token>."
            },
            "kafka": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "The Kafka bridge's brokers (`BRIDGE_KAFKA_BROKERS`); read with isolation.level=read_committed."
            }
        },
        "channels": {
            "practiceEvents": {
                "address": "/graphql",
                "title": "A practice's business events",
                "description": "Subscribe with `subscription { events(practiceId: …, after: …) { … } }`, or one of the typed subscriptions.",
                "servers": [{ "$ref": "#/servers/local" }],
                "messages": channel_messages
            },
            "webhooks": {
                "address": null,
                "title": "Webhook deliveries",
                "description": "POSTed to each endpoint registered with `createWebhookEndpoint`, per endpoint in seq order, retried on a Standard Webhooks schedule; 2xx acknowledges.",
                "messages": webhook_channel_messages
            },
            "websub": {
                "address": null,
                "title": "WebSub content distribution",
                "description": "POSTed to each verified callback subscribed at POST /websub (W3C WebSub) to a topic `<base>/practices/{practiceId}/events[?types=A,B]`, in seq order, with the webhooks' retries.",
                "messages": { "websubDistribution": { "$ref": "#/components/messages/websubDistribution" } }
            },
            "kafkaEvents": {
                "address": "clinicstream.events",
                "title": "The Kafka bridge's topic",
                "description": "`BRIDGE_KAFKA_TOPIC` (default `clinicstream.events`): every practice's events as CloudEvents in structured mode, keyed by the practice id (one partition per practice, in seq order), each once for a read_committed consumer; the CloudEvent `id` is the cursor (the dedup key).",
                "servers": [{ "$ref": "#/servers/kafka" }],
                "messages": { "kafkaCloudEvent": { "$ref": "#/components/messages/kafkaCloudEvent" } }
            },
            "longPolling": {
                "address": "/practices/{practiceId}/events",
                "title": "Long polling of a practice's events",
                "description": "GET with `after=<cursor>` (none: from now), `limit` (1-500, default 100), `wait` (0-60 s, default 20) and `types=A,B`. Answers as soon as events after the cursor exist, or with none and the same `next` after `wait`. An expired cursor is 410 CURSOR_EXPIRED.",
                "parameters": { "practiceId": { "description": "The practice whose log is read." } },
                "servers": [{ "$ref": "#/servers/http" }],
                "messages": { "longPollAnswer": { "$ref": "#/components/messages/longPollAnswer" } }
            }
        },
        "operations": {
            "receivePracticeEvents": {
                "action": "receive",
                "title": "Receive a practice's events",
                "channel": { "$ref": "#/channels/practiceEvents" },
                "messages": operation_messages
            },
            "sendWebhooks": {
                "action": "send",
                "title": "Deliver a practice's events to its webhook endpoints",
                "channel": { "$ref": "#/channels/webhooks" },
                "messages": webhook_operation_messages
            },
            "sendWebSub": {
                "action": "send",
                "title": "Distribute a practice's events to WebSub subscribers",
                "channel": { "$ref": "#/channels/websub" },
                "messages": [{ "$ref": "#/channels/websub/messages/websubDistribution" }]
            },
            "sendToKafka": {
                "action": "send",
                "title": "Publish the practices' events to the Kafka topic",
                "channel": { "$ref": "#/channels/kafkaEvents" },
                "messages": [{ "$ref": "#/channels/kafkaEvents/messages/kafkaCloudEvent" }]
            },
            "receiveByLongPolling": {
                "action": "receive",
                "title": "Poll a practice's events, looping `after=next`",
                "channel": { "$ref": "#/channels/longPolling" },
                "messages": [{ "$ref": "#/channels/longPolling/messages/longPollAnswer" }]
            }
        },
        "components": { "schemas": schemas, "messages": messages }
    });
    commands::add(&mut document);
    document
}

/// A WebSub distribution: one event's `data`, with the hub's headers.
fn websub_distribution(event_objects: &[Value]) -> Value {
    json!({
        "name": "websubDistribution",
        "title": "websub distribution",
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "required": ["Link"],
            "properties": {
                "Link": { "type": "string", "description": "`<hub>; rel=\"hub\", <topic>; rel=\"self\"`." },
                "X-Hub-Signature": { "type": "string", "description": "`sha256=<hex HMAC-SHA256(hub.secret, body)>`, when the subscriber gave a secret." }
            }
        },
        "payload": { "anyOf": event_objects }
    })
}

/// A Kafka bridge record: a CloudEvent in structured mode (`data` the webhook `data`, or
/// ids only with `BRIDGE_PAYLOAD=thin`), keyed by the practice id.
fn kafka_cloudevent(event_objects: &[Value]) -> Value {
    json!({
        "name": "kafkaCloudEvent",
        "title": "kafka cloudevent",
        "contentType": "application/cloudevents+json",
        "headers": {
            "type": "object",
            "required": ["content-type"],
            "properties": { "content-type": { "const": "application/cloudevents+json" } }
        },
        "bindings": { "kafka": { "key": { "type": "string", "description": "The practice id." }, "bindingVersion": "0.5.0" } },
        "payload": {
            "type": "object",
            "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "sequence", "data"],
            "properties": {
                "specversion": { "const": "1.0" },
                "id": { "type": "string", "description": "The event's cursor: dedupe on it." },
                "source": { "type": "string", "description": "`/practices/<practiceId>`." },
                "type": { "type": "string", "enum": EventType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>() },
                "time": { "type": "string", "format": "date-time" },
                "datacontenttype": { "const": "application/json" },
                "sequence": { "type": "string", "description": "The seq, zero-padded to 19 digits." },
                "data": { "anyOf": event_objects }
            }
        }
    })
}

/// A long poll's answer: the events (each the webhook body's `data`) and where to go on.
fn long_poll_answer(event_objects: Vec<Value>) -> Value {
    json!({
        "name": "longPollAnswer",
        "title": "long poll answer",
        "contentType": "application/json",
        "payload": {
            "type": "object",
            "required": ["events", "next"],
            "properties": {
                "events": { "type": "array", "items": { "anyOf": event_objects } },
                "next": { "type": "string", "description": "The cursor to poll after next: the last event's, or the one given when there are none." }
            }
        }
    })
}

/// The JSON Schema of a GraphQL object or enum; queues the objects it refers to.
fn type_schema(ty: &Value, pending: &mut Vec<String>) -> Value {
    if ty["kind"] == "ENUM" {
        let values: Vec<Value> = ty["enumValues"].as_array().into_iter().flatten().map(|v| v["name"].clone()).collect();
        return json!({ "type": "string", "enum": values });
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in ty["fields"].as_array().into_iter().flatten() {
        // Fields with arguments are resolvers, not part of the stored shape.
        if field["args"].as_array().is_some_and(|a| !a.is_empty()) {
            continue;
        }
        let name = field["name"].as_str().unwrap_or_default().to_string();
        if field["type"]["kind"] == "NON_NULL" {
            required.push(Value::from(name.clone()));
        }
        properties.insert(name, type_ref(&field["type"], pending));
    }
    json!({ "type": "object", "properties": properties, "required": required })
}

fn type_ref(ty: &Value, pending: &mut Vec<String>) -> Value {
    match ty["kind"].as_str() {
        Some("NON_NULL") => type_ref(&ty["ofType"], pending),
        Some("LIST") => json!({ "type": "array", "items": type_ref(&ty["ofType"], pending) }),
        Some("SCALAR") => match ty["name"].as_str() {
            Some("Int") => json!({ "type": "integer" }),
            Some("Float") => json!({ "type": "number" }),
            Some("Boolean") => json!({ "type": "boolean" }),
            Some("DateTime") => json!({ "type": "string", "format": "date-time" }),
            Some("Date") => json!({ "type": "string", "format": "date" }),
            _ => json!({ "type": "string" }),
        },
        _ => {
            let name = ty["name"].as_str().unwrap_or_default().to_string();
            pending.push(name.clone());
            json!({ "$ref": format!("#/components/schemas/{name}") })
        }
    }
}
