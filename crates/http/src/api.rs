//! The JSON API of accounts: users, personal access tokens, organizations, teams, members,
//! robots, and repository settings. Each handler authenticates, then calls the domain, which
//! checks the caller's rights. Each handler's `#[utoipa::path]` is its part of the OpenAPI
//! document (`crate::openapi`); the bodies it answers are the types of `crate::model`.

use crate::access::authenticate;
use crate::model::{
    MemberList, NewRobot, NewToken, Org, OrgDetail, OrgList, Robot, RobotList, TeamDetail, TeamInfo, TeamList,
    TeamRepository, TokenList, User, UserList, UserView,
};
use crate::openapi::{Conflict, Denied, Internal, Invalid, NotFound, Throttled, Unauthorized};
use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use berth_auth::{Level, OrgRole, PatScope, Subject, Visibility};
use berth_meta::Account;
use berth_oci::{ErrorCode, RepoName};
use berth_registry::accounts::AccountError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
        let ip = crate::client_ip(&parts.extensions);
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

/// `a` as `caller` may see it: all of it for the account itself and administrators.
fn user_for(app: &AppState, caller: &Subject, a: &Account) -> UserView {
    if app.accounts.sees_private(caller, a) {
        UserView::Full(a.into())
    } else {
        UserView::Public(a.into())
    }
}

pub(crate) fn ok(status: StatusCode, v: impl Serialize) -> Response {
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

/// A new user.
#[derive(Deserialize, ToSchema)]
struct NewUser {
    /// 2 to 30 of `[a-z0-9]`, not a reserved name.
    username: String,
    /// At least 8 characters.
    password: String,
    email: Option<String>,
    /// Only administrators may create administrators.
    #[serde(default)]
    admin: bool,
}

/// Creates a user: administrators always, anyone while `registration=open`.
#[utoipa::path(
    post, path = "/users", tag = "users",
    request_body = NewUser,
    responses(
        (status = 201, description = "The new user.", body = User),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 409, response = Conflict),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security((), ("basic" = []), ("bearer" = [])),
)]
async fn create_user(State(app): State<AppState>, MaybeWho(who): MaybeWho, b: Bytes) -> Result<Response> {
    let u: NewUser = body(&b)?;
    let a = app.accounts.create_user(Some(&who), &u.username, &u.password, u.email, u.admin).await?;
    Ok(ok(StatusCode::CREATED, User::from(&a)))
}

