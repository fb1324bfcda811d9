//! The suite every [`BlobStore`] implementation runs: `run_all(&store).await` in its tests.

#![allow(clippy::unwrap_used, clippy::panic)]

use crate::{BlobStore, ByteStream, ChunkBounds, StorageError};
use berth_oci::{Algorithm, ByteRange, Digest};
use bytes::Bytes;
use futures_util::StreamExt;

/// A request body made of the given chunks.
pub fn body(chunks: &[&[u8]]) -> ByteStream {
    let v: Vec<std::io::Result<Bytes>> = chunks.iter().map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures_util::stream::iter(v).boxed()
}

/// Every byte of a stream.
pub async fn collect(mut s: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

async fn put(store: &dyn BlobStore, id: &str, data: &[u8]) -> Digest {
    let d = Digest::sha256_of(data);
    store.create_upload(id).await.unwrap();
    store.append(id, ChunkBounds::default(), body(&[data])).await.unwrap();
    assert_eq!(store.finish_upload(id, &d).await.unwrap(), data.len() as u64);
    d
}

/// Runs every check of the suite.
pub async fn run_all(store: &dyn BlobStore) {
    round_trip_and_ranges(store).await;
    chunks_in_order_only(store).await;
    wrong_digest_leaves_nothing(store).await;
    size_mismatch_rolls_back(store).await;
    sha512_and_empty(store).await;
    same_blob_twice(store).await;
    large_blob_many_chunks(store).await;
    uploads_listed_and_deleted(store).await;
    store.health().await.unwrap();
}

async fn round_trip_and_ranges(store: &dyn BlobStore) {
    let d = put(store, "rt", b"0123456789").await;
    assert_eq!(store.stat(&d).await.unwrap(), Some(10));
    let r = store.read(&d, None).await.unwrap();
    assert_eq!(r.size, 10);
    assert_eq!(collect(r.into_stream()).await, b"0123456789");
    let r = store.read(&d, Some(ByteRange { start: 3, end: 5 })).await.unwrap();
    assert_eq!(r.size, 10);
    assert_eq!(collect(r.into_stream()).await, b"345");
    let missing = Digest::sha256_of(b"missing");
    assert_eq!(store.stat(&missing).await.unwrap(), None);
    assert!(matches!(store.read(&missing, None).await, Err(StorageError::NotFound)));
    store.delete(&d).await.unwrap();
    assert_eq!(store.stat(&d).await.unwrap(), None);
    store.delete(&d).await.unwrap();
}

async fn chunks_in_order_only(store: &dyn BlobStore) {
    store.create_upload("ch").await.unwrap();
    let n = store.append("ch", ChunkBounds { start: Some(0), len: Some(3) }, body(&[b"abc"])).await.unwrap();
    assert_eq!(n, 3);
    let err = store.append("ch", ChunkBounds { start: Some(5), len: Some(1) }, body(&[b"x"])).await.unwrap_err();
    assert!(matches!(err, StorageError::OutOfOrder { start: 5, received: 3 }), "{err}");
    let n = store.append("ch", ChunkBounds { start: Some(3), len: None }, body(&[b"de", b"f"])).await.unwrap();
    assert_eq!(n, 6);
    assert_eq!(store.upload_size("ch").await.unwrap(), 6);
    let d = Digest::sha256_of(b"abcdef");
    store.finish_upload("ch", &d).await.unwrap();
    assert!(matches!(store.upload_size("ch").await, Err(StorageError::UploadUnknown)));
    assert!(matches!(
        store.append("ch", ChunkBounds::default(), body(&[b"x"])).await,
        Err(StorageError::UploadUnknown)
    ));
}

async fn wrong_digest_leaves_nothing(store: &dyn BlobStore) {
    store.create_upload("wd").await.unwrap();
    store.append("wd", ChunkBounds::default(), body(&[b"payload"])).await.unwrap();
    let wrong = Digest::sha256_of(b"other");
    let err = store.finish_upload("wd", &wrong).await.unwrap_err();
    assert!(matches!(err, StorageError::DigestMismatch { .. }), "{err}");
    assert_eq!(store.stat(&wrong).await.unwrap(), None);
    assert_eq!(store.stat(&Digest::sha256_of(b"payload")).await.unwrap(), None);
    assert!(matches!(store.upload_size("wd").await, Err(StorageError::UploadUnknown)));
}

async fn size_mismatch_rolls_back(store: &dyn BlobStore) {
    store.create_upload("sm").await.unwrap();
    store.append("sm", ChunkBounds::default(), body(&[b"12"])).await.unwrap();
    let err = store.append("sm", ChunkBounds { start: Some(2), len: Some(5) }, body(&[b"34"])).await.unwrap_err();
    assert!(matches!(err, StorageError::SizeMismatch { expected: 5, actual: 2 }), "{err}");
    assert_eq!(store.upload_size("sm").await.unwrap(), 2);
    store.append("sm", ChunkBounds { start: Some(2), len: Some(2) }, body(&[b"34"])).await.unwrap();
    store.finish_upload("sm", &Digest::sha256_of(b"1234")).await.unwrap();
}

async fn sha512_and_empty(store: &dyn BlobStore) {
    store.create_upload("s5").await.unwrap();
    store.append("s5", ChunkBounds::default(), body(&[b"five", b"twelve"])).await.unwrap();
    let d = Digest::of(Algorithm::Sha512, b"fivetwelve");
    assert_eq!(store.finish_upload("s5", &d).await.unwrap(), 10);
    assert_eq!(collect(store.read(&d, None).await.unwrap().into_stream()).await, b"fivetwelve");
    store.create_upload("empty").await.unwrap();
    let e = Digest::sha256_of(b"");
    assert_eq!(store.finish_upload("empty", &e).await.unwrap(), 0);
    assert_eq!(store.stat(&e).await.unwrap(), Some(0));
}

async fn same_blob_twice(store: &dyn BlobStore) {
    let (a, b) = tokio::join!(put(store, "tw1", b"twice"), put(store, "tw2", b"twice"));
    assert_eq!(a, b);
    assert_eq!(collect(store.read(&a, None).await.unwrap().into_stream()).await, b"twice");
}

async fn large_blob_many_chunks(store: &dyn BlobStore) {
    let data: Vec<u8> = (0..5 * 1024 * 1024 + 7).map(|i| (i % 251) as u8).collect();
    store.create_upload("big").await.unwrap();
    let mut off = 0usize;
    for chunk in data.chunks(1_500_000) {
        let parts: Vec<&[u8]> = chunk.chunks(64 * 1024).collect();
        let bounds = ChunkBounds { start: Some(off as u64), len: Some(chunk.len() as u64) };
        off = store.append("big", bounds, body(&parts)).await.unwrap() as usize;
    }
    let d = Digest::sha256_of(&data);
    store.finish_upload("big", &d).await.unwrap();
    assert_eq!(collect(store.read(&d, None).await.unwrap().into_stream()).await, data);
    let r = store.read(&d, Some(ByteRange { start: 1_000_000, end: 4_000_000 })).await.unwrap();
    assert_eq!(collect(r.into_stream()).await, &data[1_000_000..=4_000_000]);
}

async fn uploads_listed_and_deleted(store: &dyn BlobStore) {
    store.create_upload("l1").await.unwrap();
    store.create_upload("l2").await.unwrap();
    let ids = store.list_uploads().await.unwrap();
    assert!(ids.contains(&"l1".to_owned()) && ids.contains(&"l2".to_owned()), "{ids:?}");
    store.delete_upload("l1").await.unwrap();
    store.delete_upload("l1").await.unwrap();
    let ids = store.list_uploads().await.unwrap();
    assert!(!ids.contains(&"l1".to_owned()), "{ids:?}");
    store.delete_upload("l2").await.unwrap();
}
