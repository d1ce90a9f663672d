//! The browser assets, embedded in the binary: the dashboard at `/`, the operator console
//! at `/console`, GraphiQL's page, and their scripts and styles under `/assets/`. They are
//! built from `web/` by esbuild into `web/dist/`, which is committed, so `cargo run` needs
//! no Node and no network; a test fails when `web/` changed without a rebuild. Nothing is loaded from a CDN, and the
//! pages' Content-Security-Policy forbids it (the one exception: the dashboard and the
//! console may reach the configured identity provider, to sign a person in).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::signin;
use crate::state::AppState;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset { name: $name, content_type: $type, body: include_bytes!(concat!("../../web/dist/", $name)) }
    };
}

const SCRIPTS: &[Asset] = &[
    asset!("dashboard.js", "text/javascript; charset=utf-8"),
    asset!("dashboard.css", "text/css; charset=utf-8"),
    asset!("graphiql.js", "text/javascript; charset=utf-8"),
    asset!("graphiql.css", "text/css; charset=utf-8"),
    asset!("console.js", "text/javascript; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
];
const DASHBOARD: Asset = asset!("index.html", "text/html; charset=utf-8");
const GRAPHIQL: Asset = asset!("graphiql.html", "text/html; charset=utf-8");
const CONSOLE: Asset = asset!("console.html", "text/html; charset=utf-8");

/// The hash of the sources `web/dist` was built from: the assets' version, as their ETag.
const SOURCE_HASH: &str = include_str!("../../web/dist/SOURCE_HASH");

/// Same-origin only: scripts, styles and sockets come from this server. GraphiQL sets
/// inline styles and its icons and fonts are data URLs. `{connect}` is where else a page
/// may fetch from: the identity provider, for the pages that sign people in.
fn csp(connect: Option<&str>) -> HeaderValue {
    let connect = connect.map(|origin| format!(" {origin}")).unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self' ws: wss:{connect}; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'self'"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
}

fn etag() -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", SOURCE_HASH.trim().get(..16).unwrap_or("dev")))
        .unwrap_or(HeaderValue::from_static("\"dev\""))
}

/// Serves an asset; browsers revalidate (no-cache) and get 304 while the build is the same.
/// A page may also connect to `connect` (an origin).
fn serve(asset: &Asset, headers: &HeaderMap, connect: Option<&str>) -> Response {
    let etag = etag();
    let mut response = if headers.get(header::IF_NONE_MATCH) == Some(&etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let out = response.headers_mut();
    out.insert(header::ETAG, etag);
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if asset.content_type.starts_with("text/html") {
        out.insert(header::CONTENT_SECURITY_POLICY, csp(connect));
        out.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    response
}

/// `GET /`: the front-desk dashboard (which may sign people in at the identity provider).
pub async fn dashboard(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(&DASHBOARD, &headers, signin::connect_origin(&state).as_deref())
}

/// `GET /console`: the operator console (which may sign people in at the identity provider).
pub async fn console(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(&CONSOLE, &headers, signin::connect_origin(&state).as_deref())
}

/// GraphiQL's page (`GET /graphql` from a browser).
pub fn graphiql(headers: &HeaderMap) -> Response {
    serve(&GRAPHIQL, headers, None)
}

/// `GET /assets/{name}`.
pub async fn script(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match SCRIPTS.iter().find(|a| a.name == name) {
        Some(asset) => serve(asset, &headers, None),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
