//! The one error type of the HTTP layer and its one `IntoResponse`: the spec's JSON envelope.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_oci::{EndpointError, ErrorCode, NameError};
use berth_registry::RegistryError;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answered to the client as `{"errors":[{"code","message","detail"}]}`.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub detail: Option<Box<serde_json::Value>>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// A status other than the code's usual one (e.g. 416 for an out-of-order chunk).
    pub status: Option<StatusCode>,
    /// A code outside the distribution spec's table, for the JSON API (`NOT_FOUND`, `INVALID`, `CONFLICT`).
    pub api_code: Option<&'static str>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), detail: None, headers: Vec::new(), status: None, api_code: None }
    }

    /// An error of the JSON API, with its own code and status.
    pub fn api(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(ErrorCode::Unsupported, message);
        e.status = Some(status);
        e.api_code = Some(code);
        e
    }

    pub fn code(code: ErrorCode) -> ApiError {
        ApiError::new(code, code.message())
    }

    pub fn detail(mut self, detail: serde_json::Value) -> ApiError {
        self.detail = Some(Box::new(detail));
        self
    }

    pub fn with_status(mut self, status: StatusCode) -> ApiError {
        self.status = Some(status);
        self
    }

    pub fn header(mut self, name: &'static str, value: impl AsRef<str>) -> ApiError {
        if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
            self.headers.push((HeaderName::from_static(name), v));
        }
        self
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> ApiError {
        let code = e.code();
        let api = ApiError::new(code, e.to_string());
        match e {
            RegistryError::ManifestBlobUnknown(digests) => {
                let list: Vec<String> = digests.iter().map(|d| d.to_string()).collect();
                api.detail(serde_json::json!({ "digests": list }))
            }
            RegistryError::OutOfOrder { received, .. } => {
                api.header("range", range_value(received)).with_status(StatusCode::RANGE_NOT_SATISFIABLE)
            }
            RegistryError::ManifestTooLarge => api.with_status(StatusCode::PAYLOAD_TOO_LARGE),
            _ => api,
        }
    }
}

impl From<EndpointError> for ApiError {
    fn from(e: EndpointError) -> ApiError {
        match &e {
            EndpointError::NotFound => ApiError::code(ErrorCode::NotFound),
            EndpointError::MethodNotAllowed(_) => ApiError::new(ErrorCode::MethodNotAllowed, e.to_string()),
            EndpointError::Name(NameError::BadTag(_)) => ApiError::new(ErrorCode::ManifestUnknown, e.to_string()),
            EndpointError::Name(_) => ApiError::new(ErrorCode::NameInvalid, e.to_string()),
            EndpointError::Digest(_) => ApiError::new(ErrorCode::DigestInvalid, e.to_string()),
            EndpointError::UploadId => ApiError::code(ErrorCode::BlobUploadUnknown),
        }
    }
}

/// The error envelope of `/v2` and `/api/v1`: `{"errors":[{"code","message","detail"?}]}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"errors": [{"code": "NOT_FOUND", "message": "no user named \"bob\""}]}))]
pub struct ErrorBody {
    /// One entry (berth answers one error at a time).
    pub errors: Vec<ErrorEntry>,
}

/// One error of the envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEntry {
    /// On `/api/v1`: `INVALID` (400), `UNAUTHORIZED` (401), `DENIED` (403), `NOT_FOUND` (404),
    /// `UNSUPPORTED` (405), `CONFLICT` (409), `TOOMANYREQUESTS` (429), `UNKNOWN` (500). `/v2`
    /// answers the distribution spec's codes in the same envelope.
    #[schema(value_type = ApiErrorCode)]
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// More about it (only some `/v2` errors have it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub detail: Option<serde_json::Value>,
}

/// The codes of `/api/v1` errors (documentation only: the field is the code's string).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub enum ApiErrorCode {
    #[serde(rename = "INVALID")]
    Invalid,
    #[serde(rename = "UNAUTHORIZED")]
    Unauthorized,
    #[serde(rename = "DENIED")]
    Denied,
    #[serde(rename = "NOT_FOUND")]
    NotFound,
    #[serde(rename = "UNSUPPORTED")]
    Unsupported,
    #[serde(rename = "CONFLICT")]
    Conflict,
    #[serde(rename = "TOOMANYREQUESTS")]
    TooManyRequests,
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

/// The `Range` value reporting `received` bytes of an upload: `0-<last offset>`.
pub fn range_value(received: u64) -> String {
    format!("0-{}", received.saturating_sub(1))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self
            .status
            .unwrap_or_else(|| StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        let message = if status.is_server_error() {
            // The detail is logged once, here; the client gets the generic message.
            tracing::error!(code = self.code.as_str(), error = %self.message, "request failed");
            self.code.message().to_owned()
        } else {
            self.message
        };
        let entry =
            ErrorEntry { code: self.api_code.unwrap_or(self.code.as_str()), message, detail: self.detail.map(|d| *d) };
        let mut resp = (status, axum::Json(ErrorBody { errors: vec![entry] })).into_response();
        for (name, value) in self.headers {
            resp.headers_mut().insert(name, value);
        }
        resp
    }
}
