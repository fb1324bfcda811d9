//! The SQLite implementation of [`IndexStore`]: search over an FTS5 trigram index kept current by
//! triggers, repository metadata, stars, tag details, webhooks and the delivery queue.

use crate::index::{
    Attempt, AttemptOutcome, Delivery, DeliveryStatus, DueDelivery, EventKind, IndexStore, NewWebhook, Page, Pull,
    RepoSort, RepositoryInfo, SearchHit, TagInfo, Webhook, WebhookFilter, WebhookUpdate,
};
use crate::sqlite::{repo_id, SqliteMeta};
use crate::{Result, Visible};
use async_trait::async_trait;
use berth_oci::RepoName;
use rusqlite::types::Value;
use rusqlite::{named_params, params, Connection, OptionalExtension, Row};
use std::collections::HashMap;
use std::sync::Arc;

/// The repositories (alias `r`) a caller may see: `:all`, or public ones when `:public`, or those
/// reached through the account `:account`'s own namespace and its teams.
pub(crate) const VISIBLE: &str = "(
    :all OR (:public AND r.visibility = 'public')
    OR (instr(r.name, '/') > 0 AND r.namespace =
        (SELECT a.name FROM accounts a WHERE a.id = :account AND a.kind = 'user'))
    OR r.namespace IN (SELECT o.name FROM accounts o JOIN teams t ON t.org_id = o.id
        JOIN team_members m ON m.team_id = t.id WHERE m.account_id = :account)
    OR r.name IN (SELECT tr.repository FROM team_repositories tr
        JOIN team_members m ON m.team_id = tr.team_id WHERE m.account_id = :account)
)";

/// The values of [`VISIBLE`]'s parameters: (all, account, public).
pub(crate) fn visible_params(v: &Visible) -> (bool, Option<i64>, bool) {
    match v {
        Visible::All => (true, None, true),
        Visible::For { account_id, public } => (false, *account_id, *public),
    }
}

/// The columns of a [`RepositoryInfo`], for `r` and the viewer `:viewer`.
const INFO_COLUMNS: &str = "r.name, r.namespace, r.visibility, r.description, r.full_description, r.star_count,
    r.pull_count, r.pushed_at, r.created_at,
    (SELECT coalesce(sum(b.size), 0) FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
        WHERE rb.repository_id = r.id)
      + (SELECT coalesce(sum(m.size), 0) FROM manifests m WHERE m.repository_id = r.id),
    (SELECT count(*) FROM tags t WHERE t.repository_id = r.id),
    EXISTS (SELECT 1 FROM stars s WHERE s.repository_id = r.id AND s.account_id = :viewer)";

fn info(r: &Row<'_>) -> rusqlite::Result<RepositoryInfo> {
    Ok(RepositoryInfo {
        name: r.get(0)?,
        namespace: r.get(1)?,
        visibility: r.get(2)?,
        description: r.get(3)?,
        full_description: r.get(4)?,
        star_count: r.get(5)?,
        pull_count: r.get(6)?,
        last_pushed: r.get(7)?,
        created_at: r.get(8)?,
        size: r.get(9)?,
        tag_count: r.get(10)?,
        starred: r.get(11)?,
    })
}

/// The columns of a [`TagInfo`] for tag `t` and its manifest `m`: the size is the manifest's plus
/// the distinct blobs of it and of the manifests it lists, plus those manifests.
const TAG_COLUMNS: &str = "t.name, m.digest, m.media_type,
    m.size
      + (SELECT coalesce(sum(b.size), 0) FROM blobs b WHERE b.digest IN (
            SELECT mb.digest FROM manifest_blobs mb WHERE mb.manifest_id = m.id
            UNION
            SELECT mb.digest FROM manifest_children mc
                JOIN manifests cm ON cm.repository_id = m.repository_id AND cm.digest = mc.child_digest
                JOIN manifest_blobs mb ON mb.manifest_id = cm.id
                WHERE mc.manifest_id = m.id))
      + (SELECT coalesce(sum(cm.size), 0) FROM manifest_children mc
            JOIN manifests cm ON cm.repository_id = m.repository_id AND cm.digest = mc.child_digest
            WHERE mc.manifest_id = m.id),
    coalesce(m.platforms, '[]'), t.updated_at";

