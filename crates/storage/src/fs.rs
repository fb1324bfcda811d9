//! The filesystem blob store, the embedded default.
//!
//! Layout under the root directory:
//!
//! ```text
//! blobs/<algorithm>/<hex[0..2]>/<hex[2..4]>/<hex>   a complete, verified blob (fan-out for millions)
//! uploads/<id>.data                                  the bytes an upload session has received so far
//! ```
//!
//! Upload data is one flat file per session: no directory of its own to make and remove. Stores
//! written before that kept it in `uploads/<id>/data`; [`FsBlobStore::open`] moves such files to
//! `uploads/<id>.data` (one rename each), so uploads in progress survive the upgrade.
//!
//! An upload is hashed while it is written; the running hash is kept in memory next to the received
//! size, and recomputed from the data file when it is missing (after a restart). Long bodies are
//! flushed to disk in the background as they arrive. Finishing fsyncs the data (and fails if a
//! background flush failed), renames it into `blobs/` and fsyncs the directory (and, the first time
//! this process stores into a fan-out directory, its two parents), all before it returns, so a blob
//! path only ever names complete, durable content.
//!
//! The work of appending and finishing runs in a task of its own, holding the upload's lock until it
//! is done: a caller that goes away (a dropped request) never leaves a write or a flush running
//! that the next request on the upload would not wait for.

use crate::{BlobBody, BlobRead, BlobStore, ByteStream, ChunkBounds, FileSpan, Result, StorageError};
use async_trait::async_trait;
use berth_oci::{Algorithm, ByteRange, Digest, Hasher};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::{spawn_blocking, JoinHandle};

/// Bytes gathered from the request body before one write (and hash) on a blocking thread.
const WRITE_BLOCK: usize = 1024 * 1024;
/// Written bytes after which the data is flushed to disk while the upload goes on, so that the
/// final fsync before the 201 has little left to do and the disk works while the network does.
const SYNC_EVERY: u64 = 8 * 1024 * 1024;
/// Read buffer when serving blobs.
const READ_CHUNK: usize = 256 * 1024;
/// Block buffers kept between requests, at most (two per body being received).
const SPARE_BLOCKS: usize = 8;
/// The name of an upload's data file is its id followed by this.
const UPLOAD_SUFFIX: &str = ".data";
/// Health probes are files named so in `uploads/` (never listed as uploads).
const HEALTH_PREFIX: &str = ".health-";

/// What is kept in memory about an upload between its requests.
#[derive(Default)]
struct UploadState {
    /// The hash of the first `.0` bytes of the upload's data.
    hash: Option<(u64, Hasher)>,
    /// The background flush in flight, if any.
    flush: Option<JoinHandle<()>>,
    /// Set when a background flush failed: the upload cannot be made durable as it is.
    flush_failed: Arc<AtomicBool>,
}

impl std::fmt::Debug for UploadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadState")
            .field("hashed", &self.hash.as_ref().map(|h| h.0))
            .field("flushing", &self.flush.is_some())
            .finish_non_exhaustive()
    }
}

type UploadLock = Arc<tokio::sync::Mutex<UploadState>>;

/// The fan-out directories this process knows to exist and to be durable, one bit per
/// `<hex[0..2]>/<hex[2..4]>` for each algorithm: storing into one of them fsyncs it only, not its
/// parents again (an fsync of a directory costs about as much as a small file's).
struct KnownDirs([Vec<AtomicU64>; 2]);

impl KnownDirs {
    fn new() -> KnownDirs {
        let bits = || (0..65536 / 64).map(|_| AtomicU64::new(0)).collect();
        KnownDirs([bits(), bits()])
    }

    /// The bit of a digest's fan-out directory: (algorithm, word, mask).
    fn bit(d: &Digest) -> Option<(usize, usize, u64)> {
        let n = usize::from(u16::from_str_radix(d.hex().get(0..4)?, 16).ok()?);
        let a = match d.algorithm() {
            Algorithm::Sha256 => 0,
            Algorithm::Sha512 => 1,
        };
        Some((a, n / 64, 1u64 << (n % 64)))
    }

    fn contains(&self, d: &Digest) -> bool {
        Self::bit(d).is_some_and(|(a, w, m)| self.0[a][w].load(Ordering::Acquire) & m != 0)
    }

    fn insert(&self, d: &Digest) {
        if let Some((a, w, m)) = Self::bit(d) {
            self.0[a][w].fetch_or(m, Ordering::Release);
        }
    }
}

/// Blobs and uploads in a directory tree.
pub struct FsBlobStore {
    inner: Arc<Inner>,
}

