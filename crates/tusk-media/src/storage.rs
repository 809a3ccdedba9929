//! Media bytes in object storage: a local directory (one machine) or an S3 bucket.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    Attribute, AttributeValue, Attributes, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt,
    PutOptions, PutPayload, RetryConfig,
};

use crate::{MediaError, content_type_for_extension};

/// Every storage call gives up after this (the S3 client's own request timeout is the same).
const OPERATION_TIMEOUT: Duration = Duration::from_mins(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where media is stored.
#[derive(Clone, Debug)]
pub enum StorageConfig {
    /// A directory, created if missing.
    Local { root: PathBuf },
    /// An S3 bucket, or an S3-compatible server at `endpoint` (path-style requests).
    S3 {
        endpoint: Option<String>,
        bucket: String,
        region: String,
        /// Without keys, object_store's default AWS credential chain applies.
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        /// A key prefix inside the bucket (tests isolate themselves with it).
        prefix: Option<String>,
    },
}

/// Media bytes in object storage; cheap to clone.
#[derive(Clone)]
pub struct MediaStorage {
    store: Arc<dyn ObjectStore>,
    /// S3 keeps a `Content-Type` per object; the local store refuses attributes.
    content_types: bool,
}

impl fmt::Debug for MediaStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MediaStorage({})", self.store)
    }
}

/// What [`MediaStorage::serve`] read, with what an HTTP response needs to describe it.
#[derive(Clone, Debug)]
pub struct Served {
    pub bytes: Bytes,
    /// The whole object's length (`Content-Range: bytes start-end/total_len`).
    pub total_len: u64,
    /// `Some` when a range was asked for: the bytes' place in the object (end exclusive): a 206.
    pub range: Option<Range<u64>>,
    pub etag: Option<String>,
    pub last_modified: DateTime<Utc>,
}

/// One byte range of a `Range` header (RFC 9110 §14.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-last`, both inclusive.
    FromTo { first: u64, last: u64 },
    /// `bytes=first-`.
    From(u64),
    /// `bytes=-n`: the last n bytes.
    Last(u64),
}

impl ByteRange {
    /// A `Range` header value naming one byte range. `None` for anything else (several ranges,
    /// another unit, malformed): RFC 9110 lets a server ignore those and send the whole object.
    pub fn parse(value: &str) -> Option<Self> {
        let spec = value.trim().strip_prefix("bytes=")?.trim();
        let (first, last) = spec.split_once('-')?;
        let number = |s: &str| {
            let s = s.trim();
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u64>().ok()).flatten()
        };
        match (first.trim().is_empty(), last.trim().is_empty()) {
            (true, false) => Some(Self::Last(number(last)?)),
            (false, true) => Some(Self::From(number(first)?)),
            (false, false) => {
                let (first, last) = (number(first)?, number(last)?);
                (first <= last).then_some(Self::FromTo { first, last })
            }
            (true, true) => None,
        }
    }

    /// The bytes this range names in an object of `len` bytes (end exclusive); `None` when it
    /// names none (a 416).
    pub fn resolve(self, len: u64) -> Option<Range<u64>> {
        match self {
            Self::FromTo { first, last } => (first < len).then(|| first..last.saturating_add(1).min(len)),
            Self::From(first) => (first < len).then_some(first..len),
            Self::Last(n) => (n > 0 && len > 0).then(|| len.saturating_sub(n)..len),
        }
    }

    fn get_range(self) -> GetRange {
        match self {
            Self::FromTo { first, last } => GetRange::Bounded(first..last.saturating_add(1)),
            Self::From(first) => GetRange::Offset(first),
            Self::Last(n) => GetRange::Suffix(n),
        }
    }
}

impl MediaStorage {
    pub fn new(config: &StorageConfig) -> Result<Self, MediaError> {
        match config {
            StorageConfig::Local { root } => {
                std::fs::create_dir_all(root)
                    .map_err(|e| MediaError::Storage(format!("creating {}: {e}", root.display())))?;
                // Cleanup removes the directories a delete leaves empty, so ids don't pile up.
                let store = LocalFileSystem::new_with_prefix(root)?.with_automatic_cleanup(true);
                Ok(Self { store: Arc::new(store), content_types: false })
            }
            StorageConfig::S3 { endpoint, bucket, region, access_key_id, secret_access_key, prefix } => {
                let client = ClientOptions::new()
                    .with_connect_timeout(CONNECT_TIMEOUT)
                    .with_timeout(OPERATION_TIMEOUT);
                // A few quick retries: a job that still fails is retried by the queue, later.
                let retry = RetryConfig {
                    max_retries: 3,
                    retry_timeout: OPERATION_TIMEOUT,
                    ..RetryConfig::default()
                };
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_client_options(client)
                    .with_retry(retry)
                    // Endpoints like http://127.0.0.1:9310 have no bucket subdomains.
                    .with_virtual_hosted_style_request(false);
                if let Some(endpoint) = endpoint {
                    builder =
                        builder.with_allow_http(endpoint.starts_with("http://")).with_endpoint(endpoint);
                }
                if let Some(key) = access_key_id {
                    builder = builder.with_access_key_id(key);
                }
                if let Some(secret) = secret_access_key {
                    builder = builder.with_secret_access_key(secret);
                }
                let s3 = builder.build()?;
                let store: Arc<dyn ObjectStore> = match prefix.as_deref().filter(|p| !p.is_empty()) {
                    Some(prefix) => Arc::new(PrefixStore::new(s3, parse_key(prefix)?)),
                    None => Arc::new(s3),
                };
                Ok(Self { store, content_types: true })
            }
        }
    }

