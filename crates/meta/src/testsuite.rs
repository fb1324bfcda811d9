//! The suite every [`MetaStore`] implementation runs: `run_all(&store).await` in its tests.

#![allow(clippy::unwrap_used, clippy::panic)]

use crate::{AccountKind, AccountStore, AccountUpdate, MetaError, MetaStore, NewAccount, NewManifest, Visible};
use berth_auth::{Level, OrgRole, PatScope, Visibility};
use berth_oci::{Digest, Reference, RepoName, Tag};

fn n(s: &str) -> RepoName {
    s.parse().unwrap()
}

fn t(s: &str) -> Tag {
    s.parse().unwrap()
}

fn manifest(content: &str, blobs: Vec<Digest>, children: Vec<Digest>, tags: &[&str]) -> NewManifest {
    NewManifest {
        digest: Digest::sha256_of(content.as_bytes()),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        content: content.as_bytes().to_vec(),
        blobs,
        children,
        subject: None,
        artifact_type: None,
        annotations: None,
        tags: tags.iter().map(|s| t(s)).collect(),
        platforms: None,
        actor: None,
    }
}

/// Runs every check of the suite.
pub async fn run_all(m: &dyn MetaStore) {
    blobs_per_repository(m).await;
    manifests_tags_and_deletes(m).await;
    pagination(m).await;
    referrers(m).await;
    uploads(m).await;
    m.health().await.unwrap();
}

async fn blobs_per_repository(m: &dyn MetaStore) {
    let (a, b) = (n("suite/a"), n("suite/b"));
    let d = Digest::sha256_of(b"blob");
    assert!(!m.repository_exists(&a).await.unwrap());
    m.add_blob(&a, &d, 4).await.unwrap();
    m.add_blob(&a, &d, 4).await.unwrap();
    assert!(m.repository_exists(&a).await.unwrap());
    assert_eq!(m.repository_blob(&a, &d).await.unwrap(), Some(4));
    // Another repository cannot read it until it is mounted.
    assert_eq!(m.repository_blob(&b, &d).await.unwrap(), None);
    assert_eq!(m.mount_blob(&n("suite/none"), &b, &d).await.unwrap(), None);
    assert!(!m.repository_exists(&b).await.unwrap());
    assert_eq!(m.mount_blob(&a, &b, &d).await.unwrap(), Some(4));
    assert_eq!(m.repository_blob(&b, &d).await.unwrap(), Some(4));
    assert!(m.remove_blob(&b, &d).await.unwrap());
    assert!(!m.remove_blob(&b, &d).await.unwrap());
    assert_eq!(m.repository_blob(&b, &d).await.unwrap(), None);
    assert_eq!(m.repository_blob(&a, &d).await.unwrap(), Some(4));
}

