//! The loadgen's own practices (`--practices`, one by default): built over
//! GraphQL-over-HTTP with the ADMIN key, so a run never depends on what is already in the
//! database.

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;

/// Practices set up at once: enough that 100 are ready in a few seconds, few enough not
/// to queue up on the server's write lock.
const BUILD_CONCURRENCY: usize = 16;

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

/// One practice of the fixture and what a run needs of it.
pub struct Practice {
    pub practice_id: String,
    /// Its patients: one, or (patient scenario, live queries) as many as asked for.
    pub patients: Vec<String>,
    /// A SUBSCRIBER key of the practice, used by every socket on it.
    pub subscriber_key: String,
    /// A BACKOFFICE key of the practice, used for its payments.
    pub writer_key: String,
}

/// The index into the fixture's practices of steady connection (or payment) `index`.
pub fn practice_of(index: usize, practices: usize) -> usize {
    index % practices
}

/// The index into its practice's patients of steady connection (or payment) `index`, in
/// the patient scenario: connections on one practice take its patients in turn.
pub fn patient_of(index: usize, practices: usize) -> usize {
    index / practices
}

impl Practice {
    /// Creates patients until the practice has `count`, `BUILD_CONCURRENCY` at a time.
    pub async fn add_patients(&mut self, http: &Http, count: usize) -> anyhow::Result<()> {
        let (key, practice_id) = (&self.writer_key, &self.practice_id);
        let created: Vec<String> = futures_util::stream::iter(self.patients.len()..count)
            .map(|n| async move {
                let patient = http
                    .call(
                        key,
                        "mutation($i: CreatePatientInput!) { createPatient(input: $i) { id } }",
                        json!({ "i": { "practiceId": practice_id, "firstName": "Load", "lastName": format!("Patient {n}") } }),
                    )
                    .await?;
                string(&patient["createPatient"]["id"])
            })
            .buffered(BUILD_CONCURRENCY)
            .try_collect()
            .await?;
        self.patients.extend(created);
        Ok(())
    }
}

/// Builds `count` practices, `BUILD_CONCURRENCY` at a time, returned in order.
pub async fn build_all(http: &Http, admin_key: &str, count: usize) -> anyhow::Result<Vec<Practice>> {
    futures_util::stream::iter(0..count)
        .map(|n| async move {
            // A lone practice keeps the name it always had.
            let name = if count == 1 { "loadgen".to_string() } else { format!("loadgen {n}") };
            build(http, admin_key, &name).await.with_context(|| format!("practice {n}"))
        })
        .buffered(BUILD_CONCURRENCY)
        .try_collect()
        .await
}

async fn build(http: &Http, admin_key: &str, name: &str) -> anyhow::Result<Practice> {
    let practice = http
        .call(
            admin_key,
            "mutation($i: CreatePracticeInput!) { createPractice(input: $i) { id } }",
            json!({ "i": { "name": name, "timezone": "UTC", "currency": "USD" } }),
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
    Ok(Practice { practice_id, patients: vec![patient_id], subscriber_key, writer_key })
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
