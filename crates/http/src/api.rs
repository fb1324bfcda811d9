//! The JSON API of accounts: users, personal access tokens, organizations, teams, members,
//! robots, and repository settings. Each handler authenticates, then calls the domain, which
//! checks the caller's rights.

use crate::access::authenticate;
use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use berth_auth::{Level, OrgRole, PatScope, Subject, Visibility};
use berth_meta::{AccessToken, Account, Team};
use berth_oci::{ErrorCode, RepoName};
use berth_registry::accounts::AccountError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

type Result<T, E = ApiError> = std::result::Result<T, E>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", post(create_user).get(list_users))
        .route("/user", get(whoami))
        .route("/users/{name}", get(get_user).patch(patch_user).delete(delete_user))
        .route("/users/{name}/revoke-tokens", post(revoke_tokens))
        .route("/users/{name}/tokens", post(create_token).get(list_tokens))
        .route("/users/{name}/tokens/{id}", axum::routing::delete(delete_token))
        .route("/orgs", post(create_org).get(list_orgs))
        .route("/orgs/{org}", get(get_org).patch(patch_org).delete(delete_org))
        .route("/orgs/{org}/teams", post(create_team).get(list_teams))
        .route("/orgs/{org}/teams/{team}", get(get_team).patch(patch_team).delete(delete_team))
        .route("/orgs/{org}/teams/{team}/members", get(team_members))
        .route("/orgs/{org}/teams/{team}/members/{member}", put(add_member).delete(remove_member))
        .route("/orgs/{org}/teams/{team}/repositories/{*name}", put(set_team_repo).delete(remove_team_repo))
        .route("/orgs/{org}/robots", post(create_robot).get(list_robots))
        .route("/orgs/{org}/robots/{robot}", axum::routing::delete(delete_robot))
        .fallback(|| async { ApiError::api(StatusCode::NOT_FOUND, "NOT_FOUND", "no such API endpoint") })
}

// ---- plumbing ----

/// The JSON API's rendering of a failure: its own codes, and a Basic challenge on 401.
impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> ApiError {
        match e {
            AccountError::Unauthorized => unauthorized("authentication required".into()),
            AccountError::BadCredentials(m) => unauthorized(m),
            AccountError::Throttled(secs) => {
                ApiError::new(ErrorCode::TooManyRequests, e.to_string()).header("retry-after", secs.to_string())
            }
            AccountError::Internal(m) => ApiError::new(ErrorCode::Internal, m),
            AccountError::Denied(m) => ApiError::api(StatusCode::FORBIDDEN, "DENIED", m),
            AccountError::NotFound(m) => ApiError::api(StatusCode::NOT_FOUND, "NOT_FOUND", m),
            AccountError::Invalid(m) => ApiError::api(StatusCode::BAD_REQUEST, "INVALID", m),
            AccountError::Conflict(m) => ApiError::api(StatusCode::CONFLICT, "CONFLICT", m),
        }
    }
}

pub(crate) fn unauthorized(message: String) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message).header("www-authenticate", "Basic realm=\"berth\"")
}

/// The caller of an API request, possibly anonymous.
pub(crate) struct MaybeWho(pub Subject);

/// The caller of an API request; anonymous callers are refused with 401.
pub(crate) struct Who(pub Subject);

impl FromRequestParts<AppState> for MaybeWho {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self> {
        let ip = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        match authenticate(app, &parts.headers, ip, None).await {
            Ok(c) => Ok(MaybeWho(c.subject)),
            // The API's credentials are Basic (or a bearer token): say so instead of the registry's challenge.
            Err(e) if e.code == ErrorCode::Unauthorized => Err(unauthorized(e.message)),
            Err(e) => Err(e),
        }
    }
}

impl FromRequestParts<AppState> for Who {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self> {
        let MaybeWho(s) = MaybeWho::from_request_parts(parts, app).await?;
        if s.is_anonymous() {
            return Err(AccountError::Unauthorized.into());
        }
        Ok(Who(s))
    }
}

pub(crate) fn invalid(m: impl Into<String>) -> ApiError {
    ApiError::api(StatusCode::BAD_REQUEST, "INVALID", m)
}

