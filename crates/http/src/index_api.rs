//! The index part of the JSON API: repositories (metadata, stars, tags) and webhooks
//! (docs/index.md). Each handler authenticates, then calls the index service, which checks rights.
//! The handlers' `#[utoipa::path]` and `doc` are the routes' part of the OpenAPI document; the bodies
//! they answer are the types of `crate::model`.

use crate::api::{body, invalid, no_content, ok, parse_visibility, repo_name, MaybeWho, Who};
use crate::model::{
    DeliveryPage, NewWebhook, Repository, RepositoryPage, StarredList, Tag, TagPage, WebhookInfo, WebhookList,
};
use crate::openapi::{Denied, Internal, Invalid, NotFound, Throttled, Unauthorized};
use crate::search::positive;
use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use berth_meta::{EventKind, Page, RepoSort, WebhookFilter, WebhookUpdate};
use berth_registry::index::{RepositoryPatch, WebhookSpec};
use serde::Deserialize;
use utoipa::ToSchema;

pub(crate) mod doc;

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

// ---- repositories ----

/// Repositories the caller may read, a page at a time.
#[utoipa::path(
    get, path = "/repositories", tag = "repositories",
    params(crate::openapi::RepositoryListParams),
    responses(
        (status = 200, description = "A page of repositories (every field but `full_description`).", body = RepositoryPage),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security((), ("basic" = []), ("bearer" = [])),
)]
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
    let repositories = list.iter().map(Into::into).collect();
    Ok(ok(StatusCode::OK, RepositoryPage { repositories, page, page_size: size, total }))
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RepoPatch {
    description: Option<String>,
    full_description: Option<String>,
    #[schema(value_type = Option<crate::model::VisibilityName>)]
    visibility: Option<String>,
}

fn method_not_allowed() -> ApiError {
    ApiError::api(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "this method is not supported here")
}

/// `/repositories/{*rest}`: a repository, its star, its tags or one tag (described in `doc`).
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
                Method::GET => Ok(ok(StatusCode::OK, Repository::from(&index.repository(&who, &name).await?))),
                Method::PATCH => {
                    let p: RepoPatch = body(&b)?;
                    let patch = RepositoryPatch {
                        description: p.description,
                        full_description: p.full_description,
                        visibility: parse_visibility(p.visibility.as_deref())?,
                    };
                    let r = index.update_repository(&who, &name, patch).await?;
                    Ok(ok(StatusCode::OK, Repository::from(&r)))
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
            Ok(ok(
                StatusCode::OK,
                TagPage { tags: tags.iter().map(Into::into).collect(), page, page_size: size, total },
            ))
        }
        Target::Tag(name, tag) => {
            let name = repo_name(name)?;
            match method {
                Method::GET => Ok(ok(StatusCode::OK, Tag::from(&index.tag(&who, &name, tag).await?))),
                Method::DELETE => {
                    index.delete_tag(&who, &name, tag).await?;
                    Ok(no_content())
                }
                _ => Err(method_not_allowed()),
            }
        }
    }
}

/// The repositories a user starred that the caller may read, most recently starred first.
#[utoipa::path(
    get, path = "/users/{name}/starred", tag = "repositories",
    params(("name" = String, Path, description = "The user's name.")),
    responses(
        (status = 200, description = "The starred repositories (every field but `full_description`).", body = StarredList),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security((), ("basic" = []), ("bearer" = [])),
)]
async fn starred(State(app): State<AppState>, MaybeWho(who): MaybeWho, Path(user): Path<String>) -> Result<Response> {
    let list = app.index.starred(&who, &user).await?;
    Ok(ok(StatusCode::OK, StarredList { repositories: list.iter().map(Into::into).collect() }))
}

// ---- webhooks ----

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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewHook {
    namespace: Option<String>,
    repository: Option<String>,
    url: String,
    #[schema(value_type = Option<Vec<crate::model::EventName>>)]
    events: Option<Vec<String>>,
    secret: Option<String>,
    active: Option<bool>,
}

