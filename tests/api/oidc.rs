//! A real OpenID Provider for the tests: `tests/support/oidc` (panva's certified
//! oidc-provider, pinned in its package.json, installed with `npm ci`) run by node on a free
//! port. Its test-control endpoints sign a person in through the real authorization code +
//! PKCE flow, refresh through the token endpoint, rotate and retire the signing key, and
//! log a person out through end_session (which sends the back-channel logout token). Without
//! node or the npm registry it is a skip on a bare machine and a failure under CI.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::node_service::NodeService;

/// The provider's one client: public (no secret), PKCE, authorization code + refresh token.
pub const CLIENT_ID: &str = "clinicstream-test";
pub const DEFAULT_AUDIENCE: &str = "https://api.clinicstream.test";
pub const DEFAULT_CLAIMS_NAMESPACE: &str = "https://clinicstream.dev/claims";
/// The `events` member of a back-channel logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How the issuer is set up (each is an environment variable of provider.mjs).
#[derive(Clone, Debug)]
pub struct IssuerOptions {
    /// The access tokens' `aud` (the one resource the provider knows).
    pub audience: String,
    /// Where the access token carries `{"practice_id", "role", "patient_id"}`.
    pub claims_namespace: String,
    /// Access (and ID) token lifetime, whole seconds.
    pub access_ttl: Duration,
    /// The access tokens' signature: "RS256", "ES256" or "EdDSA" (keys of all three are
    /// published; ID and logout tokens are RS256).
    pub access_token_alg: &'static str,
    /// The JWKS' `Cache-Control: max-age`.
    pub jwks_max_age: Duration,
    /// The client's redirect URIs; the first is the one `token()` uses.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Where the provider POSTs the logout token (`logout_token` form field).
    pub backchannel_logout_uri: Option<String>,
}

impl Default for IssuerOptions {
    fn default() -> Self {
        IssuerOptions {
            audience: DEFAULT_AUDIENCE.into(),
            claims_namespace: DEFAULT_CLAIMS_NAMESPACE.into(),
            access_ttl: Duration::from_secs(300),
            access_token_alg: "RS256",
            jwks_max_age: Duration::from_secs(300),
            redirect_uris: vec!["http://127.0.0.1:9/cb".into()],
            post_logout_redirect_uris: vec!["http://127.0.0.1:9/signed-out".into()],
            backchannel_logout_uri: None,
        }
    }
}

/// A person the provider can sign in; the access token carries these as the claims object.
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    pub sub: String,
    pub name: String,
    pub role: String,
    pub practice_id: Option<String>,
    pub patient_id: Option<String>,
}

impl Account {
    pub fn new(sub: &str, name: &str, role: &str) -> Account {
        Account { sub: sub.into(), name: name.into(), role: role.into(), practice_id: None, patient_id: None }
    }

    pub fn practice(mut self, practice_id: &str) -> Account {
        self.practice_id = Some(practice_id.into());
        self
    }

    pub fn patient(mut self, patient_id: &str) -> Account {
        self.patient_id = Some(patient_id.into());
        self
    }
}

/// What the token endpoint answered.
#[derive(Clone, Debug, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub expires_in: u64,
}

/// The current signing key after a rotation or retirement.
#[derive(Clone, Debug, Deserialize)]
pub struct Keys {
    pub kid: String,
    /// The key that was current before a rotation.
    #[serde(default)]
    pub previous: Option<String>,
    /// The keys a retirement removed from the JWKS.
    #[serde(default)]
    pub retired: Vec<String>,
}