pub(crate) fn body<T: DeserializeOwned>(b: &Bytes) -> Result<T> {
    let b: &[u8] = if b.is_empty() { b"{}" } else { b };
    serde_json::from_slice(b).map_err(|e| invalid(format!("invalid JSON body: {e}")))
}

pub(crate) fn rfc3339(secs: i64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64))
        .to_string()
}

/// What anyone authenticated sees of an account.
fn public_user_json(a: &Account) -> Value {
    json!({ "username": a.name, "kind": a.kind.as_str(), "created_at": rfc3339(a.created_at) })
}

/// `a` as `caller` may see it.
fn user_json_for(app: &AppState, caller: &Subject, a: &Account) -> Value {
    if app.accounts.sees_private(caller, a) {
        user_json(a)
    } else {
        public_user_json(a)
    }
}

fn user_json(a: &Account) -> Value {
    json!({
        "username": a.name,
        "kind": a.kind.as_str(),
        "email": a.email,
        "admin": a.admin,
        "default_visibility": a.default_visibility.map(Visibility::as_str),
        "created_at": rfc3339(a.created_at),
    })
}

fn token_json(t: &AccessToken) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "scope": t.scope.as_str(),
        "expires_at": t.expires_at.map(rfc3339),
        "created_at": rfc3339(t.created_at),
        "last_used_at": t.last_used_at.map(rfc3339),
    })
}

fn team_json(t: &Team) -> Value {
    json!({ "name": t.name, "role": t.role.as_str() })
}

pub(crate) fn ok(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) fn parse_visibility(v: Option<&str>) -> Result<Option<Visibility>> {
    v.map(|v| Visibility::parse(v).ok_or_else(|| invalid(format!("visibility must be public or private, not {v:?}"))))
        .transpose()
}

// ---- users ----

#[derive(Deserialize)]
struct NewUser {
    username: String,
    password: String,
    email: Option<String>,
    #[serde(default)]
    admin: bool,
}

async fn create_user(State(app): State<AppState>, MaybeWho(who): MaybeWho, b: Bytes) -> Result<Response> {
    let u: NewUser = body(&b)?;
    let a = app.accounts.create_user(Some(&who), &u.username, &u.password, u.email, u.admin).await?;
    Ok(ok(StatusCode::CREATED, user_json(&a)))
}

async fn list_users(State(app): State<AppState>, Who(who): Who) -> Result<Response> {
    let list = app.accounts.list_users(&who).await?;
    let users: Vec<Value> = list.iter().map(|a| user_json_for(&app, &who, a)).collect();
    Ok(ok(StatusCode::OK, json!({ "users": users })))
}

async fn whoami(State(app): State<AppState>, Who(who): Who) -> Result<Response> {
    let a = app.accounts.me(&who).await?;
    Ok(ok(StatusCode::OK, user_json(&a)))
}

async fn get_user(State(app): State<AppState>, Who(who): Who, Path(name): Path<String>) -> Result<Response> {
    let a = app.accounts.user(&who, &name).await?;
    Ok(ok(StatusCode::OK, user_json_for(&app, &who, &a)))
}

#[derive(Deserialize)]
struct UserPatch {
    password: Option<String>,
    email: Option<String>,
    default_visibility: Option<String>,
}

async fn patch_user(
    State(app): State<AppState>,
    Who(who): Who,
    Path(name): Path<String>,
    b: Bytes,
) -> Result<Response> {
    let p: UserPatch = body(&b)?;
    let vis = parse_visibility(p.default_visibility.as_deref())?;
    let a = app.accounts.update_user(&who, &name, p.password.as_deref(), p.email, vis).await?;
    Ok(ok(StatusCode::OK, user_json(&a)))
}

async fn delete_user(State(app): State<AppState>, Who(who): Who, Path(name): Path<String>) -> Result<Response> {
    app.accounts.delete_user(Some(&who), &name).await?;
    Ok(no_content())
}

async fn revoke_tokens(State(app): State<AppState>, Who(who): Who, Path(name): Path<String>) -> Result<Response> {
    app.accounts.revoke_all(&who, &name).await?;
    Ok(no_content())
}

// ---- personal access tokens ----

#[derive(Deserialize)]
struct NewPat {
    name: String,
    scope: String,
    expires_at: Option<String>,
}

