//! The index part of the JSON API: repositories (metadata, stars, tags) and webhooks
//! (docs/index.md). Each handler authenticates, then calls the index service, which checks rights.

use crate::api::{body, invalid, no_content, ok, parse_visibility, repo_name, rfc3339, MaybeWho, Who};
use crate::search::positive;
use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use berth_meta::{Delivery, EventKind, Page, RepoSort, RepositoryInfo, TagInfo, Webhook, WebhookFilter, WebhookUpdate};
use berth_registry::index::{RepositoryPatch, WebhookSpec};
use serde::Deserialize;
use serde_json::{json, Value};

type Result<T, E = ApiError> = std::result::Result<T, E>;

const DEFAULT_PAGE: usize = 25;
const MAX_PAGE: usize = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/repositories", get(list_repositories))
        .route("/repositories/{*rest}", any(repository_any))
        .route("/users/{name}/starred", get(starred))
        .route("/webhooks", get(list_webhooks).post(create_webhook))
        .route("/webhooks/{id}", get(get_webhook).patch(patch_webhook).delete(delete_webhook))
        .route("/webhooks/{id}/deliveries", get(deliveries))
}

/// Query parameters.
struct Params(Vec<(String, String)>);

impl Params {
    fn new(q: Option<String>) -> Params {
        Params(form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes()).into_owned().collect())
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `page` and `page_size`, checked.
    fn page(&self) -> Result<(usize, usize, Page)> {
        let page = positive(self.get("page"), "page", 1)?;
        let size = positive(self.get("page_size"), "page_size", DEFAULT_PAGE)?.min(MAX_PAGE);
        Ok((page, size, Page { offset: (page - 1).saturating_mul(size), limit: size }))
    }
}

fn opt_time(t: Option<i64>) -> Value {
    t.map(rfc3339).into()
}

fn repository_json(r: &RepositoryInfo, full: bool) -> Value {
    let mut v = json!({
        "name": r.name,
        "namespace": r.namespace,
        "official": !r.name.contains('/'),
        "visibility": r.visibility,
        "description": r.description,
        "star_count": r.star_count,
        "starred": r.starred,
        "pull_count": r.pull_count,
        "last_pushed": opt_time(r.last_pushed),
        "created_at": rfc3339(r.created_at),
        "size": r.size,
        "tag_count": r.tag_count,
    });
    if full {
        v["full_description"] = r.full_description.clone().into();
    }
    v
}

fn tag_json(t: &TagInfo) -> Value {
    let platforms: Value = serde_json::from_str(&t.platforms).unwrap_or_else(|_| json!([]));
    json!({
        "name": t.name,
        "digest": t.digest,
        "media_type": t.media_type,
        "size": t.size,
        "platforms": platforms,
        "pushed_at": rfc3339(t.pushed_at),
    })
}

fn paged(key: &str, items: Vec<Value>, page: usize, size: usize, total: usize) -> Value {
    json!({ key: items, "page": page, "page_size": size, "total": total })
}

// ---- repositories ----

async fn list_repositories(
    State(app): State<AppState>,
    MaybeWho(who): MaybeWho,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let p = Params::new(q);
    let sort = match p.get("sort").unwrap_or("name") {
        "name" => RepoSort::Name,
        "stars" => RepoSort::Stars,
        "pulls" => RepoSort::Pulls,
        "pushed" => RepoSort::Pushed,
        s => return Err(invalid(format!("sort must be name, stars, pulls or pushed, not {s:?}"))),
    };
    let descending = match p.get("order") {
        None => sort != RepoSort::Name,
        Some("asc") => false,
        Some("desc") => true,
        Some(o) => return Err(invalid(format!("order must be asc or desc, not {o:?}"))),
    };
    let (page, size, window) = p.page()?;
    let namespace = p.get("namespace").filter(|n| !n.is_empty());
    let (list, total) = app.index.repositories(&who, namespace, sort, descending, window).await?;
    let items = list.iter().map(|r| repository_json(r, false)).collect();
    Ok(ok(StatusCode::OK, paged("repositories", items, page, size, total)))
}

