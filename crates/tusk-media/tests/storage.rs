//! Both storage backends, for real: a temporary directory, and the S3-compatible s3s-fs that
//! deploy/local/lib.sh's `ensure_s3` runs (a unique key prefix per test).

use anyhow::Result;
use bytes::Bytes;
use tusk_media::{
    ByteRange, Collection, MediaError, MediaStorage, StorageConfig, Style, new_token, upload_key, variant_key,
};

fn s3_config(prefix: &str) -> StorageConfig {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    StorageConfig::S3 {
        endpoint: Some(env("TUSK_TEST_S3_ENDPOINT", "http://127.0.0.1:9310")),
        bucket: env("TUSK_TEST_S3_BUCKET", "tusk-test"),
        region: "us-east-1".into(),
        access_key_id: Some(env("TUSK_TEST_S3_ACCESS_KEY", "tusk")),
        secret_access_key: Some(env("TUSK_TEST_S3_SECRET_KEY", "tusk-secret-key")),
        prefix: Some(prefix.into()),
    }
}

/// Put, get, serve (whole and ranges), delete, delete again: what the api and workers do.
async fn round_trip(storage: &MediaStorage) -> Result<()> {
    let token = new_token();
    let key = variant_key(Collection::MediaAttachments, 42, &token, Style::Original, "jpg");
    let body: Bytes = (0..=255u8).cycle().take(1000).collect::<Vec<_>>().into();

    // The first call: an unreachable server fails here, with its error.
    let missing = storage.get(&key).await.err();
    assert!(matches!(missing, Some(MediaError::NotFound)), "{missing:?}");
    assert!(matches!(storage.serve(&key, None).await, Err(MediaError::NotFound)));

    storage.put(&key, body.clone()).await?;
    assert_eq!(storage.get(&key).await?, body);
    // Raw uploads live beside the variants, under their own key.
    let upload = upload_key(42, &token);
    storage.put(&upload, Bytes::from_static(b"raw")).await?;
    assert_eq!(storage.get(&upload).await?, Bytes::from_static(b"raw"));

    let whole = storage.serve(&key, None).await?;
    assert_eq!(whole.bytes, body);
    assert_eq!(whole.total_len, 1000);
    assert_eq!(whole.range, None);
    assert!(whole.etag.is_some());

    let part = storage.serve(&key, ByteRange::parse("bytes=10-19")).await?;
    assert_eq!(part.bytes, body.slice(10..20));
    assert_eq!((part.range, part.total_len), (Some(10..20), 1000));

    let tail = storage.serve(&key, ByteRange::parse("bytes=-5")).await?;
    assert_eq!((tail.bytes, tail.range), (body.slice(995..), Some(995..1000)));

    let open = storage.serve(&key, ByteRange::parse("bytes=990-")).await?;
    assert_eq!((open.bytes, open.range), (body.slice(990..), Some(990..1000)));

    // A last byte past the end is cut to the end (RFC 9110), a first byte past it is a 416.
    let past = storage.serve(&key, ByteRange::parse("bytes=998-5000")).await?;
    assert_eq!((past.bytes, past.range), (body.slice(998..), Some(998..1000)));
    for unsatisfiable in ["bytes=1000-", "bytes=5000-6000", "bytes=-0"] {
        let err = storage.serve(&key, ByteRange::parse(unsatisfiable)).await.err();
        assert!(
            matches!(err, Some(MediaError::RangeNotSatisfiable { total_len: 1000 })),
            "{unsatisfiable}: {err:?}"
        );
    }

    storage.delete(&key).await?;
    assert!(matches!(storage.get(&key).await, Err(MediaError::NotFound)));
    // Deleting what is gone is fine: a retried job does it.
    storage.delete(&key).await?;
    storage.delete(&upload).await?;

    // Keys object_store would read as a path elsewhere are refused.
    for bad in ["a//b", "../etc/passwd", "a/../b", ""] {
        let err = storage.put(bad, Bytes::new()).await.err();
        assert!(matches!(err, Some(MediaError::Invalid(_))), "{bad:?}: {err:?}");
    }
    Ok(())
}

#[tokio::test]
async fn local_storage_round_trip() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("media");
    let storage = MediaStorage::new(&StorageConfig::Local { root: root.clone() })?;
    assert!(root.is_dir());
    round_trip(&storage).await?;

    // Files land under the root at their key's path, and nowhere else.
    let key = variant_key(Collection::Avatars, 7, &new_token(), Style::Static, "png");
    storage.put(&key, Bytes::from_static(b"png")).await?;
    assert_eq!(std::fs::read(root.join(&key))?, b"png");
    Ok(())
}

#[tokio::test]
async fn s3_storage_round_trip() -> Result<()> {
    // Fails (never skips) without the server: test.sh starts it.
    let storage = MediaStorage::new(&s3_config(&format!("test-{}", new_token())))?;
    round_trip(&storage).await
}

#[tokio::test]
async fn s3_prefixes_isolate() -> Result<()> {
    let first = MediaStorage::new(&s3_config(&format!("test-{}", new_token())))?;
    let second = MediaStorage::new(&s3_config(&format!("test-{}", new_token())))?;
    let key = variant_key(Collection::Headers, 1, &new_token(), Style::Original, "png");
    first.put(&key, Bytes::from_static(b"mine")).await?;
    assert!(matches!(second.get(&key).await, Err(MediaError::NotFound)));
    second.delete(&key).await?;
    assert_eq!(first.get(&key).await?, Bytes::from_static(b"mine"));
    first.delete(&key).await?;
    Ok(())
}
