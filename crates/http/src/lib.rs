//! HTTP: the `/v2` API (OCI Distribution Spec, Docker Registry v2), `/healthz`, request logs.
//!
//! Every `/v2` request is parsed into an [`berth_oci::Endpoint`] first, its caller authenticated and
//! its required access decided in one place ([`access::decide`]), and only then is it dispatched to
//! a handler in `v2`. `/auth/token` is Docker's token service, `/api/v1` the JSON API of accounts
//! and of the index, described by the OpenAPI document it serves at `/api/v1/openapi.json`.
//!
//! **Boundary:** the only crate that knows axum/hyper. It calls the domain (`berth-registry`) and
//! never the stores directly; it reads no configuration files.

pub mod access;
mod api;
mod error;
mod index_api;
mod model;
mod openapi;
mod search;
pub mod sendfile;
mod token;
mod v2;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use berth_registry::accounts::Accounts;
use berth_registry::index::Index;
use berth_registry::Registry;
use std::time::Instant;

pub use error::ApiError;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub registry: Registry,
    pub accounts: Accounts,
    pub index: Index,
    /// The base URL clients reach berth at; `None`: taken from each request's `Host`.
    pub external_url: Option<String>,
}

impl AppState {
    /// The base URL for links and the token realm.
    pub fn external_url(&self, headers: &axum::http::HeaderMap) -> String {
        match &self.external_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => {
                let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
                format!("http://{host}")
            }
        }
    }
}

/// The client's address, when the server was started with connection info.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(&parts.extensions)))
    }
}

/// The client's address, from the connection info that [`sendfile::Listener`] provides.
pub(crate) fn client_ip(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions.get::<axum::extract::ConnectInfo<sendfile::Peer>>().map(|c| c.0.addr.ip())
}

/// The whole application.
pub fn router(registry: Registry, accounts: Accounts, index: Index, external_url: Option<String>) -> Router {
    let state = AppState { registry, accounts, index, external_url };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/auth/token", get(token::get_token).post(token::post_token))
        .route("/auth/revoke", axum::routing::post(token::revoke))
        .route("/v1/_ping", get(search::ping))
        .route("/v1/search", get(search::search))
        .nest("/api/v1", api::routes().merge(index_api::routes()).route("/openapi.json", get(openapi::openapi_json)))
        .route("/v2", any(v2::dispatch))
        .route("/v2/", any(v2::dispatch))
        .route("/v2/{*rest}", any(v2::dispatch))
        .fallback(|| async { ApiError::code(berth_oci::ErrorCode::NotFound) })
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

async fn healthz(State(app): State<AppState>) -> Response {
    let (meta, blobs) = app.registry.health().await;
    let show = |r: &Result<(), berth_registry::RegistryError>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    let ok = meta.is_ok() && blobs.is_ok();
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    if !ok {
        tracing::warn!(metadata = %show(&meta), storage = %show(&blobs), "health check failed");
    }
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "unavailable" },
        "metadata": show(&meta),
        "storage": show(&blobs),
    });
    (status, axum::Json(body)).into_response()
}

/// One structured log line per request: method, path (never the query), status, bytes, duration.
async fn log_request(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let bytes_in = content_length(req.headers());
    let resp = next.run(req).await;
    let bytes_out = {
        use axum::body::HttpBody;
        resp.body().size_hint().exact().unwrap_or_else(|| content_length(resp.headers()))
    };
    tracing::info!(
        target: "berth::access",
        %method,
        path,
        status = resp.status().as_u16(),
        bytes_in,
        bytes_out,
        duration_ms = start.elapsed().as_secs_f64() * 1000.0,
    );
    resp
}

fn content_length(h: &axum::http::HeaderMap) -> u64 {
    h.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}
