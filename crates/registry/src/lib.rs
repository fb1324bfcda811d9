//! The domain: push, pull, delete, mount, tags, referrers and catalog, over a [`BlobStore`] and a
//! [`MetaStore`].
//!
//! **Invariants:** a blob is served only through a repository that has it (uploaded, mounted, or
//! referenced by a manifest pushed there); blob content is durable and recorded before an upload is
//! acknowledged; an upload session belongs to the repository it was started in.
//!
//! **Boundary:** no HTTP here. The http crate parses requests, decides access, and calls these
//! methods; errors carry a spec [`ErrorCode`] and the http crate renders them.

pub mod accounts;
pub mod index;
mod throttle;
pub mod webhooks;

use berth_meta::{ManifestRecord, MetaError, MetaStore, NewManifest, Referrer};
use berth_oci::manifest::MAX_MANIFEST_SIZE;
use berth_oci::{ByteRange, Digest, ErrorCode, ManifestError, Reference, RepoName, Tag};
use berth_storage::{BlobStore, ByteStream, ChunkBounds, StorageError};
use std::sync::Arc;
use std::time::Duration;

pub use berth_storage::BlobRead;

/// A failure of a registry operation, by meaning.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("blob unknown to the repository")]
    BlobUnknown,
    #[error("upload session unknown")]
    UploadUnknown,
    #[error("chunk out of order: it starts at {start}, the upload has {received} bytes")]
    OutOfOrder { start: u64, received: u64 },
    #[error("{0}")]
    SizeInvalid(String),
    #[error("{0}")]
    DigestInvalid(String),
    #[error("{0}")]
    UploadInvalid(String),
    #[error("repository name not known to registry")]
    NameUnknown,
    #[error("manifest unknown")]
    ManifestUnknown,
    #[error("{0}")]
    ManifestInvalid(String),
    #[error("manifest references content the repository does not have: {}", list(.0))]
    ManifestBlobUnknown(Vec<Digest>),
    #[error("manifest is larger than the {MAX_MANIFEST_SIZE}-byte limit")]
    ManifestTooLarge,
    #[error("internal error: {0}")]
    Internal(String),
}

fn list(d: &[Digest]) -> String {
    d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
}

impl RegistryError {
    /// The spec error code this failure is reported with.
    pub fn code(&self) -> ErrorCode {
        use RegistryError::*;
        match self {
            BlobUnknown => ErrorCode::BlobUnknown,
            UploadUnknown => ErrorCode::BlobUploadUnknown,
            OutOfOrder { .. } | UploadInvalid(_) => ErrorCode::BlobUploadInvalid,
            SizeInvalid(_) | ManifestTooLarge => ErrorCode::SizeInvalid,
            DigestInvalid(_) => ErrorCode::DigestInvalid,
            NameUnknown => ErrorCode::NameUnknown,
            ManifestUnknown => ErrorCode::ManifestUnknown,
            ManifestInvalid(_) => ErrorCode::ManifestInvalid,
            ManifestBlobUnknown(_) => ErrorCode::ManifestBlobUnknown,
            Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<MetaError> for RegistryError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::MissingReferences(d) => RegistryError::ManifestBlobUnknown(d),
            MetaError::Database(m) => RegistryError::Internal(m),
        }
    }
}

impl From<StorageError> for RegistryError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => RegistryError::BlobUnknown,
            StorageError::UploadUnknown => RegistryError::UploadUnknown,
            StorageError::DigestMismatch { expected, actual } => {
                RegistryError::DigestInvalid(format!("the content's digest is {actual}, not {expected}"))
            }
            StorageError::OutOfOrder { start, received } => RegistryError::OutOfOrder { start, received },
            StorageError::SizeMismatch { expected, actual } => {
                RegistryError::SizeInvalid(format!("Content-Range announced {expected} bytes, the body had {actual}"))
            }
            StorageError::Body(e) => RegistryError::UploadInvalid(format!("reading the request body failed: {e}")),
            StorageError::Io(e) => RegistryError::Internal(e.to_string()),
        }
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Settings of the domain.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// An upload session idle for longer is removed with its data.
    pub upload_ttl: Duration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig { upload_ttl: Duration::from_secs(24 * 3600) }
    }
}

