//! Accounts and access: logins (throttled), bearer tokens, the token service, revocation, the
//! access decision on repositories, and the account API's operations with their permission checks.

use crate::throttle::Throttle;
use berth_auth::access::allowed;
use berth_auth::names::{check_account_name, check_password, check_robot_name};
use berth_auth::secret::{self, hash_password, looks_like_token, token_hash, verify_password};
use berth_auth::token::ISSUER;
use berth_auth::{
    AccessEntry, Actions, Claims, Level, OrgRole, PatScope, RepoFacts, Scope, Subject, TokenKeys, Visibility,
};
use berth_meta::{
    AccessToken, Account, AccountKind, AccountStore, AccountUpdate, MetaError, NewAccount, Team, Visible,
};
use berth_oci::RepoName;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Settings of accounts and access.
#[derive(Debug, Clone)]
pub struct AccessConfig {
    /// Off: the open mode, everyone may do everything.
    pub enabled: bool,
    pub anonymous_pull: bool,
    pub registration_open: bool,
    /// The token audience.
    pub service: String,
    pub token_ttl: Duration,
    pub refresh_token_ttl: Duration,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            enabled: true,
            anonymous_pull: true,
            registration_open: false,
            service: "berth".into(),
            token_ttl: Duration::from_secs(300),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    BadCredentials(String),
    #[error("too many failed logins; retry in {0} s")]
    Throttled(u64),
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<MetaError> for AccountError {
    fn from(e: MetaError) -> Self {
        AccountError::Internal(e.to_string())
    }
}

type Result<T, E = AccountError> = std::result::Result<T, E>;

/// An issued access token.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub token: String,
    pub expires_in: u64,
    pub issued_at: i64,
    pub refresh_token: Option<String>,
    pub scopes: Vec<Scope>,
}

/// A personal access token just created: the only time its secret is seen.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub token: AccessToken,
    pub secret: String,
}

/// The accounts service.
#[derive(Debug, Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn AccountStore>,
    keys: TokenKeys,
    config: AccessConfig,
    per_account: Throttle,
    per_address: Throttle,
    /// (name, sha256(secret salt ‖ password)) -> the PHC hash it was verified against: a login with
    /// the same password against an unchanged hash skips argon2.
    verified: Mutex<HashMap<(String, String), String>>,
    salt: String,
}

fn subject_of(a: &Account, scope: Option<PatScope>) -> Subject {
    Subject::Account { id: a.id, name: a.name.clone(), admin: a.admin, robot: a.kind == AccountKind::Robot, scope }
}

impl Accounts {
    pub fn new(store: Arc<dyn AccountStore>, keys: TokenKeys, config: AccessConfig) -> Accounts {
        Accounts {
            inner: Arc::new(Inner {
                store,
                keys,
                config,
                per_account: Throttle::new(
                    5,
                    Duration::from_secs(600),
                    Duration::from_secs(30),
                    Duration::from_secs(900),
                ),
                per_address: Throttle::new(
                    30,
                    Duration::from_secs(600),
                    Duration::from_secs(30),
                    Duration::from_secs(900),
                ),
                verified: Mutex::new(HashMap::new()),
                salt: secret::random_hex(16),
            }),
        }
    }

    pub fn config(&self) -> &AccessConfig {
        &self.inner.config
    }

    pub fn enabled(&self) -> bool {
        self.inner.config.enabled
    }

    fn store(&self) -> &dyn AccountStore {
        self.inner.store.as_ref()
    }

    // ---- authentication ----

    /// Checks a name and a password, personal access token or robot token.
    pub async fn login(&self, name: &str, password: &str, client: Option<IpAddr>) -> Result<Subject> {
        Ok(self.login_with_token(name, password, client).await?.0)
    }

