//! What `usage` and `auditLog` refuse: reversed and over-long ranges, keys of the wrong
//! role or practice, malformed ids, cursors and page sizes — each a clear error.

use serde_json::json;

use super::{AUDIT, USAGE};
use crate::helpers::{ADMIN_KEY, TestApp, code};
use crate::on_both_backends;

on_both_backends!(usage_refuses_bad_ranges_and_keys, audit_log_refuses_bad_input_and_other_keys);

async fn usage_refuses_bad_ranges_and_keys(app: TestApp) {
    let f = app.fixture().await;
    let now = chrono::Utc::now();
    let ask =
        |key: String, from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>, k: Option<String>| {
            let (app, practice) = (&app, f.practice.clone());
            async move { app.gql(Some(&key), USAGE, json!({ "p": practice, "f": from, "t": to, "k": k })).await }
        };
    let day = chrono::Duration::days(1);
    let reversed = ask(f.practice_admin.clone(), now, now - day, None).await;
    assert_eq!(code(&reversed), "BAD_USER_INPUT", "{reversed}");
    assert!(reversed["errors"][0]["message"].as_str().unwrap().contains("before"), "{reversed}");
    let empty = ask(f.practice_admin.clone(), now, now, None).await;
    assert_eq!(code(&empty), "BAD_USER_INPUT");
    let too_long = ask(f.practice_admin.clone(), now - day * 367, now, None).await;
    assert_eq!(code(&too_long), "BAD_USER_INPUT");
    assert!(too_long["errors"][0]["message"].as_str().unwrap().contains("366 days"), "{too_long}");
    let a_year = ask(f.practice_admin.clone(), now - day * 366, now, None).await;
    assert!(a_year.get("errors").is_none(), "exactly 366 days is allowed: {a_year}");
    // A person's usage is kept under their token's client, whose id may have dots and slashes.
    for client in ["client:1234-abc.apps.googleusercontent.com", "client:https://app.example/", "client:-"] {
        let body = ask(f.practice_admin.clone(), now - day, now, Some(client.to_string())).await;
        assert_eq!(body["data"]["usage"]["apiKeyId"], client, "{body}");
    }
    for hostile in ["%", "a,b", &"k".repeat(101), "'; DROP TABLE usage_counts; --"] {
        let body = ask(f.practice_admin.clone(), now - day, now, Some(hostile.to_string())).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{hostile}: {body}");
    }
    let malformed = app.gql(Some(ADMIN_KEY), USAGE, json!({ "p": f.practice, "f": "yesterday", "t": now })).await;
    assert_eq!(code(&malformed), "BAD_USER_INPUT");
    for key in [&f.subscriber, &f.backoffice] {
        let body = ask(key.clone(), now - day, now, None).await;
        assert_eq!(code(&body), "FORBIDDEN", "{body}");
    }
    let other = app.fixture().await;
    let body = ask(other.practice_admin.clone(), now - day, now, None).await;
    assert_eq!(code(&body), "NOT_FOUND", "another practice's admin sees nothing: {body}");
    let none = app.gql(None, USAGE, json!({ "p": f.practice, "f": now - day, "t": now })).await;
    assert_eq!(code(&none), "UNAUTHENTICATED");
}

async fn audit_log_refuses_bad_input_and_other_keys(app: TestApp) {
    let f = app.fixture().await;
    let ask = |key: String, vars: serde_json::Value| {
        let app = &app;
        async move { app.gql(Some(&key), AUDIT, vars).await }
    };
    let p = f.practice.clone();
    for key in [&f.subscriber, &f.backoffice] {
        let body = ask(key.clone(), json!({ "p": p })).await;
        assert_eq!(code(&body), "FORBIDDEN", "{body}");
    }
    let other = app.fixture().await;
    let body = ask(other.practice_admin.clone(), json!({ "p": p })).await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let admin = f.practice_admin.clone();
    for vars in [
        json!({ "p": p, "n": -1 }),
        json!({ "p": p, "n": 100_000 }),
        json!({ "p": p, "a": "not a cursor" }),
        json!({ "p": p, "a": "x".repeat(10_000) }),
        json!({ "p": p, "pt": "%" }),
        json!({ "p": p, "pt": "a,b" }),
        json!({ "p": p, "pt": "p".repeat(101) }),
        json!({ "p": p, "s": "" }),
        json!({ "p": p, "s": "s".repeat(256) }),
        json!({ "p": p, "s": "dr-ada\u{1}" }),
        json!({ "p": p, "s": "dr\nada" }),
        json!({ "p": p, "s": "x".repeat(10_000) }),
        json!({ "p": p, "f": "2026-12-02T00:00:00Z", "t": "2026-12-01T00:00:00Z" }),
        json!({ "p": p, "f": "not a time" }),
    ] {
        let body = ask(admin.clone(), vars.clone()).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{vars}: {body}");
    }
    let fine = ask(admin.clone(), json!({ "p": p, "n": 5 })).await;
    assert!(fine.get("errors").is_none(), "{fine}");
    // A subject is compared exactly, never as a pattern: these are well-formed, and no one's.
    for subject in ["s".repeat(255), "%".into(), "auth0|5f7c8ec7c33c6c004bbafe82".into(), "o'brien@example.com".into()]
    {
        let body = ask(admin.clone(), json!({ "p": p, "s": subject })).await;
        assert_eq!(body["data"]["auditLog"]["edges"], json!([]), "{subject}: {body}");
    }
}