async fn create_token(
    State(app): State<AppState>,
    Who(who): Who,
    Path(user): Path<String>,
    b: Bytes,
) -> Result<Response> {
    let p: NewPat = body(&b)?;
    let scope = PatScope::parse(&p.scope).ok_or_else(|| invalid("scope must be read, read-write or delete"))?;
    let expires_at = match p.expires_at.as_deref() {
        None => None,
        Some(s) => Some(
            humantime::parse_rfc3339_weak(s)
                .map_err(|e| invalid(format!("expires_at is not an RFC 3339 time: {e}")))?
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        ),
    };
    let t = app.accounts.create_token(&who, &user, &p.name, scope, expires_at).await?;
    let mut v = token_json(&t.token);
    v["token"] = t.secret.into();
    Ok(ok(StatusCode::CREATED, v))
}

async fn list_tokens(State(app): State<AppState>, Who(who): Who, Path(user): Path<String>) -> Result<Response> {
    let list = app.accounts.list_tokens(&who, &user).await?;
    Ok(ok(StatusCode::OK, json!({ "tokens": list.iter().map(token_json).collect::<Vec<_>>() })))
}

async fn delete_token(
    State(app): State<AppState>,
    Who(who): Who,
    Path((user, id)): Path<(String, String)>,
) -> Result<Response> {
    let id: i64 =
        id.parse().map_err(|_| ApiError::api(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no token {id}")))?;
    app.accounts.delete_token(&who, &user, id).await?;
    Ok(no_content())
}

// ---- organizations ----

#[derive(Deserialize)]
struct NewOrg {
    name: String,
    default_visibility: Option<String>,
}

fn org_json(o: &Account, teams: Option<&[Team]>) -> Value {
    let mut v = json!({
        "name": o.name,
        "default_visibility": o.default_visibility.map(Visibility::as_str),
        "created_at": rfc3339(o.created_at),
    });
    if let Some(t) = teams {
        v["teams"] = t.iter().map(team_json).collect::<Vec<_>>().into();
    }
    v
}

async fn create_org(State(app): State<AppState>, Who(who): Who, b: Bytes) -> Result<Response> {
    let o: NewOrg = body(&b)?;
    let vis = parse_visibility(o.default_visibility.as_deref())?;
    let org = app.accounts.create_org(&who, &o.name, vis).await?;
    Ok(ok(StatusCode::CREATED, org_json(&org, None)))
}

async fn list_orgs(State(app): State<AppState>, Who(who): Who) -> Result<Response> {
    let orgs = app.accounts.list_orgs(&who).await?;
    Ok(ok(StatusCode::OK, json!({ "orgs": orgs.iter().map(|o| org_json(o, None)).collect::<Vec<_>>() })))
}

async fn get_org(State(app): State<AppState>, Who(who): Who, Path(org): Path<String>) -> Result<Response> {
    let (o, teams) = app.accounts.org(&who, &org).await?;
    Ok(ok(StatusCode::OK, org_json(&o, Some(&teams))))
}

#[derive(Deserialize)]
struct OrgPatch {
    default_visibility: Option<String>,
}

async fn patch_org(State(app): State<AppState>, Who(who): Who, Path(org): Path<String>, b: Bytes) -> Result<Response> {
    let p: OrgPatch = body(&b)?;
    let vis = parse_visibility(p.default_visibility.as_deref())?;
    let o = app.accounts.update_org(&who, &org, vis).await?;
    Ok(ok(StatusCode::OK, org_json(&o, None)))
}

async fn delete_org(State(app): State<AppState>, Who(who): Who, Path(org): Path<String>) -> Result<Response> {
    app.accounts.delete_org(&who, &org).await?;
    Ok(no_content())
}

// ---- teams ----

#[derive(Deserialize)]
struct NewTeam {
    name: String,
    role: String,
}

#[derive(Deserialize)]
struct TeamPatch {
    role: String,
}

#[derive(Deserialize)]
struct RepoRole {
    role: String,
}

fn org_role(s: &str) -> Result<OrgRole> {
    OrgRole::parse(s).ok_or_else(|| invalid("role must be owner, admin, write or read"))
}

async fn create_team(
    State(app): State<AppState>,
    Who(who): Who,
    Path(org): Path<String>,
    b: Bytes,
) -> Result<Response> {
    let t: NewTeam = body(&b)?;
    let team = app.accounts.create_team(&who, &org, &t.name, org_role(&t.role)?).await?;
    Ok(ok(StatusCode::CREATED, team_json(&team)))
}

async fn list_teams(State(app): State<AppState>, Who(who): Who, Path(org): Path<String>) -> Result<Response> {
    let teams = app.accounts.teams(&who, &org).await?;
    Ok(ok(StatusCode::OK, json!({ "teams": teams.iter().map(team_json).collect::<Vec<_>>() })))
}

async fn get_team(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, team)): Path<(String, String)>,
) -> Result<Response> {
    let (t, members, repos) = app.accounts.team(&who, &org, &team).await?;
    let mut v = team_json(&t);
    v["members"] = members.iter().map(|m| m.name.clone()).collect::<Vec<_>>().into();
    v["repositories"] =
        repos.iter().map(|(r, l)| json!({ "repository": r, "role": l.as_str() })).collect::<Vec<_>>().into();
    Ok(ok(StatusCode::OK, v))
}

