//! Through a real gateway: a supergraph of clinicstream (`FEDERATION=true`) and a second,
//! tiny subgraph of the test's own (`tests/support/federation/notes.mjs`, which extends
//! Patient with `chartNote`), composed with @graphql-mesh/compose-cli and served by Hive
//! Gateway (both pinned in its package.json). `client.mjs` drives the gateway as an app
//! would: a query joining both subgraphs, entity references both ways, a subscription over
//! the websocket (graphql-ws) and one over SSE (graphql-sse) whose events carry the notes
//! subgraph's field, and authorization forwarded by the gateway (another practice's key sees
//! nothing of this practice). Without node or the npm registry: a skip, under CI a failure.

use std::time::Duration;

use crate::federation::federated;
use crate::helpers::Backend;
use crate::node_service::NodeService;
use crate::tools::{node_package, run_node};

/// A directory for the composed supergraph, removed when the test is done.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_hive_gateway_queries_join_both_subgraphs_and_subscriptions_carry_the_other_subgraphs_field() {
    let Some(app) = federated(Backend::Postgres).await else { return };
    let mine = app.fixture().await;
    let theirs = app.fixture().await;
    app.ok(
        &theirs.backoffice,
        "mutation($id: ID!) { updatePatient(input: {id: $id, firstName: \"Other\"}) { id } }",
        serde_json::json!({ "id": theirs.patient }),
    )
    .await;

    let scratch =
        Scratch(std::env::temp_dir().join(format!("clinicstream-supergraph-{}", uuid::Uuid::now_v7().simple())));
    std::fs::create_dir_all(&scratch.0).unwrap();
    let env = [("CLINICSTREAM_URL", app.url("/graphql")), ("SUPERGRAPH_DIR", scratch.0.display().to_string())];
    let started = NodeService::start(
        "support/federation",
        "supergraph.mjs",
        &env,
        "the supergraph (Hive Gateway)",
        Duration::from_secs(120),
    )
    .await;
    let Some((supergraph, urls)) = started else { return };
    let gateway = urls["gateway"].as_str().expect("the gateway's URL").to_string();
    let ready = gateway.replace("/graphql", "/readiness");
    let mut answered = false;
    for _ in 0..600 {
        if reqwest::get(&ready).await.is_ok_and(|r| r.status().is_success()) {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "{ready} did not answer within 60 s: {}", supergraph.output());

    let env = [
        ("GATEWAY_URL", gateway),
        ("KEY", mine.backoffice.clone()),
        ("PRACTICE", mine.practice.clone()),
        ("PATIENT", mine.patient.clone()),
        ("OTHER_KEY", theirs.backoffice.clone()),
        ("OTHER_PATIENT", theirs.patient.clone()),
    ];
    run_node(&node_package("support/federation"), "client.mjs", &app, &env).await;
}
