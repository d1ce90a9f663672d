//! The enumerations as the schema spells them: each is the GraphQL face of the `vocab`
//! enumeration it names as `remote`, which async-graphql converts to and from (`.into()`).
//! Variants are spelled SCREAMING_SNAKE_CASE, their stored spelling too.

use async_graphql::Enum;

/// What kind of clinician a provider is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::vocab::ProviderKind")]
pub enum ProviderKind {
    Dentist,
    Hygienist,
    Veterinarian,
    VetTech,
    Assistant,
    Other,
}

/// Where an appointment stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::vocab::AppointmentStatus")]
pub enum AppointmentStatus {
    Scheduled,
    Cancelled,
    Completed,
    NoShow,
}

/// How a payment was made.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::vocab::PaymentMethod")]
pub enum PaymentMethod {
    Card,
    Cash,
    Check,
    Insurance,
}

/// What a caller may do: ADMIN everything, BACKOFFICE read and write its practice,
/// SUBSCRIBER read and subscribe to its practice, PATIENT read and subscribe to one
/// patient's own records (a person's token only, never an API key).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::vocab::Role")]
pub enum Role {
    Admin,
    Backoffice,
    Subscriber,
    Patient,
}

/// The business events in a practice's log.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::vocab::EventType")]
pub enum EventType {
    PatientCreated,
    PatientUpdated,
    AppointmentScheduled,
    AppointmentRescheduled,
    AppointmentCancelled,
    AppointmentCompleted,
    AppointmentStartingSoon,
    ChargePosted,
    PaymentPosted,
}

/// Which door an operation or delivery came through.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::vocab::Transport")]
pub enum Transport {
    Http,
    Websocket,
    Sse,
    Multipart,
    Webhook,
    Bridge,
    LongPolling,
    Websub,
    Grpc,
}

/// What an audit entry records: a read, a change, a subscription (or live query)
/// starting or stopping, or events delivered to one.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::vocab::AuditAction")]
pub enum AuditAction {
    Read,
    Change,
    Subscribe,
    Unsubscribe,
    Deliver,
}

/// Where a delivery stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::vocab::WebhookDeliveryStatus")]
pub enum WebhookDeliveryStatus {
    /// Not delivered yet: waiting for its turn, its next attempt, or a disabled endpoint.
    Pending,
    /// A 2xx answer was received.
    Succeeded,
    /// Every attempt of the retry schedule failed (`redeliverWebhook` tries again).
    Failed,
}

/// Which broker a bridge feeds.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::vocab::BridgeKind")]
pub enum BridgeKind {
    /// NATS JetStream.
    Nats,
    /// RabbitMQ (AMQP 0-9-1).
    Amqp,
    Mqtt,
    /// Kafka, exactly once for `read_committed` consumers.
    Kafka,
}

/// This replica's connection to the bridge's broker.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::vocab::BridgeState")]
pub enum BridgeState {
    /// Not connected yet.
    Connecting,
    Connected,
    /// The last connect or publish failed; retrying with backoff (see `lastError`).
    Failing,
}