/// The result of a manifest push.
#[derive(Debug, Clone)]
pub struct PushedManifest {
    pub digest: Digest,
    pub subject: Option<Digest>,
    pub tags: Vec<Tag>,
}

/// The registry service.
#[derive(Debug, Clone)]
pub struct Registry {
    blobs: Arc<dyn BlobStore>,
    meta: Arc<dyn MetaStore>,
    config: RegistryConfig,
}

impl Registry {
    pub fn new(blobs: Arc<dyn BlobStore>, meta: Arc<dyn MetaStore>, config: RegistryConfig) -> Registry {
        Registry { blobs, meta, config }
    }

    // ---- blobs ----

    /// The size of a blob the repository has.
    pub async fn stat_blob(&self, name: &RepoName, digest: &Digest) -> Result<u64> {
        self.meta.repository_blob(name, digest).await?.ok_or(RegistryError::BlobUnknown)
    }

    /// Opens a blob of the repository for reading (`range` already resolved against its size).
    pub async fn read_blob(&self, digest: &Digest, range: Option<ByteRange>) -> Result<BlobRead> {
        Ok(self.blobs.read(digest, range).await?)
    }

    /// Removes a blob from the repository (its content stays until garbage collection).
    pub async fn delete_blob(&self, name: &RepoName, digest: &Digest) -> Result<()> {
        if self.meta.remove_blob(name, digest).await? {
            Ok(())
        } else {
            Err(RegistryError::BlobUnknown)
        }
    }

    /// Adds a blob of `from` to `name`; `None` when `from` does not have it (the caller then starts
    /// an upload instead).
    pub async fn mount_blob(&self, name: &RepoName, from: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        if self.meta.repository_blob(from, digest).await?.is_none() || self.blobs.stat(digest).await?.is_none() {
            return Ok(None);
        }
        Ok(self.meta.mount_blob(from, name, digest).await?)
    }

    // ---- uploads ----