/// Creates a webhook of a namespace or of one repository; its secret is shown only here.
#[utoipa::path(
    post, path = "/webhooks", tag = "webhooks",
    request_body(content = NewHook, description = "Exactly one of `namespace` and `repository`. `events` default `[\"push\",\"delete\"]`, `secret` 16 to 256 characters (default: generated), `active` default true."),
    responses(
        (status = 201, description = "The webhook with its secret.", body = NewWebhook),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
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
    Ok(ok(StatusCode::CREATED, NewWebhook::from(&hook)))
}

/// The webhooks the caller manages.
#[utoipa::path(
    get, path = "/webhooks", tag = "webhooks",
    params(crate::openapi::WebhookListParams),
    responses(
        (status = 200, description = "The webhooks.", body = WebhookList),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn list_webhooks(State(app): State<AppState>, Who(who): Who, RawQuery(q): RawQuery) -> Result<Response> {
    let p = Params::new(q);
    let filter = match (p.get("namespace"), p.get("repository")) {
        (Some(ns), None) => WebhookFilter::Namespace(ns.to_owned()),
        (None, Some(r)) => WebhookFilter::Repository(repo_name(r)?.as_str().to_owned()),
        (None, None) => WebhookFilter::All,
        _ => return Err(invalid("give at most one of namespace and repository")),
    };
    let hooks = app.index.webhooks(&who, filter).await?;
    Ok(ok(StatusCode::OK, WebhookList { webhooks: hooks.iter().map(Into::into).collect() }))
}

/// A webhook the caller manages (others are `404`).
#[utoipa::path(
    get, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path, description = "The webhook's `id` (anything else is `404`).")),
    responses(
        (status = 200, description = "The webhook.", body = WebhookInfo),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn get_webhook(State(app): State<AppState>, Who(who): Who, Path(id): Path<String>) -> Result<Response> {
    let hook = app.index.webhook(&who, webhook_id(&id)?).await?;
    Ok(ok(StatusCode::OK, WebhookInfo::from(&hook)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct HookPatch {
    url: Option<String>,
    #[schema(value_type = Option<Vec<crate::model::EventName>>)]
    events: Option<Vec<String>>,
    secret: Option<String>,
    active: Option<bool>,
}

/// Changes a webhook the caller manages; absent fields stay as they are.
#[utoipa::path(
    patch, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path, description = "The webhook's `id` (anything else is `404`).")),
    request_body = HookPatch,
    responses(
        (status = 200, description = "The webhook as it is now.", body = WebhookInfo),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn patch_webhook(
    State(app): State<AppState>,
    Who(who): Who,
    Path(id): Path<String>,
    b: Bytes,
) -> Result<Response> {
    let p: HookPatch = body(&b)?;
    let update = WebhookUpdate { url: p.url, secret: p.secret, events: events(p.events)?, active: p.active };
    let hook = app.index.update_webhook(&who, webhook_id(&id)?, update).await?;
    Ok(ok(StatusCode::OK, WebhookInfo::from(&hook)))
}

/// Deletes a webhook the caller manages.
#[utoipa::path(
    delete, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path, description = "The webhook's `id` (anything else is `404`).")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn delete_webhook(State(app): State<AppState>, Who(who): Who, Path(id): Path<String>) -> Result<Response> {
    app.index.delete_webhook(&who, webhook_id(&id)?).await?;
    Ok(no_content())
}

/// A page of a webhook's deliveries, newest first.
#[utoipa::path(
    get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(
        ("id" = i64, Path, description = "The webhook's `id` (anything else is `404`)."),
        crate::openapi::PageParams,
    ),
    responses(
        (status = 200, description = "The deliveries.", body = DeliveryPage),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn deliveries(
    State(app): State<AppState>,
    Who(who): Who,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let (page, size, window) = Params::new(q).page()?;
    let (list, total) = app.index.deliveries(&who, webhook_id(&id)?, window).await?;
    Ok(ok(
        StatusCode::OK,
        DeliveryPage { deliveries: list.iter().map(Into::into).collect(), page, page_size: size, total },
    ))
}
