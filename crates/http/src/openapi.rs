//! The OpenAPI 3.1 document of `/api/v1`, served at `GET /api/v1/openapi.json`.
//!
//! It is generated from the code: each handler's `#[utoipa::path]` (in `api` and `index_api`,
//! and in `index_api::doc` for the logical paths the repository catch-all dispatches), the body
//! types of `crate::model` and the request types next to their handlers. One step is added after
//! generation: every object schema a response uses is closed (`additionalProperties: false`), so
//! a field a handler sends but the document does not declare is a mismatch, not an extension.
//! `crates/berth/tests/openapi.rs` checks real answers against the document.

use crate::error::ErrorBody;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToResponse, ToSchema};

// ---- the error answers every operation shares ----

/// `INVALID`: a malformed JSON body, parameter or name, or a value the operation refuses.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Invalid(ErrorBody);

/// `UNAUTHORIZED`: no credentials where they are needed, or bad ones.
#[derive(ToResponse)]
#[response(headers(("WWW-Authenticate" = String, description = "`Basic realm=\"berth\"`")))]
#[allow(dead_code)]
pub struct Unauthorized(ErrorBody);

/// `DENIED`: the caller may not do this.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Denied(ErrorBody);

/// `NOT_FOUND`: no such thing, or one the caller may not see.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct NotFound(ErrorBody);

/// `CONFLICT`: the name is taken.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Conflict(ErrorBody);

/// `TOOMANYREQUESTS`: too many failed logins from this client or for this account.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before trying again.")))]
#[allow(dead_code)]
pub struct Throttled(ErrorBody);

/// `UNKNOWN`: the server failed (the detail is in its log, not here).
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Internal(ErrorBody);

// ---- query parameters (the handlers read them from the raw query, to answer `INVALID` their way) ----

/// `page` and `page_size`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// The 1-based page (default 1); a page past the end is empty.
    #[param(minimum = 1)]
    page: Option<u64>,
    /// Entries per page, at least 1 (default 25; more than 100 is taken as 100).
    #[param(minimum = 1)]
    page_size: Option<u64>,
}

/// How repository lists are sorted.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum RepositorySort {
    Name,
    Stars,
    Pulls,
    Pushed,
}

/// The direction of a sort.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// The repository listing's parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RepositoryListParams {
    /// Only this namespace's repositories (empty: all).
    namespace: Option<String>,
    /// Default `name`.
    #[param(inline)]
    sort: Option<RepositorySort>,
    /// Default `asc` for `name`, `desc` for the others (ties by name).
    #[param(inline)]
    order: Option<SortOrder>,
    /// The 1-based page (default 1).
    #[param(minimum = 1)]
    page: Option<u64>,
    /// Entries per page, at least 1 (default 25; more than 100 is taken as 100).
    #[param(minimum = 1)]
    page_size: Option<u64>,
}

/// The webhook listing's filter: at most one of the two.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct WebhookListParams {
    /// Only the webhooks of this namespace (not those of its repositories).
    namespace: Option<String>,
    /// Only the webhooks of this repository (full name).
    repository: Option<String>,
}

// ---- the document ----

/// HTTP Basic (password, personal access token or robot token) and bearer access tokens.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A user's name with its password or one of its personal access tokens, or a robot's name \
                         (`<org>+<name>`) with its token.",
                    ))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from `/auth/token` (Docker token authentication)."))
                    .build(),
            ),
        );
    }
}

