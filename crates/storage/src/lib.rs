//! Content storage: blobs addressed by digest, and the temporary data of upload sessions.
//!
//! The [`BlobStore`] trait is deliberately narrow: it knows digests and upload ids, never repository
//! names, tags or manifests (those live in the metadata store). Every implementation runs the shared
//! suite in [`testsuite`].
//!
//! **Invariant:** a blob becomes readable only once its bytes are complete, verified against their
//! digest and durable; a partial or wrong upload is never visible under a digest.
//!
//! **Boundary:** depends only on `berth-oci`; knows nothing of HTTP or SQL.

mod fs;
pub mod testsuite;

use async_trait::async_trait;
use berth_oci::{ByteRange, Digest};
use bytes::Bytes;
use futures_util::stream::BoxStream;

pub use fs::FsBlobStore;

/// A stream of body bytes coming in (an upload) or going out (a blob read).
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("blob not found")]
    NotFound,
    #[error("upload session not found")]
    UploadUnknown,
    #[error("the content's digest is {actual}, not {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("chunk starts at {start} but {received} bytes were received so far")]
    OutOfOrder { start: u64, received: u64 },
    #[error("expected {expected} bytes, received {actual}")]
    SizeMismatch { expected: u64, actual: u64 },
    #[error("reading the request body failed: {0}")]
    Body(std::io::Error),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A blob opened for reading.
#[derive(Debug)]
pub struct BlobRead {
    /// The whole blob's size.
    pub size: u64,
    /// The bytes of the requested range (or of the whole blob).
    pub body: BlobBody,
}

/// Where a read blob's bytes come from.
pub enum BlobBody {
    /// Bytes produced by the store.
    Stream(ByteStream),
    /// A span of a local file, which the server may hand to the kernel (`sendfile`) instead of copying.
    File(FileSpan),
}

impl std::fmt::Debug for BlobBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobBody::Stream(_) => f.write_str("Stream"),
            BlobBody::File(span) => span.fmt(f),
        }
    }
}

/// `len` bytes of an open file from `offset`.
#[derive(Debug)]
pub struct FileSpan {
    pub file: std::fs::File,
    pub offset: u64,
    pub len: u64,
}

/// Reads `len` bytes of `file` from `offset` (blocking: call it on a blocking thread); a file that
/// ends before is an `UnexpectedEof` error.
pub fn read_span(file: &std::fs::File, offset: u64, len: usize) -> std::io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(Bytes::from(buf))
}

/// Whether the byte at `offset` of `file` is in the page cache (a read of it would not wait for the
/// disk). A filesystem that cannot tell counts as cached.
pub fn is_cached(file: &std::fs::File, offset: u64) -> bool {
    let mut byte = [0u8; 1];
    let iov = &mut [std::io::IoSliceMut::new(&mut byte)];
    match rustix::io::preadv2(file, iov, offset, rustix::io::ReadWriteFlags::NOWAIT) {
        Ok(_) => true,
        Err(e) => e != rustix::io::Errno::AGAIN,
    }
}

impl BlobBody {
    /// The bytes as a stream, whatever their source.
    pub fn into_stream(self) -> ByteStream {
        match self {
            BlobBody::Stream(s) => s,
            BlobBody::File(span) => fs::span_stream(span),
        }
    }
}

impl BlobRead {
    /// The bytes as a stream, whatever their source.
    pub fn into_stream(self) -> ByteStream {
        self.body.into_stream()
    }
}

/// A chunk appended to an upload: where the client says it starts and how long it is, if it says.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChunkBounds {
    pub start: Option<u64>,
    pub len: Option<u64>,
}

#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug + 'static {
    /// The size of a stored blob, or `None`.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>>;

    /// Opens a blob, for the given range or whole.
    async fn read(&self, digest: &Digest, range: Option<ByteRange>) -> Result<BlobRead>;

    /// Removes a blob's content (garbage collection only: the registry never calls it on a request path).
    async fn delete(&self, digest: &Digest) -> Result<()>;

    /// Creates an empty upload session's data.
    async fn create_upload(&self, id: &str) -> Result<()>;

    /// How many bytes an upload has received, or [`StorageError::UploadUnknown`].
    async fn upload_size(&self, id: &str) -> Result<u64>;

    /// Appends a body to an upload; returns the upload's new size. A chunk that does not start at the
    /// received size is refused without reading it; one whose length differs from `bounds.len` is
    /// rolled back.
    async fn append(&self, id: &str, bounds: ChunkBounds, body: ByteStream) -> Result<u64>;

    /// Verifies the upload against `expected`, makes it durable and moves it into place as that blob;
    /// returns its size. On a digest mismatch the upload is removed and nothing is stored.
    async fn finish_upload(&self, id: &str, expected: &Digest) -> Result<u64>;

    /// Removes an upload's data; unknown ids are not an error.
    async fn delete_upload(&self, id: &str) -> Result<()>;

    /// The ids of every upload whose data exists.
    async fn list_uploads(&self) -> Result<Vec<String>>;

    /// Checks that the store is reachable and writable.
    async fn health(&self) -> Result<()>;
}
