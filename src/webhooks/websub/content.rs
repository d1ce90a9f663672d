//! Content distribution: a POST of the event's `data` with `Link` headers naming the hub
//! and the topic, signed `X-Hub-Signature: sha256=<hex HMAC-SHA256(hub.secret, body)>`
//! when the subscriber gave a secret.

use hmac::{Hmac, Mac};
use reqwest::RequestBuilder;
use sha2::Sha256;

use crate::db::entities::webhook_endpoint;

/// The hub's URL for a topic: the same origin, at `/websub`.
pub fn hub_of(topic: &str) -> String {
    match topic.find("/practices/") {
        Some(at) => format!("{}/websub", &topic[..at]),
        None => "/websub".to_string(),
    }
}

/// `sha256=` and the hex HMAC of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("sha256={hex}"))
}

/// The WebSub headers of a distribution POST to `endpoint` (a WebSub subscription).
pub fn distribution_headers(
    request: RequestBuilder,
    endpoint: &webhook_endpoint::Model,
    body: &[u8],
) -> RequestBuilder {
    let topic = endpoint.topic.as_deref().unwrap_or_default();
    let link = format!("<{}>; rel=\"hub\", <{topic}>; rel=\"self\"", hub_of(topic));
    let request = request.header(reqwest::header::LINK, link);
    match (!endpoint.secret.is_empty()).then(|| signature(&endpoint.secret, body)).flatten() {
        Some(signature) => request.header("X-Hub-Signature", signature),
        None => request,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_is_the_topics_origin_at_websub() {
        assert_eq!(hub_of("http://h:1/practices/p/events?types=A"), "http://h:1/websub");
    }

    #[test]
    fn the_signature_is_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        let signed = signature("Jefe", b"what do ya want for nothing?").unwrap();
        assert_eq!(signed, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