fn tag_info(r: &Row<'_>) -> rusqlite::Result<TagInfo> {
    Ok(TagInfo {
        name: r.get(0)?,
        digest: r.get(1)?,
        media_type: r.get(2)?,
        size: r.get(3)?,
        platforms: r.get(4)?,
        pushed_at: r.get(5)?,
    })
}

fn conversion(msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, msg.into())
}

fn events_text(events: &[EventKind]) -> String {
    events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(",")
}

fn webhook(r: &Row<'_>) -> rusqlite::Result<Webhook> {
    let events: String = r.get(5)?;
    Ok(Webhook {
        id: r.get(0)?,
        namespace: r.get(1)?,
        repository: r.get(2)?,
        url: r.get(3)?,
        secret: r.get(4)?,
        events: events.split(',').filter_map(EventKind::parse).collect(),
        active: r.get(6)?,
        created_at: r.get(7)?,
    })
}

const WEBHOOK_COLUMNS: &str = "id, namespace, repository, url, secret, events, active, created_at";

/// A change to report to webhooks.
#[derive(Debug)]
pub(crate) struct Event<'a> {
    pub kind: EventKind,
    pub repository: &'a RepoName,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
    pub media_type: Option<&'a str>,
    pub actor: Option<&'a str>,
    /// Unix seconds.
    pub at: i64,
}

pub(crate) fn rfc3339(secs: i64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64))
        .to_string()
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Queues a delivery of `e` for every active webhook that subscribes to it; returns how many.
pub(crate) fn enqueue(c: &Connection, e: &Event<'_>) -> rusqlite::Result<usize> {
    let hooks: Vec<i64> = c
        .prepare_cached(
            "SELECT id FROM webhooks WHERE active = 1
             AND ((repository IS NULL AND namespace = ?1) OR repository = ?2)
             AND instr(',' || events || ',', ',' || ?3 || ',') > 0",
        )?
        .query_map(params![e.repository.namespace(), e.repository.as_str(), e.kind.as_str()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut insert = c.prepare_cached(
        "INSERT INTO webhook_deliveries (uid, webhook_id, event, payload, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for hook in &hooks {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let payload = serde_json::json!({
            "id": id,
            "event": e.kind.as_str(),
            "timestamp": rfc3339(e.at),
            "repository": e.repository.as_str(),
            "namespace": e.repository.namespace(),
            "tag": e.tag,
            "digest": e.digest,
            "media_type": e.media_type,
            "actor": e.actor,
        });
        insert.execute(params![id, hook, e.kind.as_str(), payload.to_string(), now_ms(), e.at])?;
    }
    Ok(hooks.len())
}

/// Search counts at most this many matches.
pub const MAX_COUNTED: usize = 10_000;

/// The FTS5 query matching `term` as the start of a run of words (`"alice web"*`), or `None` when
/// the term has no word characters.
fn fts_words(term: &str) -> Option<String> {
    let words: Vec<&str> = term.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    (!words.is_empty()).then(|| format!("\"{}\"*", words.join(" ")))
}

/// The FTS5 query matching `term` anywhere: one quoted phrase.
fn fts_phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

fn limit_offset(p: Page) -> (i64, i64) {
    (p.limit.min(i64::MAX as usize) as i64, p.offset.min(i64::MAX as usize) as i64)
}

/// The SQL condition on `r` for `visible` (only [`VISIBLE`] takes parameters).
fn visible_sql(visible: &Visible) -> &'static str {
    match visible {
        Visible::All => "1",
        Visible::For { account_id: None, public: true } => "r.visibility = 'public'",
        Visible::For { account_id: None, public: false } => "0",
        Visible::For { account_id: Some(_), .. } => VISIBLE,
    }
}

