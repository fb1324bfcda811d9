//! [`AccountStore`] on SQLite.

use crate::accounts::{
    AccessToken, Account, AccountKind, AccountStore, AccountUpdate, NewAccount, RepoAccessFacts, Team, Visible,
};
use crate::sqlite::SqliteMeta;
use crate::Result;
use async_trait::async_trait;
use berth_auth::{Level, OrgRole, PatScope, Visibility};
use berth_oci::RepoName;
use rusqlite::{params, Connection, OptionalExtension, Row};

const ACCOUNT_COLUMNS: &str =
    "id, name, kind, email, password_hash, admin, org_id, default_visibility, tokens_not_before, created_at";

fn conversion(msg: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, msg.to_owned().into())
}

fn account(r: &Row<'_>) -> rusqlite::Result<Account> {
    let kind: String = r.get(2)?;
    let vis: Option<String> = r.get(7)?;
    Ok(Account {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: AccountKind::parse(&kind).ok_or_else(|| conversion("account kind"))?,
        email: r.get(3)?,
        password_hash: r.get(4)?,
        admin: r.get(5)?,
        org_id: r.get(6)?,
        default_visibility: vis.as_deref().and_then(Visibility::parse),
        tokens_not_before: r.get(8)?,
        created_at: r.get(9)?,
    })
}

fn access_token(r: &Row<'_>) -> rusqlite::Result<AccessToken> {
    let scope: String = r.get(3)?;
    Ok(AccessToken {
        id: r.get(0)?,
        account_id: r.get(1)?,
        name: r.get(2)?,
        scope: PatScope::parse(&scope).ok_or_else(|| conversion("token scope"))?,
        expires_at: r.get(4)?,
        created_at: r.get(5)?,
        last_used_at: r.get(6)?,
    })
}

fn team(r: &Row<'_>) -> rusqlite::Result<Team> {
    let role: String = r.get(3)?;
    Ok(Team {
        id: r.get(0)?,
        org_id: r.get(1)?,
        name: r.get(2)?,
        role: OrgRole::parse(&role).ok_or_else(|| conversion("team role"))?,
    })
}

fn by_name(c: &Connection, name: &str) -> rusqlite::Result<Option<Account>> {
    c.prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?1"))?
        .query_row([name], account)
        .optional()
}

/// The best level an account has on a repository through its teams.
fn team_level(c: &Connection, account_id: i64, name: &RepoName) -> rusqlite::Result<Level> {
    let mut level = Level::None;
    let mut st = c.prepare_cached(
        "SELECT t.role, (SELECT tr.role FROM team_repositories tr WHERE tr.team_id = t.id AND tr.repository = ?3)
         FROM teams t JOIN team_members m ON m.team_id = t.id JOIN accounts o ON o.id = t.org_id
         WHERE m.account_id = ?1 AND o.name = ?2 AND o.kind = 'org'",
    )?;
    let rows = st.query_map(params![account_id, name.namespace(), name.as_str()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })?;
    for row in rows {
        let (role, repo_role) = row?;
        if let Some(r) = OrgRole::parse(&role) {
            level = level.max(r.level());
        }
        if let Some(l) = repo_role.as_deref().and_then(Level::parse) {
            level = level.max(l);
        }
    }
    Ok(level)
}

