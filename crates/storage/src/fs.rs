//! The filesystem blob store, the embedded default.
//!
//! Layout under the root directory:
//!
//! ```text
//! blobs/<algorithm>/<hex[0..2]>/<hex[2..4]>/<hex>   a complete, verified blob (fan-out for millions)
//! uploads/<id>/data                                  the bytes an upload session has received so far
//! ```
//!
//! An upload is hashed while it is written; the running hash is kept in memory next to the received
//! size, and recomputed from the data file when it is missing (after a restart). Finishing fsyncs the
//! data, renames it into `blobs/` and fsyncs the directory, so a blob path only ever names complete,
//! durable content.

use crate::{BlobRead, BlobStore, ByteStream, ChunkBounds, Result, StorageError};
use async_trait::async_trait;
use berth_oci::{Algorithm, ByteRange, Digest, Hasher};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio::io::AsyncSeekExt;
use tokio::task::spawn_blocking;

/// Bytes gathered from the request body before one write (and hash) on a blocking thread.
const WRITE_BLOCK: usize = 1024 * 1024;
/// Written bytes after which the data is flushed to disk while the upload goes on, so that the
/// final fsync before the 201 has little left to do and the disk works while the network does.
const SYNC_EVERY: u64 = 8 * 1024 * 1024;
/// Read buffer when serving blobs.
const READ_CHUNK: usize = 256 * 1024;

#[derive(Default)]
struct UploadState {
    /// The hash of the first `.0` bytes of the upload's data.
    hash: Option<(u64, Hasher)>,
}

/// Blobs and uploads in a directory tree.
#[derive(Debug)]
pub struct FsBlobStore {
    root: PathBuf,
    uploads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<UploadState>>>>,
}

impl std::fmt::Debug for UploadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadState").field("hashed", &self.hash.as_ref().map(|h| h.0)).finish()
    }
}

fn blocking_err(e: tokio::task::JoinError) -> StorageError {
    StorageError::Io(std::io::Error::other(e))
}

/// Hashes a file's first `len` bytes.
fn hash_file(path: &Path, algorithm: Algorithm, len: u64) -> std::io::Result<Hasher> {
    let mut f = std::fs::File::open(path)?.take(len);
    let mut h = algorithm.hasher();
    let mut buf = vec![0u8; WRITE_BLOCK];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h);
        }
        h.update(&buf[..n]);
    }
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The file, the running hash and the count written, moved to a blocking thread for each block.
struct Writer {
    file: std::fs::File,
    hasher: Hasher,
    written: u64,
    unsynced: u64,
}

impl Writer {
    async fn write(mut self, block: Bytes) -> Result<Writer> {
        spawn_blocking(move || {
            self.file.write_all(&block)?;
            self.hasher.update(&block);
            self.written += block.len() as u64;
            self.unsynced += block.len() as u64;
            if self.unsynced >= SYNC_EVERY {
                self.file.sync_data()?;
                self.unsynced = 0;
            }
            Ok(self)
        })
        .await
        .map_err(blocking_err)?
    }
}

impl FsBlobStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<FsBlobStore> {
        let root = root.into();
        std::fs::create_dir_all(root.join("blobs"))?;
        std::fs::create_dir_all(root.join("uploads"))?;
        Ok(FsBlobStore { root, uploads: Mutex::new(HashMap::new()) })
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        let hex = d.hex();
        self.root.join("blobs").join(d.algorithm().as_str()).join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    fn upload_dir(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    fn upload_data(&self, id: &str) -> PathBuf {
        self.upload_dir(id).join("data")
    }

    fn state(&self, id: &str) -> Arc<tokio::sync::Mutex<UploadState>> {
        let mut map = self.uploads.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_owned()).or_default().clone()
    }