/// Users and robots, for any authenticated caller (private fields only of the caller itself, or
/// of everyone for administrators).
#[utoipa::path(
    get, path = "/users", tag = "users",
    responses(
        (status = 200, description = "Users and robots.", body = UserList),
        (status = 401, response = Unauthorized),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn list_users(State(app): State<AppState>, Who(who): Who) -> Result<Response> {
    let list = app.accounts.list_users(&who).await?;
    let users = list.iter().map(|a| user_for(&app, &who, a)).collect();
    Ok(ok(StatusCode::OK, UserList { users }))
}

/// The caller.
#[utoipa::path(
    get, path = "/user", tag = "users",
    responses(
        (status = 200, description = "The caller's account.", body = User),
        (status = 401, response = Unauthorized),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn whoami(State(app): State<AppState>, Who(who): Who) -> Result<Response> {
    let a = app.accounts.me(&who).await?;
    Ok(ok(StatusCode::OK, User::from(&a)))
}

/// A user, for any authenticated caller: all of it for the user itself and administrators, the
/// public part for others.
#[utoipa::path(
    get, path = "/users/{name}", tag = "users",
    params(("name" = String, Path, description = "The user's name.")),
    responses(
        (status = 200, description = "The user.", body = UserView),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn get_user(State(app): State<AppState>, Who(who): Who, Path(name): Path<String>) -> Result<Response> {
    let a = app.accounts.user(&who, &name).await?;
    Ok(ok(StatusCode::OK, user_for(&app, &who, &a)))
}

/// Changes to a user; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
struct UserPatch {
    /// At least 8 characters.
    password: Option<String>,
    email: Option<String>,
    /// `public` or `private`: the visibility of new repositories in the user's namespace.
    #[schema(value_type = Option<crate::model::VisibilityName>)]
    default_visibility: Option<String>,
}

/// Changes a user (the user itself or an administrator).
#[utoipa::path(
    patch, path = "/users/{name}", tag = "users",
    params(("name" = String, Path, description = "The user's name.")),
    request_body = UserPatch,
    responses(
        (status = 200, description = "The user as it is now.", body = User),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn patch_user(
    State(app): State<AppState>,
    Who(who): Who,
    Path(name): Path<String>,
    b: Bytes,
) -> Result<Response> {
    let p: UserPatch = body(&b)?;
    let vis = parse_visibility(p.default_visibility.as_deref())?;
    let a = app.accounts.update_user(&who, &name, p.password.as_deref(), p.email, vis).await?;
    Ok(ok(StatusCode::OK, User::from(&a)))
}

/// Deletes a user (administrators).
#[utoipa::path(
    delete, path = "/users/{name}", tag = "users",
    params(("name" = String, Path, description = "The user's name.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn delete_user(State(app): State<AppState>, Who(who): Who, Path(name): Path<String>) -> Result<Response> {
    app.accounts.delete_user(Some(&who), &name).await?;
    Ok(no_content())
}

/// Server-side logout (the user itself or an administrator): every refresh token of the user is
/// revoked and every access token issued before now stops working.
#[utoipa::path(
    post, path = "/users/{name}/revoke-tokens", tag = "users",
    params(("name" = String, Path, description = "The user's name.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn revoke_tokens(State(app): State<AppState>, Who(who): Who, Path(name): Path<String>) -> Result<Response> {
    app.accounts.revoke_all(&who, &name).await?;
    Ok(no_content())
}

// ---- personal access tokens ----

/// A new personal access token.
#[derive(Deserialize, ToSchema)]
struct NewPat {
    /// 1 to 100 characters.
    name: String,
    #[schema(value_type = crate::model::TokenScopeName)]
    scope: String,
    /// RFC 3339, in the future; absent: it does not expire.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
}

/// Creates a personal access token (the user itself or an administrator); the secret is shown only
/// here.
#[utoipa::path(
    post, path = "/users/{name}/tokens", tag = "tokens",
    params(("name" = String, Path, description = "The user's name.")),
    request_body = NewPat,
    responses(
        (status = 201, description = "The token with its secret.", body = NewToken),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
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
    Ok(ok(StatusCode::CREATED, NewToken::new(&t.token, t.secret)))
}

/// A user's personal access tokens, without their secrets (the user itself or an administrator).
#[utoipa::path(
    get, path = "/users/{name}/tokens", tag = "tokens",
    params(("name" = String, Path, description = "The user's name.")),
    responses(
        (status = 200, description = "The tokens.", body = TokenList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn list_tokens(State(app): State<AppState>, Who(who): Who, Path(user): Path<String>) -> Result<Response> {
    let list = app.accounts.list_tokens(&who, &user).await?;
    Ok(ok(StatusCode::OK, TokenList { tokens: list.iter().map(Into::into).collect() }))
}

/// Deletes a personal access token (the user itself or an administrator).
#[utoipa::path(
    delete, path = "/users/{name}/tokens/{id}", tag = "tokens",
    params(
        ("name" = String, Path, description = "The user's name."),
        ("id" = i64, Path, description = "The token's `id` (anything else is `404`)."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
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

/// A new organization.
#[derive(Deserialize, ToSchema)]
struct NewOrg {
    /// 2 to 30 of `[a-z0-9]`, not a reserved name nor a user's.
    name: String,
    #[schema(value_type = Option<crate::model::VisibilityName>)]
    default_visibility: Option<String>,
}

/// Creates an organization (any user; the creator becomes its owner through a team `owners`).
#[utoipa::path(
    post, path = "/orgs", tag = "orgs",
    request_body = NewOrg,
    responses(
        (status = 201, description = "The organization.", body = Org),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 409, response = Conflict),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn create_org(State(app): State<AppState>, Who(who): Who, b: Bytes) -> Result<Response> {
    let o: NewOrg = body(&b)?;
    let vis = parse_visibility(o.default_visibility.as_deref())?;
    let org = app.accounts.create_org(&who, &o.name, vis).await?;
    Ok(ok(StatusCode::CREATED, Org::from(&org)))
}

/// Every organization, for any authenticated caller.
#[utoipa::path(
    get, path = "/orgs", tag = "orgs",
    responses(
        (status = 200, description = "The organizations.", body = OrgList),
        (status = 401, response = Unauthorized),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn list_orgs(State(app): State<AppState>, Who(who): Who) -> Result<Response> {
    let orgs = app.accounts.list_orgs(&who).await?;
    Ok(ok(StatusCode::OK, OrgList { orgs: orgs.iter().map(Into::into).collect() }))
}

/// An organization, for any authenticated caller, with its teams (listed only for its members and
/// administrators: `[]` for others).
#[utoipa::path(
    get, path = "/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "The organization's name.")),
    responses(
        (status = 200, description = "The organization and its teams (`[]` unless the caller is a member or an administrator).", body = OrgDetail),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn get_org(State(app): State<AppState>, Who(who): Who, Path(org): Path<String>) -> Result<Response> {
    let (o, teams) = app.accounts.org(&who, &org).await?;
    Ok(ok(StatusCode::OK, OrgDetail::new(&o, &teams)))
}

/// Changes to an organization.
#[derive(Deserialize, ToSchema)]
struct OrgPatch {
    #[schema(value_type = Option<crate::model::VisibilityName>)]
    default_visibility: Option<String>,
}

/// Changes an organization (its admins and owners).
#[utoipa::path(
    patch, path = "/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "The organization's name.")),
    request_body = OrgPatch,
    responses(
        (status = 200, description = "The organization as it is now.", body = Org),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn patch_org(State(app): State<AppState>, Who(who): Who, Path(org): Path<String>, b: Bytes) -> Result<Response> {
    let p: OrgPatch = body(&b)?;
    let vis = parse_visibility(p.default_visibility.as_deref())?;
    let o = app.accounts.update_org(&who, &org, vis).await?;
    Ok(ok(StatusCode::OK, Org::from(&o)))
}

/// Deletes an organization with its teams and robots (its owners).
#[utoipa::path(
    delete, path = "/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "The organization's name.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn delete_org(State(app): State<AppState>, Who(who): Who, Path(org): Path<String>) -> Result<Response> {
    app.accounts.delete_org(&who, &org).await?;
    Ok(no_content())
}

// ---- teams ----

/// A new team.
#[derive(Deserialize, ToSchema)]
struct NewTeam {
    /// 2 to 30 of `[a-z0-9]`.
    name: String,
    /// Only owners may create an `owner` team.
    #[schema(value_type = crate::model::OrgRoleName)]
    role: String,
}

/// A team's new role.
#[derive(Deserialize, ToSchema)]
struct TeamPatch {
    #[schema(value_type = crate::model::OrgRoleName)]
    role: String,
}

/// A team's role on one repository.
#[derive(Deserialize, ToSchema)]
struct RepoRole {
    /// `read`, `write` or `admin`.
    #[schema(value_type = crate::model::RepositoryRoleName)]
    role: String,
}

fn org_role(s: &str) -> Result<OrgRole> {
    OrgRole::parse(s).ok_or_else(|| invalid("role must be owner, admin, write or read"))
}

/// Creates a team (the organization's admins; only owners may create an `owner` team).
#[utoipa::path(
    post, path = "/orgs/{org}/teams", tag = "teams",
    params(("org" = String, Path, description = "The organization's name.")),
    request_body = NewTeam,
    responses(
        (status = 201, description = "The team.", body = TeamInfo),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn create_team(
    State(app): State<AppState>,
    Who(who): Who,
    Path(org): Path<String>,
    b: Bytes,
) -> Result<Response> {
    let t: NewTeam = body(&b)?;
    let team = app.accounts.create_team(&who, &org, &t.name, org_role(&t.role)?).await?;
    Ok(ok(StatusCode::CREATED, TeamInfo::from(&team)))
}

/// An organization's teams (its members).
#[utoipa::path(
    get, path = "/orgs/{org}/teams", tag = "teams",
    params(("org" = String, Path, description = "The organization's name.")),
    responses(
        (status = 200, description = "The teams.", body = TeamList),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn list_teams(State(app): State<AppState>, Who(who): Who, Path(org): Path<String>) -> Result<Response> {
    let teams = app.accounts.teams(&who, &org).await?;
    Ok(ok(StatusCode::OK, TeamList { teams: teams.iter().map(Into::into).collect() }))
}

/// A team with its members and repository roles (the organization's members).
#[utoipa::path(
    get, path = "/orgs/{org}/teams/{team}", tag = "teams",
    params(
        ("org" = String, Path, description = "The organization's name."),
        ("team" = String, Path, description = "The team's name."),
    ),
    responses(
        (status = 200, description = "The team.", body = TeamDetail),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn get_team(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, team)): Path<(String, String)>,
) -> Result<Response> {
    let (t, members, repos) = app.accounts.team(&who, &org, &team).await?;
    Ok(ok(
        StatusCode::OK,
        TeamDetail {
            name: t.name,
            role: t.role.into(),
            members: members.into_iter().map(|m| m.name).collect(),
            repositories: repos
                .into_iter()
                .map(|(repository, l)| TeamRepository { repository, role: l.into() })
                .collect(),
        },
    ))
}

/// Changes a team's role (the organization's admins; only owners may touch `owner` teams).
#[utoipa::path(
    patch, path = "/orgs/{org}/teams/{team}", tag = "teams",
    params(
        ("org" = String, Path, description = "The organization's name."),
        ("team" = String, Path, description = "The team's name."),
    ),
    request_body = TeamPatch,
    responses(
        (status = 200, description = "The team as it is now.", body = TeamInfo),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn patch_team(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, team)): Path<(String, String)>,
    b: Bytes,
) -> Result<Response> {
    let p: TeamPatch = body(&b)?;
    let t = app.accounts.set_team_role(&who, &org, &team, org_role(&p.role)?).await?;
    Ok(ok(StatusCode::OK, TeamInfo::from(&t)))
}

/// Deletes a team (the organization's admins; only owners may delete an `owner` team).
#[utoipa::path(
    delete, path = "/orgs/{org}/teams/{team}", tag = "teams",
    params(
        ("org" = String, Path, description = "The organization's name."),
        ("team" = String, Path, description = "The team's name."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn delete_team(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, team)): Path<(String, String)>,
) -> Result<Response> {
    app.accounts.delete_team(&who, &org, &team).await?;
    Ok(no_content())
}

/// A team's members, users and robots (the organization's members).
#[utoipa::path(
    get, path = "/orgs/{org}/teams/{team}/members", tag = "teams",
    params(
        ("org" = String, Path, description = "The organization's name."),
        ("team" = String, Path, description = "The team's name."),
    ),
    responses(
        (status = 200, description = "The members.", body = MemberList),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn team_members(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, team)): Path<(String, String)>,
) -> Result<Response> {
    let (_, members, _) = app.accounts.team(&who, &org, &team).await?;
    Ok(ok(StatusCode::OK, MemberList { members: members.iter().map(|a| user_for(&app, &who, a)).collect() }))
}

/// Adds a user or a robot of the organization to a team (the organization's admins).
#[utoipa::path(
    put, path = "/orgs/{org}/teams/{team}/members/{member}", tag = "teams",
    params(
        ("org" = String, Path, description = "The organization's name."),
        ("team" = String, Path, description = "The team's name."),
        ("member" = String, Path, description = "A user's name or a robot's (`<org>+<name>`)."),
    ),
    responses(
        (status = 204, description = "A member (also when it already was)."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn add_member(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, team, m)): Path<(String, String, String)>,
) -> Result<Response> {
    app.accounts.add_member(&who, &org, &team, &m).await?;
    Ok(no_content())
}

/// Removes a member from a team (the organization's admins).
#[utoipa::path(
    delete, path = "/orgs/{org}/teams/{team}/members/{member}", tag = "teams",
    params(
        ("org" = String, Path, description = "The organization's name."),
        ("team" = String, Path, description = "The team's name."),
        ("member" = String, Path, description = "A user's name or a robot's (`<org>+<name>`)."),
    ),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
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

/// Gives a team a role on one repository of the organization's namespace, which need not exist
/// yet (the organization's admins).
#[utoipa::path(
    put, path = "/orgs/{org}/teams/{team}/repositories/{name}", tag = "teams",
    params(
        ("org" = String, Path, description = "The organization's name."),
        ("team" = String, Path, description = "The team's name."),
        ("name" = String, Path, description = "The full repository name, in the organization's namespace; it contains slashes (`org/app`), sent as they are.", extensions(("x-berth-multi-segment" = json!(true)))),
    ),
    request_body = RepoRole,
    responses(
        (status = 204, description = "The team has the role."),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
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

/// Takes a team's role on one repository away (the organization's admins).
#[utoipa::path(
    delete, path = "/orgs/{org}/teams/{team}/repositories/{name}", tag = "teams",
    params(
        ("org" = String, Path, description = "The organization's name."),
        ("team" = String, Path, description = "The team's name."),
        ("name" = String, Path, description = "The full repository name; it contains slashes (`org/app`), sent as they are.", extensions(("x-berth-multi-segment" = json!(true)))),
    ),
    responses(
        (status = 204, description = "The role is gone."),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn remove_team_repo(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, team, name)): Path<(String, String, String)>,
) -> Result<Response> {
    app.accounts.set_team_repository(&who, &org, &team, &repo_name(&name)?, None).await?;
    Ok(no_content())
}

// ---- robots ----

/// A new robot account.
#[derive(Deserialize, ToSchema)]
struct NewRobotBody {
    /// 2 to 30 of `[a-z0-9]`; the robot is named `<org>+<name>`.
    name: String,
}

/// Creates a robot account (the organization's admins); its token is shown only here.
#[utoipa::path(
    post, path = "/orgs/{org}/robots", tag = "robots",
    params(("org" = String, Path, description = "The organization's name.")),
    request_body = NewRobotBody,
    responses(
        (status = 201, description = "The robot with its token.", body = NewRobot),
        (status = 400, response = Invalid),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn create_robot(
    State(app): State<AppState>,
    Who(who): Who,
    Path(org): Path<String>,
    b: Bytes,
) -> Result<Response> {
    let r: NewRobotBody = body(&b)?;
    let (robot, secret) = app.accounts.create_robot(&who, &org, &r.name).await?;
    Ok(ok(StatusCode::CREATED, NewRobot { name: robot.name, token: secret, created_at: rfc3339(robot.created_at) }))
}

/// An organization's robots (its admins).
#[utoipa::path(
    get, path = "/orgs/{org}/robots", tag = "robots",
    params(("org" = String, Path, description = "The organization's name.")),
    responses(
        (status = 200, description = "The robots.", body = RobotList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn list_robots(State(app): State<AppState>, Who(who): Who, Path(org): Path<String>) -> Result<Response> {
    let list = app.accounts.robots(&who, &org).await?;
    Ok(ok(StatusCode::OK, RobotList { robots: list.iter().map(Robot::from).collect() }))
}

/// Deletes a robot account (the organization's admins).
#[utoipa::path(
    delete, path = "/orgs/{org}/robots/{robot}", tag = "robots",
    params(
        ("org" = String, Path, description = "The organization's name."),
        ("robot" = String, Path, description = "The robot's full name, `<org>+<name>`."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Denied),
        (status = 404, response = NotFound),
        (status = 429, response = Throttled),
        (status = 500, response = Internal),
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn delete_robot(
    State(app): State<AppState>,
    Who(who): Who,
    Path((org, robot)): Path<(String, String)>,
) -> Result<Response> {
    app.accounts.delete_robot(&who, &org, &robot).await?;
    Ok(no_content())
}

/// The OpenAPI description of these routes (`crate::openapi` nests it under `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_user,
    list_users,
    whoami,
    get_user,
    patch_user,
    delete_user,
    revoke_tokens,
    create_token,
    list_tokens,
    delete_token,
    create_org,
    list_orgs,
    get_org,
    patch_org,
    delete_org,
    create_team,
    list_teams,
    get_team,
    patch_team,
    delete_team,
    team_members,
    add_member,
    remove_member,
    set_team_repo,
    remove_team_repo,
    create_robot,
    list_robots,
    delete_robot,
))]
pub(crate) struct Doc;
