//! The browser assets: the committed build in `web/dist` is the build of the committed
//! sources (its recorded source hash matches them), and the server serves exactly it.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use crate::helpers::{Backend, spawn_app};

fn web() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files_under(&path, out) } else { out.push(path) }
    }
}

/// The same walk as `sourceHash()` in web/build.mjs: every file of src/, build.mjs and the
/// package manifests, sorted by relative path, each as `path \0 contents \0`.
fn source_hash() -> String {
    let root = web();
    let mut files = Vec::new();
    files_under(&root.join("src"), &mut files);
    files.extend(["build.mjs", "package.json", "package-lock.json"].map(|f| root.join(f)));
    let mut names: Vec<String> =
        files.iter().map(|f| f.strip_prefix(&root).unwrap().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut hash = Sha256::new();
    for name in names {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(std::fs::read(root.join(&name)).unwrap());
        hash.update([0]);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_committed_web_build_is_the_build_of_the_committed_sources() {
    let recorded = std::fs::read_to_string(web().join("dist/SOURCE_HASH")).expect("web/dist is committed");
    assert_eq!(
        recorded.trim(),
        source_hash(),
        "web/ changed since web/dist was built: run `cd web && npm ci && npm run build` and commit web/dist"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_the_embedded_build() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    for (path, file, content_type) in [
        ("/", "index.html", "text/html"),
        ("/assets/dashboard.js", "dashboard.js", "text/javascript"),
        ("/assets/graphiql.js", "graphiql.js", "text/javascript"),
        ("/assets/graphiql.css", "graphiql.css", "text/css"),
        ("/console", "console.html", "text/html"),
        ("/assets/console.js", "console.js", "text/javascript"),
        ("/assets/console.css", "console.css", "text/css"),
    ] {
        let response = app.http().get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with(content_type));
        let etag = response.headers()["etag"].clone();
        let body = response.bytes().await.unwrap();
        assert_eq!(body.as_ref(), std::fs::read(web().join("dist").join(file)).unwrap(), "{path} is web/dist/{file}");
        let again = app.http().get(app.url(path)).header("if-none-match", etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{path} revalidates");
    }
    let page = app.http().get(app.url("/graphql")).header("accept", "text/html").send().await.unwrap();
    assert!(page.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'self'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("/assets/graphiql.js") && !html.contains("https://"), "GraphiQL comes from this server");
    assert_eq!(app.http().get(app.url("/assets/nope.js")).send().await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_identity_provider_the_pages_offer_only_a_key_and_reach_only_this_server() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let config = app.http().get(app.url("/auth/config")).send().await.unwrap();
    assert_eq!(config.status(), 200);
    assert_eq!(config.headers()["cache-control"], "no-store");
    assert_eq!(config.json::<serde_json::Value>().await.unwrap(), serde_json::json!({}));
    for page in ["/", "/console"] {
        let response = app.http().get(app.url(page)).send().await.unwrap();
        let csp = response.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("connect-src 'self' ws: wss:;"), "{page}: {csp}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_identity_provider_the_pages_learn_its_issuer_client_audience_and_the_configured_scopes() {
    let issuer = crate::identity::issuer::TestIssuer::start().await;
    let Some(app) = crate::helpers::spawn_app_with(Backend::Sqlite, |c| {
        issuer.configure(c);
        c.identity.oidc_client_id = Some("front-desk".into());
        c.identity.oidc_scope = " openid  profile email ".into();
    })
    .await
    else {
        return;
    };
    let config: serde_json::Value = app.http().get(app.url("/auth/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        config,
        serde_json::json!({
            "issuer": issuer.url,
            "clientId": "front-desk",
            "audience": crate::identity::issuer::AUDIENCE,
            "scope": "openid profile email",
        })
    );
}