    /// Starts an upload session in the repository; returns its id.
    pub async fn start_upload(&self, name: &RepoName) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        self.blobs.create_upload(&id).await?;
        if let Err(e) = self.meta.create_upload(&id, name).await {
            let _ = self.blobs.delete_upload(&id).await;
            return Err(e.into());
        }
        Ok(id)
    }

    /// Stores a whole blob sent in one request.
    pub async fn put_blob(&self, name: &RepoName, digest: &Digest, len: Option<u64>, body: ByteStream) -> Result<u64> {
        let id = format!("mono-{}", uuid::Uuid::new_v4());
        self.blobs.create_upload(&id).await?;
        let r = async {
            self.blobs.append(&id, ChunkBounds { start: Some(0), len }, body).await?;
            let size = self.blobs.finish_upload(&id, digest).await?;
            self.meta.add_blob(name, digest, size).await?;
            Ok(size)
        }
        .await;
        if r.is_err() {
            let _ = self.blobs.delete_upload(&id).await;
        }
        r
    }

    async fn session(&self, name: &RepoName, id: &str) -> Result<berth_meta::UploadSession> {
        match self.meta.get_upload(id).await? {
            Some(s) if &s.repository == name => Ok(s),
            _ => Err(RegistryError::UploadUnknown),
        }
    }

    /// How many bytes the upload has received.
    pub async fn upload_status(&self, name: &RepoName, id: &str) -> Result<u64> {
        self.session(name, id).await?;
        Ok(self.blobs.upload_size(id).await?)
    }

    /// Appends a chunk (or a streamed body) to an upload; returns the received size.
    pub async fn patch_upload(&self, name: &RepoName, id: &str, bounds: ChunkBounds, body: ByteStream) -> Result<u64> {
        let session = self.session(name, id).await?;
        let r = self.blobs.append(id, bounds, body).await;
        // Activity is recorded at most once a minute (or a quarter of the expiry time, if shorter).
        let every = (self.config.upload_ttl.as_secs() / 4).min(60) as i64;
        if session.updated_at < berth_meta::now() - every {
            self.meta.touch_upload(id).await?;
        }
        Ok(r?)
    }

    /// Completes an upload with an optional last chunk, verifying `digest`.
    pub async fn finish_upload(
        &self,
        name: &RepoName,
        id: &str,
        digest: &Digest,
        last_chunk: Option<(ChunkBounds, ByteStream)>,
    ) -> Result<u64> {
        self.session(name, id).await?;
        if let Some((bounds, body)) = last_chunk {
            self.blobs.append(id, bounds, body).await?;
        }
        match self.blobs.finish_upload(id, digest).await {
            Ok(size) => {
                self.meta.add_uploaded_blob(name, digest, size, id).await?;
                Ok(size)
            }
            Err(e @ StorageError::DigestMismatch { .. }) => {
                // The store removed the data; the session goes with it.
                self.meta.delete_upload(id).await?;
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Cancels an upload and removes its data.
    pub async fn cancel_upload(&self, name: &RepoName, id: &str) -> Result<()> {
        self.session(name, id).await?;
        self.blobs.delete_upload(id).await?;
        self.meta.delete_upload(id).await?;
        Ok(())
    }

    /// Removes upload sessions idle for longer than the configured time, with their data. With
    /// `startup`, also removes upload data that no session owns (left by a crash).
    pub async fn sweep_uploads(&self, startup: bool) -> Result<usize> {
        let cutoff = berth_meta::now() - self.config.upload_ttl.as_secs() as i64;
        let sessions = self.meta.list_uploads().await?;
        let mut removed = 0;
        for (id, updated) in &sessions {
            if *updated < cutoff {
                self.blobs.delete_upload(id).await?;
                self.meta.delete_upload(id).await?;
                removed += 1;
            }
        }
        if startup {
            for id in self.blobs.list_uploads().await? {
                if !sessions.iter().any(|(s, _)| *s == id) {
                    self.blobs.delete_upload(&id).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    // ---- manifests ----

    /// Validates and stores a manifest, pointing the reference's tag and `extra_tags` at it.
    pub async fn put_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        body: Vec<u8>,
        extra_tags: Vec<Tag>,
        actor: Option<&str>,
    ) -> Result<PushedManifest> {
        if body.len() > MAX_MANIFEST_SIZE {
            return Err(RegistryError::ManifestTooLarge);
        }
        let info = berth_oci::manifest::parse(content_type, &body).map_err(|e| match e {
            ManifestError::Schema1 => RegistryError::ManifestInvalid(e.to_string()),
            other => RegistryError::ManifestInvalid(other.to_string()),
        })?;
        let digest = match reference {
            Reference::Digest(d) => {
                let actual = Digest::of(d.algorithm(), &body);
                if &actual != d {
                    return Err(RegistryError::DigestInvalid(format!("the manifest's digest is {actual}, not {d}")));
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256_of(&body),
        };
        let mut tags = extra_tags;
        if let Reference::Tag(t) = reference {
            tags.insert(0, t.clone());
        }
        tags.dedup();
        let subject = info.subject.clone();
        let platforms = self.platforms(&info, &body).await;
        self.meta
            .put_manifest(
                name,
                NewManifest {
                    digest: digest.clone(),
                    media_type: info.media_type,
                    content: body,
                    blobs: info.blobs,
                    children: info.children,
                    subject: info.subject,
                    artifact_type: info.artifact_type,
                    annotations: info.annotations,
                    tags: tags.clone(),
                    platforms,
                    actor: actor.map(str::to_owned),
                },
            )
            .await?;
        Ok(PushedManifest { digest, subject, tags })
    }

    /// The platforms a manifest is for, as a JSON array: an index's from its entries, an image's
    /// from its config blob (read only if it is an image config of at most 1 MiB). `None` when unknown.
    async fn platforms(&self, info: &berth_oci::ManifestInfo, body: &[u8]) -> Option<String> {
        let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
        let pick = |p: &serde_json::Value| {
            let mut out = serde_json::Map::new();
            for k in ["os", "architecture", "variant"] {
                if let Some(v) = p.get(k).and_then(|v| v.as_str()).filter(|v| !v.is_empty()) {
                    out.insert(k.into(), v.into());
                }
            }
            (out.contains_key("os") && out.contains_key("architecture")).then_some(serde_json::Value::Object(out))
        };
        let list: Vec<serde_json::Value> = match info.kind {
            berth_oci::media_type::ManifestKind::Index => {
                doc.get("manifests")?.as_array()?.iter().filter_map(|m| m.get("platform")).filter_map(pick).collect()
            }
            berth_oci::media_type::ManifestKind::Image => {
                let config = doc.get("config")?;
                let media_type = config.get("mediaType")?.as_str()?;
                let image_config =
                    ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];
                if !image_config.contains(&media_type) || config.get("size")?.as_u64()? > 1 << 20 {
                    return None;
                }
                let digest: Digest = config.get("digest")?.as_str()?.parse().ok()?;
                let bytes = self.read_small_blob(&digest).await?;
                let cfg: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
                pick(&cfg).into_iter().collect()
            }
        };
        let mut unique: Vec<serde_json::Value> = Vec::new();
        for p in list {
            if !unique.contains(&p) {
                unique.push(p);
            }
        }
        Some(serde_json::Value::Array(unique).to_string())
    }

    async fn read_small_blob(&self, digest: &Digest) -> Option<Vec<u8>> {
        use futures_util::StreamExt;
        let read = self.blobs.read(digest, None).await.ok()?;
        let mut out = Vec::with_capacity(read.size.min(1 << 20) as usize);
        let mut stream = read.into_stream();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.ok()?);
            if out.len() > 1 << 20 {
                return None;
            }
        }
        Some(out)
    }

    async fn unknown(&self, name: &RepoName, otherwise: RegistryError) -> RegistryError {
        match self.meta.repository_exists(name).await {
            Ok(true) => otherwise,
            Ok(false) => RegistryError::NameUnknown,
            Err(e) => e.into(),
        }
    }

    pub async fn get_manifest(&self, name: &RepoName, reference: &Reference) -> Result<ManifestRecord> {
        match self.meta.get_manifest(name, reference).await? {
            Some(m) => Ok(m),
            None => Err(self.unknown(name, RegistryError::ManifestUnknown).await),
        }
    }

    /// Deletes a tag (only the tag) or a manifest by digest (with its tags).
    pub async fn delete_manifest(&self, name: &RepoName, reference: &Reference, actor: Option<&str>) -> Result<()> {
        let deleted = match reference {
            Reference::Tag(t) => self.meta.delete_tag(name, t, actor).await?,
            Reference::Digest(d) => self.meta.delete_manifest(name, d, actor).await?,
        };
        if deleted {
            Ok(())
        } else {
            Err(self.unknown(name, RegistryError::ManifestUnknown).await)
        }
    }

    // ---- discovery ----

    /// Up to `limit` tags after `last`.
    pub async fn tags(&self, name: &RepoName, last: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.meta.list_tags(name, last, limit).await?.ok_or(RegistryError::NameUnknown)
    }

    /// Up to `limit` repository names after `last`.
    pub async fn catalog(&self, last: Option<&str>, limit: usize) -> Result<Vec<String>> {
        Ok(self.meta.list_repositories(last, limit).await?)
    }

    /// The referrers of `subject`; none (not an error) for an unknown repository, since the spec
    /// forbids a 404 from a registry that has the referrers API.
    pub async fn referrers(
        &self,
        name: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>> {
        Ok(self.meta.referrers(name, subject, artifact_type).await?.unwrap_or_default())
    }

    /// Checks both stores.
    pub async fn health(&self) -> (Result<()>, Result<()>) {
        let meta = self.meta.health().await.map_err(RegistryError::from);
        let blobs = self.blobs.health().await.map_err(RegistryError::from);
        (meta, blobs)
    }
}
