//! The identity settings: which issuer's tokens are accepted, for which audience, where
//! their claims are, and how much clock skew is forgiven.

use clap::Args;
use std::time::Duration;

/// The claims object's default name (a URL, so it never collides with a registered claim).
pub const DEFAULT_NAMESPACE: &str = "https://clinicstream.dev/claims";
/// The most clock skew `JWT_LEEWAY` may forgive.
const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// The identity settings, as the command line and environment give them.
#[derive(Debug, Clone, Args)]
pub struct IdentityArgs {
    /// The OpenID Provider whose people may sign in (an `https://` URL, or `http://` on
    /// loopback); its keys are found by discovery at
    /// `<issuer>/.well-known/openid-configuration`, and tokens must name it as `iss`.
    #[arg(long, env = "OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The issuer's JWKS, instead of discovery (tokens must then carry some `iss`).
    #[arg(long, env = "JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<String>,
    /// The audience access tokens must be issued for (`aud`); required with either of the two above.
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// The claim that holds `{"practice_id", "role", "patient_id"}`.
    #[arg(long, env = "JWT_CLAIMS_NAMESPACE", default_value = DEFAULT_NAMESPACE)]
    pub jwt_claims_namespace: String,
    /// How much clock skew `exp` and `nbf` forgive, like `30s` (at most 5m; `0s` for none).
    #[arg(long, env = "JWT_LEEWAY", default_value = "30s", value_parser = parse_leeway)]
    pub jwt_leeway: Duration,
    /// The public client the dashboard and console sign people in as (authorization code
    /// with PKCE); without it they offer only a pasted key.
    #[arg(long, env = "OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// The scopes the pages ask the provider for, space-separated; must include `openid`.
    /// The token is for the API because the pages name `JWT_AUDIENCE` as the resource
    /// (RFC 8707), so scopes only add what the provider puts in the ID token.
    #[arg(long, env = "OIDC_SCOPE", default_value = DEFAULT_SCOPE)]
    pub oidc_scope: String,
}

/// The person's id and name.
pub const DEFAULT_SCOPE: &str = "openid profile";
/// The longest `OIDC_SCOPE` taken.
const MAX_SCOPE: usize = 512;

/// Space-separated scope tokens (RFC 6749 §3.3), `openid` among them.
fn scope(text: &str) -> Result<String, String> {
    let tokens: Vec<&str> = text.split(' ').filter(|t| !t.is_empty()).collect();
    let printable = |t: &&str| t.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    if text.len() > MAX_SCOPE || !tokens.iter().all(printable) {
        return Err(format!("OIDC_SCOPE {text:?} is not a list of scopes separated by spaces"));
    }
    if !tokens.contains(&"openid") {
        return Err(format!("OIDC_SCOPE {text:?} must include openid"));
    }
    Ok(tokens.join(" "))
}

fn parse_leeway(text: &str) -> Result<Duration, String> {
    let leeway = crate::duration::parse(text).map_err(|_| format!("{text:?} is not a leeway like 30s or 1m"))?;
    if leeway > MAX_LEEWAY {
        return Err(format!("{text:?} is longer than 5m"));
    }
    Ok(leeway)
}

/// Where the issuer's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `OIDC_ISSUER`: discovery gives the JWKS URL (and `JWT_JWKS_URL`, when also set, wins).
    Issuer { issuer: String, jwks_url: Option<String> },
    /// `JWT_JWKS_URL` alone.
    Jwks(String),
}

/// Checked settings: tokens are accepted only when these exist.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    pub keys: KeySource,
    pub audience: String,
    pub namespace: String,
    pub leeway: Duration,
    pub client_id: Option<String>,
    /// The scopes the pages ask for (`OIDC_SCOPE`), checked.
    pub scope: String,
}

