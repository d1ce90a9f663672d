//! People's access tokens for the patient scenario (`--patient-token-key`): loadgen signs
//! one RS256 token per patient, with the claims object a PATIENT's identity provider would
//! issue, for a server started with `JWT_JWKS_URL` pointing at the key's public half
//! (bench/identity.sh serves it).

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Args;

/// How long a signed token lives: longer than any run.
const LIFETIME_SECS: u64 = 6 * 3600;

pub struct Tokens {
    key: EncodingKey,
    header: Header,
    issuer: String,
    audience: String,
    namespace: String,
}

impl Tokens {
    /// The signer `--patient-token-key` names, or None for the key-authenticated runs.
    pub fn from_args(args: &Args) -> anyhow::Result<Option<Self>> {
        let Some(path) = &args.patient_token_key else { return Ok(None) };
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let key =
            EncodingKey::from_rsa_pem(&pem).with_context(|| format!("{} is not an RSA private key", path.display()))?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(args.token_kid.clone());
        Ok(Some(Self {
            key,
            header,
            issuer: args.token_issuer.clone(),
            audience: args.token_audience.clone(),
            namespace: args.claims_namespace.clone(),
        }))
    }

    /// A PATIENT token of `patient_id` in `practice_id`, its subject `loadgen-<patient>`.
    pub fn patient(&self, practice_id: &str, patient_id: &str) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let mut claims = json!({
            "iss": self.issuer, "aud": self.audience, "sub": format!("loadgen-{patient_id}"),
            "name": "Load Patient", "iat": now, "exp": now + LIFETIME_SECS,
        });
        let grant = json!({ "practice_id": practice_id, "role": "PATIENT", "patient_id": patient_id });
        claims[self.namespace.as_str()] = grant;
        Ok(jsonwebtoken::encode(&self.header, &claims, &self.key)?)
    }
}
