//! What is delivered, when and to which webhook: push, delete and pull events, their headers,
//! signature and payload; namespace and repository scope; inactive webhooks; deliveries off the
//! request path.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::*;
use crate::fixtures::*;
use crate::harness::*;
use crate::receiver::*;
use crate::util::*;

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(700);

fn fast() -> [(&'static str, &'static str); 1] {
    [("BERTH_WEBHOOK_BACKOFF", "200ms")]
}

/// Uploads an image's config and layers (no manifest); returns (manifest bytes, digest).
async fn upload_image(c: &impl Http, repo: &str, seed: u64) -> (Vec<u8>, String) {
    let config = config_blob(seed);
    let layer = bytes_of(seed, 800);
    push_blob(c, repo, &config).await;
    push_blob(c, repo, &layer).await;
    let m = oci_manifest(&config, &[layer]);
    let d = sha256(&m);
    (m, d)
}

fn tag_digest(tag: Option<&str>, digest: Option<&str>) -> (Value, Value) {
    (tag.map_or(Value::Null, |t| json!(t)), digest.map_or(Value::Null, |d| json!(d)))
}

fn sorted(mut v: Vec<(Value, Value)>) -> Vec<(Value, Value)> {
    v.sort_by_key(|a| format!("{a:?}"));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_is_delivered_signed_with_the_documented_headers_and_payload() {
    let s = server_with_users(&fast(), &["alice"]).await;
    let recv = Receiver::start().await;
    let alice = s.user("alice");
    let id = ns_hook(&alice, "alice", &recv.url("/hook?src=berth&x=1"), None).await;

    // Pushed as docker does: a bearer token from /auth/token.
    let (token, _) = token_for(&alice, &["repository:alice/web:pull,push"]).await;
    let img = push_image(&s.bearer(&token), "alice/web", "v1", 1).await;
    let reqs = recv.wait_for("/hook", 1, WAIT).await;
    let r = &reqs[0];
    assert_eq!(r.target, "/hook?src=berth&x=1", "the webhook's URL (with its query) is posted to");
    let p1 = check_delivered(r, SECRET, &Event::push("alice/web", Some("v1"), &img.digest, OCI_MANIFEST, "alice"));

    let list =
        wait_deliveries(&alice, &id, WAIT, "one delivered", |l| l.len() == 1 && l[0]["status"] == "delivered").await;
    let d = &list[0];
    assert_eq!(Some(id_of(d).as_str()), r.delivery(), "the delivery's id vs X-Berth-Delivery: {d}");
    assert_eq!(d["event"], "push", "{d}");
    assert_eq!(d["payload"], p1, "the listed payload differs from the body posted");
    assert_eq!(attempt_codes(d), [Some(200)], "attempts: {d}");
    assert!(d["next_attempt_at"].is_null(), "{d}");
    assert!(!mentions(&Value::Array(list.clone()), SECRET), "the deliveries show the secret");

    // A Docker schema 2 image: media_type is the manifest's.
    let dimg = push_docker_image(&alice, "alice/web", "d1", 2).await;
    let reqs = recv.wait_for("/hook", 2, WAIT).await;
    let p2 = check_delivered(
        &reqs[1],
        SECRET,
        &Event::push("alice/web", Some("d1"), &dimg.digest, DOCKER_MANIFEST, "alice"),
    );

    // A new secret signs the deliveries after the PATCH.
    let new_secret = "the-second-secret-abcdef";
    let r = alice.patch(&format!("/api/v1/webhooks/{id}")).json(&json!({ "secret": new_secret })).send().await.unwrap();
    expect_success(r).await;
    let img3 = push_image(&alice, "alice/web", "v2", 3).await;
    let reqs = recv.wait_for("/hook", 3, WAIT).await;
    assert_ne!(
        reqs[2].header("x-berth-signature").map(String::from),
        Some(signature(SECRET, &reqs[2].body)),
        "signed with the old secret after the PATCH"
    );
    let p3 = check_delivered(
        &reqs[2],
        new_secret,
        &Event::push("alice/web", Some("v2"), &img3.digest, OCI_MANIFEST, "alice"),
    );
    let mut pids = vec![p1["id"].clone(), p2["id"].clone(), p3["id"].clone()];
    pids.dedup();
    assert_eq!(pids.len(), 3, "payload ids repeat: {pids:?}");

    // Blob uploads are no events; one push of one tag is one event.
    assert_quiet(&recv, "/hook", 3, QUIET).await;

    // The deliveries, newest first, paged.
    wait_deliveries(&alice, &id, WAIT, "three delivered", |l| {
        l.len() == 3 && l.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    let page1 = deliveries_page(&alice, &id, "?page=1&page_size=2").await;
    assert_eq!(
        (page1["page"].clone(), page1["page_size"].clone(), page1["total"].clone()),
        (json!(1), json!(2), json!(3))
    );
    let tags: Vec<Value> =
        page1["deliveries"].as_array().unwrap().iter().map(|d| d["payload"]["tag"].clone()).collect();
    assert_eq!(tags, [json!("v2"), json!("d1")], "page 1 of 2, newest first: {page1}");
    let page2 = deliveries_page(&alice, &id, "?page=2&page_size=2").await;
    let tags: Vec<Value> =
        page2["deliveries"].as_array().unwrap().iter().map(|d| d["payload"]["tag"].clone()).collect();
    assert_eq!(tags, [json!("v1")], "page 2 of 2: {page2}");
    assert_eq!(page2["total"], 3, "{page2}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_is_one_event_per_tag_it_sets_and_names_its_actor() {
    let s = server_with_users(&fast(), &["alice"]).await;
    let recv = Receiver::start().await;
    let alice = s.user("alice");
    create_org(&alice, "acme").await;
    create_team(&alice, "acme", "writers", "write").await;
    let robot = create_robot(&alice, "acme", "ci").await;
    add_member(&alice, "acme", "writers", "acme+ci").await;
    let (_, pat) = create_pat(&alice, "alice", "ci", "read-write", None).await;
    ns_hook(&alice, "alice", &recv.url("/a"), None).await;
    ns_hook(&alice, "acme", &recv.url("/acme"), None).await;

    // By digest: tag null.
    let img = push_image(&alice, "alice/web", "", 1).await;
    let reqs = recv.wait_for("/a", 1, WAIT).await;
    check_delivered(&reqs[0], SECRET, &Event::push("alice/web", None, &img.digest, OCI_MANIFEST, "alice"));

    // The same manifest under two tags: one event per tag.
    push_manifest(&alice, "alice/web", "one", OCI_MANIFEST, &img.manifest).await;
    push_manifest(&alice, "alice/web", "two", OCI_MANIFEST, &img.manifest).await;
    let reqs = recv.wait_for("/a", 3, WAIT).await;
    for r in &reqs[1..] {
        check_request(r, SECRET, "push");
    }
    assert_eq!(
        tags_digests(&reqs[1..]),
        sorted(vec![tag_digest(Some("one"), Some(&img.digest)), tag_digest(Some("two"), Some(&img.digest))]),
    );

    // A push by digest with two `?tag=`s (docs/protocol.md): one event per tag, none with tag null.
    let (m, d) = upload_image(&alice, "alice/web", 2).await;
    let r = put_manifest(&alice, "alice/web", &format!("{d}?tag=x&tag=y"), OCI_MANIFEST, &m).await;
    expect_status(r, 201).await;
    let reqs = recv.wait_for("/a", 5, WAIT).await;
    for r in &reqs[3..] {
        let p = check_request(r, SECRET, "push");
        let tag = p["tag"].as_str().unwrap_or("<null>").to_string();
        check_payload(&p, &Event::push("alice/web", Some(&tag), &d, OCI_MANIFEST, "alice"));
    }
    assert_eq!(
        tags_digests(&reqs[3..]),
        sorted(vec![tag_digest(Some("x"), Some(&d)), tag_digest(Some("y"), Some(&d))])
    );

    // A personal access token acts as its user.
    let img = push_image(&s.basic("alice", &pat), "alice/web", "pat", 3).await;
    let reqs = recv.wait_for("/a", 6, WAIT).await;
    check_delivered(&reqs[5], SECRET, &Event::push("alice/web", Some("pat"), &img.digest, OCI_MANIFEST, "alice"));

    // A robot is the actor of its push.
    let img = push_image(&s.basic("acme+ci", &robot), "acme/app", "v1", 4).await;
    let reqs = recv.wait_for("/acme", 1, WAIT).await;
    check_delivered(&reqs[0], SECRET, &Event::push("acme/app", Some("v1"), &img.digest, OCI_MANIFEST, "acme+ci"));

    assert_quiet(&recv, "/a", 6, QUIET).await;
    assert_eq!(recv.to("/acme").len(), 1, "acme's webhook got more than the robot's push");
    let mut ids: Vec<String> = recv.all().iter().map(|r| r.delivery().unwrap().to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7, "X-Berth-Delivery repeats across events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_of_tags_manifests_and_repositories_are_delete_events() {
    let s = server_with_users(&fast(), &["alice"]).await;
    let recv = Receiver::start().await;
    let alice = s.user("alice");
    ns_hook(&alice, "alice", &recv.url("/all"), None).await;
    ns_hook(&alice, "alice", &recv.url("/push"), Some(&["push"])).await;

    let a = push_image(&alice, "alice/web", "v1", 1).await;
    push_manifest(&alice, "alice/web", "v2", OCI_MANIFEST, &a.manifest).await;
    push_image(&alice, "alice/web", "b1", 2).await;
    let c = push_image(&alice, "alice/web", "", 3).await;
    recv.wait_for("/all", 4, WAIT).await;
    recv.wait_for("/push", 4, WAIT).await;
    // A repository webhook for deletes only.
    repo_hook(&alice, "alice/web", &recv.url("/del"), Some(&["delete"])).await;

    // (what, tag, digest, media_type)
    type Step<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);
    let steps: [Step<'_>; 4] = [
        ("API tag delete", Some("v1"), Some(&a.digest), Some(OCI_MANIFEST)),
        ("/v2 tag delete", Some("v2"), Some(&a.digest), Some(OCI_MANIFEST)),
        ("/v2 manifest delete by digest", None, Some(&c.digest), Some(OCI_MANIFEST)),
        ("repository delete", None, None, None),
    ];
    for (i, (what, tag, digest, media_type)) in steps.into_iter().enumerate() {
        match i {
            0 => {
                let r = alice.delete("/api/v1/repositories/alice/web/tags/v1").send().await.unwrap();
                expect_status(r, 204).await;
            }
            1 => {
                let r = alice.delete("/v2/alice/web/manifests/v2").send().await.unwrap();
                expect_status(r, 202).await;
            }
            2 => {
                let r = alice.delete(&format!("/v2/alice/web/manifests/{}", c.digest)).send().await.unwrap();
                expect_status(r, 202).await;
            }
            _ => {
                let r = alice.delete("/api/v1/repositories/alice/web").send().await.unwrap();
                expect_status(r, 204).await;
            }
        }
        let want = Event {
            event: "delete",
            repository: "alice/web",
            namespace: "alice",
            tag,
            digest,
            media_type,
            actor: Some("alice"),
        };
        let all = recv.wait_for("/all", 5 + i, WAIT).await;
        check_delivered(&all[4 + i], SECRET, &want);
        let dels = recv.wait_for("/del", 1 + i, WAIT).await;
        check_delivered(&dels[i], SECRET, &want);
        // Exactly one event per delete.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            recv.to("/all").len(),
            5 + i,
            "{what}: more than one event: {:#?}",
            recv.to("/all").iter().map(|r| r.json()).collect::<Vec<_>>()
        );
        assert_eq!(recv.to("/del").len(), 1 + i, "{what}: more than one event on the repository webhook");
    }
    // The push-only webhook got no delete.
    assert_quiet(&recv, "/push", 4, Duration::from_millis(200)).await;
    assert!(recv.to("/push").iter().all(|r| r.event() == Some("push")));
    // The delete-only one got no push.
    assert!(recv.to("/del").iter().all(|r| r.event() == Some("delete")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_are_events_only_for_webhooks_subscribed_to_pull() {
    let s = server_with_users(&fast(), &["alice"]).await;
    let recv = Receiver::start().await;
    let alice = s.user("alice");
    ns_hook(&alice, "alice", &recv.url("/default"), None).await;
    let img = push_image(&alice, "alice/web", "v1", 1).await;
    repo_hook(&alice, "alice/web", &recv.url("/pull"), Some(&["pull"])).await;
    recv.wait_for("/default", 1, WAIT).await;

    let get = |c: &Caller<'_>, reference: &str| {
        c.get(&format!("/v2/alice/web/manifests/{reference}")).header("accept", OCI_MANIFEST).send()
    };
    // By tag.
    expect_status(get(&alice, "v1").await.unwrap(), 200).await;
    let reqs = recv.wait_for("/pull", 1, WAIT).await;
    let pull = |tag, actor| Event {
        event: "pull",
        repository: "alice/web",
        namespace: "alice",
        tag,
        digest: Some(&img.digest),
        media_type: Some(OCI_MANIFEST),
        actor,
    };
    check_delivered(&reqs[0], SECRET, &pull(Some("v1"), Some("alice")));
    // HEAD is no pull; neither is a 404.
    let r = alice.head("/v2/alice/web/manifests/v1").header("accept", OCI_MANIFEST).send().await.unwrap();
    expect_status(r, 200).await;
    expect_status(get(&alice, "nosuchtag").await.unwrap(), 404).await;
    // By digest: tag null.
    expect_status(get(&alice, &img.digest).await.unwrap(), 200).await;
    let reqs = recv.wait_for("/pull", 2, WAIT).await;
    check_delivered(&reqs[1], SECRET, &pull(None, Some("alice")));
    // A pull as docker does it, with a bearer token: the token's user is the actor.
    let (token, _) = token_for(&alice, &["repository:alice/web:pull"]).await;
    expect_status(get(&s.bearer(&token), "v1").await.unwrap(), 200).await;
    let reqs = recv.wait_for("/pull", 3, WAIT).await;
    check_delivered(&reqs[2], SECRET, &pull(Some("v1"), Some("alice")));
    // Anonymous pulls of a public repository: actor null.
    set_visibility(&alice, "alice/web", "public").await;
    expect_status(get(&s.anon(), "v1").await.unwrap(), 200).await;
    let reqs = recv.wait_for("/pull", 4, WAIT).await;
    check_delivered(&reqs[3], SECRET, &pull(Some("v1"), None));

    assert_quiet(&recv, "/pull", 4, QUIET).await;
    // The default events are push and delete: no pulls there.
    assert_eq!(recv.to("/default").len(), 1, "a push-and-delete webhook got pulls");
    assert!(recv.to("/pull").iter().all(|r| r.event() == Some("pull")), "the pull-only webhook got a push");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_and_repository_scope_and_inactive_webhooks() {
    let s = server_with_users(&fast(), &["alice", "bob"]).await;
    let recv = Receiver::start().await;
    let (alice, bob) = (s.user("alice"), s.user("bob"));

    // A namespace webhook made before the repository exists fires for it.
    ns_hook(&alice, "alice", &recv.url("/ns"), None).await;
    let one = push_image(&alice, "alice/one", "v1", 1).await;
    let reqs = recv.wait_for("/ns", 1, WAIT).await;
    check_delivered(&reqs[0], SECRET, &Event::push("alice/one", Some("v1"), &one.digest, OCI_MANIFEST, "alice"));

    let repo_one = repo_hook(&alice, "alice/one", &recv.url("/one"), None).await;
    let inactive = id_of(
        &create_hook(
            &alice,
            json!({"namespace": "alice", "url": recv.url("/inactive"), "secret": SECRET, "active": false}),
        )
        .await,
    );
    ns_hook(&bob, "bob", &recv.url("/bob"), None).await;

    // Another repository of the namespace: the namespace webhook only.
    let two = push_image(&alice, "alice/two", "v1", 2).await;
    let reqs = recv.wait_for("/ns", 2, WAIT).await;
    check_delivered(&reqs[1], SECRET, &Event::push("alice/two", Some("v1"), &two.digest, OCI_MANIFEST, "alice"));
    // The repository: both.
    let one2 = push_image(&alice, "alice/one", "v2", 3).await;
    let reqs = recv.wait_for("/ns", 3, WAIT).await;
    check_delivered(&reqs[2], SECRET, &Event::push("alice/one", Some("v2"), &one2.digest, OCI_MANIFEST, "alice"));
    let reqs = recv.wait_for("/one", 1, WAIT).await;
    check_delivered(&reqs[0], SECRET, &Event::push("alice/one", Some("v2"), &one2.digest, OCI_MANIFEST, "alice"));
    // Another namespace: its own webhook only.
    let b = push_image(&bob, "bob/x", "v1", 4).await;
    let reqs = recv.wait_for("/bob", 1, WAIT).await;
    check_delivered(&reqs[0], SECRET, &Event::push("bob/x", Some("v1"), &b.digest, OCI_MANIFEST, "bob"));

    assert_quiet(&recv, "/ns", 3, QUIET).await;
    assert_quiet(&recv, "/one", 1, Duration::ZERO).await;
    assert_eq!(recv.to("/bob").len(), 1, "bob's webhook fired for alice's pushes");
    assert_eq!(recv.to("/inactive").len(), 0, "an inactive webhook got a delivery");
    let page = deliveries_page(&alice, &inactive, "").await;
    assert_eq!(page["total"], 0, "an inactive webhook has deliveries listed: {page}");
    assert_eq!(page["deliveries"], json!([]), "{page}");

    // Activated, it gets what happens from then on, nothing from before.
    let r = alice.patch(&format!("/api/v1/webhooks/{inactive}")).json(&json!({"active": true})).send().await.unwrap();
    expect_success(r).await;
    let three = push_image(&alice, "alice/three", "v1", 5).await;
    let reqs = recv.wait_for("/inactive", 1, WAIT).await;
    check_delivered(&reqs[0], SECRET, &Event::push("alice/three", Some("v1"), &three.digest, OCI_MANIFEST, "alice"));

    // A repository webhook is kept by name: it reports the repository's deletion and fires
    // again when a push creates the repository anew.
    expect_status(alice.delete("/api/v1/repositories/alice/one").send().await.unwrap(), 204).await;
    let reqs = recv.wait_for("/one", 2, WAIT).await;
    check_delivered(
        &reqs[1],
        SECRET,
        &Event {
            event: "delete",
            repository: "alice/one",
            namespace: "alice",
            tag: None,
            digest: None,
            media_type: None,
            actor: Some("alice"),
        },
    );
    expect_status(get_hook(&alice, &repo_one).await, 200).await;
    let again = push_image(&alice, "alice/one", "v3", 6).await;
    let reqs = recv.wait_for("/one", 3, WAIT).await;
    check_delivered(&reqs[2], SECRET, &Event::push("alice/one", Some("v3"), &again.digest, OCI_MANIFEST, "alice"));

    // The activated namespace webhook saw those two as well, and nothing from before.
    // A PATCHed URL is where later deliveries go; a deleted webhook gets nothing more.
    let r = alice
        .patch(&format!("/api/v1/webhooks/{repo_one}"))
        .json(&json!({"url": recv.url("/one-moved")}))
        .send()
        .await
        .unwrap();
    expect_success(r).await;
    expect_status(alice.delete(&format!("/api/v1/webhooks/{inactive}")).send().await.unwrap(), 204).await;
    let moved = push_image(&alice, "alice/one", "v4", 7).await;
    let reqs = recv.wait_for("/one-moved", 1, WAIT).await;
    check_delivered(&reqs[0], SECRET, &Event::push("alice/one", Some("v4"), &moved.digest, OCI_MANIFEST, "alice"));
    recv.wait_for("/ns", 7, WAIT).await;

    assert_quiet(&recv, "/inactive", 3, QUIET).await;
    let seen: Vec<(Value, Value, Value)> = recv
        .to("/inactive")
        .iter()
        .map(|r| {
            let p = r.json();
            (p["event"].clone(), p["repository"].clone(), p["tag"].clone())
        })
        .collect();
    assert_eq!(
        seen,
        [
            (json!("push"), json!("alice/three"), json!("v1")),
            (json!("delete"), json!("alice/one"), Value::Null),
            (json!("push"), json!("alice/one"), json!("v3"))
        ],
        "the webhook activated late"
    );
    assert_eq!(recv.to("/one").len(), 3, "the old URL got a delivery after the PATCH");
    assert_eq!(recv.to("/one-moved").len(), 1);
    // alice/one v1, alice/two v1, alice/one v2, alice/three v1, the delete, v3, v4
    assert_quiet(&recv, "/ns", 7, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_queued_with_the_change_and_sent_off_the_request_path() {
    let s = server_with_users(&fast(), &["alice"]).await;
    let recv = Receiver::start().await;
    recv.set_default(Reply::Slow(Duration::from_secs(5), 200));
    let alice = s.user("alice");
    let id = ns_hook(&alice, "alice", &recv.url("/slow"), None).await;

    let (m, d) = upload_image(&alice, "alice/web", 1).await;
    let t = Instant::now();
    push_manifest(&alice, "alice/web", "v1", OCI_MANIFEST, &m).await;
    let took = t.elapsed();
    assert!(took < Duration::from_millis(1000), "the manifest PUT took {took:?} with a receiver that answers in 5 s");
    // Queued in the same transaction: listed as soon as the push is acknowledged.
    let list = deliveries(&alice, &id).await;
    assert_eq!(list.len(), 1, "right after the push's 201 the delivery is not listed: {list:?}");
    assert_eq!(list[0]["payload"]["digest"], d, "{list:?}");
    assert_ne!(list[0]["status"], "failed", "{list:?}");

    // It is being sent while the registry goes on answering.
    let reqs = recv.wait_for("/slow", 1, Duration::from_secs(4)).await;
    check_delivered(&reqs[0], SECRET, &Event::push("alice/web", Some("v1"), &d, OCI_MANIFEST, "alice"));
    let t = Instant::now();
    push_manifest(&alice, "alice/web", "v2", OCI_MANIFEST, &m).await;
    let took = t.elapsed();
    assert!(took < Duration::from_millis(1000), "a second manifest PUT took {took:?} while a delivery is in flight");
    let t = Instant::now();
    expect_status(alice.delete("/api/v1/repositories/alice/web/tags/v1").send().await.unwrap(), 204).await;
    let took = t.elapsed();
    assert!(took < Duration::from_millis(1000), "a tag delete took {took:?} while a delivery is in flight");
    let list = deliveries(&alice, &id).await;
    assert_eq!(list.len(), 3, "after two pushes and a delete: {list:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_repositories_are_their_own_namespace() {
    let s = server_with_users(&fast(), &["alice"]).await;
    let recv = Receiver::start().await;
    let admin = s.admin();
    push_image(&admin, "alpine", "3.19", 1).await;
    // Only server admins have admin access on an official repository.
    let r = post_hook(&s.user("alice"), &json!({"repository": "alpine", "url": recv.url("/x")})).await;
    let st = r.status().as_u16();
    assert!(st == 403 || st == 404, "alice: a webhook on the official alpine: {st}");
    repo_hook(&admin, "alpine", &recv.url("/alpine"), None).await;
    let img = push_image(&admin, "alpine", "3.20", 2).await;
    let reqs = recv.wait_for("/alpine", 1, WAIT).await;
    // "for an official repository the namespace is the name"
    check_delivered(&reqs[0], SECRET, &Event::push("alpine", Some("3.20"), &img.digest, OCI_MANIFEST, "admin"));
    assert_quiet(&recv, "/alpine", 1, QUIET).await;
    assert!(recv.to("/x").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_open_mode_the_actor_of_anonymous_changes_is_null() {
    // `--no-auth`: anyone may push and delete; "actor ... null (anonymous, open mode)". Whether
    // anonymous callers may manage webhooks there docs/index.md does not say (the accounts API
    // still needs credentials in the open mode): the server admin makes the webhook.
    let s = Server::builder().env("BERTH_WEBHOOK_BACKOFF", "200ms").start();
    let recv = Receiver::start().await;
    let admin = s.basic("admin", ADMIN_PASSWORD);
    let id = ns_hook(&admin, "team", &recv.url("/open"), None).await;
    let img = push_image(&s, "team/app", "v1", 1).await;
    let reqs = recv.wait_for("/open", 1, WAIT).await;
    let want = Event { actor: None, ..Event::push("team/app", Some("v1"), &img.digest, OCI_MANIFEST, "") };
    check_delivered(&reqs[0], SECRET, &want);
    expect_status(s.delete(&format!("/v2/team/app/manifests/{}", img.digest)).send().await.unwrap(), 202).await;
    let reqs = recv.wait_for("/open", 2, WAIT).await;
    let want = Event { event: "delete", tag: None, ..want };
    check_delivered(&reqs[1], SECRET, &want);
    wait_deliveries(&admin, &id, WAIT, "two delivered", |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "delivered")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_answered_2xx_is_sent_exactly_once() {
    // "A 2xx answer within webhook_timeout delivers it": nothing failed and nothing crashed, so
    // no X-Berth-Delivery may come twice. Several webhooks and pushes close together, in a few
    // rounds, so that the worker has many deliveries due at once, again and again.
    const HOOKS: usize = 6;
    const PUSHES: usize = 6;
    const ROUNDS: usize = 6;
    let s = server_with_users(&fast(), &["alice"]).await;
    let recv = Receiver::start().await;
    // Answers that take a moment keep several sends in flight while new deliveries come due.
    recv.set_default(Reply::Slow(Duration::from_millis(100), 200));
    let alice = s.user("alice");
    let mut hooks = Vec::new();
    for i in 0..HOOKS {
        hooks.push(ns_hook(&alice, "alice", &recv.url(&format!("/h{i}")), None).await);
    }
    for round in 0..ROUNDS {
        let mut images = Vec::new();
        for i in 0..PUSHES {
            images.push(upload_image(&alice, "alice/web", (100 * round + i) as u64).await);
        }
        for (i, (m, _)) in images.iter().enumerate() {
            push_manifest(&alice, "alice/web", &format!("r{round}-{i}"), OCI_MANIFEST, m).await;
        }
        for i in 0..HOOKS {
            recv.wait_for(&format!("/h{i}"), PUSHES * (round + 1), WAIT).await;
        }
    }
    tokio::time::sleep(QUIET).await;
    let all = recv.all();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for r in &all {
        *seen.entry(r.delivery().unwrap_or("<none>").to_string()).or_default() += 1;
    }
    let mut report = Vec::new();
    for id in &hooks {
        let page = deliveries_page(&alice, id, "?page_size=100").await;
        assert_eq!(page["total"], PUSHES * ROUNDS, "deliveries of webhook {id}: {page}");
        for d in page["deliveries"].as_array().unwrap() {
            let n = seen.get(&id_of(d)).copied().unwrap_or(0);
            if n != 1 || attempt_codes(d) != [Some(200)] {
                report.push(format!(
                    "webhook {id}: delivery {} received {n} times, listed attempts {}",
                    id_of(d),
                    d["attempts"]
                ));
            }
        }
    }
    assert!(report.is_empty(), "deliveries sent more than once though answered 200: {report:#?}");
    assert_eq!(all.len(), HOOKS * PUSHES * ROUNDS, "{HOOKS} webhooks x {PUSHES} pushes x {ROUNDS} rounds");
}
