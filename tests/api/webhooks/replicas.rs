//! Two replicas sharing Postgres and Redis, a receiver that goes down for a while: every
//! event reaches every endpoint once, in seq order per endpoint, and no endpoint ever has
//! two attempts in flight at once (the replicas never race on one endpoint).

use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use super::receiver::Receiver;
use super::support::{create_endpoint, deliveries, fast};
use crate::helpers::{eventually, spawn_replicas};
use crate::redis_server::shared;

const EVENTS: i64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_every_event_in_order_through_a_receiver_outage() {
    let Some(redis) = shared() else { return };
    let adjust = |config: &mut clinicstream::Config| {
        fast(config);
        // Enough retries to outlast the outage: 40 × 100 ms.
        config.webhooks.retry_schedule = vec!["100ms"; 40].join(",").parse().unwrap();
    };
    let Some(replicas) = spawn_replicas(2, &redis, adjust).await else { return };
    let mut receiver = Receiver::start().await;
    // Each answer takes a moment, so two attempts in flight at once would be seen.
    receiver.set_delay(Duration::from_millis(5));
    let f = replicas[0].fixture().await;
    let mut endpoints = Vec::new();
    for path in ["/a", "/b"] {
        endpoints
            .push(create_endpoint(&replicas[1], &f.backoffice, &f.practice, &receiver.url(path), json!(null)).await.0);
    }
    let replicas = Arc::new(replicas);
    let writer = {
        let (replicas, key, patient) = (replicas.clone(), f.backoffice.clone(), f.patient.clone());
        tokio::spawn(async move {
            for i in 0..EVENTS as usize {
                let body = replicas[i % 2].post_payment(&key, &patient, 1).await;
                assert!(body.get("errors").is_none(), "{body}");
                // timing: writes spread over the outage, so some land before, during and after it.
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    // The receiver goes once deliveries are flowing, and comes back once both endpoints
    // have had attempts refused (the outage is on record).
    receiver.wait_for(Duration::from_secs(10), |r| r.len() >= 2).await;
    receiver.stop();
    let refused = async || {
        let mut refused = Vec::new();
        for endpoint in &endpoints {
            let list = deliveries(&replicas[0], &f.backoffice, endpoint).await;
            let attempts = list.iter().flat_map(|d| d["attempts"].as_array().cloned().unwrap_or_default());
            refused.push(attempts.filter(|a| a["statusCode"].is_null()).count());
        }
        refused
    };
    let noticed = eventually(Duration::from_secs(10), refused, |r| r.iter().all(|n| *n >= 2)).await;
    assert!(noticed.is_ok(), "the outage is noticed on both endpoints: {noticed:?}");
    let during_outage = receiver.requests().len();
    receiver.restart().await;
    writer.await.unwrap();
    let expected: Vec<i64> = (2..=EVENTS + 1).collect();
    let delivered = |path: &str, r: &[super::receiver::Received]| -> Vec<i64> {
        r.iter().filter(|x| x.path == path && x.status == 200).map(|x| x.seq()).collect()
    };
    let requests = receiver
        .wait_for(Duration::from_secs(30), |r| {
            delivered("/a", r).len() >= expected.len() && delivered("/b", r).len() >= expected.len()
        })
        .await;
    // timing: a negative check; nothing more may arrive once everything was delivered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let requests_after = receiver.requests();
    assert_eq!(requests_after.len(), requests.len(), "nothing more after every event was delivered");
    for path in ["/a", "/b"] {
        assert_eq!(delivered(path, &requests), expected, "{path}: each event once, in seq order");
        let arrivals: Vec<i64> = requests.iter().filter(|x| x.path == path).map(|x| x.seq()).collect();
        assert!(arrivals.windows(2).all(|w| w[0] <= w[1]), "{path}: never a later event before an earlier one");
    }
    assert_eq!(receiver.overlaps(), 0, "no two attempts at one endpoint at the same moment");
    // Every attempt is on record: those that reached the receiver and those refused while
    // it was down.
    let mut counts = HashMap::new();
    for endpoint in &endpoints {
        let list = deliveries(&replicas[0], &f.backoffice, endpoint).await;
        assert_eq!(list.len(), EVENTS as usize);
        assert!(list.iter().all(|d| d["status"] == "SUCCEEDED"));
        let attempts: Vec<_> = list.iter().flat_map(|d| d["attempts"].as_array().unwrap().clone()).collect();
        let refused = attempts.iter().filter(|a| a["statusCode"].is_null()).count();
        *counts.entry("attempts").or_insert(0) += attempts.len();
        *counts.entry("refused while down").or_insert(0) += refused;
    }
    assert_eq!(
        counts["attempts"] - counts["refused while down"],
        requests.len(),
        "each request received is an attempt on record"
    );
    assert!(counts["refused while down"] > 0, "the outage was noticed");
    let _ = writeln!(
        std::io::stderr(),
        "webhook outage test: {} events × 2 endpoints, {} attempts ({} refused while the receiver was down), \
         {} requests received ({} before the outage), {} delivered, 0 overlapping",
        EVENTS,
        counts["attempts"],
        counts["refused while down"],
        requests.len(),
        during_outage,
        2 * EVENTS,
    );
}