async fn manifests_tags_and_deletes(m: &dyn MetaStore) {
    let r = n("suite/m");
    let (c, l) = (Digest::sha256_of(b"config"), Digest::sha256_of(b"layer"));
    let img = manifest("image-1", vec![c.clone(), l.clone()], vec![], &["v1", "latest"]);
    // Refused while the repository lacks its blobs, and nothing is left behind.
    match m.put_manifest(&r, img.clone()).await {
        Err(MetaError::MissingReferences(d)) => assert_eq!(d, vec![c.clone(), l.clone()]),
        other => panic!("{other:?}"),
    }
    assert!(!m.repository_exists(&r).await.unwrap());
    m.add_blob(&r, &c, 6).await.unwrap();
    m.add_blob(&r, &l, 5).await.unwrap();
    m.put_manifest(&r, img.clone()).await.unwrap();
    m.put_manifest(&r, img.clone()).await.unwrap();
    let by_tag = m.get_manifest(&r, &Reference::Tag(t("v1"))).await.unwrap().unwrap();
    assert_eq!(by_tag.content, b"image-1");
    assert_eq!(by_tag.digest, img.digest);
    let by_digest = m.get_manifest(&r, &Reference::Digest(img.digest.clone())).await.unwrap().unwrap();
    assert_eq!(by_digest, by_tag);
    assert_eq!(m.get_manifest(&n("suite/a"), &Reference::Tag(t("v1"))).await.unwrap(), None);

    // An index needs its children in the repository.
    let idx = manifest("index-1", vec![], vec![img.digest.clone()], &["multi"]);
    m.put_manifest(&r, idx.clone()).await.unwrap();
    let orphan = manifest("index-2", vec![], vec![Digest::sha256_of(b"nope")], &[]);
    assert!(matches!(m.put_manifest(&r, orphan).await, Err(MetaError::MissingReferences(_))));

    // Moving a tag.
    let img2 = manifest("image-2", vec![c.clone()], vec![], &["latest"]);
    m.put_manifest(&r, img2.clone()).await.unwrap();
    assert_eq!(m.get_manifest(&r, &Reference::Tag(t("latest"))).await.unwrap().unwrap().digest, img2.digest);

    // Deleting a tag leaves the manifest; deleting a manifest takes its tags.
    assert!(m.delete_tag(&r, &t("v1"), None).await.unwrap());
    assert!(!m.delete_tag(&r, &t("v1"), None).await.unwrap());
    assert!(m.get_manifest(&r, &Reference::Digest(img.digest.clone())).await.unwrap().is_some());
    assert!(m.delete_manifest(&r, &img2.digest, None).await.unwrap());
    assert!(!m.delete_manifest(&r, &img2.digest, None).await.unwrap());
    assert_eq!(m.get_manifest(&r, &Reference::Tag(t("latest"))).await.unwrap(), None);
    assert_eq!(m.list_tags(&r, None, 100).await.unwrap().unwrap(), vec!["multi".to_owned()]);
}

async fn pagination(m: &dyn MetaStore) {
    let r = n("suite/p");
    let c = Digest::sha256_of(b"pc");
    m.add_blob(&r, &c, 2).await.unwrap();
    m.put_manifest(&r, manifest("p", vec![c], vec![], &["b", "a", "c", "B", "a1"])).await.unwrap();
    assert_eq!(m.list_tags(&r, None, 100).await.unwrap().unwrap(), ["B", "a", "a1", "b", "c"]);
    assert_eq!(m.list_tags(&r, None, 2).await.unwrap().unwrap(), ["B", "a"]);
    assert_eq!(m.list_tags(&r, Some("a"), 2).await.unwrap().unwrap(), ["a1", "b"]);
    assert_eq!(m.list_tags(&r, Some("c"), 2).await.unwrap().unwrap(), Vec::<String>::new());
    assert_eq!(m.list_tags(&n("suite/unknown"), None, 2).await.unwrap(), None);
    let all = m.list_repositories(None, 1000).await.unwrap();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert!(all.contains(&"suite/p".to_owned()));
    let after = m.list_repositories(Some("suite/m"), 1).await.unwrap();
    assert_eq!(after, ["suite/p"]);
}

