//! The loadgen's own practice: built over GraphQL-over-HTTP with the ADMIN key, so a run
//! never depends on what is already in the database.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::net::SocketAddr;

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    pub url: String,
}

impl Http {
    pub fn new(target: SocketAddr) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().pool_max_idle_per_host(1024).no_proxy().build()?;
        Ok(Self { client, url: format!("http://{target}/graphql") })
    }

    /// Runs one operation and returns its `data`, or fails with its errors.
    pub async fn call(&self, key: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
        let body = json!({ "query": query, "variables": variables });
        let response = self.client.post(&self.url).bearer_auth(key).json(&body).send().await?;
        let status = response.status();
        let mut reply: Value = response.json().await.with_context(|| format!("HTTP {status}"))?;
        if let Some(errors) = reply.get("errors").filter(|e| !e.is_null()) {
            bail!("HTTP {status}: {errors}");
        }
        Ok(reply["data"].take())
    }
}

pub struct Fixture {
    pub practice_id: String,
    pub patient_id: String,
    /// A SUBSCRIBER key of the practice, used by every socket.
    pub subscriber_key: String,
    /// A BACKOFFICE key of the practice, used for the payments.
    pub writer_key: String,
}

pub async fn build(http: &Http, admin_key: &str) -> anyhow::Result<Fixture> {
    let practice = http
        .call(
            admin_key,
            "mutation($i: CreatePracticeInput!) { createPractice(input: $i) { id } }",
            json!({ "i": { "name": "loadgen", "timezone": "UTC", "currency": "USD" } }),
        )
        .await?;
    let practice_id = string(&practice["createPractice"]["id"])?;
    http.call(
        admin_key,
        "mutation($i: CreateProviderInput!) { createProvider(input: $i) { id } }",
        json!({ "i": { "practiceId": practice_id, "name": "Dr Load", "kind": "DENTIST" } }),
    )
    .await?;
    let patient = http
        .call(
            admin_key,
            "mutation($i: CreatePatientInput!) { createPatient(input: $i) { id } }",
            json!({ "i": { "practiceId": practice_id, "firstName": "Load", "lastName": "Gen" } }),
        )
        .await?;
    let patient_id = string(&patient["createPatient"]["id"])?;
    let subscriber_key = key(http, admin_key, &practice_id, "SUBSCRIBER").await?;
    let writer_key = key(http, admin_key, &practice_id, "BACKOFFICE").await?;
    Ok(Fixture { practice_id, patient_id, subscriber_key, writer_key })
}

async fn key(http: &Http, admin_key: &str, practice_id: &str, role: &str) -> anyhow::Result<String> {
    let created = http
        .call(
            admin_key,
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }",
            json!({ "i": { "role": role, "practiceId": practice_id, "name": format!("loadgen {role}") } }),
        )
        .await?;
    string(&created["createApiKey"]["key"])
}

fn string(value: &Value) -> anyhow::Result<String> {
    value.as_str().map(str::to_string).with_context(|| format!("expected a string, got {value}"))
}
