//! The SSRF guard: a webhook may only reach public addresses over http(s), checked after
//! DNS resolution on every attempt, unless the allowlist says otherwise. The attempt then
//! connects to the very address that was checked, so a DNS answer that changes between
//! the check and the connection (rebinding) cannot redirect it.

use ipnet::IpNet;
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

/// How long resolving a webhook's host may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Destinations allowed although not public (`WEBHOOK_ALLOW_PRIVATE`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Allowlist {
    any: bool,
    nets: Vec<IpNet>,
    hosts: Vec<String>,
}

impl FromStr for Allowlist {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut list = Self::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item.eq_ignore_ascii_case("true") || item == "*" {
                list.any = true;
            } else if let Ok(net) = item.parse::<IpNet>() {
                list.nets.push(net);
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                list.nets.push(IpNet::from(ip));
            } else if item.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
                list.hosts.push(item.to_ascii_lowercase());
            } else {
                return Err(format!("{item:?} is neither a CIDR, an address nor a host name"));
            }
        }
        Ok(list)
    }
}

impl Allowlist {
    /// Everything allowed: for tests and on-premise setups.
    pub fn any() -> Self {
        Self { any: true, ..Self::default() }
    }

    fn permits(&self, host: &str, ip: IpAddr) -> bool {
        self.any || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) || self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// Why a URL may not be called.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("url: {0}")]
    Invalid(String),
    #[error("url: {host} resolves to {ip}, which is not a public address")]
    Private { host: String, ip: IpAddr },
    #[error("url: could not resolve {0}")]
    Unresolved(String),
}

/// Checks the form of a webhook URL: http or https, a host, no credentials.
pub fn parse(url: &str) -> Result<Url, Refused> {
    let parsed = Url::parse(url).map_err(|e| Refused::Invalid(format!("not a valid URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Refused::Invalid("must start with http:// or https://".into()));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(Refused::Invalid("must name a host".into()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Refused::Invalid("must not contain credentials".into()));
    }
    Ok(parsed)
}

/// Resolves the URL's host and checks every address; returns the host and the address to
/// connect to.
pub async fn resolve(url: &Url, allow: &Allowlist) -> Result<(String, SocketAddr), Refused> {
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        // RFC 6761 §6.3: these names are loopback whatever a resolver answers (most miss
        // `localhost.` and `foo.localhost`, some send them to 127.0.0.1 anyway).
        Err(_) if is_loopback_name(&host) => vec![SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)],
        Err(_) => match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host.as_str(), port))).await {
            Ok(Ok(addrs)) => addrs.collect(),
            _ => return Err(Refused::Unresolved(host.clone())),
        },
    };
    // Any non-public answer refuses the whole name: otherwise a round-robin record with
    // one private address would reach it some of the time.
    if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip()) && !allow.permits(&host, a.ip())) {
        return Err(Refused::Private { host, ip: bad.ip() });
    }
    let first = addrs.first().copied().ok_or_else(|| Refused::Unresolved(host.clone()))?;
    Ok((host, first))
}

/// Whether a host name means loopback: `localhost` or a name under it, in any case, with
/// or without the root's trailing dot.
fn is_loopback_name(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether an address is reachable on the public internet (not loopback, private,
/// link-local, CGNAT, multicast, unspecified, reserved, or IPv6 ULA).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    const BLOCKED: &[&str] = &[
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
    ];
    !BLOCKED.iter().filter_map(|n| n.parse::<IpNet>().ok()).any(|n| n.contains(&IpAddr::V4(ip)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    const BLOCKED: &[&str] = &["::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "100::/64"];
    if BLOCKED.iter().filter_map(|n| n.parse::<IpNet>().ok()).any(|n| n.contains(&IpAddr::V6(ip))) {
        return false;
    }
    // NAT64 (64:ff9b::/96) embeds an IPv4 address: judge that one.
    let segments = ip.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b, c, d] = ip.octets()[12..] else { return false };
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_must_be_http_with_a_host_and_no_credentials() {
        assert!(parse("https://hooks.example.com/x").is_ok());
        for bad in ["ftp://x.example", "file:///etc/passwd", "http://user:pw@x.example/", "not a url", "http://"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_allowlist_opens_what_it_names() {
        let url = parse("http://127.0.0.1:9/").unwrap();
        assert!(matches!(resolve(&url, &Allowlist::default()).await, Err(Refused::Private { .. })));
        assert!(resolve(&url, &"127.0.0.0/8".parse().unwrap()).await.is_ok());
        assert!(resolve(&url, &Allowlist::any()).await.is_ok());
        assert!(resolve(&url, &"10.0.0.0/8".parse().unwrap()).await.is_err());
        assert!("not/a host".parse::<Allowlist>().is_err());
    }

    #[tokio::test]
    async fn names_under_localhost_are_loopback_whatever_the_resolver_says() {
        for url in ["http://localhost./", "http://LOCALHOST:9/", "http://foo.localhost/", "http://foo.bar.localhost./"]
        {
            let url = parse(url).unwrap();
            let refused = resolve(&url, &Allowlist::default()).await;
            assert!(matches!(refused, Err(Refused::Private { ip, .. }) if ip.is_loopback()), "{url}: {refused:?}");
            // Allowing private destinations allows them as it allows 127.0.0.1.
            for allow in [Allowlist::any(), "127.0.0.0/8".parse().unwrap()] {
                let (_, addr) = resolve(&url, &allow).await.unwrap();
                assert!(addr.ip().is_loopback(), "{url}");
            }
        }
        for public in ["http://localhost.example.com/", "http://notlocalhost/", "http://localhost.evil/"] {
            assert!(!is_loopback_name(parse(public).unwrap().host_str().unwrap()), "{public}");
        }
    }
}
