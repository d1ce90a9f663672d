//! The summary for people: the JSON line's figures as a few lines of text, only the
//! sections a run produced (memory phases, targets, servers, churn, RSS series).

use serde_json::Value;

pub fn print(v: &Value) {
    let (m, d, s) = (&v["mutations"], &v["deliveries"], &v["server"]);
    println!(
        "loadgen {}: {} subscriptions on {} connections, {} practices",
        v["label"], v["subscriptions"], v["connections"], v["practices"]
    );
    println!(
        "  mutations: {} ok, {} failed, {} not sent, {}/s; {}",
        m["ok"],
        m["failed"],
        m["not_sent"],
        m["per_sec"],
        pct(&m["latency_ms"])
    );
    println!(
        "  deliveries: {} of {} ({}/s over {} s); lost {} ({} subscriptions), duplicates {}, out of order {}, socket errors {}",
        d["delivered"],
        d["expected"],
        d["per_sec"],
        v["window_secs"],
        d["lost"],
        d["subs_with_loss"],
        d["duplicates"],
        d["out_of_order"],
        d["socket_errors"]
    );
    let x = &v["executions"];
    println!("  shared executions: {} ({} per event)", x["shared"], x["per_event"]);
    println!("  end to end (payment sent → event read): {}", pct(&d["end_to_end_ms"]));
    println!("  commit → delivery (occurredAt → read):  {}", pct(&d["commit_to_delivery_ms"]));
    if let Some(targets) = d["by_target"].as_object().filter(|t| t.len() > 1) {
        for (target, t) in targets {
            println!(
                "  on {target}: {} of {} delivered, lost {}; end to end {}",
                t["delivered"],
                t["expected"],
                t["lost"],
                pct(&t["end_to_end_ms"])
            );
        }
    }
    memory(&v["memory"]);
    if !s.is_null() {
        server("server", s);
        for (n, each) in s["by_server"].as_object().into_iter().flatten() {
            server(&format!("server {n}"), each);
        }
    }
    let c = &v["churn"];
    if !c.is_null() {
        println!(
            "  churn: {} clients, {} connects ({} failed); log {} events to seq {}; lost {} ({} clients), gaps {}, duplicates {}, out of order {}, behind at end {}, errors {}",
            c["clients"],
            c["connects"],
            c["failed_connects"],
            c["log_events"],
            c["last_event_seq"],
            c["lost"],
            c["clients_with_loss"],
            c["gaps"],
            c["duplicates"],
            c["out_of_order"],
            c["behind_at_end"],
            c["errors"]
        );
    }
    if v["rss_series"].as_array().is_some_and(|s| !s.is_empty()) {
        println!(
            "  RSS first minute max {} KiB, last minute max {} KiB, growth {} KiB ({} samples)",
            v["rss_first_minute_max_kib"],
            v["rss_last_minute_max_kib"],
            v["rss_growth_kib"],
            v["rss_series"].as_array().map_or(0, Vec::len)
        );
    }
    println!("  loadgen CPU s: {}", v["loadgen_cpu_secs"]);
}

fn memory(mem: &Value) {
    let confirmed = &mem["subscriptions_confirmed"];
    println!(
        "  subscriptions open per target (server gauge): {} of {} in {} s",
        confirmed["seen"], confirmed["expected"], confirmed["secs"]
    );
    if mem["rss_before_kib"].is_null() {
        return;
    }
    println!(
        "  memory (settled): RSS {} → {} → {} KiB, open fds {} → {} → {}; {} B/connection, {} B/extra subscription",
        mem["rss_before_kib"],
        mem["rss_subscribed_kib"],
        mem["rss_extra_kib"],
        mem["fds_before"],
        mem["fds_subscribed"],
        mem["fds_extra"],
        mem["rss_per_connection_bytes"],
        mem["rss_per_extra_subscription_bytes"]
    );
    if !mem["rss_left_kib"].is_null() {
        println!(
            "  memory after every client left: RSS {} KiB ({}% over before), open fds {}",
            mem["rss_left_kib"], mem["rss_left_over_before_pct"], mem["fds_left"]
        );
    }
}

fn server(name: &str, s: &Value) {
    println!(
        "  {name}: RSS {} → {} → {} KiB (peak {}), {} B/subscription, {} CPU s ({}%)",
        s["rss_before_kib"],
        s["rss_subscribed_kib"],
        s["rss_end_kib"],
        s["hwm_kib"],
        s["bytes_per_subscription"],
        s["cpu_secs"],
        s["cpu_percent"]
    );
}

fn pct(h: &Value) -> String {
    format!("p50 {} p90 {} p99 {} max {} ms", h["p50"], h["p90"], h["p99"], h["max"])
}
