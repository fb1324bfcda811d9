//! The JSON bodies that `/api/v1` answers. Each type is the one definition of both the JSON a
//! handler sends (`Serialize`) and its schema in the OpenAPI document (`ToSchema`), so the two
//! cannot drift apart. Fields that are always present but may be `null` are `Option`s marked
//! `required`; the OpenAPI document closes every response object (`additionalProperties: false`,
//! see `crate::openapi`), so a field sent but not declared here fails the document's test.

use crate::api::rfc3339;
use berth_auth::{Level, OrgRole, PatScope, Visibility};
use berth_meta::{AccessToken, Account, AccountKind, Delivery, DeliveryStatus, EventKind, Team};
use berth_meta::{RepositoryInfo, TagInfo, Webhook};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

// ---- names: each serialises exactly as the domain's `as_str` ----

/// Who may read a repository without a role on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Visibility)]
pub enum VisibilityName {
    Public,
    Private,
}

impl From<Visibility> for VisibilityName {
    fn from(v: Visibility) -> Self {
        match v {
            Visibility::Public => VisibilityName::Public,
            Visibility::Private => VisibilityName::Private,
        }
    }
}

/// The kind of an account (`org` never appears where a user is shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = AccountKind)]
pub enum AccountKindName {
    User,
    Robot,
    Org,
}

impl From<AccountKind> for AccountKindName {
    fn from(k: AccountKind) -> Self {
        match k {
            AccountKind::User => AccountKindName::User,
            AccountKind::Robot => AccountKindName::Robot,
            AccountKind::Org => AccountKindName::Org,
        }
    }
}

/// A team's role on its organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = OrgRole)]
pub enum OrgRoleName {
    Owner,
    Admin,
    Write,
    Read,
}

impl From<OrgRole> for OrgRoleName {
    fn from(r: OrgRole) -> Self {
        match r {
            OrgRole::Owner => OrgRoleName::Owner,
            OrgRole::Admin => OrgRoleName::Admin,
            OrgRole::Write => OrgRoleName::Write,
            OrgRole::Read => OrgRoleName::Read,
        }
    }
}

/// A team's role on one repository (`none` is never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = RepositoryRole)]
pub enum RepositoryRoleName {
    Admin,
    Write,
    Read,
    None,
}

impl From<Level> for RepositoryRoleName {
    fn from(l: Level) -> Self {
        match l {
            Level::Admin => RepositoryRoleName::Admin,
            Level::Write => RepositoryRoleName::Write,
            Level::Read => RepositoryRoleName::Read,
            Level::None => RepositoryRoleName::None,
        }
    }
}

/// What a personal access token allows: pull; pull and push; pull, push and delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = TokenScope)]
pub enum TokenScopeName {
    #[serde(rename = "read")]
    Read,
    #[serde(rename = "read-write")]
    ReadWrite,
    #[serde(rename = "delete")]
    Delete,
}

impl From<PatScope> for TokenScopeName {
    fn from(s: PatScope) -> Self {
        match s {
            PatScope::Read => TokenScopeName::Read,
            PatScope::ReadWrite => TokenScopeName::ReadWrite,
            PatScope::Delete => TokenScopeName::Delete,
        }
    }
}

/// A webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Event)]
pub enum EventName {
    Push,
    Delete,
    Pull,
}

impl From<EventKind> for EventName {
    fn from(e: EventKind) -> Self {
        match e {
            EventKind::Push => EventName::Push,
            EventKind::Delete => EventName::Delete,
            EventKind::Pull => EventName::Pull,
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = DeliveryStatus)]
pub enum DeliveryStatusName {
    Pending,
    Delivered,
    Failed,
}

impl From<DeliveryStatus> for DeliveryStatusName {
    fn from(s: DeliveryStatus) -> Self {
        match s {
            DeliveryStatus::Pending => DeliveryStatusName::Pending,
            DeliveryStatus::Delivered => DeliveryStatusName::Delivered,
            DeliveryStatus::Failed => DeliveryStatusName::Failed,
        }
    }
}

// ---- users ----

/// An account as the account itself and administrators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub username: String,
    pub kind: AccountKindName,
    #[schema(required = true)]
    pub email: Option<String>,
    /// A server administrator.
    pub admin: bool,
    /// The visibility of new repositories in the user's namespace; `null`: the server's.
    #[schema(required = true)]
    pub default_visibility: Option<VisibilityName>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&Account> for User {
    fn from(a: &Account) -> Self {
        User {
            username: a.name.clone(),
            kind: a.kind.into(),
            email: a.email.clone(),
            admin: a.admin,
            default_visibility: a.default_visibility.map(Into::into),
            created_at: rfc3339(a.created_at),
        }
    }
}

/// What any authenticated caller sees of another account.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicUser {
    pub username: String,
    pub kind: AccountKindName,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&Account> for PublicUser {
    fn from(a: &Account) -> Self {
        PublicUser { username: a.name.clone(), kind: a.kind.into(), created_at: rfc3339(a.created_at) }
    }
}

/// An account: all of it for the account itself and administrators, else its public part.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum UserView {
    Full(User),
    Public(PublicUser),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}

