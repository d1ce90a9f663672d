//! The files an operator registers as trusted documents: a `.graphql` file is one
//! document, as its clients send it; a `.json` file is an Apollo persisted-query manifest
//! (`@apollo/generate-persisted-query-manifest`), whose `id`s must be their `body`'s SHA-256.

use std::path::Path;

use super::store::sha256_hex;

#[derive(serde::Deserialize)]
struct Manifest {
    format: String,
    operations: Vec<ManifestOperation>,
}

#[derive(serde::Deserialize)]
struct ManifestOperation {
    id: String,
    body: String,
}

/// The documents `path` holds.
pub fn documents_in(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if path.extension().is_none_or(|ext| ext != "json") {
        return Ok(vec![text]);
    }
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not an Apollo persisted-query manifest: {e}", path.display()))?;
    if manifest.format != "apollo-persisted-query-manifest" {
        return Err(format!("{}: format {:?} is not apollo-persisted-query-manifest", path.display(), manifest.format));
    }
    manifest
        .operations
        .into_iter()
        .map(|op| match sha256_hex(&op.body) == op.id.to_ascii_lowercase() {
            true => Ok(op.body),
            false => Err(format!("{}: operation {} is not its body's SHA-256", path.display(), op.id)),
        })
        .collect()
}