/// Runs `sql` with the named parameters it uses among `args`.
fn used<'a>(sql: &str, args: &[(&'a str, &'a dyn rusqlite::ToSql)]) -> Vec<(&'a str, &'a dyn rusqlite::ToSql)> {
    args.iter().filter(|(k, _)| sql.contains(k)).copied().collect()
}

/// The empty term: every visible repository by stars, pulls, official, name; at most
/// [`MAX_COUNTED`] counted.
fn search_all(c: &Connection, visible: &Visible, page: Page) -> Result<(Vec<SearchHit>, usize)> {
    let (all, account, public) = visible_params(visible);
    let cond = visible_sql(visible);
    let (limit, offset) = limit_offset(page);
    let args: [(&str, &dyn rusqlite::ToSql); 5] =
        [(":all", &all), (":account", &account), (":public", &public), (":limit", &limit), (":offset", &offset)];
    let sql = format!(
        "SELECT r.name, r.description, r.star_count, r.pull_count FROM repositories r WHERE {cond}
         ORDER BY r.star_count DESC, r.pull_count DESC, instr(r.name, '/') > 0, r.name LIMIT :limit OFFSET :offset"
    );
    let hits = c
        .prepare_cached(&sql)?
        .query_map(used(&sql, &args).as_slice(), |r| {
            Ok(SearchHit { name: r.get(0)?, description: r.get(1)?, star_count: r.get(2)?, pull_count: r.get(3)? })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let q = format!("SELECT count(*) FROM (SELECT 1 FROM repositories r WHERE {cond} LIMIT {MAX_COUNTED})");
    let total = c.prepare_cached(&q)?.query_row(used(&q, &args).as_slice(), |r| r.get::<_, i64>(0))?;
    Ok((hits, total as usize))
}

/// Terms shorter than this match names only from their start or a path component's start (the
/// trigram index finds substrings of three characters or more).
const SUBSTRING_MIN: usize = 3;

/// A tier with at most this many candidates is read whole and ranked here; a larger one is read in
/// rank order only as far as the page needs.
const READ_WHOLE: usize = MAX_COUNTED;

/// A larger tier is counted this many candidates at a time, until [`MAX_COUNTED`] are.
const COUNT_SLICE: usize = 4096;

/// What ranks a visible candidate within its tier: (stars, pulls, has a namespace, name, id).
type Ranked = (i64, i64, bool, String, i64);

fn rank_order(a: &Ranked, b: &Ranked) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)).then_with(|| a.3.cmp(&b.3))
}

