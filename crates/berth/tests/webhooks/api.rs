//! `/api/v1/webhooks`: creating (secret shown once, defaults, validation), who may manage which
//! webhooks, listing with filters, GET, PATCH, DELETE.

use reqwest::Response;
use serde_json::{json, Value};

use crate::common::*;
use crate::fixtures::*;
use crate::harness::*;
use crate::util::*;

/// No receiver listens there; these tests never push after creating webhooks.
const URL: &str = "http://127.0.0.1:9/hook";

/// A refusal to create a webhook for something the caller may not manage. docs/index.md fixes
/// `404 NOT_FOUND` for existing webhooks the caller may not manage, but not the answer of a
/// `POST` for a namespace or repository the caller may not manage: `403 DENIED` (docs/access.md's
/// "without the right") and `404 NOT_FOUND` (not revealing it) are both taken.
async fn expect_refused(r: Response, ctx: &str) {
    match r.status().as_u16() {
        403 => {
            expect_error(r, 403, "DENIED").await;
        }
        404 => {
            expect_error(r, 404, "NOT_FOUND").await;
        }
        st => {
            let body = r.text().await.unwrap_or_default();
            panic!("{ctx}: want 403 DENIED or 404 NOT_FOUND, got {st}: {body}");
        }
    }
}

/// The documented fields of a webhook (so a GET can be compared with the POST's answer).
fn documented(v: &Value) -> Value {
    json!({
        "id": v["id"], "namespace": v["namespace"], "repository": v["repository"], "url": v["url"],
        "events": events_of(v), "active": v["active"], "created_at": v["created_at"],
    })
}