    /// Like [`Accounts::login`], also naming the personal access token or robot token used, if any.
    pub async fn login_with_token(
        &self,
        name: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<(Subject, Option<i64>)> {
        let account_key = format!("account:{name}");
        let address_key = client.map(|ip| format!("address:{ip}"));
        for key in std::iter::once(&account_key).chain(address_key.as_ref()) {
            if let Some(secs) = self.inner.per_account.locked(key).or_else(|| self.inner.per_address.locked(key)) {
                return Err(AccountError::Throttled(secs));
            }
        }
        let result = self.check_credentials(name, password).await;
        match &result {
            Ok(_) => self.inner.per_account.success(&account_key),
            Err(AccountError::BadCredentials(_)) => {
                self.inner.per_account.failure(&account_key);
                if let Some(k) = &address_key {
                    self.inner.per_address.failure(k);
                }
            }
            Err(_) => {}
        }
        result
    }

    async fn check_credentials(&self, name: &str, password: &str) -> Result<(Subject, Option<i64>)> {
        let bad = || AccountError::BadCredentials("incorrect username or password".into());
        if looks_like_token(password) {
            let Some((token, account)) = self.store().access_token_by_hash(&token_hash(password)).await? else {
                return Err(bad());
            };
            if account.name != name || token.expires_at.is_some_and(|e| e <= berth_meta::now()) {
                return Err(bad());
            }
            let scope = (account.kind == AccountKind::User).then_some(token.scope);
            return Ok((subject_of(&account, scope), Some(token.id)));
        }
        let account = self.store().account_by_name(name).await?.filter(|a| a.kind == AccountKind::User);
        let phc = account.as_ref().and_then(|a| a.password_hash.clone());
        let key = (name.to_owned(), token_hash(&format!("{}\0{password}", self.inner.salt)));
        if let Some(phc) = &phc {
            let cached = self.inner.verified.lock().unwrap_or_else(|p| p.into_inner()).get(&key) == Some(phc);
            if cached {
                return account.as_ref().map(|a| (subject_of(a, None), None)).ok_or_else(bad);
            }
        }
        let (pw, against) = (password.to_owned(), phc.clone().unwrap_or_else(|| secret::dummy_hash().to_owned()));
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &against))
            .await
            .map_err(|e| AccountError::Internal(e.to_string()))?;
        match (ok, account, phc) {
            (true, Some(a), Some(phc)) => {
                let mut cache = self.inner.verified.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() > 10_000 {
                    cache.clear();
                }
                cache.insert(key, phc);
                Ok((subject_of(&a, None), None))
            }
            _ => Err(bad()),
        }
    }

    /// Checks a bearer token: signature, audience, lifetime, revocation.
    pub async fn bearer(&self, token: &str) -> Result<(Subject, Claims)> {
        let claims = self
            .inner
            .keys
            .verify(token, &self.inner.config.service)
            .map_err(|e| AccountError::BadCredentials(e.to_string()))?;
        if self.store().access_token_revoked(&claims.jti).await? {
            return Err(AccountError::BadCredentials("the token was revoked".into()));
        }
        if claims.sub.is_empty() {
            return Ok((Subject::Anonymous, claims));
        }
        let account = self
            .store()
            .account_by_name(&claims.sub)
            .await?
            .ok_or_else(|| AccountError::BadCredentials("the token's account no longer exists".into()))?;
        if claims.iat <= account.tokens_not_before {
            return Err(AccountError::BadCredentials("the token was revoked".into()));
        }
        let scope = claims.pat_scope.as_deref().and_then(PatScope::parse);
        Ok((subject_of(&account, scope), claims))
    }

    // ---- the access decision ----

    /// The actions `subject` may perform on a repository.
    pub async fn repository_actions(&self, subject: &Subject, name: &RepoName) -> Result<Actions> {
        if !self.enabled() {
            return Ok(Actions::ALL);
        }
        if subject.is_admin() && !matches!(subject, Subject::Account { scope: Some(_), .. }) {
            return Ok(Actions::ALL);
        }
        let f = self.store().repository_access(subject.id(), name).await?;
        let facts = RepoFacts { visibility: f.visibility, own_namespace: f.own_namespace, team_level: f.team_level };
        Ok(allowed(subject, &facts, self.inner.config.anonymous_pull))
    }

    /// Whether `subject` may list the catalog (it then sees only what it may read).
    pub fn catalog_allowed(&self, subject: &Subject) -> bool {
        !self.enabled() || !subject.is_anonymous() || self.inner.config.anonymous_pull
    }

    /// Which repositories `subject` sees in listings.
    pub fn visible(&self, subject: &Subject) -> Visible {
        if !self.enabled() || (subject.is_admin() && !matches!(subject, Subject::Account { scope: Some(_), .. })) {
            return Visible::All;
        }
        Visible::For { account_id: subject.id(), public: !subject.is_anonymous() || self.inner.config.anonymous_pull }
    }

    pub async fn visible_repositories(
        &self,
        subject: &Subject,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        Ok(self.store().visible_repositories(self.visible(subject), last, limit).await?)
    }

    // ---- the token service ----

    /// Issues an access token carrying the requested actions that are allowed. With `offline`, also a
    /// refresh token, tied to `via_token` (the personal access token or robot token used) if any.
    pub async fn issue(
        &self,
        subject: &Subject,
        scopes: &[Scope],
        offline: bool,
        via_token: Option<i64>,
    ) -> Result<TokenGrant> {
        let mut access = Vec::new();
        let mut granted_scopes = Vec::new();
        for s in scopes {
            match s {
                Scope::Repository { name, actions } => {
                    let granted = self.repository_actions(subject, name).await?.intersect(*actions);
                    access.push(AccessEntry::grant(s, granted));
                    granted_scopes.push(Scope::Repository { name: name.clone(), actions: granted });
                }
                Scope::Catalog => {
                    if self.catalog_allowed(subject) {
                        access.push(AccessEntry::grant(s, Actions::ALL));
                        granted_scopes.push(Scope::Catalog);
                    }
                }
            }
        }
        let now = berth_meta::now();
        let ttl = self.inner.config.token_ttl.as_secs();
        let claims = Claims {
            iss: ISSUER.into(),
            sub: subject.name().to_owned(),
            aud: self.inner.config.service.clone(),
            exp: now + ttl as i64,
            nbf: now,
            iat: now,
            jti: secret::random_hex(16),
            access,
            pat_scope: match subject {
                Subject::Account { scope: Some(s), .. } => Some(s.as_str().to_owned()),
                _ => None,
            },
        };
        let token = self.inner.keys.sign(&claims).map_err(|e| AccountError::Internal(e.to_string()))?;
        let refresh_token = match (offline, subject.id()) {
            (true, Some(id)) => {
                let rt = secret::new_token();
                let exp = now + self.inner.config.refresh_token_ttl.as_secs() as i64;
                self.store().create_refresh_token(&token_hash(&rt), id, exp, via_token).await?;
                Some(rt)
            }
            _ => None,
        };
        Ok(TokenGrant { token, expires_in: ttl, issued_at: now, refresh_token, scopes: granted_scopes })
    }

    /// The subject a refresh token stands for, with the scope of the token it was obtained with.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Subject> {
        let bad = || AccountError::BadCredentials("invalid refresh token".into());
        let (account_id, exp, via) = self.store().refresh_token(&token_hash(refresh_token)).await?.ok_or_else(bad)?;
        let now = berth_meta::now();
        if exp <= now {
            return Err(bad());
        }
        let a = self.store().account_by_id(account_id).await?.ok_or_else(bad)?;
        let scope = match via {
            None => None,
            Some(id) => {
                let t = self.store().access_token_by_id(id).await?.ok_or_else(bad)?;
                if t.expires_at.is_some_and(|e| e <= now) {
                    return Err(bad());
                }
                (a.kind == AccountKind::User).then_some(t.scope)
            }
        };
        Ok(subject_of(&a, scope))
    }

    /// Revokes one access token or refresh token (unknown ones are ignored).
    pub async fn revoke(&self, token: &str) -> Result<()> {
        if token.matches('.').count() == 2 {
            if let Ok(c) = self.inner.keys.verify(token, &self.inner.config.service) {
                self.store().revoke_access_token(&c.jti, c.exp).await?;
            }
            return Ok(());
        }
        self.store().delete_refresh_token(&token_hash(token)).await?;
        Ok(())
    }

    // ---- users ----

    async fn account(&self, name: &str, kind: AccountKind) -> Result<Account> {
        self.store()
            .account_by_name(name)
            .await?
            .filter(|a| a.kind == kind)
            .ok_or_else(|| AccountError::NotFound(format!("no {} named {name:?}", kind.as_str())))
    }

    /// The user of this name.
    pub async fn account_named(&self, name: &str) -> Result<Account> {
        self.account(name, AccountKind::User).await
    }

    /// The account behind a subject.
    pub async fn me(&self, caller: &Subject) -> Result<Account> {
        let Some(id) = caller.id() else { return Err(AccountError::Unauthorized) };
        self.store().account_by_id(id).await?.ok_or(AccountError::Unauthorized)
    }

    /// Creates a user (first-start admin, the command line, self-registration, or an admin).
    pub async fn create_user(
        &self,
        caller: Option<&Subject>,
        name: &str,
        password: &str,
        email: Option<String>,
        admin: bool,
    ) -> Result<Account> {
        if let Some(caller) = caller {
            let may = caller.is_admin() || (self.inner.config.registration_open && !admin);
            if !may {
                return Err(if caller.is_anonymous() && !self.inner.config.registration_open {
                    AccountError::Denied("registration is closed; ask an administrator for an account".into())
                } else {
                    AccountError::Denied("only administrators may create this account".into())
                });
            }
        }
        let first = self.store().count_accounts().await? == 0;
        check_account_name(name, first || caller.is_none()).map_err(|e| AccountError::Invalid(e.to_string()))?;
        check_password(password).map_err(|e| AccountError::Invalid(e.to_string()))?;
        let pw = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(|e| AccountError::Internal(e.to_string()))?;
        self.store()
            .create_account(NewAccount {
                name: name.to_owned(),
                kind: AccountKind::User,
                email,
                password_hash: Some(hash),
                admin,
                org_id: None,
                default_visibility: None,
            })
            .await?
            .ok_or_else(|| AccountError::Conflict(format!("the name {name:?} is taken")))
    }

    /// A user, for any authenticated caller (the http layer shows private fields only to the user
    /// itself and to admins: see [`Accounts::sees_private`]).
    pub async fn user(&self, caller: &Subject, name: &str) -> Result<Account> {
        if caller.is_anonymous() {
            return Err(AccountError::Unauthorized);
        }
        match self.store().account_by_name(name).await? {
            Some(a) if a.kind != AccountKind::Org => Ok(a),
            _ => Err(AccountError::NotFound(format!("no user named {name:?}"))),
        }
    }

    /// Whether `caller` may see `account`'s private fields (email, admin flag, settings).
    pub fn sees_private(&self, caller: &Subject, account: &Account) -> bool {
        caller.is_admin() || caller.id() == Some(account.id)
    }

    /// Organizations, for any authenticated caller.
    pub async fn list_orgs(&self, caller: &Subject) -> Result<Vec<Account>> {
        if caller.is_anonymous() {
            return Err(AccountError::Unauthorized);
        }
        Ok(self.store().list_accounts(Some(AccountKind::Org)).await?)
    }

    /// Whether `caller` manages namespace `ns` (its webhooks): the user itself, an owner or admin of
    /// the organization, or a server admin. A personal access token must have the `delete` scope.
    pub async fn manages_namespace(&self, caller: &Subject, ns: &str) -> Result<bool> {
        if !self.enabled() {
            return Ok(true);
        }
        let Subject::Account { id, name, admin, robot, scope } = caller else { return Ok(false) };
        if scope.is_some_and(|s| s != PatScope::Delete) {
            return Ok(false);
        }
        if *admin {
            return Ok(true);
        }
        if !robot && name == ns {
            return Ok(true);
        }
        match self.store().account_by_name(ns).await? {
            Some(o) if o.kind == AccountKind::Org => {
                Ok(self.store().org_role(o.id, *id).await?.is_some_and(|r| r >= OrgRole::Admin))
            }
            _ => Ok(false),
        }
    }

    fn self_or_admin(&self, caller: &Subject, name: &str) -> Result<()> {
        match caller {
            Subject::Anonymous => Err(AccountError::Unauthorized),
            c if c.is_admin() || c.name() == name => Ok(()),
            _ => Err(AccountError::Denied("only the user or an administrator may do this".into())),
        }
    }

    /// Users and robots, for any authenticated caller.
    pub async fn list_users(&self, caller: &Subject) -> Result<Vec<Account>> {
        if caller.is_anonymous() {
            return Err(AccountError::Unauthorized);
        }
        Ok(self.store().list_accounts(None).await?.into_iter().filter(|a| a.kind != AccountKind::Org).collect())
    }

    pub async fn update_user(
        &self,
        caller: &Subject,
        name: &str,
        password: Option<&str>,
        email: Option<String>,
        default_visibility: Option<Visibility>,
    ) -> Result<Account> {
        self.self_or_admin(caller, name)?;
        let a = self.account(name, AccountKind::User).await?;
        let password_hash = match password {
            Some(pw) => {
                check_password(pw).map_err(|e| AccountError::Invalid(e.to_string()))?;
                let pw = pw.to_owned();
                Some(
                    tokio::task::spawn_blocking(move || hash_password(&pw))
                        .await
                        .map_err(|e| AccountError::Internal(e.to_string()))?,
                )
            }
            None => None,
        };
        self.store()
            .update_account(a.id, AccountUpdate { email, password_hash, default_visibility, tokens_not_before: None })
            .await?;
        self.account(name, AccountKind::User).await
    }

    pub async fn delete_user(&self, caller: Option<&Subject>, name: &str) -> Result<()> {
        if let Some(c) = caller {
            if !c.is_admin() {
                return Err(AccountError::Denied("administrators only".into()));
            }
        }
        let a = self.account(name, AccountKind::User).await?;
        self.store().delete_account(a.id).await?;
        Ok(())
    }

    /// Server-side logout: revokes every refresh token of the user and every access token issued so far.
    pub async fn revoke_all(&self, caller: &Subject, name: &str) -> Result<()> {
        self.self_or_admin(caller, name)?;
        let a = self
            .store()
            .account_by_name(name)
            .await?
            .ok_or_else(|| AccountError::NotFound(format!("no user named {name:?}")))?;
        self.store().delete_refresh_tokens_of(a.id).await?;
        self.store()
            .update_account(a.id, AccountUpdate { tokens_not_before: Some(berth_meta::now()), ..Default::default() })
            .await?;
        Ok(())
    }

    // ---- personal access tokens ----

    pub async fn create_token(
        &self,
        caller: &Subject,
        user: &str,
        name: &str,
        scope: PatScope,
        expires_at: Option<i64>,
    ) -> Result<NewToken> {
        self.self_or_admin(caller, user)?;
        if name.trim().is_empty() || name.len() > 100 {
            return Err(AccountError::Invalid("a token needs a name of 1 to 100 characters".into()));
        }
        if expires_at.is_some_and(|e| e <= berth_meta::now()) {
            return Err(AccountError::Invalid("expires_at is in the past".into()));
        }
        let a = self.account(user, AccountKind::User).await?;
        let secret = secret::new_token();
        let token = self.store().create_access_token(a.id, name, &token_hash(&secret), scope, expires_at).await?;
        Ok(NewToken { token, secret })
    }

    pub async fn list_tokens(&self, caller: &Subject, user: &str) -> Result<Vec<AccessToken>> {
        self.self_or_admin(caller, user)?;
        let a = self.account(user, AccountKind::User).await?;
        Ok(self.store().list_access_tokens(a.id).await?)
    }

    pub async fn delete_token(&self, caller: &Subject, user: &str, id: i64) -> Result<()> {
        self.self_or_admin(caller, user)?;
        let a = self.account(user, AccountKind::User).await?;
        if self.store().delete_access_token(a.id, id).await? {
            Ok(())
        } else {
            Err(AccountError::NotFound(format!("no token {id}")))
        }
    }

    // ---- organizations ----

    async fn org_and_role(&self, caller: &Subject, org: &str) -> Result<(Account, Option<OrgRole>)> {
        let o = self.account(org, AccountKind::Org).await?;
        let role = match caller {
            Subject::Anonymous => return Err(AccountError::Unauthorized),
            c if c.is_admin() => Some(OrgRole::Owner),
            c => self.store().org_role(o.id, c.id().unwrap_or_default()).await?,
        };
        Ok((o, role))
    }

    /// The organization, if the caller's role on it is at least `min`. Non-members get NotFound.
    async fn org_with(&self, caller: &Subject, org: &str, min: OrgRole) -> Result<(Account, OrgRole)> {
        let (o, role) = self.org_and_role(caller, org).await?;
        match role {
            Some(r) if r >= min => Ok((o, r)),
            Some(_) => Err(AccountError::Denied(format!("this needs the {} role on {org}", min.as_str()))),
            None => Err(AccountError::NotFound(format!("no org named {org:?}"))),
        }
    }

    pub async fn create_org(
        &self,
        caller: &Subject,
        name: &str,
        default_visibility: Option<Visibility>,
    ) -> Result<Account> {
        let owner = self.me(caller).await?;
        if owner.kind != AccountKind::User {
            return Err(AccountError::Denied("only users may create organizations".into()));
        }
        check_account_name(name, false).map_err(|e| AccountError::Invalid(e.to_string()))?;
        let org = self
            .store()
            .create_account(NewAccount {
                name: name.to_owned(),
                kind: AccountKind::Org,
                email: None,
                password_hash: None,
                admin: false,
                org_id: None,
                default_visibility,
            })
            .await?
            .ok_or_else(|| AccountError::Conflict(format!("the name {name:?} is taken")))?;
        let team = self
            .store()
            .create_team(org.id, "owners", OrgRole::Owner)
            .await?
            .ok_or_else(|| AccountError::Internal("owners team exists".into()))?;
        self.store().add_team_member(team.id, owner.id).await?;
        Ok(org)
    }

    /// An organization, for any authenticated caller; its teams only for members (and admins).
    pub async fn org(&self, caller: &Subject, org: &str) -> Result<(Account, Vec<Team>)> {
        let (o, role) = self.org_and_role(caller, org).await?;
        let teams = if role.is_some() { self.store().list_teams(o.id).await? } else { Vec::new() };
        Ok((o, teams))
    }

    pub async fn update_org(
        &self,
        caller: &Subject,
        org: &str,
        default_visibility: Option<Visibility>,
    ) -> Result<Account> {
        let (o, _) = self.org_with(caller, org, OrgRole::Admin).await?;
        self.store().update_account(o.id, AccountUpdate { default_visibility, ..Default::default() }).await?;
        self.account(org, AccountKind::Org).await
    }

    pub async fn delete_org(&self, caller: &Subject, org: &str) -> Result<()> {
        let (o, _) = self.org_with(caller, org, OrgRole::Owner).await?;
        for robot in self.store().list_accounts(Some(AccountKind::Robot)).await? {
            if robot.org_id == Some(o.id) {
                self.store().delete_account(robot.id).await?;
            }
        }
        self.store().delete_account(o.id).await?;
        Ok(())
    }

    async fn team_of(&self, org_id: i64, team: &str) -> Result<Team> {
        self.store().team(org_id, team).await?.ok_or_else(|| AccountError::NotFound(format!("no team named {team:?}")))
    }

    pub async fn create_team(&self, caller: &Subject, org: &str, name: &str, role: OrgRole) -> Result<Team> {
        let (o, my) = self.org_with(caller, org, OrgRole::Admin).await?;
        if role == OrgRole::Owner && my < OrgRole::Owner {
            return Err(AccountError::Denied("only owners may create an owner team".into()));
        }
        check_robot_name(name).map_err(|_| {
            AccountError::Invalid(format!("{name:?} is not a valid team name: 2 to 30 lowercase letters and digits"))
        })?;
        self.store()
            .create_team(o.id, name, role)
            .await?
            .ok_or_else(|| AccountError::Conflict(format!("{org} has a team named {name:?}")))
    }

    pub async fn teams(&self, caller: &Subject, org: &str) -> Result<Vec<Team>> {
        let (o, _) = self.org_with(caller, org, OrgRole::Read).await?;
        Ok(self.store().list_teams(o.id).await?)
    }

    /// A team with its members and repository roles.
    pub async fn team(
        &self,
        caller: &Subject,
        org: &str,
        team: &str,
    ) -> Result<(Team, Vec<Account>, Vec<(String, Level)>)> {
        let (o, _) = self.org_with(caller, org, OrgRole::Read).await?;
        let t = self.team_of(o.id, team).await?;
        let members = self.store().team_members(t.id).await?;
        let repos = self.store().team_repositories(t.id).await?;
        Ok((t, members, repos))
    }

    pub async fn set_team_role(&self, caller: &Subject, org: &str, team: &str, role: OrgRole) -> Result<Team> {
        let (o, my) = self.org_with(caller, org, OrgRole::Admin).await?;
        let t = self.team_of(o.id, team).await?;
        if (role == OrgRole::Owner || t.role == OrgRole::Owner) && my < OrgRole::Owner {
            return Err(AccountError::Denied("only owners may change an owner team".into()));
        }
        self.store().set_team_role(t.id, role).await?;
        self.team_of(o.id, team).await
    }

    pub async fn delete_team(&self, caller: &Subject, org: &str, team: &str) -> Result<()> {
        let (o, my) = self.org_with(caller, org, OrgRole::Admin).await?;
        let t = self.team_of(o.id, team).await?;
        if t.role == OrgRole::Owner && my < OrgRole::Owner {
            return Err(AccountError::Denied("only owners may delete an owner team".into()));
        }
        self.store().delete_team(t.id).await?;
        Ok(())
    }

    async fn member_change(&self, caller: &Subject, org: &str, team: &str, member: &str) -> Result<(Team, Account)> {
        let (o, my) = self.org_with(caller, org, OrgRole::Admin).await?;
        let t = self.team_of(o.id, team).await?;
        if t.role == OrgRole::Owner && my < OrgRole::Owner {
            return Err(AccountError::Denied("only owners may change an owner team".into()));
        }
        let m = self
            .store()
            .account_by_name(member)
            .await?
            .filter(|a| a.kind == AccountKind::User || (a.kind == AccountKind::Robot && a.org_id == Some(o.id)))
            .ok_or_else(|| AccountError::NotFound(format!("no user or robot of {org} named {member:?}")))?;
        Ok((t, m))
    }

    pub async fn add_member(&self, caller: &Subject, org: &str, team: &str, member: &str) -> Result<()> {
        let (t, m) = self.member_change(caller, org, team, member).await?;
        self.store().add_team_member(t.id, m.id).await?;
        Ok(())
    }

    pub async fn remove_member(&self, caller: &Subject, org: &str, team: &str, member: &str) -> Result<()> {
        let (t, m) = self.member_change(caller, org, team, member).await?;
        if self.store().remove_team_member(t.id, m.id).await? {
            Ok(())
        } else {
            Err(AccountError::NotFound(format!("{member} is not in {team}")))
        }
    }

    pub async fn set_team_repository(
        &self,
        caller: &Subject,
        org: &str,
        team: &str,
        repo: &RepoName,
        level: Option<Level>,
    ) -> Result<()> {
        let (o, _) = self.org_with(caller, org, OrgRole::Admin).await?;
        if repo.namespace() != org || !repo.as_str().contains('/') {
            return Err(AccountError::Invalid(format!("{repo} is not in the {org} namespace")));
        }
        let t = self.team_of(o.id, team).await?;
        match level {
            Some(l) => self.store().set_team_repository(t.id, repo, l).await?,
            None => {
                if !self.store().remove_team_repository(t.id, repo).await? {
                    return Err(AccountError::NotFound(format!("{team} has no role on {repo}")));
                }
            }
        }
        Ok(())
    }

    // ---- robots ----

    pub async fn create_robot(&self, caller: &Subject, org: &str, name: &str) -> Result<(Account, String)> {
        let (o, _) = self.org_with(caller, org, OrgRole::Admin).await?;
        check_robot_name(name).map_err(|e| AccountError::Invalid(e.to_string()))?;
        let full = format!("{org}+{name}");
        let robot = self
            .store()
            .create_account(NewAccount {
                name: full.clone(),
                kind: AccountKind::Robot,
                email: None,
                password_hash: None,
                admin: false,
                org_id: Some(o.id),
                default_visibility: None,
            })
            .await?
            .ok_or_else(|| AccountError::Conflict(format!("{full} exists")))?;
        let secret = secret::new_token();
        self.store().create_access_token(robot.id, "robot", &token_hash(&secret), PatScope::Delete, None).await?;
        Ok((robot, secret))
    }

    pub async fn robots(&self, caller: &Subject, org: &str) -> Result<Vec<Account>> {
        let (o, _) = self.org_with(caller, org, OrgRole::Admin).await?;
        Ok(self
            .store()
            .list_accounts(Some(AccountKind::Robot))
            .await?
            .into_iter()
            .filter(|r| r.org_id == Some(o.id))
            .collect())
    }

    pub async fn delete_robot(&self, caller: &Subject, org: &str, robot: &str) -> Result<()> {
        let (o, _) = self.org_with(caller, org, OrgRole::Admin).await?;
        let r = self
            .store()
            .account_by_name(robot)
            .await?
            .filter(|a| a.kind == AccountKind::Robot && a.org_id == Some(o.id))
            .ok_or_else(|| AccountError::NotFound(format!("no robot named {robot:?}")))?;
        self.store().delete_account(r.id).await?;
        Ok(())
    }

    // ---- repositories ----

    /// A repository's settings, for a caller who may read it.
    pub async fn repository(&self, caller: &Subject, name: &RepoName) -> Result<Visibility> {
        let actions = self.repository_actions(caller, name).await?;
        let facts = self.store().repository_access(caller.id(), name).await?;
        if !facts.exists || !actions.contains(berth_auth::Action::Pull) {
            return Err(if caller.is_anonymous() && facts.exists {
                AccountError::Unauthorized
            } else {
                AccountError::NotFound(format!("no repository named {name}"))
            });
        }
        Ok(facts.visibility)
    }

    pub async fn set_visibility(
        &self,
        caller: &Subject,
        name: &RepoName,
        visibility: Visibility,
    ) -> Result<Visibility> {
        self.repository(caller, name).await?;
        if !self.repository_actions(caller, name).await?.contains(berth_auth::Action::Delete) {
            return Err(AccountError::Denied("changing visibility needs admin rights on the repository".into()));
        }
        self.store().set_visibility(name, visibility).await?;
        Ok(visibility)
    }
}
