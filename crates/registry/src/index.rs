//! The index: search, repository metadata, stars, tag details and webhooks, with their permission
//! checks (docs/index.md). Access decisions are the accounts service's; this module only asks.

use crate::accounts::{AccountError, Accounts};
use berth_auth::{Action, Actions, Subject, Visibility};
use berth_meta::{
    Delivery, EventKind, IndexStore, MetaStore, NewWebhook, Page, Pull, RepoSort, RepositoryInfo, SearchHit, TagInfo,
    Webhook, WebhookFilter, WebhookUpdate,
};
use berth_oci::{RepoName, Tag};
use std::sync::{Arc, Mutex};

type Result<T, E = AccountError> = std::result::Result<T, E>;

/// Longest short description, in characters.
pub const MAX_DESCRIPTION: usize = 100;
/// Longest full description, in characters.
pub const MAX_FULL_DESCRIPTION: usize = 25_000;
/// Longest search term, in characters.
pub const MAX_TERM: usize = 255;

/// Changes to a repository's settings; `None` leaves one as it is.
#[derive(Debug, Clone, Default)]
pub struct RepositoryPatch {
    pub description: Option<String>,
    pub full_description: Option<String>,
    pub visibility: Option<Visibility>,
}

/// A webhook to create, as the API takes it.
#[derive(Debug, Clone)]
pub struct WebhookSpec {
    /// Exactly one of namespace and repository.
    pub namespace: Option<String>,
    pub repository: Option<RepoName>,
    pub url: String,
    pub events: Option<Vec<EventKind>>,
    pub secret: Option<String>,
    pub active: Option<bool>,
}

/// The index service.
#[derive(Debug, Clone)]
pub struct Index {
    store: Arc<dyn IndexStore>,
    meta: Arc<dyn MetaStore>,
    accounts: Accounts,
    pulls: Arc<Mutex<Vec<Pull>>>,
}

fn not_found(name: &RepoName) -> AccountError {
    AccountError::NotFound(format!("no repository named {name}"))
}

/// Checks a webhook URL: absolute http or https with a host.
fn check_url(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| AccountError::Invalid("url must be an http or https URL".into()))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AccountError::Invalid("url must be an http or https URL with a host".into()));
    }
    Ok(())
}

fn check_events(events: &[EventKind]) -> Result<()> {
    if events.is_empty() {
        return Err(AccountError::Invalid("events must name at least one of push, delete, pull".into()));
    }
    Ok(())
}

fn check_secret(secret: &str) -> Result<()> {
    let n = secret.chars().count();
    if !(16..=256).contains(&n) {
        return Err(AccountError::Invalid("secret must be 16 to 256 characters".into()));
    }
    Ok(())
}

fn dedup(mut events: Vec<EventKind>) -> Vec<EventKind> {
    let mut out = Vec::new();
    for e in EventKind::ALL {
        if events.contains(&e) {
            out.push(e);
        }
    }
    events.clear();
    out
}

impl Index {
    pub fn new(store: Arc<dyn IndexStore>, meta: Arc<dyn MetaStore>, accounts: Accounts) -> Index {
        Index { store, meta, accounts, pulls: Arc::new(Mutex::new(Vec::new())) }
    }

    pub fn store(&self) -> &Arc<dyn IndexStore> {
        &self.store
    }

    // ---- search ----

    /// `GET /v1/search`: a page of what `caller` may read matching `term`, with the total.
    pub async fn search(&self, caller: &Subject, term: &str, page: Page) -> Result<(Vec<SearchHit>, usize)> {
        let term = term.trim().to_lowercase();
        if term.chars().count() > MAX_TERM {
            return Err(AccountError::Invalid(format!("q may have at most {MAX_TERM} characters")));
        }
        Ok(self.store.search(&term, self.accounts.visible(caller), page).await?)
    }

    // ---- repositories ----

    /// What `caller` may do with an existing repository, or the refusal for reading it: 404 when it
    /// does not exist or the caller may not read it, 401 for an anonymous caller and an existing one.
    async fn readable(&self, caller: &Subject, name: &RepoName) -> Result<Actions> {
        self.accounts.repository(caller, name).await?;
        self.accounts.repository_actions(caller, name).await
    }

    /// Like [`Index::readable`], for a change needing `action`: refused with 401 for an anonymous
    /// caller (who might be allowed after logging in), 403 otherwise.
    async fn changeable(&self, caller: &Subject, name: &RepoName, action: Action, why: &str) -> Result<Actions> {
        let actions = self.readable(caller, name).await?;
        if !actions.contains(action) {
            return Err(if caller.is_anonymous() {
                AccountError::Unauthorized
            } else {
                AccountError::Denied(why.into())
            });
        }
        Ok(actions)
    }

