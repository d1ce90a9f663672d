//! The enumerations of the contract, with their stored spelling (also their GraphQL name:
//! `graphql::types` spells them the same).

use serde::{Deserialize, Serialize};

/// Declares a contract enum whose database and JSON spelling is its GraphQL name.
macro_rules! contract_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(
                #[serde(rename = $text)]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text,)+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

contract_enum!(
    /// What kind of clinician a provider is.
    ProviderKind {
        Dentist => "DENTIST",
        Hygienist => "HYGIENIST",
        Veterinarian => "VETERINARIAN",
        VetTech => "VET_TECH",
        Assistant => "ASSISTANT",
        Other => "OTHER",
    }
);

contract_enum!(
    /// Where an appointment stands.
    AppointmentStatus {
        Scheduled => "SCHEDULED",
        Cancelled => "CANCELLED",
        Completed => "COMPLETED",
        NoShow => "NO_SHOW",
    }
);

contract_enum!(
    /// How a payment was made.
    PaymentMethod {
        Card => "CARD",
        Cash => "CASH",
        Check => "CHECK",
        Insurance => "INSURANCE",
    }
);

contract_enum!(
    /// What a caller may do: ADMIN everything, BACKOFFICE read and write its practice,
    /// SUBSCRIBER read and subscribe to its practice, PATIENT read and subscribe to one
    /// patient's own records (a person's token only, never an API key).
    Role {
        Admin => "ADMIN",
        Backoffice => "BACKOFFICE",
        Subscriber => "SUBSCRIBER",
        Patient => "PATIENT",
    }
);

contract_enum!(
    /// The business events in a practice's log.
    EventType {
        PatientCreated => "PATIENT_CREATED",
        PatientUpdated => "PATIENT_UPDATED",
        AppointmentScheduled => "APPOINTMENT_SCHEDULED",
        AppointmentRescheduled => "APPOINTMENT_RESCHEDULED",
        AppointmentCancelled => "APPOINTMENT_CANCELLED",
        AppointmentCompleted => "APPOINTMENT_COMPLETED",
        AppointmentStartingSoon => "APPOINTMENT_STARTING_SOON",
        ChargePosted => "CHARGE_POSTED",
        PaymentPosted => "PAYMENT_POSTED",
    }
);

contract_enum!(
    /// Which door an operation or delivery came through.
    Transport {
        Http => "HTTP",
        Websocket => "WEBSOCKET",
        Sse => "SSE",
        Multipart => "MULTIPART",
        Webhook => "WEBHOOK",
        Bridge => "BRIDGE",
        LongPolling => "LONG_POLLING",
        Websub => "WEBSUB",
        Grpc => "GRPC",
    }
);

contract_enum!(
    /// What an audit entry records: a read, a change, a subscription (or live query)
    /// starting or stopping, or events delivered to one.
    AuditAction {
        Read => "READ",
        Change => "CHANGE",
        Subscribe => "SUBSCRIBE",
        Unsubscribe => "UNSUBSCRIBE",
        Deliver => "DELIVER",
    }
);