struct Inner {
    blobs: PathBuf,
    uploads_dir: PathBuf,
    uploads: Mutex<HashMap<String, UploadLock>>,
    known_dirs: KnownDirs,
    /// Block buffers of bodies received before, to gather the next ones in.
    spare_blocks: Mutex<Vec<Vec<u8>>>,
}

impl std::fmt::Debug for FsBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsBlobStore")
            .field("blobs", &self.inner.blobs)
            .field("uploads", &self.inner.uploads_dir)
            .finish_non_exhaustive()
    }
}

fn blocking_err(e: tokio::task::JoinError) -> StorageError {
    StorageError::Io(std::io::Error::other(e))
}

fn not_found_is_unknown(e: std::io::Error) -> StorageError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StorageError::UploadUnknown
    } else {
        StorageError::Io(e)
    }
}

/// Hashes the first `len` bytes of an open file.
fn hash_file(file: &std::fs::File, algorithm: Algorithm, len: u64) -> std::io::Result<Hasher> {
    let mut h = algorithm.hasher();
    let mut buf = vec![0u8; WRITE_BLOCK];
    let mut off = 0;
    while off < len {
        let want = usize::try_from(len - off).unwrap_or(usize::MAX).min(buf.len());
        let n = file.read_at(&mut buf[..want], off)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "upload data shorter than its size"));
        }
        h.update(&buf[..n]);
        off += n as u64;
    }
    Ok(h)
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Drops a large upload's pages from the page cache once they are on disk (dirty ones are left, and
/// their write-back started). Uploads are written once: their pages would push out the blobs being
/// pulled, and the memory they take is better reused by the next writes than left to grow the cache.
/// The first read of the blob comes from the disk. Advice only: a failure changes nothing.
fn drop_cached(file: &std::fs::File) {
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
}

/// Makes a directory and any missing parent, each made durable in its own parent.
fn make_dir_durable(dir: &Path) -> std::io::Result<()> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.is_dir()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    for d in missing {
        match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => fsync_dir(p)?,
            _ => fsync_dir(Path::new("."))?,
        }
    }
    Ok(())
}