impl IdentityArgs {
    /// The settings, if tokens are to be accepted at all, or why they make no sense.
    pub fn settings(&self) -> Result<Option<IdentitySettings>, String> {
        let keys = match (&self.oidc_issuer, &self.jwt_jwks_url) {
            (None, None) => return Ok(None),
            (Some(issuer), jwks_url) => {
                url("OIDC_ISSUER", issuer)?;
                if let Some(jwks) = jwks_url {
                    url("JWT_JWKS_URL", jwks)?;
                }
                KeySource::Issuer { issuer: issuer.trim_end_matches('/').to_string(), jwks_url: jwks_url.clone() }
            }
            (None, Some(jwks)) => {
                url("JWT_JWKS_URL", jwks)?;
                KeySource::Jwks(jwks.clone())
            }
        };
        let audience = match self.jwt_audience.as_deref().map(str::trim) {
            Some(audience) if !audience.is_empty() => audience.to_string(),
            _ => return Err("JWT_AUDIENCE is required with OIDC_ISSUER or JWT_JWKS_URL".into()),
        };
        if self.jwt_claims_namespace.trim().is_empty() {
            return Err("JWT_CLAIMS_NAMESPACE must not be empty".into());
        }
        Ok(Some(IdentitySettings {
            keys,
            audience,
            namespace: self.jwt_claims_namespace.clone(),
            leeway: self.jwt_leeway,
            client_id: self.oidc_client_id.clone().filter(|c| !c.trim().is_empty()),
            scope: scope(&self.oidc_scope)?,
        }))
    }
}

/// An issuer's URLs are https, or http on a loopback address (a provider beside the server).
fn url(name: &str, text: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(text).map_err(|e| format!("{name} {text:?} is not a URL: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("{name} {text:?} must be an https URL (http only on loopback)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(issuer: Option<&str>, jwks: Option<&str>, audience: Option<&str>) -> IdentityArgs {
        IdentityArgs {
            oidc_issuer: issuer.map(Into::into),
            jwt_jwks_url: jwks.map(Into::into),
            jwt_audience: audience.map(Into::into),
            jwt_claims_namespace: DEFAULT_NAMESPACE.into(),
            jwt_leeway: Duration::from_secs(30),
            oidc_client_id: None,
            oidc_scope: DEFAULT_SCOPE.into(),
        }
    }

    #[test]
    fn tokens_are_off_until_an_issuer_or_jwks_is_named() {
        assert!(args(None, None, Some("api")).settings().unwrap().is_none());
    }

    #[test]
    fn an_audience_is_required_and_urls_are_https_or_loopback() {
        assert!(args(Some("https://id.example"), None, None).settings().unwrap_err().contains("JWT_AUDIENCE"));
        assert!(args(Some("http://id.example"), None, Some("api")).settings().unwrap_err().contains("https"));
        assert!(args(None, Some("jwks"), Some("api")).settings().unwrap_err().contains("not a URL"));
        let ok = args(Some("http://127.0.0.1:9/"), None, Some("api")).settings().unwrap().unwrap();
        assert_eq!(ok.keys, KeySource::Issuer { issuer: "http://127.0.0.1:9".into(), jwks_url: None });
    }

    #[test]
    fn the_scope_is_space_separated_tokens_with_openid() {
        assert_eq!(scope(DEFAULT_SCOPE), Ok("openid profile".into()));
        assert_eq!(scope("  openid   email profile "), Ok("openid email profile".into()));
        assert!(scope("profile email").unwrap_err().contains("must include openid"));
        assert!(scope("openid \"quoted\"").is_err());
        assert!(scope("openid back\\slash").is_err());
        assert!(scope("openid\tprofile").is_err());
        assert!(scope("openid caf\u{e9}").is_err());
        assert!(scope(&format!("openid {}", "x".repeat(600))).is_err());
        let mut bad = args(Some("https://id.example"), None, Some("api"));
        bad.oidc_scope = "email".into();
        assert!(bad.settings().unwrap_err().contains("OIDC_SCOPE"));
    }

    #[test]
    fn the_leeway_takes_the_duration_grammar_up_to_five_minutes() {
        assert_eq!(parse_leeway("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_leeway("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_leeway("6m").is_err());
        assert!(parse_leeway("soon").is_err());
    }
}
