//! The caller of an operation: who acts (an API key or a person signed in at the identity
//! provider) and what that grants (everything, one practice in a role, or one patient's
//! own records).

use std::borrow::Cow;
use std::sync::Arc;

use crate::error::{AppError, AppResult};
use crate::vocab::Role;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub actor: Actor,
    pub grant: Grant,
}

/// Who acts: named in the audit trail, counted in usage, limited by the rate limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A stored API key, or the bootstrap `ADMIN_KEY` (no id).
    Key { id: Option<String> },
    /// A person, by the access token their identity provider issued.
    Person(Arc<Person>),
}

/// A person signed in at the issuer, as their access token names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// The token's `sub`: unique and stable at the issuer.
    pub subject: String,
    /// A display name (`name`, else `preferred_username`, else `email`), if the token has one.
    pub name: Option<String>,
    /// The client the token was issued to (`azp`, else `client_id`): usage is counted per client.
    pub client_id: Option<String>,
    /// The issuer's session (`sid`), which back-channel logout names.
    pub session_id: Option<String>,
    /// The token's `exp`, in milliseconds: its connections close then.
    pub expires_at_ms: i64,
}

/// What the caller may touch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Grant {
    /// Everything, every practice.
    Admin,
    /// One practice, in a role (never PATIENT).
    Practice { practice_id: String, role: Role },
    /// One patient's own records and events, in their practice.
    Patient { practice_id: String, patient_id: String },
}

/// The credentials of a request or connection: None when no valid credential was presented.
#[derive(Clone, Debug, Default)]
pub struct Auth(pub Option<Principal>);

impl Auth {
    pub fn principal(&self) -> AppResult<&Principal> {
        self.0.as_ref().ok_or(AppError::Unauthenticated)
    }
}

impl Principal {
    /// The bootstrap `ADMIN_KEY`, and what operator commands act as.
    pub fn bootstrap() -> Self {
        Self { actor: Actor::Key { id: None }, grant: Grant::Admin }
    }

    /// A stored key's principal.
    pub fn key(id: impl Into<String>, grant: Grant) -> Self {
        Self { actor: Actor::Key { id: Some(id.into()) }, grant }
    }

    /// The stored key acting, if the caller is one.
    pub fn key_id(&self) -> Option<&str> {
        match &self.actor {
            Actor::Key { id } => id.as_deref(),
            Actor::Person(_) => None,
        }
    }

    /// The person acting, if the caller is one.
    pub fn person(&self) -> Option<&Person> {
        match &self.actor {
            Actor::Person(person) => Some(person),
            Actor::Key { .. } => None,
        }
    }

    /// The name the bootstrap `ADMIN_KEY` is counted and limited under.
    pub const BOOTSTRAP: &'static str = "bootstrap-admin";
    /// What a person's rate limit and connections are kept under: this, then the subject.
    pub const PERSON_PREFIX: &'static str = "sub:";
    /// What a token's usage is counted under: this, then the client id.
    pub const CLIENT_PREFIX: &'static str = "client:";

