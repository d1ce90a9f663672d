//! A real OpenID Provider for the tests: `tests/support/oidc` (panva's certified
//! oidc-provider, pinned in its package.json, installed with `npm ci`) run by node on a free
//! port. Its test-control endpoints sign a person in through the real authorization code +
//! PKCE flow, refresh through the token endpoint, rotate and retire the signing key, and
//! log a person out through end_session (which sends the back-channel logout token). Without
//! node or the npm registry it is a skip on a bare machine and a failure under CI.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::in_ci;
use crate::tools::{missing, node_package};

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
    output: Arc<Mutex<String>>,
    _child: Child,
}

impl Issuer {
    /// Installs the package (once per run), starts the provider and waits until its
    /// discovery document answers; None when node or the registry is missing (a skip).
    pub async fn start(options: IssuerOptions) -> Option<Issuer> {
        let package = node_package("support/oidc");
        if !tokio::task::spawn_blocking(move || installed(&package)).await.expect("install runs") {
            return None;
        }
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(node_package("support/oidc"))
            .env("PORT", "0")
            .env("AUDIENCE", &options.audience)
            .env("CLAIMS_NAMESPACE", &options.claims_namespace)
            .env("ACCESS_TTL", options.access_ttl.as_secs().to_string())
            .env("ACCESS_TOKEN_ALG", options.access_token_alg)
            .env("JWKS_MAX_AGE", options.jwks_max_age.as_secs().to_string())
            .env("REDIRECT_URIS", options.redirect_uris.join(","))
            .env("POST_LOGOUT_REDIRECT_URIS", options.post_logout_redirect_uris.join(","))
            .env("BACKCHANNEL_LOGOUT_URI", options.backchannel_logout_uri.unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let output = Arc::new(Mutex::new(String::new()));
        drain(child.stderr.take().expect("stderr"), output.clone());
        // The first stdout line names the issuer (it listens on a port of its choosing).
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        // Generous: the provider makes RSA, EC and Ed25519 keys at start, and under a full
        // parallel test run on two cores many providers start at once.
        let first = tokio::time::timeout(Duration::from_secs(120), stdout.next_line()).await;
        let Ok(Ok(Some(line))) = first else {
            panic!("the OpenID Provider did not start: {}", output.lock().unwrap());
        };
        drain(stdout.into_inner(), output.clone());
        let started: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("provider said {line}"));
        let url = started["issuer"].as_str().expect("issuer").to_string();
        let issuer = Issuer { url, http: reqwest::Client::new(), output, _child: child };
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
        self.output.lock().unwrap().clone()
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

fn drain(stream: impl AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut output = into.lock().unwrap();
            output.push_str(&line);
            output.push('\n');
        }
    });
}

/// The package's pinned modules, installed with `npm ci` unless node_modules already has
/// those versions; once per test run (parallel tests wait for the first one).
fn installed(package: &Path) -> bool {
    static INSTALLED: Mutex<Option<bool>> = Mutex::new(None);
    let mut state = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(ok) = *state {
        return ok;
    }
    let ok = install(package);
    *state = Some(ok);
    ok
}

fn install(package: &Path) -> bool {
    if std::process::Command::new("node").arg("--version").output().is_err() {
        missing("node", "apt-get install -y nodejs npm");
        return false;
    }
    if pinned_modules_present(package) {
        return true;
    }
    let npm = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(package)
        .output();
    match npm {
        Ok(out) if out.status.success() && pinned_modules_present(package) => true,
        other => {
            let why = match other {
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            let why = format!("`npm ci` in {} failed (npm or its registry missing?): {why}", package.display());
            if in_ci() {
                panic!("the OpenID Provider is required under CI=true: {why}");
            }
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED: the test OpenID Provider cannot be installed: {why}");
            false
        }
    }
}

/// Every dependency of package.json is in node_modules at its pinned version.
fn pinned_modules_present(package: &Path) -> bool {
    let read = |path: &Path| -> Option<Value> { serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok() };
    let Some(manifest) = read(&package.join("package.json")) else { return false };
    let Some(dependencies) = manifest["dependencies"].as_object() else { return false };
    dependencies.iter().all(|(name, version)| {
        read(&package.join("node_modules").join(name).join("package.json"))
            .is_some_and(|installed| installed["version"] == *version)
    })
}