/// This document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of `/api/v1`.", body = Object)),
    security(()),
)]
pub async fn openapi_json() -> Response {
    let mut r = (StatusCode::OK, axum::body::Bytes::from_static(document_bytes())).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[derive(OpenApi)]
#[openapi(paths(openapi_json))]
struct MetaDoc;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "berth /api/v1",
        description = "The JSON API of berth: accounts, organizations, teams, robots and personal access \
                       tokens (docs/access.md); repositories, stars, tags and webhooks (docs/index.md). \
                       Errors are `{\"errors\":[{\"code\",\"message\"}]}`. A path parameter marked \
                       `x-berth-multi-segment: true` is a full repository name: it contains slashes, sent as \
                       they are (`/api/v1/repositories/alice/web/tags`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    nest(
        (path = "/api/v1", api = crate::api::Doc),
        (path = "/api/v1", api = crate::index_api::doc::Doc),
        (path = "/api/v1", api = MetaDoc),
    ),
    components(
        schemas(ErrorBody),
        responses(Invalid, Unauthorized, Denied, NotFound, Conflict, Throttled, Internal),
    ),
    modifiers(&Security),
    tags(
        (name = "users", description = "Users and robots as accounts."),
        (name = "tokens", description = "Personal access tokens."),
        (name = "orgs", description = "Organizations."),
        (name = "teams", description = "Teams, their members and their repository roles."),
        (name = "robots", description = "Robot accounts of organizations."),
        (name = "repositories", description = "Repository metadata, stars and tags."),
        (name = "webhooks", description = "Webhooks and their deliveries."),
        (name = "meta", description = "This document."),
    ),
)]
struct ApiDoc;

/// The document as JSON, with the response objects closed.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    doc["info"]["version"] = env!("CARGO_PKG_VERSION").into();
    close_response_objects(&mut doc);
    doc
}

fn document_bytes() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_vec(&document()).expect("the OpenAPI document serialises"))
}

/// Every `$ref` under `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// Sets `additionalProperties: false` on every object schema with properties that a response
/// uses (through any depth of `$ref`), unless it says otherwise. Request bodies keep what their
/// types say (`deny_unknown_fields` closes them; others accept and ignore unknown fields).
fn close_response_objects(doc: &mut Value) {
    let mut todo = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for item in paths.values() {
            for op in item.as_object().into_iter().flat_map(|m| m.values()) {
                refs(&op["responses"], &mut todo);
            }
        }
    }
    refs(&doc["components"]["responses"], &mut todo);
    let mut seen = BTreeSet::new();
    while let Some(r) = todo.pop() {
        let Some(name) = r.strip_prefix("#/components/schemas/") else { continue };
        if !seen.insert(name.to_owned()) {
            continue;
        }
        refs(&doc["components"]["schemas"][name], &mut todo);
    }
    for name in seen {
        close(&mut doc["components"]["schemas"][&name]);
    }
    // Inline object schemas of responses, too.
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            for op in item.as_object_mut().into_iter().flat_map(|m| m.values_mut()) {
                if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                    for resp in responses.values_mut() {
                        if let Some(content) = resp.get_mut("content").and_then(Value::as_object_mut) {
                            for media in content.values_mut() {
                                close(&mut media["schema"]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Closes `schema` and the inline object schemas inside it (properties, items, `oneOf` arms).
fn close(schema: &mut Value) {
    let Some(m) = schema.as_object_mut() else { return };
    if m.contains_key("properties") && !m.contains_key("additionalProperties") {
        m.insert("additionalProperties".into(), Value::Bool(false));
    }
    for key in ["properties"] {
        if let Some(props) = m.get_mut(key).and_then(Value::as_object_mut) {
            props.values_mut().for_each(close);
        }
    }
    if let Some(items) = m.get_mut("items") {
        close(items);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(arms) = m.get_mut(key).and_then(Value::as_array_mut) {
            arms.iter_mut().for_each(close);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_is_openapi_3_1_with_closed_responses() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/api/v1/users"]["post"].is_object(), "{}", doc["paths"]);
        assert!(doc["paths"]["/api/v1/repositories/{name}/tags/{tag}"]["get"].is_object());
        assert_eq!(doc["components"]["schemas"]["User"]["additionalProperties"], false);
        assert_eq!(doc["components"]["schemas"]["ErrorBody"]["additionalProperties"], false);
        // A request body that ignores unknown fields stays open; one that refuses them is closed.
        assert!(doc["components"]["schemas"]["UserPatch"].get("additionalProperties").is_none());
        assert_eq!(doc["components"]["schemas"]["RepoPatch"]["additionalProperties"], false);
        assert!(doc["components"]["securitySchemes"]["basic"].is_object());
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    }
}