/// What a path under `/repositories/` names.
enum Target<'a> {
    Repository(&'a str),
    Star(&'a str),
    Tags(&'a str),
    Tag(&'a str, &'a str),
}

fn target(rest: &str) -> Target<'_> {
    let rest = rest.trim_end_matches('/');
    if let Some(name) = rest.strip_suffix("/star") {
        return Target::Star(name);
    }
    if let Some(name) = rest.strip_suffix("/tags") {
        return Target::Tags(name);
    }
    if let Some((name, tag)) = rest.rsplit_once('/') {
        if let Some(name) = name.strip_suffix("/tags") {
            return Target::Tag(name, tag);
        }
    }
    Target::Repository(rest)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepoPatch {
    description: Option<String>,
    full_description: Option<String>,
    visibility: Option<String>,
}

fn method_not_allowed() -> ApiError {
    ApiError::api(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "this method is not supported here")
}

async fn repository_any(
    State(app): State<AppState>,
    MaybeWho(who): MaybeWho,
    method: Method,
    Path(rest): Path<String>,
    RawQuery(q): RawQuery,
    b: Bytes,
) -> Result<Response> {
    let index = &app.index;
    match target(&rest) {
        Target::Repository(name) => {
            let name = repo_name(name)?;
            match method {
                Method::GET => Ok(ok(StatusCode::OK, repository_json(&index.repository(&who, &name).await?, true))),
                Method::PATCH => {
                    let p: RepoPatch = body(&b)?;
                    let patch = RepositoryPatch {
                        description: p.description,
                        full_description: p.full_description,
                        visibility: parse_visibility(p.visibility.as_deref())?,
                    };
                    let r = index.update_repository(&who, &name, patch).await?;
                    Ok(ok(StatusCode::OK, repository_json(&r, true)))
                }
                Method::DELETE => {
                    index.delete_repository(&who, &name).await?;
                    Ok(no_content())
                }
                _ => Err(method_not_allowed()),
            }
        }
        Target::Star(name) => {
            let name = repo_name(name)?;
            let starred = match method {
                Method::PUT => true,
                Method::DELETE => false,
                _ => return Err(method_not_allowed()),
            };
            index.set_star(&who, &name, starred).await?;
            Ok(no_content())
        }
        Target::Tags(name) => {
            let name = repo_name(name)?;
            if method != Method::GET {
                return Err(method_not_allowed());
            }
            let (page, size, window) = Params::new(q).page()?;
            let (tags, total) = index.tags(&who, &name, window).await?;
            Ok(ok(StatusCode::OK, paged("tags", tags.iter().map(tag_json).collect(), page, size, total)))
        }
        Target::Tag(name, tag) => {
            let name = repo_name(name)?;
            match method {
                Method::GET => Ok(ok(StatusCode::OK, tag_json(&index.tag(&who, &name, tag).await?))),
                Method::DELETE => {
                    index.delete_tag(&who, &name, tag).await?;
                    Ok(no_content())
                }
                _ => Err(method_not_allowed()),
            }
        }
    }
}

async fn starred(State(app): State<AppState>, MaybeWho(who): MaybeWho, Path(user): Path<String>) -> Result<Response> {
    let list = app.index.starred(&who, &user).await?;
    let items: Vec<Value> = list.iter().map(|r| repository_json(r, false)).collect();
    Ok(ok(StatusCode::OK, json!({ "repositories": items })))
}

// ---- webhooks ----

fn webhook_json(w: &Webhook) -> Value {
    json!({
        "id": w.id,
        "namespace": w.namespace,
        "repository": w.repository,
        "url": w.url,
        "events": w.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "active": w.active,
        "created_at": rfc3339(w.created_at),
    })
}

fn ms_time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

fn delivery_json(d: &Delivery) -> Value {
    let payload: Value = serde_json::from_str(&d.payload).unwrap_or(Value::Null);
    json!({
        "id": d.id,
        "event": d.event,
        "status": d.status.as_str(),
        "created_at": rfc3339(d.created_at),
        "next_attempt_at": (d.status == berth_meta::DeliveryStatus::Pending).then(|| ms_time(d.next_attempt_ms)),
        "payload": payload,
        "attempts": d.attempts.iter().map(|a| json!({
            "at": ms_time(a.at_ms),
            "status_code": a.status_code,
            "error": a.error,
            "duration_ms": a.duration_ms,
        })).collect::<Vec<_>>(),
    })
}

fn events(list: Option<Vec<String>>) -> Result<Option<Vec<EventKind>>> {
    list.map(|l| {
        l.iter()
            .map(|e| {
                EventKind::parse(e).ok_or_else(|| invalid(format!("unknown event {e:?}: use push, delete or pull")))
            })
            .collect()
    })
    .transpose()
}

fn webhook_id(id: &str) -> Result<i64> {
    id.parse().map_err(|_| ApiError::api(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no webhook {id}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewHook {
    namespace: Option<String>,
    repository: Option<String>,
    url: String,
    events: Option<Vec<String>>,
    secret: Option<String>,
    active: Option<bool>,
}

async fn create_webhook(State(app): State<AppState>, Who(who): Who, b: Bytes) -> Result<Response> {
    let h: NewHook = body(&b)?;
    let spec = WebhookSpec {
        namespace: h.namespace,
        repository: h.repository.as_deref().map(repo_name).transpose()?,
        url: h.url,
        events: events(h.events)?,
        secret: h.secret,
        active: h.active,
    };
    let hook = app.index.create_webhook(&who, spec).await?;
    let mut v = webhook_json(&hook);
    v["secret"] = hook.secret.into();
    Ok(ok(StatusCode::CREATED, v))
}

async fn list_webhooks(State(app): State<AppState>, Who(who): Who, RawQuery(q): RawQuery) -> Result<Response> {
    let p = Params::new(q);
    let filter = match (p.get("namespace"), p.get("repository")) {
        (Some(ns), None) => WebhookFilter::Namespace(ns.to_owned()),
        (None, Some(r)) => WebhookFilter::Repository(repo_name(r)?.as_str().to_owned()),
        (None, None) => WebhookFilter::All,
        _ => return Err(invalid("give at most one of namespace and repository")),
    };
    let hooks = app.index.webhooks(&who, filter).await?;
    Ok(ok(StatusCode::OK, json!({ "webhooks": hooks.iter().map(webhook_json).collect::<Vec<_>>() })))
}

async fn get_webhook(State(app): State<AppState>, Who(who): Who, Path(id): Path<String>) -> Result<Response> {
    let hook = app.index.webhook(&who, webhook_id(&id)?).await?;
    Ok(ok(StatusCode::OK, webhook_json(&hook)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HookPatch {
    url: Option<String>,
    events: Option<Vec<String>>,
    secret: Option<String>,
    active: Option<bool>,
}

async fn patch_webhook(
    State(app): State<AppState>,
    Who(who): Who,
    Path(id): Path<String>,
    b: Bytes,
) -> Result<Response> {
    let p: HookPatch = body(&b)?;
    let update = WebhookUpdate { url: p.url, secret: p.secret, events: events(p.events)?, active: p.active };
    let hook = app.index.update_webhook(&who, webhook_id(&id)?, update).await?;
    Ok(ok(StatusCode::OK, webhook_json(&hook)))
}

async fn delete_webhook(State(app): State<AppState>, Who(who): Who, Path(id): Path<String>) -> Result<Response> {
    app.index.delete_webhook(&who, webhook_id(&id)?).await?;
    Ok(no_content())
}

async fn deliveries(
    State(app): State<AppState>,
    Who(who): Who,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let (page, size, window) = Params::new(q).page()?;
    let (list, total) = app.index.deliveries(&who, webhook_id(&id)?, window).await?;
    Ok(ok(StatusCode::OK, paged("deliveries", list.iter().map(delivery_json).collect(), page, size, total)))
}