// ---- personal access tokens ----

/// A personal access token, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub scope: TokenScopeName,
    /// `null`: it does not expire.
    #[schema(required = true, format = DateTime)]
    pub expires_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// `null`: never used.
    #[schema(required = true, format = DateTime)]
    pub last_used_at: Option<String>,
}

impl From<&AccessToken> for Token {
    fn from(t: &AccessToken) -> Self {
        Token {
            id: t.id,
            name: t.name.clone(),
            scope: t.scope.into(),
            expires_at: t.expires_at.map(rfc3339),
            created_at: rfc3339(t.created_at),
            last_used_at: t.last_used_at.map(rfc3339),
        }
    }
}

/// A token just created, with its secret (shown only here).
#[derive(Debug, Serialize, ToSchema)]
pub struct NewToken {
    pub id: i64,
    pub name: String,
    pub scope: TokenScopeName,
    #[schema(required = true, format = DateTime)]
    pub expires_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required = true, format = DateTime)]
    pub last_used_at: Option<String>,
    /// The secret: a password for `docker login` and HTTP Basic.
    pub token: String,
}

impl NewToken {
    pub fn new(t: &AccessToken, secret: String) -> Self {
        let Token { id, name, scope, expires_at, created_at, last_used_at } = Token::from(t);
        NewToken { id, name, scope, expires_at, created_at, last_used_at, token: secret }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<Token>,
}

// ---- organizations, teams, robots ----

/// An organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct Org {
    pub name: String,
    /// The visibility of new repositories in its namespace; `null`: the server's.
    #[schema(required = true)]
    pub default_visibility: Option<VisibilityName>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&Account> for Org {
    fn from(o: &Account) -> Self {
        Org {
            name: o.name.clone(),
            default_visibility: o.default_visibility.map(Into::into),
            created_at: rfc3339(o.created_at),
        }
    }
}

/// An organization with its teams.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgDetail {
    pub name: String,
    #[schema(required = true)]
    pub default_visibility: Option<VisibilityName>,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub teams: Vec<TeamInfo>,
}

impl OrgDetail {
    pub fn new(o: &Account, teams: &[Team]) -> Self {
        let Org { name, default_visibility, created_at } = Org::from(o);
        OrgDetail { name, default_visibility, created_at, teams: teams.iter().map(Into::into).collect() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgList {
    pub orgs: Vec<Org>,
}

/// A team.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Team)]
pub struct TeamInfo {
    pub name: String,
    pub role: OrgRoleName,
}

impl From<&Team> for TeamInfo {
    fn from(t: &Team) -> Self {
        TeamInfo { name: t.name.clone(), role: t.role.into() }
    }
}

/// A team with its members' names and its repository roles.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamDetail {
    pub name: String,
    pub role: OrgRoleName,
    /// User and robot names.
    pub members: Vec<String>,
    pub repositories: Vec<TeamRepository>,
}

/// A team's role on one repository.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamRepository {
    pub repository: String,
    pub role: RepositoryRoleName,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamList {
    pub teams: Vec<TeamInfo>,
}

/// The members of a team (users and robots).
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<UserView>,
}

/// A robot account (`<org>+<name>`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Robot {
    pub name: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&Account> for Robot {
    fn from(r: &Account) -> Self {
        Robot { name: r.name.clone(), created_at: rfc3339(r.created_at) }
    }
}

/// A robot just created, with its token (shown only here).
#[derive(Debug, Serialize, ToSchema)]
pub struct NewRobot {
    pub name: String,
    /// The robot's password for `docker login -u <org>+<name>`.
    pub token: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RobotList {
    pub robots: Vec<Robot>,
}

// ---- repositories ----

/// A repository as listings show it (every field but `full_description`).
#[derive(Debug, Serialize, ToSchema)]
pub struct RepositorySummary {
    /// The full name (`alice/web`).
    pub name: String,
    /// The first path component; for an official repository, the name.
    pub namespace: String,
    /// The name has no slash.
    pub official: bool,
    #[schema(value_type = VisibilityName)]
    pub visibility: String,
    /// One line, at most 100 characters; `""` when unset.
    pub description: String,
    pub star_count: i64,
    /// Whether the caller starred it (false for anonymous callers).
    pub starred: bool,
    /// Manifest `GET`s answered 200.
    pub pull_count: i64,
    /// The last manifest push; `null`: none yet.
    #[schema(required = true, format = DateTime)]
    pub last_pushed: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Bytes of its distinct blobs plus its manifests.
    pub size: i64,
    pub tag_count: i64,
}

impl From<&RepositoryInfo> for RepositorySummary {
    fn from(r: &RepositoryInfo) -> Self {
        RepositorySummary {
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            official: !r.name.contains('/'),
            visibility: r.visibility.clone(),
            description: r.description.clone(),
            star_count: r.star_count,
            starred: r.starred,
            pull_count: r.pull_count,
            last_pushed: r.last_pushed.map(rfc3339),
            created_at: rfc3339(r.created_at),
            size: r.size,
            tag_count: r.tag_count,
        }
    }
}

/// A repository with all its fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct Repository {
    pub name: String,
    pub namespace: String,
    pub official: bool,
    #[schema(value_type = VisibilityName)]
    pub visibility: String,
    pub description: String,
    /// Markdown, at most 25,000 characters; `""` when unset.
    pub full_description: String,
    pub star_count: i64,
    pub starred: bool,
    pub pull_count: i64,
    #[schema(required = true, format = DateTime)]
    pub last_pushed: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub size: i64,
    pub tag_count: i64,
}

impl From<&RepositoryInfo> for Repository {
    fn from(r: &RepositoryInfo) -> Self {
        let s = RepositorySummary::from(r);
        Repository {
            name: s.name,
            namespace: s.namespace,
            official: s.official,
            visibility: s.visibility,
            description: s.description,
            full_description: r.full_description.clone(),
            star_count: s.star_count,
            starred: s.starred,
            pull_count: s.pull_count,
            last_pushed: s.last_pushed,
            created_at: s.created_at,
            size: s.size,
            tag_count: s.tag_count,
        }
    }
}

/// A page of repositories.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepositoryPage {
    pub repositories: Vec<RepositorySummary>,
    pub page: usize,
    pub page_size: usize,
    /// Every match, over all pages.
    pub total: usize,
}

