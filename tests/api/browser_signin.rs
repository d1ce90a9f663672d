//! A person signs in to the dashboard in headless Chromium at a real OpenID Provider (the
//! tests' oidc-provider, `tests/api/oidc.rs`): the authorization code flow with PKCE through
//! the provider's login page, the day and a payment live, a token refresh handed to the open
//! socket without a reconnect, and the provider's back-channel logout closing it; then the
//! operator console signs the person in the same way. The steps are `tests/browser/signin.mjs`; this side starts the provider and the app on a port
//! chosen first, since each must name the other.

use std::time::Duration;

use serde_json::Value;

use crate::browser::{CHROMIUM, ONE_AT_A_TIME, free_port, ready};
use crate::helpers::{Backend, spawn_app_with};
use crate::oidc::{CLIENT_ID, Issuer, IssuerOptions};
use crate::tools::{node_package, run_node};

/// Short enough that the page refreshes its token during the test.
const ACCESS_TTL: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_to_the_dashboard_sees_it_live_keeps_one_socket_across_a_refresh_and_is_signed_out_by_the_provider()
 {
    let _one = ONE_AT_A_TIME.lock().await;
    if ready(true).is_none() {
        return;
    }
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let options = IssuerOptions {
        redirect_uris: vec![format!("{base}/"), format!("{base}/console")],
        backchannel_logout_uri: Some(format!("{base}/oidc/backchannel-logout")),
        access_ttl: ACCESS_TTL,
        ..IssuerOptions::default()
    };
    let Some(issuer) = Issuer::start(options.clone()).await else { return };
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        c.listen_addr = format!("127.0.0.1:{port}");
        c.identity.oidc_issuer = Some(issuer.issuer_url().to_string());
        c.identity.jwt_audience = Some(options.audience.clone());
        c.identity.oidc_client_id = Some(CLIENT_ID.into());
        // No forgiven skew: a socket still open past the first token's expiry took the new one.
        c.identity.jwt_leeway = Duration::ZERO;
    })
    .await
    else {
        return;
    };

    // The pages learn the issuer from the server, and may reach it (and only it besides).
    let config: Value = app.http().get(app.url("/auth/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(config["issuer"], issuer.issuer_url());
    assert_eq!(config["clientId"], CLIENT_ID);
    assert_eq!(config["audience"], options.audience);
    assert_eq!(config["scope"], "openid profile");
    for page in ["/", "/console"] {
        let response = app.http().get(app.url(page)).send().await.unwrap();
        let csp = response.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains(&format!("connect-src 'self' ws: wss: {};", issuer.issuer_url())), "{page}: {csp}");
    }

    let env = [
        ("CHROMIUM", CHROMIUM.to_string()),
        ("ISSUER_URL", issuer.issuer_url().to_string()),
        ("SUB", "front-desk-ann".to_string()),
        ("ACCESS_TTL", ACCESS_TTL.as_secs().to_string()),
    ];
    run_node(&node_package("browser"), "signin.mjs", &app, &env).await;
}