/// The sessions a logout ended and the back-channel logout requests the provider sent.
#[derive(Clone, Debug, Deserialize)]
pub struct Logout {
    pub sessions: usize,
    pub sent: Vec<SentLogout>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SentLogout {
    pub url: String,
    pub logout_token: Option<String>,
    /// The receiver's HTTP status; None when the request failed (see `error`).
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// A running provider, killed on drop.
pub struct Issuer {
    url: String,
    http: reqwest::Client,
    service: NodeService,
}

impl Issuer {
    /// Installs the package (once per run), starts the provider and waits until its
    /// discovery document answers; None when node or the registry is missing (a skip).
    pub async fn start(options: IssuerOptions) -> Option<Issuer> {
        let env = [
            ("PORT", "0".to_string()),
            ("AUDIENCE", options.audience.clone()),
            ("CLAIMS_NAMESPACE", options.claims_namespace.clone()),
            ("ACCESS_TTL", options.access_ttl.as_secs().to_string()),
            ("ACCESS_TOKEN_ALG", options.access_token_alg.to_string()),
            ("JWKS_MAX_AGE", options.jwks_max_age.as_secs().to_string()),
            ("REDIRECT_URIS", options.redirect_uris.join(",")),
            ("POST_LOGOUT_REDIRECT_URIS", options.post_logout_redirect_uris.join(",")),
            ("BACKCHANNEL_LOGOUT_URI", options.backchannel_logout_uri.clone().unwrap_or_default()),
        ];
        // Generous: the provider makes RSA, EC and Ed25519 keys at start, and under a full
        // parallel test run on two cores many providers start at once.
        let within = Duration::from_secs(120);
        // The first stdout line names the issuer (it listens on a port of its choosing).
        let (service, started) =
            NodeService::start("support/oidc", "provider.mjs", &env, "the OpenID Provider", within).await?;
        let url = started["issuer"].as_str().expect("issuer").to_string();
        let issuer = Issuer { url, http: reqwest::Client::new(), service };
        issuer.wait_for_discovery().await;
        Some(issuer)
    }

    async fn wait_for_discovery(&self) {
        let discovery = self.discovery_url();
        let answers = async || self.http.get(&discovery).send().await.is_ok_and(|r| r.status().is_success());
        let up = crate::helpers::eventually(Duration::from_secs(10), answers, |up| *up).await;
        assert!(up.is_ok(), "{discovery} did not answer within 10 s: {}", self.output());
    }

    /// `http://127.0.0.1:<port>`, the `iss` of its tokens (no trailing slash).
    pub fn issuer_url(&self) -> &str {
        &self.url
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.url)
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.url)
    }

    /// What the provider printed so far (stderr and stdout after the first line).
    pub fn output(&self) -> String {
        self.service.output()
    }

    async fn control(&self, what: &str, body: Value) -> Result<Value, String> {
        let response = self
            .http
            .post(format!("{}/test/{what}", self.url))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("/test/{what}: {e}"))?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| format!("/test/{what}: {e}"))?;
        if status.is_success() { Ok(body) } else { Err(body["error"].as_str().unwrap_or("?").to_string()) }
    }

    async fn expect(&self, what: &str, body: Value) -> Value {
        match self.control(what, body).await {
            Ok(body) => body,
            Err(e) => panic!("/test/{what} failed: {e}\nprovider output:\n{}", self.output()),
        }
    }

    /// Creates (or replaces) an account the login page accepts.
    pub async fn account(&self, account: &Account) {
        self.expect("accounts", serde_json::to_value(account).unwrap()).await;
    }

    /// Signs `sub` in: authorization request, login page, consent, code exchange with the
    /// PKCE verifier; a new session each time.
    pub async fn token(&self, sub: &str) -> Tokens {
        serde_json::from_value(self.expect("token", json!({ "sub": sub })).await).expect("tokens")
    }

    /// Exchanges a refresh token at the token endpoint (they rotate: use the new one next);
    /// Err with the provider's answer when it refuses (e.g. after a logout).
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, String> {
        let body = self.control("refresh", json!({ "refresh_token": refresh_token })).await?;
        Ok(serde_json::from_value(body).expect("tokens"))
    }

    /// Adds a new signing key for the access tokens' alg and signs with it from now on;
    /// the previous key stays in the JWKS.
    pub async fn rotate(&self) -> Keys {
        serde_json::from_value(self.expect("rotate", json!({})).await).expect("keys")
    }

    /// Removes the access tokens' earlier keys from the JWKS (tokens they signed no longer verify).
    pub async fn retire(&self) -> Keys {
        serde_json::from_value(self.expect("retire", json!({})).await).expect("keys")
    }

    /// The `kid` access tokens are signed with now.
    pub async fn current_kid(&self) -> String {
        self.expect("keys", json!({})).await["current"].as_str().expect("kid").to_string()
    }

    /// Ends every session of `sub` through end_session: the provider revokes their grants
    /// and POSTs a logout token to the client's back-channel logout URI (if set).
    pub async fn logout(&self, sub: &str) -> Logout {
        serde_json::from_value(self.expect("logout", json!({ "sub": sub })).await).expect("logout")
    }
}

/// A JWT's header and payload, decoded without verification.
pub fn decode_jwt(jwt: &str) -> (Value, Value) {
    let part = |i: usize| -> Value {
        let segment = jwt.split('.').nth(i).unwrap_or_else(|| panic!("not a JWT: {jwt}"));
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("JSON")
    };
    (part(0), part(1))
}
