//! Docker's search API: `GET /v1/_ping` and `GET /v1/search`, answered in Docker Hub's shape
//! (docs/index.md).

use crate::api::{invalid, MaybeWho};
use crate::{ApiError, AppState};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_meta::Page;
use serde_json::json;

/// Results per page when `n` is absent, and the most a page holds.
const DEFAULT_PAGE: usize = 25;
const MAX_PAGE: usize = 100;

pub async fn ping() -> Response {
    let mut r = (StatusCode::OK, axum::Json(json!({}))).into_response();
    r.headers_mut().insert("x-docker-registry-standalone", HeaderValue::from_static("true"));
    r
}

/// A positive integer parameter, or `default` when absent.
pub(crate) fn positive(value: Option<&str>, what: &str, default: usize) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n >= 1 => Ok(n.min(usize::MAX as u64 / 2) as usize),
            _ => Err(invalid(format!("{what} must be a positive integer, not {v:?}"))),
        },
    }
}

pub async fn search(
    State(app): State<AppState>,
    MaybeWho(who): MaybeWho,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()).into_owned().collect();
    let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let term = get("q").unwrap_or("").trim().to_owned();
    let n = positive(get("n"), "n", DEFAULT_PAGE)?.min(MAX_PAGE);
    let page = positive(get("page"), "page", 1)?;
    let offset = (page - 1).saturating_mul(n);
    let (hits, total) = app.index.search(&who, &term, Page { offset, limit: n }).await?;
    let results: Vec<_> = hits
        .iter()
        .map(|h| {
            json!({
                "name": h.name,
                "description": h.description,
                "star_count": h.star_count,
                "is_official": !h.name.contains('/'),
                "is_automated": false,
            })
        })
        .collect();
    Ok((
        StatusCode::OK,
        axum::Json(json!({
            "num_pages": total.div_ceil(n),
            "num_results": total,
            "page_size": n,
            "page": page,
            "query": term,
            "results": results,
        })),
    )
        .into_response())
}