/// Repositories a user starred, most recently starred first.
#[derive(Debug, Serialize, ToSchema)]
pub struct StarredList {
    pub repositories: Vec<RepositorySummary>,
}

/// A platform an image is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Platform {
    /// Absent only when the image's config does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub os: Option<String>,
    /// Absent only when the image's config does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub variant: Option<String>,
}

/// A tag with the manifest it points at.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tag {
    pub name: String,
    pub digest: String,
    pub media_type: String,
    /// The manifest's bytes plus the distinct blobs it references (for an index, its manifests' too).
    pub size: i64,
    /// An image's from its config, an index's from its entries; `[]` when unknown.
    pub platforms: Vec<Platform>,
    #[schema(format = DateTime)]
    pub pushed_at: String,
}

impl From<&TagInfo> for Tag {
    fn from(t: &TagInfo) -> Self {
        Tag {
            name: t.name.clone(),
            digest: t.digest.clone(),
            media_type: t.media_type.clone(),
            size: t.size,
            platforms: serde_json::from_str(&t.platforms).unwrap_or_default(),
            pushed_at: rfc3339(t.pushed_at),
        }
    }
}

/// A page of tags, by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagPage {
    pub tags: Vec<Tag>,
    pub page: usize,
    pub page_size: usize,
    pub total: usize,
}

// ---- webhooks ----

/// A webhook (its secret is shown only when it is created).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookInfo {
    pub id: i64,
    pub namespace: String,
    /// `null`: every repository of the namespace.
    #[schema(required = true)]
    pub repository: Option<String>,
    pub url: String,
    pub events: Vec<EventName>,
    pub active: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&Webhook> for WebhookInfo {
    fn from(w: &Webhook) -> Self {
        WebhookInfo {
            id: w.id,
            namespace: w.namespace.clone(),
            repository: w.repository.clone(),
            url: w.url.clone(),
            events: w.events.iter().map(|e| (*e).into()).collect(),
            active: w.active,
            created_at: rfc3339(w.created_at),
        }
    }
}

/// A webhook just created, with its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewWebhook {
    pub id: i64,
    pub namespace: String,
    #[schema(required = true)]
    pub repository: Option<String>,
    pub url: String,
    pub events: Vec<EventName>,
    pub active: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The HMAC-SHA256 key of `X-Berth-Signature`.
    pub secret: String,
}

