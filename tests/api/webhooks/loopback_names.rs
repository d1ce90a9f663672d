//! Names that mean loopback (RFC 6761: `localhost` and every name under it, with or
//! without the root dot, in any case) are refused like loopback addresses, whatever the
//! resolver says of them, at creation and at update; nothing is written.

use serde_json::json;

use super::support::{CREATE, create_endpoint, fast};
use crate::helpers::{TestApp, code};
use crate::webhook_tests;

webhook_tests!(public_only => loopback_names_are_refused_at_creation_and_update_and_nothing_is_written);

fn public_only(config: &mut clinicstream::Config) {
    fast(config);
    config.webhooks.allow_private = Default::default();
}

const LIST: &str = "query($p: ID!) { webhookEndpoints(practiceId: $p) { id url } }";
const UPDATE_URL: &str =
    "mutation($id: ID!, $u: String) { updateWebhookEndpoint(input: {id: $id, url: $u}) { id url } }";

const LOOPBACK_NAMES: &[&str] = &[
    "http://localhost./hook",
    "http://LOCALHOST/hook",
    "http://LocalHost.:8080/hook",
    "http://foo.localhost/hook",
    "http://foo.localhost./hook",
    "https://a.b.LOCALHOST./hook",
    "http://localhost%2E/hook",
];

async fn loopback_names_are_refused_at_creation_and_update_and_nothing_is_written(app: TestApp) {
    let f = app.fixture().await;
    let public = "http://93.184.215.14/hooks";
    let (id, _) = create_endpoint(&app, &f.backoffice, &f.practice, public, json!(null)).await;
    for url in LOOPBACK_NAMES {
        let created = app.gql(Some(&f.backoffice), CREATE, json!({ "p": f.practice, "u": url })).await;
        assert_eq!(code(&created), "BAD_USER_INPUT", "create {url}: {created}");
        let message = created["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("not a public address"), "create {url}: {created}");
        let updated = app.gql(Some(&f.backoffice), UPDATE_URL, json!({ "id": id, "u": url })).await;
        assert_eq!(code(&updated), "BAD_USER_INPUT", "update {url}: {updated}");
        assert!(updated["data"].is_null() || updated["data"]["updateWebhookEndpoint"].is_null(), "{updated}");
    }
    let list = app.ok(&f.backoffice, LIST, json!({ "p": f.practice })).await;
    assert_eq!(list["webhookEndpoints"], json!([{ "id": id, "url": public }]), "nothing created, nothing changed");
}
