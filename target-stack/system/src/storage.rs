//! Object storage for original and processed videos: a local directory (embedded) or an S3
//! bucket, both through `object_store`, so every caller sees one API.
//!
//! Uploads go through [`Upload`], a streaming multipart writer: memory stays bounded by one
//! part whatever the size, and an aborted upload leaves nothing behind (the local store
//! writes to a staging file, S3 aborts the multipart upload).

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{AwsSettings, StorageLocation};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object storage error: {0}")]
    Store(#[from] object_store::Error),
    #[error("local file error: {0}")]
    Io(#[from] std::io::Error),
}

impl StorageError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Store(object_store::Error::NotFound { .. }))
    }
}

#[derive(Clone, Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// Prepended to every key (S3 prefix); empty for a directory.
    prefix: String,
}

/// Part size for multipart uploads: S3's minimum is 5 MiB.
const PART_SIZE: usize = 5 * 1024 * 1024;

impl Storage {
    pub fn open(location: &StorageLocation, aws: &AwsSettings) -> Result<Self, StorageError> {
        match location {
            StorageLocation::Directory(dir) => {
                std::fs::create_dir_all(dir)?;
                let dir = std::fs::canonicalize(dir)?;
                let store = LocalFileSystem::new_with_prefix(&dir)?;
                Ok(Self {
                    store: Arc::new(store),
                    prefix: String::new(),
                })
            }
            StorageLocation::S3 { bucket, prefix } => {
                // from_env picks up the rest of the chain (web identity, container and
                // instance credentials); explicit settings win over it.
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Some(region) = &aws.region {
                    builder = builder.with_region(region);
                }
                if let Some(endpoint) = &aws.endpoint {
                    // S3-compatible test servers (moto, MinIO) speak plain HTTP on loopback.
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(credentials) = &aws.credentials {
                    builder = builder
                        .with_access_key_id(&credentials.access_key_id)
                        .with_secret_access_key(credentials.secret_access_key.expose());
                    if let Some(token) = &credentials.session_token {
                        builder = builder.with_token(token.expose());
                    }
                }
                Ok(Self {
                    store: Arc::new(builder.build()?),
                    prefix: prefix.clone(),
                })
            }
        }
    }

    fn path(&self, key: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    /// Starts a streaming upload that becomes visible only on [`Upload::finish`].
    pub async fn begin_upload(&self, key: &str) -> Result<Upload, StorageError> {
        let upload = self.store.put_multipart(&self.path(key)).await?;
        Ok(Upload {
            writer: WriteMultipart::new_with_chunk_size(upload, PART_SIZE),
            written: 0,
        })
    }

    /// Uploads a local file, streaming it.
    pub async fn put_file(&self, key: &str, file: &FsPath) -> Result<u64, StorageError> {
        let mut source = tokio::fs::File::open(file).await?;
        let mut upload = self.begin_upload(key).await?;
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let n = source.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            if let Err(e) = upload.write(&buffer[..n]).await {
                upload.abort().await;
                return Err(e);
            }
        }
        upload.finish().await
    }

    /// Downloads an object into a local file, streaming it.
    pub async fn get_to_file(&self, key: &str, file: &FsPath) -> Result<u64, StorageError> {
        let mut stream = self.store.get(&self.path(key)).await?.into_stream();
        let mut out = tokio::fs::File::create(file).await?;
        let mut total = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            total += chunk.len() as u64;
            out.write_all(&chunk).await?;
        }
        out.flush().await?;
        Ok(total)
    }

    /// Streams an object, whole or `range` of it (a range inside the object: see
    /// `api::media` for how a request's range is resolved against the size).
    pub async fn read(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ObjectBytes, StorageError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(&self.path(key), options).await?;
        Ok(ObjectBytes {
            size: result.meta.size,
            range: result.range.clone(),
            stream: result
                .into_stream()
                .map(|c| c.map_err(StorageError::from))
                .boxed(),
        })
    }

    pub async fn size(&self, key: &str) -> Result<u64, StorageError> {
        Ok(self.store.head(&self.path(key)).await?.size)
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.size(key).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes an object; deleting a missing one is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&self.path(key)).await {
            Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Keys under a prefix (relative to the storage's own prefix), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let full = self.path(prefix);
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut keys = Vec::new();
        let mut listing = self.store.list(Some(&full));
        while let Some(meta) = listing.next().await {
            let location = meta?.location.to_string();
            keys.push(
                location
                    .strip_prefix(&strip)
                    .unwrap_or(&location)
                    .to_string(),
            );
        }
        keys.sort();
        Ok(keys)
    }

    /// One cheap request that proves the store answers (a missing object is an answer).
    pub async fn ping(&self) -> Result<(), StorageError> {
        match self.store.head(&self.path(".health")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// An object being read: its whole size, the bytes `range` the stream holds, the stream.
pub struct ObjectBytes {
    pub size: u64,
    pub range: Range<u64>,
    pub stream: BoxStream<'static, Result<Bytes, StorageError>>,
}

/// A streaming upload in progress. Dropping it without `finish` stores nothing, but call
/// [`Upload::abort`] so S3 frees the parts at once.
pub struct Upload {
    writer: WriteMultipart,
    written: u64,
}

impl Upload {
    /// Appends bytes, waiting when too many parts are in flight (back-pressure on the client).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.writer.wait_for_capacity(4).await?;
        self.writer.write(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub async fn finish(self) -> Result<u64, StorageError> {
        self.writer.finish().await?;
        Ok(self.written)
    }

    pub async fn abort(self) {
        if let Err(e) = self.writer.abort().await {
            tracing::warn!(error = %e, "could not abort a partial upload");
        }
    }
}