fn ids_json(ids: &[i64]) -> String {
    format!("[{}]", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
}

fn ids_of(c: &Connection, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<i64>> {
    let mut ids =
        c.prepare_cached(sql)?.query_map(args, |r| r.get::<_, i64>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// `a` without the members of the sorted `b`.
fn minus(a: Vec<i64>, b: &[i64]) -> Vec<i64> {
    a.into_iter().filter(|x| b.binary_search(x).is_err()).collect()
}

/// A term: the candidates of each tier (docs/index.md) come from the indexes alone: exact from the
/// name index, prefixes from the table of name parts, substrings from the trigram index, description
/// words from the word index. Each tier is then ranked and counted among what the caller may see,
/// tier by tier until the page is full: a tier of at most [`READ_WHOLE`] candidates by reading
/// their rank columns by id (about a microsecond each), a larger one by walking the rank index
/// until enough of its members are found. Counting stops at [`MAX_COUNTED`].
fn search_term(c: &Connection, term: &str, visible: &Visible, page: Page) -> Result<(Vec<SearchHit>, usize)> {
    let substrings = term.chars().count() >= SUBSTRING_MIN;
    let exact = ids_of(c, "SELECT id FROM repositories WHERE name = ?1", &[&term])?;
    // Everything from `term` up to `term` followed by the highest character.
    let high = format!("{term}\u{10FFFF}");
    let prefix = minus(
        ids_of(c, "SELECT repository_id FROM repository_name_parts WHERE part >= ?1 AND part < ?2", &[&term, &high])?,
        &exact,
    );
    let mut names = if substrings {
        ids_of(c, "SELECT rowid FROM repository_names WHERE repository_names MATCH ?1", &[&fts_phrase(term)])?
    } else {
        Vec::new()
    };
    names.extend(&exact);
    names.extend(&prefix);
    names.sort_unstable();
    names.dedup();
    let substring = minus(minus(names.clone(), &exact), &prefix);
    let description = match fts_words(term) {
        Some(words) => minus(
            ids_of(c, "SELECT rowid FROM repository_descriptions WHERE repository_descriptions MATCH ?1", &[&words])?,
            &names,
        ),
        None => Vec::new(),
    };

    let (all, account, public) = visible_params(visible);
    let cond = visible_sql(visible);
    let want = page.offset.saturating_add(page.limit);
    let mut ranked: Vec<Ranked> = Vec::new();
    let mut total = 0usize;
    for tier in [exact, prefix, substring, description] {
        if tier.is_empty() || (ranked.len() >= want && total >= MAX_COUNTED) {
            continue;
        }
        let json = if tier.len() <= READ_WHOLE { ids_json(&tier) } else { String::new() };
        let args: [(&str, &dyn rusqlite::ToSql); 4] =
            [(":all", &all), (":account", &account), (":public", &public), (":ids", &json)];
        let row = |r: &Row<'_>| {
            let name: String = r.get(1)?;
            Ok((r.get::<_, i64>(2)?, r.get::<_, i64>(3)?, name.contains('/'), name, r.get::<_, i64>(0)?))
        };
        if tier.len() <= READ_WHOLE {
            // json_each drives the join: one lookup by id each (an `IN` list would first be built
            // into a temporary index, more than twice as slow).
            let sql = format!(
                "SELECT r.id, r.name, r.star_count, r.pull_count FROM json_each(:ids) j
                 JOIN repositories r ON r.id = j.value WHERE {cond}"
            );
            let mut found = c
                .prepare_cached(&sql)?
                .query_map(used(&sql, &args).as_slice(), row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            total += found.len();
            let need = want.saturating_sub(ranked.len());
            if need < found.len() && need > 0 {
                found.select_nth_unstable_by(need - 1, rank_order);
            }
            found.truncate(need);
            found.sort_unstable_by(rank_order);
            ranked.append(&mut found);
        } else {
            let need = want.saturating_sub(ranked.len());
            if need > 0 {
                // The rank index in order, keeping this tier's visible members.
                let sql = format!(
                    "SELECT r.id, r.name, r.star_count, r.pull_count, CASE WHEN {cond} THEN 1 ELSE 0 END FROM repositories r
                     ORDER BY r.star_count DESC, r.pull_count DESC, instr(r.name, '/') > 0, r.name"
                );
                let mut st = c.prepare_cached(&sql)?;
                let mut rows = st.query(used(&sql, &args).as_slice())?;
                let mut taken = 0;
                while taken < need {
                    let Some(r) = rows.next()? else { break };
                    if tier.binary_search(&r.get::<_, i64>(0)?).is_ok() && r.get::<_, bool>(4)? {
                        ranked.push(row(r)?);
                        taken += 1;
                    }
                }
            }
            // Counted a slice of ids at a time, up to what is still counted.
            let q = format!(
                "SELECT count(*) FROM (SELECT 1 FROM json_each(:ids) j
                 JOIN repositories r ON r.id = j.value WHERE {cond} LIMIT :cap)"
            );
            let mut st = c.prepare_cached(&q)?;
            for slice in tier.chunks(COUNT_SLICE) {
                let cap = MAX_COUNTED.saturating_sub(total) as i64;
                if cap == 0 {
                    break;
                }
                let json = ids_json(slice);
                let args: [(&str, &dyn rusqlite::ToSql); 5] =
                    [(":all", &all), (":account", &account), (":public", &public), (":ids", &json), (":cap", &cap)];
                total += st.query_row(used(&q, &args).as_slice(), |r| r.get::<_, i64>(0))? as usize;
            }
        }
    }
    let total = total.min(MAX_COUNTED);
    let mut read_description = c.prepare_cached("SELECT description FROM repositories WHERE id = ?1")?;
    let mut hits = Vec::new();
    for (star_count, pull_count, _, name, id) in ranked.into_iter().skip(page.offset).take(page.limit) {
        let description: String = read_description.query_row([id], |r| r.get(0))?;
        hits.push(SearchHit { name, description, star_count, pull_count });
    }
    Ok((hits, total))
}

#[async_trait]
impl IndexStore for SqliteMeta {
    async fn search(&self, term: &str, visible: Visible, page: Page) -> Result<(Vec<SearchHit>, usize)> {
        let term = term.to_owned();
        self.read(move |c| {
            // One snapshot for the several statements of a search.
            let tx = c.unchecked_transaction()?;
            let found = if term.is_empty() {
                search_all(&tx, &visible, page)?
            } else {
                search_term(&tx, &term, &visible, page)?
            };
            drop(tx);
            Ok(found)
        })
        .await
    }

    async fn repository_info(&self, name: &RepoName, account: Option<i64>) -> Result<Option<RepositoryInfo>> {
        let name = name.clone();
        self.read(move |c| {
            let sql = format!("SELECT {INFO_COLUMNS} FROM repositories r WHERE r.name = :name");
            Ok(c.prepare_cached(&sql)?
                .query_row(named_params! { ":name": name.as_str(), ":viewer": account }, info)
                .optional()?)
        })
        .await
    }

    async fn list_repository_info(
        &self,
        visible: Visible,
        namespace: Option<&str>,
        sort: RepoSort,
        descending: bool,
        page: Page,
        account: Option<i64>,
    ) -> Result<(Vec<RepositoryInfo>, usize)> {
        let namespace = namespace.map(str::to_owned);
        self.read(move |c| {
            let (all, vis_account, public) = visible_params(&visible);
            let dir = if descending { "DESC" } else { "ASC" };
            let order = match sort {
                RepoSort::Name => format!("r.name {dir}"),
                RepoSort::Stars => format!("r.star_count {dir}, r.name"),
                RepoSort::Pulls => format!("r.pull_count {dir}, r.name"),
                RepoSort::Pushed => format!("r.pushed_at IS NULL, r.pushed_at {dir}, r.name"),
            };
            let sql = format!(
                "SELECT {INFO_COLUMNS}, count(*) OVER () FROM repositories r
                 WHERE (:namespace IS NULL OR r.namespace = :namespace) AND {VISIBLE}
                 ORDER BY {order} LIMIT :limit OFFSET :offset"
            );
            let (limit, offset) = limit_offset(page);
            let mut total = 0usize;
            let list = c
                .prepare_cached(&sql)?
                .query_map(
                    named_params! {
                        ":namespace": namespace, ":all": all, ":account": vis_account, ":public": public,
                        ":limit": limit, ":offset": offset, ":viewer": account,
                    },
                    |r| {
                        total = r.get::<_, i64>(12)? as usize;
                        info(r)
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            if list.is_empty() && offset > 0 {
                let sql = format!(
                    "SELECT count(*) FROM repositories r
                     WHERE (:namespace IS NULL OR r.namespace = :namespace) AND {VISIBLE}"
                );
                total = c.prepare_cached(&sql)?.query_row(
                    named_params! { ":namespace": namespace, ":all": all, ":account": vis_account, ":public": public },
                    |r| r.get::<_, i64>(0),
                )? as usize;
            }
            Ok((list, total))
        })
        .await
    }

    async fn set_descriptions(
        &self,
        name: &RepoName,
        description: Option<String>,
        full_description: Option<String>,
    ) -> Result<bool> {
        let name = name.clone();
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE repositories SET description = coalesce(?2, description),
                     full_description = coalesce(?3, full_description) WHERE name = ?1",
                )?
                .execute(params![name.as_str(), description, full_description])?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_repository(&self, name: &RepoName, actor: Option<&str>) -> Result<bool> {
        let (name, actor) = (name.clone(), actor.map(str::to_owned));
        let (deleted, queued) = self
            .write(move |c| {
                let tx = c.savepoint()?;
                let Some(id) = repo_id(&tx, &name)? else { return Ok((false, 0)) };
                // Tags and manifests first (their own cascades), then the repository.
                tx.prepare_cached("DELETE FROM tags WHERE repository_id = ?1")?.execute([id])?;
                tx.prepare_cached("DELETE FROM manifests WHERE repository_id = ?1")?.execute([id])?;
                tx.prepare_cached("DELETE FROM repositories WHERE id = ?1")?.execute([id])?;
                let queued = enqueue(
                    &tx,
                    &Event {
                        kind: EventKind::Delete,
                        repository: &name,
                        tag: None,
                        digest: None,
                        media_type: None,
                        actor: actor.as_deref(),
                        at: crate::now(),
                    },
                )?;
                tx.commit()?;
                Ok((true, queued))
            })
            .await?;
        self.queued(queued);
        Ok(deleted)
    }

    async fn set_star(&self, account_id: i64, name: &RepoName, starred: bool) -> Result<bool> {
        let name = name.clone();
        self.write(move |c| {
            let Some(id) = repo_id(c, &name)? else { return Ok(false) };
            if starred {
                c.prepare_cached(
                    "INSERT OR IGNORE INTO stars (account_id, repository_id, created_at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![account_id, id, now_ms()])?;
            } else {
                c.prepare_cached("DELETE FROM stars WHERE account_id = ?1 AND repository_id = ?2")?
                    .execute(params![account_id, id])?;
            }
            Ok(true)
        })
        .await
    }

    async fn starred(&self, account_id: i64, visible: Visible, viewer: Option<i64>) -> Result<Vec<RepositoryInfo>> {
        self.read(move |c| {
            let (all, account, public) = visible_params(&visible);
            let sql = format!(
                "SELECT {INFO_COLUMNS} FROM stars st JOIN repositories r ON r.id = st.repository_id
                 WHERE st.account_id = :starrer AND {VISIBLE}
                 ORDER BY st.created_at DESC, r.name"
            );
            let list = c
                .prepare_cached(&sql)?
                .query_map(
                    named_params! {
                        ":starrer": account_id, ":all": all, ":account": account, ":public": public, ":viewer": viewer,
                    },
                    info,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(list)
        })
        .await
    }

    async fn record_pulls(&self, pulls: Vec<Pull>) -> Result<()> {
        if pulls.is_empty() {
            return Ok(());
        }
        let queued = self
            .write(move |c| {
                // Not durable on its own (the next durable commit makes it so); inside a batch of
                // writes it is committed with them, and the safety level cannot change there.
                let lazy = c.is_autocommit();
                if lazy {
                    c.pragma_update(None, "synchronous", "NORMAL")?;
                }
                let r = (|| -> rusqlite::Result<usize> {
                    let tx = c.savepoint()?;
                    let mut counts: HashMap<&str, i64> = HashMap::new();
                    for p in &pulls {
                        *counts.entry(p.repository.as_str()).or_default() += 1;
                    }
                    {
                        let mut add = tx.prepare_cached("UPDATE repositories SET pull_count = pull_count + ?2 WHERE name = ?1")?;
                        for (name, n) in counts {
                            add.execute(params![name, n])?;
                        }
                    }
                    let mut queued = 0;
                    let any_hook: bool = tx.query_row(
                        "SELECT EXISTS (SELECT 1 FROM webhooks WHERE active = 1 AND instr(',' || events || ',', ',pull,') > 0)",
                        [],
                        |r| r.get(0),
                    )?;
                    if any_hook {
                        for p in &pulls {
                            queued += enqueue(
                                &tx,
                                &Event {
                                    kind: EventKind::Pull,
                                    repository: &p.repository,
                                    tag: p.tag.as_deref(),
                                    digest: Some(&p.digest),
                                    media_type: Some(&p.media_type),
                                    actor: p.actor.as_deref(),
                                    at: p.at,
                                },
                            )?;
                        }
                    }
                    tx.commit()?;
                    Ok(queued)
                })();
                if lazy {
                    c.pragma_update(None, "synchronous", "FULL")?;
                }
                Ok(r?)
            })
            .await?;
        self.queued(queued);
        Ok(())
    }

    async fn tag_infos(&self, name: &RepoName, page: Page) -> Result<Option<(Vec<TagInfo>, usize)>> {
        let name = name.clone();
        self.read(move |c| {
            let Some(repo) = repo_id(c, &name)? else { return Ok(None) };
            let sql = format!(
                "SELECT {TAG_COLUMNS} FROM tags t JOIN manifests m ON m.id = t.manifest_id
                 WHERE t.repository_id = ?1 ORDER BY t.name LIMIT ?2 OFFSET ?3"
            );
            let (limit, offset) = limit_offset(page);
            let list = c
                .prepare_cached(&sql)?
                .query_map(params![repo, limit, offset], tag_info)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let total: i64 = c
                .prepare_cached("SELECT count(*) FROM tags WHERE repository_id = ?1")?
                .query_row([repo], |r| r.get(0))?;
            Ok(Some((list, total as usize)))
        })
        .await
    }

    async fn tag_info(&self, name: &RepoName, tag: &str) -> Result<Option<TagInfo>> {
        let (name, tag) = (name.clone(), tag.to_owned());
        self.read(move |c| {
            let sql = format!(
                "SELECT {TAG_COLUMNS} FROM tags t JOIN manifests m ON m.id = t.manifest_id
                 JOIN repositories r ON r.id = t.repository_id WHERE r.name = ?1 AND t.name = ?2"
            );
            Ok(c.prepare_cached(&sql)?.query_row(params![name.as_str(), tag], tag_info).optional()?)
        })
        .await
    }

    async fn create_webhook(&self, hook: NewWebhook) -> Result<Webhook> {
        self.write(move |c| {
            let now = crate::now();
            c.prepare_cached(
                "INSERT INTO webhooks (namespace, repository, url, secret, events, active, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                hook.namespace,
                hook.repository,
                hook.url,
                hook.secret,
                events_text(&hook.events),
                hook.active,
                now
            ])?;
            Ok(Webhook {
                id: c.last_insert_rowid(),
                namespace: hook.namespace,
                repository: hook.repository,
                url: hook.url,
                secret: hook.secret,
                events: hook.events,
                active: hook.active,
                created_at: now,
            })
        })
        .await
    }

    async fn webhook(&self, id: i64) -> Result<Option<Webhook>> {
        self.read(move |c| {
            let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?1");
            Ok(c.prepare_cached(&sql)?.query_row([id], webhook).optional()?)
        })
        .await
    }

    async fn list_webhooks(&self, filter: WebhookFilter) -> Result<Vec<Webhook>> {
        self.read(move |c| {
            let (clause, arg) = match filter {
                WebhookFilter::All => ("1 OR ?1", Value::Null),
                WebhookFilter::Namespace(ns) => ("namespace = ?1", Value::Text(ns)),
                WebhookFilter::Repository(r) => ("repository = ?1", Value::Text(r)),
            };
            let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE {clause} ORDER BY id");
            let list = c.prepare_cached(&sql)?.query_map([arg], webhook)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(list)
        })
        .await
    }

    async fn update_webhook(&self, id: i64, u: WebhookUpdate) -> Result<Option<Webhook>> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            let n = tx
                .prepare_cached(
                    "UPDATE webhooks SET url = coalesce(?2, url), secret = coalesce(?3, secret),
                     events = coalesce(?4, events), active = coalesce(?5, active) WHERE id = ?1",
                )?
                .execute(params![id, u.url, u.secret, u.events.as_deref().map(events_text), u.active])?;
            if n == 0 {
                return Ok(None);
            }
            let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?1");
            let hook = tx.prepare_cached(&sql)?.query_row([id], webhook)?;
            tx.commit()?;
            Ok(Some(hook))
        })
        .await
    }

    async fn delete_webhook(&self, id: i64) -> Result<bool> {
        self.write(move |c| Ok(c.prepare_cached("DELETE FROM webhooks WHERE id = ?1")?.execute([id])? > 0)).await
    }

    async fn deliveries(&self, webhook_id: i64, page: Page) -> Result<(Vec<Delivery>, usize)> {
        self.read(move |c| {
            // One snapshot: a delivery and its attempts are recorded together, and read together.
            let c = &c.unchecked_transaction()?;
            let (limit, offset) = limit_offset(page);
            let rows: Vec<(i64, Delivery)> = c
                .prepare_cached(
                    "SELECT id, uid, event, status, created_at, next_attempt_at, payload FROM webhook_deliveries
                     WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
                )?
                .query_map(params![webhook_id, limit, offset], |r| {
                    let status: String = r.get(3)?;
                    Ok((
                        r.get(0)?,
                        Delivery {
                            id: r.get(1)?,
                            event: r.get(2)?,
                            status: DeliveryStatus::parse(&status)
                                .ok_or_else(|| conversion(format!("unknown delivery status {status}")))?,
                            created_at: r.get(4)?,
                            next_attempt_ms: r.get(5)?,
                            payload: r.get(6)?,
                            attempts: Vec::new(),
                        },
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut attempts = c.prepare_cached(
                "SELECT at, status_code, error, duration_ms FROM webhook_attempts WHERE delivery_id = ?1 ORDER BY at",
            )?;
            let mut list = Vec::with_capacity(rows.len());
            for (row, mut d) in rows {
                d.attempts = attempts
                    .query_map([row], |r| {
                        Ok(Attempt {
                            at_ms: r.get(0)?,
                            status_code: r.get::<_, Option<i64>>(1)?.map(|s| s as u16),
                            error: r.get(2)?,
                            duration_ms: r.get(3)?,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                list.push(d);
            }
            let total: i64 = c
                .prepare_cached("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = ?1")?
                .query_row([webhook_id], |r| r.get(0))?;
            Ok((list, total as usize))
        })
        .await
    }

    async fn due_deliveries(&self, now_ms: i64, limit: usize) -> Result<Vec<DueDelivery>> {
        self.read(move |c| {
            let list = c
                .prepare_cached(
                    "SELECT d.id, d.uid, d.event, d.payload, w.url, w.secret, d.attempts
                     FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                     WHERE d.status = 'pending' AND d.next_attempt_at <= ?1
                     ORDER BY d.next_attempt_at, d.id LIMIT ?2",
                )?
                .query_map(params![now_ms, limit as i64], |r| {
                    Ok(DueDelivery {
                        row: r.get(0)?,
                        id: r.get(1)?,
                        event: r.get(2)?,
                        payload: r.get(3)?,
                        url: r.get(4)?,
                        secret: r.get(5)?,
                        attempts: r.get::<_, i64>(6)? as u32,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(list)
        })
        .await
    }

    async fn next_due(&self) -> Result<Option<i64>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT min(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'")?
                .query_row([], |r| r.get(0))?)
        })
        .await
    }

    async fn record_attempt(&self, row: i64, a: Attempt, outcome: AttemptOutcome) -> Result<()> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            tx.prepare_cached(
                "INSERT INTO webhook_attempts (delivery_id, at, status_code, error, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![row, a.at_ms, a.status_code.map(i64::from), a.error, a.duration_ms])?;
            let (status, next) = match outcome {
                AttemptOutcome::Delivered => (DeliveryStatus::Delivered, None),
                AttemptOutcome::RetryAt(t) => (DeliveryStatus::Pending, Some(t)),
                AttemptOutcome::Failed => (DeliveryStatus::Failed, None),
            };
            tx.prepare_cached(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?2,
                 next_attempt_at = coalesce(?3, next_attempt_at) WHERE id = ?1",
            )?
            .execute(params![row, status.as_str(), next])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn prune_deliveries(&self, before: i64) -> Result<usize> {
        self.write(move |c| {
            Ok(c.prepare_cached("DELETE FROM webhook_deliveries WHERE status != 'pending' AND created_at < ?1")?
                .execute([before])?)
        })
        .await
    }

    fn delivery_signal(&self) -> Arc<tokio::sync::Notify> {
        self.signal().clone()
    }
}
