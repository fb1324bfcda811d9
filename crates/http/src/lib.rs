//! HTTP: the `/v2` API (OCI Distribution Spec, Docker Registry v2), `/healthz`, request logs.
//!
//! Every `/v2` request is parsed into an [`Endpoint`] first, its required access is decided in
//! one place ([`access::decide`]), and only then is it dispatched to a handler in [`v2`].
//!
//! **Boundary:** the only crate that knows axum/hyper. It calls the domain (`berth-registry`) and
//! never the stores directly; it reads no configuration files.

pub mod access;
mod error;
mod v2;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use berth_registry::Registry;
use std::time::Instant;

pub use error::ApiError;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub registry: Registry,
}

/// The whole application.
pub fn router(registry: Registry) -> Router {
    let state = AppState { registry };
    Router::new()
        .route("/healthz", get(healthz))
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