    /// What rate limits and connection counts are kept per: the key's id, or the person.
    pub fn limit_key(&self) -> Cow<'_, str> {
        match &self.actor {
            Actor::Key { id } => Cow::Borrowed(id.as_deref().unwrap_or(Self::BOOTSTRAP)),
            Actor::Person(person) => Cow::Owned(format!("{}{}", Self::PERSON_PREFIX, person.subject)),
        }
    }

    /// What usage is counted under: the key's id, or the token's client.
    pub fn usage_key(&self) -> Option<Cow<'_, str>> {
        match &self.actor {
            Actor::Key { id } => id.as_deref().map(Cow::Borrowed),
            Actor::Person(person) => {
                Some(Cow::Owned(format!("{}{}", Self::CLIENT_PREFIX, person.client_id.as_deref().unwrap_or("-"))))
            }
        }
    }

    /// The role the caller acts in.
    pub fn role(&self) -> Role {
        match &self.grant {
            Grant::Admin => Role::Admin,
            Grant::Practice { role, .. } => *role,
            Grant::Patient { .. } => Role::Patient,
        }
    }

    /// The practice the caller is confined to, if any.
    pub fn practice_id(&self) -> Option<&str> {
        match &self.grant {
            Grant::Admin => None,
            Grant::Practice { practice_id, .. } | Grant::Patient { practice_id, .. } => Some(practice_id),
        }
    }

    /// The patient the caller is confined to, if any.
    pub fn patient_id(&self) -> Option<&str> {
        match &self.grant {
            Grant::Patient { patient_id, .. } => Some(patient_id),
            _ => None,
        }
    }

    /// Where idempotency keys are unique: per practice (like Stripe's per account), per
    /// patient for a patient (so one never replays, or learns of, another's keys), or
    /// global for the all-practice admin.
    pub fn idempotency_scope(&self) -> String {
        match &self.grant {
            Grant::Admin => "global".to_string(),
            Grant::Practice { practice_id, .. } => format!("practice:{practice_id}"),
            Grant::Patient { practice_id, patient_id } => format!("practice:{practice_id}:patient:{patient_id}"),
        }
    }

    /// Reading a resource of `practice_id`: another practice's resources do not exist for
    /// this caller (NOT_FOUND, never FORBIDDEN, so existence is not revealed).
    pub fn read(&self, practice_id: &str, what: &'static str) -> AppResult<()> {
        match self.practice_id() {
            Some(own) if own != practice_id => Err(AppError::NotFound(what)),
            _ => Ok(()),
        }
    }

    /// Reading a resource of one patient: for a patient, every other patient's records do
    /// not exist, as another practice's do not.
    pub fn read_patient(&self, practice_id: &str, patient_id: &str, what: &'static str) -> AppResult<()> {
        self.read(practice_id, what)?;
        match self.patient_id() {
            Some(own) if own != patient_id => Err(AppError::NotFound(what)),
            _ => Ok(()),
        }
    }

    /// Reading what is the practice's rather than a patient's (its keys, endpoints, usage,
    /// audit trail): a patient sees none of it.
    pub fn read_practice_records(&self, practice_id: &str, what: &'static str) -> AppResult<()> {
        self.read(practice_id, what)?;
        match self.grant {
            Grant::Patient { .. } => Err(AppError::NotFound(what)),
            _ => Ok(()),
        }
    }

    /// Changing anything: SUBSCRIBER keys are read-only, and a patient changes only what
    /// `require_patient_own` allows.
    pub fn require_writer(&self) -> AppResult<()> {
        match self.grant {
            Grant::Practice { role: Role::Subscriber, .. } => {
                Err(AppError::forbidden("this API key may not run mutations (role SUBSCRIBER)"))
            }
            Grant::Patient { .. } => {
                Err(AppError::forbidden("a patient may run only cancelAppointment, on their own future appointments"))
            }
            _ => Ok(()),
        }
    }

    /// Changing a resource of `practice_id`.
    pub fn write(&self, practice_id: &str, what: &'static str) -> AppResult<()> {
        self.require_writer()?;
        self.read(practice_id, what)
    }

    /// Changing one patient's resource in a way a patient may (cancelling their own
    /// appointment): writers of the practice, and that patient.
    pub fn write_own(&self, practice_id: &str, patient_id: &str, what: &'static str) -> AppResult<()> {
        match self.grant {
            Grant::Patient { .. } => self.read_patient(practice_id, patient_id, what),
            _ => self.write(practice_id, what),
        }
    }

    /// Administering a practice (its API keys), or everything when `practice_id` is None.
    pub fn require_admin(&self, practice_id: Option<&str>) -> AppResult<()> {
        match (&self.grant, practice_id) {
            (Grant::Admin, _) => Ok(()),
            (Grant::Practice { role: Role::Admin, practice_id: own }, Some(p)) if own == p => Ok(()),
            (Grant::Practice { practice_id: own, .. } | Grant::Patient { practice_id: own, .. }, Some(p))
                if own != p =>
            {
                Err(AppError::NotFound("practice"))
            }
            _ => Err(AppError::forbidden("this operation needs an ADMIN key")),
        }
    }
}
