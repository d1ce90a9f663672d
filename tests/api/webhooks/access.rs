//! Who may manage endpoints, what input is refused, and the SSRF guard (at creation, and
//! at every attempt).

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::time::Duration;

use super::receiver::Receiver;
use super::support::{CREATE, DELIVERIES, create_endpoint, fast, pay, wait_deliveries};
use crate::helpers::{ADMIN_KEY, TestApp, code};
use crate::webhook_tests;

webhook_tests!(fast => only_the_practices_admin_and_backoffice_manage_endpoints, bad_input_is_refused_with_bad_user_input);
webhook_tests!(public_only => private_destinations_are_refused_at_creation_and_at_every_attempt);

fn public_only(config: &mut clinicstream::Config) {
    fast(config);
    config.webhooks.allow_private = Default::default();
}

const LIST: &str = "query($p: ID!) { webhookEndpoints(practiceId: $p) { id } }";
const UPDATE: &str = "mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, description: \"x\"}) { id } }";
const ROTATE: &str = "mutation($id: ID!) { rotateWebhookSecret(input: {id: $id}) { secret } }";
const DELETE: &str = "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { id } }";

async fn only_the_practices_admin_and_backoffice_manage_endpoints(app: TestApp) {
    let f = app.fixture().await;
    let other = app.fixture().await;
    let url = "http://127.0.0.1:9/hooks";
    let create = |key: &str, practice: &str| {
        let (key, practice) = (key.to_string(), practice.to_string());
        let app = &app;
        async move { app.gql(Some(&key), CREATE, json!({ "p": practice, "u": url })).await }
    };
    assert_eq!(code(&create(&f.subscriber, &f.practice).await), "FORBIDDEN");
    assert_eq!(code(&app.gql(Some(&f.subscriber), LIST, json!({ "p": f.practice })).await), "FORBIDDEN");
    assert_eq!(code(&app.gql(None, LIST, json!({ "p": f.practice })).await), "UNAUTHENTICATED");
    assert_eq!(code(&create(&other.backoffice, &f.practice).await), "NOT_FOUND");
    let (id, secret) = create_endpoint(&app, &f.backoffice, &f.practice, url, json!(null)).await;
    assert!(secret.starts_with("whsec_"));
    create_endpoint(&app, &f.practice_admin, &f.practice, url, json!(["PAYMENT_POSTED"])).await;
    for key in [&f.backoffice, &f.practice_admin, &ADMIN_KEY.to_string()] {
        let listed = app.ok(key, LIST, json!({ "p": f.practice })).await;
        assert_eq!(listed["webhookEndpoints"].as_array().unwrap().len(), 2);
    }
    // Another practice's keys do not see the endpoint at all.
    for (query, vars) in [
        (LIST, json!({ "p": f.practice })),
        (UPDATE, json!({ "id": id })),
        (ROTATE, json!({ "id": id })),
        (DELETE, json!({ "id": id })),
        (DELIVERIES, json!({ "e": id })),
    ] {
        assert_eq!(code(&app.gql(Some(&other.backoffice), query, vars.clone()).await), "NOT_FOUND", "{query}");
        assert_eq!(code(&app.gql(Some(&f.subscriber), query, vars).await), "FORBIDDEN", "{query}");
    }
    // The secret is shown once: a replayed idempotent create returns the endpoint without it.
    let vars = json!({ "p": f.practice, "u": url, "k": "create-once" });
    let once = app.ok(&f.backoffice, CREATE, vars.clone()).await["createWebhookEndpoint"].clone();
    let again = app.ok(&f.backoffice, CREATE, vars).await["createWebhookEndpoint"].clone();
    assert_eq!(once["endpoint"]["id"], again["endpoint"]["id"]);
    assert!(once["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(again["secret"], "");
    // Deleting removes it.
    app.ok(&f.backoffice, DELETE, json!({ "id": id })).await;
    assert_eq!(code(&app.gql(Some(&f.backoffice), DELIVERIES, json!({ "e": id })).await), "NOT_FOUND");
    assert_eq!(
        app.ok(&f.backoffice, LIST, json!({ "p": f.practice })).await["webhookEndpoints"].as_array().unwrap().len(),
        2
    );
}

async fn bad_input_is_refused_with_bad_user_input(app: TestApp) {
    let f = app.fixture().await;
    let long_url = format!("https://hooks.example.com/{}", "a".repeat(2100));
    let cases: Vec<Value> = vec![
        json!({ "p": f.practice, "u": "ftp://hooks.example.com/x" }),
        json!({ "p": f.practice, "u": "not a url" }),
        json!({ "p": f.practice, "u": "https://user:password@hooks.example.com/" }),
        json!({ "p": f.practice, "u": long_url }),
        json!({ "p": f.practice, "u": "https://hooks.example.com/", "d": "x".repeat(501) }),
        json!({ "p": f.practice, "u": "https://hooks.example.com/", "t": ["NOT_AN_EVENT"] }),
        json!({ "p": "x".repeat(100), "u": "https://hooks.example.com/" }),
    ];
    for vars in cases {
        let body = app.gql(Some(&f.backoffice), CREATE, vars.clone()).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{vars}: {body}");
    }
    let (id, _) = create_endpoint(&app, &f.backoffice, &f.practice, "http://127.0.0.1:9/", json!(null)).await;
    let rotate = "mutation($id: ID!, $g: Int) { rotateWebhookSecret(input: {id: $id, graceSeconds: $g}) { secret } }";
    for grace in [-1, 8 * 24 * 3600] {
        assert_eq!(
            code(&app.gql(Some(&f.backoffice), rotate, json!({ "id": id, "g": grace })).await),
            "BAD_USER_INPUT"
        );
    }
    let update = "mutation($id: ID!, $u: String) { updateWebhookEndpoint(input: {id: $id, url: $u}) { id } }";
    assert_eq!(
        code(&app.gql(Some(&f.backoffice), update, json!({ "id": id, "u": "gopher://x" })).await),
        "BAD_USER_INPUT"
    );
    let page = app
        .gql(Some(&f.backoffice), DELIVERIES.replace("first: 200", "first: 5000").as_str(), json!({ "e": id }))
        .await;
    assert_eq!(code(&page), "BAD_USER_INPUT");
    let status = app.gql(Some(&f.backoffice), DELIVERIES, json!({ "e": id, "s": "LOST" })).await;
    assert_eq!(code(&status), "BAD_USER_INPUT");
}

async fn private_destinations_are_refused_at_creation_and_at_every_attempt(app: TestApp) {
    let f = app.fixture().await;
    for url in [
        "http://127.0.0.1:9/hooks",
        "http://localhost:9/hooks",
        "http://10.0.0.5/hooks",
        "http://192.168.1.10/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.1.1/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
    ] {
        let body = app.gql(Some(&f.backoffice), CREATE, json!({ "p": f.practice, "u": url })).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{url}: {body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("not a public address"), "{body}");
    }
    // An endpoint whose address became private after it was created (a changed DNS record,
    // simulated by rewriting the stored URL): every attempt is refused, nothing is sent.
    let receiver = Receiver::start().await;
    let (endpoint, _) =
        create_endpoint(&app, &f.backoffice, &f.practice, "http://93.184.215.14/hooks", json!(null)).await;
    let sql = format!("UPDATE webhook_endpoints SET url = '{}' WHERE id = '{endpoint}'", receiver.url("/hooks"));
    app.state().services.domain.db.execute_unprepared(&sql).await.unwrap();
    pay(&app, &f.backoffice, &f.patient, 1).await;
    let list = wait_deliveries(&app, &f.backoffice, &endpoint, Duration::from_secs(15), |l| {
        l.first().is_some_and(|d| d["attemptCount"].as_i64().unwrap() >= 2)
    })
    .await;
    for attempt in list[0]["attempts"].as_array().unwrap() {
        assert!(attempt["statusCode"].is_null(), "{attempt}");
        assert!(attempt["error"].as_str().unwrap().contains("not a public address"), "{attempt}");
    }
    assert!(receiver.requests().is_empty(), "no request reached the private address");
}