async fn patch_team(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, team)): Path<(String, String)>,
    b: Bytes,
) -> Result<Response> {
    let p: TeamPatch = body(&b)?;
    let t = app.accounts.set_team_role(&who, &org, &team, org_role(&p.role)?).await?;
    Ok(ok(StatusCode::OK, team_json(&t)))
}

async fn delete_team(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, team)): Path<(String, String)>,
) -> Result<Response> {
    app.accounts.delete_team(&who, &org, &team).await?;
    Ok(no_content())
}

async fn team_members(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, team)): Path<(String, String)>,
) -> Result<Response> {
    let (_, members, _) = app.accounts.team(&who, &org, &team).await?;
    Ok(ok(StatusCode::OK, json!({ "members": members.iter().map(user_json).collect::<Vec<_>>() })))
}

async fn add_member(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, team, m)): Path<(String, String, String)>,
) -> Result<Response> {
    app.accounts.add_member(&who, &org, &team, &m).await?;
    Ok(no_content())
}

async fn remove_member(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, team, m)): Path<(String, String, String)>,
) -> Result<Response> {
    app.accounts.remove_member(&who, &org, &team, &m).await?;
    Ok(no_content())
}

pub(crate) fn repo_name(s: &str) -> Result<RepoName> {
    s.parse().map_err(|e: berth_oci::NameError| invalid(e.to_string()))
}

async fn set_team_repo(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, team, name)): Path<(String, String, String)>,
    b: Bytes,
) -> Result<Response> {
    let r: RepoRole = body(&b)?;
    let level = Level::parse(&r.role).ok_or_else(|| invalid("role must be read, write or admin"))?;
    app.accounts.set_team_repository(&who, &org, &team, &repo_name(&name)?, Some(level)).await?;
    Ok(no_content())
}

async fn remove_team_repo(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, team, name)): Path<(String, String, String)>,
) -> Result<Response> {
    app.accounts.set_team_repository(&who, &org, &team, &repo_name(&name)?, None).await?;
    Ok(no_content())
}

// ---- robots ----

#[derive(Deserialize)]
struct NewRobot {
    name: String,
}

async fn create_robot(
    State(app): State<AppState>,
    Who(who): Who,
    Path(org): Path<String>,
    b: Bytes,
) -> Result<Response> {
    let r: NewRobot = body(&b)?;
    let (robot, secret) = app.accounts.create_robot(&who, &org, &r.name).await?;
    Ok(ok(StatusCode::CREATED, json!({ "name": robot.name, "token": secret, "created_at": rfc3339(robot.created_at) })))
}

async fn list_robots(State(app): State<AppState>, Who(who): Who, Path(org): Path<String>) -> Result<Response> {
    let list = app.accounts.robots(&who, &org).await?;
    let robots: Vec<Value> =
        list.iter().map(|r| json!({ "name": r.name, "created_at": rfc3339(r.created_at) })).collect();
    Ok(ok(StatusCode::OK, json!({ "robots": robots })))
}

async fn delete_robot(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, robot)): Path<(String, String)>,
) -> Result<Response> {
    app.accounts.delete_robot(&who, &org, &robot).await?;
    Ok(no_content())
}
