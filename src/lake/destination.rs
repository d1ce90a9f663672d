//! Where the lake's files go: a directory (a plain path or `file:///path`) or S3
//! (`s3://bucket/prefix`), through `object_store`. Files are laid out Hive-style,
//! `practice_id=<id>/date=<UTC day>/part-<first seq>-<last seq>.parquet`; a file is
//! visible whole or not at all: S3 shows an object only once its PUT completed, and on a
//! directory it is written under `_staging/` (which readers skip, like every `_` name)
//! and renamed into place. The same seq range always gets the same name, so writing a
//! range again replaces the file, never adds one.

use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::collections::HashMap;
use std::sync::Arc;

/// The longest destination accepted.
const MAX_URL_LEN: usize = 2048;

#[derive(Clone)]
pub struct Destination {
    store: Arc<dyn ObjectStore>,
    /// Under the bucket (S3) or the directory: where the partitions start.
    prefix: Path,
    /// A directory (files are staged, then renamed) rather than an object store.
    local: bool,
    /// As the operator wrote it, for messages and the `bridges` status.
    pub shown: String,
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// One file's seq range, read back from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub first: i64,
    pub last: i64,
}

impl Part {
    pub fn file_name(&self) -> String {
        format!("part-{}-{}.parquet", self.first, self.last)
    }

    fn parse(name: &str) -> Option<Self> {
        let (first, last) = name.strip_prefix("part-")?.strip_suffix(".parquet")?.split_once('-')?;
        let part = Part { first: first.parse().ok()?, last: last.parse().ok()? };
        (part.first >= 1 && part.first <= part.last).then_some(part)
    }
}

impl Destination {
    /// Checks the URL and builds its store; never connects (S3 is reached at the first
    /// write). A directory is created if missing.
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.is_empty() {
            return Err("the destination is empty; give a directory, file:///path or s3://bucket/prefix".into());
        }
        if url.len() > MAX_URL_LEN {
            return Err(format!("the destination is longer than {MAX_URL_LEN} bytes"));
        }
        if url.chars().any(char::is_control) {
            return Err("the destination holds a control character".into());
        }
        let shown = url.to_string();
        match url.split_once("://") {
            Some(("s3", _)) => {
                let parsed = url::Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
                let bucket = parsed.host_str().unwrap_or_default();
                if bucket.is_empty() {
                    return Err(format!("{url} names no bucket (s3://bucket/prefix)"));
                }
                let prefix = Path::parse(parsed.path().trim_matches('/'))
                    .map_err(|e| format!("{url}: not a usable key prefix: {e}"))?;
                let store = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|e| format!("{url}: {e}"))?;
                Ok(Self { store: Arc::new(store), prefix, local: false, shown })
            }
            Some(("file", _)) => {
                let parsed = url::Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
                let dir = parsed.to_file_path().map_err(|()| format!("{url} is not a file:///absolute/path URL"))?;
                Self::directory(&dir, shown)
            }
            Some((scheme, _)) => {
                Err(format!("{url}: the scheme must be s3:// or file:// (or a plain directory), not {scheme}://"))
            }
            None => Self::directory(std::path::Path::new(url), shown),
        }
    }

    fn directory(dir: &std::path::Path, shown: String) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the directory {}: {e}", dir.display()))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| format!("cannot use the directory {}: {e}", dir.display()))?;
        Ok(Self { store: Arc::new(store), prefix: Path::default(), local: true, shown })
    }

    fn practice_dir(&self, practice_id: &str) -> Path {
        self.prefix.clone().join(format!("practice_id={practice_id}"))
    }

    /// Where a file of `practice_id` for the UTC day `date` (YYYY-MM-DD) goes.
    pub fn file(&self, practice_id: &str, date: &str, part: Part) -> Path {
        self.practice_dir(practice_id).join(format!("date={date}")).join(part.file_name())
    }

    /// Writes one whole file: visible complete or not at all, replacing one of that name.
    pub async fn put(&self, location: &Path, bytes: Vec<u8>) -> Result<(), String> {
        let failed = |e: object_store::Error| format!("could not write {location} to {}: {e}", self.shown);
        if !self.local {
            return self.store.put(location, PutPayload::from(bytes)).await.map(|_| ()).map_err(failed);
        }
        let staged = self.prefix.clone().join("_staging").join(format!("{}.tmp", uuid::Uuid::now_v7()));
        self.store.put(&staged, PutPayload::from(bytes)).await.map_err(failed)?;
        if let Err(err) = self.store.rename(&staged, location).await {
            let _ = self.store.delete(&staged).await;
            return Err(failed(err));
        }
        Ok(())
    }

    /// Every file of the practice, by its seq range (however the files are dated).
    pub async fn parts(&self, practice_id: &str) -> Result<Vec<Part>, String> {
        let dir = self.practice_dir(practice_id);
        let listed: Vec<_> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|e| format!("could not list {dir} in {}: {e}", self.shown))?;
        Ok(listed.iter().filter_map(|meta| meta.location.filename().and_then(Part::parse)).collect())
    }

    /// How far the files already in the lake reach from `after` without a gap: a run
    /// that wrote files and died before recording its cursor goes on after them, so no
    /// row is written twice under another name.
    pub async fn covered(&self, practice_id: &str, after: i64) -> Result<i64, String> {
        let mut reach: HashMap<i64, i64> = HashMap::new();
        for part in self.parts(practice_id).await? {
            let last = reach.entry(part.first).or_insert(part.last);
            *last = (*last).max(part.last);
        }
        let mut at = after;
        while let Some(last) = reach.get(&(at + 1)) {
            at = *last;
        }
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_round_trip_and_junk_is_not_a_part() {
        let part = Part { first: 7, last: 42 };
        assert_eq!(Part::parse(&part.file_name()), Some(part));
        for junk in ["part-1-2.parquet#3", "part-5-4.parquet", "part-0-1.parquet", "x.parquet", "part-a-b.parquet"] {
            assert_eq!(Part::parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn malformed_destinations_are_refused_with_their_reason() {
        for (bad, why) in [
            ("", "empty"),
            ("s3://", "no bucket"),
            ("http://example.com/x", "scheme"),
            ("ftp://host/x", "scheme"),
            ("file://relative", "file:///"),
            ("/tmp/a\0b", "control"),
        ] {
            let err = Destination::parse(bad).err().unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert!(Destination::parse(&"a".repeat(MAX_URL_LEN + 1)).unwrap_err().contains("longer"));
    }
}