    fn forget(&self, id: &str) {
        self.uploads.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    async fn open_upload(&self, id: &str) -> Result<(std::fs::File, u64)> {
        let path = self.upload_data(id);
        spawn_blocking(move || {
            let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    StorageError::UploadUnknown
                } else {
                    StorageError::Io(e)
                }
            })?;
            let size = file.metadata()?.len();
            Ok((file, size))
        })
        .await
        .map_err(blocking_err)?
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        match tokio::fs::metadata(self.blob_path(digest)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn read(&self, digest: &Digest, range: Option<ByteRange>) -> Result<BlobRead> {
        let mut file = match tokio::fs::File::open(self.blob_path(digest)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StorageError::NotFound),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        let (start, len) = match range {
            Some(r) => (r.start, r.len()),
            None => (0, size),
        };
        if start > 0 {
            file.seek(SeekFrom::Start(start)).await?;
        }
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), READ_CHUNK);
        Ok(BlobRead { size, stream: stream.boxed() })
    }

    async fn delete(&self, digest: &Digest) -> Result<()> {
        match tokio::fs::remove_file(self.blob_path(digest)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn create_upload(&self, id: &str) -> Result<()> {
        let dir = self.upload_dir(id);
        spawn_blocking(move || {
            std::fs::create_dir(&dir)?;
            std::fs::File::create(dir.join("data"))?;
            Ok(())
        })
        .await
        .map_err(blocking_err)?
    }

    async fn upload_size(&self, id: &str) -> Result<u64> {
        match tokio::fs::metadata(self.upload_data(id)).await {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StorageError::UploadUnknown),
            Err(e) => Err(e.into()),
        }
    }

    async fn append(&self, id: &str, bounds: ChunkBounds, mut body: ByteStream) -> Result<u64> {
        let state = self.state(id);
        let mut state = state.lock().await;
        let (file, size) = self.open_upload(id).await?;
        if let Some(start) = bounds.start {
            if start != size {
                return Err(StorageError::OutOfOrder { start, received: size });
            }
        }
        let hasher = match state.hash.take() {
            Some((n, h)) if n == size => h,
            _ if size == 0 => Algorithm::Sha256.hasher(),
            _ => {
                let path = self.upload_data(id);
                spawn_blocking(move || hash_file(&path, Algorithm::Sha256, size)).await.map_err(blocking_err)??
            }
        };
        let mut file = file;
        file.seek(SeekFrom::Start(size))?;

        // Two-stage pipeline: one block is written and hashed on a blocking thread while the next
        // is gathered from the body.
        let mut writer = Some(Writer { file, hasher, written: 0, unsynced: 0 });
        let mut pending: Option<tokio::task::JoinHandle<Result<Writer>>> = None;
        let mut buf = BytesMut::with_capacity(WRITE_BLOCK);
        let mut body_error = None;
        loop {
            let chunk = match body.next().await {
                Some(Ok(c)) => Some(c),
                Some(Err(e)) => {
                    body_error = Some(e);
                    None
                }
                None => None,
            };
            let done = chunk.is_none();
            if let Some(c) = chunk {
                buf.extend_from_slice(&c);
            }
            if buf.len() >= WRITE_BLOCK || (done && !buf.is_empty()) {
                let w = match pending.take() {
                    Some(h) => h.await.map_err(blocking_err)??,
                    None => writer.take().ok_or_else(|| StorageError::Io(std::io::Error::other("writer lost")))?,
                };
                let block = buf.split().freeze();
                pending = Some(tokio::spawn(w.write(block)));
            }
            if done {
                break;
            }
        }
        let w = match pending.take() {
            Some(h) => h.await.map_err(blocking_err)??,
            None => writer.take().ok_or_else(|| StorageError::Io(std::io::Error::other("writer lost")))?,
        };
        let Writer { file, hasher, written, .. } = w;

        if let Some(expected) = bounds.len {
            if written != expected && body_error.is_none() {
                spawn_blocking(move || file.set_len(size)).await.map_err(blocking_err)??;
                return Err(StorageError::SizeMismatch { expected, actual: written });
            }
        }
        let new_size = size + written;
        state.hash = Some((new_size, hasher));
        match body_error {
            Some(e) => Err(StorageError::Body(e)),
            None => Ok(new_size),
        }
    }

    async fn finish_upload(&self, id: &str, expected: &Digest) -> Result<u64> {
        let state_lock = self.state(id);
        let mut state = state_lock.lock().await;
        let (file, size) = self.open_upload(id).await?;
        let data = self.upload_data(id);
        let cached = match state.hash.take() {
            Some((n, h)) if n == size && h.algorithm() == expected.algorithm() => Some(h),
            _ => None,
        };
        let algorithm = expected.algorithm();
        let data2 = data.clone();
        let actual = spawn_blocking(move || -> std::io::Result<Digest> {
            let h = match cached {
                Some(h) => h,
                None => hash_file(&data2, algorithm, size)?,
            };
            file.sync_all()?;
            Ok(h.finish())
        })
        .await
        .map_err(blocking_err)??;

        let dir = self.upload_dir(id);
        if &actual != expected {
            tokio::fs::remove_dir_all(&dir).await?;
            drop(state);
            self.forget(id);
            return Err(StorageError::DigestMismatch { expected: expected.clone(), actual });
        }
        let target = self.blob_path(expected);
        spawn_blocking(move || -> std::io::Result<()> {
            let parent = target.parent().ok_or_else(|| std::io::Error::other("blob path has no parent"))?;
            if !parent.exists() {
                std::fs::create_dir_all(parent)?;
                // Make the new directories themselves durable.
                let mut p = parent;
                for _ in 0..3 {
                    if let Some(up) = p.parent() {
                        fsync_dir(up)?;
                        p = up;
                    }
                }
            }
            if target.exists() {
                // Stored already (blobs are stored once): the new copy is not needed.
                std::fs::remove_dir_all(&dir)?;
            } else {
                std::fs::rename(&data, &target)?;
                fsync_dir(parent)?;
                std::fs::remove_dir_all(&dir)?;
            }
            Ok(())
        })
        .await
        .map_err(blocking_err)??;
        drop(state);
        self.forget(id);
        Ok(size)
    }

    async fn delete_upload(&self, id: &str) -> Result<()> {
        let state_lock = self.state(id);
        let _state = state_lock.lock().await;
        let r = match tokio::fs::remove_dir_all(self.upload_dir(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        };
        self.forget(id);
        r
    }

    async fn list_uploads(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut rd = tokio::fs::read_dir(self.root.join("uploads")).await?;
        while let Some(e) = rd.next_entry().await? {
            if let Some(name) = e.file_name().to_str() {
                out.push(name.to_owned());
            }
        }
        Ok(out)
    }

    async fn health(&self) -> Result<()> {
        let probe = self.root.join("uploads").join(format!(".health-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&probe, b"ok").await?;
        tokio::fs::remove_file(&probe).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shared_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        crate::testsuite::run_all(&store).await;
    }

    #[tokio::test]
    async fn layout_fans_out_and_hash_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        store.create_upload("u1").await.unwrap();
        store.append("u1", ChunkBounds::default(), crate::testsuite::body(&[b"hello ".as_slice()])).await.unwrap();
        // A new store on the same directory has no running hash: it recomputes it from the data.
        let store = FsBlobStore::open(dir.path()).unwrap();
        store
            .append("u1", ChunkBounds { start: Some(6), len: Some(5) }, crate::testsuite::body(&[b"world".as_slice()]))
            .await
            .unwrap();
        let d = Digest::sha256_of(b"hello world");
        assert_eq!(store.finish_upload("u1", &d).await.unwrap(), 11);
        let hex = d.hex();
        let p = dir.path().join(format!("blobs/sha256/{}/{}/{}", &hex[..2], &hex[2..4], hex));
        assert_eq!(std::fs::read(p).unwrap(), b"hello world");
        assert!(!dir.path().join("uploads/u1").exists());
    }
}
