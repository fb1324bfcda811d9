//! The metadata store: everything but content. Repositories, which blobs each repository has,
//! manifests (their bytes, which are small, and what they reference), tags, subjects and upload
//! sessions.
//!
//! The domain talks to the [`MetaStore`] trait only; [`SqliteMeta`] is the embedded default. A
//! PostgreSQL backend implements the same trait with its own migrations and runs [`testsuite`].
//!
//! **Invariant:** a manifest and its tags are written in one transaction that first checks every
//! blob and child manifest it references is in the repository: a tag never points at something
//! whose content is missing.
//!
//! **Boundary:** depends only on `berth-oci` and the pure types of `berth-auth`; knows nothing of
//! HTTP or of how blobs are stored.

pub mod accounts;
pub mod index;
mod sqlite;
mod sqlite_accounts;
mod sqlite_index;
pub mod testsuite;

use async_trait::async_trait;
use berth_oci::{Digest, Reference, RepoName, Tag};

pub use accounts::{
    AccessToken, Account, AccountKind, AccountStore, AccountUpdate, NewAccount, RepoAccessFacts, Team, Visible,
};
pub use index::{
    Attempt, AttemptOutcome, Delivery, DeliveryStatus, DueDelivery, EventKind, IndexStore, NewWebhook, Page, Pull,
    RepoSort, RepositoryInfo, SearchHit, TagInfo, Webhook, WebhookFilter, WebhookUpdate,
};
pub use sqlite::SqliteMeta;

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// A manifest references blobs or manifests the repository does not have.
    #[error("manifest references content unknown to the repository: {0:?}")]
    MissingReferences(Vec<Digest>),
    #[error("metadata database error: {0}")]
    Database(String),
}

impl From<rusqlite::Error> for MetaError {
    fn from(e: rusqlite::Error) -> Self {
        MetaError::Database(e.to_string())
    }
}

pub type Result<T, E = MetaError> = std::result::Result<T, E>;

/// A manifest as stored: its exact bytes and how to serve them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRecord {
    pub digest: Digest,
    pub media_type: String,
    pub content: Vec<u8>,
}

/// A manifest to store, with what it references (already validated by the caller).
#[derive(Debug, Clone)]
pub struct NewManifest {
    pub digest: Digest,
    pub media_type: String,
    pub content: Vec<u8>,
    pub blobs: Vec<Digest>,
    pub children: Vec<Digest>,
    pub subject: Option<Digest>,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
    pub tags: Vec<Tag>,
    /// JSON array of the platforms it is for (`{"os","architecture","variant"?}`), when known.
    pub platforms: Option<String>,
    /// Who pushed it, for webhooks.
    pub actor: Option<String>,
}

/// A manifest whose subject is a given digest, as the referrers API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    /// The annotations object, as JSON text.
    pub annotations: Option<String>,
}

/// An upload session and the repository it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    pub id: String,
    pub repository: RepoName,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last activity.
    pub updated_at: i64,
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[async_trait]
pub trait MetaStore: Send + Sync + std::fmt::Debug + 'static {
    async fn repository_exists(&self, name: &RepoName) -> Result<bool>;

    /// The size of a blob, if the repository has it.
    async fn repository_blob(&self, name: &RepoName, digest: &Digest) -> Result<Option<u64>>;

    /// Records a stored blob and adds it to the repository (created if new).
    async fn add_blob(&self, name: &RepoName, digest: &Digest, size: u64) -> Result<()>;

    /// [`MetaStore::add_blob`] and the end of the upload session it came from, in one transaction.
    async fn add_uploaded_blob(&self, name: &RepoName, digest: &Digest, size: u64, upload_id: &str) -> Result<()>;

    /// Adds a blob of `from` to `to`; returns its size, or `None` when `from` does not have it.
    async fn mount_blob(&self, from: &RepoName, to: &RepoName, digest: &Digest) -> Result<Option<u64>>;

    /// Removes a blob from a repository (the content stays for garbage collection); false if it was not there.
    async fn remove_blob(&self, name: &RepoName, digest: &Digest) -> Result<bool>;

    /// Stores a manifest and points its tags at it, in one transaction; refuses it with
    /// [`MetaError::MissingReferences`] when the repository lacks a blob or child manifest.
    async fn put_manifest(&self, name: &RepoName, manifest: NewManifest) -> Result<()>;

    async fn get_manifest(&self, name: &RepoName, reference: &Reference) -> Result<Option<ManifestRecord>>;

    /// Removes a manifest and every tag pointing at it (queueing its delete event); false if it was not there.
    async fn delete_manifest(&self, name: &RepoName, digest: &Digest, actor: Option<&str>) -> Result<bool>;

    /// Removes a tag only (queueing its delete event); false if it was not there.
    async fn delete_tag(&self, name: &RepoName, tag: &Tag, actor: Option<&str>) -> Result<bool>;

    /// Up to `limit` tags after `last`, in lexical order; `None` for an unknown repository.
    async fn list_tags(&self, name: &RepoName, last: Option<&str>, limit: usize) -> Result<Option<Vec<String>>>;

    /// Up to `limit` repository names after `last`, in lexical order.
    async fn list_repositories(&self, last: Option<&str>, limit: usize) -> Result<Vec<String>>;

    /// The manifests of the repository whose subject is `subject`, optionally of one artifact type;
    /// `None` for an unknown repository.
    async fn referrers(
        &self,
        name: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<Referrer>>>;

    /// Upload-session bookkeeping (create, touch, delete) need not be durable on its own: a session
    /// lost to a power cut only makes its client start that upload again.
    async fn create_upload(&self, id: &str, name: &RepoName) -> Result<()>;
    async fn get_upload(&self, id: &str) -> Result<Option<UploadSession>>;
    /// Marks activity on an upload (for expiry).
    async fn touch_upload(&self, id: &str) -> Result<()>;
    async fn delete_upload(&self, id: &str) -> Result<()>;
    /// Every upload id, with its last activity.
    async fn list_uploads(&self) -> Result<Vec<(String, i64)>>;

    /// Checks that the store answers.
    async fn health(&self) -> Result<()>;
}
