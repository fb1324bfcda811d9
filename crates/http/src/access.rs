//! Authentication of each request and the access decision: the one place that says whether a
//! request may do what its endpoint requires, and what a refused caller is told.

use crate::{ApiError, AppState};
use axum::http::{header, HeaderMap};
use base64::Engine as _;
use berth_auth::{Action, Actions, Claims, Subject};
use berth_oci::{Access, ErrorCode, RepoName};
use berth_registry::accounts::AccountError;
use std::net::IpAddr;

/// Who is asking, and how.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub subject: Subject,
    /// The claims of the bearer token it presented, if any.
    pub claims: Option<Claims>,
}

/// The scope a 401 for `access` names in its challenge, so that clients know which token to get.
pub fn challenge_scope(access: &Access) -> Option<String> {
    match access {
        Access::None => None,
        Access::Catalog => Some("registry:catalog:*".into()),
        Access::Pull(n) => Some(scope_for(n, Action::Pull)),
        Access::Push(n) => Some(scope_for(n, Action::Push)),
        Access::Delete(n) => Some(scope_for(n, Action::Delete)),
    }
}

/// The credentials of a request (`None` when it carries none). A refusal's challenge names `scope`.
pub async fn authenticate(
    app: &AppState,
    headers: &HeaderMap,
    client: Option<IpAddr>,
    scope: Option<String>,
) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Ok(Caller::default());
    };
    let accounts = &app.accounts;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let (user, pass) = basic_credentials(rest)
            .ok_or_else(|| challenge(app, headers, scope.clone(), "malformed Basic credentials"))?;
        let subject = accounts.login(&user, &pass, client).await.map_err(|e| refused(app, headers, scope, None, e))?;
        Ok(Caller { subject, claims: None })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        let (subject, claims) =
            accounts.bearer(rest).await.map_err(|e| refused(app, headers, scope, Some("invalid_token"), e))?;
        Ok(Caller { subject, claims: Some(claims) })
    } else {
        Err(challenge(app, headers, scope, "unsupported authorization scheme"))
    }
}

/// Renders a failed authentication, with the challenge naming `scope`.
fn refused(
    app: &AppState,
    headers: &HeaderMap,
    scope: Option<String>,
    error: Option<&str>,
    e: AccountError,
) -> ApiError {
    match e {
        AccountError::BadCredentials(m) => challenge_with(app, headers, scope, error, &m),
        other => account_error(app, headers, other),
    }
}

/// `user:password` of a Basic value.
pub fn basic_credentials(b64: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// The `WWW-Authenticate` challenge of a 401.
pub fn challenge(app: &AppState, headers: &HeaderMap, scope: Option<String>, message: &str) -> ApiError {
    challenge_with(app, headers, scope, None, message)
}

fn challenge_with(
    app: &AppState,
    headers: &HeaderMap,
    scope: Option<String>,
    error: Option<&str>,
    message: &str,
) -> ApiError {
    let mut value = format!(
        "Bearer realm=\"{}/auth/token\",service=\"{}\"",
        app.external_url(headers),
        app.accounts.config().service
    );
    if let Some(s) = scope {
        value.push_str(&format!(",scope=\"{s}\""));
    }
    if let Some(e) = error {
        value.push_str(&format!(",error=\"{e}\""));
    }
    ApiError::new(ErrorCode::Unauthorized, message).header("www-authenticate", value)
}

/// Renders an authentication failure.
pub fn account_error(app: &AppState, headers: &HeaderMap, e: AccountError) -> ApiError {
    match e {
        AccountError::Throttled(secs) => {
            ApiError::new(ErrorCode::TooManyRequests, e.to_string()).header("retry-after", secs.to_string())
        }
        AccountError::BadCredentials(m) => challenge(app, headers, None, &m),
        AccountError::Unauthorized => challenge(app, headers, None, "authentication required"),
        AccountError::Internal(m) => ApiError::new(ErrorCode::Internal, m),
        other => ApiError::new(ErrorCode::Denied, other.to_string()),
    }
}

fn scope_for(name: &RepoName, action: Action) -> String {
    let actions = match action {
        Action::Pull => "pull",
        Action::Push => "pull,push",
        Action::Delete => "delete",
    };
    format!("repository:{name}:{actions}")
}

/// The actions a caller has on a repository: what its token carries, or the live decision.
pub async fn repository_actions(app: &AppState, caller: &Caller, name: &RepoName) -> Result<Actions, ApiError> {
    if !app.accounts.enabled() {
        return Ok(Actions::ALL);
    }
    match &caller.claims {
        Some(c) => Ok(c.repository_actions(name.as_str())),
        None => app
            .accounts
            .repository_actions(&caller.subject, name)
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string())),
    }
}

/// Decides whether `caller` may have `access`; the refusal says what the contract says it should.
pub async fn decide(app: &AppState, headers: &HeaderMap, caller: &Caller, access: &Access) -> Result<(), ApiError> {
    if !app.accounts.enabled() {
        return Ok(());
    }
    let anonymous = caller.subject.is_anonymous();
    let (name, action) = match access {
        Access::None => {
            return if anonymous && caller.claims.is_none() {
                Err(challenge(app, headers, None, "authentication required"))
            } else {
                Ok(())
            };
        }
        Access::Catalog => {
            let ok = match &caller.claims {
                Some(c) => c.grants_catalog(),
                None => app.accounts.catalog_allowed(&caller.subject),
            };
            return if ok {
                Ok(())
            } else {
                let error = caller.claims.as_ref().map(|_| "insufficient_scope");
                Err(challenge_with(app, headers, Some("registry:catalog:*".into()), error, "authentication required"))
            };
        }
        Access::Pull(n) => (n, Action::Pull),
        Access::Push(n) => (n, Action::Push),
        Access::Delete(n) => (n, Action::Delete),
    };
    if repository_actions(app, caller, name).await?.contains(action) {
        return Ok(());
    }
    let scope = Some(scope_for(name, action));
    if anonymous {
        let error = caller.claims.as_ref().map(|_| "insufficient_scope");
        return Err(challenge_with(app, headers, scope, error, "authentication required"));
    }
    // An authenticated caller: is it the token that is short, or the caller's rights?
    let live = app
        .accounts
        .repository_actions(&caller.subject, name)
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    if caller.claims.is_some() && live.contains(action) {
        return Err(challenge_with(
            app,
            headers,
            scope,
            Some("insufficient_scope"),
            "the token does not grant this action",
        ));
    }
    if action == Action::Pull {
        // Exactly what a repository that does not exist gets: its existence is not revealed.
        Err(ApiError::code(ErrorCode::NameUnknown))
    } else {
        // A message and detail of its own: docker retries a DENIED that carries only its default text.
        let what = if action == Action::Push { "push to" } else { "delete in" };
        Err(ApiError::new(
            ErrorCode::Denied,
            format!("requested access to the resource is denied: you may not {what} {name}"),
        )
        .detail(serde_json::json!({ "name": name.as_str(), "action": action.as_str() })))
    }
}
