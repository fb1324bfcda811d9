//! The index side of the metadata store: repository metadata (descriptions, stars, pulls, sizes),
//! search, tag details, webhooks and their delivery queue.
//!
//! Change events (push, delete) are queued as webhook deliveries by the store itself, in the same
//! transaction as the change they report, so an acknowledged change never loses its deliveries.

use crate::{Result, Visible};
use async_trait::async_trait;
use berth_oci::RepoName;
use std::sync::Arc;

/// What changed in a repository, as webhooks report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Push,
    Delete,
    Pull,
}

impl EventKind {
    pub const ALL: [EventKind; 3] = [EventKind::Push, EventKind::Delete, EventKind::Pull];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Push => "push",
            EventKind::Delete => "delete",
            EventKind::Pull => "pull",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A manifest pulled: counted, and reported to webhooks that subscribe to pulls.
#[derive(Debug, Clone)]
pub struct Pull {
    pub repository: RepoName,
    pub tag: Option<String>,
    pub digest: String,
    pub media_type: String,
    pub actor: Option<String>,
    /// Unix seconds.
    pub at: i64,
}

/// A repository as the index shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryInfo {
    pub name: String,
    pub namespace: String,
    pub visibility: String,
    pub description: String,
    pub full_description: String,
    pub star_count: i64,
    pub pull_count: i64,
    pub last_pushed: Option<i64>,
    pub created_at: i64,
    /// Bytes of the distinct blobs it holds plus its manifests.
    pub size: i64,
    pub tag_count: i64,
    /// Whether the asking account starred it.
    pub starred: bool,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub name: String,
    pub description: String,
    pub star_count: i64,
    pub pull_count: i64,
}

/// How repository lists are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoSort {
    Name,
    Stars,
    Pulls,
    Pushed,
}

/// A page of a listing: `offset` items skipped, at most `limit` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
}

/// A tag with what it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    pub name: String,
    pub digest: String,
    pub media_type: String,
    /// The manifest's bytes plus the distinct blobs it references (for an index, also its manifests').
    pub size: i64,
    /// JSON array of `{"os","architecture","variant"?}`.
    pub platforms: String,
    pub pushed_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub namespace: String,
    /// `None`: every repository of the namespace.
    pub repository: Option<String>,
    pub url: String,
    pub secret: String,
    pub events: Vec<EventKind>,
    pub active: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub namespace: String,
    pub repository: Option<String>,
    pub url: String,
    pub secret: String,
    pub events: Vec<EventKind>,
    pub active: bool,
}

/// Fields to change on a webhook; `None` leaves one as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookUpdate {
    pub url: Option<String>,
    pub secret: Option<String>,
    pub events: Option<Vec<EventKind>>,
    pub active: Option<bool>,
}

/// Which webhooks a listing shows.
#[derive(Debug, Clone)]
pub enum WebhookFilter {
    All,
    Namespace(String),
    Repository(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One try at sending a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Unix milliseconds.
    pub at_ms: i64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A delivery with its attempts, as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub event: String,
    pub status: DeliveryStatus,
    pub created_at: i64,
    /// Unix milliseconds; meaningful while pending.
    pub next_attempt_ms: i64,
    /// The body sent, as JSON text.
    pub payload: String,
    pub attempts: Vec<Attempt>,
}

/// A delivery that is due, with what sending it needs.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub row: i64,
    pub id: String,
    pub event: String,
    pub payload: String,
    pub url: String,
    pub secret: String,
    /// Attempts made so far.
    pub attempts: u32,
}

/// What came of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at this time (unix milliseconds).
    RetryAt(i64),
    Failed,
}

#[async_trait]
pub trait IndexStore: Send + Sync + std::fmt::Debug + 'static {
    /// Repositories whose name or short description contains `term` (lowercase), ranked (see
    /// docs/index.md), among those `visible` shows; with the total number of matches.
    async fn search(&self, term: &str, visible: Visible, page: Page) -> Result<(Vec<SearchHit>, usize)>;

    /// A repository's metadata; `starred` is for `account`.
    async fn repository_info(&self, name: &RepoName, account: Option<i64>) -> Result<Option<RepositoryInfo>>;
    /// The repositories `visible` shows, optionally of one namespace, ordered; with the total.
    async fn list_repository_info(
        &self,
        visible: Visible,
        namespace: Option<&str>,
        sort: RepoSort,
        descending: bool,
        page: Page,
        account: Option<i64>,
    ) -> Result<(Vec<RepositoryInfo>, usize)>;
    /// Sets descriptions; false if the repository does not exist.
    async fn set_descriptions(
        &self,
        name: &RepoName,
        description: Option<String>,
        full_description: Option<String>,
    ) -> Result<bool>;
    /// Deletes a repository with its tags, manifests, blob membership and stars, queueing the delete
    /// event in the same transaction; false if it did not exist.
    async fn delete_repository(&self, name: &RepoName, actor: Option<&str>) -> Result<bool>;

    /// Stars or unstars a repository for an account; false if the repository does not exist.
    async fn set_star(&self, account_id: i64, name: &RepoName, starred: bool) -> Result<bool>;
    /// What `account_id` starred, most recent first, among what `visible` shows.
    async fn starred(&self, account_id: i64, visible: Visible, viewer: Option<i64>) -> Result<Vec<RepositoryInfo>>;

    /// Adds pulls to the counters and queues pull deliveries, without waiting for an fsync.
    async fn record_pulls(&self, pulls: Vec<Pull>) -> Result<()>;

    /// Tags with details, by name; `None` for an unknown repository.
    async fn tag_infos(&self, name: &RepoName, page: Page) -> Result<Option<(Vec<TagInfo>, usize)>>;
    async fn tag_info(&self, name: &RepoName, tag: &str) -> Result<Option<TagInfo>>;

    async fn create_webhook(&self, hook: NewWebhook) -> Result<Webhook>;
    async fn webhook(&self, id: i64) -> Result<Option<Webhook>>;
    async fn list_webhooks(&self, filter: WebhookFilter) -> Result<Vec<Webhook>>;
    async fn update_webhook(&self, id: i64, update: WebhookUpdate) -> Result<Option<Webhook>>;
    async fn delete_webhook(&self, id: i64) -> Result<bool>;
    /// A webhook's deliveries, newest first, with the total.
    async fn deliveries(&self, webhook_id: i64, page: Page) -> Result<(Vec<Delivery>, usize)>;
    /// Pending deliveries due at `now_ms`, oldest first.
    async fn due_deliveries(&self, now_ms: i64, limit: usize) -> Result<Vec<DueDelivery>>;
    /// The earliest time (unix ms) a pending delivery is due, if any.
    async fn next_due(&self) -> Result<Option<i64>>;
    /// Records an attempt and its outcome.
    async fn record_attempt(&self, row: i64, attempt: Attempt, outcome: AttemptOutcome) -> Result<()>;
    /// Removes finished deliveries created before `before` (unix seconds); returns how many.
    async fn prune_deliveries(&self, before: i64) -> Result<usize>;
    /// Signalled whenever a transaction queued deliveries.
    fn delivery_signal(&self) -> Arc<tokio::sync::Notify>;
}