impl From<&Webhook> for NewWebhook {
    fn from(w: &Webhook) -> Self {
        let WebhookInfo { id, namespace, repository, url, events, active, created_at } = WebhookInfo::from(w);
        NewWebhook { id, namespace, repository, url, events, active, created_at, secret: w.secret.clone() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookInfo>,
}

/// The body of a delivery, as sent to the webhook's URL.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct WebhookPayload {
    /// The delivery's id (`X-Berth-Delivery`).
    pub id: String,
    pub event: EventName,
    #[schema(format = DateTime)]
    pub timestamp: String,
    pub repository: String,
    pub namespace: String,
    /// The tag; `null` for a push by digest, a delete by digest, a repository delete, a pull by digest.
    #[schema(required = true)]
    pub tag: Option<String>,
    /// The manifest; `null` for a repository delete.
    #[schema(required = true)]
    pub digest: Option<String>,
    #[schema(required = true)]
    pub media_type: Option<String>,
    /// The account that did it; `null`: anonymous or the open mode.
    #[schema(required = true)]
    pub actor: Option<String>,
}

/// One try at sending a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    #[schema(format = DateTime)]
    pub at: String,
    /// The receiver's status; `null`: no answer.
    #[schema(required = true)]
    pub status_code: Option<u16>,
    /// Why it failed; `null`: it did not.
    #[schema(required = true)]
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A delivery with its attempts.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Delivery)]
pub struct DeliveryInfo {
    pub id: String,
    #[schema(value_type = EventName)]
    pub event: String,
    pub status: DeliveryStatusName,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the next attempt is due; `null` unless pending.
    #[schema(required = true, format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// The body sent.
    #[schema(value_type = WebhookPayload)]
    pub payload: Value,
    pub attempts: Vec<DeliveryAttempt>,
}

/// Unix milliseconds as RFC 3339 with milliseconds.
/// A time kept in milliseconds, shown like every other time of the API (seconds).
fn ms_time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs((ms.max(0) / 1000) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

impl From<&Delivery> for DeliveryInfo {
    fn from(d: &Delivery) -> Self {
        DeliveryInfo {
            id: d.id.clone(),
            event: d.event.clone(),
            status: d.status.into(),
            created_at: rfc3339(d.created_at),
            next_attempt_at: (d.status == DeliveryStatus::Pending).then(|| ms_time(d.next_attempt_ms)),
            payload: serde_json::from_str(&d.payload).unwrap_or(Value::Null),
            attempts: d
                .attempts
                .iter()
                .map(|a| DeliveryAttempt {
                    at: ms_time(a.at_ms),
                    status_code: a.status_code,
                    error: a.error.clone(),
                    duration_ms: a.duration_ms,
                })
                .collect(),
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryInfo>,
    pub page: usize,
    pub page_size: usize,
    pub total: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: Serialize>(v: T) -> String {
        serde_json::to_value(v).unwrap().as_str().unwrap().to_owned()
    }

    /// The names serialise exactly as the domain's own strings.
    #[test]
    fn names_are_the_domain_strings() {
        for v in [Visibility::Public, Visibility::Private] {
            assert_eq!(json(VisibilityName::from(v)), v.as_str());
        }
        for k in [AccountKind::User, AccountKind::Robot, AccountKind::Org] {
            assert_eq!(json(AccountKindName::from(k)), k.as_str());
        }
        for r in [OrgRole::Owner, OrgRole::Admin, OrgRole::Write, OrgRole::Read] {
            assert_eq!(json(OrgRoleName::from(r)), r.as_str());
        }
        for l in [Level::Admin, Level::Write, Level::Read, Level::None] {
            assert_eq!(json(RepositoryRoleName::from(l)), l.as_str());
        }
        for s in [PatScope::Read, PatScope::ReadWrite, PatScope::Delete] {
            assert_eq!(json(TokenScopeName::from(s)), s.as_str());
        }
        for e in EventKind::ALL {
            assert_eq!(json(EventName::from(e)), e.as_str());
        }
        for s in [DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Failed] {
            assert_eq!(json(DeliveryStatusName::from(s)), s.as_str());
        }
    }

    /// Platforms go out as they were stored; unreadable ones as `[]`, as before.
    #[test]
    fn platforms_round_trip() {
        let stored = r#"[{"os":"linux","architecture":"arm64","variant":"v8"},{"os":"linux","architecture":"amd64"}]"#;
        let t = TagInfo {
            name: "v1".into(),
            digest: "sha256:00".into(),
            media_type: "m".into(),
            size: 1,
            platforms: stored.into(),
            pushed_at: 0,
        };
        let v = serde_json::to_value(Tag::from(&t)).unwrap();
        assert_eq!(v["platforms"], serde_json::from_str::<Value>(stored).unwrap());
        let bad = TagInfo { platforms: "not json".into(), ..t };
        assert_eq!(serde_json::to_value(Tag::from(&bad)).unwrap()["platforms"], serde_json::json!([]));
    }
}