    #[tracing::instrument(skip_all, fields(key, len = bytes.len()))]
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), MediaError> {
        let path = parse_key(key)?;
        let mut attributes = Attributes::new();
        if self.content_types
            && let Some(content_type) =
                key.rsplit_once('.').and_then(|(_, extension)| content_type_for_extension(extension))
        {
            attributes.insert(Attribute::ContentType, AttributeValue::from(content_type));
        }
        let options = PutOptions { attributes, ..PutOptions::default() };
        timed("put", self.store.put_opts(&path, PutPayload::from(bytes), options)).await?;
        Ok(())
    }

    /// The whole object; `NotFound` when there is none.
    #[tracing::instrument(skip_all, fields(key))]
    pub async fn get(&self, key: &str) -> Result<Bytes, MediaError> {
        let path = parse_key(key)?;
        let result = timed("get", self.store.get(&path)).await?;
        timed("get", result.bytes()).await
    }

    /// For serving over HTTP: the whole object, or the bytes `range` names (see
    /// [`ByteRange::parse`]); `RangeNotSatisfiable` when it names none, `NotFound` when there is
    /// no such object.
    #[tracing::instrument(skip_all, fields(key))]
    pub async fn serve(&self, key: &str, range: Option<ByteRange>) -> Result<Served, MediaError> {
        let path = parse_key(key)?;
        let options = GetOptions { range: range.map(ByteRange::get_range), ..GetOptions::default() };
        let result = match timed("get", self.store.get_opts(&path, options)).await {
            Ok(result) => result,
            Err(MediaError::NotFound) => return Err(MediaError::NotFound),
            Err(error) => {
                // A range past the end fails differently per backend: tell it by the size.
                if let Some(range) = range {
                    let meta = timed("head", self.store.head(&path)).await?;
                    if range.resolve(meta.size).is_none() {
                        return Err(MediaError::RangeNotSatisfiable { total_len: meta.size });
                    }
                }
                return Err(error);
            }
        };
        let meta = result.meta.clone();
        if let Some(asked) = range
            && asked.resolve(meta.size).is_none()
        {
            return Err(MediaError::RangeNotSatisfiable { total_len: meta.size });
        }
        let returned = result.range.clone();
        let bytes = timed("get", result.bytes()).await?;
        Ok(Served {
            bytes,
            total_len: meta.size,
            range: range.map(|_| returned),
            etag: meta.e_tag,
            last_modified: meta.last_modified,
        })
    }

    /// Removes the object; one that is already gone is fine (jobs that delete are retried).
    #[tracing::instrument(skip_all, fields(key))]
    pub async fn delete(&self, key: &str) -> Result<(), MediaError> {
        let path = parse_key(key)?;
        match timed("delete", self.store.delete(&path)).await {
            Ok(()) | Err(MediaError::NotFound) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

fn parse_key(key: &str) -> Result<Path, MediaError> {
    // An empty key parses as the store's root, which is no object.
    if key.is_empty() {
        return Err(MediaError::Invalid("empty storage key".into()));
    }
    Path::parse(key).map_err(|e| MediaError::Invalid(format!("bad storage key {key:?}: {e}")))
}

async fn timed<T>(
    operation: &str,
    call: impl Future<Output = object_store::Result<T>>,
) -> Result<T, MediaError> {
    match tokio::time::timeout(OPERATION_TIMEOUT, call).await {
        Ok(result) => result.map_err(MediaError::from),
        Err(_) => {
            Err(MediaError::Storage(format!("{operation} timed out after {}s", OPERATION_TIMEOUT.as_secs())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_byte_ranges() {
        let cases = [
            ("bytes=0-499", Some(ByteRange::FromTo { first: 0, last: 499 })),
            ("bytes=500-", Some(ByteRange::From(500))),
            ("bytes=-500", Some(ByteRange::Last(500))),
            (" bytes=0-0 ", Some(ByteRange::FromTo { first: 0, last: 0 })),
            ("bytes=5-4", None),
            ("bytes=0-1,4-5", None),
            ("bytes=-", None),
            ("bytes=a-1", None),
            ("bytes=+1-2", None),
            ("items=0-1", None),
            ("bytes=99999999999999999999-", None),
            ("", None),
        ];
        for (value, want) in cases {
            assert_eq!(ByteRange::parse(value), want, "{value:?}");
        }
    }

    #[test]
    fn resolves_against_the_length() {
        let r = |s| ByteRange::parse(s).map(|r| r.resolve(10));
        assert_eq!(r("bytes=0-4"), Some(Some(0..5)));
        assert_eq!(r("bytes=5-100"), Some(Some(5..10)));
        assert_eq!(r("bytes=9-"), Some(Some(9..10)));
        assert_eq!(r("bytes=10-"), Some(None));
        assert_eq!(r("bytes=-3"), Some(Some(7..10)));
        assert_eq!(r("bytes=-30"), Some(Some(0..10)));
        assert_eq!(r("bytes=-0"), Some(None));
        assert_eq!(ByteRange::From(0).resolve(0), None);
    }
}
