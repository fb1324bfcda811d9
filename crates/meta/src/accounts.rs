//! The account side of the metadata store: users, robots and organizations (one namespace of
//! names), teams and their members and repository roles, personal access tokens, refresh tokens,
//! revoked access tokens, and repository visibility.

use crate::Result;
use async_trait::async_trait;
use berth_auth::{Level, OrgRole, PatScope, Visibility};
use berth_oci::RepoName;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    User,
    Robot,
    Org,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Robot => "robot",
            AccountKind::Org => "org",
        }
    }

    pub fn parse(s: &str) -> Option<AccountKind> {
        match s {
            "user" => Some(AccountKind::User),
            "robot" => Some(AccountKind::Robot),
            "org" => Some(AccountKind::Org),
            _ => None,
        }
    }
}

/// A user, robot or organization.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub kind: AccountKind,
    pub email: Option<String>,
    /// argon2id PHC string (users only).
    pub password_hash: Option<String>,
    pub admin: bool,
    /// The organization a robot belongs to.
    pub org_id: Option<i64>,
    /// Visibility of new repositories in this namespace (users, organizations).
    pub default_visibility: Option<Visibility>,
    /// Access tokens issued before this time (unix seconds) are no longer accepted.
    pub tokens_not_before: i64,
    pub created_at: i64,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub kind: AccountKind,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub admin: bool,
    pub org_id: Option<i64>,
    pub default_visibility: Option<Visibility>,
}

/// Fields to change on an account; `None` leaves one as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountUpdate {
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub default_visibility: Option<Visibility>,
    pub tokens_not_before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub scope: PatScope,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub role: OrgRole,
}

/// What the store knows of a repository for one account: the input of the access decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoAccessFacts {
    pub exists: bool,
    /// The repository's visibility, or the one it would get if created now.
    pub visibility: Visibility,
    /// The namespace is this account's own (a user's name).
    pub own_namespace: bool,
    /// The account's best level from its teams (organization role, repository roles).
    pub team_level: Level,
}

/// Which repositories a listing shows.
#[derive(Debug, Clone)]
pub enum Visible {
    All,
    /// Public ones (if `public`), plus those an account reaches through its namespace and teams.
    For {
        account_id: Option<i64>,
        public: bool,
    },
}

#[async_trait]
pub trait AccountStore: Send + Sync + std::fmt::Debug + 'static {
    /// Creates an account; `Ok(None)` when the name is taken.
    async fn create_account(&self, account: NewAccount) -> Result<Option<Account>>;
    async fn account_by_name(&self, name: &str) -> Result<Option<Account>>;
    async fn account_by_id(&self, id: i64) -> Result<Option<Account>>;
    async fn list_accounts(&self, kind: Option<AccountKind>) -> Result<Vec<Account>>;
    async fn update_account(&self, id: i64, update: AccountUpdate) -> Result<()>;
    /// Deletes an account with its tokens, team memberships (and, for an organization, its teams and robots).
    async fn delete_account(&self, id: i64) -> Result<bool>;
    async fn count_accounts(&self) -> Result<i64>;

    async fn create_access_token(
        &self,
        account_id: i64,
        name: &str,
        hash: &str,
        scope: PatScope,
        expires_at: Option<i64>,
    ) -> Result<AccessToken>;
    /// The token with this hash and its account, marking it used.
    async fn access_token_by_hash(&self, hash: &str) -> Result<Option<(AccessToken, Account)>>;
    async fn list_access_tokens(&self, account_id: i64) -> Result<Vec<AccessToken>>;
    async fn delete_access_token(&self, account_id: i64, id: i64) -> Result<bool>;

    /// Stores a refresh token; `access_token_id` names the personal access token (or robot token) it
    /// was obtained with, whose scope it keeps and with which it is deleted.
    async fn create_refresh_token(
        &self,
        hash: &str,
        account_id: i64,
        expires_at: i64,
        access_token_id: Option<i64>,
    ) -> Result<()>;
    /// The account a refresh token belongs to, its expiry and the token it was obtained with.
    async fn refresh_token(&self, hash: &str) -> Result<Option<(i64, i64, Option<i64>)>>;
    async fn access_token_by_id(&self, id: i64) -> Result<Option<AccessToken>>;
    async fn delete_refresh_token(&self, hash: &str) -> Result<bool>;
    async fn delete_refresh_tokens_of(&self, account_id: i64) -> Result<()>;
    async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> Result<()>;
    async fn access_token_revoked(&self, jti: &str) -> Result<bool>;

    /// Creates a team; `Ok(None)` when the organization has one of that name.
    async fn create_team(&self, org_id: i64, name: &str, role: OrgRole) -> Result<Option<Team>>;
    async fn team(&self, org_id: i64, name: &str) -> Result<Option<Team>>;
    async fn list_teams(&self, org_id: i64) -> Result<Vec<Team>>;
    async fn set_team_role(&self, team_id: i64, role: OrgRole) -> Result<()>;
    async fn delete_team(&self, team_id: i64) -> Result<bool>;
    async fn add_team_member(&self, team_id: i64, account_id: i64) -> Result<()>;
    async fn remove_team_member(&self, team_id: i64, account_id: i64) -> Result<bool>;
    async fn team_members(&self, team_id: i64) -> Result<Vec<Account>>;
    async fn set_team_repository(&self, team_id: i64, repository: &RepoName, level: Level) -> Result<()>;
    async fn remove_team_repository(&self, team_id: i64, repository: &RepoName) -> Result<bool>;
    async fn team_repositories(&self, team_id: i64) -> Result<Vec<(String, Level)>>;
    /// The best role an account has on an organization through its teams.
    async fn org_role(&self, org_id: i64, account_id: i64) -> Result<Option<OrgRole>>;

    /// The facts the access decision needs about a repository, for an account (or anonymous).
    async fn repository_access(&self, account_id: Option<i64>, name: &RepoName) -> Result<RepoAccessFacts>;
    /// Sets a repository's visibility; false if it does not exist.
    async fn set_visibility(&self, name: &RepoName, visibility: Visibility) -> Result<bool>;
    /// Up to `limit` names after `last` of the repositories that `visible` shows.
    async fn visible_repositories(&self, visible: Visible, last: Option<&str>, limit: usize) -> Result<Vec<String>>;
}