    pub async fn repository(&self, caller: &Subject, name: &RepoName) -> Result<RepositoryInfo> {
        self.readable(caller, name).await?;
        self.store.repository_info(name, caller.id()).await?.ok_or_else(|| not_found(name))
    }

    pub async fn repositories(
        &self,
        caller: &Subject,
        namespace: Option<&str>,
        sort: RepoSort,
        descending: bool,
        page: Page,
    ) -> Result<(Vec<RepositoryInfo>, usize)> {
        Ok(self
            .store
            .list_repository_info(self.accounts.visible(caller), namespace, sort, descending, page, caller.id())
            .await?)
    }

    pub async fn update_repository(
        &self,
        caller: &Subject,
        name: &RepoName,
        patch: RepositoryPatch,
    ) -> Result<RepositoryInfo> {
        let actions = self.readable(caller, name).await?;
        if caller.is_anonymous() && !actions.contains(Action::Push) {
            return Err(AccountError::Unauthorized);
        }
        if let Some(d) = &patch.description {
            if d.chars().count() > MAX_DESCRIPTION || d.contains(['\n', '\r']) {
                return Err(AccountError::Invalid(format!(
                    "description must be one line of at most {MAX_DESCRIPTION} characters"
                )));
            }
        }
        if patch.full_description.as_ref().is_some_and(|d| d.chars().count() > MAX_FULL_DESCRIPTION) {
            return Err(AccountError::Invalid(format!(
                "full_description may have at most {MAX_FULL_DESCRIPTION} characters"
            )));
        }
        let describes = patch.description.is_some() || patch.full_description.is_some();
        if describes && !actions.contains(Action::Push) {
            return Err(AccountError::Denied("changing descriptions needs write access to the repository".into()));
        }
        if patch.visibility.is_some() && !actions.contains(Action::Delete) {
            return Err(AccountError::Denied("changing visibility needs admin rights on the repository".into()));
        }
        if describes && !self.store.set_descriptions(name, patch.description, patch.full_description).await? {
            return Err(not_found(name));
        }
        if let Some(v) = patch.visibility {
            self.accounts.set_visibility(caller, name, v).await?;
        }
        self.repository(caller, name).await
    }

    pub async fn delete_repository(&self, caller: &Subject, name: &RepoName) -> Result<()> {
        self.changeable(caller, name, Action::Delete, "deleting a repository needs admin rights on it").await?;
        if !self.store.delete_repository(name, actor(caller)).await? {
            return Err(not_found(name));
        }
        Ok(())
    }

    // ---- stars ----

    pub async fn set_star(&self, caller: &Subject, name: &RepoName, starred: bool) -> Result<()> {
        let Subject::Account { id, robot, .. } = caller else { return Err(AccountError::Unauthorized) };
        self.readable(caller, name).await?;
        if *robot {
            return Err(AccountError::Denied("robots cannot star repositories".into()));
        }
        if !self.store.set_star(*id, name, starred).await? {
            return Err(not_found(name));
        }
        Ok(())
    }

    /// What `user` starred, as far as `caller` may read.
    pub async fn starred(&self, caller: &Subject, user: &str) -> Result<Vec<RepositoryInfo>> {
        let account = self.accounts.account_named(user).await?;
        Ok(self.store.starred(account.id, self.accounts.visible(caller), caller.id()).await?)
    }

    // ---- tags ----

    pub async fn tags(&self, caller: &Subject, name: &RepoName, page: Page) -> Result<(Vec<TagInfo>, usize)> {
        self.readable(caller, name).await?;
        self.store.tag_infos(name, page).await?.ok_or_else(|| not_found(name))
    }

    pub async fn tag(&self, caller: &Subject, name: &RepoName, tag: &str) -> Result<TagInfo> {
        self.readable(caller, name).await?;
        self.store.tag_info(name, tag).await?.ok_or_else(|| AccountError::NotFound(format!("no tag {tag:?} in {name}")))
    }

    pub async fn delete_tag(&self, caller: &Subject, name: &RepoName, tag: &str) -> Result<()> {
        self.changeable(caller, name, Action::Delete, "deleting a tag needs the delete right on the repository")
            .await?;
        let missing = || AccountError::NotFound(format!("no tag {tag:?} in {name}"));
        let t: Tag = tag.parse().map_err(|_| missing())?;
        if !self.meta.delete_tag(name, &t, actor(caller)).await? {
            return Err(missing());
        }
        Ok(())
    }

    // ---- pulls ----

    /// Notes a manifest pulled (a `GET` answered 200); written by [`Index::flush_pulls`].
    pub fn record_pull(&self, pull: Pull) {
        self.pulls.lock().unwrap_or_else(|p| p.into_inner()).push(pull);
    }

