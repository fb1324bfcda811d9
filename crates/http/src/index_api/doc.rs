//! The OpenAPI description of the index routes. One route, `/repositories/{*rest}`, serves several
//! resources (`repository_any` tells them apart by the path's end), so its operations are
//! described here as the logical paths they are, each on a function that only carries the
//! description; the other handlers carry their own `#[utoipa::path]`.

#![allow(dead_code)]

use super::RepoPatch;
use crate::model::{Repository, Tag, TagPage};
use crate::openapi::{Denied, Internal, Invalid, NotFound, PageParams, Throttled, Unauthorized};

/// A repository with all its fields (read access). Unknown, or not readable by the caller: `404`;
/// anonymous callers get `401` for an existing private repository.
#[utoipa::path(
    get, path = "/repositories/{name}", tag = "repositories",
    params(("name" = String, Path, description = "The full repository name (`alice/web`, `alpine`). It may contain slashes, sent as they are; a name whose last component is `star` or `tags` cannot be reached through these paths.", extensions(("x-berth-multi-segment" = json!(true))))),
    responses(
        (status = 200, description = "The repository.", body = Repository),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security((), ("basic" = []), ("bearer" = [])),
)]
fn get_repository() {}

/// Changes a repository: descriptions need write access, visibility admin access.
#[utoipa::path(
    patch, path = "/repositories/{name}", tag = "repositories",
    params(("name" = String, Path, description = "The full repository name; it may contain slashes.", extensions(("x-berth-multi-segment" = json!(true))))),
    request_body = RepoPatch,
    responses(
        (status = 200, description = "The repository as it is now.", body = Repository),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security((), ("basic" = []), ("bearer" = [])),
)]
fn patch_repository() {}

/// Deletes a repository: its tags, manifests, stars and blob memberships (admin access). A push
/// may create it again.
#[utoipa::path(
    delete, path = "/repositories/{name}", tag = "repositories",
    params(("name" = String, Path, description = "The full repository name; it may contain slashes.", extensions(("x-berth-multi-segment" = json!(true))))),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security((), ("basic" = []), ("bearer" = [])),
)]
fn delete_repository() {}

/// Stars a repository (idempotent): a user who may read it; robots are refused.
#[utoipa::path(
    put, path = "/repositories/{name}/star", tag = "repositories",
    params(("name" = String, Path, description = "The full repository name; it may contain slashes.", extensions(("x-berth-multi-segment" = json!(true))))),
    responses(
        (status = 204, description = "Starred."),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security((), ("basic" = []), ("bearer" = [])),
)]
fn star_repository() {}

/// Takes the caller's star away (idempotent).
#[utoipa::path(
    delete, path = "/repositories/{name}/star", tag = "repositories",
    params(("name" = String, Path, description = "The full repository name; it may contain slashes.", extensions(("x-berth-multi-segment" = json!(true))))),
    responses(
        (status = 204, description = "Not starred."),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security((), ("basic" = []), ("bearer" = [])),
)]
fn unstar_repository() {}

/// A page of a repository's tags, by name (read access).
#[utoipa::path(
    get, path = "/repositories/{name}/tags", tag = "repositories",
    params(
        ("name" = String, Path, description = "The full repository name; it may contain slashes.", extensions(("x-berth-multi-segment" = json!(true)))),
        PageParams,
    ),
    responses(
        (status = 200, description = "The tags.", body = TagPage),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security((), ("basic" = []), ("bearer" = [])),
)]
fn list_tags() {}

/// A tag (read access).
#[utoipa::path(
    get, path = "/repositories/{name}/tags/{tag}", tag = "repositories",
    params(
        ("name" = String, Path, description = "The full repository name; it may contain slashes.", extensions(("x-berth-multi-segment" = json!(true)))),
        ("tag" = String, Path, description = "The tag."),
    ),
    responses(
        (status = 200, description = "The tag.", body = Tag),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security((), ("basic" = []), ("bearer" = [])),
)]
fn get_tag() {}

/// Deletes a tag; the manifest stays (the delete right, as for `/v2` deletes).
#[utoipa::path(
    delete, path = "/repositories/{name}/tags/{tag}", tag = "repositories",
    params(
        ("name" = String, Path, description = "The full repository name; it may contain slashes.", extensions(("x-berth-multi-segment" = json!(true)))),
        ("tag" = String, Path, description = "The tag."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security((), ("basic" = []), ("bearer" = [])),
)]
fn delete_tag() {}

/// The index routes' part of the document (`crate::openapi` nests it under `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    super::list_repositories,
    get_repository,
    patch_repository,
    delete_repository,
    star_repository,
    unstar_repository,
    list_tags,
    get_tag,
    delete_tag,
    super::starred,
    super::list_webhooks,
    super::create_webhook,
    super::get_webhook,
    super::patch_webhook,
    super::delete_webhook,
    super::deliveries,
))]
pub(crate) struct Doc;
