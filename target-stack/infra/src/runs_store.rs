//! Run directories in S3, for a fleet of generators: each uploads its run directory under
//! one prefix (`s3://BUCKET/PREFIX/RUN-ID/FILE`), and `analyze --runs-dir s3://…` downloads
//! them into a local directory and analyses them like any others. Files already downloaded
//! with the same size are not fetched again.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{url:?} is not an S3 location; write s3://BUCKET/PREFIX")]
    NotS3 { url: String },
    #[error("{url}: {source}")]
    Store {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `s3://BUCKET/PREFIX`, with the standard AWS environment (credentials, region, and
/// `AWS_ENDPOINT_URL` for an S3-compatible server such as moto).
#[derive(Debug, Clone)]
pub struct RunsLocation {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: String,
}

impl RunsLocation {
    pub fn parse(url: &str) -> Result<RunsLocation, StoreError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| StoreError::NotS3 { url: url.into() })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::NotS3 { url: url.into() });
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
            builder = builder
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint);
        }
        if let Some(region) = std::env::var("AWS_REGION")
            .ok()
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        {
            builder = builder.with_region(region);
        }
        let store = builder.build().map_err(|source| StoreError::Store {
            url: url.into(),
            source,
        })?;
        Ok(RunsLocation {
            store: Arc::new(store),
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').into(),
        })
    }

    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
            .trim_end_matches('/')
            .to_string()
    }

    fn key(&self, rest: &str) -> Key {
        if self.prefix.is_empty() {
            Key::from(rest)
        } else {
            Key::from(format!("{}/{rest}", self.prefix))
        }
    }

    fn store_error(&self, source: object_store::Error) -> StoreError {
        StoreError::Store {
            url: self.url(),
            source,
        }
    }

    /// Copies the files of one run directory to `PREFIX/RUN-ID/`; returns how many.
    pub async fn upload_run(&self, dir: &Path) -> Result<usize, StoreError> {
        let io = |source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let run_id = dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| io(std::io::Error::other("a run directory has a name")))?;
        let mut uploaded = 0;
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !path.is_file() {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
            self.store
                .put(
                    &self.key(&format!("{run_id}/{name}")),
                    PutPayload::from(bytes),
                )
                .await
                .map_err(|e| self.store_error(e))?;
            uploaded += 1;
        }
        Ok(uploaded)
    }

    /// Downloads every run directory under the prefix into `into/RUN-ID/`; returns the run
    /// directories, in name order.
    pub async fn download_runs(&self, into: &Path) -> Result<Vec<PathBuf>, StoreError> {
        let prefix = (!self.prefix.is_empty()).then(|| Key::from(self.prefix.as_str()));
        let objects: Vec<_> = self
            .store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(|e| self.store_error(e))?;
        let mut runs = std::collections::BTreeSet::new();
        for object in objects {
            let key = object.location.as_ref();
            let relative = key
                .strip_prefix(self.prefix.as_str())
                .unwrap_or(key)
                .trim_start_matches('/');
            let Some((run_id, file)) = relative.split_once('/') else {
                continue;
            };
            // Only run-id/file: nothing nested, nothing that climbs out of `into`.
            if file.contains('/') || run_id == ".." || file == ".." || run_id.is_empty() {
                continue;
            }
            let local = into.join(run_id).join(file);
            let io = |source| StoreError::Io {
                path: local.clone(),
                source,
            };
            let fresh = std::fs::metadata(&local).is_ok_and(|m| m.len() == object.size);
            if !fresh {
                let bytes = self
                    .store
                    .get(&object.location)
                    .await
                    .map_err(|e| self.store_error(e))?
                    .bytes()
                    .await
                    .map_err(|e| self.store_error(e))?;
                std::fs::create_dir_all(into.join(run_id)).map_err(io)?;
                std::fs::write(&local, &bytes).map_err(io)?;
            }
            runs.insert(into.join(run_id));
        }
        Ok(runs.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_s3_urls_are_locations() {
        for bad in ["runs", "/tmp/runs", "s3://", "https://bucket/x"] {
            assert!(
                matches!(RunsLocation::parse(bad), Err(StoreError::NotS3 { .. })),
                "{bad}"
            );
        }
        let ok = RunsLocation::parse("s3://aforo-artifacts/runs/").unwrap();
        assert_eq!(ok.url(), "s3://aforo-artifacts/runs");
        assert_eq!(ok.key("r1/manifest.json").as_ref(), "runs/r1/manifest.json");
    }
}