    /// Writes the pulls noted since the last call.
    pub async fn flush_pulls(&self) -> Result<usize> {
        let pulls = std::mem::take(&mut *self.pulls.lock().unwrap_or_else(|p| p.into_inner()));
        let n = pulls.len();
        if n > 0 {
            if let Err(e) = self.store.record_pulls(pulls.clone()).await {
                // Keep them for the next try.
                let mut held = self.pulls.lock().unwrap_or_else(|p| p.into_inner());
                let newer = std::mem::replace(&mut *held, pulls);
                held.extend(newer);
                return Err(e.into());
            }
        }
        Ok(n)
    }

    // ---- webhooks ----

    /// Whether `caller` manages the webhook's namespace or repository.
    async fn manages(&self, caller: &Subject, namespace: &str, repository: Option<&str>) -> Result<bool> {
        match repository {
            Some(r) => {
                let name: RepoName = r.parse().map_err(|_| AccountError::Internal(format!("bad repository {r}")))?;
                Ok(self.accounts.repository_actions(caller, &name).await?.contains(Action::Delete))
            }
            None => self.accounts.manages_namespace(caller, namespace).await,
        }
    }

    pub async fn create_webhook(&self, caller: &Subject, spec: WebhookSpec) -> Result<Webhook> {
        if caller.is_anonymous() && self.accounts.enabled() {
            return Err(AccountError::Unauthorized);
        }
        let (namespace, repository) = match (spec.namespace, spec.repository) {
            (Some(ns), None) => {
                berth_auth::names::check_account_name(&ns, true)
                    .map_err(|e| AccountError::Invalid(format!("namespace: {e}")))?;
                (ns, None)
            }
            (None, Some(r)) => (r.namespace().to_owned(), Some(r.as_str().to_owned())),
            _ => return Err(AccountError::Invalid("give exactly one of namespace and repository".into())),
        };
        check_url(&spec.url)?;
        let events = dedup(spec.events.unwrap_or_else(|| vec![EventKind::Push, EventKind::Delete]));
        check_events(&events)?;
        let secret = match spec.secret {
            Some(s) => {
                check_secret(&s)?;
                s
            }
            None => berth_auth::secret::random_hex(32),
        };
        if !self.manages(caller, &namespace, repository.as_deref()).await? {
            return Err(AccountError::Denied(match &repository {
                Some(r) => format!("webhooks of {r} need admin rights on it"),
                None => format!("webhooks of the namespace {namespace} need its owner or an admin"),
            }));
        }
        Ok(self
            .store
            .create_webhook(NewWebhook {
                namespace,
                repository,
                url: spec.url,
                secret,
                events,
                active: spec.active.unwrap_or(true),
            })
            .await?)
    }

    /// A webhook the caller manages; others are NotFound.
    pub async fn webhook(&self, caller: &Subject, id: i64) -> Result<Webhook> {
        if caller.is_anonymous() && self.accounts.enabled() {
            return Err(AccountError::Unauthorized);
        }
        let missing = || AccountError::NotFound(format!("no webhook {id}"));
        let hook = self.store.webhook(id).await?.ok_or_else(missing)?;
        if !self.manages(caller, &hook.namespace, hook.repository.as_deref()).await? {
            return Err(missing());
        }
        Ok(hook)
    }

    pub async fn webhooks(&self, caller: &Subject, filter: WebhookFilter) -> Result<Vec<Webhook>> {
        if caller.is_anonymous() && self.accounts.enabled() {
            return Err(AccountError::Unauthorized);
        }
        let mut out = Vec::new();
        for hook in self.store.list_webhooks(filter).await? {
            if self.manages(caller, &hook.namespace, hook.repository.as_deref()).await? {
                out.push(hook);
            }
        }
        Ok(out)
    }

    pub async fn update_webhook(&self, caller: &Subject, id: i64, mut update: WebhookUpdate) -> Result<Webhook> {
        self.webhook(caller, id).await?;
        if let Some(u) = &update.url {
            check_url(u)?;
        }
        if let Some(s) = &update.secret {
            check_secret(s)?;
        }
        if let Some(e) = update.events.take() {
            let e = dedup(e);
            check_events(&e)?;
            update.events = Some(e);
        }
        self.store.update_webhook(id, update).await?.ok_or_else(|| AccountError::NotFound(format!("no webhook {id}")))
    }

    pub async fn delete_webhook(&self, caller: &Subject, id: i64) -> Result<()> {
        self.webhook(caller, id).await?;
        self.store.delete_webhook(id).await?;
        Ok(())
    }

    pub async fn deliveries(&self, caller: &Subject, id: i64, page: Page) -> Result<(Vec<Delivery>, usize)> {
        self.webhook(caller, id).await?;
        Ok(self.store.deliveries(id, page).await?)
    }
}

/// The account name to report as the actor of a change.
pub fn actor(caller: &Subject) -> Option<&str> {
    match caller {
        Subject::Anonymous => None,
        Subject::Account { name, .. } => Some(name),
    }
}
