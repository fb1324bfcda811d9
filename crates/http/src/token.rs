//! Docker token authentication: `GET /auth/token` (Basic or anonymous), `POST /auth/token` (OAuth2
//! password and refresh-token grants), and `POST /auth/revoke`.

use crate::access::{account_error, basic_credentials};
use crate::{ApiError, AppState, ClientIp};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_auth::{Scope, Subject};
use berth_oci::ErrorCode;
use berth_registry::accounts::{AccountError, TokenGrant};

fn params(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
}

fn scopes(p: &[(String, String)]) -> Vec<Scope> {
    p.iter().filter(|(k, _)| k == "scope").flat_map(|(_, v)| Scope::parse_list(v)).collect()
}

fn check_service(app: &AppState, p: &[(String, String)]) -> Result<(), ApiError> {
    match get(p, "service") {
        Some(s) if s != app.accounts.config().service => Err(ApiError::new(
            ErrorCode::Unsupported,
            format!("unknown service {s:?}; this registry's service is {:?}", app.accounts.config().service),
        )),
        _ => Ok(()),
    }
}

/// A 401 of the token endpoint itself: its credentials are Basic.
fn token_error(app: &AppState, headers: &HeaderMap, e: AccountError) -> ApiError {
    match e {
        AccountError::BadCredentials(m) => {
            ApiError::new(ErrorCode::Unauthorized, m).header("www-authenticate", "Basic realm=\"berth\"")
        }
        other => account_error(app, headers, other),
    }
}

fn rfc3339(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

fn grant_json(g: &TokenGrant, oauth: bool) -> serde_json::Value {
    let mut v = serde_json::json!({
        "token": g.token,
        "access_token": g.token,
        "expires_in": g.expires_in,
        "issued_at": rfc3339(g.issued_at),
    });
    if oauth {
        v["scope"] = g.scopes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" ").into();
    }
    if let Some(r) = &g.refresh_token {
        v["refresh_token"] = r.clone().into();
    }
    v
}

fn ok_json(v: serde_json::Value) -> Response {
    let mut r = (StatusCode::OK, axum::Json(v)).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    r
}

pub async fn get_token(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let p = params(uri.query().unwrap_or(""));
    check_service(&app, &p)?;
    let (subject, via) = match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(v) if v.len() > 6 && v[..6].eq_ignore_ascii_case("basic ") => {
            let (user, pass) = basic_credentials(&v[6..]).ok_or_else(|| {
                token_error(&app, &headers, AccountError::BadCredentials("malformed Basic credentials".into()))
            })?;
            app.accounts.login_with_token(&user, &pass, ip).await.map_err(|e| token_error(&app, &headers, e))?
        }
        Some(_) => {
            return Err(token_error(
                &app,
                &headers,
                AccountError::BadCredentials("the token endpoint takes Basic credentials".into()),
            ))
        }
        None => (Subject::Anonymous, None),
    };
    let offline = get(&p, "offline_token") == Some("true") && !subject.is_anonymous();
    let grant =
        app.accounts.issue(&subject, &scopes(&p), offline, via).await.map_err(|e| token_error(&app, &headers, e))?;
    Ok(ok_json(grant_json(&grant, false)))
}

pub async fn post_token(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let p = params(&String::from_utf8_lossy(&body));
    check_service(&app, &p)?;
    let (subject, offline, keep_refresh, via) = match get(&p, "grant_type") {
        Some("password") => {
            let (u, pw) = (get(&p, "username").unwrap_or(""), get(&p, "password").unwrap_or(""));
            let (s, via) =
                app.accounts.login_with_token(u, pw, ip).await.map_err(|e| token_error(&app, &headers, e))?;
            (s, get(&p, "access_type") == Some("offline"), None, via)
        }
        Some("refresh_token") => {
            let rt = get(&p, "refresh_token").unwrap_or("");
            let s = app.accounts.refresh(rt).await.map_err(|e| token_error(&app, &headers, e))?;
            (s, false, Some(rt.to_owned()), None)
        }
        other => {
            return Err(ApiError::new(
                ErrorCode::Unsupported,
                format!("unsupported grant_type {:?}: use password or refresh_token", other.unwrap_or("")),
            ))
        }
    };
    let mut grant =
        app.accounts.issue(&subject, &scopes(&p), offline, via).await.map_err(|e| token_error(&app, &headers, e))?;
    if grant.refresh_token.is_none() {
        grant.refresh_token = keep_refresh;
    }
    Ok(ok_json(grant_json(&grant, true)))
}

pub async fn revoke(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let p = params(&String::from_utf8_lossy(&body));
    if let Some(t) = get(&p, "token") {
        app.accounts.revoke(t).await.map_err(|e| account_error(&app, &headers, e))?;
    }
    Ok(ok_json(serde_json::json!({})))
}