fn ids(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_shows_its_secret_only_when_created_and_has_the_documented_defaults() {
    let s = server_with_users(&[], &["alice"]).await;
    let alice = s.user("alice");
    push_image(&alice, "alice/web", "v1", 1).await;

    let ns = create_hook(&alice, json!({"namespace": "alice", "url": URL})).await;
    assert_eq!(ns["namespace"], "alice", "{ns}");
    assert!(ns["repository"].is_null(), "a namespace webhook has repository null: {ns}");
    assert_eq!(ns["url"], URL, "{ns}");
    assert_eq!(events_of(&ns), ["delete", "push"], "default events: {ns}");
    assert_eq!(ns["active"], true, "default active: {ns}");
    let ns2 = create_hook(&alice, json!({"namespace": "alice", "url": "https://hooks.example.com/b"})).await;
    assert_ne!(ns["secret"], ns2["secret"], "two generated secrets are equal");

    let given = "0123456789abcdef"; // exactly 16 characters
    let repo = create_hook(
        &alice,
        json!({"repository": "alice/web", "url": "https://hooks.example.com/r?x=1", "events": ["pull", "push"],
               "secret": given, "active": false}),
    )
    .await;
    assert_eq!(repo["repository"], "alice/web", "{repo}");
    assert_eq!(repo["namespace"], "alice", "a repository webhook's namespace: {repo}");
    assert_eq!(repo["url"], "https://hooks.example.com/r?x=1", "{repo}");
    assert_eq!(events_of(&repo), ["pull", "push"], "{repo}");
    assert_eq!(repo["active"], false, "{repo}");
    let long = "s".repeat(256);
    let all_events = create_hook(
        &alice,
        json!({"repository": "alice/web", "url": URL, "events": ["pull", "delete", "push"], "secret": long}),
    )
    .await;
    assert_eq!(events_of(&all_events), ["delete", "pull", "push"], "{all_events}");

    let created = [&ns, &ns2, &repo, &all_events];
    let mut all_ids: Vec<String> = created.iter().map(|v| id_of(v)).collect();
    all_ids.sort();
    all_ids.dedup();
    assert_eq!(all_ids.len(), 4, "webhook ids are not distinct: {all_ids:?}");
    let secrets: Vec<String> = created.iter().map(|v| v["secret"].as_str().unwrap().to_string()).collect();

    for c in created {
        let id = id_of(c);
        let g = json_of(get_hook(&alice, &id).await, 200).await;
        assert_hook_shape(&g, "GET /api/v1/webhooks/<id>");
        assert!(g.get("secret").is_none(), "GET shows a `secret`: {g}");
        for sec in &secrets {
            assert!(!mentions(&g, sec), "GET shows a secret: {g}");
        }
        assert_eq!(documented(&g), documented(c), "GET /api/v1/webhooks/{id} differs from the POST's answer");
    }
    let list = list_hooks(&alice, "").await;
    let mut listed: Vec<String> = list.iter().map(id_of).collect();
    listed.sort();
    assert_eq!(listed, all_ids, "GET /api/v1/webhooks");
    for sec in &secrets {
        assert!(!mentions(&Value::Array(list.clone()), sec), "the list shows a secret");
    }
    for h in &list {
        let c = created.iter().find(|c| id_of(c) == id_of(h)).unwrap();
        assert_eq!(documented(h), documented(c), "a listed webhook differs from the POST's answer");
    }
    // No deliveries yet: an empty first page.
    let d = deliveries_page(&alice, &id_of(&ns), "").await;
    assert_eq!(d["deliveries"], json!([]), "{d}");
    assert_eq!(d["total"], 0, "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_events_secrets_and_targets_are_400_invalid() {
    let s = server_with_users(&[], &["alice"]).await;
    let alice = s.user("alice");
    push_image(&alice, "alice/web", "v1", 1).await;
    let ok = "http://127.0.0.1:9/ok";
    let bad = [
        json!({"namespace": "alice"}),
        json!({"namespace": "alice", "url": "ftp://example.com/hook"}),
        json!({"namespace": "alice", "url": "file:///etc/passwd"}),
        json!({"namespace": "alice", "url": "example.com/hook"}),
        json!({"namespace": "alice", "url": "javascript:alert(1)"}),
        json!({"namespace": "alice", "url": ""}),
        json!({"namespace": "alice", "url": ok, "events": []}),
        json!({"namespace": "alice", "url": ok, "events": ["push", "bogus"]}),
        json!({"namespace": "alice", "url": ok, "events": ["tag"]}),
        json!({"namespace": "alice", "url": ok, "events": "push"}),
        json!({"namespace": "alice", "url": ok, "secret": "fifteen-chars!!"}),
        json!({"namespace": "alice", "url": ok, "secret": ""}),
        json!({"namespace": "alice", "url": ok, "secret": "x".repeat(257)}),
        json!({"namespace": "alice", "url": ok, "active": "yes"}),
        json!({"repository": "alice/web", "url": "gopher://example.com/"}),
        json!({"repository": "alice/web", "url": ok, "events": []}),
        json!({"url": ok}),
    ];
    for b in &bad {
        let r = post_hook(&alice, b).await;
        if r.status().as_u16() != 400 {
            let st = r.status();
            panic!("POST /api/v1/webhooks {b}: want 400 INVALID, got {st}: {}", r.text().await.unwrap_or_default());
        }
        expect_error(r, 400, "INVALID").await;
    }
    assert_eq!(list_ids(&alice, "").await, Vec::<String>::new(), "a refused POST created a webhook");

    // The bounds themselves are fine: 16 and 256 characters, https.
    create_hook(&alice, json!({"namespace": "alice", "url": ok, "secret": "sixteen-chars!!!"})).await;
    create_hook(&alice, json!({"namespace": "alice", "url": "https://example.com/h", "secret": "y".repeat(256)})).await;

    // PATCH validates the same way and changes nothing when it refuses.
    let h =
        create_hook(&alice, json!({"repository": "alice/web", "url": ok, "events": ["push"], "secret": SECRET})).await;
    let id = id_of(&h);
    for b in [
        json!({"events": []}),
        json!({"events": ["push", "nope"]}),
        json!({"url": "ftp://example.com/x"}),
        json!({"url": "not a url"}),
        json!({"secret": "short"}),
        json!({"secret": "z".repeat(257)}),
        json!({"active": "no"}),
    ] {
        let r = alice.patch(&format!("/api/v1/webhooks/{id}")).json(&b).send().await.unwrap();
        if r.status().as_u16() != 400 {
            let st = r.status();
            panic!(
                "PATCH /api/v1/webhooks/{id} {b}: want 400 INVALID, got {st}: {}",
                r.text().await.unwrap_or_default()
            );
        }
        expect_error(r, 400, "INVALID").await;
    }
    let g = json_of(get_hook(&alice, &id).await, 200).await;
    assert_eq!(documented(&g), documented(&h), "a refused PATCH changed the webhook");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_manage_webhooks_and_whose_webhooks_are_listed() {
    let s = server_with_users(&[], &["alice", "bob", "carol", "dave"]).await;
    let (alice, bob, carol, dave) = (s.user("alice"), s.user("bob"), s.user("carol"), s.user("dave"));
    create_org(&alice, "acme").await;
    create_team(&alice, "acme", "admins", "admin").await;
    add_member(&alice, "acme", "admins", "carol").await;
    create_team(&alice, "acme", "readers", "read").await;
    add_member(&alice, "acme", "readers", "dave").await;
    push_image(&alice, "alice/web", "v1", 1).await;
    push_image(&alice, "acme/app", "v1", 2).await;
    push_image(&alice, "acme/other", "v1", 3).await;
    // bob may read alice/web, not administer it.
    set_visibility(&alice, "alice/web", "public").await;

    let ns = |n: &str| json!({"namespace": n, "url": URL});
    let repo = |n: &str| json!({"repository": n, "url": URL});

    // Anonymous callers: 401.
    expect_error(post_hook(&s.anon(), &ns("alice")).await, 401, "UNAUTHORIZED").await;
    expect_error(post_hook(&s.anon(), &repo("alice/web")).await, 401, "UNAUTHORIZED").await;
    expect_error(s.anon().get("/api/v1/webhooks").send().await.unwrap(), 401, "UNAUTHORIZED").await;

    // Another user's namespace or repository.
    expect_refused(post_hook(&bob, &ns("alice")).await, "bob: a webhook on alice's namespace").await;
    expect_refused(post_hook(&bob, &repo("alice/web")).await, "bob: a webhook on alice/web (readable)").await;
    // A read-only team member.
    expect_refused(post_hook(&dave, &ns("acme")).await, "dave (team role read): the acme namespace").await;
    expect_refused(post_hook(&dave, &repo("acme/app")).await, "dave (team role read): acme/app").await;
    // An organization admin may, for the namespace and its repositories.
    let c_ns = id_of(&create_hook(&carol, ns("acme")).await);
    let c_repo = id_of(&create_hook(&carol, repo("acme/app")).await);
    expect_refused(post_hook(&carol, &ns("alice")).await, "carol: alice's namespace").await;
    // Admin access on one repository (a team's repository role) is enough for that repository only.
    set_repo_role(&alice, "acme", "readers", "acme/app", "admin").await;
    let d_repo = id_of(&create_hook(&dave, repo("acme/app")).await);
    expect_refused(post_hook(&dave, &ns("acme")).await, "dave (admin on acme/app): the acme namespace").await;
    expect_refused(post_hook(&dave, &repo("acme/other")).await, "dave (admin on acme/app): acme/other").await;
    // The user itself and server admins.
    let a_ns = id_of(&create_hook(&alice, ns("alice")).await);
    let a_repo = id_of(&create_hook(&alice, repo("alice/web")).await);
    let adm = id_of(&create_hook(&s.admin(), ns("alice")).await);
    // Nothing was created by the refused calls.
    let everything = ids(&[&c_ns, &c_repo, &d_repo, &a_ns, &a_repo, &adm]);
    assert_eq!(list_ids(&s.admin(), "").await, everything, "a server admin's list");

    // Each caller lists the webhooks it manages.
    assert_eq!(list_ids(&alice, "").await, everything, "alice (owner of acme) lists");
    assert_eq!(list_ids(&carol, "").await, ids(&[&c_ns, &c_repo, &d_repo]), "carol (acme admin) lists");
    assert_eq!(list_ids(&dave, "").await, ids(&[&c_repo, &d_repo]), "dave (admin on acme/app only) lists");
    assert_eq!(list_ids(&bob, "").await, Vec::<String>::new(), "bob lists");

    // A webhook the caller may not manage is 404 NOT_FOUND, for every call, and stays as it was.
    for (who, c, id) in [("bob", &bob, &a_ns), ("bob", &bob, &a_repo), ("carol", &carol, &adm), ("dave", &dave, &c_ns)]
    {
        let ctx = format!("{who} on webhook {id}");
        let before = json_of(get_hook(&alice, id).await, 200).await;
        expect_error(get_hook(c, id).await, 404, "NOT_FOUND").await;
        let r =
            c.patch(&format!("/api/v1/webhooks/{id}")).json(&json!({"active": false, "url": "http://127.0.0.1:9/x"}));
        expect_error(r.send().await.unwrap(), 404, "NOT_FOUND").await;
        expect_error(c.delete(&format!("/api/v1/webhooks/{id}")).send().await.unwrap(), 404, "NOT_FOUND").await;
        let r = c.get(&format!("/api/v1/webhooks/{id}/deliveries")).send().await.unwrap();
        expect_error(r, 404, "NOT_FOUND").await;
        let after = json_of(get_hook(&alice, id).await, 200).await;
        assert_eq!(documented(&after), documented(&before), "{ctx}: the refused calls changed it");
    }
    // Anonymous callers on a webhook: 401.
    expect_error(get_hook(&s.anon(), &a_ns).await, 401, "UNAUTHORIZED").await;
    expect_error(s.anon().delete(&format!("/api/v1/webhooks/{a_ns}")).send().await.unwrap(), 401, "UNAUTHORIZED").await;
    // Unknown ids.
    expect_error(get_hook(&alice, "999999999").await, 404, "NOT_FOUND").await;
    expect_error(get_hook(&alice, "no-such-webhook").await, 404, "NOT_FOUND").await;
    // Organization admins and the repository admin manage the ones they may, including delete.
    expect_status(carol.delete(&format!("/api/v1/webhooks/{d_repo}")).send().await.unwrap(), 204).await;
    expect_status(dave.delete(&format!("/api/v1/webhooks/{c_repo}")).send().await.unwrap(), 204).await;
    assert_eq!(list_ids(&alice, "").await, ids(&[&c_ns, &a_ns, &a_repo, &adm]), "after the deletes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_get_patch_and_delete() {
    let s = server_with_users(&[], &["alice"]).await;
    let alice = s.user("alice");
    create_org(&alice, "acme").await;
    push_image(&alice, "alice/web", "v1", 1).await;
    push_image(&alice, "alice/db", "v1", 2).await;
    push_image(&alice, "acme/app", "v1", 3).await;
    let n = ns_hook(&alice, "alice", URL, None).await;
    let w = repo_hook(&alice, "alice/web", URL, None).await;
    let d = repo_hook(&alice, "alice/db", URL, Some(&["pull"])).await;
    let o = ns_hook(&alice, "acme", URL, None).await;
    let a = repo_hook(&alice, "acme/app", URL, None).await;
    assert_eq!(list_ids(&alice, "").await, ids(&[&n, &w, &d, &o, &a]));

    // ?namespace= : that namespace's webhook, none of another namespace. (Whether the
    // namespace's repository webhooks are listed too, docs/index.md does not say.)
    let alice_ns = list_ids(&alice, "?namespace=alice").await;
    assert!(alice_ns.contains(&n), "?namespace=alice misses the namespace webhook: {alice_ns:?}");
    assert!(!alice_ns.contains(&o) && !alice_ns.contains(&a), "?namespace=alice lists acme's: {alice_ns:?}");
    let acme_ns = list_ids(&alice, "?namespace=acme").await;
    assert!(acme_ns.contains(&o), "?namespace=acme misses acme's: {acme_ns:?}");
    for x in [&n, &w, &d] {
        assert!(!acme_ns.contains(x), "?namespace=acme lists alice's {x}: {acme_ns:?}");
    }
    // ?repository= : that repository's webhooks, not another repository's.
    let web = list_ids(&alice, "?repository=alice/web").await;
    assert!(web.contains(&w), "?repository=alice/web misses its webhook: {web:?}");
    for x in [&d, &o, &a] {
        assert!(!web.contains(x), "?repository=alice/web lists {x}: {web:?}");
    }
    let db = list_ids(&alice, "?repository=alice/db").await;
    assert!(db.contains(&d) && !db.contains(&w), "?repository=alice/db: {db:?}");

    // PATCH changes what it names and nothing else; the answer shows no secret.
    let before = json_of(get_hook(&alice, &w).await, 200).await;
    let new_secret = "a-brand-new-secret-0000";
    let r = alice
        .patch(&format!("/api/v1/webhooks/{w}"))
        .json(&json!({"url": "https://example.com/new", "events": ["pull", "delete"], "active": false, "secret": new_secret}))
        .send()
        .await
        .unwrap();
    let v = expect_success(r).await;
    assert!(!mentions(&v, new_secret), "the PATCH answer shows the secret: {v}");
    if !v.is_null() {
        assert_hook_shape(&v, "PATCH answer");
        assert_eq!(id_of(&v), w, "PATCH answer: {v}");
    }
    let g = json_of(get_hook(&alice, &w).await, 200).await;
    assert!(!mentions(&g, new_secret), "GET shows the secret: {g}");
    assert_eq!(g["url"], "https://example.com/new", "{g}");
    assert_eq!(events_of(&g), ["delete", "pull"], "{g}");
    assert_eq!(g["active"], false, "{g}");
    for k in ["id", "namespace", "repository", "created_at"] {
        assert_eq!(g[k], before[k], "PATCH changed `{k}`: {g}");
    }
    if !v.is_null() {
        assert_eq!(documented(&v), documented(&g), "the PATCH answer is not the webhook as it now is");
    }
    // A partial PATCH keeps the rest.
    expect_success(alice.patch(&format!("/api/v1/webhooks/{w}")).json(&json!({"active": true})).send().await.unwrap())
        .await;
    let g2 = json_of(get_hook(&alice, &w).await, 200).await;
    assert_eq!(g2["active"], true, "{g2}");
    assert_eq!(g2["url"], "https://example.com/new", "a PATCH of `active` changed the url: {g2}");
    assert_eq!(events_of(&g2), ["delete", "pull"], "a PATCH of `active` changed the events: {g2}");

    // DELETE: 204, then 404 everywhere.
    expect_status(alice.delete(&format!("/api/v1/webhooks/{w}")).send().await.unwrap(), 204).await;
    expect_error(get_hook(&alice, &w).await, 404, "NOT_FOUND").await;
    expect_error(alice.delete(&format!("/api/v1/webhooks/{w}")).send().await.unwrap(), 404, "NOT_FOUND").await;
    let r = alice.patch(&format!("/api/v1/webhooks/{w}")).json(&json!({"active": false})).send().await.unwrap();
    expect_error(r, 404, "NOT_FOUND").await;
    expect_error(alice.get(&format!("/api/v1/webhooks/{w}/deliveries")).send().await.unwrap(), 404, "NOT_FOUND").await;
    assert_eq!(list_ids(&alice, "").await, ids(&[&n, &d, &o, &a]), "after DELETE");
    let web = list_ids(&alice, "?repository=alice/web").await;
    assert!(!web.contains(&w), "a deleted webhook is still listed: {web:?}");
}
