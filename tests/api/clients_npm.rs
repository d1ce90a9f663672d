//! The GraphQL client libraries people use, from npm (`tests/clients/`, lockfile
//! committed, installed with `npm ci`): Apollo Client (HttpLink with persisted queries and
//! multipart subscriptions, BatchHttpLink, GraphQLWsLink), urql (fetch, persisted
//! queries, subscriptions over fetch), graphql-ws (also for live queries, with n1ru4l's
//! jsondiffpatch client) and EventSource, each against a fresh app.

use crate::helpers::{Backend, spawn_app};
use crate::tools::{node_package, node_ready, run_node};

const MODULES: &[&str] = &[
    "@apollo/client",
    "@urql/core",
    "@urql/exchange-persisted",
    "@n1ru4l/graphql-live-query-patch-jsondiffpatch",
    "eventsource",
    "graphql-ws",
    "ws",
];

async fn run(script: &str) {
    if node_ready(&node_package("clients"), MODULES).is_none() {
        return;
    }
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    run_node(&node_package("clients"), script, &app, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apollo_client_uses_persisted_queries_batches_and_subscribes_over_http_and_websockets() {
    run("apollo.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urql_queries_with_persisted_queries_and_subscribes_over_fetch() {
    run("urql.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_ws_subscribes_resumes_with_after_and_is_refused_a_wrong_key() {
    run("graphql_ws.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventsource_with_an_authorization_header_streams_a_subscription_by_get() {
    run("eventsource.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_ws_follows_a_live_query_whole_and_as_jsondiffpatch_deltas() {
    run("live.mjs").await;
}