async fn referrers(m: &dyn MetaStore) {
    let r = n("suite/r");
    let c = Digest::sha256_of(b"rc");
    m.add_blob(&r, &c, 2).await.unwrap();
    let subject = Digest::sha256_of(b"subject");
    assert_eq!(m.referrers(&n("suite/unknown"), &subject, None).await.unwrap(), None);
    let mut sig = manifest("sig", vec![c.clone()], vec![], &[]);
    sig.subject = Some(subject.clone());
    sig.artifact_type = Some("application/x.sig".into());
    sig.annotations = Some(r#"{"k":"v"}"#.into());
    let mut sbom = manifest("sbom", vec![c.clone()], vec![], &[]);
    sbom.subject = Some(subject.clone());
    sbom.artifact_type = Some("application/x.sbom".into());
    m.put_manifest(&r, sig.clone()).await.unwrap();
    m.put_manifest(&r, sbom.clone()).await.unwrap();
    let all = m.referrers(&r, &subject, None).await.unwrap().unwrap();
    assert_eq!(all.len(), 2);
    let sigs = m.referrers(&r, &subject, Some("application/x.sig")).await.unwrap().unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].digest, sig.digest);
    assert_eq!(sigs[0].size, 3);
    assert_eq!(sigs[0].annotations.as_deref(), Some(r#"{"k":"v"}"#));
    m.delete_manifest(&r, &sig.digest, None).await.unwrap();
    assert_eq!(m.referrers(&r, &subject, None).await.unwrap().unwrap().len(), 1);
}

async fn uploads(m: &dyn MetaStore) {
    let r = n("suite/u");
    m.create_upload("up-1", &r).await.unwrap();
    let s = m.get_upload("up-1").await.unwrap().unwrap();
    assert_eq!(s.repository, r);
    m.touch_upload("up-1").await.unwrap();
    assert!(m.list_uploads().await.unwrap().iter().any(|(id, _)| id == "up-1"));
    m.delete_upload("up-1").await.unwrap();
    assert_eq!(m.get_upload("up-1").await.unwrap(), None);
    // Recording the uploaded blob ends its session in the same transaction.
    m.create_upload("up-2", &r).await.unwrap();
    let d = Digest::sha256_of(b"uploaded");
    m.add_uploaded_blob(&r, &d, 8, "up-2").await.unwrap();
    assert_eq!(m.get_upload("up-2").await.unwrap(), None);
    assert_eq!(m.repository_blob(&r, &d).await.unwrap(), Some(8));
}

fn new_account(name: &str, kind: AccountKind, org_id: Option<i64>) -> NewAccount {
    NewAccount {
        name: name.into(),
        kind,
        email: None,
        password_hash: Some("$argon2id$placeholder".into()),
        admin: false,
        org_id,
        default_visibility: None,
    }
}

/// The account side of a backend: names, tokens, teams, and the facts of the access decision.
pub async fn run_accounts<S: MetaStore + AccountStore>(m: &S) {
    let alice = m.create_account(new_account("alice", AccountKind::User, None)).await.unwrap().unwrap();
    assert!(m.create_account(new_account("alice", AccountKind::Org, None)).await.unwrap().is_none(), "one namespace");
    let bob = m.create_account(new_account("bob", AccountKind::User, None)).await.unwrap().unwrap();
    let org = m.create_account(new_account("acme", AccountKind::Org, None)).await.unwrap().unwrap();
    let robot = m.create_account(new_account("acme+ci", AccountKind::Robot, Some(org.id))).await.unwrap().unwrap();
    assert_eq!(m.account_by_name("alice").await.unwrap().unwrap().id, alice.id);
    assert_eq!(m.list_accounts(Some(AccountKind::Org)).await.unwrap().len(), 1);

    // Personal access tokens, refresh tokens, revocation.
    let t = m.create_access_token(alice.id, "ci", "hash-1", PatScope::Read, None).await.unwrap();
    let (found, owner) = m.access_token_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!((found.id, found.scope, owner.id), (t.id, PatScope::Read, alice.id));
    assert!(!m.delete_access_token(bob.id, t.id).await.unwrap(), "only the owner's tokens");
    assert!(m.delete_access_token(alice.id, t.id).await.unwrap());
    assert!(m.access_token_by_hash("hash-1").await.unwrap().is_none());
    m.create_refresh_token("r-1", alice.id, crate::now() + 60, None).await.unwrap();
    assert_eq!(m.refresh_token("r-1").await.unwrap().map(|r| r.0), Some(alice.id));
    // A refresh token obtained with a personal access token goes with it.
    let pat = m.create_access_token(alice.id, "rw", "hash-2", PatScope::ReadWrite, None).await.unwrap();
    m.create_refresh_token("r-2", alice.id, crate::now() + 60, Some(pat.id)).await.unwrap();
    assert_eq!(m.refresh_token("r-2").await.unwrap().map(|r| r.2), Some(Some(pat.id)));
    assert_eq!(m.access_token_by_id(pat.id).await.unwrap().map(|t| t.scope), Some(PatScope::ReadWrite));
    assert!(m.delete_access_token(alice.id, pat.id).await.unwrap());
    assert!(m.refresh_token("r-2").await.unwrap().is_none());
    assert!(m.access_token_by_id(pat.id).await.unwrap().is_none());
    m.delete_refresh_tokens_of(alice.id).await.unwrap();
    assert!(m.refresh_token("r-1").await.unwrap().is_none());
    m.revoke_access_token("jti-1", crate::now() + 60).await.unwrap();
    assert!(m.access_token_revoked("jti-1").await.unwrap());
    assert!(!m.access_token_revoked("jti-2").await.unwrap());

    // Teams and the facts they give.
    let writers = m.create_team(org.id, "writers", OrgRole::Write).await.unwrap().unwrap();
    assert!(m.create_team(org.id, "writers", OrgRole::Read).await.unwrap().is_none());
    let single = m.create_team(org.id, "single", OrgRole::Read).await.unwrap().unwrap();
    m.add_team_member(writers.id, robot.id).await.unwrap();
    m.add_team_member(single.id, bob.id).await.unwrap();
    let app: RepoName = "acme/app".parse().unwrap();
    let other: RepoName = "acme/other".parse().unwrap();
    m.set_team_repository(single.id, &app, Level::Admin).await.unwrap();
    assert_eq!(m.org_role(org.id, robot.id).await.unwrap(), Some(OrgRole::Write));
    assert_eq!(m.org_role(org.id, alice.id).await.unwrap(), None);
    let f = m.repository_access(Some(robot.id), &app).await.unwrap();
    assert_eq!(
        (f.exists, f.visibility, f.own_namespace, f.team_level),
        (false, Visibility::Private, false, Level::Write)
    );
    assert_eq!(m.repository_access(Some(bob.id), &app).await.unwrap().team_level, Level::Admin);
    assert_eq!(m.repository_access(Some(bob.id), &other).await.unwrap().team_level, Level::Read);
    assert_eq!(m.repository_access(Some(alice.id), &app).await.unwrap().team_level, Level::None);
    assert!(m.repository_access(Some(alice.id), &"alice/x".parse().unwrap()).await.unwrap().own_namespace);
    assert!(!m.repository_access(Some(alice.id), &"alice".parse().unwrap()).await.unwrap().own_namespace);

    // A namespace's default visibility applies to its new repositories; visibility can change.
    m.update_account(alice.id, AccountUpdate { default_visibility: Some(Visibility::Public), ..Default::default() })
        .await
        .unwrap();
    let pub_repo: RepoName = "alice/open".parse().unwrap();
    assert_eq!(m.repository_access(None, &pub_repo).await.unwrap().visibility, Visibility::Public);
    m.add_blob(&pub_repo, &Digest::sha256_of(b"v"), 1).await.unwrap();
    m.add_blob(&app, &Digest::sha256_of(b"v"), 1).await.unwrap();
    m.add_blob(&"bob/secret".parse().unwrap(), &Digest::sha256_of(b"v"), 1).await.unwrap();
    assert!(m.repository_access(None, &pub_repo).await.unwrap().exists);
    let seen = |v: Visible| async move { m.visible_repositories(v, Some("a"), 100).await.unwrap() };
    let anon = seen(Visible::For { account_id: None, public: true }).await;
    assert!(anon.contains(&"alice/open".into()) && !anon.contains(&"acme/app".into()), "{anon:?}");
    let as_bob = seen(Visible::For { account_id: Some(bob.id), public: true }).await;
    assert!(as_bob.contains(&"acme/app".into()) && as_bob.contains(&"bob/secret".into()), "{as_bob:?}");
    let as_alice = seen(Visible::For { account_id: Some(alice.id), public: false }).await;
    assert!(as_alice.contains(&"alice/open".into()) && !as_alice.contains(&"bob/secret".into()), "{as_alice:?}");
    assert!(seen(Visible::All).await.contains(&"bob/secret".into()));
    assert!(m.set_visibility(&app, Visibility::Public).await.unwrap());
    assert!(!m.set_visibility(&"nope/x".parse().unwrap(), Visibility::Public).await.unwrap());
    assert!(seen(Visible::For { account_id: None, public: true }).await.contains(&"acme/app".into()));

    // Deleting an organization takes its teams; deleting a member takes the membership.
    assert!(m.delete_account(bob.id).await.unwrap());
    assert!(m.team_members(single.id).await.unwrap().is_empty());
    assert!(m.delete_account(org.id).await.unwrap());
    assert!(m.team(org.id, "writers").await.unwrap().is_none());
}

/// The index: search ranking and visibility, metadata, stars, pulls, tag details, repository
/// deletion, and webhook deliveries queued with the changes they report. Runs on an empty store.
pub async fn run_index<S: MetaStore + AccountStore + crate::IndexStore>(m: &S) {
    use crate::{
        Attempt, AttemptOutcome, DeliveryStatus, EventKind, NewWebhook, Page, Pull, RepoSort, WebhookFilter,
        WebhookUpdate,
    };
    let page = Page { offset: 0, limit: 25 };
    let all = Visible::All;
    let anon = Visible::For { account_id: None, public: true };
    let carol = m.create_account(new_account("carol", AccountKind::User, None)).await.unwrap().unwrap();
    let blob = Digest::sha256_of(b"index-blob");
    // A webhook on carol's namespace, queued before the pushes it reports.
    let hook = m
        .create_webhook(NewWebhook {
            namespace: "carol".into(),
            repository: None,
            url: "http://127.0.0.1:9/hook".into(),
            secret: "0123456789abcdef".into(),
            events: vec![EventKind::Push, EventKind::Delete],
            active: true,
        })
        .await
        .unwrap();
    for (name, public) in
        [("web", true), ("carol/web", false), ("carol/webapp", true), ("dave/x-web", true), ("dave/other", true)]
    {
        let r = n(name);
        m.add_blob(&r, &blob, 10).await.unwrap();
        let mut man = manifest(&format!("{{\"m\":\"{name}\"}}"), vec![blob.clone()], vec![], &["v1"]);
        man.actor = Some("carol".into());
        man.platforms = Some(r#"[{"os":"linux","architecture":"amd64"}]"#.into());
        m.put_manifest(&r, man).await.unwrap();
        m.set_visibility(&r, if public { Visibility::Public } else { Visibility::Private }).await.unwrap();
    }
    assert!(m.set_descriptions(&n("dave/other"), Some("A web server".into()), None).await.unwrap());
    let names = |hits: Vec<crate::SearchHit>| hits.into_iter().map(|h| h.name).collect::<Vec<_>>();
    let (hits, total) = m.search("web", all.clone(), page).await.unwrap();
    assert_eq!(names(hits), ["web", "carol/web", "carol/webapp", "dave/x-web", "dave/other"]);
    assert_eq!(total, 5);
    // Anonymous callers see public ones only; stars break ties within a tier.
    assert!(m.set_star(carol.id, &n("dave/x-web"), true).await.unwrap());
    let (hits, _) = m.search("web", anon.clone(), page).await.unwrap();
    assert_eq!(names(hits), ["web", "carol/webapp", "dave/x-web", "dave/other"]);
    let (hits, _) = m.search("x-w", all.clone(), page).await.unwrap();
    assert_eq!(names(hits), ["dave/x-web"]);
    let (hits, total) = m.search("web", all.clone(), Page { offset: 4, limit: 2 }).await.unwrap();
    assert_eq!((names(hits), total), (vec!["dave/other".to_owned()], 5));
    let (hits, total) = m.search("web", all.clone(), Page { offset: 10, limit: 2 }).await.unwrap();
    assert_eq!((hits.len(), total), (0, 5));
    let (_, total) = m.search("", all.clone(), page).await.unwrap();
    assert_eq!(total, 5);
    // Stars, pulls, metadata.
    let info = m.repository_info(&n("dave/x-web"), Some(carol.id)).await.unwrap().unwrap();
    assert_eq!((info.star_count, info.starred, info.tag_count), (1, true, 1));
    assert!(info.last_pushed.is_some());
    assert_eq!(info.size, 10 + "{\"m\":\"dave/x-web\"}".len() as i64);
    assert_eq!(m.starred(carol.id, all.clone(), Some(carol.id)).await.unwrap().len(), 1);
    assert!(m.set_star(carol.id, &n("dave/x-web"), false).await.unwrap());
    assert!(!m.set_star(carol.id, &n("no/such"), true).await.unwrap());
    let pull = |name: &str| Pull {
        repository: n(name),
        tag: Some("v1".into()),
        digest: blob.to_string(),
        media_type: "x".into(),
        actor: None,
        at: crate::now(),
    };
    m.record_pulls(vec![pull("dave/other"), pull("dave/other")]).await.unwrap();
    assert_eq!(m.repository_info(&n("dave/other"), None).await.unwrap().unwrap().pull_count, 2);
    let (list, total) =
        m.list_repository_info(all.clone(), Some("dave"), RepoSort::Pulls, true, page, None).await.unwrap();
    assert_eq!((list[0].name.as_str(), total), ("dave/other", 2));
    // Tags.
    let (tags, total) = m.tag_infos(&n("carol/web"), page).await.unwrap().unwrap();
    assert_eq!((tags.len(), total, tags[0].platforms.as_str()), (1, 1, r#"[{"os":"linux","architecture":"amd64"}]"#));
    assert!(m.tag_info(&n("carol/web"), "nope").await.unwrap().is_none());
    // Deliveries: one per push to carol's namespace, then one for a tag delete and a repository delete.
    let (deliveries, total) = m.deliveries(hook.id, page).await.unwrap();
    assert_eq!(total, 2, "{deliveries:?}");
    assert!(m.delete_tag(&n("carol/web"), &t("v1"), Some("carol")).await.unwrap());
    assert!(m.delete_repository(&n("carol/webapp"), Some("carol")).await.unwrap());
    assert!(!m.delete_repository(&n("carol/webapp"), None).await.unwrap());
    let (deliveries, total) = m.deliveries(hook.id, page).await.unwrap();
    assert_eq!(total, 4);
    let newest: serde_json::Value = serde_json::from_str(&deliveries[0].payload).unwrap();
    assert_eq!((newest["event"].as_str(), newest["repository"].as_str()), (Some("delete"), Some("carol/webapp")));
    assert_eq!(m.search("webapp", all.clone(), page).await.unwrap().1, 0, "a deleted repository leaves the index");
    // The queue: due, attempts, outcome.
    let due = m.due_deliveries(i64::MAX, 10).await.unwrap();
    assert_eq!(due.len(), 4);
    let a = Attempt { at_ms: 1, status_code: Some(500), error: Some("answered 500".into()), duration_ms: 3 };
    m.record_attempt(due[0].row, a.clone(), AttemptOutcome::RetryAt(i64::MAX - 1)).await.unwrap();
    m.record_attempt(due[1].row, a.clone(), AttemptOutcome::Delivered).await.unwrap();
    m.record_attempt(due[2].row, a, AttemptOutcome::Failed).await.unwrap();
    assert_eq!(m.due_deliveries(i64::MAX - 2, 10).await.unwrap().len(), 1);
    let (deliveries, _) = m.deliveries(hook.id, page).await.unwrap();
    let statuses: Vec<DeliveryStatus> = deliveries.iter().map(|d| d.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == DeliveryStatus::Pending).count(), 2);
    assert_eq!(m.prune_deliveries(i64::MAX).await.unwrap(), 2);
    // An inactive hook gets nothing new.
    m.update_webhook(hook.id, WebhookUpdate { active: Some(false), ..Default::default() }).await.unwrap();
    m.delete_manifest(&n("carol/web"), &Digest::sha256_of(b"{\"m\":\"carol/web\"}"), None).await.unwrap();
    assert_eq!(m.deliveries(hook.id, page).await.unwrap().1, 2);
    assert_eq!(m.list_webhooks(WebhookFilter::Namespace("carol".into())).await.unwrap().len(), 1);
    assert!(m.delete_webhook(hook.id).await.unwrap());
    assert!(m.webhook(hook.id).await.unwrap().is_none());
}