#[async_trait]
impl AccountStore for SqliteMeta {
    async fn create_account(&self, a: NewAccount) -> Result<Option<Account>> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            if by_name(&tx, &a.name)?.is_some() {
                return Ok(None);
            }
            tx.prepare_cached(
                "INSERT INTO accounts (name, kind, email, password_hash, admin, org_id, default_visibility, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                a.name,
                a.kind.as_str(),
                a.email,
                a.password_hash,
                a.admin,
                a.org_id,
                a.default_visibility.map(Visibility::as_str),
                crate::now()
            ])?;
            let created = by_name(&tx, &a.name)?;
            tx.commit()?;
            Ok(created)
        })
        .await
    }

    async fn account_by_name(&self, name: &str) -> Result<Option<Account>> {
        let name = name.to_owned();
        self.read(move |c| Ok(by_name(c, &name)?)).await
    }

    async fn account_by_id(&self, id: i64) -> Result<Option<Account>> {
        self.read(move |c| {
            Ok(c.prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"))?
                .query_row([id], account)
                .optional()?)
        })
        .await
    }

    async fn list_accounts(&self, kind: Option<AccountKind>) -> Result<Vec<Account>> {
        let kind = kind.map(|k| k.as_str().to_owned());
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE ?1 IS NULL OR kind = ?1 ORDER BY name"
            ))?;
            let v = st.query_map([kind], account)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
        .await
    }

    async fn update_account(&self, id: i64, u: AccountUpdate) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE accounts SET email = COALESCE(?2, email), password_hash = COALESCE(?3, password_hash),
                 default_visibility = COALESCE(?4, default_visibility),
                 tokens_not_before = COALESCE(?5, tokens_not_before) WHERE id = ?1",
            )?
            .execute(params![
                id,
                u.email,
                u.password_hash,
                u.default_visibility.map(Visibility::as_str),
                u.tokens_not_before
            ])?;
            Ok(())
        })
        .await
    }

    async fn delete_account(&self, id: i64) -> Result<bool> {
        self.write(move |c| Ok(c.prepare_cached("DELETE FROM accounts WHERE id = ?1")?.execute([id])? > 0)).await
    }

    async fn count_accounts(&self) -> Result<i64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))?)).await
    }

    async fn create_access_token(
        &self,
        account_id: i64,
        name: &str,
        hash: &str,
        scope: PatScope,
        expires_at: Option<i64>,
    ) -> Result<AccessToken> {
        let (name, hash) = (name.to_owned(), hash.to_owned());
        self.write(move |c| {
            let now = crate::now();
            c.prepare_cached(
                "INSERT INTO access_tokens (account_id, name, hash, scope, expires_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![account_id, name, hash, scope.as_str(), expires_at, now])?;
            Ok(AccessToken {
                id: c.last_insert_rowid(),
                account_id,
                name,
                scope,
                expires_at,
                created_at: now,
                last_used_at: None,
            })
        })
        .await
    }

    async fn access_token_by_hash(&self, hash: &str) -> Result<Option<(AccessToken, Account)>> {
        let hash = hash.to_owned();
        let found = self
            .read(move |c| {
                let t = c
                    .prepare_cached(
                        "SELECT id, account_id, name, scope, expires_at, created_at, last_used_at
                         FROM access_tokens WHERE hash = ?1",
                    )?
                    .query_row([&hash], access_token)
                    .optional()?;
                let Some(t) = t else { return Ok(None) };
                let a = c
                    .prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"))?
                    .query_row([t.account_id], account)
                    .optional()?;
                Ok(a.map(|a| (t, a)))
            })
            .await?;
        if let Some((t, _)) = &found {
            // Recording use is best effort, at most once a minute per token.
            if t.last_used_at.is_none_or(|u| crate::now() - u > 60) {
                let id = t.id;
                let _ = self
                    .write(move |c| {
                        c.prepare_cached("UPDATE access_tokens SET last_used_at = ?2 WHERE id = ?1")?
                            .execute(params![id, crate::now()])?;
                        Ok(())
                    })
                    .await;
            }
        }
        Ok(found)
    }

    async fn list_access_tokens(&self, account_id: i64) -> Result<Vec<AccessToken>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT id, account_id, name, scope, expires_at, created_at, last_used_at
                 FROM access_tokens WHERE account_id = ?1 ORDER BY id",
            )?;
            let v = st.query_map([account_id], access_token)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
        .await
    }

    async fn delete_access_token(&self, account_id: i64, id: i64) -> Result<bool> {
        self.write(move |c| {
            Ok(c.prepare_cached("DELETE FROM access_tokens WHERE id = ?1 AND account_id = ?2")?
                .execute(params![id, account_id])?
                > 0)
        })
        .await
    }

    async fn create_refresh_token(
        &self,
        hash: &str,
        account_id: i64,
        expires_at: i64,
        access_token_id: Option<i64>,
    ) -> Result<()> {
        let hash = hash.to_owned();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO refresh_tokens (hash, account_id, expires_at, created_at, access_token_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![hash, account_id, expires_at, crate::now(), access_token_id])?;
            Ok(())
        })
        .await
    }

    async fn refresh_token(&self, hash: &str) -> Result<Option<(i64, i64, Option<i64>)>> {
        let hash = hash.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT account_id, expires_at, access_token_id FROM refresh_tokens WHERE hash = ?1")?
                .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?)
        })
        .await
    }

    async fn access_token_by_id(&self, id: i64) -> Result<Option<AccessToken>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT id, account_id, name, scope, expires_at, created_at, last_used_at FROM access_tokens WHERE id = ?1",
            )?
            .query_row([id], access_token)
            .optional()?)
        })
        .await
    }

    async fn delete_refresh_token(&self, hash: &str) -> Result<bool> {
        let hash = hash.to_owned();
        self.write(move |c| Ok(c.prepare_cached("DELETE FROM refresh_tokens WHERE hash = ?1")?.execute([hash])? > 0))
            .await
    }

    async fn delete_refresh_tokens_of(&self, account_id: i64) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM refresh_tokens WHERE account_id = ?1")?.execute([account_id])?;
            Ok(())
        })
        .await
    }

    async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> Result<()> {
        let jti = jti.to_owned();
        self.write(move |c| {
            let now = crate::now();
            c.prepare_cached("DELETE FROM revoked_tokens WHERE expires_at < ?1")?.execute([now])?;
            c.prepare_cached("INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2)")?
                .execute(params![jti, expires_at])?;
            Ok(())
        })
        .await
    }

    async fn access_token_revoked(&self, jti: &str) -> Result<bool> {
        let jti = jti.to_owned();
        self.read(move |c| Ok(c.prepare_cached("SELECT 1 FROM revoked_tokens WHERE jti = ?1")?.exists([jti])?)).await
    }

    async fn create_team(&self, org_id: i64, name: &str, role: OrgRole) -> Result<Option<Team>> {
        let name = name.to_owned();
        self.write(move |c| {
            let n = c
                .prepare_cached("INSERT OR IGNORE INTO teams (org_id, name, role, created_at) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![org_id, name, role.as_str(), crate::now()])?;
            if n == 0 {
                return Ok(None);
            }
            Ok(Some(Team { id: c.last_insert_rowid(), org_id, name, role }))
        })
        .await
    }

    async fn team(&self, org_id: i64, name: &str) -> Result<Option<Team>> {
        let name = name.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT id, org_id, name, role FROM teams WHERE org_id = ?1 AND name = ?2")?
                .query_row(params![org_id, name], team)
                .optional()?)
        })
        .await
    }

    async fn list_teams(&self, org_id: i64) -> Result<Vec<Team>> {
        self.read(move |c| {
            let mut st =
                c.prepare_cached("SELECT id, org_id, name, role FROM teams WHERE org_id = ?1 ORDER BY name")?;
            let v = st.query_map([org_id], team)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
        .await
    }

    async fn set_team_role(&self, team_id: i64, role: OrgRole) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached("UPDATE teams SET role = ?2 WHERE id = ?1")?.execute(params![team_id, role.as_str()])?;
            Ok(())
        })
        .await
    }

    async fn delete_team(&self, team_id: i64) -> Result<bool> {
        self.write(move |c| Ok(c.prepare_cached("DELETE FROM teams WHERE id = ?1")?.execute([team_id])? > 0)).await
    }

    async fn add_team_member(&self, team_id: i64, account_id: i64) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached("INSERT OR IGNORE INTO team_members (team_id, account_id) VALUES (?1, ?2)")?
                .execute(params![team_id, account_id])?;
            Ok(())
        })
        .await
    }

    async fn remove_team_member(&self, team_id: i64, account_id: i64) -> Result<bool> {
        self.write(move |c| {
            Ok(c.prepare_cached("DELETE FROM team_members WHERE team_id = ?1 AND account_id = ?2")?
                .execute(params![team_id, account_id])?
                > 0)
        })
        .await
    }

    async fn team_members(&self, team_id: i64) -> Result<Vec<Account>> {
        self.read(move |c| {
            let cols = ACCOUNT_COLUMNS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ");
            let mut st = c.prepare_cached(&format!(
                "SELECT {cols} FROM accounts a JOIN team_members m ON m.account_id = a.id
                 WHERE m.team_id = ?1 ORDER BY a.name"
            ))?;
            let v = st.query_map([team_id], account)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
        .await
    }

    async fn set_team_repository(&self, team_id: i64, repository: &RepoName, level: Level) -> Result<()> {
        let repository = repository.clone();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO team_repositories (team_id, repository, role) VALUES (?1, ?2, ?3)
                 ON CONFLICT (team_id, repository) DO UPDATE SET role = excluded.role",
            )?
            .execute(params![team_id, repository.as_str(), level.as_str()])?;
            Ok(())
        })
        .await
    }

    async fn remove_team_repository(&self, team_id: i64, repository: &RepoName) -> Result<bool> {
        let repository = repository.clone();
        self.write(move |c| {
            Ok(c.prepare_cached("DELETE FROM team_repositories WHERE team_id = ?1 AND repository = ?2")?
                .execute(params![team_id, repository.as_str()])?
                > 0)
        })
        .await
    }

    async fn team_repositories(&self, team_id: i64) -> Result<Vec<(String, Level)>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT repository, role FROM team_repositories WHERE team_id = ?1 ORDER BY repository",
            )?;
            let v = st
                .query_map([team_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v.into_iter().filter_map(|(n, l)| Level::parse(&l).map(|l| (n, l))).collect())
        })
        .await
    }

    async fn org_role(&self, org_id: i64, account_id: i64) -> Result<Option<OrgRole>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT t.role FROM teams t JOIN team_members m ON m.team_id = t.id
                 WHERE t.org_id = ?1 AND m.account_id = ?2",
            )?;
            let roles = st
                .query_map(params![org_id, account_id], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(roles.iter().filter_map(|r| OrgRole::parse(r)).max())
        })
        .await
    }

    async fn repository_access(&self, account_id: Option<i64>, name: &RepoName) -> Result<RepoAccessFacts> {
        let name = name.clone();
        let server_default = self.default_visibility();
        self.read(move |c| {
            let existing: Option<String> = c
                .prepare_cached("SELECT visibility FROM repositories WHERE name = ?1")?
                .query_row([name.as_str()], |r| r.get(0))
                .optional()?;
            let exists = existing.is_some();
            let visibility = match existing.as_deref().and_then(Visibility::parse) {
                Some(v) => v,
                None => crate::sqlite::new_repo_visibility(c, &name, server_default)?,
            };
            let (own_namespace, team_level) = match account_id {
                None => (false, Level::None),
                Some(id) => {
                    let own = name.as_str().contains('/')
                        && c.prepare_cached("SELECT 1 FROM accounts WHERE id = ?1 AND name = ?2 AND kind = 'user'")?
                            .exists(params![id, name.namespace()])?;
                    (own, team_level(c, id, &name)?)
                }
            };
            Ok(RepoAccessFacts { exists, visibility, own_namespace, team_level })
        })
        .await
    }

    async fn set_visibility(&self, name: &RepoName, visibility: Visibility) -> Result<bool> {
        let name = name.clone();
        self.write(move |c| {
            Ok(c.prepare_cached("UPDATE repositories SET visibility = ?2 WHERE name = ?1")?
                .execute(params![name.as_str(), visibility.as_str()])?
                > 0)
        })
        .await
    }

    async fn visible_repositories(&self, visible: Visible, last: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let last = last.unwrap_or("").to_owned();
        self.read(move |c| {
            let (all, account, public) = crate::sqlite_index::visible_params(&visible);
            let sql = format!(
                "SELECT r.name FROM repositories r WHERE r.name > :last AND {}
                 ORDER BY r.name LIMIT :limit",
                crate::sqlite_index::VISIBLE
            );
            let mut st = c.prepare_cached(&sql)?;
            let v = st
                .query_map(
                    rusqlite::named_params! {
                        ":last": last, ":all": all, ":account": account, ":public": public, ":limit": limit as i64,
                    },
                    |r| r.get(0),
                )?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(v)
        })
        .await
    }
}