/// Moves the data of uploads kept in the layout of before (`uploads/<id>/data`) to
/// `uploads/<id>.data`, and removes health probes left by a crash.
fn migrate_uploads(uploads: &Path) -> std::io::Result<()> {
    let mut changed = false;
    for entry in std::fs::read_dir(uploads)? {
        let entry = entry?;
        let name = entry.file_name();
        if entry.file_type()?.is_dir() {
            let mut new_name = name.clone();
            new_name.push(UPLOAD_SUFFIX);
            match std::fs::rename(entry.path().join("data"), uploads.join(new_name)) {
                Ok(()) => {}
                // A directory without data: an upload that was being created when the process died
                // (or one moved already by an open that died before removing the directory).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            std::fs::remove_dir_all(entry.path())?;
            changed = true;
        } else if name.to_str().is_some_and(|n| n.starts_with(HEALTH_PREFIX)) {
            std::fs::remove_file(entry.path())?;
        }
    }
    if changed {
        fsync_dir(uploads)?;
    }
    Ok(())
}

/// The file, the running hash and the count written, moved to a blocking thread for each block.
struct Writer {
    file: std::fs::File,
    hasher: Hasher,
    written: u64,
    unsynced: u64,
    /// The background flush in flight, and where it says it failed.
    flush: Option<JoinHandle<()>>,
    flush_failed: Arc<AtomicBool>,
}

/// A block being written: gives back the writer and the buffer, even when the write failed.
type WriteHandle = JoinHandle<(Writer, Vec<u8>, std::io::Result<()>)>;

impl Writer {
    fn write_block(&mut self, block: &[u8]) -> std::io::Result<()> {
        self.file.write_all(block)?;
        self.hasher.update(block);
        self.written += block.len() as u64;
        self.unsynced += block.len() as u64;
        if self.unsynced >= SYNC_EVERY && self.flush.as_ref().is_none_or(|h| h.is_finished()) {
            // Flush what was written so far in the background, on a second descriptor of the same
            // open file, while the upload goes on. A failure is remembered: the upload then cannot
            // finish (the error may be reported once only, to this descriptor).
            let file = self.file.try_clone()?;
            let failed = self.flush_failed.clone();
            self.flush = Some(spawn_blocking(move || {
                if file.sync_data().is_err() {
                    failed.store(true, Ordering::Release);
                } else {
                    drop_cached(&file);
                }
            }));
            self.unsynced = 0;
        }
        Ok(())
    }

    /// Writes and hashes a block on a blocking thread.
    fn write(mut self, block: Vec<u8>) -> WriteHandle {
        spawn_blocking(move || {
            let r = self.write_block(&block);
            (self, block, r)
        })
    }
}

/// The two-stage pipeline of one request body: a block is written and hashed on a blocking thread
/// while the next is gathered. Its two buffers take turns and are kept for the next bodies, so
/// bodies do not allocate (and page-fault in) a block per MiB.
struct Pipeline {
    idle: Option<Writer>,
    pending: Option<WriteHandle>,
    spare: Vec<u8>,
}

impl Pipeline {
    /// Waits for the block in flight, if any, and returns the writer. When the write failed, the
    /// background flush in flight goes back to the upload's state, so that finishing waits for it
    /// (and learns whether it failed).
    async fn wait(&mut self, state: &mut UploadState) -> Result<Writer> {
        let Some(h) = self.pending.take() else {
            return self.idle.take().ok_or_else(|| StorageError::Io(std::io::Error::other("writer lost")));
        };
        let (w, mut buf, r) = h.await.map_err(blocking_err)?;
        if let Err(e) = r {
            state.flush = w.flush;
            return Err(e.into());
        }
        buf.clear();
        self.spare = buf;
        Ok(w)
    }

    /// Hands the gathered block to the writer once the block before is written; gathering goes on
    /// in the other buffer.
    async fn send(&mut self, block: &mut Vec<u8>, state: &mut UploadState) -> Result<()> {
        let w = self.wait(state).await?;
        let full = std::mem::replace(block, std::mem::take(&mut self.spare));
        self.pending = Some(w.write(full));
        Ok(())
    }
}

/// What finishing an upload did with its data.
enum Finished {
    /// Stored as the blob (or found stored already); the upload's size.
    Stored(u64),
    /// Removed: its digest is this one.
    Mismatch(Digest),
    /// Removed: it could not be made durable.
    Unsynced(std::io::Error),
}

impl FsBlobStore {
    /// Opens (creating if needed) a store rooted at `root`; moves uploads kept in the layout of
    /// before (`uploads/<id>/data`) to theirs (`uploads/<id>.data`).
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<FsBlobStore> {
        let root = root.into();
        let blobs = root.join("blobs");
        let uploads_dir = root.join("uploads");
        for dir in [&uploads_dir, &blobs.join(Algorithm::Sha256.as_str()), &blobs.join(Algorithm::Sha512.as_str())] {
            make_dir_durable(dir)?;
        }
        migrate_uploads(&uploads_dir)?;
        Ok(FsBlobStore {
            inner: Arc::new(Inner {
                blobs,
                uploads_dir,
                uploads: Mutex::new(HashMap::new()),
                known_dirs: KnownDirs::new(),
                spare_blocks: Mutex::new(Vec::new()),
            }),
        })
    }
}

impl Inner {
    fn blob_path(&self, d: &Digest) -> PathBuf {
        let hex = d.hex();
        let mut p = PathBuf::with_capacity(self.blobs.as_os_str().len() + hex.len() + 20);
        p.push(&self.blobs);
        p.push(d.algorithm().as_str());
        p.push(&hex[0..2]);
        p.push(&hex[2..4]);
        p.push(hex);
        p
    }

    fn upload_path(&self, id: &str) -> PathBuf {
        self.uploads_dir.join(format!("{id}{UPLOAD_SUFFIX}"))
    }

    fn state(&self, id: &str) -> UploadLock {
        let mut map = self.uploads.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_owned()).or_default().clone()
    }

    /// Drops what is kept in memory about an upload whose data is gone.
    fn forget(&self, id: &str) {
        self.uploads.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// A block buffer used before, empty, or a new one with room for `capacity` bytes.
    fn block_buffer(&self, capacity: usize) -> Vec<u8> {
        let spare = self.spare_blocks.lock().unwrap_or_else(|p| p.into_inner()).pop();
        spare.unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// Keeps a whole block buffer for a body to come.
    fn keep_block_buffer(&self, mut buf: Vec<u8>) {
        if buf.capacity() == WRITE_BLOCK {
            buf.clear();
            let mut spare = self.spare_blocks.lock().unwrap_or_else(|p| p.into_inner());
            if spare.len() < SPARE_BLOCKS {
                spare.push(buf);
            }
        }
    }

    async fn append(&self, id: &str, bounds: ChunkBounds, mut body: ByteStream) -> Result<u64> {
        let state_lock = self.state(id);
        let mut state = state_lock.lock().await;
        let path = self.upload_path(id);
        let opened = spawn_blocking(move || -> Result<(std::fs::File, u64)> {
            let file = std::fs::OpenOptions::new().read(true).append(true).open(&path).map_err(not_found_is_unknown)?;
            let size = file.metadata()?.len();
            Ok((file, size))
        })
        .await
        .map_err(blocking_err)?;
        let (mut file, size) = match opened {
            Ok(o) => o,
            Err(e) => {
                if matches!(e, StorageError::UploadUnknown) {
                    drop(state);
                    self.forget(id);
                }
                return Err(e);
            }
        };
        if let Some(start) = bounds.start {
            if start != size {
                return Err(StorageError::OutOfOrder { start, received: size });
            }
        }
        let hasher = match state.hash.take() {
            Some((n, h)) if n == size => h,
            _ if size == 0 => Algorithm::Sha256.hasher(),
            _ => {
                let (f, h) = spawn_blocking(move || hash_file(&file, Algorithm::Sha256, size).map(|h| (file, h)))
                    .await
                    .map_err(blocking_err)??;
                file = f;
                h
            }
        };
        // Kept to roll back to if the body is not as long as announced.
        let hash_before = bounds.len.map(|_| hasher.clone());
        // The file is open for appending (O_APPEND): writes go to its end, wherever its offset is.
        let mut pipe = Pipeline {
            idle: Some(Writer {
                file,
                hasher,
                written: 0,
                unsynced: 0,
                flush: state.flush.take(),
                flush_failed: state.flush_failed.clone(),
            }),
            pending: None,
            spare: Vec::new(),
        };
        // A body announced shorter than a block gets a buffer of its size (unless a spare one is there).
        let capacity = bounds.len.map_or(WRITE_BLOCK, |l| usize::try_from(l).unwrap_or(WRITE_BLOCK).min(WRITE_BLOCK));
        let mut buf: Vec<u8> = Vec::new();
        let mut body_error = None;
        loop {
            let chunk = match body.next().await {
                Some(Ok(c)) => c,
                Some(Err(e)) => {
                    body_error = Some(e);
                    break;
                }
                None => break,
            };
            let mut rest: &[u8] = &chunk;
            while !rest.is_empty() {
                if buf.capacity() == 0 {
                    buf = self.block_buffer(capacity);
                }
                let n = (WRITE_BLOCK - buf.len()).min(rest.len());
                buf.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                if buf.len() == WRITE_BLOCK {
                    pipe.send(&mut buf, &mut state).await?;
                }
            }
        }
        if !buf.is_empty() {
            pipe.send(&mut buf, &mut state).await?;
        }
        let w = pipe.wait(&mut state).await?;
        self.keep_block_buffer(buf);
        self.keep_block_buffer(pipe.spare);
        let Writer { file, hasher, written, flush, .. } = w;
        state.flush = flush;

        if let (Some(expected), Some(before)) = (bounds.len, hash_before) {
            if written != expected && body_error.is_none() {
                spawn_blocking(move || file.set_len(size)).await.map_err(blocking_err)??;
                state.hash = Some((size, before));
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
        // A flush still running in the background shares the open file, and with it the report of
        // a write-back error: it ends before the last fsync, and its failure is looked at.
        if let Some(h) = state.flush.take() {
            h.await.map_err(blocking_err)?;
        }
        let flush_failed = state.flush_failed.load(Ordering::Acquire);
        let cached = state.hash.take();
        let data = self.upload_path(id);
        let target = self.blob_path(expected);
        let dir_known = self.known_dirs.contains(expected);
        let expected2 = expected.clone();
        // One trip to a blocking thread: hash what is not hashed yet, check, fsync the data, move
        // it into place, fsync the directory (and its parents, the first time).
        let finished = spawn_blocking(move || -> Result<Finished> {
            let file = std::fs::OpenOptions::new().read(true).write(true).open(&data).map_err(not_found_is_unknown)?;
            let size = file.metadata()?.len();
            let actual = match cached {
                Some((n, h)) if n == size && h.algorithm() == expected2.algorithm() => h,
                _ => hash_file(&file, expected2.algorithm(), size)?,
            }
            .finish();
            if actual != expected2 {
                drop(file);
                std::fs::remove_file(&data)?;
                return Ok(Finished::Mismatch(actual));
            }
            let synced = file.sync_all();
            if synced.is_ok() && size >= SYNC_EVERY {
                drop_cached(&file);
            }
            drop(file);
            if synced.is_err() || flush_failed {
                // Pages whose write-back failed may be reported once only and then look clean: a
                // second fsync would succeed without the data being on disk. The upload is removed,
                // as for a wrong digest; the client starts it again.
                std::fs::remove_file(&data)?;
                let e = synced.err().unwrap_or_else(|| std::io::Error::other("flushing the upload data failed"));
                return Ok(Finished::Unsynced(e));
            }
            let dir = target.parent().ok_or_else(|| std::io::Error::other("blob path has no parent"))?;
            // Whether the directory's entry (and its parent's) are to be made durable here.
            let mut new_dir = !dir_known;
            if new_dir {
                std::fs::create_dir_all(dir)?;
            }
            if std::fs::symlink_metadata(&target).is_ok() {
                // Stored already (blobs are stored once): the new copy is not needed. The blob may
                // have been moved there by a request that has not made it durable yet: the fsync
                // below does.
                std::fs::remove_file(&data)?;
            } else {
                match std::fs::rename(&data, &target) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && !new_dir => {
                        // The directory went away since this process made it: make it again.
                        new_dir = true;
                        std::fs::create_dir_all(dir)?;
                        std::fs::rename(&data, &target)?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            // The blob's entry; then, unless this process did so before, the entries of the fan-out
            // directories themselves, whoever made them (a request that made them may not have
            // made them durable yet).
            fsync_dir(dir)?;
            if new_dir {
                for d in dir.ancestors().skip(1).take(2) {
                    fsync_dir(d)?;
                }
            }
            Ok(Finished::Stored(size))
        })
        .await
        .map_err(blocking_err)?;
        drop(state);
        // What is kept about the upload goes with its data; after another failure the data is
        // still there and the upload can go on.
        match finished {
            Ok(Finished::Stored(size)) => {
                self.forget(id);
                self.known_dirs.insert(expected);
                Ok(size)
            }
            Ok(Finished::Mismatch(actual)) => {
                self.forget(id);
                Err(StorageError::DigestMismatch { expected: expected.clone(), actual })
            }
            Ok(Finished::Unsynced(e)) => {
                self.forget(id);
                Err(e.into())
            }
            Err(e) => {
                if matches!(e, StorageError::UploadUnknown) {
                    self.forget(id);
                }
                Err(e)
            }
        }
    }
}

/// Reads a file span in chunks of [`READ_CHUNK`] bytes.
pub(crate) fn span_stream(span: FileSpan) -> ByteStream {
    let FileSpan { file, offset, len } = span;
    let file = Arc::new(file);
    futures_util::stream::try_unfold((offset, len), move |(at, left)| {
        let file = file.clone();
        async move {
            if left == 0 {
                return Ok(None);
            }
            let n = left.min(READ_CHUNK as u64) as usize;
            let chunk = spawn_blocking(move || crate::read_span(&file, at, n))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??;
            Ok(Some((chunk, (at + n as u64, left - n as u64))))
        }
    })
    .boxed()
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        match tokio::fs::metadata(self.inner.blob_path(digest)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn read(&self, digest: &Digest, range: Option<ByteRange>) -> Result<BlobRead> {
        let path = self.inner.blob_path(digest);
        spawn_blocking(move || {
            let file = match std::fs::File::open(path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StorageError::NotFound),
                Err(e) => return Err(e.into()),
            };
            let size = file.metadata()?.len();
            let (offset, len) = match range {
                Some(r) => (r.start, r.len()),
                None => (0, size),
            };
            Ok(BlobRead { size, body: BlobBody::File(FileSpan { file, offset, len }) })
        })
        .await
        .map_err(blocking_err)?
    }

    async fn delete(&self, digest: &Digest) -> Result<()> {
        match tokio::fs::remove_file(self.inner.blob_path(digest)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn create_upload(&self, id: &str) -> Result<()> {
        let path = self.inner.upload_path(id);
        spawn_blocking(move || std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map(drop))
            .await
            .map_err(blocking_err)??;
        Ok(())
    }

    async fn upload_size(&self, id: &str) -> Result<u64> {
        match tokio::fs::metadata(self.inner.upload_path(id)).await {
            Ok(m) => Ok(m.len()),
            Err(e) => Err(not_found_is_unknown(e)),
        }
    }

    async fn append(&self, id: &str, bounds: ChunkBounds, body: ByteStream) -> Result<u64> {
        // In a task of its own: if this request is dropped, the work goes on to its end (the body
        // then ends too) with the upload locked, and no write is left running unseen.
        let inner = self.inner.clone();
        let id = id.to_owned();
        tokio::spawn(async move { inner.append(&id, bounds, body).await }).await.map_err(blocking_err)?
    }

    async fn finish_upload(&self, id: &str, expected: &Digest) -> Result<u64> {
        let inner = self.inner.clone();
        let (id, expected) = (id.to_owned(), expected.clone());
        tokio::spawn(async move { inner.finish_upload(&id, &expected).await }).await.map_err(blocking_err)?
    }

    async fn delete_upload(&self, id: &str) -> Result<()> {
        let state_lock = self.inner.state(id);
        let state = state_lock.lock().await;
        let r = match tokio::fs::remove_file(self.inner.upload_path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        };
        drop(state);
        if r.is_ok() {
            self.inner.forget(id);
        }
        r
    }

    async fn list_uploads(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut rd = tokio::fs::read_dir(&self.inner.uploads_dir).await?;
        while let Some(e) = rd.next_entry().await? {
            if let Some(id) = e.file_name().to_str().and_then(|n| n.strip_suffix(UPLOAD_SUFFIX)) {
                out.push(id.to_owned());
            }
        }
        Ok(out)
    }

    async fn health(&self) -> Result<()> {
        let probe = self.inner.uploads_dir.join(format!("{HEALTH_PREFIX}{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&probe, b"ok").await?;
        tokio::fs::remove_file(&probe).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testsuite::{body, collect};
    use bytes::Bytes;
    use std::time::Duration;

    fn kept_states(store: &FsBlobStore) -> usize {
        store.inner.uploads.lock().unwrap().len()
    }

    #[tokio::test]
    async fn shared_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        crate::testsuite::run_all(&store).await;
        // Nothing is kept in memory for uploads that are gone.
        assert_eq!(kept_states(&store), 0);
    }

    #[tokio::test]
    async fn layout_fans_out_and_hash_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        store.create_upload("u1").await.unwrap();
        store.append("u1", ChunkBounds::default(), body(&[b"hello ".as_slice()])).await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("uploads/u1.data")).unwrap(), b"hello ");
        // A new store on the same directory has no running hash: it recomputes it from the data.
        let store = FsBlobStore::open(dir.path()).unwrap();
        assert_eq!(store.upload_size("u1").await.unwrap(), 6);
        store.append("u1", ChunkBounds { start: Some(6), len: Some(5) }, body(&[b"world".as_slice()])).await.unwrap();
        let d = Digest::sha256_of(b"hello world");
        assert_eq!(store.finish_upload("u1", &d).await.unwrap(), 11);
        let hex = d.hex();
        let p = dir.path().join(format!("blobs/sha256/{}/{}/{}", &hex[..2], &hex[2..4], hex));
        assert_eq!(std::fs::read(p).unwrap(), b"hello world");
        assert_eq!(std::fs::read_dir(dir.path().join("uploads")).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn uploads_of_the_old_layout_are_moved_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = dir.path().join("uploads");
        // As a store of before left them: one upload with data, one whose directory was made by a
        // request the process died in (no data), and a health probe.
        std::fs::create_dir_all(uploads.join("old1")).unwrap();
        std::fs::write(uploads.join("old1/data"), b"resumed ").unwrap();
        std::fs::create_dir_all(uploads.join("old2")).unwrap();
        std::fs::write(uploads.join(".health-x"), b"ok").unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        assert!(!uploads.join("old1").exists() && !uploads.join("old2").exists());
        assert!(!uploads.join(".health-x").exists());
        assert_eq!(store.list_uploads().await.unwrap(), vec!["old1".to_owned()]);
        assert_eq!(store.upload_size("old1").await.unwrap(), 8);
        assert!(matches!(store.upload_size("old2").await, Err(StorageError::UploadUnknown)));
        let n = store
            .append("old1", ChunkBounds { start: Some(8), len: None }, body(&[b"upload".as_slice()]))
            .await
            .unwrap();
        assert_eq!(n, 14);
        let d = Digest::sha256_of(b"resumed upload");
        assert_eq!(store.finish_upload("old1", &d).await.unwrap(), 14);
        assert_eq!(collect(store.read(&d, None).await.unwrap().into_stream()).await, b"resumed upload");
        // Opening again finds nothing to move.
        let store = FsBlobStore::open(dir.path()).unwrap();
        assert!(store.list_uploads().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_fan_out_directory_removed_behind_the_store_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let put = |id: &'static str, data: &'static [u8]| {
            let store = &store;
            async move {
                store.create_upload(id).await.unwrap();
                store.append(id, ChunkBounds::default(), body(&[data])).await.unwrap();
                store.finish_upload(id, &Digest::sha256_of(data)).await.unwrap();
            }
        };
        put("a", b"first").await;
        let d = Digest::sha256_of(b"first");
        let hex = d.hex();
        std::fs::remove_dir_all(dir.path().join(format!("blobs/sha256/{}", &hex[..2]))).unwrap();
        // The store believes the directory is there; it finds out and makes it again.
        put("b", b"first").await;
        assert_eq!(store.stat(&d).await.unwrap(), Some(5));
    }

    #[tokio::test]
    async fn long_uploads_flush_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..2 * SYNC_EVERY as usize + 12345).map(|i| (i % 241) as u8).collect();
        let d = Digest::sha256_of(&data);
        // One long body, then the same in chunks of several blocks each.
        let parts: Vec<&[u8]> = data.chunks(300_000).collect();
        store.create_upload("one").await.unwrap();
        store.append("one", ChunkBounds::default(), body(&parts)).await.unwrap();
        assert!(store.inner.state("one").lock().await.flush.is_some(), "no flush was started");
        assert_eq!(store.finish_upload("one", &d).await.unwrap(), data.len() as u64);
        store.delete(&d).await.unwrap();
        store.create_upload("many").await.unwrap();
        let mut off = 0;
        for chunk in data.chunks(3 * WRITE_BLOCK + 17) {
            let parts: Vec<&[u8]> = chunk.chunks(100_000).collect();
            let bounds = ChunkBounds { start: Some(off), len: Some(chunk.len() as u64) };
            off = store.append("many", bounds, body(&parts)).await.unwrap();
        }
        assert_eq!(store.finish_upload("many", &d).await.unwrap(), data.len() as u64);
        assert_eq!(collect(store.read(&d, None).await.unwrap().into_stream()).await, data);
    }

    #[tokio::test]
    async fn large_uploads_leave_the_page_cache_once_durable_and_small_ones_stay() {
        // The page cache is per filesystem: use the build directory's, not a RAM-backed /tmp.
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
        std::fs::create_dir_all(&base).unwrap();
        let dir = tempfile::tempdir_in(base).unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let large: Vec<u8> = (0..2 * SYNC_EVERY as usize + 4096).map(|i| (i % 239) as u8).collect();
        let small: Vec<u8> = (0..3 * WRITE_BLOCK).map(|i| (i % 233) as u8).collect();
        for (id, data) in [("large", &large), ("small", &small)] {
            store.create_upload(id).await.unwrap();
            let parts: Vec<&[u8]> = data.chunks(256 * 1024).collect();
            store.append(id, ChunkBounds::default(), body(&parts)).await.unwrap();
            store.finish_upload(id, &Digest::sha256_of(data)).await.unwrap();
        }
        let open = |data: &[u8]| std::fs::File::open(store.inner.blob_path(&Digest::sha256_of(data))).unwrap();
        let (l, s) = (open(&large), open(&small));
        assert!(
            !crate::is_cached(&l, 0) && !crate::is_cached(&l, large.len() as u64 - 1),
            "the large blob is still cached"
        );
        assert!(crate::is_cached(&s, 0) && crate::is_cached(&s, small.len() as u64 - 1), "the small blob was dropped");
        // Read back from the disk, whole and ranged.
        assert_eq!(collect(store.read(&Digest::sha256_of(&large), None).await.unwrap().into_stream()).await, large);
        let r = ByteRange { start: SYNC_EVERY - 3, end: SYNC_EVERY + 3 };
        let got = collect(store.read(&Digest::sha256_of(&large), Some(r)).await.unwrap().into_stream()).await;
        assert_eq!(got, &large[r.start as usize..=r.end as usize]);
    }

    #[tokio::test]
    async fn a_failed_background_flush_fails_the_finish() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        store.create_upload("f").await.unwrap();
        store.append("f", ChunkBounds::default(), body(&[b"data".as_slice()])).await.unwrap();
        // As a background flush reports a write-back error.
        store.inner.state("f").lock().await.flush_failed.store(true, Ordering::Release);
        let d = Digest::sha256_of(b"data");
        let err = store.finish_upload("f", &d).await.unwrap_err();
        assert!(matches!(err, StorageError::Io(_)), "{err}");
        assert_eq!(store.stat(&d).await.unwrap(), None);
        // The data could not be trusted: the upload is gone, and the client starts again.
        assert!(matches!(store.upload_size("f").await, Err(StorageError::UploadUnknown)));
        assert_eq!(kept_states(&store), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_to_one_upload_are_serialized() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        store.create_upload("c").await.unwrap();
        let a = vec![b'a'; 3 * WRITE_BLOCK + 5];
        let b = vec![b'b'; 3 * WRITE_BLOCK + 7];
        // Bodies that arrive in small pieces, so that both requests are in flight at once.
        let slow = |data: &[u8]| -> ByteStream {
            let pieces: Vec<Bytes> = data.chunks(64 * 1024).map(Bytes::copy_from_slice).collect();
            futures_util::stream::iter(pieces)
                .then(|p| async move {
                    tokio::task::yield_now().await;
                    Ok(p)
                })
                .boxed()
        };
        let (ra, rb) = tokio::join!(
            store.append("c", ChunkBounds::default(), slow(&a)),
            store.append("c", ChunkBounds::default(), slow(&b))
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let got = std::fs::read(dir.path().join("uploads/c.data")).unwrap();
        let whole = if ra < rb { [a, b].concat() } else { [b, a].concat() };
        assert_eq!(ra.max(rb), whole.len() as u64);
        assert!(got == whole, "the two bodies were interleaved");
        assert_eq!(store.finish_upload("c", &Digest::sha256_of(&whole)).await.unwrap(), whole.len() as u64);
    }

    #[tokio::test]
    async fn an_append_dropped_by_its_caller_ends_before_the_next_request() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        store.create_upload("d").await.unwrap();
        // A block and a half arrive, then the body waits, as on a connection that went quiet.
        let data: Vec<u8> = (0..WRITE_BLOCK * 3 / 2).map(|i| (i % 239) as u8).collect();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let stalled: ByteStream = futures_util::stream::iter([Ok(Bytes::from(data.clone()))])
            .chain(futures_util::stream::once(async move {
                let _ = rx.await;
                Err(std::io::Error::other("connection closed"))
            }))
            .boxed();
        let r =
            tokio::time::timeout(Duration::from_millis(100), store.append("d", ChunkBounds::default(), stalled)).await;
        assert!(r.is_err(), "the append was to wait for its body");
        // The request is gone (dropped); then its connection fails.
        drop(tx);
        // What the body brought is written and hashed before the next request on the upload runs.
        assert_eq!(store.finish_upload("d", &Digest::sha256_of(&data)).await.unwrap(), data.len() as u64);
        assert_eq!(collect(store.read(&Digest::sha256_of(&data), None).await.unwrap().into_stream()).await, data);
    }

    #[tokio::test]
    async fn a_short_body_is_rolled_back_with_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        store.create_upload("s").await.unwrap();
        store.append("s", ChunkBounds::default(), body(&[b"12".as_slice()])).await.unwrap();
        let err = store
            .append("s", ChunkBounds { start: Some(2), len: Some(5) }, body(&[b"34".as_slice()]))
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::SizeMismatch { expected: 5, actual: 2 }), "{err}");
        // The hash of what is left is kept: the next chunk does not read the data again.
        let hashed = store.inner.state("s").lock().await.hash.as_ref().map(|h| h.0);
        assert_eq!(hashed, Some(2));
        store.append("s", ChunkBounds { start: Some(2), len: Some(2) }, body(&[b"ab".as_slice()])).await.unwrap();
        assert_eq!(store.finish_upload("s", &Digest::sha256_of(b"12ab")).await.unwrap(), 4);
    }

    #[tokio::test]
    async fn requests_on_unknown_uploads_keep_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let err = store.append("nope", ChunkBounds::default(), body(&[b"x".as_slice()])).await.unwrap_err();
        assert!(matches!(err, StorageError::UploadUnknown), "{err}");
        let err = store.finish_upload("nope", &Digest::sha256_of(b"x")).await.unwrap_err();
        assert!(matches!(err, StorageError::UploadUnknown), "{err}");
        store.delete_upload("nope").await.unwrap();
        assert_eq!(kept_states(&store), 0);
        assert!(store.list_uploads().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn reads_span_several_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..READ_CHUNK * 2 + 100).map(|i| (i % 253) as u8).collect();
        store.create_upload("r").await.unwrap();
        store.append("r", ChunkBounds::default(), body(&[&data])).await.unwrap();
        let d = Digest::sha256_of(&data);
        store.finish_upload("r", &d).await.unwrap();
        assert_eq!(collect(store.read(&d, None).await.unwrap().into_stream()).await, data);
        let r = ByteRange { start: READ_CHUNK as u64 - 1, end: READ_CHUNK as u64 * 2 + 50 };
        let got = collect(store.read(&d, Some(r)).await.unwrap().into_stream()).await;
        assert_eq!(got, &data[r.start as usize..=r.end as usize]);
    }
}
