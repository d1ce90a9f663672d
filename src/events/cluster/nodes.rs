//! The `REDIS_CLUSTER_NODES` setting: the seed nodes the cluster bus starts from, checked
//! when the command line is read so a typo stops the start with the node it is about.

/// The seed nodes of `REDIS_CLUSTER_NODES`, each `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNodes(pub Vec<String>);

/// At most this many seed nodes (a cluster is found from any one of them).
pub const MAX_CLUSTER_NODES: usize = 64;

/// Parses `host:port,host:port,…`: hosts of letters, digits, `.`, `-`, `_` or an IPv6
/// literal in brackets, ports 1–65535, at most `MAX_CLUSTER_NODES` of them.
pub fn parse_cluster_nodes(text: &str) -> Result<ClusterNodes, String> {
    if text.len() > 4096 {
        return Err("REDIS_CLUSTER_NODES is longer than 4096 bytes".into());
    }
    let mut nodes = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("{text:?}: an empty node; expected host:port,host:port,…"));
        }
        let bad = || format!("{part:?} is not host:port (like 10.0.0.1:7000 or redis-a:6379)");
        let (host, port) = part.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let plain = !host.is_empty()
            && host.len() <= 253
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        let ipv6 = host.starts_with('[')
            && host.ends_with(']')
            && host[1..host.len() - 1].parse::<std::net::Ipv6Addr>().is_ok();
        if port == 0 || !(plain || ipv6) {
            return Err(bad());
        }
        nodes.push(format!("{host}:{port}"));
    }
    if nodes.len() > MAX_CLUSTER_NODES {
        return Err(format!("{} nodes in REDIS_CLUSTER_NODES; at most {MAX_CLUSTER_NODES}", nodes.len()));
    }
    nodes.dedup();
    Ok(ClusterNodes(nodes))
}

#[cfg(test)]
mod tests {
    use super::{ClusterNodes, MAX_CLUSTER_NODES, parse_cluster_nodes};

    #[test]
    fn cluster_nodes_are_host_port_lists() {
        assert_eq!(
            parse_cluster_nodes("10.0.0.1:7000, redis-b:7001,[::1]:7002"),
            Ok(ClusterNodes(vec!["10.0.0.1:7000".into(), "redis-b:7001".into(), "[::1]:7002".into()]))
        );
        let hostile = format!("a:1,{}", "x".repeat(5000));
        let many = (0..=MAX_CLUSTER_NODES).map(|i| format!("h{i}:7000")).collect::<Vec<_>>().join(",");
        for bad in [
            "",
            ",",
            "a:1,,b:2",
            "redis-a",
            "redis-a:",
            ":7000",
            "a:0",
            "a:70000",
            "a:-1",
            "redis://a:7000",
            "a b:7000",
            "a:7000/0",
            "[zz]:7000",
            "a;rm -rf:7000",
            hostile.as_str(),
            many.as_str(),
        ] {
            assert!(parse_cluster_nodes(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
